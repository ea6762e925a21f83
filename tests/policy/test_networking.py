"""policy/rules/networking.py: fixture cases (cases/networking.yaml) plus peer semantics."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import networking
from policy.rules.networking import peer_is_everything, rule_allows_everything

CASES = "networking"


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
        ({"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}, False),
        ({"podSelector": {}}, False),
        ({"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, False),
        ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, False),
    ],
)
def test_peer_is_everything(peer: dict[str, Any], everything: bool) -> None:
    assert peer_is_everything(peer) is everything


def test_ports_restrict_a_rule() -> None:
    assert rule_allows_everything({}, "from")
    assert not rule_allows_everything({"ports": [{"port": 53}]}, "to")
