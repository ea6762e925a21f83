"""`python -m benchmarks`: run every benchmark, write build/bench/report.json and report.png.

Full mode (`make bench`) runs the timed work one process at a time so runs do not compete for
the CPU: 3 runs of each evaluation measurement, and (to stay within ~4 minutes on a 2-core
machine) 2 runs of each scaling size. `--quick` (for the tests) shrinks everything (2 and 4
services, one run) and shares processes two at a time, because its numbers are not meant to be
read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import critical_path, generator
from benchmarks.stats import least_squares, summarize_runs

REPO = Path(__file__).resolve().parents[1]
STACKS = ("staging", "production")
BLAST_STACK = "staging"
# Platform settings whose blast radius is reported: the first differing candidate is applied.
PLATFORM_SETTINGS: tuple[tuple[str, list[Any]], ...] = (
    ("logLevel", ["info", "debug"]),
    ("rabbitmq.replicas", [3, 1]),
)
FULL_SIZES = (5, 25, 100, 200)
QUICK_SIZES = (2, 4)


class WorkerError(RuntimeError):
    pass


class Runner:
    """Runs worker tasks in fresh interpreters; `jobs` > 1 runs them side by side."""

    def __init__(self, scratch: Path, jobs: int) -> None:
        self._scratch = scratch
        self._jobs = jobs
        self._count = 0
        self._lock = threading.Lock()

    def run(self, task: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._count += 1
            number = self._count
        stem = self._scratch / f"task-{number:03d}-{task['kind']}"
        task_file, result_file = stem.with_suffix(".task.json"), stem.with_suffix(".result.json")
        task_file.write_text(json.dumps(task), encoding="utf-8")
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", str(task_file), str(result_file)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0 or not result_file.is_file():
            tail = completed.stderr.strip()[-3000:]
            raise WorkerError(f"worker task {dict(task)} failed ({completed.returncode}):\n{tail}")
        loaded: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        return loaded

    def run_all(self, tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if self._jobs <= 1:
            return [self.run(task) for task in tasks]
        with ThreadPoolExecutor(max_workers=self._jobs) as pool:
            return list(pool.map(self.run, tasks))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run each (tests)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    parser.add_argument("--repeats", type=int, help="runs per evaluation measurement")
    parser.add_argument("--scaling-repeats", type=int, help="runs per scaling size")
    parser.add_argument("--sizes", help="comma-separated service counts for the scaling runs")
    parser.add_argument("--jobs", type=int, help="worker processes at once (default 1; quick 2)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.scaling_repeats = args.scaling_repeats or (1 if args.quick else 2)
    args.jobs = args.jobs or (2 if args.quick else 1)
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
        scratch = Path(scratch_dir)
        runner = Runner(scratch, args.jobs)
        try:
            report = run_benchmarks(args, runner, scratch, progress=_progress)
        except WorkerError as error:
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


Labeled = list[tuple[str, dict[str, Any]]]
Collected = dict[str, list[dict[str, Any]]]


def _collect(runner: Runner, labeled: Labeled, into: Collected) -> None:
    results = runner.run_all([task for _, task in labeled])
    for (label, _), result in zip(labeled, results, strict=True):
        into.setdefault(label, []).append(result)


def _synth(project: Path, stack: str, **options: Any) -> dict[str, Any]:
    return {"kind": "synth", "project": str(project), "stack": stack, **options}


def run_benchmarks(
    args: argparse.Namespace,
    runner: Runner,
    scratch: Path,
    progress: Callable[[str], None] = _progress,
) -> dict[str, Any]:
    plans = {stack: scratch / f"plan-{stack}.json" for stack in STACKS}
    projects = {
        size: generator.generate_project(scratch / f"scale-{size}", size) for size in args.sizes
    }
    # Quick mode measures a small generated project; the full run measures the real services.
    blast_project = (
        generator.generate_project(scratch / "blast", min(args.sizes))
        if args.quick
        else generator.copy_program(scratch / "blast")
    )
    blast_task = {
        "kind": "blast",
        "project": str(blast_project),
        "stack": BLAST_STACK,
        "settings": [(name, json.dumps(values)) for name, values in PLATFORM_SETTINGS],
    }
    scaling_tasks: Labeled = [
        (f"scale:{size}", _synth(projects[size], "staging"))
        for _ in range(args.scaling_repeats)
        for size in args.sizes
    ]
    # The first staging run warms the OS file cache, writes the plan and records which SDK
    # packages the program really loads; in full mode it also re-synthesizes in the same (warm)
    # process and runs under cProfile, so it is not one of the timed repetitions.
    first = _synth(
        REPO,
        "staging",
        plan_out=str(plans["staging"]),
        warm_repeat=not args.quick,
        profile=not args.quick,
    )
    collected: Collected = {}
    if args.quick:
        # Numbers are not read in quick mode: the production synth, the scaling runs and the
        # blast radius share one process (warm after its first synth), beside the other runs.
        progress("quick mode: numbers are not comparable (shared processes, two at a time)")
        shared: Labeled = [
            ("production", _synth(REPO, "production", plan_out=str(plans["production"]))),
            *scaling_tasks,
            ("blast", blast_task),
        ]
        batch = {"kind": "batch", "tasks": [task for _, task in shared]}
        _collect(
            runner,
            [
                ("batch", batch),
                ("first", first),
                ("sdk_import", {"kind": "import", "materialize": False}),
                # Not waiting for the first run's package list: the listed SDK modules only.
                ("sdk_import_materialized", {"kind": "import", "materialize": True}),
            ],
            collected,
        )
        for (label, _), result in zip(shared, collected.pop("batch")[0]["results"], strict=True):
            collected.setdefault(label, []).append(result)
        collected["staging"] = collected["first"]
    else:
        progress("evaluation speed")
        _collect(runner, [("first", first)], collected)
        packages = collected["first"][0]["loaded_packages"]
        for repeat in range(args.repeats):
            labeled: Labeled = [
                ("sdk_import", {"kind": "import", "materialize": False}),
                ("sdk_import_materialized", _materialized(packages)),
            ]
            for stack in STACKS:
                options: dict[str, Any] = {"policy": True}
                if repeat == 0 and stack != "staging":
                    options["plan_out"] = str(plans[stack])
                labeled.append((stack, _synth(REPO, stack, **options)))
            _collect(runner, labeled, collected)
        progress(f"scaling with {', '.join(map(str, args.sizes))} generated services")
        _collect(runner, scaling_tasks, collected)
        progress("blast radius")
        _collect(runner, [("blast", blast_task)], collected)
    progress("deploy critical path")
    paths = {
        stack: critical_path.estimate(json.loads(plans[stack].read_text(encoding="utf-8")))
        for stack in STACKS
    }
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
            "repeats": len(collected["staging"]),
            "scaling_repeats": args.scaling_repeats,
            "scaling_sizes": args.sizes,
            "jobs": args.jobs,
            "process_model": "each run is a fresh `python -m benchmarks.worker` process; time "
            "from its start (imports included) to the end of the task; memory is the "
            "process's peak RSS (ru_maxrss). Medians over the runs.",
        },
        "evaluation": _evaluation(collected),
        "scaling": _scaling(args.sizes, collected),
        "critical_path": {
            "model": critical_path.__doc__,
            "durations": critical_path.duration_table(),
            "stacks": paths,
        },
        "blast_radius": collected["blast"][0],
    }


def _materialized(packages: Sequence[str]) -> dict[str, Any]:
    return {"kind": "import", "materialize": True, "modules": list(packages)}


def _evaluation(collected: Collected) -> dict[str, Any]:
    names = ("sdk_import", "sdk_import_materialized", *STACKS)
    summary = {name: summarize_runs(collected[name]) for name in names}
    base = summary["sdk_import"]["median_seconds"]
    materialized = summary["sdk_import_materialized"]["median_seconds"]
    ratios = {}
    for stack in STACKS:
        seconds = summary[stack]["median_seconds"]
        ratios[f"{stack}_vs_sdk_import"] = seconds / base
        ratios[f"{stack}_vs_sdk_import_materialized"] = seconds / materialized
    first = collected["first"][0]
    return {
        **summary,
        "ratios": ratios,
        "sdk_modules": list(_sdk_modules()),
        "materialized_packages": first["loaded_packages"],
        "staging_first_run_seconds": first["seconds"],
        "staging_first_run_profiled": "profile" in first,
        "staging_warm_resynth_seconds": first.get("warm_seconds"),
        "profile": first.get("profile"),
    }


def _sdk_modules() -> Sequence[str]:
    from benchmarks.worker import SDK_MODULES

    return SDK_MODULES


def _scaling(sizes: Sequence[int], collected: Collected) -> dict[str, Any]:
    points = []
    for size in sizes:
        summary = summarize_runs(collected[f"scale:{size}"])
        points.append(
            {
                "services": size,
                "resources": summary["resources"],
                "median_seconds": summary["median_seconds"],
                "median_peak_rss_mib": summary["median_peak_rss_mib"],
                "seconds_per_service": summary["median_seconds"] / size,
                "rss_mib_per_service": summary["median_peak_rss_mib"] / size,
                "seconds": summary["seconds"],
            }
        )
    counts = [float(point["services"]) for point in points]
    time_fit = least_squares(counts, [point["median_seconds"] for point in points])
    memory_fit = least_squares(counts, [point["median_peak_rss_mib"] for point in points])
    small, large = points[0], points[-1]
    segments = [
        {
            "from": a["services"],
            "to": b["services"],
            "seconds_per_added_service": (b["median_seconds"] - a["median_seconds"])
            / (b["services"] - a["services"]),
            "rss_mib_per_added_service": (b["median_peak_rss_mib"] - a["median_peak_rss_mib"])
            / (b["services"] - a["services"]),
        }
        for a, b in itertools.pairwise(points)
    ]
    return {
        "generator": generator.__doc__,
        "stack": "staging",
        "points": points,
        "slope_seconds_per_service": time_fit.slope,
        "intercept_seconds": time_fit.intercept,
        "r_squared": time_fit.r_squared,
        "slope_rss_mib_per_service": memory_fit.slope,
        "intercept_rss_mib": memory_fit.intercept,
        "rss_r_squared": memory_fit.r_squared,
        "per_service_ratio_sizes": [small["services"], large["services"]],
        "per_service_time_ratio": large["seconds_per_service"] / small["seconds_per_service"],
        "per_service_memory_ratio": large["rss_mib_per_service"] / small["rss_mib_per_service"],
        "marginal_segments": segments,
    }


def _row(label: str, value: str) -> str:
    return f"  {label:<46} {value}"


def format_report(report: Mapping[str, Any]) -> str:
    lines = [f"MicroMart benchmarks ({report['mode']} mode, {report['machine']['cpus']} CPUs)"]
    lines += _evaluation_lines(report["evaluation"])
    lines += _scaling_lines(report["scaling"])
    lines += _critical_path_lines(report["critical_path"]["stacks"])
    lines += _blast_lines(report["blast_radius"])
    lines.append(f"\nelapsed {report['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


def _evaluation_lines(evaluation: Mapping[str, Any]) -> list[str]:
    lines = ["\n1. Program evaluation (fresh process per run, median)"]
    lines.append(f"  {'run':<34} {'seconds':>8} {'peak RSS MiB':>13} {'runs':>5}")
    for name in ("sdk_import", "sdk_import_materialized", *STACKS):
        item = evaluation[name]
        lines.append(
            f"  {name:<34} {item['median_seconds']:8.2f} "
            f"{item['median_peak_rss_mib']:13.1f} {item['runs']:5d}"
        )
    for name, ratio in evaluation["ratios"].items():
        lines.append(_row(f"ratio {name}", f"{ratio:.2f}x"))
    for stack in STACKS:
        policy = evaluation[stack].get("median_policy_seconds")
        if policy is not None:
            lines.append(_row(f"policy pack on {stack} (separate)", f"{policy:.2f} s"))
    warm = evaluation.get("staging_warm_resynth_seconds")
    if warm is not None:
        lines.append(_row("staging re-synth in a warm process", f"{warm:.2f} s"))
    profile = evaluation.get("profile")
    if profile:
        factor = profile["wall_seconds_profiled"] / evaluation["staging"]["median_seconds"]
        lines.append(
            "  largest costs: cProfile of the first staging run, cumulative seconds "
            f"(profiling slows this run {factor:.1f}x):"
        )
        for item in profile["package_load_seconds"][:6]:
            lines.append(f"    {item['cumulative_seconds']:6.2f}  load {item['package']}")
        for item in profile["top_cumulative"][:6]:
            lines.append(f"    {item['cumulative_seconds']:6.2f}  {item['function']}")
    return lines


def _scaling_lines(scaling: Mapping[str, Any]) -> list[str]:
    lines = ["\n2. Scaling (staging, generated services, median)"]
    lines.append(f"  {'services':>8} {'resources':>9} {'seconds':>8} {'s/service':>10} {'MiB':>7}")
    for point in scaling["points"]:
        lines.append(
            f"  {point['services']:8d} {point['resources']:9d} {point['median_seconds']:8.2f} "
            f"{point['seconds_per_service']:10.3f} {point['median_peak_rss_mib']:7.1f}"
        )
    small, large = scaling["per_service_ratio_sizes"]
    lines.append(
        _row(
            "least-squares slope",
            f"{scaling['slope_seconds_per_service']:.4f} s/service "
            f"(+{scaling['intercept_seconds']:.2f} s, R^2 {scaling['r_squared']:.3f}); "
            f"{scaling['slope_rss_mib_per_service']:.3f} MiB/service",
        )
    )
    lines.append(
        _row(
            f"per-service ratio {large}/{small}",
            f"time {scaling['per_service_time_ratio']:.3f}, "
            f"memory {scaling['per_service_memory_ratio']:.3f}",
        )
    )
    for segment in scaling["marginal_segments"]:
        lines.append(
            _row(
                f"marginal {segment['from']}->{segment['to']}",
                f"{segment['seconds_per_added_service']:.4f} s/service, "
                f"{segment['rss_mib_per_added_service']:.3f} MiB/service",
            )
        )
    return lines


def _critical_path_lines(stacks: Mapping[str, Any]) -> list[str]:
    lines = ["\n3. Deploy critical path (fresh stack, typical create times)"]
    for stack, result in stacks.items():
        slowest = result["slowest_resource"]
        lines.append(
            _row(
                f"{stack}: estimated pulumi up",
                f"{result['estimated_up_seconds'] / 60:.1f} min; slowest {slowest['name']} "
                f"({slowest['type']}, {result['slowest_seconds'] / 60:.1f} min); "
                f"ratio {result['ratio_up_to_slowest']:.2f}",
            )
        )
        lines += [f"      {line}" for line in critical_path.format_path(result["critical_path"])]
        checks = result["checks"]
        lines.append(
            f"      checks: AKS || Postgres {checks['cluster_and_postgres_in_parallel']}; "
            f"images waiting for cluster {checks['images_waiting_for_cluster'] or 'none'}; "
            f"cross-service deps {checks['cross_service_dependencies'] or 'none'}; "
            f"await timeouts expected {checks['await_timeouts_expected'] or 'none'}"
        )
    return lines


def _blast_lines(blast: Mapping[str, Any]) -> list[str]:
    lines = [f"\n4. Blast radius ({blast['stack']}, {blast['resources']} resources)"]
    for item in blast["services"]:
        lines.append(
            _row(
                f"image of {item['service']}",
                f"{item['changed_inside']} changed inside ({', '.join(item['inside_types'])}), "
                f"{item['changed_outside']} outside",
            )
        )
    for setting in blast["platform_settings"]:
        lines.append(
            _row(
                f"{setting['setting']} {setting['from']} -> {setting['to']}",
                f"{setting['changed_total']} changed; services touched: "
                f"{', '.join(setting['services_touched']) or 'none'}",
            )
        )
        if setting["configmap_changed_without_rollout"]:
            lines.append(
                "      ConfigMap changed without a Deployment change (no rollout): "
                + ", ".join(setting["configmap_changed_without_rollout"])
            )
    return lines
