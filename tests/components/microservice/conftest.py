"""Fixtures shared by the Microservice tests: the stacks after one edit, synthesized once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.components.microservice.changes import INDEPENDENCE_CASES
from tests.components.microservice.objects import synth_copy, with_canary
from tools.synth import SynthResult


@pytest.fixture(scope="session")
def canary_production(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synth_copy(tmp_path_factory.mktemp("canary"), "production", with_canary("v2", 10))


@pytest.fixture(scope="session")
def catalog_change(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthResult]:
    """The production stack after one of INDEPENDENCE_CASES, synthesized once per case."""
    results: dict[str, SynthResult] = {}

    def synthesized(case: str) -> SynthResult:
        if case not in results:
            stack_edit, project_edit, _ = INDEPENDENCE_CASES[case]
            root = tmp_path_factory.mktemp(case)
            results[case] = synth_copy(root, "production", stack_edit, project_edit)
        return results[case]

    return synthesized
