"""Azure facts shared by the platform components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

# Built-in role "AcrPull": lets the kubelet pull images, nothing more.
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"


@dataclass(frozen=True)
class Placement:
    """Where Azure resources go: one resource group, one region, one set of tags."""

    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str]
