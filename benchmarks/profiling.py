"""Condense a cProfile run of the synth into what names the largest costs."""

from __future__ import annotations

import cProfile
import os
import pstats
from typing import Any

# Frames that only wrap the program (the harness, runpy, the import system, the event loop):
# their cumulative time is "everything" and names nothing.
_WRAPPERS = (
    "<frozen ",
    "<built-in method builtins.exec>",
    "<built-in method builtins.__import__>",
    "<method 'run' of '_contextvars.Context' objects>",
    "asyncio/",
    "runpy.py",
    "tools/synth.py",
    "benchmarks/",
    "__main__.py:1(<module>)",
)
# Module-level code of a package's __init__: its cumulative time is what loading that package cost.
_PACKAGE_INIT = "__init__.py:1(<module>)"


def _label(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    marker = "site-packages/"
    if marker in filename:
        filename = filename.split(marker, 1)[1]
    elif "/lib/python" in filename:
        filename = "stdlib:" + filename.rsplit("/lib/python", 1)[1].split("/", 1)[-1]
    elif filename.startswith(os.getcwd() + os.sep):
        filename = os.path.relpath(filename)
    return f"{filename}:{line}({function})"


def summarize(profiler: cProfile.Profile, wall_seconds: float, top: int = 12) -> dict[str, Any]:
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    rows = [
        (_label(key), calls, own, cumulative)
        for key, (_, calls, own, cumulative, _) in table.items()
    ]
    profiled_total = max((cumulative for _, _, _, cumulative in rows), default=0.0)
    interesting = [row for row in rows if not any(w in row[0] for w in _WRAPPERS)]
    by_cumulative = sorted(interesting, key=lambda row: row[3], reverse=True)[:top]
    by_own = sorted(rows, key=lambda row: row[2], reverse=True)[:top]
    packages = sorted(
        (
            (label.removesuffix(_PACKAGE_INIT).rstrip("/").replace("/", "."), cumulative)
            for label, _, _, cumulative in rows
            if label.endswith(_PACKAGE_INIT) and not label.startswith("stdlib:")
        ),
        key=lambda item: item[1],
        reverse=True,
    )[:top]
    return {
        "wall_seconds_profiled": wall_seconds,
        "profiled_total_seconds": profiled_total,
        "top_cumulative": [
            {"function": label, "calls": calls, "cumulative_seconds": cumulative}
            for label, calls, _, cumulative in by_cumulative
        ],
        "top_own_time": [
            {"function": label, "calls": calls, "own_seconds": own}
            for label, calls, own, _ in by_own
        ],
        "package_load_seconds": [
            {"package": package, "cumulative_seconds": seconds} for package, seconds in packages
        ],
    }
