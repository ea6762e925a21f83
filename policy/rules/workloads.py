"""Per-workload rules: identity, privileges, probes, resources, images, host isolation.

Every rule runs on every pod spec that `pods.pod_sites` finds in any Kubernetes object (workloads
of every apiVersion, their Patches, CustomResources, CRDs embedding a pod template) and on every
container list (containers, initContainers incl. native sidecars, ephemeralContainers).
Each concern is its own policy so that one unknown-at-preview value (typically the image digest,
which only exists after the build) disables only the rule that reads it.
The remaining Pod Security Standards controls are in `pod_security.py`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from .builder import (
    Severity,
    as_list,
    as_mapping,
    config_value,
    dig,
    is_true,
    plain,
    resource_policy,
    schema,
    show_number,
)
from .istio import PEER_STRICT, peer_exemption_condition
from .podrules import Context, Issue, exemption_notice_policy, workload_policy
from .pods import PodSite, object_kind

_K8S = ("kubernetes", "workload")
_PSS = (*_K8S, "pod-security")

# --- identity -------------------------------------------------------------------------------


def check_run_as_non_root(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        non_root = site.security(container, "runAsNonRoot")
        if non_root is None:
            yield Issue(f"{container.label}: runAsNonRoot is not true", absent=True)
        elif not is_true(non_root):
            yield Issue(f"{container.label}: runAsNonRoot is not true")
        user = site.security(container, "runAsUser")
        if user is None:
            # Without a numeric UID the kubelet cannot prove a named USER (e.g. "appuser") is
            # non-root and refuses to start the pod under runAsNonRoot.
            yield Issue(f"{container.label}: runAsUser is not set (use a non-zero UID)", True)
        elif isinstance(user, (int, float)) and not isinstance(user, bool) and user == 0:
            yield Issue(f"{container.label}: runAsUser is 0 (root)")


# --- privileges ----------------------------------------------------------------------------


def check_no_privilege_escalation(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        # The Linux default is "allowed", so only an explicit false is compliant.
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is not False:
            message = f"{container.label}: allowPrivilegeEscalation is not false"
            yield Issue(message, absent=value is None)


def check_not_privileged(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        if is_true(container.security_context.get("privileged")):
            yield Issue(f"{container.label}: privileged is true")


# PSS "restricted" allows adding back exactly this one capability (binding ports < 1024).
_RESTRICTED_ADDABLE = frozenset({"NET_BIND_SERVICE"})
# PSS "baseline": the container runtime's default set, which may be added back explicitly.
_BASELINE_ADDABLE = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def check_capabilities(site: PodSite, context: Context) -> Iterator[Issue]:
    addable = _BASELINE_ADDABLE if context.baseline_only else _RESTRICTED_ADDABLE
    for container in site.containers():
        capabilities = as_mapping(container.security_context.get("capabilities"))
        # Exact names, as the Pod Security Admission checks compare them.
        dropped = {str(c) for c in as_list(capabilities.get("drop"))}
        if not context.baseline_only and "ALL" not in dropped:
            yield Issue(
                f"{container.label}: capabilities.drop does not contain ALL",
                absent=capabilities.get("drop") is None,
            )
        added = sorted({str(c) for c in as_list(capabilities.get("add"))} - addable)
        if added:
            yield Issue(f"{container.label}: adds capabilities {', '.join(added)}")


# Localhost profiles are operator-installed and allowed by PSS "restricted" like RuntimeDefault.
_CONFINED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})


def check_seccomp(site: PodSite, context: Context) -> Iterator[Issue]:
    pod_type = dig(site.pod_security_context, "seccompProfile", "type")
    if pod_type == "Unconfined":
        yield Issue("pod securityContext.seccompProfile.type is Unconfined")
    for container in site.containers():
        own = dig(container.security_context, "seccompProfile", "type")
        if own == "Unconfined":
            yield Issue(f"{container.label}: seccompProfile.type is Unconfined")
            continue
        effective = own if own is not None else pod_type
        if context.baseline_only or effective in _CONFINED_SECCOMP or effective == "Unconfined":
            continue
        shown = effective if isinstance(effective, str) else "unset"
        yield Issue(
            f"{container.label}: seccompProfile.type is {shown}, not RuntimeDefault or Localhost",
            absent=effective is None,
        )


def check_read_only_root_filesystem(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        value = container.security_context.get("readOnlyRootFilesystem")
        if not is_true(value):
            yield Issue(f"{container.label}: readOnlyRootFilesystem is not true", value is None)


# --- health and capacity -------------------------------------------------------------------

_PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


def _probe_handler(probe: Mapping[str, Any]) -> dict[str, Any]:
    return {key: plain(probe[key]) for key in _PROBE_HANDLERS if probe.get(key) is not None}


def check_health_probes(site: PodSite, _: Context) -> Iterator[Issue]:
    # Jobs run to completion and are never behind a Service; probes would only slow them down or
    # kill a long migration. Init containers (even native sidecars) and ephemeral ones are exempt.
    if site.run_to_completion:
        return
    for container in site.containers("containers"):
        handlers = {}
        for probe_key in ("readinessProbe", "livenessProbe"):
            probe = container.spec.get(probe_key)
            if not isinstance(probe, Mapping):
                yield Issue(f"{container.label}: {probe_key} is missing", absent=True)
                continue
            handler = _probe_handler(probe)
            if not handler:
                yield Issue(
                    f"{container.label}: {probe_key} has no httpGet/tcpSocket/exec/grpc handler"
                )
                continue
            handlers[probe_key] = handler
        # Same check for both means a slow dependency restarts pods instead of just draining
        # traffic from them; timings alone do not make two probes different.
        if len(handlers) == 2 and handlers["readinessProbe"] == handlers["livenessProbe"]:
            yield Issue(f"{container.label}: readinessProbe and livenessProbe run the same check")


def check_resource_requests_limits(site: PodSite, _: Context) -> Iterator[Issue]:
    # The API forbids resources on ephemeral containers, so they cannot comply.
    for container in site.containers("containers", "initContainers"):
        resources = as_mapping(container.spec.get("resources"))
        missing = [
            f"{section}.{name}"
            for section in ("requests", "limits")
            for name in ("cpu", "memory")
            if as_mapping(resources.get(section)).get(name) in (None, "")
        ]
        if missing:
            yield Issue(f"{container.label}: missing resources {', '.join(missing)}", True)


# --- images --------------------------------------------------------------------------------

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOCKER_HUB = "docker.io"
# Registries speak HTTPS; ":443" names the same endpoint as the bare host.
_DEFAULT_PORT = ":443"


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way the container runtime reads it."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        # A digest wins over any tag. A release tag is accepted too: a stack that deploys a tag CI
        # already pushed (images.build = false) has no digest, and keeping that tag immutable is
        # the registry's job (ACR tag locking), not the manifest's.
        if self.digest is not None:
            return bool(_DIGEST.match(self.digest))
        return self.tag is not None and self.tag != "latest"


def parse_image(reference: str) -> ImageRef:
    name, has_digest, digest = reference.strip().partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    # A colon before the last slash belongs to a registry port, not to a tag.
    repository, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, None)
    first, has_path, rest = repository.partition("/")
    if has_path and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry = _DOCKER_HUB
    if registry == _DOCKER_HUB and "/" not in repository:
        # Docker Hub's official images live under library/ ("rabbitmq" = "library/rabbitmq").
        repository = f"library/{repository}"
    return ImageRef(registry.lower(), repository, tag or None, digest if has_digest else None)


def _location(registry: str, repository: str) -> str:
    return f"{registry.removesuffix(_DEFAULT_PORT)}/{repository}".lower()


def registry_allowed(image: ImageRef, allowed: Sequence[Any]) -> bool:
    """Entries are registry hosts ("x.azurecr.io") or host/path prefixes ("x.azurecr.io/team")."""
    location = _location(image.registry, image.repository)
    for entry in allowed:
        host, _, path = str(entry).strip().rstrip("/").partition("/")
        prefix = _location(host, path).rstrip("/")
        if host and (location == prefix or location.startswith(prefix + "/")):
            return True
    return False


def _images(site: PodSite) -> Iterator[tuple[str, str | None]]:
    """(container label, image or None when the container names none)."""
    for container in site.containers():
        image = container.spec.get("image")
        yield container.label, image if isinstance(image, str) and image else None


REGISTRY_SCHEMA = schema(
    allowedRegistries={
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "default": [],
        "description": (
            "Registry hosts (or host/path prefixes) images may come from; empty allows none."
        ),
    }
)


def check_image_allowed_registry(site: PodSite, context: Context) -> Iterator[Issue]:
    allowed = as_list(config_value(context.args, REGISTRY_SCHEMA, "allowedRegistries"))
    for label, image in _images(site):
        if image is None:
            yield Issue(f"{label}: has no image", absent=True)
            continue
        ref = parse_image(image)
        if not registry_allowed(ref, allowed):
            # Fail closed: a stack without configured registries allows no registry at all.
            permitted = ", ".join(str(a) for a in allowed) or "none configured"
            yield Issue(f"{label}: image '{image}' is from {ref.registry} (allowed: {permitted})")


def check_image_pinned(site: PodSite, _: Context) -> Iterator[Issue]:
    for label, image in _images(site):
        if image is None:
            yield Issue(f"{label}: has no image", absent=True)
            continue
        ref = parse_image(image)
        if ref.pinned:
            continue
        if ref.digest is not None:
            yield Issue(f"{label}: image '{image}' has a malformed digest (want sha256:<hex>)")
        elif ref.tag is None:
            yield Issue(f"{label}: image '{image}' has no tag or digest (implicitly :latest)")
        else:
            yield Issue(f"{label}: image '{image}' uses the mutable tag :latest")


# --- host isolation ------------------------------------------------------------------------


def check_no_host_namespaces(site: PodSite, _: Context) -> Iterator[Issue]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(site.spec.get(field)):
            yield Issue(f"pod spec sets {field}: true")


def check_no_host_path_volumes(site: PodSite, _: Context) -> Iterator[Issue]:
    for index, item in enumerate(as_list(site.spec.get("volumes"))):
        volume = as_mapping(item)
        if volume.get("hostPath") is not None:
            yield Issue(f"volume '{volume.get('name', f'#{index}')}' is a hostPath volume")


def check_persistent_volume_host_path(args: ResourceValidationArgs) -> Iterator[str]:
    # A PersistentVolume backed by hostPath (or a node-local path) hands a node directory to any
    # pod that claims it, bypassing the pod-level hostPath check.
    if object_kind(args.resource_type, args.props) != "persistentvolume":
        return
    spec = as_mapping(args.props.get("spec"))
    if spec.get("hostPath") is not None:
        path = dig(spec, "hostPath", "path")
        yield f"PersistentVolume is backed by hostPath {path if isinstance(path, str) else ''}"
    if spec.get("local") is not None:
        local_path = dig(spec, "local", "path")
        shown_path = local_path if isinstance(local_path, str) else ""
        yield f"PersistentVolume is backed by the node-local path {shown_path}"


# Paths whose read access alone gives away the node (credentials, runtime sockets, everything).
_SENSITIVE_HOST_PATHS = (
    "/",
    "/etc",
    "/root",
    "/home",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/kubelet",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/etc/kubernetes",
)


def _touches_sensitive(path: str) -> bool:
    """A relative path, or one at, under or above a sensitive directory ("/var" holds /var/run)."""
    if not path.startswith("/"):
        return True
    normalized = posixpath.normpath(path)
    if normalized in ("/", "//"):
        return True
    return any(
        normalized == sensitive
        or normalized.startswith(sensitive + "/")
        or sensitive.startswith(normalized + "/")
        for sensitive in _SENSITIVE_HOST_PATHS
        if sensitive != "/"
    )


def read_only_host_paths(site: PodSite) -> str | None:
    """The log-shipper exemption holds only for read-only mounts of non-sensitive host paths."""
    host_volumes = {}
    for item in as_list(site.spec.get("volumes")):
        volume = as_mapping(item)
        if volume.get("hostPath") is not None:
            host_volumes[str(volume.get("name"))] = dig(volume, "hostPath", "path")
    for name, path in host_volumes.items():
        if not isinstance(path, str) or _touches_sensitive(path):
            return f"hostPath volume '{name}' exposes {path!r}, which no exemption covers"
    for container in site.containers():
        for item in as_list(container.spec.get("volumeMounts")):
            mount = as_mapping(item)
            if str(mount.get("name")) in host_volumes and not is_true(mount.get("readOnly")):
                return (
                    f"{container.label} mounts hostPath volume '{mount.get('name')}' without "
                    "readOnly: true"
                )
    return None


def check_no_host_ports(site: PodSite, _: Context) -> Iterator[Issue]:
    for container in site.containers():
        for item in as_list(container.spec.get("ports")):
            host_port = as_mapping(item).get("hostPort")
            # 0 is the API's "not set".
            if host_port not in (None, 0):
                yield Issue(f"{container.label}: binds hostPort {show_number(host_port)}")


def check_no_token_automount(site: PodSite, _: Context) -> Iterator[Issue]:
    # Only the pod-level field is authoritative for this pod; the ServiceAccount's own setting can
    # be flipped by anyone who edits the SA.
    value = site.spec.get("automountServiceAccountToken")
    if value is not False:
        yield Issue("pod spec does not set automountServiceAccountToken: false", value is None)


def check_explicit_namespace(_: PodSite, context: Context) -> Iterator[Issue]:
    if not context.namespace:
        yield Issue("metadata.namespace is not set (the provider would pick its default namespace)")
    elif context.namespace == "default":
        yield Issue("metadata.namespace is 'default'")


def check_no_helm_release(args: ResourceValidationArgs) -> Iterator[str]:
    # helm installs a Release's objects itself: neither the engine nor this pack ever sees its
    # pods. Charts (v3/v4) register their objects as children, which the rules then check.
    kind = args.resource_type.rsplit(":", 1)[-1]
    if args.resource_type.startswith("kubernetes:helm.sh/") and kind == "Release":
        chart = args.props.get("chart")
        shown = f" '{chart}'" if isinstance(chart, str) else ""
        yield (
            f"helm Release of chart{shown} installs objects no policy can check; declare them "
            "as Kubernetes resources or through a helm Chart component"
        )


HOST_PATH_EXEMPTIONS = {"k8s-no-host-path-volumes": read_only_host_paths}

POLICIES: tuple[Policy, ...] = (
    workload_policy(
        name="k8s-run-as-non-root",
        description=(
            "Every container runs as a non-root user: runAsNonRoot true and a non-zero runAsUser."
        ),
        check=check_run_as_non_root,
        severity=Severity.HIGH,
        remediation=(
            "Set securityContext.runAsNonRoot: true and runAsUser to the image's non-zero UID on "
            "the pod (or on each container; a container value overrides the pod value)."
        ),
        tags=_PSS,
        system="skip",
    ),
    workload_policy(
        name="k8s-no-privilege-escalation",
        description="Every container sets allowPrivilegeEscalation to false.",
        check=check_no_privilege_escalation,
        severity=Severity.HIGH,
        remediation=(
            "Set securityContext.allowPrivilegeEscalation: false on every container, init "
            "container and ephemeral container."
        ),
        tags=_PSS,
        system="skip",
    ),
    workload_policy(
        name="k8s-no-privileged-containers",
        description="No container runs in privileged mode.",
        check=check_not_privileged,
        severity=Severity.CRITICAL,
        remediation=(
            "Remove securityContext.privileged (or set it to false); grant narrow capabilities "
            "instead."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-drop-all-capabilities",
        description=(
            "Every container drops ALL Linux capabilities and adds back at most NET_BIND_SERVICE."
        ),
        check=check_capabilities,
        severity=Severity.HIGH,
        remediation=(
            'Set securityContext.capabilities.drop: ["ALL"]; add back only NET_BIND_SERVICE if '
            "needed (system namespaces: only the PSS baseline set may be added)."
        ),
        tags=_PSS,
        system="baseline",
    ),
    workload_policy(
        name="k8s-seccomp-runtime-default",
        description=(
            "Every container runs under a RuntimeDefault or Localhost seccomp profile, never "
            "Unconfined."
        ),
        check=check_seccomp,
        severity=Severity.MEDIUM,
        remediation=(
            "Set securityContext.seccompProfile.type: RuntimeDefault (or Localhost with "
            "localhostProfile) on the pod and do not set Unconfined on any container."
        ),
        tags=_PSS,
        system="baseline",
    ),
    workload_policy(
        name="k8s-read-only-root-filesystem",
        description="Every container mounts its root filesystem read-only.",
        check=check_read_only_root_filesystem,
        severity=Severity.MEDIUM,
        remediation=(
            "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at the paths "
            "the app writes to (e.g. /tmp)."
        ),
        tags=_K8S,
        system="skip",
        advisory_allowed=True,
    ),
    workload_policy(
        name="k8s-health-probes",
        description=(
            "Every long-running container has readiness and liveness probes that check different "
            "things."
        ),
        check=check_health_probes,
        severity=Severity.MEDIUM,
        remediation=(
            "Add a readinessProbe (e.g. /health/ready: dependencies reachable) and a "
            "livenessProbe (e.g. /health/live: process responsive) to every container; httpGet, "
            "tcpSocket, grpc and exec handlers all count; init containers and Jobs are exempt."
        ),
        tags=(*_K8S, "reliability"),
        system="skip",
        advisory_allowed=True,
    ),
    workload_policy(
        name="k8s-resource-requests-limits",
        description="Every container declares CPU and memory requests and limits.",
        check=check_resource_requests_limits,
        severity=Severity.MEDIUM,
        remediation=(
            "Set resources.requests.{cpu,memory} and resources.limits.{cpu,memory} on every "
            "container and init container."
        ),
        tags=(*_K8S, "reliability"),
        system="skip",
        advisory_allowed=True,
    ),
    workload_policy(
        name="k8s-image-allowed-registry",
        description="Every container image comes from one of the stack's allowed registries.",
        check=check_image_allowed_registry,
        severity=Severity.HIGH,
        remediation=(
            "Push the image to the stack's registry (ACR) and reference it there, or add the "
            "registry to allowedRegistries in policy/config/<stack>.json."
        ),
        tags=(*_K8S, "supply-chain"),
        config_schema=REGISTRY_SCHEMA,
    ),
    workload_policy(
        name="k8s-image-pinned",
        description=(
            "Every container image is pinned by digest or a release tag, never latest or untagged."
        ),
        check=check_image_pinned,
        severity=Severity.HIGH,
        remediation=(
            "Reference the pushed image by digest (repo@sha256:...) or by an immutable release tag."
        ),
        tags=(*_K8S, "supply-chain"),
    ),
    workload_policy(
        name="k8s-no-host-namespaces",
        description="Pods do not share the node's network, PID or IPC namespace.",
        check=check_no_host_namespaces,
        severity=Severity.CRITICAL,
        remediation="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-no-host-path-volumes",
        description="Pods and PersistentVolumes do not use hostPath volumes.",
        check=check_no_host_path_volumes,
        severity=Severity.CRITICAL,
        remediation=(
            "Replace hostPath volumes with emptyDir, ConfigMap/Secret or PersistentVolumeClaim "
            "volumes; a log shipper may read a non-sensitive host path read-only with the "
            "annotation exempt.policy.micromart.io/k8s-no-host-path-volumes: <reason>."
        ),
        tags=_PSS,
        exemption=read_only_host_paths,
        object_check=check_persistent_volume_host_path,
    ),
    workload_policy(
        name="k8s-no-host-ports",
        description="No container binds a port on the node (hostPort).",
        check=check_no_host_ports,
        severity=Severity.HIGH,
        remediation=(
            "Remove hostPort from container ports and expose the pod through a ClusterIP Service."
        ),
        tags=_PSS,
    ),
    workload_policy(
        name="k8s-no-service-account-token-automount",
        description="Pods do not automount a Kubernetes API token.",
        check=check_no_token_automount,
        severity=Severity.MEDIUM,
        remediation=(
            "Set automountServiceAccountToken: false in the pod spec; mount a projected token "
            "only in pods that call the Kubernetes API."
        ),
        tags=_K8S,
        system="skip",
    ),
    workload_policy(
        name="k8s-explicit-namespace",
        description="Workloads declare a namespace other than default.",
        check=check_explicit_namespace,
        severity=Severity.MEDIUM,
        remediation=(
            "Set metadata.namespace to the app or messaging namespace created by the Namespaces "
            "component."
        ),
        tags=_K8S,
    ),
    resource_policy(
        name="k8s-no-helm-release",
        description="No helm Release hides Kubernetes objects from the policy pack.",
        resource_types=None,
        check=check_no_helm_release,
        severity=Severity.HIGH,
        remediation=(
            "Replace kubernetes.helm.v3.Release with the objects themselves (or a helm Chart "
            "component, whose children are registered and checked)."
        ),
        tags=_K8S,
    ),
    # Advisory: reports every exemption annotation (honoured or refused) into policy.json.
    exemption_notice_policy(
        HOST_PATH_EXEMPTIONS, object_conditions={PEER_STRICT: peer_exemption_condition}
    ),
)
