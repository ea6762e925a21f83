"""Who the service is and who may talk to it: its workload identity (ServiceAccount, Azure
identity, secret files), NetworkPolicy, mesh authorization."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.cluster import INGRESS_GATEWAY_SELECTOR
from components.microservice.args import (
    AMQP_PORT,
    HTTP_PORT_NAME,
    INGRESS_GATEWAY_PRINCIPAL,
    POSTGRES_PASSWORD_FILE,
    POSTGRES_PORT,
    RABBITMQ_PASSWORD_FILE,
    env_secret_name,
    postgres_password_secret,
    rabbitmq_password_secret,
)
from components.microservice.scope import ServiceScope
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

core = k8s.core.v1
meta = k8s.meta.v1
netv1 = k8s.networking.v1


def secret_files(scope: ServiceScope) -> dict[str, str]:
    """File name under /mnt/secrets -> Key Vault secret name, for what this service needs."""
    spec, secret_ids = scope.args.spec, scope.args.secrets.secret_ids
    files = {
        key: env_secret_name(spec.name, key) for key in scope.args.secret_env if key in spec.env
    }
    if spec.postgres is not None:
        files[POSTGRES_PASSWORD_FILE] = postgres_password_secret(spec.name)
    # The broker's per-service users (and their passwords in the vault) come from the RabbitMQ
    # component; until the stack stores `<service>-rabbitmq-password`, nothing is mounted for it.
    if spec.rabbitmq and rabbitmq_password_secret(spec.name) in secret_ids:
        files[RABBITMQ_PASSWORD_FILE] = rabbitmq_password_secret(spec.name)
    return dict(sorted(files.items()))


def workload_identity(scope: ServiceScope) -> WorkloadIdentity:
    """The service's own Azure identity, ServiceAccount and secret files (one per service)."""
    access = scope.args.secrets
    return WorkloadIdentity(
        scope.name,
        WorkloadIdentityArgs(
            service_account=scope.service,
            namespace=scope.args.namespace,
            namespace_name=scope.args.namespace_name,
            labels=scope.labels,
            placement=access.placement,
            identity_name=f"id-micromart-{scope.service}",
            oidc_issuer_url=access.oidc_issuer_url,
            vault=access.vault,
            files=secret_files(scope),
            secret_ids=access.secret_ids,
            provider=scope.args.provider,
            crds=access.crds,
            previous_parent=scope.component,
        ),
        opts=pulumi.ResourceOptions(parent=scope.component),
    )


def network_policy(scope: ServiceScope) -> None:
    spec = scope.args.spec
    sources = [
        netv1.NetworkPolicyPeerArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels={kube.NAME_LABEL: caller})
        )
        for caller in scope.args.callers
    ]
    if spec.public:
        # The add-on's gateway pods only: other pods run in that namespace too (the certificate
        # sync of components/gateway_tls.py) and have no business calling the service.
        sources.append(kube.namespace_peer(kube.ISTIO_INGRESS_NAMESPACE, INGRESS_GATEWAY_SELECTOR))
    ingress = (
        [netv1.NetworkPolicyIngressRuleArgs(from_=sources, ports=kube.tcp_ports(spec.port))]
        if sources
        else []
    )
    # The managed Prometheus scraper, on the Istio agent's port only: the app's own metrics port
    # listens on loopback, where only the agent reads it.
    ingress.append(kube.metrics_scraper_rule())
    netv1.NetworkPolicy(
        f"{scope.name}-netpol",
        metadata=scope.meta(),
        spec=netv1.NetworkPolicySpecArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels=scope.selector()),
            policy_types=["Ingress", "Egress"],
            ingress=ingress,
            egress=_egress_rules(scope),
        ),
        opts=scope.k8s_opts(),
    )


def _egress_rules(scope: ServiceScope) -> list[netv1.NetworkPolicyEgressRuleArgs]:
    spec, platform = scope.args.spec, scope.args.platform
    rules = [
        netv1.NetworkPolicyEgressRuleArgs(
            to=[
                netv1.NetworkPolicyPeerArgs(
                    pod_selector=meta.LabelSelectorArgs(match_labels={kube.NAME_LABEL: callee})
                )
            ],
            # The named port resolves on the callee's pods, so a callee changing its port
            # number does not edit this service's policy.
            ports=[netv1.NetworkPolicyPortArgs(protocol="TCP", port=HTTP_PORT_NAME)],
        )
        for callee in spec.calls
    ]
    if spec.postgres is not None:
        rules.append(
            netv1.NetworkPolicyEgressRuleArgs(
                to=[
                    netv1.NetworkPolicyPeerArgs(
                        ip_block=netv1.IPBlockArgs(cidr=platform.postgres_subnet)
                    )
                ],
                ports=kube.tcp_ports(POSTGRES_PORT),
            )
        )
    if spec.rabbitmq:
        rules.append(
            netv1.NetworkPolicyEgressRuleArgs(
                to=[
                    kube.namespace_peer(platform.rabbitmq_namespace, {kube.NAME_LABEL: "rabbitmq"})
                ],
                ports=kube.tcp_ports(AMQP_PORT),
            )
        )
    return rules


def authorization_policy(scope: ServiceScope) -> None:
    namespace = scope.args.namespace_name
    principals = [f"cluster.local/ns/{namespace}/sa/{caller}" for caller in scope.args.callers]
    if scope.args.spec.public:
        principals.append(INGRESS_GATEWAY_PRINCIPAL)
    rules = [{"from": [{"source": {"principals": sorted(principals)}}]}] if principals else []
    # No rule for the metrics scraper: it reads the Istio agent's port 15020, which is excluded
    # from the sidecar's inbound capture, so this policy (enforced by Envoy) never sees it.
    # An ALLOW policy with no rules admits nothing: a service nobody calls is unreachable.
    scope.custom_resource(
        "authorization-policy",
        "security.istio.io/v1",
        "AuthorizationPolicy",
        {
            "selector": {"matchLabels": scope.selector()},
            "action": "ALLOW",
            "rules": rules,
        },
    )
