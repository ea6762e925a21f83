"""Helpers shared by tests that run the real program under the synth harness."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tools.recorder import RecordedResource
from tools.synth import SynthResult

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml")
PROGRAM_DIRS = ("components", "services", "policy")
MICROSERVICE = "micromart:service:Microservice"


def copy_project(target: Path) -> Path:
    """A private copy of the program that a test may edit without touching the repository."""
    target.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM_FILES:
        shutil.copy2(PROJECT_DIR / name, target / name)
    for name in PROGRAM_DIRS:
        shutil.copytree(
            PROJECT_DIR / name, target / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return target


def edit_yaml(path: Path, edit: Any) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def of_type(result: SynthResult, type_token: str) -> list[RecordedResource]:
    return result.by_type(type_token)


def named(result: SynthResult, type_token: str, name: str) -> RecordedResource:
    matches = [r for r in result.by_type(type_token) if r.name == name]
    assert len(matches) == 1, f"expected one {type_token} named {name}, got {len(matches)}"
    return matches[0]


def kube_objects(result: SynthResult, kind: str) -> list[dict[str, Any]]:
    return [
        r.plain_inputs()
        for r in result.resources
        if r.is_kubernetes_object and r.inputs.get("kind") == kind
    ]


def kube_object(
    result: SynthResult, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    matches = [
        obj
        for obj in kube_objects(result, kind)
        if obj["metadata"]["name"] == name
        and (namespace is None or obj["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"expected one {kind} {name}, got {len(matches)}"
    return matches[0]


def dependency_closure(result: SynthResult, urn: str) -> set[str]:
    """Every resource `urn` waits for, directly or through others (parents included)."""
    by_urn = {r.urn: r for r in result.resources}
    seen: set[str] = set()
    pending = [urn]
    while pending:
        current = by_urn[pending.pop()]
        for dep in _edges(current):
            if dep not in seen and dep in by_urn:
                seen.add(dep)
                pending.append(dep)
    return seen


def _edges(resource: RecordedResource) -> Iterable[str]:
    yield from resource.dependencies
    for deps in resource.property_dependencies.values():
        yield from deps
    if resource.provider:
        yield resource.provider


def owning_service(result: SynthResult, resource: RecordedResource) -> str | None:
    """The Microservice component a resource sits under, if any."""
    by_urn = {r.urn: r for r in result.resources}
    current: RecordedResource | None = resource
    while current is not None:
        if current.type == MICROSERVICE:
            return current.name
        current = by_urn.get(current.parent)
    return None


def only(result: SynthResult, type_token: str) -> RecordedResource:
    matches = of_type(result, type_token)
    assert len(matches) == 1, f"expected one {type_token}, got {len(matches)}"
    return matches[0]


@cache
def stack_setting(stack: str, key: str) -> Any:
    """The value a stack file gives `micromart:<key>` (as written, before any default)."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return document["config"][f"micromart:{key}"]
