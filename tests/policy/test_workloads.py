"""policy/rules/workloads.py: fixture cases (fixtures/cases/workloads.yaml) plus image parsing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy.rules import workloads
from policy.rules.workloads import ImageRef, parse_image, registry_allowed

CASES = "workloads"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, workloads.POLICIES)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nginx", ImageRef("docker.io", "library/nginx", None, None)),
        ("bitnami/redis:7.2", ImageRef("docker.io", "bitnami/redis", "7.2", None)),
        ("Reg.AzureCR.io/team/app:1.0", ImageRef("reg.azurecr.io", "team/app", "1.0", None)),
        ("localhost:5000/app", ImageRef("localhost:5000", "app", None, None)),
        ("reg.io:443/app:2@sha256:00", ImageRef("reg.io:443", "app", "2", "sha256:00")),
    ],
)
def test_parse_image(reference: str, expected: ImageRef) -> None:
    assert parse_image(reference) == expected


@pytest.mark.parametrize(
    ("reference", "allowed", "ok"),
    [
        ("micromartstaging.azurecr.io/orders:1", ["micromartstaging.azurecr.io"], True),
        ("micromartstaging.azurecr.io/orders:1", ["micromartstaging.azurecr.io/"], True),
        (
            "micromartstaging.azurecr.io.evil.example/orders:1",
            ["micromartstaging.azurecr.io"],
            False,
        ),
        ("micromartstaging.azurecr.io/orders:1", ["micromartstaging.azurecr.io/ord"], False),
        ("rabbitmq:4.1", ["docker.io/library/rabbitmq"], True),
        ("rabbitmq:4.1", [], False),
    ],
)
def test_registry_allowed(reference: str, allowed: list[str], ok: bool) -> None:
    assert registry_allowed(parse_image(reference), allowed) is ok


def _args_with_unknown_image(baseline: list[dict[str, Any]]) -> ResourceValidationArgs:
    orders = copy.deepcopy(next(r for r in baseline if r["name"] == "orders"))
    orders["props"]["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING_VALUE
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(
        orders["type"],
        unknown_checking_proxy(orders["props"]),
        "urn:orders",
        "orders",
        options,
        None,
    )


def test_unknown_image_only_stops_image_rules(baseline: list[dict[str, Any]]) -> None:
    # During preview the pushed digest is unknown: the image rules must be the only casualties.
    args = _args_with_unknown_image(baseline)
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    for policy in workloads.POLICIES:
        assert isinstance(policy, ResourceValidationPolicy)
        if policy.name.startswith("k8s-image-"):
            with pytest.raises(UnknownValueError):
                policy.validate(args, report)
        else:
            policy.validate(args, report)
    assert reported == []
