"""Cluster component: AKS security settings, pools, Istio add-on and the Kubernetes provider."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cluster import MAINTENANCE_SCHEDULES, authorized_ranges
from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml, kube_object, named, of_type, only
from tools.mocks import _fake_uuid
from tools.recorder import SECRET_SIG, SIG_KEY
from tools.synth import SynthResult, component_of, synthesize

CLUSTER = "azure-native:containerservice:ManagedCluster"
VNET = "azure-native:network:VirtualNetwork"
K8S_PROVIDER = "pulumi:providers:kubernetes"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
CLUSTER_COMPONENT = "micromart:cluster:Cluster"
# Built-in role "Network Contributor" (Azure built-in roles reference).
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
KUBE_COMPONENTS = {
    "micromart:monitoring:Monitoring",
    "micromart:namespaces:Namespaces",
    "micromart:postgres:DatabaseRoles",
    "micromart:rabbitmq:RabbitMQ",
    "micromart:service:Microservice",
}
STACKS = ("staging", "production")


@cache
def cluster_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]["micromart:cluster"]
    return config


def cluster_inputs(result: SynthResult) -> dict[str, Any]:
    return only(result, CLUSTER).plain_inputs()


def pools(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {pool["mode"]: pool for pool in cluster_inputs(result)["agentPoolProfiles"]}


def test_managed_identity_entra_id_and_azure_rbac(result: SynthResult) -> None:
    inputs = cluster_inputs(result)
    assert inputs["identity"] == {"type": "SystemAssigned"}
    assert inputs["enableRBAC"] is True
    assert inputs["aadProfile"]["managed"] is True
    assert inputs["aadProfile"]["enableAzureRBAC"] is True
    admins = cluster_config(result.stack).get("adminGroupObjectIds", [])
    assert inputs["aadProfile"].get("adminGroupObjectIDs", []) == admins


def test_local_accounts_are_disabled(result: SynthResult) -> None:
    assert cluster_inputs(result)["disableLocalAccounts"] is True


def test_kubernetes_version_and_sku_tier_follow_the_stack_file(result: SynthResult) -> None:
    config = cluster_config(result.stack)
    inputs = cluster_inputs(result)
    assert inputs["kubernetesVersion"] == config["kubernetesVersion"]
    assert inputs["sku"]["tier"] == config["skuTier"]


def test_network_policy_engine_follows_the_stack_file_on_a_matching_dataplane(
    result: SynthResult,
) -> None:
    profile = cluster_inputs(result)["networkProfile"]
    # Without an engine every NetworkPolicy the program declares is silently ignored.
    assert profile["networkPolicy"] in ("cilium", "azure")
    assert profile["networkPolicy"] == cluster_config(result.stack).get("networkPolicy", "cilium")
    # Cilium network policy is only accepted on the Cilium dataplane, and only there.
    assert (profile.get("networkDataplane") == "cilium") == (profile["networkPolicy"] == "cilium")


def test_oidc_issuer_and_workload_identity_are_enabled(result: SynthResult) -> None:
    inputs = cluster_inputs(result)
    assert inputs["oidcIssuerProfile"] == {"enabled": True}
    assert inputs["securityProfile"]["workloadIdentity"] == {"enabled": True}


def test_system_and_user_pools_autoscale_within_the_configured_bounds(
    result: SynthResult,
) -> None:
    config = cluster_config(result.stack)
    by_mode = pools(result)
    assert sorted(by_mode) == ["System", "User"]
    assert len(cluster_inputs(result)["agentPoolProfiles"]) == 2
    for mode, key in (("System", "systemPool"), ("User", "userPool")):
        pool, expected = by_mode[mode], config[key]
        assert pool["enableAutoScaling"] is True, mode
        assert pool["vmSize"] == expected["vmSize"], mode
        assert pool["minCount"] == expected["minCount"], mode
        assert pool["maxCount"] == expected["maxCount"], mode
        assert pool["minCount"] <= pool["count"] <= pool["maxCount"], mode


def test_the_autoscaler_owns_the_node_counts_of_autoscaled_pools(result: SynthResult) -> None:
    """`count` is only the initial size: sending it again on every update would undo the cluster
    autoscaler, so exactly the autoscaled pools' counts are ignored, and nothing else."""
    profiles = cluster_inputs(result)["agentPoolProfiles"]
    autoscaled = {
        f"agentPoolProfiles[{index}].count"
        for index, pool in enumerate(profiles)
        if pool.get("enableAutoScaling")
    }
    assert len(autoscaled) == len(profiles)
    assert set(only(result, CLUSTER).ignore_changes) == autoscaled


def test_pools_sit_in_the_aks_subnet(result: SynthResult) -> None:
    vnet = only(result, VNET)
    for mode, pool in pools(result).items():
        assert pool["vnetSubnetID"] == f"{vnet.id}/subnets/aks", mode


