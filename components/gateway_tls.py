"""The public host's TLS certificate: kept in Key Vault, synced into the ingress gateway's Secret.

The documented AKS approach ("Secure ingress gateway for Istio service mesh add-on for Azure
Kubernetes Service", learn.microsoft.com/azure/aks/istio-secure-gateway, section "Configure a TLS
ingress gateway" with the Azure Key Vault provider for Secrets Store CSI Driver): in the add-on's
gateway namespace, aks-istio-ingress,
- a workload identity that may read exactly the certificate (a Key Vault certificate's private
  key and chain are read through the secret of the same name, so the SecretProviderClass asks for
  `objectType: secret`, and the role is scoped to that secret, never to the vault);
- a SecretProviderClass whose `secretObjects` mirror the mounted file into a Secret of type
  kubernetes.io/tls: the driver fills tls.key and tls.crt from the same PEM bundle, each with its
  own part;
- a small Deployment that mounts the volume: the driver creates the Secret when a pod mounts it
  and, with the add-on's rotation on, rewrites it when Key Vault holds a new version. The Gateway
  names that Secret as its credentialName.

The Deployment runs the gateway service's own image (already in the stack's registry, so the
registry-allowlist rule holds, and already scanned and signed by CI) with `sleep infinity`
instead of its entrypoint: the pod only holds the mount. Its readiness and liveness probes check
that the certificate file is there and not empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.azure import Placement
from components.keyvault import VaultRef
from components.secrets_store import SecretsStoreCrds
from components.workload_identity import (
    SECRETS_DIR,
    SyncedSecret,
    WorkloadIdentity,
    WorkloadIdentityArgs,
)

core = k8s.core.v1
apps = k8s.apps.v1
meta = k8s.meta.v1
netv1 = k8s.networking.v1

NAME = "gateway-tls-sync"
# The file the certificate's secret is mounted as, and the Secret's keys (kubernetes.io/tls).
CERTIFICATE_FILE = "tls-bundle"
TLS_SECRET_TYPE = "kubernetes.io/tls"
TLS_KEYS = ("tls.crt", "tls.key")
# Two pods: the Secret stays in sync while one of them is drained (node upgrades).
REPLICAS = 2


def certificate_secret_id(vault: VaultRef, certificate_name: str) -> pulumi.Output[str]:
    """The ARM ID of the secret that backs a Key Vault certificate (same name as the
    certificate): the scope of the one role the sync identity holds."""
    return vault.resource_id.apply(lambda vault_id: f"{vault_id}/secrets/{certificate_name}")


@dataclass(frozen=True)
class GatewayTlsArgs:
    # The Key Vault certificate and the Kubernetes Secret (the Gateway's credentialName).
    certificate_name: str
    tls_secret_name: str
    # An image from the stack's registry that has `sleep` and `test` (coreutils).
    image: pulumi.Input[str]
    placement: Placement
    oidc_issuer_url: pulumi.Input[str]
    vault: VaultRef
    provider: k8s.Provider
    crds: SecretsStoreCrds


class GatewayTls(pulumi.ComponentResource):
    # The synced Secret's name, known once the pods that create it are rolled out.
    secret_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: GatewayTlsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:ingress:GatewayTls", name, None, opts)
        namespace = kube.ISTIO_INGRESS_NAMESPACE
        labels = kube.labels(NAME)
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                service_account=NAME,
                namespace=namespace,
                namespace_name=namespace,
                labels=labels,
                placement=args.placement,
                identity_name=f"id-micromart-{NAME}",
                oidc_issuer_url=args.oidc_issuer_url,
                vault=args.vault,
                files={CERTIFICATE_FILE: args.certificate_name},
                secret_ids={
                    args.certificate_name: certificate_secret_id(args.vault, args.certificate_name)
                },
                provider=args.provider,
                crds=args.crds,
                synced_secrets=(
                    SyncedSecret(
                        secret_name=args.tls_secret_name,
                        type=TLS_SECRET_TYPE,
                        data={key: CERTIFICATE_FILE for key in TLS_KEYS},
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        pod = identity.pod
        k8s_child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        selector = {kube.NAME_LABEL: NAME}
        probe_command = ["test", "-s", f"{SECRETS_DIR}/{CERTIFICATE_FILE}"]
        deployment = apps.Deployment(
            f"{name}-deployment",
            metadata=kube.metadata(NAME, namespace, labels),
            spec=apps.DeploymentSpecArgs(
                replicas=REPLICAS,
                revision_history_limit=3,
                selector=meta.LabelSelectorArgs(match_labels=selector),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=labels | dict(pod.labels)),
                    spec=core.PodSpecArgs(
                        service_account_name=pod.service_account_name,
                        # Only the projected token workload identity adds (azure.workload.identity
                        # webhook) reaches the pod; the API server token is never mounted.
                        automount_service_account_token=False,
                        security_context=kube.pod_security_context(),
                        termination_grace_period_seconds=5,
                        topology_spread_constraints=kube.spread_constraints(
                            selector, "ScheduleAnyway"
                        ),
                        containers=[
                            core.ContainerArgs(
                                name="sync",
                                image=args.image,
                                image_pull_policy="IfNotPresent",
                                command=["sleep", "infinity"],
                                resources=kube.resources("5m", "16Mi", "50m", "32Mi"),
                                security_context=kube.container_security_context(),
                                readiness_probe=_file_probe(probe_command, period=10),
                                liveness_probe=_file_probe(probe_command, period=60),
                                volume_mounts=list(pod.volume_mounts),
                            )
                        ],
                        volumes=list(pod.volumes),
                    ),
                ),
            ),
            opts=k8s_child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=kube.metadata(NAME, namespace, labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=meta.LabelSelectorArgs(match_labels=selector)
            ),
            opts=k8s_child,
        )
        # The pods talk to nobody: the CSI driver on the node fetches from Key Vault, not them.
        netv1.NetworkPolicy(
            f"{name}-netpol",
            metadata=kube.metadata(NAME, namespace, labels),
            spec=netv1.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
            ),
            opts=k8s_child,
        )
        self.secret_name = kube.name_of(deployment).apply(lambda _: args.tls_secret_name)
        self.register_outputs({"secret_name": self.secret_name})


def _file_probe(command: list[str], *, period: int) -> core.ProbeArgs:
    return core.ProbeArgs(
        exec_=core.ExecActionArgs(command=command),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=3,
    )
