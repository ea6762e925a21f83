"""One measured task in a fresh interpreter: `python -m benchmarks.worker TASK.json RESULT.json`.

The clock starts before anything heavy is imported, so a task's time includes the imports it
needs, as `make synth` would pay them; peak memory is the process's maximum resident set size.
Only the standard library is imported at module level.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

# ruff: noqa: E402 - the clock above must start before these imports.
import importlib
import json
import resource
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The SDKs the program imports (see components/ and __main__.py), as the baseline imports them.
SDK_MODULES = (
    "pulumi",
    "pulumi_azure_native.resources",
    "pulumi_azure_native.network",
    "pulumi_azure_native.privatedns",
    "pulumi_azure_native.containerservice",
    "pulumi_azure_native.containerregistry",
    "pulumi_azure_native.authorization",
    "pulumi_azure_native.dbforpostgresql",
    "pulumi_kubernetes",
    "pulumi_docker",
    "pulumi_random",
    "pydantic",
)
SDK_TOP_LEVEL = frozenset(name.split(".")[0] for name in SDK_MODULES)
# A probe attribute that no module defines: reading it forces a lazily imported module to load.
_PROBE = "__benchmark_probe__"


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


def import_modules(names: list[str], materialize: bool) -> int:
    modules = [importlib.import_module(name) for name in names]
    if materialize:
        # Pulumi's provider SDKs return lazy modules that only execute on first attribute access.
        for module in modules:
            getattr(module, _PROBE, None)
    return len(modules)


def task_import(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    names = list(task.get("modules") or SDK_MODULES)
    count = import_modules(names, bool(task.get("materialize")))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "modules": count,
        "loaded_packages": len(loaded_sdk_packages()),
    }


def task_synth(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    from tools.synth import plan_document, synthesize

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
    if task.get("warm_repeat"):
        # The same program again in this process: the SDKs are loaded, only evaluation is left.
        began = time.perf_counter()
        synthesize(project, stack)
        measured["warm_seconds"] = time.perf_counter() - began
    if task.get("policy"):
        began = time.perf_counter()
        from tools.policy_check import check_stack

        findings = check_stack(result, project)
        measured["policy_seconds"] = time.perf_counter() - began
        measured["policy_findings"] = len(findings)
    if task.get("plan_out"):
        plan = plan_document(result)
        Path(task["plan_out"]).write_text(json.dumps(plan, sort_keys=True), encoding="utf-8")
    return measured


def task_blast(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    from benchmarks.blast_radius import run_blast_radius

    return run_blast_radius(
        Path(task["project"]),
        str(task["stack"]),
        [(str(key), str(value)) for key, value in task.get("settings", [])],
    )


def task_batch(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    """Several tasks in this one process (quick mode only): each is timed from its own start,
    so all but the first run with the SDKs already loaded."""
    del started
    return {"results": [run(subtask, time.perf_counter()) for subtask in task["tasks"]]}


TASKS = {"import": task_import, "synth": task_synth, "blast": task_blast, "batch": task_batch}


def run(task: Mapping[str, Any], started: float) -> dict[str, Any]:
    return TASKS[str(task["kind"])](task, started)


def main(argv: list[str]) -> int:
    task_path, result_path = Path(argv[0]), Path(argv[1])
    task = json.loads(task_path.read_text(encoding="utf-8"))
    result = run(task, STARTED)
    result_path.write_text(json.dumps(result, sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
