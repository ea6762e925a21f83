"""Secret env values (`pulumi config set --secret --path ...env.X`) stay out of ConfigMaps."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.components.microservice.objects import only_container, pod_environment
from tests.components.microservice.sources import APP_NS
from tests.synthesis import copy_project, edit_yaml, kube_object
from tools.cli import write_build
from tools.policy_check import blocking, check_stack, policy_config
from tools.recorder import SECRET_PLACEHOLDER
from tools.synth import ProgramError, StackInput, SynthResult, read_stack_file, synthesize

STACK = "staging"
SERVICE = "orders"
SECRET_NAME = "API_TOKEN"
PLAIN_NAME = "FEATURE_FLAGS"
PLAIN_VALUE = "checkout-v2"
# What the engine would hand the program after decrypting the `secure:` ciphertext.
DECRYPTED = "tok-4f9d2c71e8a3b650"
ROTATED = "tok-0b1e6a94d3c7f218"
CIPHERTEXT = "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBB"
CONFIG_HASH = "micromart.io/config-hash"
ENV_SECRET = f"{SERVICE}-env"


@dataclass(frozen=True)
class Synthesized:
    project: Path
    result: SynthResult


def _project(root: Path) -> Path:
    project = copy_project(root)

    def edit(document: dict[str, Any]) -> None:
        override = document["config"]["micromart:services"][SERVICE]
        override["env"] = {SECRET_NAME: {"secure": CIPHERTEXT}, PLAIN_NAME: PLAIN_VALUE}

    edit_yaml(project / f"Pulumi.{STACK}.yaml", edit)
    _declare_stack_secret(
        project, [{"namespace": APP_NS, "name": ENV_SECRET, "keys": [SECRET_NAME]}]
    )
    return project


def _declare_stack_secret(project: Path, entries: list[dict[str, Any]]) -> None:
    """The reviewed declaration the pack needs: it cannot see that a value came from config."""
    path = project / "policy" / "config" / f"{STACK}.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["k8s-secret-values-not-literal"] = {"stackSecrets": entries}
    path.write_text(json.dumps(config), encoding="utf-8")


def _decrypted(project: Path, value: str) -> StackInput:
    """The stack's config as the engine passes it once it decrypted the `secure:` value."""
    stack_input = read_stack_file(project, STACK)
    assert "micromart:services" in stack_input.secret_keys
    services = json.loads(stack_input.config["micromart:services"])
    assert services[SERVICE]["env"][SECRET_NAME] == SECRET_PLACEHOLDER
    services[SERVICE]["env"][SECRET_NAME] = value
    config = {**stack_input.config, "micromart:services": json.dumps(services)}
    return StackInput(config=config, secret_keys=stack_input.secret_keys)


def _synth(root: Path, value: str) -> Synthesized:
    project = _project(root)
    return Synthesized(project, synthesize(project, STACK, _decrypted(project, value)))


@pytest.fixture(scope="module")
def secret_env(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("secret-env"), DECRYPTED)


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synth(tmp_path_factory.mktemp("secret-env-rotated"), ROTATED)


def _deployment(result: SynthResult) -> dict[str, Any]:
    return kube_object(result, "Deployment", SERVICE, APP_NS)


def _recorded(result: SynthResult, kind: str, name: str) -> Any:
    return next(
        r
        for r in result.resources
        if r.is_kubernetes_object
        and r.inputs.get("kind") == kind
        and r.plain_inputs()["metadata"]["name"] == name
    )


def test_the_secret_value_goes_to_a_secret_referenced_by_key(secret_env: Synthesized) -> None:
    result = secret_env.result
    secret = kube_object(result, "Secret", ENV_SECRET, APP_NS)
    assert secret["stringData"] == {SECRET_NAME: DECRYPTED}
    # Kept a Pulumi secret (the whole map, as the provider marks it): masked when written out.
    recorded = _recorded(result, "Secret", ENV_SECRET)
    assert recorded.redacted_inputs()["stringData"] == SECRET_PLACEHOLDER
    env = {variable["name"]: variable for variable in only_container(_deployment(result))["env"]}
    assert env[SECRET_NAME] == {
        "name": SECRET_NAME,
        "valueFrom": {"secretKeyRef": {"name": ENV_SECRET, "key": SECRET_NAME}},
    }
    assert pod_environment(result, _deployment(result))[PLAIN_NAME] == PLAIN_VALUE


