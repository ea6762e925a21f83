"""The deploy-time rules of DESIGN.md, read off the plan's schedule."""

from __future__ import annotations

from typing import Any

from benchmarks.schedule import WORKLOAD_AWAIT_TIMEOUT_SECONDS, Schedule


def _of_type(schedule: Schedule, kind: str) -> list[str]:
    return [urn for urn, r in schedule.resources.items() if r["type"] == kind]


def _closure(schedule: Schedule, urn: str) -> set[str]:
    """Everything `urn` waits for, directly or not (dependencies, providers, parents)."""
    seen: set[str] = set()
    pending = [urn]
    while pending:
        resource = schedule.resources[pending.pop()]
        edges = [str(edge) for edge in resource.get("dependencies") or ()]
        edges += [str(resource.get("provider") or ""), str(resource.get("parent") or "")]
        for edge in edges:
            if edge in schedule.resources and edge not in seen:
                seen.add(edge)
                pending.append(edge)
    return seen


def _service_of(schedule: Schedule, urn: str) -> str:
    current = schedule.resources.get(urn)
    while current is not None:
        if current["type"] == "micromart:service:Microservice":
            return str(current["name"])
        current = schedule.resources.get(str(current.get("parent") or ""))
    return ""


def design_checks(schedule: Schedule) -> dict[str, Any]:
    """The deploy-time rules of DESIGN.md, read off the same graph."""
    clusters = _of_type(schedule, "azure-native:containerservice:ManagedCluster")
    servers = _of_type(schedule, "azure-native:dbforpostgresql:Server")
    images = _of_type(schedule, "docker:index/image:Image")
    slow_parallel = all(
        schedule.timings[a].start < schedule.timings[b].registered
        and schedule.timings[b].start < schedule.timings[a].registered
        for a in clusters
        for b in servers
    )
    images_waiting = sorted(
        str(schedule.resources[image]["name"])
        for image in images
        if any(cluster in _closure(schedule, image) for cluster in clusters)
    )
    cross: list[str] = []
    for urn in schedule.resources:
        own = _service_of(schedule, urn)
        if not own:
            continue
        for other in _closure(schedule, urn):
            theirs = _service_of(schedule, other)
            if theirs and theirs != own:
                cross.append(f"{schedule.resources[urn]['name']} -> {theirs}")
    by_name = []
    for urn, resource in schedule.resources.items():
        for ref in schedule.named_references(urn):
            if ref in _closure(schedule, urn):
                continue
            timing = schedule.timings[urn]
            ready = schedule.timings[ref].registered
            wait = max(0.0, ready - timing.created)
            by_name.append(
                {
                    "workload": resource["name"],
                    "references": schedule.resources[ref]["name"],
                    "workload_created_at": timing.created,
                    "reference_ready_at": ready,
                    "wait_seconds": wait,
                    "exceeds_await_timeout": wait > WORKLOAD_AWAIT_TIMEOUT_SECONDS,
                }
            )
    return {
        "references_by_name_only": by_name,
        "await_timeouts_expected": sorted(
            {str(item["workload"]) for item in by_name if item["exceeds_await_timeout"]}
        ),
        "cluster_and_postgres_in_parallel": slow_parallel,
        "images_waiting_for_cluster": images_waiting,
        "cross_service_dependencies": sorted(set(cross)),
    }
