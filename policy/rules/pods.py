"""Find every pod a Kubernetes object would run, by structure rather than by type name.

A pod spec hides in many places: a Pod's own `spec`, `spec.template.spec` of Deployments,
ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets and Jobs, `spec.jobTemplate...` of
CronJobs (v1 and v1beta1), the same objects under older apiVersions, their `*Patch` resources, a
`CustomResource` that spells a built-in kind in any case, and CRDs that embed a template (Argo
Rollouts, operators' `podTemplate`s). A list of type tokens misses the next one, so this module
walks the object and treats any mapping that carries a container list (`containers`,
`initContainers`, `ephemeralContainers`) as a pod spec; under a `template` key, or as the top-level
spec of a Pod, a spec counts even without containers (a Patch may set only `hostNetwork`).

Every workload rule reads pods through `pod_sites`, so they all see the same set of pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from .builder import EMPTY, as_list, as_mapping, dig

__all__ = [
    "CONTAINER_LISTS",
    "EXEMPTION_PREFIX",
    "Container",
    "PodSite",
    "carries_pods",
    "exemption_annotations",
    "is_opaque_component",
    "namespace_matches",
    "object_kind",
    "object_namespace",
    "pod_sites",
]

# (list key, label used in messages); all three run with the pod's privileges.
CONTAINER_LISTS = (
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
)
_LIST_KEYS = frozenset(key for key, _ in CONTAINER_LISTS)
# An unknown value at one of these keys could hide a whole pod: let it surface (the SDK then
# reports the policy as undecided) instead of skipping it like an unknown leaf.
_STRUCTURAL_KEYS = _LIST_KEYS | {"spec", "template", "jobTemplate", "metadata"}
# Real pod specs sit at most 5 levels deep (CronJob); CRDs add a few. Deeper is not a manifest.
_MAX_DEPTH = 24
# Components whose children are separate resources: walking their args would report a child's
# pod twice (once here, once on the child the provider registers).
_OPAQUE_PREFIXES = ("kubernetes:yaml", "kubernetes:helm.sh", "kubernetes:kustomize")
_JOB_KINDS = frozenset({"job", "cronjob"})
_RUN_TO_COMPLETION = frozenset({"Never", "OnFailure"})
# Annotation that exempts one object from one rule: `<prefix>/<rule name>: <reason>`.
EXEMPTION_PREFIX = "exempt.policy.micromart.io/"


@dataclass(frozen=True)
class Container:
    """One container of a pod spec, tagged with the list it came from."""

    kind: str  # "container", "initContainer" or "ephemeralContainer"
    name: str
    spec: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.kind} '{self.name}'"

    @property
    def security_context(self) -> Mapping[str, Any]:
        return as_mapping(self.spec.get("securityContext"))

    @property
    def is_sidecar(self) -> bool:
        """A native sidecar: an init container that keeps running next to the app."""
        return self.kind == "initContainer" and self.spec.get("restartPolicy") == "Always"


@dataclass(frozen=True)
class PodSite:
    """One pod spec inside an object, with what the rules need to judge it."""

    path: str  # dotted location of the spec, e.g. "spec.template.spec"
    spec: Mapping[str, Any]
    metadata: Mapping[str, Any]  # the pod template's own metadata (labels, annotations)
    partial: bool  # from a *Patch: absent fields keep the live object's values
    run_to_completion: bool  # Job-like: probes make no sense
    namespace: str = ""  # of the nearest enclosing object ("" = none given); Lists nest objects

    def containers(self, *lists: str) -> list[Container]:
        """Containers of the given lists (all three by default), in manifest order."""
        wanted = lists or tuple(_LIST_KEYS)
        found = []
        for key, kind in CONTAINER_LISTS:
            if key not in wanted:
                continue
            for index, item in enumerate(as_list(self.spec.get(key))):
                container = as_mapping(item)
                name = container.get("name")
                label = name if isinstance(name, str) else f"#{index}"
                found.append(Container(kind, label, container))
        return found

    def security(self, container: Container, key: str) -> Any:
        """A securityContext field as the kubelet resolves it: the container's wins."""
        own = container.security_context.get(key)
        if own is not None:
            return own
        return as_mapping(self.spec.get("securityContext")).get(key)

    @property
    def pod_security_context(self) -> Mapping[str, Any]:
        return as_mapping(self.spec.get("securityContext"))

    @property
    def annotations(self) -> Mapping[str, Any]:
        return as_mapping(self.metadata.get("annotations"))


def is_opaque_component(resource_type: str) -> bool:
    return resource_type.startswith(_OPAQUE_PREFIXES)


