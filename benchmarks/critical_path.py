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
from dataclasses import dataclass
from typing import Any

STACK_TYPE = "pulumi:pulumi:Stack"
# Packages whose resources are custom (a provider creates them); any other type token is a
# component (plan.json does not record the distinction).
CUSTOM_PACKAGES = frozenset({"azure-native", "kubernetes", "docker", "random", "pulumi"})
KUBERNETES_OBJECT_SECONDS = 2.0
# pulumi-kubernetes fails a Deployment or StatefulSet that is not ready within 10 minutes.
WORKLOAD_AWAIT_TIMEOUT_SECONDS = 600.0
WORKLOAD_TYPES = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})
_REFERENCED_KIND = {
    "secretKeyRef": ("Secret", "name"),
    "secretRef": ("Secret", "name"),
    "secret": ("Secret", "secretName"),
    "configMapKeyRef": ("ConfigMap", "name"),
    "configMapRef": ("ConfigMap", "name"),
    "configMap": ("ConfigMap", "name"),
}


@dataclass(frozen=True)
class Duration:
    """Typical create time of one resource type, and where the figure comes from."""

    type: str
    seconds: float
    low: float
    high: float
    basis: str  # "source" (a cited observation) or "estimate"
    source: str
    says: str


def _k8s(kind: str, note: str = "") -> Duration:
    return Duration(
        type=kind,
        seconds=KUBERNETES_OBJECT_SECONDS,
        low=1,
        high=5,
        basis="estimate",
        source="",
        says=note or "One API-server write; Pulumi's await for this kind returns at once.",
    )


_PULUMI_DEPLOYMENT_DOC = "https://www.pulumi.com/docs/reference/pkg/kubernetes/apps/v1/deployment"
_TF_PG_TESTS = "https://github.com/hashicorp/terraform-provider-azurerm/pull/32525"
_STEAMPIPE_PG = "https://github.com/turbot/steampipe-plugin-azure/pull/824"

