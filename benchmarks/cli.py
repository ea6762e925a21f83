"""`python -m benchmarks`: run every benchmark, write build/bench/report.json and report.png.

Every timed run is a fresh command exactly as a user types it (`benchmarks.measure`), and runs
one at a time. Runs that are compared are paired: each repetition runs the baseline and the
measured commands back to back, and ratios and slopes are computed within a repetition before
the median is taken, so a machine that is busier in one repetition biases neither side.

- Evaluation: `python -c "import pulumi"`, the import of every SDK the program uses, and
  `./synth` (what `make synth` runs: program, policy pack, build output) for both stacks.
- Scaling: `./synth` on generated projects of 5, 25, 100 and 200 services; the per-added-service
  cost is the slope of the full user path.
- Deploy critical path: from the plan.json files the evaluation runs wrote.
- Blast radius: one worker process, as before.

`--quick` (the tests) runs a tiny generated project once, two commands at a time: its numbers are
not meant to be read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import critical_path, generator, measure
from benchmarks.paired import evaluation_summary, scaling_summary
from benchmarks.report import format_report

STACKS = ("staging", "production")
BLAST_STACK = "staging"
# Platform settings whose blast radius is reported: the first differing candidate is applied.
PLATFORM_SETTINGS: tuple[tuple[str, list[Any]], ...] = (
    ("logLevel", ["info", "debug"]),
    ("rabbitmq.replicas", [3, 1]),
)
FULL_SIZES = (5, 25, 100, 200)
QUICK_SIZES = (1, 2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny project, one run each (tests)")
    parser.add_argument("--out", type=Path, default=measure.REPO / "build" / "bench")
    parser.add_argument("--repeats", type=int, help="paired repetitions of the evaluation")
    parser.add_argument("--scaling-repeats", type=int, help="paired repetitions of the scaling")
    parser.add_argument("--sizes", help="comma-separated service counts for the scaling runs")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.scaling_repeats = args.scaling_repeats or (1 if args.quick else 2)
    sizes = (
        [int(size) for size in args.sizes.split(",")]
        if args.sizes
        else list(QUICK_SIZES if args.quick else FULL_SIZES)
    )
    if len(sizes) < 2 or min(sizes) < 1:
        parser.error("--sizes needs at least two positive service counts")
    args.sizes = sorted(set(sizes))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="micromart-bench-") as scratch_dir:
        try:
            report = run_benchmarks(args, Path(scratch_dir), progress=_progress)
        except (measure.CommandError, WorkerError) as error:
            print(f"bench: {error}", file=sys.stderr)
            return 2
    report["elapsed_seconds"] = time.perf_counter() - started
    report_path = args.out / "report.json"
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    from benchmarks.chart import draw

    draw(report, args.out / "report.png")
    print(format_report(report))
    print(f"\nreport: {report_path}\nchart:  {args.out / 'report.png'}")
    return 0


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_benchmarks(
    args: argparse.Namespace, scratch: Path, progress: Callable[[str], None] = _progress
) -> dict[str, Any]:
    projects = {
        size: generator.generate_project(scratch / f"scale-{size}", size) for size in args.sizes
    }
    # Quick mode evaluates the smallest generated project; the full run the real program.
    program = projects[min(args.sizes)] if args.quick else measure.REPO
    out = scratch / "build"
    jobs = 2 if args.quick else 1
    # Quick mode times staging only; production's plan (for the critical path) is synthesized
    # in this process, where nothing is timed.
    timed = STACKS[:1] if args.quick else STACKS
    progress("evaluation: import baselines and ./synth per stack, paired")
    evaluation_runs = [
        measure.run_all(
            [
                measure.import_command("import_pulumi", ["pulumi"]),
                measure.import_command("import_sdks", measure.SDK_MODULES),
                *(measure.synth_command(stack, program, stack, out / stack) for stack in timed),
            ],
            jobs,
        )
        for _ in range(args.repeats)
    ]
    plans = {stack: _plan(program, stack, out / stack / stack) for stack in STACKS}
    progress(f"scaling: ./synth with {', '.join(map(str, args.sizes))} generated services")
    # Quick mode evaluated the smallest project already: the same command, not run twice.
    reused = {min(args.sizes): evaluation_runs[0][2]} if args.quick else {}
    scaling_runs = []
    for repeat in range(args.scaling_repeats):
        # Alternate the order so neither end of the range always runs on a warmer machine.
        order = args.sizes if repeat % 2 == 0 else list(reversed(args.sizes))
        pending = [size for size in order if size not in reused]
        commands = [
            measure.synth_command(f"scale:{size}", projects[size], "staging", out / f"s{size}")
            for size in pending
        ]
        runs = {**reused, **dict(zip(pending, measure.run_all(commands, jobs), strict=True))}
        scaling_runs.append([runs[size] for size in args.sizes])
    progress("blast radius")
    blast = _blast_radius(args.quick, scratch)
    profile = None if args.quick else _profile(scratch)
    progress("deploy critical path")
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
        },
        "settings": {
            "repeats": args.repeats,
            "scaling_repeats": args.scaling_repeats,
            "scaling_sizes": args.sizes,
            "process_model": measure.__doc__,
        },
        "evaluation": {**evaluation_summary(evaluation_runs, timed), "profile": profile},
        "scaling": {
            "generator": generator.__doc__,
            "stack": "staging",
            "command": "./synth (program, policy pack, build output)",
            **scaling_summary(args.sizes, scaling_runs),
        },
        "critical_path": {
            "model": critical_path.__doc__,
            "durations": critical_path.duration_table(),
            "stacks": {stack: critical_path.estimate(plans[stack]) for stack in STACKS},
        },
        "blast_radius": blast,
    }


def _plan(program: Path, stack: str, build: Path) -> dict[str, Any]:
    """plan.json of a timed ./synth run, else of an untimed synth in this process."""
    if (build / "plan.json").is_file():
        written: dict[str, Any] = json.loads((build / "plan.json").read_text(encoding="utf-8"))
        return written
    from tools.synth import plan_document, synthesize

    return plan_document(synthesize(program, stack))


class WorkerError(RuntimeError):
    pass


def _worker(task: Mapping[str, Any], scratch: Path) -> dict[str, Any]:
    """A task in a fresh `python -m benchmarks.worker` process (SDKs loaded once for it)."""
    task_file, result_file = scratch / "task.json", scratch / "result.json"
    task_file.write_text(json.dumps(task), encoding="utf-8")
    result_file.unlink(missing_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", str(task_file), str(result_file)],
        cwd=measure.REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not result_file.is_file():
        tail = completed.stderr.strip()[-3000:]
        raise WorkerError(f"worker task {dict(task)} failed ({completed.returncode}):\n{tail}")
    loaded: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    return loaded


def _blast_radius(quick: bool, scratch: Path) -> dict[str, Any]:
    settings = [(name, json.dumps(values)) for name, values in PLATFORM_SETTINGS]
    if quick:
        # In this process: nothing is timed, and the caller has the SDKs loaded already.
        from benchmarks.blast_radius import run_blast_radius

        project = generator.generate_project(scratch / "blast", 2)
        return run_blast_radius(project, BLAST_STACK, settings)
    project = generator.copy_program(scratch / "blast")
    return _worker(
        {"kind": "blast", "project": str(project), "stack": BLAST_STACK, "settings": settings},
        scratch,
    )


def _profile(scratch: Path) -> dict[str, Any] | None:
    """cProfile of one staging synth in a fresh process: names the largest costs."""
    task = {"kind": "synth", "project": str(measure.REPO), "stack": "staging", "profile": True}
    result = _worker(task, scratch)
    profile: dict[str, Any] | None = result.get("profile")
    return profile