def object_kind(resource_type: str, props: Mapping[str, Any]) -> str:
    """The object's kind, lower-cased: from `kind`, else from the type token (minus Patch)."""
    kind = props.get("kind")
    if not isinstance(kind, str) or not kind:
        kind = resource_type.rsplit(":", 1)[-1]
        kind = kind.removesuffix("Patch")
    return kind.lower()


def object_namespace(props: Mapping[str, Any]) -> str:
    metadata = _get(props, "metadata")
    namespace = _get(metadata, "namespace") if isinstance(metadata, Mapping) else None
    return namespace if isinstance(namespace, str) else ""


def pod_sites(resource_type: str, props: Mapping[str, Any]) -> list[PodSite]:
    """Every pod spec in a Kubernetes object's inputs ([] for anything else)."""
    if not resource_type.startswith("kubernetes:") or is_opaque_component(resource_type):
        return []
    if resource_type.startswith("pulumi:providers:"):
        return []
    kind = object_kind(resource_type, props)
    namespace = object_namespace(props)
    walker = _Walker(
        partial=resource_type.endswith("Patch"),
        job_like=kind in _JOB_KINDS,
    )
    if kind == "pod":
        # A Pod is its own template; its spec counts even if it only sets pod-level fields.
        spec = as_mapping(_get(props, "spec"))
        if spec:
            walker.record(("spec",), spec, as_mapping(_get(props, "metadata")), namespace)
            return walker.found
    walker.walk(props, (), EMPTY, 0, namespace)
    return walker.found


def carries_pods(resource_type: str, props: Mapping[str, Any]) -> bool:
    return bool(pod_sites(resource_type, props))


def _get(node: Mapping[str, Any], key: str) -> Any:
    try:
        return node.get(key)
    except UnknownValueError:
        if key in _STRUCTURAL_KEYS:
            raise
        return None


class _Walker:
    def __init__(self, *, partial: bool, job_like: bool) -> None:
        self.partial = partial
        self.job_like = job_like
        self.found: list[PodSite] = []

    def record(
        self,
        path: tuple[str, ...],
        spec: Mapping[str, Any],
        metadata: Mapping[str, Any],
        namespace: str,
    ) -> None:
        restart = _get(spec, "restartPolicy")
        self.found.append(
            PodSite(
                path=".".join(path),
                spec=spec,
                metadata=metadata,
                partial=self.partial,
                run_to_completion=(
                    self.job_like or "jobTemplate" in path or restart in _RUN_TO_COMPLETION
                ),
                namespace=namespace,
            )
        )

    def walk(
        self,
        node: Any,
        path: tuple[str, ...],
        parent: Mapping[str, Any],
        depth: int,
        namespace: str,
    ) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, Mapping):
            if _is_pod_spec(node, path):
                self.record(path, node, as_mapping(_get(parent, "metadata")), namespace)
                return
            if path and {"apiVersion", "kind"} <= set(node):
                # An object nested in a List names its own namespace. A pod template's
                # metadata.namespace is ignored by controllers, so it must not count (it would
                # let a template claim a system namespace).
                namespace = object_namespace(node) or namespace
            for key in list(node):
                value = _get(node, str(key))
                if isinstance(value, (Mapping, Sequence)) and not isinstance(value, str):
                    self.walk(value, (*path, str(key)), node, depth + 1, namespace)
        elif isinstance(node, Sequence) and not isinstance(node, (str, bytes)):
            for index in range(len(node)):
                try:
                    value = node[index]
                except UnknownValueError:
                    continue
                self.walk(value, (*path, str(index)), parent, depth + 1, namespace)


def _is_pod_spec(node: Mapping[str, Any], path: tuple[str, ...]) -> bool:
    # Keys only: `key in node` would read the value and trip over an unknown one.
    if _LIST_KEYS & set(node):
        return True
    # `template.spec` is a pod spec by the API's own shape, even when a Patch omits containers.
    return len(path) >= 2 and path[-1] == "spec" and path[-2] == "template"


def namespace_matches(namespace: str, patterns: Sequence[Any]) -> bool:
    """Exact names or shell patterns (`aks-istio-*`) from the pack config."""
    return any(isinstance(p, str) and fnmatchcase(namespace, p) for p in patterns)


def exemption_annotations(props: Mapping[str, Any]) -> dict[str, str]:
    """{rule name: reason} from the object's own `exempt.policy.micromart.io/<rule>` annotations."""
    annotations = as_mapping(dig(props, "metadata", "annotations"))
    found = {}
    for key in annotations:
        if isinstance(key, str) and key.startswith(EXEMPTION_PREFIX):
            reason = _get(annotations, key)
            found[key[len(EXEMPTION_PREFIX) :]] = reason.strip() if isinstance(reason, str) else ""
    return found
