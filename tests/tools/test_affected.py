"""tools.affected: which services a change touches, and whether targeting them is sound.

The path rules are checked on their own (and with Hypothesis over file names); the claim behind
LOCAL_SPEC_KEYS is checked against the real program: a synth with every one of those keys
changed for one service changes no resource outside that service's Microservice, whose URN is
exactly the one CI passes to `--target`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.blast_radius import changed_urns, owners
from tests.synthesis import MICROSERVICE, copy_project, edit_yaml
from tools import affected
from tools.affected import Change, scope_of, service_urn
from tools.synth import SynthResult, synthesize

SERVICES = ("catalog", "gateway", "inventory", "notifications", "orders")
DIGEST = "sha256:" + "ab" * 32
ROOT_STACK = "pulumi:pulumi:Stack"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12)
relative = st.lists(names.filter(lambda n: n not in {".", ".."}), min_size=1, max_size=4).map(
    "/".join
)


def _scope(*changes: Change, stack: str = "staging") -> affected.Scope:
    return scope_of(changes, stack, SERVICES)


def _spec(**changes: Any) -> str:
    spec: dict[str, Any] = {
        "name": "orders",
        "description": "Orders",
        "resources": {"requests": {"cpu": "100m"}},
        "calls": ["catalog"],
        "postgres": {"database": "orders"},
    }
    spec.update(changes)
    return yaml.safe_dump(spec)


def _stack_file(**services: Any) -> str:
    config: dict[str, Any] = {"micromart:logLevel": "info", "micromart:services": services}
    return yaml.safe_dump({"config": config})


# ---------------------------------------------------------------------------------------------
# Paths


@given(service=st.sampled_from(SERVICES), path=relative)
def test_a_file_of_one_service_app_affects_only_that_service(service: str, path: str) -> None:
    scope = _scope(Change(f"services/{service}/app/{path}"))
    assert scope.services == frozenset({service})
    assert scope.targets("org/staging") == [
        f"urn:pulumi:staging::micromart::micromart:service:Microservice::{service}"
    ]


@given(picked=st.sets(st.sampled_from(SERVICES), min_size=1))
def test_several_services_changed_are_all_targeted(picked: set[str]) -> None:
    scope = _scope(*(Change(f"services/{name}/Dockerfile") for name in picked))
    assert scope.services == frozenset(picked)
    assert len(scope.targets("production")) == len(picked)


@pytest.mark.parametrize(
    "path",
    [
        "services/micromart_runtime/__init__.py",
        "services/requirements.txt",
        "services/.dockerignore",
        "components/microservice/deployment.py",
        "__main__.py",
        "Pulumi.yaml",
        "policy/rules/pods.py",
        "uv.lock",
        ".github/workflows/main.yml",
        "services/newsvc/app/main.py",
    ],
)
def test_shared_and_platform_inputs_affect_the_whole_stack(path: str) -> None:
    scope = _scope(Change("services/orders/app/main.py"), Change(path))
    assert scope.whole_stack
    assert scope.targets("staging") == []
    assert path in scope.reasons[0]


@pytest.mark.parametrize(
    "path", ["tests/tools/test_x.py", "README.md", "benchmarks/cli.py", "Pulumi.production.yaml"]
)
def test_inert_paths_add_nothing(path: str) -> None:
    assert _scope(Change(path), Change("services/catalog/app/x.py")).services == frozenset(
        {"catalog"}
    )
    assert _scope(Change(path)).services == frozenset()


# ---------------------------------------------------------------------------------------------
# service.yaml and the stack file


def _spec_change(**after: Any) -> Change:
    return Change("services/orders/service.yaml", _spec(), _spec(**after))


@pytest.mark.parametrize(
    "edit",
    [
        {"resources": {"requests": {"cpu": "200m"}}},
        {"replicas": 3},
        {"env": {"FEATURE": "on"}},
        {"canary": {"tag": "v2", "weight": 10}},
    ],
)
def test_a_sizing_or_rollout_edit_of_a_spec_is_that_service_only(edit: dict[str, Any]) -> None:
    assert _scope(_spec_change(**edit)).services == frozenset({"orders"})


@pytest.mark.parametrize(
    "edit",
    [
        {"calls": ["catalog", "inventory"]},
        {"postgres": None},
        {"rabbitmq": True},
        {"port": 9090},
        {"public": True},
    ],
)
def test_a_wiring_edit_of_a_spec_is_the_whole_stack(edit: dict[str, Any]) -> None:
    scope = _scope(_spec_change(**edit))
    assert scope.whole_stack
    assert next(iter(edit)) in scope.reasons[0]


def test_a_new_or_removed_service_is_the_whole_stack() -> None:
    assert _scope(Change("services/orders/service.yaml", None, _spec())).whole_stack
    assert _scope(Change("services/orders/service.yaml", _spec(), None)).whole_stack


def test_a_stack_override_of_one_service_targets_that_service() -> None:
    change = Change(
        "Pulumi.staging.yaml",
        _stack_file(orders={"replicas": 1}),
        _stack_file(orders={"replicas": 2}, catalog={"blueGreen": {"live": "blue"}}),
    )
    assert _scope(change).services == frozenset({"orders", "catalog"})
    assert _scope(change, stack="production").services == frozenset()


def test_a_secret_env_override_or_a_platform_setting_is_the_whole_stack() -> None:
    secret = Change(
        "Pulumi.staging.yaml",
        _stack_file(orders={}),
        _stack_file(orders={"env": {"API_KEY": {"secure": "AAAB"}}}),
    )
    assert _scope(secret).whole_stack
    platform = Change(
        "Pulumi.staging.yaml",
        _stack_file(),
        _stack_file().replace("micromart:logLevel: info", "micromart:logLevel: debug"),
    )
    assert "micromart:logLevel" in _scope(platform).reasons[0]


def test_outputs_for_pulumi_actions() -> None:
    targeted = affected.github_outputs(_scope(Change("services/orders/Dockerfile")), "org/prod")
    assert targeted == {
        "targets": "urn:pulumi:prod::micromart::micromart:service:Microservice::orders",
        "target-dependents": "true",
        "scope": "orders",
    }
    untargeted = affected.github_outputs(_scope(Change("__main__.py")), "staging")
    assert untargeted == {"targets": "", "target-dependents": "false", "scope": "stack"}
    nothing = affected.github_outputs(_scope(Change("README.md")), "staging")
    assert nothing == {"targets": "", "target-dependents": "false", "scope": "none"}


# ---------------------------------------------------------------------------------------------
# Git


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """base -> app edit of orders -> sizing edit of catalog -> runtime edit."""
    repo = tmp_path_factory.mktemp("repo")
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    commits = []
    for name in ("orders", "catalog"):
        (repo / "services" / name / "app").mkdir(parents=True)
        (repo / "services" / name / "service.yaml").write_text(_spec(name=name), "utf-8")
        (repo / "services" / name / "app" / "main.py").write_text("", "utf-8")
    (repo / "services" / "micromart_runtime").mkdir()
    (repo / "services" / "micromart_runtime" / "__init__.py").write_text("", "utf-8")
    edits = [
        ("services/orders/app/main.py", "x = 1\n"),
        ("services/catalog/service.yaml", _spec(name="catalog", replicas=4)),
        ("services/micromart_runtime/__init__.py", "y = 2\n"),
    ]
    for path, text in [("README.md", "base\n"), *edits]:
        (repo / path).write_text(text, "utf-8")
        _git(repo, "add", "--all")
        _git(repo, "commit", "--quiet", "--message", path)
        commits.append(_git(repo, "rev-parse", "HEAD"))
    return repo, commits


def test_scope_between_commits(history: tuple[Path, list[str]]) -> None:
    repo, (base, app, sizing, runtime) = history
    assert affected.scope_between(repo, "staging", base, app).services == frozenset({"orders"})
    assert affected.scope_between(repo, "staging", base, sizing).services == frozenset(
        {"orders", "catalog"}
    )
    assert affected.scope_between(repo, "staging", app, sizing).services == frozenset({"catalog"})
    assert affected.scope_between(repo, "staging", sizing, runtime).whole_stack


@pytest.mark.parametrize("base", ["", "0" * 40, "no-such-ref"])
def test_an_unknown_base_is_the_whole_stack(history: tuple[Path, list[str]], base: str) -> None:
    assert affected.scope_between(history[0], "staging", base).whole_stack


def test_cli_appends_github_outputs(
    history: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, (base, app, *_) = history
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n", "utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    argv = ["--stack", "org/staging", "--base", base, "--head", app, "--repo", str(repo)]
    assert affected.main([*argv, "--github-output"]) == 0
    assert output.read_text("utf-8").splitlines() == [
        "earlier=1",
        f"targets={service_urn('staging', 'orders')}",
        "target-dependents=true",
        "scope=orders",
    ]


# ---------------------------------------------------------------------------------------------
# Soundness against the real program


def _local_edits(track: str) -> dict[str, Any]:
    """A new value for every LOCAL_SPEC_KEY; canary and blue-green exclude each other."""
    edits: dict[str, Any] = {
        "description": "Orders, edited",
        "probes": {"liveness": "/health/live", "readiness": "/health/ready"},
        "resources": {
            "requests": {"cpu": "150m", "memory": "160Mi"},
            "limits": {"cpu": "600m", "memory": "640Mi"},
        },
        "replicas": 3,
        # With a queue trigger: KEDA objects replace the HPA, still inside the service.
        "autoscaling": {
            "minReplicas": 3,
            "maxReplicas": 9,
            "targetCpuUtilization": 60,
            "queue": {"queue": "orders", "messagesPerReplica": 20},
        },
        "env": {"AUTH_AUTHORITY": "https://auth.micromart.com", "FEATURE_X": "on"},
        "traffic": {"timeoutSeconds": 7},
        "image": {"digest": DIGEST},
    }
    if track == "canary":
        edits["canary"] = {"tag": "release-2", "weight": 10}
    else:
        edits["blueGreen"] = {"live": "blue", "green": {"tag": "release-2"}}
    return edits


# Production autoscales orders, so its queue trigger really yields KEDA objects there; staging
# (no autoscaling) covers the other stack file.
@pytest.mark.parametrize(("stack", "track"), [("production", "canary"), ("staging", "blueGreen")])
def test_local_spec_keys_change_only_that_service(
    request: pytest.FixtureRequest, tmp_path: Path, stack: str, track: str
) -> None:
    baseline: SynthResult = request.getfixturevalue(stack)
    edits = _local_edits(track)
    assert set(edits) == affected.LOCAL_SPEC_KEYS - {"canary", "blueGreen"} | {track}
    project = copy_project(tmp_path / "project")
    spec_path = project / "services" / "orders" / "service.yaml"
    before = spec_path.read_text("utf-8")
    edit_yaml(spec_path, lambda spec: spec.update(edits))
    after = spec_path.read_text("utf-8")
    scope = scope_of([Change("services/orders/service.yaml", before, after)], stack, SERVICES)
    assert scope.services == frozenset({"orders"})

    edited = synthesize(project, stack)
    changed = changed_urns(baseline, edited)
    owner = {**owners(baseline.resources), **owners(edited.resources)}
    assert changed, "the edit changed nothing: the test proves nothing"
    assert [urn for urn in changed if owner[urn] != "orders"] == []
    if stack == "production":
        assert any(urn.endswith("::orders-scaled-object") for urn in changed), changed
    # The URN CI targets is the component's real URN, and every changed resource is under it.
    component = next(r for r in edited.resources if r.type == MICROSERVICE and r.name == "orders")
    assert scope.targets(stack) == [_engine_urn(component.urn)]
    by_urn = {r.urn: r for r in (*baseline.resources, *edited.resources)}
    for urn in changed:
        parent = by_urn[urn].parent
        while parent in by_urn and parent != component.urn:
            parent = by_urn[parent].parent
        assert component.urn in (parent, urn), urn


def _engine_urn(urn: str) -> str:
    # The mocks name a top-level component under the stack's type; the engine leaves the root
    # stack's type out of a URN (pulumi/pulumi pkg/resource/deploy/deployment.go, generateURN).
    return urn.replace(f"::{ROOT_STACK}$", "::")


def test_the_target_urn_is_each_microservice_urn(staging: SynthResult) -> None:
    components = {r.name: _engine_urn(r.urn) for r in staging.resources if r.type == MICROSERVICE}
    assert sorted(components) == list(SERVICES)
    assert {name: service_urn("acme/staging", name) for name in components} == components