def test_the_config_map_holds_the_plain_values_only(secret_env: Synthesized) -> None:
    data = kube_object(secret_env.result, "ConfigMap", f"{SERVICE}-config", APP_NS)["data"]
    assert data[PLAIN_NAME] == PLAIN_VALUE
    assert SECRET_NAME not in data
    assert DECRYPTED not in json.dumps(data)


def test_only_the_service_with_secret_env_gets_an_env_secret(secret_env: Synthesized) -> None:
    names = {
        r.plain_inputs()["metadata"]["name"]
        for r in secret_env.result.resources
        if r.is_kubernetes_object and r.inputs.get("kind") == "Secret"
    }
    assert {name for name in names if name.endswith("-env")} == {ENV_SECRET}


def test_the_rollout_digest_changes_with_the_value_without_revealing_it(
    secret_env: Synthesized, rotated: Synthesized
) -> None:
    first = _deployment(secret_env.result)["spec"]["template"]["metadata"]["annotations"]
    second = _deployment(rotated.result)["spec"]["template"]["metadata"]["annotations"]
    assert first[CONFIG_HASH] != second[CONFIG_HASH]
    for value, digest in ((DECRYPTED, first[CONFIG_HASH]), (ROTATED, second[CONFIG_HASH])):
        assert value not in digest
        # Not a plain hash anyone who may read Deployments could test guesses against.
        for guess in (value, json.dumps({SECRET_NAME: value})):
            assert hashlib.sha256(guess.encode()).hexdigest()[:16] != digest
    recorded = _recorded(secret_env.result, "Deployment", SERVICE)
    annotations = recorded.redacted_inputs()["spec"]["template"]["metadata"]["annotations"]
    assert annotations[CONFIG_HASH] == SECRET_PLACEHOLDER


def test_the_value_is_never_written_to_the_build_and_the_pack_passes(
    secret_env: Synthesized, tmp_path: Path
) -> None:
    findings = check_stack(secret_env.result, secret_env.project)
    assert [f for f in findings if f.level == "mandatory"] == blocking(findings) == []
    flagged = [f for f in findings if SERVICE in f.urn and "secret" in f.policy]
    assert flagged == []
    target = tmp_path / "build" / STACK
    write_build(secret_env.result, findings, target, policy_config(secret_env.project, STACK))
    written = [path for path in target.rglob("*") if path.is_file()]
    assert any(path.name == f"secret-{SERVICE}-env.yaml" for path in written)
    for path in written:
        assert DECRYPTED not in path.read_text(encoding="utf-8"), path


def test_the_pack_blocks_the_secret_unless_declared_exactly(secret_env: Synthesized) -> None:
    # The engine shows the pack no trace of config secrets: without the declaration the value
    # is indistinguishable from a literal in code, and a malformed declaration is refused.
    _declare_stack_secret(secret_env.project, [])
    try:
        findings = blocking(check_stack(secret_env.result, secret_env.project))
        assert [(f.policy, ENV_SECRET in f.message) for f in findings] == [
            ("k8s-secret-values-not-literal", True)
        ]
        _declare_stack_secret(secret_env.project, [{"namespace": APP_NS, "name": ENV_SECRET}])
        with pytest.raises(ProgramError, match="keys"):
            check_stack(secret_env.result, secret_env.project)
    finally:
        _declare_stack_secret(
            secret_env.project,
            [{"namespace": APP_NS, "name": ENV_SECRET, "keys": [SECRET_NAME]}],
        )
