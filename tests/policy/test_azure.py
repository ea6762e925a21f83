"""policy/rules/azure.py: fixture cases (fixtures/cases/azure.yaml)."""

from __future__ import annotations

from typing import Any

from policy.rules import azure

CASES = "azure"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, azure.POLICIES)
