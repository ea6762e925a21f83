"""A mock resource monitor that remembers what the program registered, as the engine sees it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor, Mocks

from tools.opaque import Child, yaml_v2_children

# Sentinels of Pulumi's property wire format (sdk/go/common/resource/properties.go).
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIGS = {"c44067f5952c0a294b673a41bacd8c17", "0def7320c3a5731c473e5ecbe6d01bc7"}
SIG_KEY = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_PLACEHOLDER = "[secret]"
UNKNOWN_PLACEHOLDER = "[unknown]"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    provider: str
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    inputs: dict[str, Any]
    protect: bool
    custom: bool
    ignore_changes: tuple[str, ...] = field(default=())
    # The ID the (mock) provider assigned: what another resource receives from `resource.id`.
    id: str = ""
    # Read from the cloud (`Resource.get`), not created: the engine's Read step.
    read: bool = False

    def redacted_inputs(self) -> dict[str, Any]:
        """Inputs as they may be written to disk: secrets masked, resource refs as URNs."""
        converted: dict[str, Any] = _convert(self.inputs, reveal=False)
        return converted

    def plain_inputs(self) -> dict[str, Any]:
        """Inputs as a policy sees them: secrets unwrapped, resource refs as URNs."""
        converted: dict[str, Any] = _convert(self.inputs, reveal=True)
        return converted

    @property
    def is_kubernetes_object(self) -> bool:
        # A helm Release is a custom `kubernetes:` resource but not an object: it has no kind.
        return (
            self.custom
            and not self.read
            and self.type.startswith("kubernetes:")
            and "providers" not in self.type
            and isinstance(self.inputs.get("kind"), str)
            and isinstance(self.inputs.get("apiVersion"), str)
        )


def _convert(value: Any, *, reveal: bool) -> Any:
    if isinstance(value, dict):
        return _convert_object(value, reveal=reveal)
    if isinstance(value, list):
        return [_convert(item, reveal=reveal) for item in value]
    if isinstance(value, float) and value.is_integer():
        # The wire format only has doubles; manifests and plans read better with integers.
        return int(value)
    return value


def _convert_object(value: dict[str, Any], *, reveal: bool) -> Any:
    sig = value.get(SIG_KEY)
    if sig == SECRET_SIG:
        return _convert(value.get("value"), reveal=reveal) if reveal else SECRET_PLACEHOLDER
    if sig == RESOURCE_SIG:
        return value.get("urn", "")
    if sig in ASSET_SIGS:
        return {key: item for key, item in value.items() if key != SIG_KEY}
    return {key: _convert(item, reveal=reveal) for key, item in sorted(value.items())}


def provider_urn(reference: str) -> str:
    """Provider references are `<urn>::<id>`; the URN is the stable half."""
    return reference.rsplit("::", 1)[0] if reference else ""


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self._lock = threading.Lock()
        self.recorded: list[RecordedResource] = []
        self.reads: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        record = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            provider=provider_urn(request.provider),
            dependencies=tuple(sorted(set(request.dependencies))),
            property_dependencies={
                key: tuple(sorted(set(deps.urns)))
                for key, deps in sorted(request.propertyDependencies.items())
            },
            inputs=json_format.MessageToDict(request.object),
            protect=bool(request.protect),
            custom=bool(request.custom),
            ignore_changes=tuple(request.ignoreChanges),
            id=response.id,
        )
        children = self._provider_children(request, record)
        with self._lock:
            self.recorded.append(record)
            self.recorded.extend(children)
        return response

    def _provider_children(
        self, request: Any, component: RecordedResource
    ) -> list[RecordedResource]:
        """Objects a remote yaml/v2 component's provider would register (see tools/opaque.py)."""
        # The provider resolves relative paths against the program directory, the synth's cwd.
        found = yaml_v2_children(request.type, request.name, component.plain_inputs(), Path.cwd())
        provider = provider_urn(request.providers.get("kubernetes", "") or request.provider)
        return [self._child_record(component.urn, provider, child) for child in found]

    def _child_record(self, parent: str, provider: str, child: Child) -> RecordedResource:
        inputs = {
            key: {SIG_KEY: SECRET_SIG, "value": value} if key in child.secret_keys else value
            for key, value in child.inputs.items()
        }
        return RecordedResource(
            urn=self.make_urn(parent, child.type, child.name),
            type=child.type,
            name=child.name,
            parent=parent,
            provider=provider,
            dependencies=(),
            property_dependencies={},
            inputs=inputs,
            protect=False,
            custom=True,
            id=f"{child.name}-id",
        )

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        record = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            provider=provider_urn(request.provider),
            dependencies=tuple(sorted(set(request.dependencies))),
            property_dependencies={},
            # For a read, the state the provider read: what the engine keeps as its outputs.
            inputs=json_format.MessageToDict(response.properties),
            protect=False,
            custom=True,
            id=request.id,
            read=True,
        )
        with self._lock:
            self.reads.append(record)
        return response
