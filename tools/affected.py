"""Which services a change affects, and the `--target` URNs that preview or roll only those.

CI calls it before every `pulumi preview` and `pulumi up`:

    python -m tools.affected --stack staging --base <commit> [--head HEAD] [--github-output]

It compares the two commits file by file and decides, conservatively, between a set of services
(targeted: `--target <their Microservice URN> --target-dependents`) and the whole stack
(untargeted). The rules, from the program's wiring (`__main__.py`):

- `services/<name>/app/**`, `services/<name>/Dockerfile`: only that service (its image tag hashes
  exactly those files, components/build_context.py).
- `services/<name>/service.yaml`: only that service when the keys that changed are read by its
  own Microservice alone (`LOCAL_SPEC_KEYS`); `calls` feed the callees' policies, `postgres` the
  database server, `rabbitmq` the broker, `port`/`public`/`routes` the callers and the gateway, a
  new or removed service everything: the whole stack.
- `Pulumi.<stack>.yaml` of this stack: only the services whose `micromart:services.<name>`
  overrides changed in `LOCAL_OVERRIDE_KEYS` (never a `secure:` env value: those become Key Vault
  secrets of the platform); any other key: the whole stack. The other stack's file: nothing.
- `tests/`, `benchmarks/`, Markdown and the Dependabot config deploy nothing.
- Anything else (components/, policy/, __main__.py, Pulumi.yaml, the shared runtime
  services/micromart_runtime, services/requirements.txt, the lock, tools/, workflows): the whole
  stack, untargeted. An unknown base commit (first run, force-push) is the whole stack too.

Targeting a component URN includes its children (pulumi/pulumi#7605, "Include children when
targeting components"); `--target-dependents` adds whatever outside it depends on them.
Standard library plus PyYAML (a runtime dependency): it runs from the job's .venv.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT = "micromart"
MICROSERVICE = "micromart:service:Microservice"
SERVICES_DIR = "services"
SPEC_FILE = "service.yaml"
CONFIG_NAMESPACE = "micromart"
SERVICES_KEY = f"{CONFIG_NAMESPACE}:services"

# Spec keys only the service's own Microservice reads (its Deployment, HPA/KEDA objects,
# ConfigMap, VirtualService/DestinationRule, canary and blue-green tracks). Checked by
# tests/tools/test_affected.py, which changes each of them in a synth and finds no resource
# outside that service changed.
LOCAL_SPEC_KEYS = frozenset(
    {
        "description",
        "probes",
        "resources",
        "replicas",
        "autoscaling",
        "env",
        "traffic",
        "canary",
        "image",
        "blueGreen",
    }
)
# What a stack file may override about a service (components/config/service_spec.py,
# ServiceOverride); `env` only while no value is a `secure:` one.
LOCAL_OVERRIDE_KEYS = frozenset(
    {"replicas", "resources", "autoscaling", "env", "canary", "image", "blueGreen"}
)
INERT_DIRS = frozenset({"tests", "benchmarks"})
INERT_FILES = frozenset({".github/dependabot.yml"})


@dataclass(frozen=True)
class Change:
    """One changed path and, for the YAML files the rules read, its text before and after."""

    path: str
    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class Scope:
    """`services` None means the whole stack (untargeted)."""

    services: frozenset[str] | None
    reasons: tuple[str, ...]

    @property
    def whole_stack(self) -> bool:
        return self.services is None

    def targets(self, stack: str) -> list[str]:
        if self.services is None:
            return []
        return [service_urn(stack, name) for name in sorted(self.services)]


def service_urn(stack: str, service: str) -> str:
    """A top-level Microservice's URN: its parent is the root stack, whose type the engine leaves
    out (pulumi/pulumi pkg/resource/deploy/deployment.go, Deployment.generateURN); the stack part
    is the bare stack name, without the organization."""
    bare = stack.rsplit("/", 1)[-1]
    return f"urn:pulumi:{bare}::{PROJECT}::{MICROSERVICE}::{service}"


def whole(reason: str) -> Scope:
    return Scope(None, (reason,))


def scope_of(changes: Iterable[Change], stack: str, services: Iterable[str]) -> Scope:
    """The services `changes` affect in `stack`, or the whole stack."""
    known = frozenset(services)
    affected: set[str] = set()
    reasons: list[str] = []
    for change in changes:
        found = _affected_by(change, stack.rsplit("/", 1)[-1], known)
        if found is None:
            continue
        if isinstance(found, str):
            return whole(found)
        names, reason = found
        affected |= names
        reasons.append(reason)
    return Scope(frozenset(affected), tuple(reasons))


# None: deploys nothing; str: the whole stack, because; (names, reason): those services.
_Found = None | str | tuple[frozenset[str], str]


def _affected_by(change: Change, stack: str, known: frozenset[str]) -> _Found:
    path = change.path
    parts = path.split("/")
    if parts[0] in INERT_DIRS or path in INERT_FILES or path.endswith(".md"):
        return None
    if len(parts) == 1 and path.startswith("Pulumi.") and path.endswith(".yaml"):
        return _pulumi_file(change, stack)
    if parts[0] == SERVICES_DIR and len(parts) >= 3 and parts[1] in known:
        name = parts[1]
        if parts[2:] == [SPEC_FILE]:
            return _spec_file(change, name)
        return frozenset({name}), f"{path}: {name} only"
    return f"{path}: platform code or shared build input"


def _pulumi_file(change: Change, stack: str) -> _Found:
    if change.path == "Pulumi.yaml":
        return f"{change.path}: project file"
    if change.path != f"Pulumi.{stack}.yaml":
        return None  # another stack's values
    return _stack_file(change)


def _load(text: str | None) -> Any:
    return None if text is None else yaml.safe_load(text)


def _differing(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in {*before, *after} if before.get(key) != after.get(key))


def _spec_file(change: Change, name: str) -> _Found:
    before, after = _load(change.before), _load(change.after)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{change.path}: service added or removed (callers, routes, databases change)"
    keys = _differing(before, after)
    wiring = [key for key in keys if key not in LOCAL_SPEC_KEYS]
    if wiring:
        return f"{change.path}: {', '.join(wiring)} wire {name} to the platform or other services"
    return frozenset({name}), f"{change.path}: {', '.join(keys) or 'formatting'} ({name} only)"


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


def _stack_file(change: Change) -> _Found:
    before, after = _load(change.before), _load(change.after)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{change.path}: stack file added or removed"
    outside = [key for key in _differing(before, after) if key != "config"]
    if outside:
        return f"{change.path}: {', '.join(outside)} (stack settings outside config)"
    old, new = before.get("config") or {}, after.get("config") or {}
    platform = [key for key in _differing(old, new) if key != SERVICES_KEY]
    if platform:
        return f"{change.path}: {', '.join(platform)} (platform settings)"
    old_services, new_services = old.get(SERVICES_KEY) or {}, new.get(SERVICES_KEY) or {}
    names: set[str] = set()
    details: list[str] = []
    for name in _differing(old_services, new_services):
        was, now = old_services.get(name) or {}, new_services.get(name) or {}
        keys = _differing(was, now)
        wiring = [key for key in keys if key not in LOCAL_OVERRIDE_KEYS]
        if wiring:
            return f"{change.path}: {SERVICES_KEY}.{name}: {', '.join(wiring)}"
        if "env" in keys and (_has_secure(was.get("env")) or _has_secure(now.get("env"))):
            return f"{change.path}: {SERVICES_KEY}.{name}.env holds a secret (Key Vault)"
        names.add(name)
        details.append(f"{name}.{{{', '.join(keys)}}}")
    return frozenset(names), f"{change.path}: {', '.join(details) or 'formatting'}"


# ---------------------------------------------------------------------------------------------
# Git


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _git(repo: Path) -> Runner:
    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
        )

    return run


def _show(git: Runner, commit: str, path: str) -> str | None:
    shown = git(["show", f"{commit}:{path}"])
    return shown.stdout if shown.returncode == 0 else None


def _service_names(git: Runner, commit: str) -> set[str]:
    listed = git(["ls-tree", "--name-only", "-r", commit, "--", SERVICES_DIR])
    return {
        parts[1]
        for parts in (line.split("/") for line in listed.stdout.splitlines())
        if len(parts) == 3 and parts[2] == SPEC_FILE
    }


def scope_between(repo: Path, stack: str, base: str, head: str = "HEAD") -> Scope:
    """The scope of every change from `base` to `head` in the git repository `repo`."""
    git = _git(repo)
    if not base.strip():
        return whole("no base commit (first deployment, or none recorded)")
    for commit in (base, head):
        if git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"]).returncode != 0:
            return whole(f"commit {commit} is not in this clone (force-push or shallow clone)")
    diff = git(["diff", "--name-only", "--no-renames", "-z", base, head])
    if diff.returncode != 0:
        return whole(f"git diff failed: {diff.stderr.strip()}")
    paths = [path for path in diff.stdout.split("\0") if path]
    changes = [
        Change(path, _show(git, base, path), _show(git, head, path))
        if path.endswith(".yaml")
        else Change(path)
        for path in paths
    ]
    return scope_of(changes, stack, _service_names(git, base) | _service_names(git, head))


def github_outputs(scope: Scope, stack: str) -> dict[str, str]:
    """Step outputs for pulumi/actions: `target` takes a comma-separated list (empty: none)."""
    targets = scope.targets(stack)
    label = "stack" if scope.services is None else ",".join(sorted(scope.services)) or "none"
    # No service and no platform change (tests, docs): an untargeted run, which has nothing to
    # change unless the stack drifted, rather than an empty --target list.
    return {
        "targets": ",".join(targets),
        "target-dependents": "true" if targets else "false",
        "scope": label,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.affected", description=__doc__)
    parser.add_argument("--stack", required=True, help="stack name, e.g. staging or org/staging")
    parser.add_argument("--base", required=True, help="commit the stack runs (empty: unknown)")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument(
        "--github-output", action="store_true", help="also append to the file $GITHUB_OUTPUT"
    )
    options = parser.parse_args(argv)
    scope = scope_between(options.repo, options.stack, options.base, options.head)
    outputs = github_outputs(scope, options.stack)
    what = "the whole stack" if scope.services is None else outputs["scope"]
    print(f"{options.stack}: {what}", file=sys.stderr)
    for reason in scope.reasons:
        print(f"  {reason}", file=sys.stderr)
    lines = [f"{key}={value}" for key, value in outputs.items()]
    print("\n".join(lines))
    if options.github_output:
        with Path(os.environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
