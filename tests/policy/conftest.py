"""Fixture plumbing for calling the rules directly, the way the SDK's analyzer servicer does.

Fixtures are data: `fixtures/compliant_stack.yaml` is a stack that passes every policy, and
`fixtures/cases/<module>.yaml` lists, per policy, passing and failing variants of it as patches.
A test module sets CASES = "<module>" and receives every case of that file as `case`.
Properties are wrapped in pulumi_policy's unknown-checking proxies, so the rules see exactly
the Mapping/Sequence types (not dicts/lists) they get from the engine.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

FIXTURES = Path(__file__).parent / "fixtures"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "policy" / "config"
URN_PREFIX = "urn:pulumi:staging::micromart::"
_DELETE = object()


def urn_of(resource: Mapping[str, Any]) -> str:
    return f"{URN_PREFIX}{resource['type']}::{resource['name']}"


# The C loader is ~20x faster; the pure-Python one is the fallback where libyaml is missing.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)


@dataclass(frozen=True)
class Case:
    """One fixture: the compliant stack with `patches` applied, judged by one policy."""

    policy: str
    expect: str  # "pass" or "fail"
    id: str
    patches: tuple[Mapping[str, Any], ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""  # fail: some violation message contains this
    flags: str = ""  # fail: the violation is reported against this resource name


def load_cases(module: str) -> list[Case]:
    cases = []
    for policy, groups in load_yaml(FIXTURES / "cases" / f"{module}.yaml").items():
        if policy.startswith("_"):
            continue  # anchors for shared fixture resources
        for expect in ("pass", "fail"):
            for raw in groups.get(expect, []):
                cases.append(
                    Case(
                        policy=policy,
                        expect=expect,
                        id=raw["id"],
                        patches=tuple(raw.get("patches", ())),
                        config=raw.get("config", {}),
                        message=raw.get("message", ""),
                        flags=raw.get("flags", ""),
                    )
                )
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = getattr(metafunc.module, "CASES", None)
    if module and "case" in metafunc.fixturenames:
        cases = load_cases(module)
        metafunc.parametrize("case", cases, ids=[f"{c.policy}-{c.expect}-{c.id}" for c in cases])


# --- patching ------------------------------------------------------------------------------


def _walk(document: Any, path: str) -> tuple[Any, str | int]:
    """The container holding the last path segment, creating objects along the way."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = document
    for step in parents:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    return node, last


def _by_name(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for resource in resources:
        if resource["name"] == name:
            return resource
    raise KeyError(f"fixture has no resource named {name!r}")


def apply_patch(resources: list[dict[str, Any]], patch: Mapping[str, Any]) -> None:
    op = patch["op"]
    if op == "add":
        resources.append(copy.deepcopy(patch["value"]))
        return
    if op == "remove":
        resources.remove(_by_name(resources, patch["resource"]))
        return
    target = _by_name(resources, patch["resource"])
    if op == "option":
        target[patch["path"]] = patch["value"]
        return
    node, key = _walk(target["props"], patch["path"])
    if op == "set":
        node[key] = copy.deepcopy(patch["value"])
    elif op == "delete":
        del node[key]
    elif op == "append":
        node.setdefault(key, []).append(copy.deepcopy(patch["value"]))
    else:
        raise ValueError(f"unknown patch op {op!r}")


def patched(
    resources: list[dict[str, Any]], patches: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    result = copy.deepcopy(resources)
    for patch in patches:
        apply_patch(result, patch)
    return result


# --- running a policy like the analyzer servicer does --------------------------------------


@dataclass(frozen=True)
class Reported:
    urn: str
    message: str


def _options(resource: Mapping[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(resource.get("protect", False)),
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=None,
    )


def _resource_args(
    resource: Mapping[str, Any], config: Mapping[str, Any]
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        resource_type=resource["type"],
        props=unknown_checking_proxy(copy.deepcopy(resource["props"])),
        urn=urn_of(resource),
        name=resource["name"],
        opts=_options(resource),
        provider=None,
        config=dict(config),
    )


def _stack_args(
    resources: Sequence[Mapping[str, Any]], config: Mapping[str, Any]
) -> StackValidationArgs:
    built = {
        urn_of(r): PolicyResource(
            resource_type=r["type"],
            props=unknown_checking_proxy(copy.deepcopy(r["props"])),
            urn=urn_of(r),
            name=r["name"],
            opts=_options(r),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
        for r in resources
    }
    by_name = {r["name"]: urn_of(r) for r in resources}
    # Dependencies are written as resource names in the fixtures; link them like the servicer does.
    for raw in resources:
        resource = built[urn_of(raw)]
        resource.dependencies = [built[by_name[d]] for d in raw.get("dependencies", [])]
        resource.property_dependencies = {
            key: [built[by_name[d]] for d in names]
            for key, names in raw.get("property_dependencies", {}).items()
        }
    return StackValidationArgs(list(built.values()), dict(config))


def evaluate(
    policy: Policy, resources: Sequence[Mapping[str, Any]], config: Mapping[str, Any]
) -> list[Reported]:
    """Every violation `policy` reports for this stack, with the resource URN filled in."""
    found: list[Reported] = []
    if isinstance(policy, StackValidationPolicy):

        def report_stack(message: str, urn: str | None = None) -> None:
            found.append(Reported(urn or "", message))

        policy.validate(_stack_args(resources, config), report_stack)
        return found
    assert isinstance(policy, ResourceValidationPolicy)
    for resource in resources:

        def report(message: str, urn: str | None = None, _urn: str = urn_of(resource)) -> None:
            found.append(Reported(_urn, message))

        policy.validate(_resource_args(resource, config), report)
    return found


def stack_config(stack: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONFIG_DIR / f"{stack}.json").read_text(encoding="utf-8"))
    return loaded


def policy_config(stack: str, policy: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's properties from policy/config/<stack>.json, then the case's overrides."""
    section = stack_config(stack).get(policy, {})
    values = (
        {k: v for k, v in section.items() if k != "enforcementLevel"}
        if isinstance(section, dict)
        else {}
    )
    return {**values, **overrides}


@pytest.fixture(scope="session")
def compliant_stack() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = load_yaml(FIXTURES / "compliant_stack.yaml")
    return loaded


@pytest.fixture
def baseline(compliant_stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return copy.deepcopy(compliant_stack)


@pytest.fixture
def run_case(baseline: list[dict[str, Any]]) -> Callable[[Case, Sequence[Policy]], None]:
    def run(case: Case, policies: Sequence[Policy]) -> None:
        policy = {p.name: p for p in policies}[case.policy]
        resources = patched(baseline, case.patches)
        found = evaluate(policy, resources, policy_config("staging", case.policy, case.config))
        if case.expect == "pass":
            assert found == [], f"{case.policy} should pass {case.id}"
            return
        assert found, f"{case.policy} should flag {case.id}"
        messages = [r.message for r in found]
        assert any(case.message in m for m in messages), (
            f"no message contains {case.message!r}: {messages}"
        )
        if case.flags:
            urns = {r.urn for r in found}
            assert urn_of(_by_name(resources, case.flags)) in urns, (
                f"{case.flags} not flagged: {sorted(urns)}"
            )

    return run


@pytest.fixture(scope="session")
def all_cases() -> dict[str, list[Case]]:
    """Every case file, keyed by the rules module it belongs to."""
    return {
        path.stem: load_cases(path.stem) for path in sorted((FIXTURES / "cases").glob("*.yaml"))
    }
