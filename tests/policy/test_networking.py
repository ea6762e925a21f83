"""policy/rules/networking.py: fixture cases (cases/networking.yaml) plus peer semantics."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import networking
from policy.rules.networking import peer_is_everything, rule_allows_everything

CASES = "networking"
_NOT_IN_TEAM_X = {"key": "team", "operator": "NotIn", "values": ["x"]}
_ANY_NAMESPACE_NAME = {"key": "kubernetes.io/metadata.name", "operator": "Exists"}


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, networking.POLICIES)


@pytest.mark.parametrize(
    ("peer", "everything"),
    [
        ({}, True),
        ({"namespaceSelector": {}}, True),
        ({"namespaceSelector": {}, "podSelector": {}}, True),
        ({"ipBlock": {"cidr": "0.0.0.0/0"}}, True),
        ({"ipBlock": {"cidr": "::/0"}}, True),
        # Carving out private ranges still leaves every public address reachable.
        ({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}, True),
        ({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["8.0.0.0/8"]}}, False),
        (
            {
                "namespaceSelector": {
                    "matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["x"]}]
                }
            },
            True,
        ),
        (
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "Exists"}
                    ]
                }
            },
            True,
        ),
        ({"podSelector": {}}, False),
        ({"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, False),
        ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, False),
    ],
)
def test_peer_is_everything(peer: dict[str, Any], everything: bool) -> None:
    assert peer_is_everything(peer) is everything


def test_ports_do_not_narrow_who_a_rule_admits() -> None:
    assert rule_allows_everything({}, "from")
    assert rule_allows_everything({"ports": [{"port": 53}]}, "to")
    assert not rule_allows_everything(
        {"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}, "to"
    )


def test_ip_blocks_of_a_rule_are_judged_together() -> None:
    halves = {"to": [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]}
    assert rule_allows_everything(halves, "to")
    private_only = {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}
    assert not rule_allows_everything(private_only, "to")
