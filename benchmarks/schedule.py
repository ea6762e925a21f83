"""When each resource of a plan starts and finishes on a fresh `pulumi up` (see critical_path)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.durations import STACK_TYPE, duration_of, is_component_type

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


@dataclass
class Timing:
    registered: float = 0.0  # a custom resource's create has returned; a component is registered
    complete: float = 0.0  # custom: same as registered; component: all descendants complete
    waits_on: str = ""  # the URN whose time set `start` (for walking the critical path back)
    waits_on_completion: bool = False  # on `waits_on` completing (else on its registration)
    start: float = 0.0
    last_child: str = ""  # component: the descendant that completed last
    created: float = 0.0  # when its declared waits are over (before waiting for names)
    waits_by_name: str = ""  # the object referenced by name only that it waited for last


class Schedule:
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
        self.timings: dict[str, Timing] = {}
        self._visiting: set[str] = set()
        self._completing: set[str] = set()

    def is_component(self, urn: str) -> bool:
        return is_component_type(str(self.resources[urn]["type"]))

    def timing(self, urn: str) -> Timing:
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
        result = Timing(start=start, waits_on=waits_on, registered=start + seconds)
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