DURATIONS: tuple[Duration, ...] = (
    Duration(
        "azure-native:resources:ResourceGroup",
        5,
        2,
        10,
        "source",
        "https://github.com/turbot/steampipe-plugin-azure/pull/83",
        "Terraform test log: 'azurerm_resource_group...: Creation complete after 4s' "
        "(PR #64 of the same repo: 'after 2s').",
    ),
    Duration(
        "azure-native:network:VirtualNetwork",
        10,
        5,
        20,
        "source",
        _STEAMPIPE_PG,
        "Terraform test log: 'azurerm_virtual_network...: Creation complete after 8s' and "
        "'azurerm_subnet...: Creation complete after 6s' (our subnets are inline in the VNet).",
    ),
    Duration(
        "azure-native:privatedns:PrivateZone",
        35,
        30,
        60,
        "source",
        _STEAMPIPE_PG,
        "Same log: 'azurerm_private_dns_zone...: Creation complete after 35s'.",
    ),
    Duration(
        "azure-native:privatedns:VirtualNetworkLink",
        45,
        30,
        90,
        "estimate",
        _STEAMPIPE_PG,
        "Same log shows the zone's VNet link still creating after 10s; the excerpt ends before "
        "it completes, so the figure is an estimate.",
    ),
    Duration(
        "azure-native:containerservice:ManagedCluster",
        420,
        240,
        900,
        "source",
        "https://pulumi.com/registry/packages/azure-native/how-to-guides/azure-py-aks/",
        "Pulumi's AKS guide: 'After 3-4 minutes, your cluster will be ready' (one default pool). "
        "Azure/AKS#711 and #585 report 20-30 min in 2018; acs-engine PR #3721: '~4 minutes for "
        "3 nodes ... AKS create ... needs additional time'. 7 min assumed for two pools plus the "
        "Istio and Cilium add-ons.",
    ),
    Duration(
        "azure-native:containerregistry:Registry",
        30,
        5,
        60,
        "source",
        "https://github.com/MicrosoftLearning/AZ-204-DevelopingSolutionsforMicrosoftAzure/issues/388",
        "Microsoft trainer: 'creating the container registries through the portal took about "
        "5 seconds'; hashicorp/terraform PR #10973: TestAccAzureRMContainerRegistry_basic "
        "123.95s for create + checks + destroy (upper bound). 30 s assumed.",
    ),
    Duration(
        "azure-native:authorization:RoleAssignment",
        20,
        10,
        50,
        "source",
        "https://github.com/hashicorp/terraform-provider-azurerm/pull/6925",
        "Acceptance tests that create, poll for consistency and destroy one assignment: "
        "45-50 s each (upper bound). Azure/azure-rest-api-specs#9467: the PUT returns 201 before "
        "the assignment is effective, so pulls may fail for a while after.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Server",
        540,
        300,
        900,
        "source",
        _TF_PG_TESTS,
        "azurerm acceptance tests: TestAccPostgresqlFlexibleServer_basic 560.24s, "
        "TestAccPostgresqlFlexibleServerDatabase_basic 486.81s (create + checks + destroy). "
        "pulumi-azure-native PR #727: the flexible-server example test 'takes 12 minutes'.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Server+HA",
        1080,
        720,
        1800,
        "estimate",
        "https://github.com/MicrosoftDocs/azure-databases-docs/blob/main/articles/postgresql/"
        "configure-maintain/quickstart-create-server.md",
        "Azure docs: with high availability 'a standby server with the same configuration as "
        "your primary is automatically provisioned' in another zone; no published duration, so "
        "twice the single-server figure is an estimate. Applies when highAvailability.mode is "
        "not Disabled.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Configuration",
        30,
        10,
        120,
        "estimate",
        "",
        "A server parameter write (require_secure_transport is dynamic, no restart).",
    ),
    Duration(
        "azure-native:dbforpostgresql:Database",
        20,
        10,
        60,
        "estimate",
        _TF_PG_TESTS,
        "The database test (486.81s) includes its server; no separate figure is published.",
    ),
    Duration(
        "docker:index/image:Image",
        90,
        60,
        120,
        "estimate",
        "",
        "docker build of a small Python image (pull python:3.12-slim, COPY, compileall) and a "
        "push to ACR from a CI runner.",
    ),
    Duration(
        "kubernetes:apps/v1:Deployment",
        45,
        30,
        120,
        "estimate",
        _PULUMI_DEPLOYMENT_DOC,
        "Pulumi waits until the Deployment is Available ('If the Deployment has not reached a "
        "Ready state after 10 minutes, it will time out'): image pull + startup probe. "
        "The 45 s typical figure is an estimate; 10 min is the documented ceiling.",
    ),
    Duration(
        "kubernetes:apps/v1:StatefulSet",
        120,
        60,
        300,
        "estimate",
        "",
        "Pulumi also waits for ready replicas; RabbitMQ adds an Azure disk (PVC) attach and the "
        "broker's boot (pods start in parallel: podManagementPolicy Parallel).",
    ),
    Duration(
        "pulumi:providers:kubernetes",
        1,
        0,
        5,
        "estimate",
        "",
        "Provider configuration only; it waits for the cluster's kubeconfig.",
    ),
    Duration(
        "random:index/randomPassword:RandomPassword",
        0,
        0,
        1,
        "estimate",
        "",
        "Computed locally by the random provider.",
    ),
    Duration(
        "random:index/randomBytes:RandomBytes",
        0,
        0,
        1,
        "estimate",
        "",
        "Computed locally by the random provider.",
    ),
    _k8s("kubernetes:core/v1:Namespace", "Pulumi waits for the namespace to be Active: ~1 s."),
    _k8s(
        "kubernetes:core/v1:Service",
        "Pulumi waits for endpoints of a selector Service, i.e. for its pods; nothing depends "
        "on a Service, so that wait never lengthens a path.",
    ),
    _k8s("kubernetes:*", "Any other Kubernetes object or Istio custom resource."),
)
_BY_TYPE = {duration.type: duration for duration in DURATIONS}
_FALLBACK = Duration("*", 10, 1, 60, "estimate", "", "Unlisted type: a generic 10 s.")


def is_component_type(kind: str) -> bool:
    return kind.split(":", 1)[0] not in CUSTOM_PACKAGES


