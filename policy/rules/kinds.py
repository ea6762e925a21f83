"""Find Kubernetes objects by what they are, not by which SDK class declared them.

The same object reaches the engine under many type tokens: `kubernetes:core/v1:Service`, its
`ServicePatch`, a `ServiceList` whose `items` hold whole objects, an older apiVersion the SDK still
ships (`extensions/v1beta1:Ingress`), or `apiextensions.CustomResource(api_version="v1",
kind="service")`, whose token is `kubernetes:v1:service`. Rules that list type tokens miss all but
the first, so network, Istio and RBAC rules ask this module for every manifest a resource carries
and match on (API group, kind) with the kind compared case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from .builder import as_list, as_mapping, resource_policy

# pulumi-kubernetes tokens that are not one object: charts, yaml and kustomize wrappers (their
# children are registered as resources of their own) and the provider itself.
_CONTAINER_MODULES = ("helm.sh/", "yaml/", "kustomize/")
_PATCH = "patch"
_LIST = "list"


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object (or patch of one) found in a resource's inputs."""

    group: str  # "" for the core group
    kind: str  # lower-case
    patch: bool
    body: Mapping[str, Any]

    def is_kind(self, kind: str, groups: Iterable[str] | None = None) -> bool:
        """Kind matched case-insensitively; `groups` None accepts any API group."""
        if self.kind != kind.lower():
            return False
        return groups is None or self.group in set(groups)

    @property
    def metadata(self) -> Mapping[str, Any]:
        return as_mapping(self.body.get("metadata"))

    @property
    def spec(self) -> Mapping[str, Any]:
        return as_mapping(self.body.get("spec"))

    @property
    def name(self) -> str:
        return string(self.metadata.get("name"))

    @property
    def namespace(self) -> str:
        return string(self.metadata.get("namespace"))

    @property
    def labels(self) -> Mapping[str, Any]:
        return as_mapping(self.metadata.get("labels"))

    @property
    def annotations(self) -> Mapping[str, Any]:
        return as_mapping(self.metadata.get("annotations"))

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{'patch of ' if self.patch else ''}{self.kind} '{where or '?'}'"


def group_of(api_version: str) -> str:
    """`networking.k8s.io/v1` -> `networking.k8s.io`; `v1` and `core/v1` -> "" (core)."""
    if "/" not in api_version:
        return ""
    group = api_version.split("/", 1)[0].lower()
    return "" if group == "core" else group


def _token_parts(resource_type: str) -> tuple[str, str] | None:
    """(apiVersion part, kind part) of a Kubernetes object token; None for anything else."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    if parts[1].startswith(_CONTAINER_MODULES):
        return None
    return parts[1], parts[2]


def manifests(resource_type: str, props: Mapping[str, Any]) -> list[Manifest]:
    """Every object this resource declares: itself, or each item of a *List."""
    parts = _token_parts(resource_type)
    if parts is None:
        return []
    token_version, token_kind = parts
    api_version = props.get("apiVersion")
    kind = props.get("kind")
    version = api_version if isinstance(api_version, str) and api_version else token_version
    declared = (kind if isinstance(kind, str) and kind else token_kind).lower()
    patch = token_kind.lower().endswith(_PATCH) and token_kind.lower() != _PATCH
    if patch and declared == token_kind.lower():
        declared = declared[: -len(_PATCH)]
    if declared.endswith(_LIST) and "items" in props:
        return _items(props.get("items"), declared[: -len(_LIST)], version, patch)
    return [Manifest(group_of(version), declared, patch, props)]


def _items(items: Any, kind: str, version: str, patch: bool) -> list[Manifest]:
    found = []
    for item in as_list(items):
        body = as_mapping(item)
        item_kind = body.get("kind")
        item_version = body.get("apiVersion")
        found.append(
            Manifest(
                group_of(item_version if isinstance(item_version, str) else version),
                (item_kind if isinstance(item_kind, str) and item_kind else kind).lower(),
                patch,
                body,
            )
        )
    return found


def of_kind(
    resource_type: str,
    props: Mapping[str, Any],
    kind: str,
    groups: Iterable[str] | None = None,
) -> Iterator[Manifest]:
    wanted = None if groups is None else tuple(groups)
    return (m for m in manifests(resource_type, props) if m.is_kind(kind, wanted))


def string(value: Any) -> str:
    return value if isinstance(value, str) else ""


ManifestCheck = Callable[[Manifest, ResourceValidationArgs], Iterable[str]]


def manifest_policy(
    *,
    name: str,
    description: str,
    kinds: Iterable[tuple[str, Iterable[str] | None]],
    check: ManifestCheck,
    severity: Severity,
    remediation: str,
    tags: Iterable[str] = (),
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A mandatory policy run on every manifest of the given (kind, API groups) in any resource.

    Unlike `builder.resource_policy` it has no type-token list: whatever token carries a matching
    object (patch, list item, old apiVersion, CustomResource) is checked.
    """
    wanted = [(kind, None if groups is None else tuple(groups)) for kind, groups in kinds]

    def check_manifests(args: ResourceValidationArgs) -> Iterator[str]:
        for manifest in manifests(args.resource_type, args.props):
            if any(manifest.is_kind(kind, groups) for kind, groups in wanted):
                for message in check(manifest, args):
                    yield f"{manifest.label}: {message}"

    return resource_policy(
        name=name,
        description=description,
        resource_types=None,
        check=check_manifests,
        severity=severity,
        remediation=remediation,
        tags=tags,
        config_schema=config_schema,
    )


def matching_policy(
    *,
    name: str,
    description: str,
    applies: Callable[[str], bool],
    check: Callable[[ResourceValidationArgs], Iterable[str]],
    severity: Severity,
    remediation: str,
    tags: Iterable[str],
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A mandatory resource policy selected by a predicate on the type token (e.g. any API
    version of an Azure resource) rather than a fixed list of tokens."""

    def check_matching(args: ResourceValidationArgs) -> Iterable[str]:
        return check(args) if applies(args.resource_type) else ()

    return resource_policy(
        name=name,
        description=description,
        resource_types=None,
        check=check_matching,
        severity=severity,
        remediation=remediation,
        tags=tags,
        config_schema=config_schema,
    )


__all__ = [
    "Manifest",
    "ManifestCheck",
    "group_of",
    "manifest_policy",
    "manifests",
    "matching_policy",
    "of_kind",
    "string",
]
