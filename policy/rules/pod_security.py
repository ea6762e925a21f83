"""The Pod Security Standards controls not covered in `workloads.py`.

Allowed values follow the PSS page (kubernetes.io, "Pod Security Standards", baseline and
restricted profiles, Kubernetes 1.35): Windows HostProcess, AppArmor (field and the older
per-container annotation), SELinux options, /proc mount type, sysctls, and the restricted
volume-type allow-list. Each is checked on the pod and on every container list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Policy

from .builder import Severity, as_list, as_mapping, dig, is_true
from .podrules import Context, Issue, workload_policy
from .pods import PodSite

_PSS = ("kubernetes", "workload", "pod-security")


def _security_contexts(site: PodSite) -> Iterator[tuple[str, Any]]:
    """("pod", pod securityContext) then (container label, its securityContext)."""
    yield "pod", site.pod_security_context
    for container in site.containers():
        yield container.label, container.security_context


def check_windows_host_process(site: PodSite, _: Context) -> Iterator[Issue]:
    for owner, context in _security_contexts(site):
        if is_true(dig(context, "windowsOptions", "hostProcess")):
            yield Issue(f"{owner}: windowsOptions.hostProcess is true")


_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _apparmor_annotation_ok(value: Any) -> bool:
    return value == "runtime/default" or (isinstance(value, str) and value.startswith("localhost/"))


def check_apparmor(site: PodSite, _: Context) -> Iterator[Issue]:
    for owner, context in _security_contexts(site):
        profile_type = dig(context, "appArmorProfile", "type")
        if profile_type is not None and profile_type not in _APPARMOR_TYPES:
            yield Issue(f"{owner}: appArmorProfile.type is {profile_type}")
    annotations = site.annotations
    for key in annotations:
        if isinstance(key, str) and key.startswith(_APPARMOR_ANNOTATION):
            value = annotations.get(key)
            if not _apparmor_annotation_ok(value):
                yield Issue(f"annotation {key} is {value!r}")


# container_engine_t joined the allow-list in Kubernetes 1.31 (for nested container engines).
_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def check_selinux(site: PodSite, _: Context) -> Iterator[Issue]:
    for owner, context in _security_contexts(site):
        options = as_mapping(as_mapping(context).get("seLinuxOptions"))
        selinux_type = options.get("type")
        if selinux_type is not None and selinux_type not in _SELINUX_TYPES:
            yield Issue(f"{owner}: seLinuxOptions.type {selinux_type!r} is not allowed")
        for field in ("user", "role"):
            if options.get(field) not in (None, ""):
                yield Issue(f"{owner}: seLinuxOptions.{field} is set")


def check_proc_mount(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        proc_mount = container.security_context.get("procMount")
        if proc_mount not in (None, "Default"):
            yield Issue(f"{container.label}: procMount is {proc_mount}")


# Namespaced sysctls isolated from other pods; the last five joined in Kubernetes 1.27/1.29.
_SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)


def check_sysctls(site: PodSite, _: Context) -> Iterator[Issue]:
    for item in as_list(site.pod_security_context.get("sysctls")):
        name = as_mapping(item).get("name")
        # The kernel accepts "/" as a separator too (net/ipv4/...); compare the dotted form.
        dotted = name.replace("/", ".") if isinstance(name, str) else name
        if dotted not in _SAFE_SYSCTLS:
            yield Issue(f"sysctl {name!r} is not in the PSS safe set")


_RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def check_volume_types(site: PodSite, _: Context) -> Iterator[Issue]:
    for index, item in enumerate(as_list(site.spec.get("volumes"))):
        volume = as_mapping(item)
        name = volume.get("name", f"#{index}")
        # hostPath has its own, stricter rule (and its own exemption); do not report it twice.
        sources = sorted(str(k) for k in volume if k not in ("name", "hostPath"))
        for source in sources:
            if source not in _RESTRICTED_VOLUME_TYPES:
                yield Issue(f"volume '{name}' uses {source}, outside the restricted allow-list")


POLICIES: tuple[Policy, ...] = (
    workload_policy(
        name="k8s-no-windows-host-process",
        description="No pod or container runs as a Windows HostProcess.",
        check=check_windows_host_process,
        severity=Severity.CRITICAL,
        remediation=(
            "Remove securityContext.windowsOptions.hostProcess from the pod and its containers."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-apparmor-profile",
        description="No pod or container overrides AppArmor beyond RuntimeDefault or Localhost.",
        check=check_apparmor,
        severity=Severity.HIGH,
        remediation=(
            "Leave appArmorProfile unset or use type RuntimeDefault/Localhost; drop "
            "container.apparmor.security.beta.kubernetes.io annotations set to unconfined."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-selinux-options",
        description="SELinux options use only the container types and never set user or role.",
        check=check_selinux,
        severity=Severity.HIGH,
        remediation=(
            "Remove seLinuxOptions.user/role and use type container_t, container_init_t, "
            "container_kvm_t or container_engine_t (or leave seLinuxOptions unset)."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-proc-mount-default",
        description="Every container uses the Default /proc mount type.",
        check=check_proc_mount,
        severity=Severity.HIGH,
        remediation="Remove securityContext.procMount (or set it to Default).",
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-safe-sysctls",
        description="Pods set only the sysctls the Pod Security Standards list as safe.",
        check=check_sysctls,
        severity=Severity.HIGH,
        remediation=(
            "Remove securityContext.sysctls entries outside the PSS safe set (e.g. "
            "net.ipv4.ip_unprivileged_port_start, net.ipv4.ip_local_port_range)."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-restricted-volume-types",
        description="Pods use only the volume types the restricted Pod Security Standard allows.",
        check=check_volume_types,
        severity=Severity.HIGH,
        remediation=(
            "Use configMap, secret, emptyDir, projected, downwardAPI, csi, ephemeral or "
            "persistentVolumeClaim volumes; reach other storage through a PersistentVolumeClaim."
        ),
        tags=_PSS,
        system="skip",
    ),
)
