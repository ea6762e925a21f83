"""Typical create time per resource type, each with the source it comes from.

`basis` says how strong the figure is: "create" is a create time someone observed and the source
shows; "test" is a provider acceptance test that also checked and destroyed the resource (an upper
bound); "estimate" is reasoned from the cited behaviour with no published measurement, and the
report marks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STACK_TYPE = "pulumi:pulumi:Stack"
# Packages whose resources are custom (a provider creates them); any other type token is a
# component (plan.json does not record the distinction).
CUSTOM_PACKAGES = frozenset({"azure-native", "kubernetes", "docker", "random", "pulumi"})
KUBERNETES_OBJECT_SECONDS = 2.0


@dataclass(frozen=True)
class Duration:
    """Typical create time of one resource type, and where the figure comes from."""

    type: str
    seconds: float
    low: float
    high: float
    # "create": a cited create time; "test": a cited acceptance-test time (create, checks and
    # destroy: an upper bound); "estimate": reasoned from the cited behaviour, no measurement.
    basis: str
    source: str
    says: str


def _k8s(kind: str, doc: str, note: str = "") -> Duration:
    return Duration(
        type=kind,
        seconds=KUBERNETES_OBJECT_SECONDS,
        low=1,
        high=5,
        basis="estimate",
        source=doc,
        says=note or "One API-server write; Pulumi's await for this kind returns at once.",
    )


_PULUMI_K8S_DOCS = "https://www.pulumi.com/registry/packages/kubernetes/api-docs"
_PULUMI_DEPLOYMENT_DOC = "https://www.pulumi.com/docs/reference/pkg/kubernetes/apps/v1/deployment"
_TF_PG_TESTS = "https://github.com/hashicorp/terraform-provider-azurerm/pull/32525"
_STEAMPIPE_PG = "https://github.com/turbot/steampipe-plugin-azure/pull/824"

DURATIONS: tuple[Duration, ...] = (
    Duration(
        "azure-native:resources:ResourceGroup",
        5,
        2,
        10,
        "create",
        "https://github.com/turbot/steampipe-plugin-azure/pull/83",
        "Terraform test log: 'azurerm_resource_group...: Creation complete after 4s' "
        "(PR #64 of the same repo: 'after 2s').",
    ),
    Duration(
        "azure-native:network:VirtualNetwork",
        10,
        5,
        20,
        "create",
        _STEAMPIPE_PG,
        "Terraform test log: 'azurerm_virtual_network...: Creation complete after 8s' and "
        "'azurerm_subnet...: Creation complete after 6s' (our subnets are inline in the VNet).",
    ),
    Duration(
        "azure-native:privatedns:PrivateZone",
        35,
        30,
        60,
        "create",
        _STEAMPIPE_PG,
        "Same log: 'azurerm_private_dns_zone...: Creation complete after 35s'.",
    ),
    Duration(
        "azure-native:privatedns:VirtualNetworkLink",
        45,
        30,
        90,
        "estimate",
        _STEAMPIPE_PG,
        "Same log shows the zone's VNet link still creating after 10s; the excerpt ends before "
        "it completes, so the figure is an estimate.",
    ),
    Duration(
        "azure-native:containerservice:ManagedCluster",
        420,
        240,
        900,
        "create",
        "https://pulumi.com/registry/packages/azure-native/how-to-guides/azure-py-aks/",
        "Pulumi's AKS guide: 'After 3-4 minutes, your cluster will be ready' (one default pool). "
        "Azure/AKS#711 and #585 report 20-30 min in 2018; acs-engine PR #3721: '~4 minutes for "
        "3 nodes ... AKS create ... needs additional time'. 7 min assumed for two pools plus the "
        "Istio and Cilium add-ons.",
    ),
    Duration(
        "azure-native:containerregistry:Registry",
        30,
        5,
        60,
        "create",
        "https://github.com/MicrosoftLearning/AZ-204-DevelopingSolutionsforMicrosoftAzure/issues/388",
        "Microsoft trainer: 'creating the container registries through the portal took about "
        "5 seconds'; hashicorp/terraform PR #10973: TestAccAzureRMContainerRegistry_basic "
        "123.95s for create + checks + destroy (upper bound). 30 s assumed.",
    ),
    Duration(
        "azure-native:authorization:RoleAssignment",
        20,
        10,
        50,
        "test",
        "https://github.com/hashicorp/terraform-provider-azurerm/pull/6925",
        "Acceptance tests that create, poll for consistency and destroy one assignment: "
        "45-50 s each (upper bound). Azure/azure-rest-api-specs#9467: the PUT returns 201 before "
        "the assignment is effective, so pulls may fail for a while after.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Server",
        540,
        300,
        900,
        "test",
        _TF_PG_TESTS,
        "azurerm acceptance tests: TestAccPostgresqlFlexibleServer_basic 560.24s, "
        "TestAccPostgresqlFlexibleServerDatabase_basic 486.81s (create + checks + destroy). "
        "pulumi-azure-native PR #727: the flexible-server example test 'takes 12 minutes'.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Server+HA",
        1080,
        720,
        1800,
        "estimate",
        "https://github.com/MicrosoftDocs/azure-databases-docs/blob/main/articles/postgresql/"
        "configure-maintain/quickstart-create-server.md",
        "Azure docs: with high availability 'a standby server with the same configuration as "
        "your primary is automatically provisioned' in another zone; no published duration, so "
        "twice the single-server figure is an estimate. Applies when highAvailability.mode is "
        "not Disabled.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Configuration",
        30,
        10,
        120,
        "estimate",
        "https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-server-parameters",
        "A server parameter write; require_secure_transport is a dynamic parameter (applied "
        "without a restart). No published duration.",
    ),
    Duration(
        "azure-native:dbforpostgresql:Database",
        20,
        10,
        60,
        "estimate",
        _TF_PG_TESTS,
        "The database test (486.81s) includes its server; no separate figure is published.",
    ),
    Duration(
        "docker:index/image:Image",
        90,
        60,
        120,
        "estimate",
        "https://www.pulumi.com/registry/packages/docker/api-docs/image/",
        "The resource builds with the local Docker engine and pushes to the registry: a small "
        "Python image (pull python:3.12-slim, COPY, compileall) from a CI runner. No published "
        "duration.",
    ),
    Duration(
        "kubernetes:apps/v1:Deployment",
        45,
        30,
        120,
        "estimate",
        _PULUMI_DEPLOYMENT_DOC,
        "Pulumi waits until the Deployment is Available ('If the Deployment has not reached a "
        "Ready state after 10 minutes, it will time out'): image pull + startup probe. "
        "The 45 s typical figure is an estimate; 10 min is the documented ceiling.",
    ),
    Duration(
        "kubernetes:apps/v1:StatefulSet",
        120,
        60,
        300,
        "estimate",
        f"{_PULUMI_K8S_DOCS}/apps/v1/statefulset/",
        "Pulumi waits until .status.readyReplicas matches .spec.replicas (10-minute default "
        "timeout); RabbitMQ adds an Azure disk (PVC) attach and the broker's boot (pods start in "
        "parallel: podManagementPolicy Parallel). No published duration.",
    ),
    Duration(
        "pulumi:providers:kubernetes",
        1,
        0,
        5,
        "estimate",
        f"{_PULUMI_K8S_DOCS}/provider/",
        "Provider configuration only (no cloud call); it waits for the cluster's kubeconfig.",
    ),
    Duration(
        "random:index/randomPassword:RandomPassword",
        0,
        0,
        1,
        "estimate",
        "https://www.pulumi.com/registry/packages/random/",
        "Computed locally by the random provider (no cloud call).",
    ),
    Duration(
        "random:index/randomBytes:RandomBytes",
        0,
        0,
        1,
        "estimate",
        "https://www.pulumi.com/registry/packages/random/",
        "Computed locally by the random provider (no cloud call).",
    ),
    _k8s(
        "kubernetes:core/v1:Namespace",
        f"{_PULUMI_K8S_DOCS}/core/v1/namespace/",
        "Pulumi waits for the namespace to be Active: ~1 s.",
    ),
    _k8s(
        "kubernetes:core/v1:Service",
        f"{_PULUMI_K8S_DOCS}/core/v1/service/",
        "Pulumi waits for endpoints of a selector Service, i.e. for its pods; nothing depends "
        "on a Service, so that wait never lengthens a path.",
    ),
    _k8s(
        "kubernetes:*",
        f"{_PULUMI_K8S_DOCS}/apiextensions/customresource/",
        "Any other Kubernetes object or Istio custom resource: Pulumi does not wait beyond the "
        "API server's answer.",
    ),
)
_BY_TYPE = {duration.type: duration for duration in DURATIONS}
_FALLBACK = Duration(
    "*", 10, 1, 60, "estimate", "", "Unlisted type: a generic 10 s (no entry, no source)."
)


def is_component_type(kind: str) -> bool:
    return kind.split(":", 1)[0] not in CUSTOM_PACKAGES


def duration_of(resource: Mapping[str, Any]) -> Duration:
    kind = str(resource["type"])
    if kind == "azure-native:dbforpostgresql:Server":
        mode = (resource.get("inputs") or {}).get("highAvailability", {}).get("mode", "Disabled")
        if mode not in ("Disabled", "", None):
            return _BY_TYPE[f"{kind}+HA"]
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if is_component_type(kind) or kind == STACK_TYPE:
        return Duration(kind, 0, 0, 0, "estimate", "", "Component: no create step.")
    if kind.startswith("kubernetes:"):
        return _BY_TYPE["kubernetes:*"]
    return _FALLBACK


def duration_table() -> list[dict[str, Any]]:
    return [
        {
            "type": d.type,
            "seconds": d.seconds,
            "range_seconds": [d.low, d.high],
            "basis": d.basis,
            "source": d.source,
            "says": d.says,
        }
        for d in DURATIONS
    ]
