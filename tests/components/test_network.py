"""Network component: VNet with an AKS subnet and a delegated Postgres subnet, private DNS."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.synthesis import PROJECT_DIR, only
from tools.synth import SynthResult

VNET = "azure-native:network:VirtualNetwork"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"
STACKS = ("staging", "production")


@cache
def network_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]["micromart:network"]
    return config


def subnets(result: SynthResult) -> dict[str, dict[str, Any]]:
    declared = only(result, VNET).plain_inputs()["subnets"]
    by_name = {subnet["name"]: subnet for subnet in declared}
    assert len(by_name) == len(declared), "subnet names must be unique"
    return by_name


def test_vnet_address_space_follows_the_stack_file(result: SynthResult) -> None:
    inputs = only(result, VNET).plain_inputs()
    assert inputs["addressSpace"] == {
        "addressPrefixes": [network_config(result.stack)["addressSpace"]]
    }


def test_vnet_has_exactly_an_aks_and_a_postgres_subnet(result: SynthResult) -> None:
    config = network_config(result.stack)
    declared = subnets(result)
    assert set(declared) == {"aks", "postgres"}
    assert declared["aks"]["addressPrefix"] == config["aksSubnet"]
    assert declared["postgres"]["addressPrefix"] == config["postgresSubnet"]


def test_only_the_postgres_subnet_is_delegated_to_flexible_server(result: SynthResult) -> None:
    declared = subnets(result)
    delegations = declared["postgres"]["delegations"]
    assert [d["serviceName"] for d in delegations] == [POSTGRES_DELEGATION]
    # AKS nodes cannot be placed in a delegated subnet.
    assert not declared["aks"].get("delegations")


def test_private_dns_zone_is_a_postgres_zone(result: SynthResult) -> None:
    inputs = only(result, ZONE).plain_inputs()
    assert inputs["privateZoneName"].endswith(".postgres.database.azure.com")
    assert inputs["location"] == "global"


def test_private_dns_zone_is_linked_to_the_vnet(result: SynthResult) -> None:
    vnet, zone, link = only(result, VNET), only(result, ZONE), only(result, LINK)
    inputs = link.plain_inputs()
    assert inputs["privateZoneName"] == zone.plain_inputs()["privateZoneName"]
    assert link.property_dependencies["privateZoneName"] == (zone.urn,)
    assert inputs["virtualNetwork"] == {"id": vnet.id}
    assert link.property_dependencies["virtualNetwork"] == (vnet.urn,)
    assert inputs["registrationEnabled"] is False
    assert inputs["location"] == "global"
