"""Virtual network for AKS and a delegated, privately resolved subnet for PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure import POSTGRES_DELEGATION, Placement
from components.config.stack import NetworkConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: NetworkConfig
    placement: Placement
    environment: str


class Network(pulumi.ComponentResource):
    aks_subnet_id: pulumi.Output[str]
    postgres_subnet_id: pulumi.Output[str]
    postgres_dns_zone_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:network:Network", name, None, opts)
        placement = args.placement
        child = pulumi.ResourceOptions(parent=self)
        # Subnets are declared inline: separate Subnet resources and the VNet would each claim
        # the subnet list and undo each other on every update.
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            # Keyword form: the SDK's VirtualNetworkArgs name belongs to the nested input type.
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.config.address_space]),
            subnets=[
                network.SubnetArgs(name="aks", address_prefix=args.config.aks_subnet),
                network.SubnetArgs(
                    name="postgres",
                    address_prefix=args.config.postgres_subnet,
                    delegations=[
                        network.DelegationArgs(name="postgres", service_name=POSTGRES_DELEGATION)
                    ],
                ),
            ],
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
        link = privatedns.VirtualNetworkLink(
            f"{name}-postgres-dns-link",
            args=privatedns.VirtualNetworkLinkArgs(
                private_zone_name=zone.name,
                resource_group_name=placement.resource_group_name,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                tags=placement.tags,
            ),
            opts=child,
        )
        self.aks_subnet_id = vnet.id.apply(lambda vnet_id: f"{vnet_id}/subnets/aks")
        self.postgres_subnet_id = vnet.id.apply(lambda vnet_id: f"{vnet_id}/subnets/postgres")
        # Azure rejects a server whose zone is not yet linked to its VNet, so consumers of the
        # zone ID must also wait for the link.
        self.postgres_dns_zone_id = pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])
        self.register_outputs(
            {
                "aks_subnet_id": self.aks_subnet_id,
                "postgres_subnet_id": self.postgres_subnet_id,
                "postgres_dns_zone_id": self.postgres_dns_zone_id,
            }
        )
