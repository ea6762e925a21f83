"""Azure Container Registry that the cluster pulls from and the image builds push to.

With `privateNetwork` the registry has no public endpoint: a private endpoint in the VNet plus a
record in privatelink.azurecr.io make `<name>.azurecr.io` (and its data endpoint) resolve to
private IPs from the cluster. Pushes must then come from inside the VNet or by `az acr import`
(a trusted Azure service, hence network_rule_bypass_options AzureServices).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.containerregistry as acr
from pulumi_azure_native import authorization

from components.azure import ACR_PULL_ROLE_ID, Placement, role_definition_id
from components.config.stack import RegistryConfig
from components.private_endpoint import (
    PrivateEndpointPlacement,
    PrivateLinkTarget,
    connect_private_endpoint,
)


@dataclass(frozen=True)
class RegistryArgs:
    config: RegistryConfig
    placement: Placement
    # Object ID of the AKS kubelet identity; only the role assignment depends on the cluster.
    pull_principal_id: pulumi.Input[str]
    # Required when config.private_network is set (the stack config validates that pairing).
    private_endpoint: PrivateEndpointPlacement | None = None


class Registry(pulumi.ComponentResource):
    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    registry_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:registry:Registry", name, None, opts)
        config = args.config
        if config.private_network and args.private_endpoint is None:
            raise ValueError(f"registry '{config.name}': privateNetwork needs a private endpoint")
        premium = config.sku == "Premium"
        registry = acr.Registry(
            f"{name}-acr",
            args=acr.RegistryArgs(
                registry_name=config.name,
                resource_group_name=args.placement.resource_group_name,
                location=args.placement.location,
                tags=args.placement.tags,
                sku=acr.SkuArgs(name=config.sku),
                # Pushes use Entra ID (az acr login); a shared admin password is never needed.
                admin_user_enabled=False,
                anonymous_pull_enabled=False,
                zone_redundancy="Enabled" if config.zone_redundancy else "Disabled",
                policies=acr.PoliciesArgs(
                    retention_policy=acr.RetentionPolicyArgs(
                        days=config.retention_days, status="enabled"
                    )
                )
                if premium
                else None,
                public_network_access="Disabled" if config.private_network else "Enabled",
                network_rule_bypass_options="AzureServices",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if config.private_network and args.private_endpoint is not None:
            connect_private_endpoint(
                self,
                f"{name}-acr",
                # "registry" covers the login server and the regional data endpoint.
                PrivateLinkTarget(registry.id, "registry", config.name, "privatelink-azurecr-io"),
                args.placement,
                args.private_endpoint,
            )
        authorization.RoleAssignment(
            f"{name}-kubelet-acrpull",
            args=authorization.RoleAssignmentArgs(
                principal_id=args.pull_principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(ACR_PULL_ROLE_ID, self),
                scope=registry.id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.login_server = registry.login_server
        self.registry_id = registry.id
        self.registry_name = registry.name
        self.register_outputs(
            {
                "login_server": self.login_server,
                "registry_id": self.registry_id,
                "registry_name": self.registry_name,
            }
        )
