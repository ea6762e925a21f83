"""policy/rules/resilience.py: fixture cases (fixtures/cases/resilience.yaml)."""

from __future__ import annotations

from typing import Any

from policy.rules import resilience

CASES = "resilience"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, resilience.POLICIES)
