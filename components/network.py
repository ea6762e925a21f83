"""Virtual network: AKS subnet (optionally behind a NAT gateway), a delegated, privately resolved
subnet for PostgreSQL, and optionally a private-endpoint subnet with the private zones of the
registry and the Key Vault."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure import POSTGRES_DELEGATION, Placement
from components.config.stack import NetworkConfig
from components.private_endpoint import PrivateEndpointPlacement

# Azure's fixed zone names for private endpoints (Microsoft Learn, "Azure Private Endpoint private
# DNS zone values": Microsoft.ContainerRegistry/registries and Microsoft.KeyVault/vaults); the
# service's FQDN resolves through its zone only when the zone is linked to the VNet.
REGISTRY_PRIVATE_ZONE = "privatelink.azurecr.io"
KEYVAULT_PRIVATE_ZONE = "privatelink.vaultcore.azure.net"
PRIVATE_ENDPOINT_SUBNET = "private-endpoints"


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    placement: Placement
    environment: str
    # Create the privatelink.azurecr.io zone for a registry reached through a private endpoint.
    private_registry: bool = False
    # Create the privatelink.vaultcore.azure.net zone for a Key Vault reached the same way.
    private_keyvault: bool = False


class Network(pulumi.ComponentResource):
    aks_subnet_id: pulumi.Output[str]
    postgres_subnet_id: pulumi.Output[str]
    postgres_dns_zone_id: pulumi.Output[str]
    # Set only when the stack configures them (privateEndpointSubnet, natGateway).
    private_endpoint_subnet_id: pulumi.Output[str] | None
    registry_dns_zone_id: pulumi.Output[str] | None
    keyvault_dns_zone_id: pulumi.Output[str] | None
    nat_public_ip: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:network:Network", name, None, opts)
        placement = args.placement
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        nat = self._nat_gateway(name, placement) if config.nat_gateway else None
        # Subnets are declared inline: separate Subnet resources and the VNet would each claim
        # the subnet list and undo each other on every update.
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            # Keyword form: the SDK's VirtualNetworkArgs name belongs to the nested input type.
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            address_space=network.AddressSpaceArgs(address_prefixes=[config.address_space]),
            # A vault that keeps its public endpoint admits the AKS subnet through a service
            # endpoint; a private vault is reached through its private endpoint instead.
            subnets=_subnets(config, nat, keyvault_service_endpoint=not args.private_keyvault),
            opts=child,
        )
        zone = privatedns.PrivateZone(
            f"{name}-postgres-dns",
            args=privatedns.PrivateZoneArgs(
                private_zone_name=f"micromart-{args.environment}.postgres.database.azure.com",
                resource_group_name=placement.resource_group_name,
                location="global",
                tags=placement.tags,
            ),
            opts=child,
        )
        link = self._link(f"{name}-postgres-dns-link", zone, vnet, placement)
        self.aks_subnet_id = _subnet_id(vnet, "aks")
        self.postgres_subnet_id = _subnet_id(vnet, "postgres")
        # Azure rejects a server whose zone is not yet linked to its VNet, so consumers of the
        # zone ID must also wait for the link.
        self.postgres_dns_zone_id = pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])
        self.private_endpoint_subnet_id = (
            _subnet_id(vnet, PRIVATE_ENDPOINT_SUBNET) if config.private_endpoint_subnet else None
        )
        self.registry_dns_zone_id = (
            self._private_zone(f"{name}-acr", REGISTRY_PRIVATE_ZONE, vnet, placement)
            if args.private_registry
            else None
        )
        self.keyvault_dns_zone_id = (
            self._private_zone(f"{name}-kv", KEYVAULT_PRIVATE_ZONE, vnet, placement)
            if args.private_keyvault
            else None
        )
        self.nat_public_ip = nat[1] if nat else None
        self.register_outputs(
            {
                "aks_subnet_id": self.aks_subnet_id,
                "postgres_subnet_id": self.postgres_subnet_id,
                "postgres_dns_zone_id": self.postgres_dns_zone_id,
                "private_endpoint_subnet_id": self.private_endpoint_subnet_id,
                "registry_dns_zone_id": self.registry_dns_zone_id,
                "keyvault_dns_zone_id": self.keyvault_dns_zone_id,
                "nat_public_ip": self.nat_public_ip,
            }
        )

    def _nat_gateway(
        self, name: str, placement: Placement
    ) -> tuple[network.NatGateway, pulumi.Output[str]]:
        """A NAT gateway with one static Standard public IP: stable egress for the nodes."""
        child = pulumi.ResourceOptions(parent=self)
        address = network.PublicIPAddress(
            f"{name}-nat-ip",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            opts=child,
        )
        gateway = network.NatGateway(
            f"{name}-nat",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            idle_timeout_in_minutes=4,
            public_ip_addresses=[network.SubResourceArgs(id=address.id)],
            opts=child,
        )
        # Empty until Azure allocates the address (and under mocks, which allocate nothing).
        ip = address.ip_address.apply(lambda value: value or "")
        return gateway, ip

    @property
    def registry_endpoint(self) -> PrivateEndpointPlacement | None:
        """Where the registry's private endpoint goes, if the network has a place for one."""
        return self._endpoint(self.registry_dns_zone_id)

    @property
    def keyvault_endpoint(self) -> PrivateEndpointPlacement | None:
        """Where the Key Vault's private endpoint goes, if the network has a place for one."""
        return self._endpoint(self.keyvault_dns_zone_id)

    def _endpoint(self, zone_id: pulumi.Output[str] | None) -> PrivateEndpointPlacement | None:
        if self.private_endpoint_subnet_id is None or zone_id is None:
            return None
        return PrivateEndpointPlacement(self.private_endpoint_subnet_id, zone_id)

    def _private_zone(
        self, prefix: str, zone_name: str, vnet: network.VirtualNetwork, placement: Placement
    ) -> pulumi.Output[str]:
        zone = privatedns.PrivateZone(
            f"{prefix}-dns",
            args=privatedns.PrivateZoneArgs(
                private_zone_name=zone_name,
                resource_group_name=placement.resource_group_name,
                location="global",
                tags=placement.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        link = self._link(f"{prefix}-dns-link", zone, vnet, placement)
        # Records registered before the link resolve nowhere; consumers wait for both.
        return pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])

    def _link(
        self,
        resource_name: str,
        zone: privatedns.PrivateZone,
        vnet: network.VirtualNetwork,
        placement: Placement,
    ) -> privatedns.VirtualNetworkLink:
        return privatedns.VirtualNetworkLink(
            resource_name,
            args=privatedns.VirtualNetworkLinkArgs(
                private_zone_name=zone.name,
                resource_group_name=placement.resource_group_name,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                tags=placement.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _subnets(
    config: NetworkConfig,
    nat: tuple[network.NatGateway, pulumi.Output[str]] | None,
    *,
    keyvault_service_endpoint: bool,
) -> list[network.SubnetArgs]:
    subnets = [
        network.SubnetArgs(
            name="aks",
            address_prefix=config.aks_subnet,
            nat_gateway=network.SubResourceArgs(id=nat[0].id) if nat else None,
            service_endpoints=[
                network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.KeyVault")
            ]
            if keyvault_service_endpoint
            else None,
        ),
        network.SubnetArgs(
            name="postgres",
            address_prefix=config.postgres_subnet,
            delegations=[network.DelegationArgs(name="postgres", service_name=POSTGRES_DELEGATION)],
        ),
    ]
    if config.private_endpoint_subnet:
        subnets.append(
            network.SubnetArgs(
                name=PRIVATE_ENDPOINT_SUBNET,
                address_prefix=config.private_endpoint_subnet,
                # NSGs and route tables apply to the endpoints' traffic too.
                private_endpoint_network_policies="Enabled",
            )
        )
    return subnets


def _subnet_id(vnet: network.VirtualNetwork, subnet: str) -> pulumi.Output[str]:
    return vnet.id.apply(lambda vnet_id: f"{vnet_id}/subnets/{subnet}")
