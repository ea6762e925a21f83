"""policy/rules/rbac.py: fixture cases (cases/rbac.yaml)."""

from __future__ import annotations

from typing import Any

from policy.rules import rbac

CASES = "rbac"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, rbac.POLICIES)