def test_production_pools_span_the_configured_zones(production: SynthResult) -> None:
    zones = cluster_config("production")["zones"]
    for mode, pool in pools(production).items():
        assert pool["availabilityZones"] == zones, mode
        # Production survives the loss of a zone.
        assert len(set(pool["availabilityZones"])) >= 2, mode


def test_staging_pools_are_not_zonal(staging: SynthResult) -> None:
    for mode, pool in pools(staging).items():
        assert "availabilityZones" not in pool, mode


def test_auto_upgrade_channel_follows_the_stack_file(result: SynthResult) -> None:
    profile = cluster_inputs(result)["autoUpgradeProfile"]
    assert profile["upgradeChannel"] == cluster_config(result.stack)["autoUpgradeChannel"]
    # Node images get their OS security patches; "None"/"Unmanaged" would leave them unpatched.
    assert profile["nodeOSUpgradeChannel"] in ("NodeImage", "SecurityPatch")


def test_istio_add_on_pins_the_configured_revision_with_an_external_gateway(
    result: SynthResult,
) -> None:
    mesh = cluster_inputs(result)["serviceMeshProfile"]
    assert mesh["mode"] == "Istio"
    assert mesh["istio"]["revisions"] == [cluster_config(result.stack)["istioRevision"]]
    gateways = mesh["istio"]["components"]["ingressGateways"]
    assert {"enabled": True, "mode": "External"} in gateways


def test_kubernetes_provider_identifies_the_cluster_by_its_stable_name(
    result: SynthResult,
) -> None:
    cluster = only(result, CLUSTER)
    provider = only(result, K8S_PROVIDER)
    inputs = provider.plain_inputs()
    assert inputs["clusterIdentifier"] == cluster.plain_inputs()["resourceName"]
    # A plain value: rotating credentials (the kubeconfig) must not change the identifier.
    assert provider.property_dependencies.get("clusterIdentifier", ()) == ()
    # The kubeconfig comes from the cluster and is a secret on the wire.
    assert cluster.urn in provider.property_dependencies["kubeconfig"]
    assert provider.inputs["kubeconfig"].get(SIG_KEY) == SECRET_SIG


def test_every_kubernetes_resource_uses_the_cluster_provider_explicitly(
    result: SynthResult,
) -> None:
    provider = only(result, K8S_PROVIDER)
    kube = [r for r in result.resources if r.is_kubernetes_object]
    # Every component that declares Kubernetes objects is covered, not just some of them.
    assert {component_of(result, r) for r in kube} == KUBE_COMPONENTS
    strays = [r.urn for r in kube if r.provider != provider.urn]
    assert strays == []


def test_cluster_identity_is_network_contributor_on_its_subnet_only(result: SynthResult) -> None:
    cluster, vnet = only(result, CLUSTER), only(result, VNET)
    (assignment,) = [
        r for r in result.by_type(ROLE_ASSIGNMENT) if component_of(result, r) == CLUSTER_COMPONENT
    ]
    inputs = assignment.plain_inputs()
    assert re.fullmatch(
        rf"/subscriptions/[^/]+/providers/Microsoft\.Authorization/roleDefinitions/"
        rf"{NETWORK_CONTRIBUTOR}",
        inputs["roleDefinitionId"],
    ), inputs["roleDefinitionId"]
    # The subnet the node pools sit in: not the VNet, not the resource group.
    subnet = f"{vnet.id}/subnets/aks"
    assert inputs["scope"] == subnet
    assert {pool["vnetSubnetID"] for pool in pools(result).values()} == {subnet}
    # The cluster's own (control plane) identity, not the kubelet's.
    assert inputs["principalId"] == _fake_uuid(f"{cluster.plain_inputs()['resourceName']}-identity")
    assert inputs["principalType"] == "ServicePrincipal"
    assert assignment.property_dependencies["principalId"] == (cluster.urn,)


# -- config flows into the cluster: a copy of the project with other values -------------------

EDITED = {"istioRevision": "asm-1-31", "autoUpgradeChannel": "stable"}


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    project: Path = copy_project(tmp_path_factory.mktemp("cluster-config"))

    def edit(document: dict[str, Any]) -> None:
        document["config"]["micromart:cluster"].update(EDITED)

    edit_yaml(project / "Pulumi.staging.yaml", edit)
    # A revision newer than any the add-on has shipped: this copy's table learns it, as the
    # real table would once Microsoft publishes it.
    table = project / "components" / "config" / "kubernetes_versions.py"
    table.write_text(table.read_text() + '\nISTIO_REVISION_MINORS["asm-1-31"] = ("1.33", "1.37")\n')
    return synthesize(project, "staging")


