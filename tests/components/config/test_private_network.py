"""Stack config for private production: registry private endpoint, NAT, API server ranges,
maintenance window. Each bad value fails with a message naming the key and the rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config.loader import ConfigError, load_program_config
from tests.synthesis import PROJECT_DIR
from tools.synth import read_stack_file


def _load(stack: str, key: str, edit: Any) -> Any:
    raw = dict(read_stack_file(PROJECT_DIR, stack).config)
    value = json.loads(raw[f"micromart:{key}"])
    edit(value)
    raw[f"micromart:{key}"] = json.dumps(value)
    return load_program_config(raw, stack, PROJECT_DIR / "services")


def _fails(stack: str, key: str, edit: Any, *needles: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(stack, key, edit)
    message = str(caught.value)
    assert f"micromart:{key}" in message
    for needle in needles:
        assert needle in message


def test_production_is_private() -> None:
    stack = _load("production", "registry", lambda r: None).stack
    assert stack.registry.private_network and stack.registry.sku == "Premium"
    assert stack.network.private_endpoint_subnet == "10.50.17.0/24"
    assert stack.network.nat_gateway
    assert stack.cluster.api_server_authorized_ip_ranges
    assert stack.cluster.maintenance_window is not None


def test_private_registry_needs_premium() -> None:
    def edit(registry: dict[str, Any]) -> None:
        registry.update(sku="Standard", zoneRedundancy=False, privateNetwork=True)
        registry.pop("retentionDays")

    _fails("production", "registry", edit, "privateNetwork needs sku Premium")


def test_private_registry_needs_an_endpoint_subnet() -> None:
    with pytest.raises(ConfigError, match=r"network\.privateEndpointSubnet"):
        _load("production", "network", lambda n: n.pop("privateEndpointSubnet"))


def test_endpoint_subnet_must_not_overlap() -> None:
    _fails(
        "production",
        "network",
        lambda n: n.update(privateEndpointSubnet="10.50.16.128/25"),
        "postgresSubnet (10.50.16.0/24) overlaps privateEndpointSubnet (10.50.16.128/25)",
    )


@pytest.mark.parametrize(
    ("ranges", "rule"),
    [
        (["10.0.0.0/24"], "overlaps a private range"),
        (["0.0.0.0/0"], "wider than /8"),
        (["20.1.2.3/24"], "not an IPv4 CIDR"),
        (["any"], "'any' is not an IPv4 CIDR"),
    ],
)
def test_authorized_ranges_must_be_public_cidrs(ranges: list[str], rule: str) -> None:
    _fails(
        "staging",
        "cluster",
        lambda c: c.update(apiServerAuthorizedIpRanges=ranges),
        "apiServerAuthorizedIpRanges",
        rule,
    )


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"dayOfWeek": "Sun", "startTime": "02:00"}, "dayOfWeek"),
        ({"dayOfWeek": "Sunday", "startTime": "25:00"}, "startTime"),
        ({"dayOfWeek": "Sunday", "startTime": "02:00", "durationHours": 2}, "durationHours"),
    ],
)
def test_maintenance_window_is_validated(window: dict[str, Any], field: str) -> None:
    _fails("production", "cluster", lambda c: c.update(maintenanceWindow=window), field)
