"""policy/rules/istio.py: fixture cases (cases/istio.yaml) plus host classification."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import istio
from policy.rules.istio import host_in_mesh

CASES = "istio"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, istio.POLICIES)


@pytest.mark.parametrize(
    ("host", "in_mesh"),
    [
        ("orders", True),
        ("orders.micromart.svc.cluster.local", True),
        ("orders.micromart.svc", True),
        ("*.micromart.svc.cluster.local", True),
        ("*", False),
        ("*.com", False),
        ("api.example.com", False),
        ("", False),
    ],
)
def test_host_in_mesh(host: str, in_mesh: bool) -> None:
    assert host_in_mesh(host) is in_mesh
