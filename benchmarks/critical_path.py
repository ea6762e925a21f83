"""Estimate a fresh stack's `pulumi up` time from plan.json's dependency graph.

Model (how the engine schedules a fresh `pulumi up`, all creates):
- A custom resource starts when everything it waits for is done, and takes the typical create
  time of its type (DURATIONS below); `pulumi up` is as long as the longest such chain, because
  the engine runs independent steps in parallel (we assume its parallelism limit is never the
  bottleneck: the many short Kubernetes objects finish in seconds).
- It waits for: each URN in `dependencies` (the SDK already folds property dependencies and
  `depends_on` in there), its explicit `provider` (a provider is configured from the cluster's
  kubeconfig, so it is "created" only once the cluster exists), and its `parent`: the SDK sends a
  child's registration only after its parent's URN resolves, which for a custom parent happens
  when the parent's create returns.
- A component resource has no create step: it is *registered* as soon as its own parent and
  dependencies are, and counts as *complete* when all its descendants are. A child waits for its
  component's registration; a resource that depends on a component waits for its completion
  (Pulumi expands a dependency on a component to the component's children).
- The root Stack is registered at t=0.
- A workload's pods also wait, at run time, for every Secret and ConfigMap their pod template
  names but the program does not depend on (a reference by name only): the Deployment object is
  created early, but it cannot become ready before those objects exist. Such waits are counted,
  and flagged when they exceed the provider's 10-minute readiness timeout (the update would fail).
- Readiness waits the Kubernetes provider performs (Deployment/StatefulSet rollout, a Service
  waiting for endpoints) are folded into the durations; no resource depends on a Service, so the
  Service's wait for its pods never lengthens a path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.checks import design_checks
from benchmarks.durations import duration_of, duration_table
from benchmarks.schedule import Schedule

__all__ = ["duration_table", "estimate", "format_path"]


def estimate(plan: Mapping[str, Any]) -> dict[str, Any]:
    schedule = Schedule(plan)
    for urn in schedule.resources:
        schedule.complete(urn)
    custom = [urn for urn in schedule.resources if not schedule.is_component(urn)]
    if not custom:
        raise ValueError("the plan has no custom resources")
    last = max(custom, key=lambda urn: schedule.timings[urn].complete)
    total = schedule.timings[last].complete
    slowest = max(custom, key=lambda urn: duration_of(schedule.resources[urn]).seconds)
    slowest_seconds = duration_of(schedule.resources[slowest]).seconds
    path = [_step(schedule, urn) for urn in schedule.path_to(last) if urn in schedule.resources]
    return {
        "resources": len(custom),
        "estimated_up_seconds": total,
        "slowest_resource": _step(schedule, slowest),
        "slowest_seconds": slowest_seconds,
        "ratio_up_to_slowest": total / slowest_seconds if slowest_seconds else None,
        "critical_path": path,
        "checks": design_checks(schedule),
    }


def _step(schedule: Schedule, urn: str) -> dict[str, Any]:
    resource = schedule.resources[urn]
    timing = schedule.timings[urn]
    return {
        "urn": urn,
        "name": resource["name"],
        "type": resource["type"],
        "start": timing.start,
        "seconds": duration_of(resource).seconds,
        "basis": duration_of(resource).basis,
        "finish": timing.registered,
        "waited_by_name_for": schedule.resources[timing.waits_by_name]["name"]
        if timing.waits_by_name
        else "",
    }


def format_path(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for step in steps:
        mark = "*" if step.get("basis") == "estimate" else " "
        line = (
            f"{step['start']:7.0f}s +{step['seconds']:5.0f}s{mark} {step['type']}  {step['name']}"
        )
        if step.get("waited_by_name_for"):
            line += f"  (pods wait for {step['waited_by_name_for']}, named only)"
        lines.append(line)
    return lines
