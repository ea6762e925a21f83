"""policy/rules/cluster_control.py: fixture cases (cases/cluster_control.yaml)."""

from __future__ import annotations

from typing import Any

from policy.rules import cluster_control

CASES = "cluster_control"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, cluster_control.POLICIES)
