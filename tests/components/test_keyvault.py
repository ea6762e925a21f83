"""KeyVault component: the vault's settings, its secrets and (production) its private endpoint."""

from __future__ import annotations

from typing import Any

from tests.synthesis import of_type, only, stack_setting
from tools.synth import SynthResult

VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET = "azure-native:network:VirtualNetwork"


def vault_config(stack: str) -> dict[str, Any]:
    config: dict[str, Any] = stack_setting(stack, "vault")
    return config


def test_vault_is_rbac_mode_purge_protected_and_deny_by_default(result: SynthResult) -> None:
    config = vault_config(result.stack)
    inputs = only(result, VAULT).plain_inputs()
    assert inputs["vaultName"] == config["name"]
    properties = inputs["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enablePurgeProtection"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["softDeleteRetentionInDays"] == config["softDeleteRetentionDays"]
    assert properties["networkAcls"]["defaultAction"] == "Deny"
    assert properties["networkAcls"]["bypass"] == "AzureServices"
    # No access policy: with RBAC mode they would be ignored, and they cannot be scoped.
    assert "accessPolicies" not in properties


def test_every_generated_password_is_a_secret_of_the_vault(result: SynthResult) -> None:
    vault = only(result, VAULT)
    secrets = {r.plain_inputs()["secretName"]: r for r in of_type(result, SECRET)}
    databases = {"orders", "catalog", "inventory"}
    expected = {"postgres-admin-password"} | {f"{s}-postgres-password" for s in databases}
    assert expected <= set(secrets)
    for secret in secrets.values():
        inputs = secret.plain_inputs()
        assert inputs["vaultName"] == vault.plain_inputs()["vaultName"]
        # The value stays a Pulumi secret in the plan and in state.
        assert secret.redacted_inputs()["properties"]["value"] == "[secret]"
        assert secret.property_dependencies["vaultName"] == (vault.urn,)


def test_production_vault_is_private_behind_its_endpoint(production: SynthResult) -> None:
    vault = only(production, VAULT)
    assert vault.plain_inputs()["properties"]["publicNetworkAccess"] == "Disabled"
    (endpoint,) = [
        r
        for r in of_type(production, PRIVATE_ENDPOINT)
        if r.plain_inputs()["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]
    ]
    connection = endpoint.plain_inputs()["privateLinkServiceConnections"][0]
    assert connection["privateLinkServiceId"] == vault.id
    zones = {r.plain_inputs()["privateZoneName"]: r for r in of_type(production, PRIVATE_ZONE)}
    zone = zones["privatelink.vaultcore.azure.net"]
    (group,) = [
        r
        for r in of_type(production, ZONE_GROUP)
        if r.plain_inputs()["privateEndpointName"] == endpoint.plain_inputs()["privateEndpointName"]
    ]
    config = group.plain_inputs()["privateDnsZoneConfigs"][0]
    assert config["privateDnsZoneId"] == zone.id


def test_staging_vault_admits_only_the_aks_subnet(staging: SynthResult) -> None:
    properties = only(staging, VAULT).plain_inputs()["properties"]
    assert properties["publicNetworkAccess"] == "Enabled"
    rules = properties["networkAcls"]["virtualNetworkRules"]
    assert [rule["id"].rsplit("/", 1)[1] for rule in rules] == ["aks"]
    # The rule only works with the subnet's service endpoint for Key Vault.
    subnets = {s["name"]: s for s in only(staging, VNET).plain_inputs()["subnets"]}
    assert subnets["aks"]["serviceEndpoints"] == [{"service": "Microsoft.KeyVault"}]
    assert "privatelink.vaultcore.azure.net" not in {
        r.plain_inputs()["privateZoneName"] for r in of_type(staging, PRIVATE_ZONE)
    }
