"""Azure facts shared by the platform components."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

# Built-in role "AcrPull": lets the kubelet pull images, nothing more.
ACR_PULL_ROLE_ID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
# Built-in role "Network Contributor": AKS needs it on a subnet it does not own to attach nodes
# and the ingress gateway's load balancer.
NETWORK_CONTRIBUTOR_ROLE_ID = "4d97b98b-1d4f-4787-a291-c67834d212e7"
# Built-in role "Key Vault Secrets User": read secret contents, nothing else; assigned per secret
# (a secret is its own scope in RBAC mode: Microsoft Learn, "Provide access to Key Vault keys,
# certificates, and secrets with Azure role-based access control", "Secret scope role
# assignment").
KEY_VAULT_SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6"
# Built-in role "Monitoring Data Reader": query an Azure Monitor workspace's Prometheus metrics
# (what Managed Grafana's identity needs on the workspace, nothing more).
MONITORING_DATA_READER_ROLE_ID = "b0d8363b-8ddd-447d-831f-62ca05bff136"
POSTGRES_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"


@dataclass(frozen=True)
class Placement:
    """Where Azure resources go: one resource group, one region, one set of tags."""

    resource_group_name: pulumi.Input[str]
    location: str
    tags: dict[str, str]


def role_definition_id(role_id: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The subscription-scoped ID of a built-in role, as role assignments want it."""
    client = authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=parent))
    return client.subscription_id.apply(
        lambda subscription: (
            f"/subscriptions/{subscription}/providers/Microsoft.Authorization"
            f"/roleDefinitions/{role_id}"
        )
    )
