"""Per-workload rules: pod security (PSS "restricted" and then some), probes, resources, images.

Every rule here looks at the pod spec of Deployments, StatefulSets, DaemonSets, Jobs, CronJobs and
bare Pods, and checks init containers too (they run with the same privileges as the app).
Each concern is its own policy so that one unknown-at-preview value (typically the image digest,
which only exists after the build) disables only the rule that reads it.
"""

from __future__ import annotations

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
from .kube import (
    LONG_RUNNING_TYPES,
    WORKLOAD_TYPES,
    Container,
    containers,
    effective_security,
    metadata_namespace,
    pod_spec,
)

_K8S = ("kubernetes", "workload")
_PSS = (*_K8S, "pod-security")


def _pod(args: ResourceValidationArgs) -> tuple[Mapping[str, Any], list[Container]]:
    spec = pod_spec(args.resource_type, args.props)
    return spec, containers(spec)


# --- identity -------------------------------------------------------------------------------


def check_run_as_non_root(args: ResourceValidationArgs) -> Iterator[str]:
    spec, found = _pod(args)
    for container in found:
        if not is_true(effective_security(spec, container, "runAsNonRoot")):
            yield f"{container.label}: runAsNonRoot is not true"
        user = effective_security(spec, container, "runAsUser")
        if user is None:
            # Without a numeric UID the kubelet cannot prove a named USER (e.g. "appuser") is
            # non-root and refuses to start the pod under runAsNonRoot.
            yield f"{container.label}: runAsUser is not set (use a non-zero UID)"
        elif isinstance(user, (int, float)) and not isinstance(user, bool) and user == 0:
            yield f"{container.label}: runAsUser is 0 (root)"


# --- privileges ----------------------------------------------------------------------------


