"""Secret env values (`pulumi config set --secret --path ...env.X`) become Key Vault secrets that
only the service's own identity may read, mounted as files: never a ConfigMap, a Secret or env."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.components.microservice.objects import only_container, pod_environment
from tests.components.microservice.sources import APP_NS
from tests.synthesis import copy_project, edit_yaml, kube_object
from tools.cli import write_build
from tools.policy_check import blocking, check_stack, policy_config
from tools.recorder import SECRET_PLACEHOLDER
from tools.synth import StackInput, SynthResult, read_stack_file, synthesize

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
VAULT_SECRET = f"{SERVICE}-env-api-token"
KEYVAULT_SECRET = "azure-native:keyvault:Secret"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


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
    return project


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


def _vault_secret(result: SynthResult) -> Any:
    (secret,) = [
        r for r in result.by_type(KEYVAULT_SECRET) if r.plain_inputs()["secretName"] == VAULT_SECRET
    ]
    return secret


def test_the_secret_value_goes_to_key_vault_as_a_secret(secret_env: Synthesized) -> None:
    secret = _vault_secret(secret_env.result)
    assert secret.plain_inputs()["properties"]["value"] == DECRYPTED
    # Kept a Pulumi secret: masked in the plan and in state.
    assert secret.redacted_inputs()["properties"]["value"] == SECRET_PLACEHOLDER


def test_the_pod_reads_it_as_a_file_named_by_the_key_and_never_from_env(
    secret_env: Synthesized,
) -> None:
    result = secret_env.result
    container = only_container(_deployment(result))
    assert [variable["name"] for variable in container["env"]] == ["PORT", "METRICS_PORT"]
    environment = pod_environment(result, _deployment(result))
    assert environment[PLAIN_NAME] == PLAIN_VALUE
    assert SECRET_NAME not in environment
    assert SECRET_NAME in environment["REQUIRED_SECRETS"].split(",")
    provider_class = kube_object(result, "SecretProviderClass", f"{SERVICE}-secrets", APP_NS)
    objects = yaml.safe_load(provider_class["spec"]["parameters"]["objects"])["array"]
    aliases = {yaml.safe_load(item)["objectAlias"]: yaml.safe_load(item) for item in objects}
    assert aliases[SECRET_NAME]["objectName"] == VAULT_SECRET


def test_only_the_services_own_identity_may_read_it(secret_env: Synthesized) -> None:
    result = secret_env.result
    secret = _vault_secret(result)
    readers = [r for r in result.by_type(ROLE_ASSIGNMENT) if r.plain_inputs()["scope"] == secret.id]
    assert [r.urn.rsplit("::", 1)[1] for r in readers] == [f"{SERVICE}-reads-{VAULT_SECRET}"]


def test_the_config_map_holds_the_plain_values_only(secret_env: Synthesized) -> None:
    data = kube_object(secret_env.result, "ConfigMap", f"{SERVICE}-config", APP_NS)["data"]
    assert data[PLAIN_NAME] == PLAIN_VALUE
    assert SECRET_NAME not in data
    assert DECRYPTED not in json.dumps(data)


def test_no_kubernetes_secret_carries_it(secret_env: Synthesized) -> None:
    for resource in secret_env.result.resources:
        if resource.is_kubernetes_object:
            assert DECRYPTED not in json.dumps(resource.plain_inputs()), resource.urn


def test_a_new_value_rotates_the_file_without_rolling_the_pods(
    secret_env: Synthesized, rotated: Synthesized
) -> None:
    # The CSI driver rewrites the mounted file when the Key Vault secret changes; the pod
    # template, and so the Deployment, stays the same: only the vault secret changes.
    first = _deployment(secret_env.result)["spec"]["template"]
    second = _deployment(rotated.result)["spec"]["template"]
    assert first == second
    assert isinstance(first["metadata"]["annotations"][CONFIG_HASH], str)
    assert _vault_secret(rotated.result).plain_inputs()["properties"]["value"] == ROTATED


def test_the_value_is_never_written_to_the_build_and_the_pack_passes(
    secret_env: Synthesized, tmp_path: Path
) -> None:
    findings = check_stack(secret_env.result, secret_env.project)
    assert [f for f in findings if f.level == "mandatory"] == blocking(findings) == []
    target = tmp_path / "build" / STACK
    write_build(secret_env.result, findings, target, policy_config(secret_env.project, STACK))
    written = [path for path in target.rglob("*") if path.is_file()]
    assert written
    for path in written:
        assert DECRYPTED not in path.read_text(encoding="utf-8"), path
