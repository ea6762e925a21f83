"""Run a CrossGuard policy pack the way `pulumi preview --policy-pack` runs it, without the CLI.

The pack is started as its own process (`python -u -m pulumi.policy <engine> .` in the pack
folder) and spoken to over the analyzer gRPC protocol in the engine's order: Handshake,
ConfigureStack, GetAnalyzerInfo, Configure, Analyze per resource, one AnalyzeStack. A pack that
would not boot under the CLI therefore fails here too.

Config follows the engine's reconciliation: schema defaults, then the policy's own enforcement
level, then an "all" level, then the per-policy entries of `policy_config` (the JSON format of
`--policy-pack-config`). Unlike the engine, an entry for an unknown policy or an undeclared key
is an error here: the CLI silently ignores such typos, which would let a stack run unchecked.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, TypeAlias

import grpc
import jsonschema  # type: ignore[import-untyped]
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

__all__ = [
    "Analysis",
    "PolicyPackError",
    "PolicyResource",
    "Undecided",
    "Violation",
    "analyze",
    "run_policy_pack",
]

_Level: TypeAlias = analyzer_pb2.EnforcementLevel.ValueType
_LEVELS: Mapping[str, _Level] = MappingProxyType(
    {
        "advisory": analyzer_pb2.ADVISORY,
        "mandatory": analyzer_pb2.MANDATORY,
        "remediate": analyzer_pb2.REMEDIATE,
        "disabled": analyzer_pb2.DISABLED,
    }
)
_LEVEL_NAMES: Mapping[_Level, str] = MappingProxyType({n: name for name, n in _LEVELS.items()})
# The SDK's own server accepts 400 MiB; a whole-stack response can exceed gRPC's 4 MiB default.
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024
_SHUTDOWN_GRACE_SECONDS = 5.0
_STDERR_TAIL_CHARS = 4000
_STACK_SECONDS_PER_RESOURCE = 0.05
# The engine's placeholder for backends without organizations.
_ORGANIZATION = "organization"
# What pulumi_policy reports when a policy touched a value that only exists after deployment
# (pulumi_policy/policy.py, _PolicyAnalyzerServicer.Analyze/AnalyzeStack: an UnknownValueError
# becomes one ADVISORY diagnostic with an empty URN). The engine prints it and goes on
# (pulumi/pulumi pkg/resource/deploy/step_generator.go, AnalyzeResources: only MANDATORY
# diagnostics set sawError), so a preview passes with the check silently not done.
_UNKNOWN_NOTICE = re.compile(
    r"^can't run policy '[^']*' from policy pack '[^']*' during preview: "
    r"(?P<reason>.* value at .* can't be known during preview)$",
    re.DOTALL,
)
# A stack rule names the resource it could not decide (policy/rules/unknowns.py).
_UNDECIDED_RESOURCE = re.compile(
    r"\w+ value at \S* of (?P<urn>urn:pulumi:\S+) can't be known during preview"
)


@dataclass(frozen=True)
class PolicyResource:
    """One resource as the engine shows it to a pack: inputs plus graph edges and options."""

    urn: str
    type: str
    name: str
    properties: dict[str, Any]  # plain JSON-like inputs (secrets already unwrapped)
    parent: str = ""
    provider: str = ""  # provider reference ("<urn>::<id>") or a provider URN; "" = default
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False


@dataclass(frozen=True)
class Violation:
    """A policy diagnostic; `message` is the policy's specific text, without its description."""

    policy: str
    level: str  # "mandatory" | "advisory" | "remediate"
    urn: str  # "" for a stack-wide finding
    message: str


@dataclass(frozen=True)
class Undecided:
    """A policy that could not decide on a resource because a value is unknown until deployed."""

    policy: str
    urn: str  # "" when the pack did not say which resource
    reason: str


@dataclass(frozen=True)
class Analysis:
    violations: list[Violation]
    undecided: list[Undecided]