def check_no_privilege_escalation(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        # The Linux default is "allowed", so only an explicit false is compliant.
        if container.security_context.get("allowPrivilegeEscalation") is not False:
            yield f"{container.label}: allowPrivilegeEscalation is not false"


def check_not_privileged(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        if is_true(container.security_context.get("privileged")):
            yield f"{container.label}: privileged is true"


# PSS "restricted" allows adding back exactly this one capability (binding ports < 1024).
_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def check_drop_all_capabilities(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        capabilities = as_mapping(container.security_context.get("capabilities"))
        # Exact names, as the Pod Security Admission "restricted" check compares them.
        dropped = {str(c) for c in as_list(capabilities.get("drop"))}
        if "ALL" not in dropped:
            yield f"{container.label}: capabilities.drop does not contain ALL"
        added = sorted({str(c) for c in as_list(capabilities.get("add"))} - _ADDABLE_CAPABILITIES)
        if added:
            yield f"{container.label}: adds capabilities {', '.join(added)}"


def check_seccomp_runtime_default(args: ResourceValidationArgs) -> Iterator[str]:
    spec, found = _pod(args)
    for container in found:
        profile_type = dig(effective_security(spec, container, "seccompProfile"), "type")
        if profile_type != "RuntimeDefault":
            shown = profile_type if isinstance(profile_type, str) else "unset"
            yield f"{container.label}: seccompProfile.type is {shown}, not RuntimeDefault"


def check_read_only_root_filesystem(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        if not is_true(container.security_context.get("readOnlyRootFilesystem")):
            yield f"{container.label}: readOnlyRootFilesystem is not true"


# --- health and capacity -------------------------------------------------------------------

_PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


def _probe_handler(probe: Mapping[str, Any]) -> dict[str, Any]:
    return {key: plain(probe[key]) for key in _PROBE_HANDLERS if probe.get(key) is not None}


def check_health_probes(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    for container in containers(spec, include_init=False):
        handlers = {}
        for probe_key in ("readinessProbe", "livenessProbe"):
            probe = container.spec.get(probe_key)
            if not isinstance(probe, Mapping):
                yield f"{container.label}: {probe_key} is missing"
                continue
            handler = _probe_handler(probe)
            if not handler:
                yield f"{container.label}: {probe_key} has no httpGet/tcpSocket/exec/grpc handler"
                continue
            handlers[probe_key] = handler
        # Same check for both means a slow dependency restarts pods instead of just draining
        # traffic from them; timings alone do not make two probes different.
        if len(handlers) == 2 and handlers["readinessProbe"] == handlers["livenessProbe"]:
            yield f"{container.label}: readinessProbe and livenessProbe run the same check"


def check_resource_requests_limits(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        resources = as_mapping(container.spec.get("resources"))
        missing = [
            f"{section}.{name}"
            for section in ("requests", "limits")
            for name in ("cpu", "memory")
            if as_mapping(resources.get(section)).get(name) in (None, "")
        ]
        if missing:
            yield f"{container.label}: missing resources {', '.join(missing)}"


# --- images --------------------------------------------------------------------------------

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DOCKER_HUB = "docker.io"


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


def registry_allowed(image: ImageRef, allowed: Sequence[Any]) -> bool:
    """Entries are registry hosts ("x.azurecr.io") or host/path prefixes ("x.azurecr.io/team")."""
    location = f"{image.registry}/{image.repository}".lower()
    for entry in allowed:
        prefix = str(entry).strip().rstrip("/").lower()
        if prefix and (location == prefix or location.startswith(prefix + "/")):
            return True
    return False


def _images(args: ResourceValidationArgs) -> Iterator[tuple[Container, str]]:
    _, found = _pod(args)
    for container in found:
        image = container.spec.get("image")
        yield container, image if isinstance(image, str) else ""


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


def check_image_allowed_registry(args: ResourceValidationArgs) -> Iterator[str]:
    allowed = as_list(config_value(args, REGISTRY_SCHEMA, "allowedRegistries"))
    for container, image in _images(args):
        if not image:
            yield f"{container.label}: has no image"
            continue
        ref = parse_image(image)
        if not registry_allowed(ref, allowed):
            # Fail closed: a stack without configured registries allows no registry at all.
            permitted = ", ".join(str(a) for a in allowed) or "none configured"
            yield (
                f"{container.label}: image '{image}' is from {ref.registry} (allowed: {permitted})"
            )


def check_image_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    for container, image in _images(args):
        if not image:
            yield f"{container.label}: has no image"
            continue
        ref = parse_image(image)
        if ref.pinned:
            continue
        if ref.digest is not None:
            yield f"{container.label}: image '{image}' has a malformed digest (want sha256:<hex>)"
        elif ref.tag is None:
            yield f"{container.label}: image '{image}' has no tag or digest (implicitly :latest)"
        else:
            yield f"{container.label}: image '{image}' uses the mutable tag :latest"


# --- host isolation ------------------------------------------------------------------------


def check_no_host_namespaces(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if is_true(spec.get(field)):
            yield f"pod spec sets {field}: true"


def check_no_host_path_volumes(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    for index, item in enumerate(as_list(spec.get("volumes"))):
        volume = as_mapping(item)
        if volume.get("hostPath") is not None:
            yield f"volume '{volume.get('name', f'#{index}')}' is a hostPath volume"


def check_no_host_ports(args: ResourceValidationArgs) -> Iterator[str]:
    _, found = _pod(args)
    for container in found:
        for item in as_list(container.spec.get("ports")):
            host_port = as_mapping(item).get("hostPort")
            # 0 is the API's "not set".
            if host_port not in (None, 0):
                yield f"{container.label}: binds hostPort {show_number(host_port)}"


def check_no_token_automount(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    # Only the pod-level field is authoritative for this pod; the ServiceAccount's own setting can
    # be flipped by anyone who edits the SA.
    if spec.get("automountServiceAccountToken") is not False:
        yield "pod spec does not set automountServiceAccountToken: false"


def check_explicit_namespace(args: ResourceValidationArgs) -> Iterator[str]:
    namespace = metadata_namespace(args.props)
    if not namespace:
        yield "metadata.namespace is not set (the provider would pick its default namespace)"
    elif namespace == "default":
        yield "metadata.namespace is 'default'"


POLICIES: tuple[Policy, ...] = (
    resource_policy(
        name="k8s-run-as-non-root",
        description=(
            "Every container runs as a non-root user: runAsNonRoot true and a non-zero runAsUser."
        ),
        resource_types=WORKLOAD_TYPES,
        check=check_run_as_non_root,
        severity=Severity.HIGH,
        remediation=(
            "Set securityContext.runAsNonRoot: true and runAsUser to the image's non-zero UID on "
            "the pod (or on each container; a container value overrides the pod value)."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-no-privilege-escalation",
        description="Every container sets allowPrivilegeEscalation to false.",
        resource_types=WORKLOAD_TYPES,
        check=check_no_privilege_escalation,
        severity=Severity.HIGH,
        remediation=(
            "Set securityContext.allowPrivilegeEscalation: false on every container and init "
            "container."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-no-privileged-containers",
        description="No container runs in privileged mode.",
        resource_types=WORKLOAD_TYPES,
        check=check_not_privileged,
        severity=Severity.CRITICAL,
        remediation=(
            "Remove securityContext.privileged (or set it to false); grant narrow capabilities "
            "instead."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-drop-all-capabilities",
        description=(
            "Every container drops ALL Linux capabilities and adds back at most NET_BIND_SERVICE."
        ),
        resource_types=WORKLOAD_TYPES,
        check=check_drop_all_capabilities,
        severity=Severity.HIGH,
        remediation=(
            'Set securityContext.capabilities.drop: ["ALL"]; add back only NET_BIND_SERVICE if '
            "needed."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-seccomp-runtime-default",
        description="Every container runs with the RuntimeDefault seccomp profile.",
        resource_types=WORKLOAD_TYPES,
        check=check_seccomp_runtime_default,
        severity=Severity.MEDIUM,
        remediation=(
            "Set securityContext.seccompProfile.type: RuntimeDefault on the pod and do not "
            "override it per container."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-read-only-root-filesystem",
        description="Every container mounts its root filesystem read-only.",
        resource_types=WORKLOAD_TYPES,
        check=check_read_only_root_filesystem,
        severity=Severity.MEDIUM,
        remediation=(
            "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at the paths "
            "the app writes to (e.g. /tmp)."
        ),
        tags=_K8S,
    ),
    resource_policy(
        name="k8s-health-probes",
        description=(
            "Every long-running container has readiness and liveness probes that check different "
            "things."
        ),
        resource_types=LONG_RUNNING_TYPES,
        check=check_health_probes,
        severity=Severity.MEDIUM,
        remediation=(
            "Add a readinessProbe (e.g. /health/ready: dependencies reachable) and a "
            "livenessProbe (e.g. /health/live: process responsive) to every container; init "
            "containers are exempt."
        ),
        tags=(*_K8S, "reliability"),
    ),
    resource_policy(
        name="k8s-resource-requests-limits",
        description="Every container declares CPU and memory requests and limits.",
        resource_types=WORKLOAD_TYPES,
        check=check_resource_requests_limits,
        severity=Severity.MEDIUM,
        remediation=(
            "Set resources.requests.{cpu,memory} and resources.limits.{cpu,memory} on every "
            "container."
        ),
        tags=(*_K8S, "reliability"),
    ),
    resource_policy(
        name="k8s-image-allowed-registry",
        description="Every container image comes from one of the stack's allowed registries.",
        resource_types=WORKLOAD_TYPES,
        check=check_image_allowed_registry,
        severity=Severity.HIGH,
        remediation=(
            "Push the image to the stack's registry (ACR) and reference it there, or add the "
            "registry to allowedRegistries in policy/config/<stack>.json."
        ),
        tags=(*_K8S, "supply-chain"),
        config_schema=REGISTRY_SCHEMA,
    ),
    resource_policy(
        name="k8s-image-pinned",
        description=(
            "Every container image is pinned by digest or a release tag, never latest or untagged."
        ),
        resource_types=WORKLOAD_TYPES,
        check=check_image_pinned,
        severity=Severity.HIGH,
        remediation=(
            "Reference the pushed image by digest (repo@sha256:...) or by an immutable release tag."
        ),
        tags=(*_K8S, "supply-chain"),
    ),
    resource_policy(
        name="k8s-no-host-namespaces",
        description="Pods do not share the node's network, PID or IPC namespace.",
        resource_types=WORKLOAD_TYPES,
        check=check_no_host_namespaces,
        severity=Severity.CRITICAL,
        remediation="Remove hostNetwork, hostPID and hostIPC from the pod spec.",
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-no-host-path-volumes",
        description="Pods do not mount hostPath volumes.",
        resource_types=WORKLOAD_TYPES,
        check=check_no_host_path_volumes,
        severity=Severity.CRITICAL,
        remediation=(
            "Replace hostPath volumes with emptyDir, ConfigMap/Secret or PersistentVolumeClaim "
            "volumes."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-no-host-ports",
        description="No container binds a port on the node (hostPort).",
        resource_types=WORKLOAD_TYPES,
        check=check_no_host_ports,
        severity=Severity.HIGH,
        remediation=(
            "Remove hostPort from container ports and expose the pod through a ClusterIP Service."
        ),
        tags=_PSS,
    ),
    resource_policy(
        name="k8s-no-service-account-token-automount",
        description="Pods do not automount a Kubernetes API token.",
        resource_types=WORKLOAD_TYPES,
        check=check_no_token_automount,
        severity=Severity.MEDIUM,
        remediation=(
            "Set automountServiceAccountToken: false in the pod spec; mount a projected token "
            "only in pods that call the Kubernetes API."
        ),
        tags=_K8S,
    ),
    resource_policy(
        name="k8s-explicit-namespace",
        description="Workloads declare a namespace other than default.",
        resource_types=WORKLOAD_TYPES,
        check=check_explicit_namespace,
        severity=Severity.MEDIUM,
        remediation=(
            "Set metadata.namespace to the app or messaging namespace created by the Namespaces "
            "component."
        ),
        tags=_K8S,
    ),
)
