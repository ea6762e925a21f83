"""The stack's Key Vault: every generated password lives here, and pods read them as files.

RBAC authorization mode (who may read a secret is an Azure role assignment, scoped per secret by
components/workload_identity.py; access policies are ignored), purge protection and soft delete
(a deleted secret or vault can be recovered for the retention period and never purged early),
and a network ACL that denies by default. With `privateNetwork` public network access is off
and the vault is reached through a private endpoint whose record lives in
privatelink.vaultcore.azure.net; otherwise only the AKS subnet (service endpoint) may reach it.

The secrets are written through Azure Resource Manager (Microsoft.KeyVault/vaults/secrets, the
management plane), so the deploy identity needs no data-plane role and no network path to the
vault: ARM writes them whatever the vault's network ACL or public access says (reported and
confirmed in MicrosoftDocs/azure-docs#68668). Only the workload identities read values, through
the data plane, from inside the VNet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, keyvault

from components.azure import Placement
from components.config.stack import KeyVaultConfig
from components.private_endpoint import (
    PrivateEndpointPlacement,
    PrivateLinkTarget,
    connect_private_endpoint,
)


@dataclass(frozen=True)
class VaultRef:
    """What a reader of the vault needs: the SecretProviderClass names the vault and tenant."""

    name: str
    resource_id: pulumi.Output[str]
    uri: pulumi.Output[str]
    tenant_id: pulumi.Output[str]


@dataclass(frozen=True)
class KeyVaultArgs:
    config: KeyVaultConfig
    placement: Placement
    # Key Vault secret name -> value (Pulumi secrets); see PROTOCOL's naming contract.
    secrets: Mapping[str, pulumi.Output[str]]
    # Required when config.private_network is set (the stack config validates that pairing).
    private_endpoint: PrivateEndpointPlacement | None = None
    # Subnets (with a Microsoft.KeyVault service endpoint) allowed through the ACL of a vault
    # that keeps its public endpoint.
    allowed_subnet_ids: tuple[pulumi.Input[str], ...] = ()
    protect: bool = False


class KeyVault(pulumi.ComponentResource):
    vault: VaultRef
    # Key Vault secret name -> the secret's ARM resource ID (the scope of a reader's role).
    secret_ids: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: KeyVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:keyvault:KeyVault", name, None, opts)
        config = args.config
        if config.private_network and args.private_endpoint is None:
            raise ValueError(f"key vault '{config.name}': privateNetwork needs a private endpoint")
        tenant_id = authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).tenant_id
        vault = keyvault.Vault(
            f"{name}-vault",
            args=keyvault.VaultArgs(
                vault_name=config.name,
                resource_group_name=args.placement.resource_group_name,
                location=args.placement.location,
                tags=args.placement.tags,
                properties=keyvault.VaultPropertiesArgs(
                    tenant_id=tenant_id,
                    sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
                    # Data access only through Azure role assignments (per secret); the vault's
                    # access policies, which cannot be scoped below the vault, are ignored.
                    enable_rbac_authorization=True,
                    enable_soft_delete=True,
                    soft_delete_retention_in_days=config.soft_delete_retention_days,
                    # Irreversible by design: nobody, not even an Owner, can purge a deleted
                    # secret before its retention ends.
                    enable_purge_protection=True,
                    public_network_access="Disabled" if config.private_network else "Enabled",
                    network_acls=keyvault.NetworkRuleSetArgs(
                        default_action="Deny",
                        # Trusted Azure services (ARM template deployments among them).
                        bypass="AzureServices",
                        virtual_network_rules=[
                            keyvault.VirtualNetworkRuleArgs(id=subnet)
                            for subnet in args.allowed_subnet_ids
                        ]
                        if not config.private_network
                        else None,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        if config.private_network and args.private_endpoint is not None:
            connect_private_endpoint(
                self,
                f"{name}-kv",
                PrivateLinkTarget(
                    vault.id, "vault", config.name, "privatelink-vaultcore-azure-net"
                ),
                args.placement,
                args.private_endpoint,
            )
        self.secret_ids = {}
        for secret_name, value in sorted(args.secrets.items()):
            secret = keyvault.Secret(
                f"{name}-secret-{secret_name}",
                args=keyvault.SecretArgs(
                    vault_name=vault.name,
                    resource_group_name=args.placement.resource_group_name,
                    secret_name=secret_name,
                    properties=keyvault.SecretPropertiesArgs(
                        value=pulumi.Output.secret(value), content_type="text/plain"
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.secret_ids[secret_name] = secret.id
        self.vault = VaultRef(
            name=config.name,
            resource_id=vault.id,
            uri=vault.properties.apply(lambda properties: properties.vault_uri or ""),
            tenant_id=tenant_id,
        )
        self.register_outputs(
            {
                "vault_id": self.vault.resource_id,
                "vault_uri": self.vault.uri,
                "secret_ids": self.secret_ids,
            }
        )