class PolicyPackError(RuntimeError):
    """The pack did not boot, broke the protocol, timed out, or was given invalid config."""


def run_policy_pack(
    resources: Sequence[PolicyResource],
    *,
    pack_dir: Path,
    project: str,
    stack: str,
    policy_config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    reads: Sequence[PolicyResource] = (),
) -> list[Violation]:
    """Analyze `resources` as `pulumi up` would (every value known) and return the diagnostics.

    `policy_config` uses the `pulumi preview --policy-pack-config` JSON format:
    {"<policy>": "<level>" | {"enforcementLevel"?: "<level>", "<key>": value}, "all"?: "<level>"}.
    `timeout` bounds each step (boot, configuration, each resource's Analyze); the stack-wide
    AnalyzeStack gets it plus an allowance per resource, so a large stack that keeps making
    progress never times out and a hung pack still fails fast. The pack runs under this interpreter
    (sys.executable), which must have pulumi-policy installed. Raises PolicyPackError when the
    pack does not boot, breaks the protocol, a policy raises, the config is invalid, time is up,
    or a policy could not decide: at update every value is known, so that is never a pass.
    """
    analysis = analyze(
        resources,
        pack_dir=pack_dir,
        project=project,
        stack=stack,
        policy_config=policy_config,
        timeout=timeout,
        dry_run=False,
        reads=reads,
    )
    if analysis.undecided:
        listed = "\n  ".join(f"{u.policy} {u.urn}: {u.reason}" for u in analysis.undecided)
        raise PolicyPackError(f"policies could not decide on known values:\n  {listed}")
    return analysis.violations


def analyze(
    resources: Sequence[PolicyResource],
    *,
    pack_dir: Path,
    project: str,
    stack: str,
    policy_config: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
    dry_run: bool = False,
    reads: Sequence[PolicyResource] = (),
) -> Analysis:
    """Like `run_policy_pack`, and at preview (`dry_run`) with unknowns kept as undecided.

    `reads` (resources the program read with `.get`, their properties the state read) go to
    AnalyzeStack only: the engine analyzes registrations one by one, but the stack policies see
    every resource of the new snapshot, reads included (pulumi/pulumi
    pkg/resource/deploy/step_executor.go stores every step's new state in `news`;
    step_generator.go `AnalyzeResources` sends all of `news`).
    """
    with _running_pack(Path(pack_dir), project, stack, timeout, dry_run) as pack:
        pack.configure(project, stack, policy_config or {}, dry_run)
        by_urn = {resource.urn: resource for resource in resources}
        found: list[Violation | Undecided] = []
        for resource in resources:
            response = pack.call("Analyze", _analyze_request(resource, by_urn))
            found.extend(_diagnostics(response, default_urn=resource.urn))
        everything = [*resources, *reads]
        by_urn = {resource.urn: resource for resource in everything}
        stack_request = analyzer_pb2.AnalyzeStackRequest(
            resources=[_analyzer_resource(resource, by_urn) for resource in everything]
        )
        seconds = stack_call_seconds(timeout, len(everything))
        response = pack.call("AnalyzeStack", stack_request, seconds=seconds)
        found.extend(_diagnostics(response, default_urn=""))
    violations = [item for item in found if isinstance(item, Violation)]
    undecided = {item for item in found if isinstance(item, Undecided)}
    return Analysis(
        violations=sorted(violations, key=lambda v: (v.policy, v.urn, v.message, v.level)),
        undecided=sorted(undecided, key=lambda u: (u.policy, u.urn, u.reason)),
    )


# --- process and channel -------------------------------------------------------------------


def stack_call_seconds(step_seconds: float, resources: int) -> float:
    """AnalyzeStack's limit: one step plus time per resource, as its work grows with the stack.

    Measured here: ~1 ms per resource for the real pack (2,600 resources at 200 services);
    50 ms each leaves room for a loaded machine and for slower stack-wide rules.
    """
    return step_seconds + _STACK_SECONDS_PER_RESOURCE * resources


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self, doing: str) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise PolicyPackError(f"policy pack timed out after {self.seconds:g}s while {doing}")
        return left


