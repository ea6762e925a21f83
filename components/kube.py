"""Shared Kubernetes building blocks: labels, hardened security contexts, DNS egress.

Kept in one place so the restricted Pod Security profile is defined once and cannot drift between
the microservices and RabbitMQ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

core = k8s.core.v1
meta = k8s.meta.v1
netv1 = k8s.networking.v1

NAME_LABEL = "app.kubernetes.io/name"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
# Pods carrying this label may reach RabbitMQ; the broker's policy selects on it so that adding a
# messaging service never edits the broker's resources.
MESSAGING_CLIENT_LABEL = "micromart.io/messaging-client"
ISTIO_INGRESS_NAMESPACE = "aks-istio-ingress"
ISTIO_SYSTEM_NAMESPACE = "aks-istio-system"
NONROOT_UID = 10001
# Checkov takes a suppression from the object's own metadata.annotations: a key containing
# "checkov.io/skip", the value "<check id>=<reason>" split on every "=" (checkov 3.3.30,
# checkov/kubernetes/kubernetes_utils.py, get_skipped_checks), so a reason cannot hold one.
CHECKOV_SKIP_PREFIX = "checkov.io/skip"
_CHECKOV_KUBERNETES_CHECK = re.compile(r"CKV2?_K8S_[0-9]+")


@dataclass(frozen=True)
class CheckovSkip:
    """A Checkov Kubernetes check that does not fit one object, and why: the reason is part of
    the manifest, so whoever reads the object or Checkov's report sees it."""

    check: str
    reason: str

    def __post_init__(self) -> None:
        if not _CHECKOV_KUBERNETES_CHECK.fullmatch(self.check):
            raise ValueError(f"not a Checkov Kubernetes check id: {self.check!r}")
        if not self.reason.strip() or "=" in self.reason or "\n" in self.reason:
            raise ValueError(
                f"{self.check}: the reason must be one non-empty line without '=': {self.reason!r}"
            )


def checkov_annotations(skips: Sequence[CheckovSkip]) -> dict[str, str]:
    """`checkov.io/skip1`, `checkov.io/skip2`, ... in the order given, one check each."""
    checks = [skip.check for skip in skips]
    if len(set(checks)) != len(checks):
        raise ValueError(f"a check is suppressed twice: {checks}")
    return {
        f"{CHECKOV_SKIP_PREFIX}{number}": f"{skip.check}={skip.reason}"
        for number, skip in enumerate(skips, start=1)
    }


def labels(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        NAME_LABEL: name,
        PART_OF_LABEL: "micromart",
        MANAGED_BY_LABEL: "pulumi",
        **(extra or {}),
    }


def metadata(
    name: str,
    namespace: pulumi.Input[str] | None,
    object_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    checkov_skips: Sequence[CheckovSkip] = (),
) -> meta.ObjectMetaArgs:
    """`checkov_skips` is the only way a suppression gets into a manifest: each has a reason."""
    if any(CHECKOV_SKIP_PREFIX in key for key in annotations or {}):
        raise ValueError(f"{name}: suppress Checkov checks with CheckovSkip, not an annotation")
    merged = {**(annotations or {}), **checkov_annotations(checkov_skips)}
    return meta.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(object_labels) if object_labels is not None else labels(name),
        annotations=merged or None,
    )


def pod_security_context(uid: int = NONROOT_UID) -> core.PodSecurityContextArgs:
    return core.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(uid: int = NONROOT_UID) -> core.SecurityContextArgs:
    return core.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def resources(
    requests_cpu: str, requests_memory: str, limits_cpu: str, limits_memory: str
) -> core.ResourceRequirementsArgs:
    return core.ResourceRequirementsArgs(
        requests={"cpu": requests_cpu, "memory": requests_memory},
        limits={"cpu": limits_cpu, "memory": limits_memory},
    )


