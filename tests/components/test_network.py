"""Network component: VNet with an AKS subnet and a delegated Postgres subnet, private DNS;
production adds a private-endpoint subnet, the registry's private zone and a NAT gateway."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.synthesis import PROJECT_DIR, named, of_type, only
from tools.synth import SynthResult

VNET = "azure-native:network:VirtualNetwork"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"
NAT = "azure-native:network:NatGateway"
PUBLIC_IP = "azure-native:network:PublicIPAddress"
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


def test_vnet_subnets_follow_the_stack_file(result: SynthResult) -> None:
    config = network_config(result.stack)
    declared = subnets(result)
    expected = {"aks": config["aksSubnet"], "postgres": config["postgresSubnet"]}
    if "privateEndpointSubnet" in config:
        expected["private-endpoints"] = config["privateEndpointSubnet"]
    assert {name: subnet["addressPrefix"] for name, subnet in declared.items()} == expected


def test_production_egress_goes_through_a_nat_gateway_with_a_static_ip(
    production: SynthResult,
) -> None:
    nat, address = only(production, NAT), only(production, PUBLIC_IP)
    assert nat.plain_inputs()["sku"] == {"name": "Standard"}
    assert nat.plain_inputs()["publicIpAddresses"] == [{"id": address.id}]
    assert address.plain_inputs()["publicIPAllocationMethod"] == "Static"
    assert address.plain_inputs()["sku"]["name"] == "Standard"
    aks = subnets(production)["aks"]
    assert aks["natGateway"] == {"id": nat.id}
    # Only the node subnet egresses through it; Postgres is reached privately.
    assert "natGateway" not in subnets(production)["postgres"]


def test_staging_has_no_nat_gateway_or_endpoint_subnet(staging: SynthResult) -> None:
    assert of_type(staging, NAT) == [] and of_type(staging, PUBLIC_IP) == []
    assert "natGateway" not in subnets(staging)["aks"]


def test_production_registry_zone_is_privatelink_linked_to_the_vnet(
    production: SynthResult,
) -> None:
    vnet = only(production, VNET)
    zone = named(production, ZONE, "micromart-acr-dns")
    link = named(production, LINK, "micromart-acr-dns-link")
    assert zone.plain_inputs()["privateZoneName"] == "privatelink.azurecr.io"
    assert link.plain_inputs()["virtualNetwork"] == {"id": vnet.id}
    assert link.property_dependencies["privateZoneName"] == (zone.urn,)
    assert link.plain_inputs()["registrationEnabled"] is False


def test_only_the_postgres_subnet_is_delegated_to_flexible_server(result: SynthResult) -> None:
    declared = subnets(result)
    delegations = declared["postgres"]["delegations"]
    assert [d["serviceName"] for d in delegations] == [POSTGRES_DELEGATION]
    # AKS nodes cannot be placed in a delegated subnet.
    assert not declared["aks"].get("delegations")


def test_private_dns_zone_is_a_postgres_zone(result: SynthResult) -> None:
    inputs = named(result, ZONE, "micromart-postgres-dns").plain_inputs()
    assert inputs["privateZoneName"].endswith(".postgres.database.azure.com")
    assert inputs["location"] == "global"


def test_private_dns_zone_is_linked_to_the_vnet(result: SynthResult) -> None:
    vnet = only(result, VNET)
    zone = named(result, ZONE, "micromart-postgres-dns")
    link = named(result, LINK, "micromart-postgres-dns-link")
    inputs = link.plain_inputs()
    assert inputs["privateZoneName"] == zone.plain_inputs()["privateZoneName"]
    assert link.property_dependencies["privateZoneName"] == (zone.urn,)
    assert inputs["virtualNetwork"] == {"id": vnet.id}
    assert link.property_dependencies["virtualNetwork"] == (vnet.urn,)
    assert inputs["registrationEnabled"] is False
    assert inputs["location"] == "global"
