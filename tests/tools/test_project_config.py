"""The Pulumi CLI's config checks, emulated: the real stack files pass, broken copies fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.errors import ConfigError
from tests.synthesis import copy_project
from tools.project_config import Items, load_stack_config, validate_config_value

PLACEHOLDER = "[secret]"


def _without_defaults(project: Path, *keys: str) -> None:
    """Pulumi.yaml as it was before the defaults: those keys declared without `default`."""
    path = project / "Pulumi.yaml"
    text = path.read_text(encoding="utf-8")
    for key in keys:
        declaration = f"  micromart:{key}:\n    type: object\n    default: {{}}\n"
        assert declaration in text
        text = text.replace(declaration, f"  micromart:{key}:\n    type: object\n")
    path.write_text(text, encoding="utf-8")


def _replace(project: Path, name: str, old: str, new: str) -> None:
    path = project / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _fails(project: Path, stack: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_stack_config(project, stack, PLACEHOLDER)
    return str(caught.value)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_both_stack_files_pass_the_cli_checks_with_project_defaults_applied(stack: str) -> None:
    config, secret_keys = load_stack_config(Path(__file__).resolve().parents[2], stack, PLACEHOLDER)
    assert secret_keys == []
    # Keys a stack does not set arrive with the project's default, as the CLI applies them.
    assert json.loads(config["micromart:images"]) == {}
    if stack == "staging":
        assert json.loads(config["micromart:quota"]) == {}


def test_the_old_project_file_is_refused_as_the_cli_refused_it(tmp_path: Path) -> None:
    """Issue 10, defect 1: without defaults both stacks miss keys (the old synth said nothing)."""
    project = copy_project(tmp_path / "project")
    _without_defaults(project, "images", "quota")
    assert _fails(project, "staging") == (
        "Pulumi.staging.yaml: Stack 'staging' is missing configuration values "
        "'micromart:images' and 'micromart:quota'"
    )
    assert _fails(project, "production") == (
        "Pulumi.production.yaml: Stack 'production' is missing configuration value "
        "'micromart:images'"
    )


def test_three_missing_keys_are_listed_like_the_cli(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _without_defaults(project, "images", "quota", "tags")
    _replace(project, "Pulumi.staging.yaml", "  micromart:tags:\n", "  unused:\n")
    message = _fails(project, "staging")
    assert message.endswith(
        "missing configuration values 'micromart:images', 'micromart:quota' and 'micromart:tags'"
    )


def test_a_wrong_declared_type_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _replace(
        project, "Pulumi.staging.yaml", "micromart:logLevel: debug", "micromart:logLevel: [debug]"
    )
    assert _fails(project, "staging") == (
        "Pulumi.staging.yaml:6: micromart:logLevel: Stack 'staging' with configuration key "
        "'micromart:logLevel' must be of type 'string' (got ['debug'])"
    )


def test_a_secure_value_where_the_type_cannot_be_checked_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _replace(
        project,
        "Pulumi.staging.yaml",
        "  micromart:ingress:\n    hostname: staging.micromart.example.com\n"
        "    tlsSecretName: micromart-staging-tls\n    certificateName: micromart-public-tls\n",
        "  micromart:ingress:\n    secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBB\n",
    )
    assert "a secure value cannot be checked against type 'object' offline" in _fails(
        project, "staging"
    )


def test_a_secret_declared_key_must_be_secure(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _replace(
        project,
        "Pulumi.yaml",
        "  micromart:location:\n",
        "  micromart:location:\n    secret: true\n",
    )
    assert "must be encrypted as it's secret" in _fails(project, "staging")
    _replace(
        project,
        "Pulumi.staging.yaml",
        "micromart:location: westeurope",
        "micromart:location: {secure: v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBB}",
    )
    config, secret_keys = load_stack_config(project, "staging", PLACEHOLDER)
    assert config["micromart:location"] == PLACEHOLDER
    assert secret_keys == ["micromart:location"]


def test_keys_of_other_namespaces_need_a_value_not_a_type(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _replace(
        project,
        "Pulumi.yaml",
        "config:\n",
        "config:\n  azure-native:location:\n    type: string\n",
    )
    assert "is not namespaced by the project and should not define a type" in _fails(
        project, "staging"
    )


def test_shorthand_values_are_defaults(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _replace(project, "Pulumi.yaml", "config:\n", "config:\n  azure-native:location: westeurope\n")
    config, _ = load_stack_config(project, "staging", PLACEHOLDER)
    assert config["azure-native:location"] == "westeurope"


@pytest.mark.parametrize(
    ("type_name", "items", "value", "accepted"),
    [
        ("string", None, "x", True),
        ("string", None, {"a": 1}, False),
        ("integer", None, "3", True),
        ("integer", None, 3.0, True),
        ("integer", None, "3.5", False),
        ("integer", None, True, False),
        ("boolean", None, "true", True),
        ("boolean", None, "yes", False),
        ("object", None, {}, True),
        ("object", None, "{}", False),
        ("array", Items("integer", None), [1, "2"], True),
        ("array", Items("integer", None), [1, "x"], False),
        ("array", None, [1], False),
    ],
)
def test_type_checks_follow_validate_config_value(
    type_name: str, items: Items | None, value: Any, accepted: bool
) -> None:
    assert validate_config_value(type_name, items, value) is accepted
