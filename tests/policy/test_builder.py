"""policy/rules/builder.py: policy construction, config defaults and value helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from policy.rules import builder

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
SCHEMA = builder.schema(limit={"type": "integer", "default": 3})


def _args(resource_type: str, config: dict[str, object] | None = None) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type, {}, "urn:x", "x", OPTIONS, None, config)


def test_schema_requires_defaults() -> None:
    with pytest.raises(ValueError, match="needs a default"):
        builder.schema(limit={"type": "integer"})


def test_config_value_falls_back_to_schema_default() -> None:
    assert builder.config_value(_args("t"), SCHEMA, "limit") == 3
    assert builder.config_value(_args("t", {"limit": 5.0}), SCHEMA, "limit") == 5.0


def test_resource_policy_only_checks_its_types_and_is_mandatory() -> None:
    seen: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        seen.append(message)

    def check(args: ResourceValidationArgs) -> Iterator[str]:
        yield f"bad {args.resource_type}"

    policy = builder.resource_policy(
        name="p",
        description="d.",
        resource_types=["a"],
        check=check,
        severity=Severity.LOW,
        remediation="r",
    )
    policy.validate(_args("a"), report)
    policy.validate(_args("b"), report)
    assert seen == ["bad a"]
    assert policy.enforcement_level is EnforcementLevel.MANDATORY
    assert policy.remediation_steps == "r"


def test_stack_policy_reports_each_finding_once() -> None:
    seen: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        seen.append((message, urn))

    def check(args: StackValidationArgs) -> Iterator[builder.Finding]:
        yield builder.Finding("urn:a", "m")
        yield builder.Finding("urn:a", "m")
        yield builder.Finding("", "stack-wide")

    policy = builder.stack_policy(
        name="p", description="d.", check=check, severity=Severity.LOW, remediation="r"
    )
    resource = PolicyResource("t", {}, "urn:a", "a", OPTIONS, None, None, [], {})
    policy.validate(StackValidationArgs([resource]), report)
    assert seen == [("m", "urn:a"), ("stack-wide", None)]


def test_value_helpers() -> None:
    assert builder.as_list("abc") == ()
    assert builder.as_list([1]) == [1]
    assert builder.as_mapping([1]) == {}
    assert builder.dig({"a": {"b": 1}}, "a", "b") == 1
    assert builder.dig({"a": [1]}, "a", "b") is None
    assert builder.is_true("true") is False
    assert builder.show_number(8080.0) == 8080
    assert builder.show_number(0.5) == 0.5
    assert builder.plain({"a": ({"b": 1},)}) == {"a": [{"b": 1}]}
