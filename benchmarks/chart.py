"""The report as one PNG: evaluation speed, scaling, critical path, blast radius."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

_EVALUATION_BARS = (
    ("import_pulumi", "import\npulumi"),
    ("import_sdks", "import the\nprogram's SDKs"),
    ("staging", "./synth\nstaging"),
    ("production", "./synth\nproduction"),
)


def draw(report: Mapping[str, Any], target: Path) -> Path:
    figure, axes = plt.subplots(2, 2, figsize=(15, 10))
    _evaluation(axes[0][0], report["evaluation"])
    _scaling(axes[0][1], report["scaling"])
    _critical_path(axes[1][0], report["critical_path"]["stacks"])
    _blast_radius(axes[1][1], report["blast_radius"])
    figure.suptitle(
        f"MicroMart benchmarks ({report['mode']} mode, {report['generated_at']})", fontsize=13
    )
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=90, format="png")
    plt.close(figure)
    return target


def _evaluation(ax: Axes, evaluation: Mapping[str, Any]) -> None:
    commands = evaluation["commands"]
    bars_shown = [(key, label) for key, label in _EVALUATION_BARS if key in commands]
    labels = [label for _, label in bars_shown]
    seconds = [commands[key]["seconds"]["median"] for key, _ in bars_shown]
    memory = [commands[key]["peak_rss_mib"]["median"] for key, _ in bars_shown]
    colors = ["#9aa5b1", "#7b8794", "#3e7cb1", "#1f4e79"][: len(labels)]
    bars = ax.bar(labels, seconds, color=colors)
    for bar, mib in zip(bars, memory, strict=True):
        ax.annotate(
            f"{bar.get_height():.2f} s\n{mib:.0f} MiB",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ratio = evaluation["ratios"]["staging_vs_import_pulumi"]["median"]
    ax.set_ylabel("seconds (median, fresh process)")
    ax.set_title(
        f"1. ./synth (program + pack + output) vs bare imports\n"
        f"staging / import pulumi, paired: {ratio:.1f}x",
        fontsize=10,
    )
    ax.margins(y=0.25)


def _scaling(ax: Axes, scaling: Mapping[str, Any]) -> None:
    points = scaling["points"]
    services = [point["services"] for point in points]
    seconds = [point["median_seconds"] for point in points]
    ax.plot(services, seconds, "o", color="#1f4e79", label="./synth wall time (median)")
    fit = [
        scaling["intercept_seconds"] + scaling["slope_seconds_per_service"] * n for n in services
    ]
    ax.plot(
        services,
        fit,
        "-",
        color="#3e7cb1",
        label=f"fit {scaling['slope_seconds_per_service']:.3f} s/service",
    )
    ax.set_xlabel("generated services")
    ax.set_ylabel("seconds")
    memory_axis = ax.twinx()
    memory_axis.plot(
        services,
        [point["median_peak_rss_mib"] for point in points],
        "s--",
        color="#c05621",
        label=f"peak RSS ({scaling['slope_rss_mib_per_service']:.2f} MiB/service)",
    )
    memory_axis.set_ylabel("peak RSS MiB")
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = memory_axis.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="upper left", fontsize=8)
    ax.set_title(
        "2. Scaling, full user path (staging, paired runs)\n"
        f"{scaling['slope_seconds_per_service']:.3f} s per added service",
        fontsize=10,
    )


def _critical_path(ax: Axes, stacks: Mapping[str, Any]) -> None:
    rows: list[tuple[str, float, float, str]] = []
    colors = {"staging": "#3e7cb1", "production": "#1f4e79"}
    for stack, result in stacks.items():
        for step in result["critical_path"]:
            label = f"{stack}: {step['name']} ({step['type'].rsplit(':', 1)[-1]})"
            rows.append((label, step["start"] / 60, step["seconds"] / 60, colors.get(stack, "k")))
    for index, (_, start, length, color) in enumerate(rows):
        ax.barh(index, max(length, 0.05), left=start, color=color)
    ax.set_yticks(range(len(rows)), [label for label, _, _, _ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("minutes from the start of a fresh `pulumi up`")
    summary = "\n".join(
        f"{stack}: {result['estimated_up_seconds'] / 60:.1f} min, "
        f"x{result['ratio_up_to_slowest']:.2f} the slowest resource"
        for stack, result in stacks.items()
    )
    ax.set_title(f"3. Estimated fresh `pulumi up`, critical path\n{summary}", fontsize=10)


def _blast_radius(ax: Axes, blast: Mapping[str, Any]) -> None:
    labels = [f"image: {item['service']}" for item in blast["services"]]
    inside = [item["changed_inside"] for item in blast["services"]]
    outside = [item["changed_outside"] for item in blast["services"]]
    for setting in blast["platform_settings"]:
        labels.append(f"{setting['setting'].split(':', 1)[-1]}: {setting['from']}->{setting['to']}")
        inside.append(setting["changed_total"])
        outside.append(0)
    positions = range(len(labels))
    ax.barh(positions, inside, color="#3e7cb1", label="changed: the service's own / any (setting)")
    ax.barh(
        positions, outside, left=inside, color="#c53030", label="changed in other units (must be 0)"
    )
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("resources whose inputs change")
    ax.legend(fontsize=8, loc="lower right")
    touched = "; ".join(
        f"{s['setting'].split(':', 1)[-1]} touches {len(s['services_touched'])} services"
        for s in blast["platform_settings"]
    )
    ax.set_title(f"4. Blast radius\n{touched}", fontsize=10)
