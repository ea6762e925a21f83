"""Kubernetes RBAC and namespace guard rails: no cluster-wide power, no opt-outs from PSA or mesh.

Matched by kind in the rbac.authorization.k8s.io group at any version (v1, v1beta1, v1alpha1),
including patches and CustomResource declarations of the built-in kinds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from .builder import Severity, as_list, as_mapping, config_value, schema
from .kinds import Manifest, manifest_policy, string
from .pods import namespace_matches

_RBAC = ("rbac.authorization.k8s.io",)
_CORE = ("",)
_TAGS = ("kubernetes", "rbac")
# Groups every caller (or every anonymous one, or every service account) belongs to.
_EVERYONE_GROUPS = frozenset(
    {
        "system:unauthenticated",
        "system:anonymous",
        "system:authenticated",
        "system:serviceaccounts",
    }
)
_EVERYONE_USERS = frozenset({"system:anonymous"})
_SUPERUSER_ROLES = frozenset({"cluster-admin"})
# Verbs that hand out more than the role itself grants (RBAC escalation checks are bypassed).
_ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
ISTIO_REVISION = "istio.io/rev"
# The legacy injection label; "disabled" opts a namespace out even where istio.io/rev is set.
ISTIO_INJECTION = "istio-injection"
_PSA_LEVELS = {"privileged": 0, "baseline": 1, "restricted": 2}


def check_binding(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    role = as_mapping(manifest.body.get("roleRef"))
    role_name = string(role.get("name"))
    if role_name.lower() in _SUPERUSER_ROLES:
        yield f"roleRef is {string(role.get('kind')) or 'role'} '{role_name}'"
    for index, item in enumerate(as_list(manifest.body.get("subjects"))):
        subject = as_mapping(item)
        name = string(subject.get("name")).lower()
        kind = string(subject.get("kind"))
        if (kind == "Group" and name in _EVERYONE_GROUPS) or (
            kind == "User" and name in _EVERYONE_USERS | _EVERYONE_GROUPS
        ):
            yield f"subjects[{index}] is {kind} '{name}' (everyone of that kind)"


def _rule_problems(index: int, item: Any) -> Iterator[str]:
    rule = as_mapping(item)
    verbs = {string(v).lower() for v in as_list(rule.get("verbs"))}
    if "*" in verbs:
        yield f"rules[{index}].verbs contains '*'"
    escalating = sorted(verbs & _ESCALATING_VERBS)
    if escalating:
        yield f"rules[{index}].verbs contains {', '.join(escalating)}"
    for key in ("resources", "apiGroups", "nonResourceURLs"):
        values = [string(v) for v in as_list(rule.get(key))]
        if any("*" in value for value in values):
            yield f"rules[{index}].{key} contains a '*' wildcard"


def check_role(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    for index, rule in enumerate(as_list(manifest.body.get("rules"))):
        yield from _rule_problems(index, rule)
    if manifest.kind == "clusterrole" and as_mapping(manifest.body.get("aggregationRule")):
        # An aggregated role's permissions come from whichever roles match its selector,
        # including ones created later: nothing here can bound them.
        yield "aggregationRule pulls in other roles' rules unchecked"


# Only platform namespaces may be exempted; a stack config cannot exempt an application one.
_SYSTEM_NAMESPACE_PATTERN = r"^(kube-system|kube-public|kube-node-lease|aks-istio-[a-z0-9-]*\*?)$"
NAMESPACE_SCHEMA = schema(
    exemptNamespaces={
        "type": "array",
        "items": {"type": "string", "pattern": _SYSTEM_NAMESPACE_PATTERN},
        "uniqueItems": True,
        "default": ["kube-system", "kube-public", "kube-node-lease", "aks-istio-*"],
        "description": (
            "Platform namespaces managed by AKS and its add-ons (exact names or aks-istio-* "
            "patterns): exempt from the restricted Pod Security level and sidecar injection."
        ),
    },
)


def _exempt(manifest: Manifest, args: ResourceValidationArgs) -> bool:
    patterns = list(config_value(args, NAMESPACE_SCHEMA, "exemptNamespaces"))
    return namespace_matches(manifest.name, patterns)


def _label_present(labels: Any, key: str) -> bool:
    return key in labels


def check_namespace_pod_security(manifest: Manifest, args: ResourceValidationArgs) -> Iterator[str]:
    if _exempt(manifest, args):
        return
    labels = manifest.labels
    if manifest.patch and not _label_present(labels, PSA_ENFORCE):
        return  # a server-side-apply patch that does not mention the label leaves it alone
    level = labels.get(PSA_ENFORCE)
    if not isinstance(level, str) or _PSA_LEVELS.get(level, -1) < _PSA_LEVELS["restricted"]:
        shown = level if isinstance(level, str) and level else "unset (privileged)"
        yield f"label {PSA_ENFORCE} is {shown}; application namespaces enforce restricted"


def check_namespace_mesh(manifest: Manifest, args: ResourceValidationArgs) -> Iterator[str]:
    if _exempt(manifest, args):
        return
    labels = manifest.labels
    injection = labels.get(ISTIO_INJECTION)
    if _label_present(labels, ISTIO_INJECTION) and injection != "enabled":
        yield f"label {ISTIO_INJECTION} is {injection!r}, which opts the namespace out of the mesh"
    if manifest.patch and not _label_present(labels, ISTIO_REVISION):
        return
    revision = labels.get(ISTIO_REVISION)
    if not isinstance(revision, str) or not revision:
        yield f"label {ISTIO_REVISION} is missing or empty; pods would run without a sidecar"


POLICIES: tuple[Policy, ...] = (
    manifest_policy(
        name="k8s-rbac-no-broad-bindings",
        description=(
            "No RoleBinding or ClusterRoleBinding grants cluster-admin or binds everyone "
            "(anonymous, unauthenticated, authenticated, all service accounts)."
        ),
        kinds=[("RoleBinding", _RBAC), ("ClusterRoleBinding", _RBAC)],
        check=check_binding,
        severity=Severity.CRITICAL,
        remediation=(
            "Bind a narrowly scoped Role to named service accounts or Entra ID groups; cluster "
            "administration goes through Azure RBAC on the AKS resource."
        ),
        tags=_TAGS,
    ),
    manifest_policy(
        name="k8s-rbac-least-privilege",
        description=(
            "Roles and ClusterRoles list their verbs and resources (no '*', escalate, bind or "
            "impersonate, no aggregation)."
        ),
        kinds=[("Role", _RBAC), ("ClusterRole", _RBAC)],
        check=check_role,
        severity=Severity.HIGH,
        remediation="Grant the exact verbs on the exact resources and API groups needed.",
        tags=_TAGS,
    ),
    manifest_policy(
        name="k8s-namespace-pod-security-restricted",
        description=(
            "Application namespaces (and patches of them) enforce the restricted Pod Security "
            "Standard."
        ),
        kinds=[("Namespace", _CORE)],
        check=check_namespace_pod_security,
        severity=Severity.HIGH,
        remediation=(
            f"Label the namespace {PSA_ENFORCE}: restricted; add a platform namespace to "
            "exemptNamespaces in the pack config instead of lowering the level."
        ),
        tags=(*_TAGS, "pod-security"),
        config_schema=NAMESPACE_SCHEMA,
    ),
    manifest_policy(
        name="k8s-namespace-in-mesh",
        description=(
            "Application namespaces keep the istio.io/rev label and never disable injection."
        ),
        kinds=[("Namespace", _CORE)],
        check=check_namespace_mesh,
        severity=Severity.HIGH,
        remediation=(
            f"Keep {ISTIO_REVISION}=<add-on revision> on the namespace and remove "
            f"{ISTIO_INJECTION}."
        ),
        tags=(*_TAGS, "istio"),
        config_schema=NAMESPACE_SCHEMA,
    ),
)