class _Pack:
    """A booted pack: typed-enough wrappers around the stub that turn gRPC failures into errors."""

    def __init__(
        self, stub: Any, pack_dir: Path, step_seconds: float, stderr: Callable[[], str]
    ) -> None:
        self._stub = stub
        self._pack_dir = pack_dir
        self._step_seconds = step_seconds
        self._stderr = stderr

    def call(
        self, method: str, request: Any, *, optional: bool = False, seconds: float | None = None
    ) -> Any:
        """One RPC, limited on its own: a slow stack is many calls, each of which progresses."""
        rpc = getattr(self._stub, method)
        limit = seconds if seconds is not None else self._step_seconds
        try:
            return rpc(request, timeout=limit)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            if optional and code == grpc.StatusCode.UNIMPLEMENTED:
                return None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PolicyPackError(
                    f"policy pack timed out after {limit:g}s in {method}"
                ) from None
            details = error.details() if isinstance(error, grpc.Call) else str(error)
            raise PolicyPackError(
                f"{method} failed ({code.name if code else 'error'}): {details}{self._stderr()}"
            ) from None

    def configure(
        self, project: str, stack: str, policy_config: Mapping[str, Any], dry_run: bool
    ) -> None:
        root = str(self._pack_dir.resolve())
        # The Python SDK does not implement Handshake; the engine falls back, and so do we.
        self.call(
            "Handshake",
            analyzer_pb2.AnalyzerHandshakeRequest(root_directory=root, program_directory=root),
            optional=True,
        )
        self.call(
            "ConfigureStack",
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack, project=project, organization=_ORGANIZATION, dry_run=dry_run
            ),
            optional=True,
        )
        info = self.call("GetAnalyzerInfo", empty_pb2.Empty())
        configs = _reconcile_config(list(info.policies), policy_config)
        self.call("Configure", analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=configs))


@contextmanager
def _running_pack(
    pack_dir: Path, project: str, stack: str, step_seconds: float, dry_run: bool
) -> Iterator[_Pack]:
    if not (pack_dir / "__main__.py").is_file():
        raise PolicyPackError(f"{pack_dir} is not a Python policy pack (no __main__.py)")
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
            cwd=pack_dir,
            env=_pack_environment(project, stack, dry_run),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
        )

        def stderr_tail() -> str:
            return _tail(stderr_file)

        channel = None
        drain = None
        try:
            port = _read_port(process, _Deadline(step_seconds), stderr_tail)
            # Later output must not fill the pipe and stall the pack mid-call.
            drain = threading.Thread(target=_discard, args=(process,), daemon=True)
            drain.start()
            channel = grpc.insecure_channel(
                f"127.0.0.1:{port}",
                options=[
                    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
                ],
            )
            yield _Pack(
                analyzer_pb2_grpc.AnalyzerStub(channel), pack_dir, step_seconds, stderr_tail
            )
        finally:
            if channel is not None:
                channel.close()
            _stop(process)
            if drain is not None:
                drain.join(timeout=_SHUTDOWN_GRACE_SECONDS)
            if process.stdout is not None:
                process.stdout.close()


def _pack_environment(project: str, stack: str, dry_run: bool) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PULUMI_PROJECT=project,
        PULUMI_STACK=stack,
        PULUMI_ORGANIZATION=_ORGANIZATION,
        PULUMI_DRY_RUN="true" if dry_run else "false",
        PULUMI_CONFIG="{}",
    )
    return env


