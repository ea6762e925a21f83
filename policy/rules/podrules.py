"""How a workload rule is built: one check per pod spec, with the pack's two documented exemptions.

A check sees one `PodSite` (found structurally by `pods.pod_sites`) and yields `Issue`s. The
wrapper turns them into violations and applies, in one place for every rule:
- Patches: a `*Patch` leaves every field it omits as it is on the live object, so only values the
  patch itself sets are judged; "X is missing" issues are dropped for partial pod specs.
- System namespaces: a rule built with `system="skip"` or `system="baseline"` declares the
  `exemptNamespaces` config key (only `kube-system` and `aks-istio-*` patterns validate); a
  workload there is skipped or held to the PSS baseline part of the rule. Baseline-only rules
  (privileged, host namespaces, hostPath, ...) take no such key: no namespace escapes them.
- Per-object exemptions: an annotation `exempt.policy.micromart.io/<rule>: <reason>` is honoured
  only by rules built with an `exemption` condition, only with a reason, and only when the
  condition holds (e.g. every hostPath mount read-only). `k8s-policy-exemptions` (advisory)
  reports every exemption annotation, honoured or refused, so none is silent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationArgs,
    StackValidationArgs,
)

from .builder import Severity, as_list, config_value, resource_policy, schema
from .pods import (
    EXEMPTION_PREFIX,
    PodSite,
    exemption_annotations,
    namespace_matches,
    pod_sites,
)

__all__ = [
    "ADVISORY_ALLOWED_TAG",
    "Context",
    "ExemptionCondition",
    "Issue",
    "ObjectExemptionCondition",
    "SystemMode",
    "exemption_notice_policy",
    "system_namespace_schema",
    "system_namespaces",
    "workload_policy",
]

# Tag on rules whose enforcement a stack config may lower to advisory (tools/policy_check.py
# refuses any other lowering); the tag travels with the policy over GetAnalyzerInfo too.
ADVISORY_ALLOWED_TAG = "advisory-allowed"
SystemMode = Literal["skip", "baseline"]
# Patterns a stack may exempt; anything else fails the config schema.
_SYSTEM_NAMESPACE_PATTERN = r"^(kube-system|aks-istio-[a-z0-9-]*\*?)$"
EXEMPT_NAMESPACES = "exemptNamespaces"


class Issue(NamedTuple):
    message: str
    absent: bool = False  # "X is not set": undecidable on a Patch, which keeps the live value


@dataclass(frozen=True)
class Context:
    args: ResourceValidationArgs
    namespace: str  # of the object holding this pod spec ("" = none given)
    baseline_only: bool  # system namespace under a "baseline" rule: restricted parts relaxed
    multiple: bool  # more than one pod spec: messages name the spec's path


SiteCheck = Callable[[PodSite, Context], Iterable[Issue]]
ObjectCheck = Callable[[ResourceValidationArgs], Iterable[str]]
# None when the exemption can be honoured for this pod spec, else why it cannot.
ExemptionCondition = Callable[[PodSite], str | None]
# The same for a rule whose exemption is judged on the whole object (e.g. a PeerAuthentication).
ObjectExemptionCondition = Callable[[ResourceValidationArgs], str | None]


def _namespace_schema() -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "pattern": _SYSTEM_NAMESPACE_PATTERN},
        "uniqueItems": True,
        "default": [],
        "description": (
            "System namespaces (kube-system, aks-istio-*) whose workloads this rule exempts "
            "or holds to the PSS baseline; documented in policy/README.md."
        ),
    }


def system_namespace_schema() -> PolicyConfigSchema:
    """The `exemptNamespaces` config key alone, for stack rules that exempt system namespaces."""
    return _with_namespace_key(None)


def system_namespaces(args: ResourceValidationArgs | StackValidationArgs) -> list[Any]:
    """The configured system-namespace patterns of a rule built with `system_namespace_schema`."""
    return list(as_list(config_value(args, system_namespace_schema(), EXEMPT_NAMESPACES)))


def _with_namespace_key(config_schema: PolicyConfigSchema | None) -> PolicyConfigSchema:
    properties = dict(config_schema.properties) if config_schema else {}
    properties[EXEMPT_NAMESPACES] = _namespace_schema()
    return schema(**properties)


def workload_policy(
    *,
    name: str,
    description: str,
    check: SiteCheck,
    severity: Severity,
    remediation: str,
    tags: Iterable[str],
    config_schema: PolicyConfigSchema | None = None,
    system: SystemMode | None = None,
    advisory_allowed: bool = False,
    exemption: ExemptionCondition | None = None,
    object_check: ObjectCheck | None = None,
) -> Policy:
    """A mandatory rule over every pod spec of every Kubernetes object (see module docstring)."""
    full_schema = _with_namespace_key(config_schema) if system else config_schema

    def run(args: ResourceValidationArgs) -> Iterator[str]:
        if object_check is not None:
            yield from object_check(args)
        sites = pod_sites(args.resource_type, args.props)
        if not sites:
            return
        if exemption is not None and _exempted(args, name, sites, exemption):
            return
        patterns = (
            as_list(config_value(args, full_schema, EXEMPT_NAMESPACES))
            if system is not None and full_schema is not None
            else ()
        )
        for site in sites:
            in_system = namespace_matches(site.namespace, patterns)
            if in_system and system == "skip":
                continue
            context = Context(args, site.namespace, in_system, len(sites) > 1)
            for issue in check(site, context):
                if site.partial and issue.absent:
                    continue
                yield f"{site.path}: {issue.message}" if context.multiple else issue.message

    policy_tags = [*tags, ADVISORY_ALLOWED_TAG] if advisory_allowed else list(tags)
    return resource_policy(
        name=name,
        description=description,
        resource_types=None,
        check=run,
        severity=severity,
        remediation=remediation,
        tags=policy_tags,
        config_schema=full_schema,
    )


def _exempted(
    args: ResourceValidationArgs,
    rule: str,
    sites: list[PodSite],
    condition: ExemptionCondition,
) -> bool:
    reason = exemption_annotations(args.props).get(rule)
    if not reason:
        return False
    return all(condition(site) is None for site in sites)


def exemption_notice_policy(
    conditions: Mapping[str, ExemptionCondition],
    object_conditions: Mapping[str, ObjectExemptionCondition] | None = None,
) -> Policy:
    """Advisory: one notice per exemption annotation, saying whether it was honoured."""
    by_object = dict(object_conditions or {})

    def notices(args: ResourceValidationArgs) -> Iterator[str]:
        annotations = exemption_annotations(args.props)
        if not annotations:
            return
        sites = pod_sites(args.resource_type, args.props)
        for rule, reason in sorted(annotations.items()):
            if rule in by_object:
                yield _object_notice(rule, reason, by_object[rule](args))
            else:
                yield _notice(rule, reason, sites, conditions.get(rule))

    return resource_policy(
        name="k8s-policy-exemptions",
        description="Reports every per-object policy exemption annotation and whether it holds.",
        resource_types=None,
        check=notices,
        severity=Severity.LOW,
        remediation=(
            f"Exemptions are annotations '{EXEMPTION_PREFIX}<rule>: <reason>'; only the rules "
            "listed in policy/README.md accept them, each under its own condition."
        ),
        tags=("kubernetes", "exemption"),
        enforcement_level=EnforcementLevel.ADVISORY,
    )


def _object_notice(rule: str, reason: str, why: str | None) -> str:
    if not reason:
        return f"refused: {rule}: the annotation gives no reason"
    if why is not None:
        return f"refused: {rule}: {why}"
    return f"honoured: {rule}: {reason}"


def _notice(
    rule: str, reason: str, sites: list[PodSite], condition: ExemptionCondition | None
) -> str:
    if condition is None:
        return f"refused: {rule} accepts no per-object exemption"
    if not reason:
        return f"refused: {rule}: the annotation gives no reason"
    if not sites:
        return f"refused: {rule}: the object runs no pods"
    for site in sites:
        why = condition(site)
        if why is not None:
            return f"refused: {rule}: {why}"
    return f"honoured: {rule}: {reason}"
