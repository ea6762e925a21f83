"""Summaries of paired runs: ratios and slopes within a repetition first, then the median.

A repetition's runs ran back to back, so a machine that was busier during one repetition moves
both sides of its ratio (or every point of its fit) together; comparing medians taken over
separate runs would not cancel that.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.stats import least_squares

Run = Mapping[str, Any]


def _series(runs: Sequence[Run], key: str) -> dict[str, Any]:
    values = [float(run[key]) for run in runs]
    return {"median": statistics.median(values), "runs": values}


def evaluation_summary(
    repetitions: Sequence[Sequence[Run]], stacks: Sequence[str]
) -> dict[str, Any]:
    """Each repetition: import_pulumi, import_sdks, then one ./synth per stack."""
    by_label: dict[str, list[Run]] = {}
    for repetition in repetitions:
        for run in repetition:
            by_label.setdefault(str(run["label"]), []).append(run)
    commands = {
        label: {
            "seconds": _series(runs, "seconds"),
            "cpu_seconds": _series(runs, "cpu_seconds"),
            "peak_rss_mib": _series(runs, "peak_rss_mib"),
        }
        for label, runs in by_label.items()
    }
    ratios = {}
    for stack in stacks:
        for base in ("import_pulumi", "import_sdks"):
            paired = [
                run["seconds"] / baseline["seconds"]
                for baseline, run in zip(by_label[base], by_label[stack], strict=True)
            ]
            ratios[f"{stack}_vs_{base}"] = {
                "median": statistics.median(paired),
                "runs": paired,
            }
    return {"repetitions": len(repetitions), "commands": commands, "ratios": ratios}


def scaling_summary(sizes: Sequence[int], repetitions: Sequence[Sequence[Run]]) -> dict[str, Any]:
    """Each repetition: one run per size, in `sizes` order."""
    counts = [float(size) for size in sizes]
    fits = [least_squares(counts, [float(run["seconds"]) for run in runs]) for runs in repetitions]
    memory = [
        least_squares(counts, [float(run["peak_rss_mib"]) for run in runs]) for runs in repetitions
    ]
    segments = [
        {
            "from": a,
            "to": b,
            "seconds_per_added_service": statistics.median(
                (runs[j]["seconds"] - runs[i]["seconds"]) / (b - a) for runs in repetitions
            ),
        }
        for (i, a), (j, b) in itertools.pairwise(enumerate(sizes))
    ]
    points = [
        {
            "services": size,
            "median_seconds": statistics.median(runs[index]["seconds"] for runs in repetitions),
            "median_peak_rss_mib": statistics.median(
                runs[index]["peak_rss_mib"] for runs in repetitions
            ),
            "seconds": [runs[index]["seconds"] for runs in repetitions],
        }
        for index, size in enumerate(sizes)
    ]
    return {
        "points": points,
        "slope_seconds_per_service": statistics.median(fit.slope for fit in fits),
        "slope_runs": [fit.slope for fit in fits],
        "intercept_seconds": statistics.median(fit.intercept for fit in fits),
        "r_squared": statistics.median(fit.r_squared for fit in fits),
        "slope_rss_mib_per_service": statistics.median(fit.slope for fit in memory),
        "marginal_segments": segments,
    }