def test_istio_revision_and_upgrade_channel_come_from_config(edited: SynthResult) -> None:
    inputs = cluster_inputs(edited)
    assert inputs["serviceMeshProfile"]["istio"]["revisions"] == ["asm-1-31"]
    assert inputs["autoUpgradeProfile"]["upgradeChannel"] == "stable"
    for namespace in ("micromart", "micromart-messaging"):
        labels = kube_object(edited, "Namespace", namespace)["metadata"]["labels"]
        assert labels["istio.io/rev"] == "asm-1-31", namespace


MAINTENANCE = "azure-native:containerservice:MaintenanceConfiguration"


def test_api_server_admits_only_the_configured_ranges(result: SynthResult) -> None:
    profile = only(result, CLUSTER).plain_inputs()["apiServerAccessProfile"]
    # Mocks allocate no public IP, so the NAT address (added when known) is absent here.
    assert (
        profile["authorizedIPRanges"] == cluster_config(result.stack)["apiServerAuthorizedIpRanges"]
    )
    assert "enablePrivateCluster" not in profile


def test_the_nat_gateway_address_is_authorized_once() -> None:
    assert authorized_ranges(["198.51.100.0/28"], "20.1.2.3") == ["198.51.100.0/28", "20.1.2.3/32"]
    assert authorized_ranges(["20.1.2.3/32"], "20.1.2.3") == ["20.1.2.3/32"]
    assert authorized_ranges(["198.51.100.0/28"], "") == ["198.51.100.0/28"]


def test_outbound_type_follows_the_nat_gateway(result: SynthResult) -> None:
    network = only(result, CLUSTER).plain_inputs()["networkProfile"]
    nat = yaml.safe_load((PROJECT_DIR / f"Pulumi.{result.stack}.yaml").read_text())["config"][
        "micromart:network"
    ].get("natGateway", False)
    assert network.get("outboundType") == ("userAssignedNATGateway" if nat else "loadBalancer")


def test_production_upgrades_run_in_the_configured_window(production: SynthResult) -> None:
    window = cluster_config("production")["maintenanceWindow"]
    cluster = only(production, CLUSTER)
    for schedule in MAINTENANCE_SCHEDULES:
        inputs = named(production, MAINTENANCE, f"micromart-{schedule}").plain_inputs()
        assert inputs["configName"] == schedule
        assert inputs["resourceName"] == cluster.plain_inputs()["resourceName"]
        assert inputs["maintenanceWindow"] == {
            "schedule": {"weekly": {"dayOfWeek": window["dayOfWeek"], "intervalWeeks": 1}},
            "startTime": window["startTime"],
            "durationHours": window["durationHours"],
            "utcOffset": window["utcOffset"],
        }


def test_staging_has_no_maintenance_window(staging: SynthResult) -> None:
    assert of_type(staging, MAINTENANCE) == []


WORKSPACE = "azure-native:operationalinsights:Workspace"


def test_defender_and_azure_policy_follow_the_stack_file(result: SynthResult) -> None:
    config = cluster_config(result.stack)
    inputs = only(result, CLUSTER).plain_inputs()
    defender = inputs["securityProfile"].get("defender")
    # One Log Analytics workspace per stack (components/workspaces.py): Defender reports to it.
    workspace = only(result, WORKSPACE)
    assert workspace.plain_inputs()["sku"] == {"name": "PerGB2018"}
    if config.get("defender", False):
        assert defender == {
            "logAnalyticsWorkspaceResourceId": workspace.id,
            "securityMonitoring": {"enabled": True},
        }
    else:
        assert defender is None
    addons = inputs["addonProfiles"]
    assert "azureKeyvaultSecretsProvider" in addons  # on in every stack, see below
    assert ("azurepolicy" in addons) == config.get("azurePolicy", False)
    if "azurepolicy" in addons:
        assert addons["azurepolicy"] == {"enabled": True}


def test_container_insights_and_managed_prometheus_are_on(result: SynthResult) -> None:
    inputs = only(result, CLUSTER).plain_inputs()
    workspace = only(result, WORKSPACE)
    # The monitoring add-on with managed-identity auth, reporting into the stack's workspace.
    assert inputs["addonProfiles"]["omsagent"] == {
        "enabled": True,
        "config": {"logAnalyticsWorkspaceResourceID": workspace.id, "useAADAuth": "true"},
    }
    assert inputs["azureMonitorProfile"] == {"metrics": {"enabled": True}}


def test_key_vault_secrets_provider_rotates_mounted_secrets(result: SynthResult) -> None:
    # Pods read their Key Vault secrets as files; rotation rewrites a file in place when a new
    # secret version appears, so a password change reaches running pods without a restart.
    profile = only(result, CLUSTER).plain_inputs()["addonProfiles"]["azureKeyvaultSecretsProvider"]
    assert profile["enabled"] is True
    assert profile["config"]["enableSecretRotation"] == "true"
    assert profile["config"]["rotationPollInterval"] == "2m"


def test_production_turns_both_on() -> None:
    config = cluster_config("production")
    assert config["defender"] is True and config["azurePolicy"] is True
