"""policy/rules/kinds.py: one object, whatever type token carries it."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules.kinds import group_of, manifests

_SERVICE = {"apiVersion": "v1", "kind": "Service"}


@pytest.mark.parametrize(
    ("token", "props", "expected"),
    [
        (
            "kubernetes:core/v1:Service",
            {"apiVersion": "v1", "kind": "Service"},
            [("", "service", False)],
        ),
        (
            "kubernetes:core/v1:ServicePatch",
            {"apiVersion": "v1", "kind": "Service"},
            [("", "service", True)],
        ),
        # Patch props without kind: the token's kind minus "Patch".
        ("kubernetes:core/v1:ServicePatch", {}, [("", "service", True)]),
        (
            "kubernetes:v1:service",
            {"apiVersion": "v1", "kind": "service"},
            [("", "service", False)],
        ),
        (
            "kubernetes:extensions/v1beta1:Ingress",
            {"apiVersion": "extensions/v1beta1", "kind": "Ingress"},
            [("extensions", "ingress", False)],
        ),
        (
            "kubernetes:core/v1:ServiceList",
            {"apiVersion": "v1", "kind": "ServiceList", "items": [{"metadata": {"name": "a"}}]},
            [("", "service", False)],
        ),
        ("kubernetes:yaml/v2:ConfigGroup", {"objs": []}, []),
        ("kubernetes:helm.sh/v3:Release", {"chart": "x"}, []),
        ("azure-native:containerregistry:Registry", {}, []),
    ],
)
def test_manifests(
    token: str, props: dict[str, Any], expected: list[tuple[str, str, bool]]
) -> None:
    assert [(m.group, m.kind, m.patch) for m in manifests(token, props)] == expected


def test_group_of() -> None:
    assert [group_of(v) for v in ("v1", "core/v1", "Networking.K8s.io/v1")] == [
        "",
        "",
        "networking.k8s.io",
    ]
