"""Small statistics helpers (median of repetitions, least-squares fit)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fit:
    slope: float
    intercept: float
    r_squared: float


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError("a fit needs at least two points")
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, 1.0 - residual / total if total else 1.0)


def summarize_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median wall time and peak RSS of repeated runs, keeping every run for the record."""
    summary: dict[str, Any] = {
        "runs": len(runs),
        "median_seconds": statistics.median(run["seconds"] for run in runs),
        "median_peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in runs),
        "seconds": [run["seconds"] for run in runs],
        "peak_rss_mib": [run["peak_rss_mib"] for run in runs],
    }
    if all("resources" in run for run in runs):
        summary["resources"] = runs[0]["resources"]
    policy = [run["policy_seconds"] for run in runs if "policy_seconds" in run]
    if policy:
        summary["median_policy_seconds"] = statistics.median(policy)
    return summary
