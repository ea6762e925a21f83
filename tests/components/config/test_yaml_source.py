"""Stack files are read by two YAML readers: the synth's (PyYAML, YAML 1.1) and the Pulumi CLI's
(YAML 1.2 core types). A plain scalar they would read differently must be refused, not guessed."""

from __future__ import annotations

import pytest

from components.config.errors import ConfigError
from components.config.yaml_source import core_schema_value, parse_yaml


@pytest.mark.parametrize(
    ("text", "yaml_1_1", "hint"),
    [
        ("no", "False", "write false"),
        ("on", "True", "write true"),
        ("Off", "False", "write false"),
        ("040", "32", "write 32"),
        ("1_024", "1024", "write 1024"),
        ("1:30", "90", "write 90"),
        ("0b101", "5", "write 5"),
        ("3e1", "'3e1'", "write 30.0 as a plain decimal number"),
        ("0o17", "'0o17'", "write 15 as a plain decimal number"),
    ],
)
def test_a_scalar_the_two_yaml_versions_read_differently_is_refused(
    text: str, yaml_1_1: str, hint: str
) -> None:
    source = f"config:\n  micromart:postgres:\n    storageGb: {text}\n".encode()
    with pytest.raises(ConfigError) as raised:
        parse_yaml(source, "Pulumi.staging.yaml")
    message = str(raised.value)
    assert message.startswith("Pulumi.staging.yaml:3: config.micromart:postgres.storageGb: ")
    assert f"'{text}' is {yaml_1_1} in YAML 1.1" in message
    assert hint in message


@pytest.mark.parametrize(
    "text", ["false", "True", "32", "+32", "-1", "0x20", "1.30", ".5", "10.40.0.0/16", "~", "x"]
)
def test_scalars_both_versions_agree_on_load(text: str) -> None:
    document = parse_yaml(f"value: {text}\n".encode(), "service.yaml")
    assert document.data["value"] == core_schema_value(text)


@pytest.mark.parametrize("text", ["'no'", '"040"', "'1_024'"])
def test_quoted_text_stays_text(text: str) -> None:
    document = parse_yaml(f"value: {text}\n".encode(), "service.yaml")
    assert document.data["value"] == text.strip("'\"")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("null", None),
        ("", None),
        ("TRUE", True),
        ("0o17", 15),
        ("0x1F", 31),
        ("012", 12),
        ("1e3", 1000.0),
        ("1_0", "1_0"),
        ("yes", "yes"),
    ],
)
def test_core_schema_resolution_follows_yaml_1_2(text: str, value: object) -> None:
    assert core_schema_value(text) == value
    assert type(core_schema_value(text)) is type(value)
