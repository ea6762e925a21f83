"""`./synth`: render a stack offline into build/<stack>/ and check it with the policy pack.

`--preview` runs it as `pulumi preview` on a new stack instead (every computed output unknown)
and writes only build/<stack>/preview.json.

Exit codes: 0 compliant, 1 mandatory policy violation, 2 bad config or program error,
130 interrupted (Ctrl-C). A failed or interrupted run leaves the previous build as it was.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tools.build_dir import BuildDirError, check_writable, publish, stack_lock
from tools.opaque import not_checked
from tools.policy_check import (
    Finding,
    blocking,
    check_stack,
    finding_json,
    policy_config,
    policy_document,
    preview_stack,
    undecided_json,
)
from tools.policy_runner import Analysis
from tools.synth import (
    ProgramError,
    SynthResult,
    manifest_documents,
    plan_document,
    resource_counts,
    synthesize,
    unknown_inputs,
)

EXIT_OK, EXIT_VIOLATION, EXIT_ERROR = 0, 1, 2
# 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C.
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synth", description=__doc__)
    parser.add_argument("--stack", default="staging")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    parser.add_argument(
        "--out", type=Path, default=None, help="build folder (default: <project-dir>/build)"
    )
    parser.add_argument("--preview", action="store_true", help="as `pulumi preview` on a new stack")
    args = parser.parse_args(argv)
    project_dir = args.project_dir.resolve()
    out = args.out if args.out is not None else project_dir / "build"
    target = out / args.stack
    if args.preview:
        return _guarded("preview", target, lambda: preview(project_dir, args.stack, target))
    return _guarded("synth", target, lambda: synth(project_dir, args.stack, target))


def synth(project_dir: Path, stack: str, target: Path) -> int:
    started = time.perf_counter()
    result = synthesize(project_dir, stack)
    findings = check_stack(result, project_dir)
    write_build(result, findings, target, policy_config(project_dir, stack))
    print_summary(result, findings, target, time.perf_counter() - started)
    return EXIT_VIOLATION if blocking(findings) else EXIT_OK


def _guarded(command: str, target: Path, run: Callable[[], int]) -> int:
    """Run under the stack's lock; every failure is one line and leaves the build as it was."""
    try:
        with stack_lock(target.parent, target.name):
            check_writable(target.parent)
            return run()
    except (ProgramError, BuildDirError) as error:
        return _fail(str(error), command)
    except OSError as error:
        return _fail(f"{target}: cannot write ({error.strerror or error}); unchanged", command)
    except KeyboardInterrupt:
        _fail(f"interrupted; {target} is unchanged", command)
        return EXIT_INTERRUPTED


def preview(project_dir: Path, stack: str, target: Path) -> int:
    started = time.perf_counter()
    result = synthesize(project_dir, stack, preview=True)
    analysis = preview_stack(result, project_dir)
    document = preview_document(result, analysis)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / ".preview.json.partial"
    _write_json(partial, document)
    partial.replace(target / "preview.json")
    seconds = time.perf_counter() - started
    print(
        f"preview {stack}: {len(result.program_resources)} resources, "
        f"{document['unknown_inputs']} unknown inputs in {seconds:.1f}s -> {target}/preview.json"
    )
    print_findings(analysis.violations)
    print(f"undecided until deployment: {len(analysis.undecided)}")
    for undecided in analysis.undecided:
        print(f"  {undecided.policy}: {undecided.urn}\n      {undecided.reason}")
    mandatory = any(v.level == "mandatory" for v in analysis.violations)
    return EXIT_VIOLATION if mandatory else EXIT_OK


def preview_document(result: SynthResult, analysis: Analysis) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "unknown_inputs": unknown_inputs(result),
        "violations": [finding_json(v) for v in analysis.violations],
        "undecided": [undecided_json(u) for u in analysis.undecided],
    }


def _fail(message: str, command: str = "synth") -> int:
    print(f"{command}: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def write_build(
    result: SynthResult,
    findings: list[Finding],
    target: Path,
    config: dict[str, Any] | None = None,
) -> None:
    """Write a new version beside the last build, then swap: a failed run changes nothing."""

    def write(folder: Path) -> None:
        _write_json(folder / "plan.json", plan_document(result))
        _write_json(folder / "outputs.json", result.outputs)
        _write_json(folder / "policy.json", policy_document(result, findings, config or {}))
        write_manifests(result, folder / "manifests")

    publish(target, write)


def write_manifests(result: SynthResult, folder: Path) -> None:
    """`manifests/` of a build: one YAML file per Kubernetes object, as kubectl would take it."""
    for relative, document in manifest_documents(result).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _write_json(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def print_summary(
    result: SynthResult, findings: list[Finding], target: Path, seconds: float
) -> None:
    counts = resource_counts(result)
    print(f"stack {result.stack}: {sum(counts.values())} resources in {seconds:.1f}s -> {target}")
    for component, count in counts.items():
        print(f"  {count:4d}  {component}")
    print_findings(findings)
    for item in not_checked(result.resources):
        print(f"  [not checked] {item['urn']}\n      {item['reason']}")


def print_findings(findings: list[Finding]) -> None:
    mandatory = blocking(findings)
    print(f"policy: {len(mandatory)} mandatory, {len(findings) - len(mandatory)} advisory")
    for finding in findings:
        print(f"  [{finding.level}] {finding.policy}: {finding.urn}\n      {finding.message}")


# The program allocates hundreds of thousands of long-lived SDK objects (Args, Outputs, their
# futures), which the default threshold (700) collects over and over for nothing. Measured on the
# staging ./synth, paired fresh runs: 6.4 s -> 4.5 s CPU (see README, Benchmarks).
GC_THRESHOLD = (50_000, 20, 100)


def _on_interrupt(_signum: int, _frame: object) -> None:
    # Ctrl-C abandons the mock runtime's in-flight RPC tasks; asyncio would report each one
    # ("Task was destroyed but it is pending!") as it is collected. The one line is ours.
    logging.getLogger("asyncio").disabled = True
    warnings.simplefilter("ignore")  # "coroutine ... was never awaited", for the same reason
    sys.unraisablehook = lambda _: None
    raise KeyboardInterrupt


def _run_as_command() -> int:
    signal.signal(signal.SIGINT, _on_interrupt)
    try:
        code = main()
    except KeyboardInterrupt:  # outside the stack lock: nothing was written yet
        print("synth: interrupted; no build was changed", file=sys.stderr)
        code = EXIT_INTERRUPTED
    # The build is written (or untouched): a late Ctrl-C must not turn the exit into a signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    gc.set_threshold(*GC_THRESHOLD)
    sys.exit(_run_as_command())
