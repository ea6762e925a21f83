"""Shared Kubernetes building blocks: labels, hardened security contexts, DNS egress.

Kept in one place so the restricted Pod Security profile is defined once and cannot drift between
the microservices and RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Mapping
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
) -> meta.ObjectMetaArgs:
    return meta.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels=dict(object_labels) if object_labels is not None else labels(name),
        annotations=dict(annotations) if annotations else None,
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
