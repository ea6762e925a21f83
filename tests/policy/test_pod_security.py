"""policy/rules/pod_security.py: fixture cases (fixtures/cases/pod_security.yaml)."""

from __future__ import annotations

from typing import Any

from policy.rules import pod_security

CASES = "pod_security"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, pod_security.POLICIES)