def _read_port(
    process: subprocess.Popen[bytes], deadline: _Deadline, stderr: Callable[[], str]
) -> int:
    """The first stdout line: the port the pack's gRPC server listens on."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    received = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in received:
            try:
                ready = selector.select(deadline.remaining("waiting for the policy pack's port"))
            except PolicyPackError as error:
                raise PolicyPackError(f"{error}{stderr()}") from None
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                code = _exit_code(process)
                raise PolicyPackError(
                    f"policy pack exited with code {code} before reporting its port{stderr()}"
                )
            received += chunk
    line = received.split(b"\n", 1)[0].strip()
    if not line.isdigit() or not 0 < int(line) < 65536:
        shown = line[:200].decode(errors="replace")
        raise PolicyPackError(f"policy pack printed {shown!r} instead of its port{stderr()}")
    return int(line)


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    # stdout closes a moment before the process is reaped.
    try:
        return process.wait(timeout=_SHUTDOWN_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        return None


def _discard(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    try:
        while os.read(process.stdout.fileno(), 65536):
            pass
    except OSError:
        return


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (the pack stops its server on KeyboardInterrupt), then kill after a grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=_SHUTDOWN_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0)
    text = stream.read().decode(errors="replace").strip()
    if not text:
        return ""
    return "\n--- policy pack stderr ---\n" + text[-_STDERR_TAIL_CHARS:]


# --- config --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One policy's section of the config file."""

    level: _Level | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def _reconcile_config(
    policies: Sequence[Any], given: Mapping[str, Any]
) -> dict[str, analyzer_pb2.PolicyConfig]:
    """One explicit PolicyConfig per policy; an omitted level would silently mean ADVISORY.

    Every problem is collected first so one run shows the whole list, not the first typo.
    """
    problems: list[str] = []
    entries = {name: _parse_entry(name, value, problems) for name, value in given.items()}
    everything = entries.pop("all", _Entry())
    if everything.properties:
        problems.append("all: may only set an enforcement level")
    problems.extend(
        f"{name}: no such policy in the pack"
        for name in sorted(set(entries) - {p.name for p in policies})
    )
    configs = {}
    for policy in policies:
        entry = entries.get(policy.name, _Entry())
        schema = json_format.MessageToDict(policy.configSchema)
        properties = {**_schema_defaults(schema), **entry.properties}
        problems.extend(_property_problems(policy.name, schema, properties))
        level = next(
            level
            for level in (entry.level, everything.level, policy.enforcementLevel)
            if level is not None
        )
        configs[policy.name] = (level, properties)
    if problems:
        raise PolicyPackError("invalid policy config:\n  " + "\n  ".join(problems))
    return {
        name: analyzer_pb2.PolicyConfig(enforcementLevel=level, properties=_struct(values, name))
        for name, (level, values) in configs.items()
    }


def _parse_entry(name: str, value: Any, problems: list[str]) -> _Entry:
    if isinstance(value, str):
        return _Entry(level=_level(name, value, problems))
    if not isinstance(value, Mapping):
        problems.append(f"{name}: must be an enforcement level or an object")
        return _Entry()
    try:
        properties = {k: _plain(v) for k, v in value.items() if k != "enforcementLevel"}
    except TypeError as error:
        problems.append(f"{name}: {error}")
        properties = {}
    level = value.get("enforcementLevel")
    return _Entry(_level(name, level, problems) if level is not None else None, properties)


def _level(name: str, value: Any, problems: list[str]) -> _Level | None:
    if isinstance(value, str) and value in _LEVELS:
        return _LEVELS[value]
    problems.append(f"{name}: enforcement level {value!r} is not one of {', '.join(_LEVELS)}")
    return None


def _schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def _property_problems(
    name: str, schema: Mapping[str, Any], properties: Mapping[str, Any]
) -> list[str]:
    declared = schema.get("properties", {})
    undeclared = sorted(set(properties) - set(declared))
    if undeclared:
        return [f"{name}: undeclared keys {', '.join(undeclared)}"]
    # The engine validates with the same (draft 4-7 compatible) JSON Schema semantics.
    document = {
        "type": "object",
        "properties": declared,
        "required": schema.get("required", []),
    }
    errors = jsonschema.Draft7Validator(document).iter_errors(dict(properties))
    return sorted(f"{'.'.join([name, *map(str, e.path)])}: {e.message}" for e in errors)


