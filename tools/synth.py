"""Run the real Pulumi program under the mock runtime and record every resource it registers.

This is the harness behind `make synth` and the tests: same program, same config files, no cloud.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import wait_for_rpcs

from components.config.errors import ConfigError
from tools.mocks import SynthMocks
from tools.project_config import load_stack_config
from tools.recorder import (
    SECRET_PLACEHOLDER,
    UNKNOWN,
    UNKNOWN_PLACEHOLDER,
    RecordedResource,
    RecordingMonitor,
)

PROJECT = "micromart"
STACK_TYPE = "pulumi:pulumi:Stack"
# The program's own packages; purged between runs so a copy of the project is really re-read.
PROGRAM_PACKAGES = ("components",)


class ProgramError(Exception):
    """The program could not be evaluated: bad config, bad spec or a bug. Exit code 2."""

    def __init__(self, message: str, registered: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        # URNs the program had registered before it failed: a config error must leave none.
        self.registered = registered


@dataclass(frozen=True)
class StackInput:
    config: dict[str, str]
    secret_keys: tuple[str, ...]


@dataclass(frozen=True)
class SynthResult:
    stack: str
    resources: tuple[RecordedResource, ...]
    outputs: dict[str, Any]
    # Read from the cluster or cloud (`.get`), not created; the policy pack does not see them.
    reads: tuple[RecordedResource, ...] = ()

    def by_type(self, type_token: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == type_token]

    def get(self, urn: str) -> RecordedResource:
        return next(resource for resource in self.resources if resource.urn == urn)

    @property
    def program_resources(self) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type != STACK_TYPE]


def read_stack_file(project_dir: Path, stack: str) -> StackInput:
    """`Pulumi.<stack>.yaml` checked as the CLI would, then the string map it hands a program."""
    try:
        config, secret_keys = load_stack_config(project_dir, stack, SECRET_PLACEHOLDER)
    except ConfigError as error:
        raise ProgramError(str(error)) from None
    return StackInput(config=config, secret_keys=tuple(secret_keys))


def synthesize(
    project_dir: Path,
    stack: str,
    stack_input: StackInput | None = None,
    *,
    preview: bool = False,
) -> SynthResult:
    """Evaluate `__main__.py` of `project_dir` for `stack` and return what it registered.

    `preview`: as `pulumi preview` on a stack that does not exist yet (dry run, nothing created,
    every computed output unknown) instead of as `pulumi up`.
    """
    project_dir = project_dir.resolve()
    stack_input = stack_input or read_stack_file(project_dir, stack)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        monitor = _configure_runtime(project_dir, stack, stack_input, preview)
        try:
            with _program_environment(project_dir):
                _evaluate(project_dir, loop)
        except ProgramError as error:
            registered = tuple(r.urn for r in monitor.recorded if r.type != STACK_TYPE)
            raise ProgramError(str(error), registered) from error.__cause__
        outputs = _resolve_outputs(loop)
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    resources = tuple(sorted(monitor.recorded, key=lambda resource: resource.urn))
    reads = tuple(sorted(monitor.reads, key=lambda resource: resource.urn))
    assert_unique_urns(resources + reads)
    return SynthResult(stack=stack, resources=resources, outputs=outputs, reads=reads)


def _configure_runtime(
    project_dir: Path, stack: str, stack_input: StackInput, preview: bool
) -> RecordingMonitor:
    # A second run in one process would otherwise reuse the first run's Stack and RPC state.
    pulumi_settings.ROOT.set(None)
    pulumi_settings.SETTINGS.outputs = set()
    pulumi.runtime.set_all_config(stack_input.config, list(stack_input.secret_keys))
    mocks = SynthMocks(project_dir, preview=preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    return monitor


@contextmanager
def _program_environment(project_dir: Path) -> Iterator[None]:
    """Run as the engine does: from the project folder, with it importable."""
    previous_cwd = Path.cwd()
    for module in [name for name in sys.modules if name.split(".")[0] in PROGRAM_PACKAGES]:
        del sys.modules[module]
    sys.path.insert(0, str(project_dir))
    os.chdir(project_dir)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        sys.path.remove(str(project_dir))


def _evaluate(project_dir: Path, loop: asyncio.AbstractEventLoop) -> None:
    try:
        try:
            runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        except Exception:
            # Drain what was queued (at least the root Stack) even when the program failed.
            # Not on Ctrl-C (a BaseException): the interrupt may have cut a registration in half,
            # and waiting for its RPC would hang the run forever instead of exiting 130.
            loop.run_until_complete(wait_for_rpcs())
            raise
        loop.run_until_complete(wait_for_rpcs())
    except pulumi.RunError as error:
        raise ProgramError(str(error)) from None
    except Exception as error:
        raise ProgramError(f"program failed: {type(error).__name__}: {error}") from error


def _resolve_outputs(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    root = pulumi_settings.ROOT.get()
    exported: dict[str, Any] = getattr(root, "outputs", {}) or {}
    resolved: dict[str, Any] = {}
    for name, value in sorted(exported.items()):
        output = pulumi.Output.from_input(value)
        if not loop.run_until_complete(output.is_known()):
            resolved[name] = UNKNOWN_PLACEHOLDER
            continue
        is_secret = loop.run_until_complete(output.is_secret())
        resolved[name] = (
            SECRET_PLACEHOLDER if is_secret else loop.run_until_complete(output.future())
        )
    return resolved


def unknown_inputs(result: SynthResult) -> int:
    """How many input values (leaves) are unknown until deployment, over every resource."""
    return sum(_count_unknowns(resource.inputs) for resource in result.resources)


def _count_unknowns(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_count_unknowns(item) for item in value.values())
    if isinstance(value, list):
        return sum(_count_unknowns(item) for item in value)
    return 1 if value == UNKNOWN else 0


def assert_unique_urns(resources: tuple[RecordedResource, ...]) -> None:
    # The mock monitor accepts duplicate names silently; the engine would refuse the program.
    seen: set[str] = set()
    for resource in resources:
        if resource.urn in seen:
            raise ProgramError(f"duplicate resource URN: {resource.urn}")
        seen.add(resource.urn)


def plan_document(result: SynthResult) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "provider": resource.provider,
                "dependencies": list(resource.dependencies),
                "inputs": resource.redacted_inputs(),
            }
            for resource in result.resources
        ],
        "reads": [
            {
                "urn": read.urn,
                "type": read.type,
                "id": read.id,
                "parent": read.parent,
                "provider": read.provider,
            }
            for read in result.reads
        ],
    }


def manifest_documents(result: SynthResult) -> dict[str, dict[str, Any]]:
    """Every Kubernetes object as `kubectl apply` would take it, keyed by a stable file path."""
    documents: dict[str, dict[str, Any]] = {}
    for resource in result.resources:
        if not resource.is_kubernetes_object:
            continue
        inputs = _manifest_inputs(resource)
        metadata = inputs.get("metadata", {})
        folder = metadata.get("namespace", "_cluster")
        path = f"{folder}/{inputs['kind'].lower()}-{metadata.get('name', resource.name)}.yaml"
        ordered = {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"]}
        ordered.update({key: value for key, value in inputs.items() if key not in ordered})
        documents[path] = ordered
    return documents


def _manifest_inputs(resource: RecordedResource) -> dict[str, Any]:
    if resource.type != "kubernetes:core/v1:Secret":
        return resource.redacted_inputs()
    # Pulumi marks a Secret's whole data map secret; keep its keys so the manifest stays a valid
    # Secret, and mask every value.
    inputs = resource.plain_inputs()
    for field in ("data", "stringData"):
        if isinstance(inputs.get(field), dict):
            inputs[field] = {key: SECRET_PLACEHOLDER for key in inputs[field]}
    return inputs


def _top_level(by_urn: Mapping[str, RecordedResource], resource: RecordedResource) -> str:
    """The type of the Stack's child on the resource's parent chain."""
    current = resource
    while current.parent and by_urn[current.parent].type != STACK_TYPE:
        current = by_urn[current.parent]
    return current.type


def component_of(result: SynthResult, resource: RecordedResource) -> str:
    return _top_level({item.urn: item for item in result.resources}, resource)


def resource_counts(result: SynthResult) -> Mapping[str, int]:
    """Resources per top-level component; the URN index is built once, not per resource."""
    by_urn = {resource.urn: resource for resource in result.resources}
    counts: dict[str, int] = {}
    for resource in result.program_resources:
        component = _top_level(by_urn, resource)
        counts[component] = counts.get(component, 0) + 1
    return dict(sorted(counts.items()))
