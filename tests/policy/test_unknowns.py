"""policy/rules/unknowns.py: at preview an unknown on one resource leaves only it undecided."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy.rules import ALL_POLICIES
from policy.rules.unknowns import UndecidedResourcesError

PREFIX = "urn:pulumi:staging::micromart::kubernetes:apps/v1:Deployment::"


def deployment(name: str, namespace: str) -> PolicyResource:
    props: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        },
    }
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return PolicyResource(
        "kubernetes:apps/v1:Deployment",
        unknown_checking_proxy(props),
        PREFIX + name,
        name,
        options,
        None,
        None,
        [],
        {},
    )


def run_stack_rule(name: str, resources: list[PolicyResource]) -> tuple[list[str], Exception]:
    policy = next(p for p in ALL_POLICIES if p.name == name)
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(urn or "")

    with pytest.raises(UnknownValueError) as raised:
        policy.validate(StackValidationArgs(resources), report)  # type: ignore[attr-defined]
    return reported, raised.value


def test_one_unknown_does_not_switch_a_stack_rule_off_for_the_others() -> None:
    # Neither Deployment has a PodDisruptionBudget; the first one's namespace is unknown.
    undecided = deployment("orders", UNKNOWN_STRING_VALUE)
    known = deployment("catalog", "micromart")
    reported, raised = run_stack_rule("k8s-deployment-pdb", [undecided, known])
    assert reported == [known.urn]
    # Still an UnknownValueError, so the SDK reports it as "can't be known during preview" ...
    assert isinstance(raised, UndecidedResourcesError)
    # ... naming the resource it could not decide on, in a form the offline runner parses.
    assert raised.urns == [undecided.urn]
    assert f".metadata.namespace of {undecided.urn} can't be known" in raised.message


def test_every_undecided_resource_is_named() -> None:
    first = deployment("orders", UNKNOWN_STRING_VALUE)
    second = deployment("inventory", UNKNOWN_STRING_VALUE)
    reported, raised = run_stack_rule("k8s-deployment-pdb", [first, second])
    assert reported == []
    assert isinstance(raised, UndecidedResourcesError)
    assert raised.urns == [first.urn, second.urn]
