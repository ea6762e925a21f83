"""Registry component: ACR settings and the kubelet's AcrPull assignment, as synthesized."""

from __future__ import annotations

from typing import Any

from tests.synthesis import only, stack_setting
from tools.mocks import _fake_uuid
from tools.recorder import RecordedResource
from tools.synth import SynthResult

REGISTRY = "azure-native:containerregistry:Registry"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
CLUSTER = "azure-native:containerservice:ManagedCluster"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
STACKS = ("staging", "production")


def registry_config(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = stack_setting(stack, "registry")
    return config


def test_admin_user_and_anonymous_pull_are_disabled(result: SynthResult) -> None:
    inputs = only(result, REGISTRY).plain_inputs()
    assert inputs["adminUserEnabled"] is False
    assert inputs["anonymousPullEnabled"] is False


def test_name_sku_and_zone_redundancy_follow_the_stack_file(result: SynthResult) -> None:
    config = registry_config(result.stack)
    inputs = only(result, REGISTRY).plain_inputs()
    assert inputs["registryName"] == config["name"]
    assert inputs["sku"] == {"name": config.get("sku", "Standard")}
    expected = "Enabled" if config.get("zoneRedundancy", False) else "Disabled"
    assert inputs["zoneRedundancy"] == expected


def test_production_registry_is_premium_zone_redundant_with_retention(
    production: SynthResult,
) -> None:
    inputs = only(production, REGISTRY).plain_inputs()
    assert inputs["sku"] == {"name": "Premium"}
    assert inputs["zoneRedundancy"] == "Enabled"
    retention = inputs["policies"]["retentionPolicy"]
    assert retention == {
        "days": registry_config("production")["retentionDays"],
        "status": "enabled",
    }


def test_staging_registry_sends_no_premium_only_policies(staging: SynthResult) -> None:
    # Retention is a Premium feature; ACR rejects it on a Standard registry.
    inputs = only(staging, REGISTRY).plain_inputs()
    assert inputs["sku"] == {"name": "Standard"}
    assert "policies" not in inputs


def test_kubelet_identity_gets_acr_pull_scoped_to_the_registry(result: SynthResult) -> None:
    registry = only(result, REGISTRY)
    cluster = only(result, CLUSTER)
    # The Registry component's own assignment; the Cluster grants itself Network Contributor.
    (assignment,) = [r for r in result.by_type(ROLE_ASSIGNMENT) if "Registry$" in r.urn]
    inputs = assignment.plain_inputs()

    role = inputs["roleDefinitionId"]
    assert role.startswith("/subscriptions/")
    assert role.endswith(f"/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}")

    # Scope: the registry itself, not the resource group.
    assert inputs["scope"] == registry.id
    assert assignment.property_dependencies["scope"] == (registry.urn,)

    # Principal: the kubelet identity's object ID, read from the cluster's identityProfile.
    kubelet = _fake_uuid(f"{cluster.plain_inputs()['resourceName']}-kubelet")
    assert inputs["principalId"] == kubelet
    assert inputs["principalType"] == "ServicePrincipal"
    assert assignment.property_dependencies["principalId"] == (cluster.urn,)


def test_only_the_role_assignment_waits_for_the_cluster(result: SynthResult) -> None:
    registry = only(result, REGISTRY)
    cluster = only(result, CLUSTER)
    assert cluster.urn not in registry.dependencies
    assert all(cluster.urn not in deps for deps in registry.property_dependencies.values())


PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
ZONE = "azure-native:privatedns:PrivateZone"
VNET = "azure-native:network:VirtualNetwork"


def test_public_network_access_follows_private_network(result: SynthResult) -> None:
    private = registry_config(result.stack).get("privateNetwork", False)
    inputs = only(result, REGISTRY).plain_inputs()
    assert inputs["publicNetworkAccess"] == ("Disabled" if private else "Enabled")
    # `az acr import` (how production receives images) runs as a trusted Azure service.
    assert inputs["networkRuleBypassOptions"] == "AzureServices"


def registry_child(result: SynthResult, type_token: str) -> RecordedResource:
    """The registry's own child of a type the Key Vault component also creates."""
    (child,) = [r for r in result.by_type(type_token) if "micromart:registry:Registry$" in r.urn]
    return child


def test_production_registry_has_a_private_endpoint_in_its_subnet(
    production: SynthResult,
) -> None:
    registry, endpoint = only(production, REGISTRY), registry_child(production, PRIVATE_ENDPOINT)
    inputs = endpoint.plain_inputs()
    (connection,) = inputs["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == registry.id
    assert connection["groupIds"] == ["registry"]
    assert endpoint.property_dependencies["privateLinkServiceConnections"] == (registry.urn,)
    vnet = only(production, VNET)
    assert inputs["subnet"]["id"] == f"{vnet.id}/subnets/private-endpoints"


def test_production_endpoint_records_land_in_the_privatelink_zone(
    production: SynthResult,
) -> None:
    endpoint = registry_child(production, PRIVATE_ENDPOINT)
    group = registry_child(production, ZONE_GROUP)
    zone = next(
        z
        for z in production.by_type(ZONE)
        if z.plain_inputs()["privateZoneName"] == ("privatelink.azurecr.io")
    )
    inputs = group.plain_inputs()
    assert inputs["privateEndpointName"] == endpoint.plain_inputs()["privateEndpointName"]
    assert endpoint.urn in group.dependencies
    assert [c["privateDnsZoneId"] for c in inputs["privateDnsZoneConfigs"]] == [zone.id]


def test_staging_registry_stays_public_without_endpoint(staging: SynthResult) -> None:
    assert staging.by_type(PRIVATE_ENDPOINT) == [] and staging.by_type(ZONE_GROUP) == []