# --- requests and responses ----------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-shaped copy (tuples and other sequences become lists) for Struct.update."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _struct(properties: Mapping[str, Any], urn: str) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    try:
        struct.update(_plain(properties))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{urn}: properties are not JSON-like: {error}") from error
    return struct


def _options(resource: PolicyResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent)


def _provider(
    resource: PolicyResource, by_urn: Mapping[str, PolicyResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    if not resource.provider:
        return None
    # A provider reference is "<provider urn>::<provider id>"; plain URNs are accepted too.
    urn = resource.provider if resource.provider in by_urn else resource.provider.rsplit("::", 1)[0]
    known = by_urn.get(urn)
    if known is not None:
        return analyzer_pb2.AnalyzerProviderResource(
            type=known.type,
            urn=known.urn,
            name=known.name,
            properties=_struct(known.properties, urn),
        )
    provider_type, name = _split_urn(urn)
    return analyzer_pb2.AnalyzerProviderResource(type=provider_type, urn=urn, name=name)


def _split_urn(urn: str) -> tuple[str, str]:
    """(type, name) of urn:pulumi:<stack>::<project>::<parent$type>::<name>, ("", "") if bad."""
    parts = urn.split("::", 3)
    if len(parts) != 4:
        return "", ""
    return parts[2].rsplit("$", 1)[-1], parts[3]


def _analyze_request(
    resource: PolicyResource, by_urn: Mapping[str, PolicyResource]
) -> analyzer_pb2.AnalyzeRequest:
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        properties=_struct(resource.properties, resource.urn),
        options=_options(resource),
    )
    provider = _provider(resource, by_urn)
    if provider is not None:
        request.provider.CopyFrom(provider)
    return request


def _analyzer_resource(
    resource: PolicyResource, by_urn: Mapping[str, PolicyResource]
) -> analyzer_pb2.AnalyzerResource:
    message = analyzer_pb2.AnalyzerResource(
        type=resource.type,
        urn=resource.urn,
        name=resource.name,
        properties=_struct(resource.properties, resource.urn),
        options=_options(resource),
        parent=resource.parent,
        dependencies=list(resource.dependencies),
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
            for key, urns in resource.property_dependencies.items()
        },
    )
    provider = _provider(resource, by_urn)
    if provider is not None:
        message.provider.CopyFrom(provider)
    return message


def _diagnostics(response: Any, *, default_urn: str) -> Iterator[Violation | Undecided]:
    for diagnostic in response.diagnostics:
        level = _LEVEL_NAMES.get(diagnostic.enforcementLevel, "advisory")
        # Resource diagnostics come back without a URN: they belong to the analyzed resource.
        urn = diagnostic.urn or default_urn
        unknown = _UNKNOWN_NOTICE.match(diagnostic.message) if level == "advisory" else None
        if unknown is not None:
            yield from _undecided(diagnostic.policyName, urn, unknown.group("reason"))
            continue
        yield Violation(
            policy=diagnostic.policyName,
            level=level,
            urn=urn,
            message=_specific_message(diagnostic.message, diagnostic.description),
        )


def _undecided(policy: str, urn: str, reason: str) -> Iterator[Undecided]:
    named = list(_UNDECIDED_RESOURCE.finditer(reason))
    if not named:
        yield Undecided(policy=policy, urn=urn, reason=reason)
        return
    for match in named:
        yield Undecided(policy=policy, urn=match.group("urn"), reason=match.group(0))


def _specific_message(message: str, description: str) -> str:
    # The SDK sends "<description>\n<message>"; the policy name already identifies the former.
    prefix = f"{description}\n"
    return message[len(prefix) :] if description and message.startswith(prefix) else message
