"""A private endpoint for one Azure service, with its A records in the service's private zone.

Shared by every component whose service can go private (the registry, the Key Vault): the
endpoint puts a NIC with a private IP into the private-endpoint subnet, and the zone group keeps
the service's `privatelink.*` record pointing at it, so the service's public FQDN resolves to
that private IP from the VNet (Microsoft Learn, "Azure Private Endpoint DNS configuration").
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network

from components.azure import Placement


@dataclass(frozen=True)
class PrivateEndpointPlacement:
    subnet_id: pulumi.Input[str]
    dns_zone_id: pulumi.Input[str]  # the service's privatelink zone, linked to the VNet


@dataclass(frozen=True)
class PrivateLinkTarget:
    """What the endpoint connects to: the service's resource ID and its private-link group."""

    resource_id: pulumi.Input[str]
    group_id: str  # "registry" for ACR, "vault" for Key Vault
    azure_name: str  # the service's own name; the endpoint is named after it
    zone_config_name: str  # a label for the zone in the zone group


def connect_private_endpoint(
    parent: pulumi.Resource,
    name: str,
    target: PrivateLinkTarget,
    placement: Placement,
    endpoint: PrivateEndpointPlacement,
) -> network.PrivateEndpoint:
    """Children of `parent`: the endpoint `<name>-pe` and its zone group `<name>-pe-dns`."""
    # A fixed Azure name: the zone group addresses the endpoint by it, and an auto-named
    # endpoint would be replaced (new suffix) whenever its subnet changes.
    endpoint_name = f"pe-{target.azure_name}"
    private_endpoint = network.PrivateEndpoint(
        f"{name}-pe",
        args=network.PrivateEndpointArgs(
            private_endpoint_name=endpoint_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            subnet=network.SubnetArgs(id=endpoint.subnet_id),
            private_link_service_connections=[
                network.PrivateLinkServiceConnectionArgs(
                    name=name,
                    private_link_service_id=target.resource_id,
                    group_ids=[target.group_id],
                )
            ],
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # The zone group writes the endpoint's A records into the privatelink zone and keeps them
    # in step with the endpoint's IPs.
    network.PrivateDnsZoneGroup(
        f"{name}-pe-dns",
        args=network.PrivateDnsZoneGroupArgs(
            private_endpoint_name=endpoint_name,
            resource_group_name=placement.resource_group_name,
            private_dns_zone_group_name="default",
            private_dns_zone_configs=[
                network.PrivateDnsZoneConfigArgs(
                    name=target.zone_config_name, private_dns_zone_id=endpoint.dns_zone_id
                )
            ],
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[private_endpoint]),
    )
    return private_endpoint