def duration_of(resource: Mapping[str, Any]) -> Duration:
    kind = str(resource["type"])
    if kind == "azure-native:dbforpostgresql:Server":
        mode = (resource.get("inputs") or {}).get("highAvailability", {}).get("mode", "Disabled")
        if mode not in ("Disabled", "", None):
            return _BY_TYPE[f"{kind}+HA"]
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if is_component_type(kind) or kind == STACK_TYPE:
        return Duration(kind, 0, 0, 0, "estimate", "", "Component: no create step.")
    if kind.startswith("kubernetes:"):
        return _BY_TYPE["kubernetes:*"]
    return _FALLBACK


@dataclass
class _Timing:
    registered: float = 0.0  # a custom resource's create has returned; a component is registered
    complete: float = 0.0  # custom: same as registered; component: all descendants complete
    waits_on: str = ""  # the URN whose time set `start` (for walking the critical path back)
    waits_on_completion: bool = False  # on `waits_on` completing (else on its registration)
    start: float = 0.0
    last_child: str = ""  # component: the descendant that completed last
    created: float = 0.0  # when its declared waits are over (before waiting for names)
    waits_by_name: str = ""  # the object referenced by name only that it waited for last


class _Schedule:
    def __init__(self, plan: Mapping[str, Any]) -> None:
        self.resources = {str(r["urn"]): r for r in plan["resources"] if r["type"] != STACK_TYPE}
        self.children: dict[str, list[str]] = {}
        for urn, resource in self.resources.items():
            self.children.setdefault(str(resource.get("parent") or ""), []).append(urn)
        self.by_name = {
            (_kind_of(resource), _namespace_of(resource), _name_of(resource)): urn
            for urn, resource in self.resources.items()
            if _kind_of(resource) in ("Secret", "ConfigMap")
        }
        self.timings: dict[str, _Timing] = {}
        self._visiting: set[str] = set()
        self._completing: set[str] = set()

    def is_component(self, urn: str) -> bool:
        return is_component_type(str(self.resources[urn]["type"]))

    def timing(self, urn: str) -> _Timing:
        """When `urn` starts and is registered (its create returned, for a custom resource)."""
        if urn in self.timings:
            return self.timings[urn]
        if urn in self._visiting:
            raise ValueError(f"dependency cycle through {urn}")
        self._visiting.add(urn)
        resource = self.resources[urn]
        # (time, prefer a custom resource on ties, edge is to completion, URN)
        waits: list[tuple[float, bool, bool, str]] = []
        parent = str(resource.get("parent") or "")
        if parent in self.resources:
            waits.append((self.timing(parent).registered, False, False, parent))
        edges = [str(edge) for edge in resource.get("dependencies") or ()]
        edges.append(str(resource.get("provider") or ""))
        for edge in edges:
            if edge in self.resources:
                waits.append((self.complete(edge), not self.is_component(edge), True, edge))
        created, _, to_completion, waits_on = max(waits, default=(0.0, False, False, ""))
        declared = {edge for *_, edge in waits}
        by_name = [
            (self.timing(ref).registered, ref)
            for ref in self.named_references(urn)
            if ref not in declared
        ]
        start, last_by_name = max([(created, ""), *by_name])
        if last_by_name:
            waits_on, to_completion = last_by_name, True
        seconds = 0.0 if self.is_component(urn) else duration_of(resource).seconds
        result = _Timing(start=start, waits_on=waits_on, registered=start + seconds)
        result.waits_on_completion = to_completion
        result.created = created
        result.waits_by_name = last_by_name
        result.complete = -1.0
        self.timings[urn] = result
        self._visiting.discard(urn)
        return result

    def named_references(self, urn: str) -> list[str]:
        """Secrets and ConfigMaps of this stack that a workload's pods name."""
        resource = self.resources[urn]
        if resource["type"] not in WORKLOAD_TYPES:
            return []
        namespace = _namespace_of(resource)
        template = ((resource.get("inputs") or {}).get("spec") or {}).get("template") or {}
        refs = {
            self.by_name[(kind, namespace, name)]
            for kind, name in _references(template)
            if (kind, namespace, name) in self.by_name
        }
        return sorted(refs)

    def complete(self, urn: str) -> float:
        """When `urn` is done: a component, once all its descendants are."""
        timing = self.timing(urn)
        if timing.complete >= 0:
            return timing.complete
        if urn in self._completing:
            raise ValueError(f"dependency cycle through {urn}")
        self._completing.add(urn)
        done = timing.registered
        if self.is_component(urn):
            for child in self.children.get(urn, ()):
                child_done = self.complete(child)
                if child_done > done:
                    done = child_done
                    timing.last_child = child
        timing.complete = done
        self._completing.discard(urn)
        return done

    def path_to(self, urn: str) -> list[str]:
        """The chain of resources that ends with `urn` completing, earliest first."""
        path: list[str] = []
        current, via_completion = urn, True
        seen: set[tuple[str, bool]] = set()
        while current and (current, via_completion) not in seen:
            seen.add((current, via_completion))
            timing = self.timings[current]
            if self.is_component(current):
                # Reached through a dependency, a component ends with its last descendant;
                # reached as a parent, it is only as late as its own registration.
                if via_completion and timing.last_child:
                    current = timing.last_child
                else:
                    current, via_completion = timing.waits_on, timing.waits_on_completion
                continue
            path.append(current)
            current, via_completion = timing.waits_on, timing.waits_on_completion
        return list(reversed(path))