def dns_egress() -> netv1.NetworkPolicyEgressRuleArgs:
    """Allow name resolution through CoreDNS in kube-system, nothing else."""
    return netv1.NetworkPolicyEgressRuleArgs(
        to=[
            netv1.NetworkPolicyPeerArgs(
                namespace_selector=meta.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                ),
                pod_selector=meta.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        ports=[
            netv1.NetworkPolicyPortArgs(protocol="UDP", port=53),
            netv1.NetworkPolicyPortArgs(protocol="TCP", port=53),
        ],
    )


def namespace_peer(
    namespace: pulumi.Input[str], pod_labels: Mapping[str, str] | None = None
) -> netv1.NetworkPolicyPeerArgs:
    return netv1.NetworkPolicyPeerArgs(
        namespace_selector=meta.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": namespace}
        ),
        pod_selector=meta.LabelSelectorArgs(match_labels=dict(pod_labels)) if pod_labels else None,
    )


def tcp_ports(*ports: int) -> list[netv1.NetworkPolicyPortArgs]:
    return [netv1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def tmp_volume() -> tuple[core.VolumeArgs, core.VolumeMountArgs]:
    """A small writable /tmp: the root filesystem is read-only."""
    return (
        core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi")),
        core.VolumeMountArgs(name="tmp", mount_path="/tmp"),
    )


def name_of(
    resource: k8s.core.v1.ConfigMap
    | k8s.core.v1.Secret
    | k8s.core.v1.ServiceAccount
    | k8s.apps.v1.Deployment,
) -> pulumi.Output[str]:
    """The object's name as an output, so whatever refers to it waits until it exists."""
    return resource.metadata.apply(lambda m: m.name or "")


def secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """Mark a derived value secret even where the engine's own secret tracking is absent."""
    return cast(pulumi.Output[str], pulumi.Output.secret(cast(Any, value)))


def spread_constraints(
    selector: Mapping[str, str], hostname_policy: str = "DoNotSchedule"
) -> list[core.TopologySpreadConstraintArgs]:
    """Spread replicas over zones (best effort) and nodes, so one failure takes out few pods."""
    return [
        core.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key=key,
            when_unsatisfiable=policy,
            label_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
        )
        for key, policy in (
            ("topology.kubernetes.io/zone", "ScheduleAnyway"),
            ("kubernetes.io/hostname", hostname_policy),
        )
    ]


# -- metrics scraping (AKS managed Prometheus) ------------------------------------------------
# The scraper: the `ama-metrics` Deployment of the AKS metrics add-on in kube-system, whose pods
# carry `rsName: ama-metrics` (Azure/prometheus-collector, otelcollector/deploy/addon-chart/
# azure-monitor-metrics-addon/templates/ama-metrics-deployment.yaml); its ReplicaSet runs the
# cluster-wide jobs, pod-annotation scraping among them.
METRICS_SCRAPER_NAMESPACE = "kube-system"
METRICS_SCRAPER_LABELS = {"rsName": "ama-metrics"}
# The Istio agent's status port. With metrics merging (Istio's default) the sidecar injector
# rewrites the pod's prometheus.io annotations to 15020 /stats/prometheus and hands the original
# port and path to the agent (istio/istio pkg/kube/inject/inject.go, applyPrometheusMerge); the
# agent serves Envoy's metrics followed by the app's, fetched over localhost
# (pilot/cmd/pilot-agent/status/server.go, handleStats). The injection template excludes the
# status port from inbound capture (pkg/kube/inject, excludeInboundPort), so the scraper, which
# has no sidecar, reaches it in plain HTTP although the namespace's mTLS is STRICT; for the same
# reason no AuthorizationPolicy applies to it (it never passes through Envoy).
ISTIO_AGENT_METRICS_PORT = 15020


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    """Pod annotations AKS managed Prometheus scrapes by (in the namespaces its settings name)."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": path,
    }


def metrics_scraper_rule() -> netv1.NetworkPolicyIngressRuleArgs:
    """Ingress for exactly the managed Prometheus scraper, on exactly the agent's metrics port."""
    return netv1.NetworkPolicyIngressRuleArgs(
        from_=[namespace_peer(METRICS_SCRAPER_NAMESPACE, METRICS_SCRAPER_LABELS)],
        ports=tcp_ports(ISTIO_AGENT_METRICS_PORT),
    )
