"""The report as the table `make bench` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks import critical_path


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
    lines = [
        "\n1. Program evaluation: fresh commands, paired "
        f"({evaluation['repetitions']} repetitions, medians)"
    ]
    lines.append(f"  {'command':<34} {'wall s':>8} {'CPU s':>7} {'peak RSS MiB':>13}")
    for name, item in evaluation["commands"].items():
        lines.append(
            f"  {name:<34} {item['seconds']['median']:8.2f} {item['cpu_seconds']['median']:7.2f} "
            f"{item['peak_rss_mib']['median']:13.1f}"
        )
    for name, ratio in evaluation["ratios"].items():
        lines.append(_row(f"ratio {name} (paired)", f"{ratio['median']:.2f}x"))
    profile = evaluation.get("profile")
    if profile:
        lines.append("  largest costs: cProfile of one staging synth, cumulative seconds:")
        for item in profile["package_load_seconds"][:6]:
            lines.append(f"    {item['cumulative_seconds']:6.2f}  load {item['package']}")
        for item in profile["top_cumulative"][:6]:
            lines.append(f"    {item['cumulative_seconds']:6.2f}  {item['function']}")
    return lines


def _scaling_lines(scaling: Mapping[str, Any]) -> list[str]:
    lines = ["\n2. Scaling: ./synth on generated services (staging, paired runs, medians)"]
    lines.append(f"  {'services':>8} {'wall s':>8} {'MiB':>7}")
    for point in scaling["points"]:
        lines.append(
            f"  {point['services']:8d} {point['median_seconds']:8.2f} "
            f"{point['median_peak_rss_mib']:7.1f}"
        )
    lines.append(
        _row(
            "per added service (slope of each repetition)",
            f"{scaling['slope_seconds_per_service']:.4f} s "
            f"(runs {', '.join(f'{s:.4f}' for s in scaling['slope_runs'])}; "
            f"+{scaling['intercept_seconds']:.2f} s fixed, R^2 {scaling['r_squared']:.3f}); "
            f"{scaling['slope_rss_mib_per_service']:.3f} MiB",
        )
    )
    for segment in scaling["marginal_segments"]:
        lines.append(
            _row(
                f"marginal {segment['from']}->{segment['to']}",
                f"{segment['seconds_per_added_service']:.4f} s/service",
            )
        )
    return lines


def _critical_path_lines(stacks: Mapping[str, Any]) -> list[str]:
    lines = ["\n3. Deploy critical path (fresh stack, typical create times; * = estimate)"]
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
                f"{item['changed_outside']} outside; targeted "
                f"{len(item['targets'])} component(s), {item['changed_untargeted']} missed",
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
