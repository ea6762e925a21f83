"""One measured task in a fresh interpreter: `python -m benchmarks.worker TASK.json RESULT.json`.

The clock starts before anything heavy is imported, so a task's time includes the imports it
needs, as `make synth` would pay them; peak memory is the process's maximum resident set size.
Only the standard library is imported at module level.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

# ruff: noqa: E402 - the clock above must start before these imports.
import json
import resource
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.measure import SDK_MODULES

SDK_TOP_LEVEL = frozenset(name.split(".")[0] for name in SDK_MODULES)


def peak_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loaded_sdk_packages() -> list[str]:
    """SDK packages this process really executed (not left as lazy-module placeholders)."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in SDK_TOP_LEVEL
        and type(module) is types.ModuleType
        and hasattr(module, "__path__")
    )


def task_synth(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    from tools.synth import synthesize

    project = Path(task["project"])
    stack = str(task["stack"])
    profiler = None
    if task.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    result = synthesize(project, stack)
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
    measured: dict[str, Any] = {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "resources": len(result.program_resources),
        "loaded_packages": loaded_sdk_packages(),
    }
    if profiler is not None:
        from benchmarks.profiling import summarize

        measured["profile"] = summarize(profiler, seconds)
    return measured


def task_blast(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    from benchmarks.blast_radius import run_blast_radius

    return run_blast_radius(
        Path(task["project"]),
        str(task["stack"]),
        [(str(key), str(value)) for key, value in task.get("settings", [])],
    )


def run(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    if task["kind"] == "blast":
        return task_blast(task, started)
    return task_synth(task, started)


def main(argv: list[str]) -> int:
    task_path, result_path = Path(argv[0]), Path(argv[1])
    task = json.loads(task_path.read_text(encoding="utf-8"))
    result = run(task, STARTED)
    result_path.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
