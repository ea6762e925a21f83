"""Loading config: stack files parse, overrides merge as documented, Pulumi.yaml is complete."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml

from components.config.base import cpu_millicores, memory_bytes
from components.config.loader import ProgramConfig, load_program_config
from components.config.stack import StackConfig
from tests.synthesis import PROJECT_DIR
from tools.synth import read_stack_file


def _load(stack: str) -> ProgramConfig:
    return load_program_config(
        read_stack_file(PROJECT_DIR, stack).config, stack, PROJECT_DIR / "services"
    )


def test_staging_follows_the_seeds_staging_overrides() -> None:
    config = _load("staging")
    assert config.stack.log_level == "debug"
    for spec in config.services:
        assert spec.replicas == 1
        assert not spec.autoscaling.enabled
    # Sizing is overridden, wiring is not: the spec's own resources and calls survive.
    assert config.service("orders").calls == ("catalog", "inventory")
    assert config.service("orders").resources.limits.memory == "512Mi"


def test_production_autoscales_every_service_from_two() -> None:
    config = _load("production")
    for spec in config.services:
        assert spec.autoscaling.enabled
        assert spec.autoscaling.min_replicas >= 2
        assert spec.autoscaling.max_replicas >= 6
    assert config.stack.postgres.high_availability
    assert config.stack.postgres.geo_redundant_backup
    assert config.stack.rabbitmq.replicas == 3


def test_env_overrides_merge_key_by_key() -> None:
    raw = dict(read_stack_file(PROJECT_DIR, "staging").config)
    raw["micromart:services"] = '{"orders": {"env": {"FEATURE_X": "on"}}}'
    config = load_program_config(raw, "staging", PROJECT_DIR / "services")
    assert config.service("orders").env == {
        "AUTH_AUTHORITY": "https://auth.micromart.com",
        "FEATURE_X": "on",
    }


def test_without_the_stack_file_every_env_value_of_a_secret_key_is_secret() -> None:
    # The engine only says the whole `micromart:services` key is secret; which leaf was `secure:`
    # is unknown, so every stack env value is kept out of the ConfigMap (spec env never is secret).
    raw = dict(read_stack_file(PROJECT_DIR, "staging").config)
    raw["micromart:services"] = '{"orders": {"env": {"FEATURE_X": "on", "API_TOKEN": "t"}}}'
    config = load_program_config(
        raw, "staging", PROJECT_DIR / "services", secret_keys=["micromart:services"]
    )
    assert config.secret_env_of("orders") == {"FEATURE_X", "API_TOKEN"}
    assert config.secret_env_of("catalog") == frozenset()
    raw["micromart:services"] = '{"orders": {"env": {"FEATURE_X": "on"}}}'
    plain = load_program_config(raw, "staging", PROJECT_DIR / "services")
    assert plain.secret_env_of("orders") == frozenset()


def test_callers_follow_the_specs() -> None:
    config = _load("staging")
    assert config.callers_of("catalog") == ("gateway", "orders")
    assert config.callers_of("gateway") == ()


def test_every_stack_key_is_documented_in_pulumi_yaml() -> None:
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    documented = {key.split(":", 1)[1] for key in project["config"]}
    fields = {field.alias or name for name, field in StackConfig.model_fields.items()}
    assert documented == fields
    assert all(entry.get("description") for entry in project["config"].values())


def _keys(value: object, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [
            k
            for key, item in value.items()
            for k in [f"{path}{key}", *_keys(item, f"{path}{key}.")]
        ]
    return []


def test_stack_files_hold_no_secret_values() -> None:
    for stack_file in PROJECT_DIR.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(stack_file.read_text())["config"]
        keys = _keys(config)
        # Generated (pulumi_random) or `pulumi config set --secret`, never plaintext here.
        for word in ("password", "cookie", "token", "secure", "key"):
            assert not [k for k in keys if word in k.lower().rsplit(".", 1)[-1]], stack_file.name


@pytest.mark.parametrize(
    ("quantity", "millicores"),
    [("250m", Decimal(250)), ("1", Decimal(1000)), ("0.5", Decimal(500)), ("2.25", Decimal(2250))],
)
def test_cpu_quantities(quantity: str, millicores: Decimal) -> None:
    assert cpu_millicores(quantity) == millicores


@pytest.mark.parametrize(
    ("quantity", "size"),
    [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500M", 500 * 10**6), ("1024", 1024)],
)
def test_memory_quantities(quantity: str, size: int) -> None:
    assert memory_bytes(quantity) == size


@pytest.mark.parametrize("quantity", ["", "1.5Gi", "12MB", "-1Mi", "Mi"])
def test_bad_memory_quantities(quantity: str) -> None:
    with pytest.raises(ValueError, match="not a memory quantity"):
        memory_bytes(quantity)