def estimate(plan: Mapping[str, Any]) -> dict[str, Any]:
    schedule = _Schedule(plan)
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


def _metadata(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = (resource.get("inputs") or {}).get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _kind_of(resource: Mapping[str, Any]) -> str:
    kind = str(resource["type"])
    return kind.rsplit(":", 1)[-1] if kind.startswith("kubernetes:") else ""


def _namespace_of(resource: Mapping[str, Any]) -> str:
    return str(_metadata(resource).get("namespace") or "")


def _name_of(resource: Mapping[str, Any]) -> str:
    return str(_metadata(resource).get("name") or resource["name"])


def _references(value: Any) -> list[tuple[str, str]]:
    """(kind, name) of every non-optional Secret/ConfigMap reference inside a pod template."""
    found: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _REFERENCED_KIND and isinstance(item, Mapping) and not item.get("optional"):
                kind, field = _REFERENCED_KIND[key]
                if item.get(field):
                    found.append((kind, str(item[field])))
            found.extend(_references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found


def _step(schedule: _Schedule, urn: str) -> dict[str, Any]:
    resource = schedule.resources[urn]
    timing = schedule.timings[urn]
    return {
        "urn": urn,
        "name": resource["name"],
        "type": resource["type"],
        "start": timing.start,
        "seconds": duration_of(resource).seconds,
        "finish": timing.registered,
        "waited_by_name_for": schedule.resources[timing.waits_by_name]["name"]
        if timing.waits_by_name
        else "",
    }


def _of_type(schedule: _Schedule, kind: str) -> list[str]:
    return [urn for urn, r in schedule.resources.items() if r["type"] == kind]


def _closure(schedule: _Schedule, urn: str) -> set[str]:
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


def _service_of(schedule: _Schedule, urn: str) -> str:
    current = schedule.resources.get(urn)
    while current is not None:
        if current["type"] == "micromart:service:Microservice":
            return str(current["name"])
        current = schedule.resources.get(str(current.get("parent") or ""))
    return ""


def design_checks(schedule: _Schedule) -> dict[str, Any]:
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


def duration_table() -> list[dict[str, Any]]:
    return [
        {
            "type": d.type,
            "seconds": d.seconds,
            "range_seconds": [d.low, d.high],
            "basis": d.basis,
            "source": d.source,
            "says": d.says,
        }
        for d in DURATIONS
    ]


def format_path(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for step in steps:
        line = f"{step['start']:7.0f}s +{step['seconds']:5.0f}s  {step['type']}  {step['name']}"
        if step.get("waited_by_name_for"):
            line += f"  (pods wait for {step['waited_by_name_for']}, named only)"
        lines.append(line)
    return lines
