"""Azure Container Registry that the cluster pulls from and the image builds push to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native.containerregistry as acr
from pulumi_azure_native import authorization

from components.azure import ACR_PULL_ROLE_ID, Placement, role_definition_id
from components.config.stack import RegistryConfig


@dataclass(frozen=True)
class RegistryArgs:
    config: RegistryConfig
    placement: Placement
    # Object ID of the AKS kubelet identity; only the role assignment depends on the cluster.
    pull_principal_id: pulumi.Input[str]


class Registry(pulumi.ComponentResource):
    login_server: pulumi.Output[str]
    registry_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:registry:Registry", name, None, opts)
        config = args.config
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
            ),
            opts=pulumi.ResourceOptions(parent=self),
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
        self.register_outputs({"login_server": self.login_server, "registry_id": self.registry_id})
