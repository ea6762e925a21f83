"""Workload namespaces locked down by default: restricted PSA, default-deny traffic, STRICT mTLS."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config.stack import QuotaConfig
from components.istio import IstioCrds, istio_resource

core = k8s.core.v1
netv1 = k8s.networking.v1
PSA_LEVEL = "restricted"
ISTIOD_PORT = 15012


@dataclass(frozen=True)
class NamespacesArgs:
    app_namespace: str
    messaging_namespace: str
    istio_revision: str
    quota: QuotaConfig
    provider: k8s.Provider
    istio: IstioCrds


class Namespaces(pulumi.ComponentResource):
    app_namespace: pulumi.Output[str]
    messaging_namespace: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: NamespacesArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("micromart:namespaces:Namespaces", name, None, opts)
        self._args = args
        self.app_namespace = self._namespace(f"{name}-app", args.app_namespace)
        self.messaging_namespace = self._namespace(f"{name}-messaging", args.messaging_namespace)
        self.register_outputs(
            {
                "app_namespace": self.app_namespace,
                "messaging_namespace": self.messaging_namespace,
            }
        )

    def _opts(self, *depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=self._args.provider, depends_on=list(depends_on)
        )

    def _namespace(self, prefix: str, namespace_name: str) -> pulumi.Output[str]:
        namespace = core.Namespace(
            prefix,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=namespace_name,
                labels=kube.labels(
                    namespace_name,
                    {
                        f"pod-security.kubernetes.io/{mode}": PSA_LEVEL
                        for mode in ("enforce", "audit", "warn")
                    }
                    | {
                        "pod-security.kubernetes.io/enforce-version": "latest",
                        # The AKS add-on only injects on its revision label.
                        "istio.io/rev": self._args.istio_revision,
                    },
                ),
            ),
            opts=self._opts(),
        )
        name = namespace.metadata.apply(lambda m: m.name or namespace_name)
        self._default_deny(prefix, name)
        self._quota(prefix, name)
        self._strict_mtls(prefix, name)
        return name

    def _default_deny(self, prefix: str, namespace: pulumi.Output[str]) -> None:
        netv1.NetworkPolicy(
            f"{prefix}-default-deny",
            metadata=kube.metadata("default-deny", namespace),
            spec=netv1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Ingress", "Egress"],
                # Only what every pod needs: DNS, and its sidecar reaching istiod for config.
                egress=[
                    kube.dns_egress(),
                    netv1.NetworkPolicyEgressRuleArgs(
                        to=[kube.namespace_peer(kube.ISTIO_SYSTEM_NAMESPACE)],
                        ports=kube.tcp_ports(ISTIOD_PORT),
                    ),
                ],
            ),
            opts=self._opts(),
        )

    def _quota(self, prefix: str, namespace: pulumi.Output[str]) -> None:
        quota = self._args.quota
        core.ResourceQuota(
            f"{prefix}-quota",
            metadata=kube.metadata("compute", namespace),
            spec=core.ResourceQuotaSpecArgs(
                hard={
                    "requests.cpu": quota.requests_cpu,
                    "requests.memory": quota.requests_memory,
                    "limits.cpu": quota.limits_cpu,
                    "limits.memory": quota.limits_memory,
                    "pods": str(quota.pods),
                }
            ),
            opts=self._opts(),
        )
        core.LimitRange(
            f"{prefix}-limits",
            metadata=kube.metadata("container-defaults", namespace),
            spec=core.LimitRangeSpecArgs(
                limits=[
                    core.LimitRangeItemArgs(
                        type="Container",
                        default_request={"cpu": "100m", "memory": "128Mi"},
                        default={"cpu": "500m", "memory": "512Mi"},
                        max={"cpu": "4", "memory": "8Gi"},
                    )
                ]
            ),
            opts=self._opts(),
        )

    def _strict_mtls(self, prefix: str, namespace: pulumi.Output[str]) -> None:
        istio_resource(
            f"{prefix}-mtls",
            self._args.istio,
            api_version="security.istio.io/v1",
            kind="PeerAuthentication",
            metadata=kube.metadata("default", namespace),
            spec={"mtls": {"mode": "STRICT"}},
            opts=self._opts(),
        )
