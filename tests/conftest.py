from __future__ import annotations

import gc

import pytest

from tests.benchmarks import background
from tests.synthesis import PROJECT_DIR
from tools.cli import GC_THRESHOLD
from tools.synth import SynthResult, synthesize


def pytest_configure(config: pytest.Config) -> None:
    # As ./synth runs: every in-process synth here pays the same needless collections.
    gc.set_threshold(*GC_THRESHOLD)


# trylast: after -k/-m deselection, so a run without the benchmark tests starts nothing.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    background.start_if_selected(config, items)


def pytest_unconfigure(config: pytest.Config) -> None:
    background.stop(config)


@pytest.fixture(scope="session")
def staging() -> SynthResult:
    return synthesize(PROJECT_DIR, "staging")


@pytest.fixture(scope="session")
def production() -> SynthResult:
    return synthesize(PROJECT_DIR, "production")


@pytest.fixture(params=("staging", "production"))
def result(request: pytest.FixtureRequest) -> SynthResult:
    """The same assertions against both real stacks."""
    synthesized: SynthResult = request.getfixturevalue(request.param)
    return synthesized
