"""Shared plumbing for every rule: policy construction, config access and value coercion.

Rules are written as pure functions that *yield* findings; the wrappers here turn them into
pulumi_policy objects. That keeps the checks unit-testable without a report callback and makes
every policy carry the same metadata (mandatory level, severity, remediation steps, tags).

Properties arrive wrapped in pulumi_policy's unknown-checking proxies, which are
`collections.abc.Mapping` / `Sequence` but *not* dict/list: always test against the ABCs, and
never copy a whole resource (reading an unknown value raises, which the SDK turns into an advisory
"can't be known during preview" diagnostic for the whole policy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from .unknowns import decide_per_resource

__all__ = [
    "EMPTY",
    "Finding",
    "ResourceCheck",
    "Severity",
    "StackCheck",
    "as_list",
    "as_mapping",
    "config_value",
    "dig",
    "is_true",
    "plain",
    "resource_policy",
    "schema",
    "show_number",
    "shown",
    "stack_policy",
]

EMPTY: Mapping[str, Any] = MappingProxyType({})


class Finding(NamedTuple):
    """A stack-level violation: the offending resource's URN ("" = the stack) and why."""

    urn: str
    message: str


ResourceCheck = Callable[[ResourceValidationArgs], Iterable[str]]
StackCheck = Callable[[StackValidationArgs], Iterable[Finding]]


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is an object, else an empty mapping (absent and malformed look alike)."""
    return value if isinstance(value, Mapping) else EMPTY


def as_list(value: Any) -> Sequence[Any]:
    """The value if it is an array, else an empty tuple; strings are not arrays here."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return value
    return ()


def dig(value: Any, *path: str) -> Any:
    """Walk nested objects by key; None as soon as a level is missing or not an object."""
    current = value
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def is_true(value: Any) -> bool:
    """Strict boolean check: the string "true" or 1 are not accepted as Kubernetes/ARM booleans."""
    return value is True


def plain(value: Any) -> Any:
    """Deep-copy a (proxied) value into dicts/lists so it can be compared or printed."""
    if isinstance(value, Mapping):
        return {key: plain(value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(item) for item in value]
    return value


def shown(value: Any) -> str:
    """A string setting for a message: the value itself, or "unset" when absent or empty."""
    return value if isinstance(value, str) and value else "unset"


def show_number(value: Any) -> Any:
    """Numbers arrive as floats over gRPC; show 8080.0 as 8080 in messages."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def schema(**properties: Mapping[str, Any]) -> PolicyConfigSchema:
    """A config schema whose every property carries a `default` (the engine fills those in)."""
    for key, spec in properties.items():
        if "default" not in spec:
            raise ValueError(f"config property {key!r} needs a default")
    return PolicyConfigSchema(properties={key: dict(spec) for key, spec in properties.items()})


def config_value(
    args: ResourceValidationArgs | StackValidationArgs,
    config_schema: PolicyConfigSchema,
    key: str,
) -> Any:
    """The configured value, or the schema default when the caller sent no config at all.

    The engine always sends schema defaults; direct callers (unit tests) often send nothing.
    """
    configured = args.get_config()
    if key in configured:
        return configured[key]
    return config_schema.properties[key]["default"]


def _tags(tags: Iterable[str]) -> list[str]:
    return sorted(set(tags))


def resource_policy(
    *,
    name: str,
    description: str,
    resource_types: Iterable[str] | None,
    check: ResourceCheck,
    severity: Severity,
    remediation: str,
    tags: Iterable[str] = (),
    config_schema: PolicyConfigSchema | None = None,
    enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    """A per-resource policy that runs `check` on the listed types (None: on every resource).

    Checks that find their subject by structure (pod specs) take None and decide themselves.
    """
    types = None if resource_types is None else frozenset(resource_types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if types is not None and args.resource_type not in types:
            return
        for message in check(args):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=enforcement_level,
        config_schema=config_schema,
        severity=severity,
        remediation_steps=remediation,
        tags=_tags(tags),
    )


def stack_policy(
    *,
    name: str,
    description: str,
    check: StackCheck,
    severity: Severity,
    remediation: str,
    tags: Iterable[str] = (),
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    """A mandatory whole-stack policy; each finding is reported against its resource URN."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        # An unknown on one resource must not switch the rule off for the others (preview).
        for finding in _unique(decide_per_resource(check, args)):
            report_violation(finding.message, finding.urn or None)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=config_schema,
        severity=severity,
        remediation_steps=remediation,
        tags=_tags(tags),
    )


def _unique(findings: Iterable[Finding]) -> Iterator[Finding]:
    # Two paths through a check can reach the same conclusion; report it once.
    seen: set[Finding] = set()
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            yield finding
