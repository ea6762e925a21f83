"""The offline synth: deterministic, secret-free, atomic, and honest exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml
from tools import cli
from tools.policy_check import check_stack
from tools.recorder import RESOURCE_SIG, SECRET_SIG, SIG_KEY, RecordedResource
from tools.synth import (
    STACK_TYPE,
    ProgramError,
    SynthResult,
    assert_unique_urns,
    synthesize,
)


def _files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _secret_values(value: Any) -> list[str]:
    """Every plain value wrapped in the wire format's secret envelope, at any depth."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            inner = value.get("value")
            return [inner] if isinstance(inner, str) else _strings(inner)
        return [found for item in value.values() for found in _secret_values(item)]
    if isinstance(value, list):
        return [found for item in value for found in _secret_values(item)]
    return []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.fixture(scope="module")
def staging_build(staging: SynthResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("first") / "staging"
    cli.write_build(staging, check_stack(staging, PROJECT_DIR), target)
    return target


def test_two_runs_write_byte_identical_builds(staging_build: Path, tmp_path: Path) -> None:
    again = synthesize(PROJECT_DIR, "staging")
    target = tmp_path / "staging"
    cli.write_build(again, check_stack(again, PROJECT_DIR), target)
    first, second = _files(staging_build), _files(target)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert any(name.startswith("manifests/") for name in first)


def test_plan_lists_every_resource_sorted_with_the_documented_fields(
    staging: SynthResult, staging_build: Path
) -> None:
    plan = json.loads((staging_build / "plan.json").read_text())
    assert plan["stack"] == "staging"
    urns = [entry["urn"] for entry in plan["resources"]]
    assert urns == sorted(urns)
    assert len(urns) == len(set(urns)) == len(staging.resources)
    recorded = {r.urn: r for r in staging.resources}
    for entry in plan["resources"]:
        assert set(entry) == {"urn", "type", "name", "parent", "provider", "dependencies", "inputs"}
        resource = recorded[entry["urn"]]
        assert (entry["type"], entry["name"], entry["parent"]) == (
            resource.type,
            resource.name,
            resource.parent,
        )
        assert entry["provider"] == resource.provider
        assert entry["dependencies"] == sorted(set(resource.dependencies))
        assert entry["inputs"] == _as_written(resource.inputs), entry["urn"]


def _as_written(value: Any) -> Any:
    """What the plan must say for a wire-format value: secrets masked, resource references as
    their URN, whole numbers as integers (an oracle written apart from the recorder's)."""
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    if isinstance(value, float) and value == int(value):
        return int(value)
    if not isinstance(value, dict):
        return value
    signature = value.get(SIG_KEY)
    if signature == SECRET_SIG:
        return "[secret]"
    if signature == RESOURCE_SIG:
        return value["urn"]
    return {key: _as_written(item) for key, item in value.items() if key != SIG_KEY}


def test_whole_numbers_are_written_as_integers(staging_build: Path) -> None:
    deployment = yaml.safe_load(
        (staging_build / "manifests/micromart/deployment-orders.yaml").read_text()
    )
    assert deployment["spec"]["replicas"] == 1
    assert isinstance(deployment["spec"]["replicas"], int)
    assert "1.0" not in (staging_build / "plan.json").read_text().replace("10.", "")


def test_no_secret_value_reaches_build_or_stack_files(
    staging: SynthResult, staging_build: Path
) -> None:
    secrets = {s for r in staging.resources for s in _secret_values(r.inputs) if len(s) >= 8}
    # Passwords, cookies, connection strings and the kubeconfig at least.
    assert len(secrets) >= 5
    written = {**_files(staging_build)}
    for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml"):
        written[stack_file.name] = stack_file.read_bytes()
    leaks = [
        (name, secret[:6])
        for name, content in written.items()
        for secret in secrets
        if secret.encode() in content
    ]
    assert leaks == []
    assert "[secret]" in (staging_build / "plan.json").read_text()


def test_secret_manifests_keep_keys_and_mask_values(staging_build: Path) -> None:
    secret = yaml.safe_load(
        (
            staging_build / "manifests/micromart-messaging/secret-rabbitmq-credentials.yaml"
        ).read_text()
    )
    assert secret["stringData"] == {"definitions.json": "[secret]", "erlang-cookie": "[secret]"}


def test_duplicate_urns_are_refused() -> None:
    def resource(urn: str) -> RecordedResource:
        return RecordedResource(urn, "t", "n", "", "", (), {}, {}, False, True)

    assert_unique_urns((resource("a"), resource("b")))
    with pytest.raises(ProgramError, match="duplicate resource URN: a"):
        assert_unique_urns((resource("a"), resource("a")))


def test_failed_write_leaves_the_previous_build(
    staging: SynthResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "staging"
    target.mkdir()
    (target / "plan.json").write_text("previous\n")

    def fail(*_: Any, **__: Any) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(yaml, "safe_dump", fail)
    with pytest.raises(OSError, match="disk full"):
        cli.write_build(staging, [], target)
    assert _files(tmp_path) == {"staging/plan.json": b"previous\n"}


def test_stack_resource_is_the_only_root(staging: SynthResult) -> None:
    roots = [r for r in staging.resources if not r.parent]
    assert [r.type for r in roots] == [STACK_TYPE]


def test_synth_exits_0_for_both_real_stacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for stack in ("staging", "production"):
        code = cli.main(
            ["--stack", stack, "--out", str(tmp_path), "--project-dir", str(PROJECT_DIR)]
        )
        assert code == cli.EXIT_OK, capsys.readouterr().out
        violations = json.loads((tmp_path / stack / "policy.json").read_text())["violations"]
        assert [v for v in violations if v["level"] == "mandatory"] == []
    summary = capsys.readouterr().out
    assert "micromart:service:Microservice" in summary
    assert "policy: 0 mandatory" in summary


def test_broken_spec_exits_1_naming_the_rule_and_passes_once_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = copy_project(tmp_path / "project")
    stack_file = project / "Pulumi.production.yaml"
    original = stack_file.read_text()

    def single_replica(document: dict[str, Any]) -> None:
        document["config"]["micromart:services"]["orders"] = {
            "replicas": 1,
            "autoscaling": {"enabled": False},
        }

    edit_yaml(stack_file, single_replica)
    args = ["--stack", "production", "--project-dir", str(project), "--out", str(tmp_path / "b")]
    assert cli.main(args) == cli.EXIT_VIOLATION
    output = capsys.readouterr().out
    assert "[mandatory] k8s-minimum-replicas" in output
    assert "Deployment::orders-stable" in output
    violations = json.loads((tmp_path / "b/production/policy.json").read_text())["violations"]
    assert {v["policy"] for v in violations} == {"k8s-minimum-replicas"}
    assert set(violations[0]) == {"policy", "level", "urn", "message"}

    stack_file.write_text(original)
    assert cli.main(args) == cli.EXIT_OK
