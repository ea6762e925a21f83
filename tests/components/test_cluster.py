"""Cluster component: AKS security settings, pools, Istio add-on and the Kubernetes provider."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml, kube_object, only
from tools.recorder import SECRET_SIG, SIG_KEY
from tools.synth import SynthResult, synthesize

CLUSTER = "azure-native:containerservice:ManagedCluster"
VNET = "azure-native:network:VirtualNetwork"
K8S_PROVIDER = "pulumi:providers:kubernetes"
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


def test_network_policy_engine_is_cilium(result: SynthResult) -> None:
    profile = cluster_inputs(result)["networkProfile"]
    assert cluster_config(result.stack)["networkPolicy"] == "cilium"
    assert profile["networkPolicy"] == "cilium"
    # Cilium network policy is only accepted on the Cilium dataplane.
    assert profile["networkDataplane"] == "cilium"


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


def test_pools_sit_in_the_aks_subnet(result: SynthResult) -> None:
    vnet = only(result, VNET)
    for mode, pool in pools(result).items():
        assert pool["vnetSubnetID"] == f"{vnet.id}/subnets/aks", mode


def test_production_pools_span_the_configured_zones(production: SynthResult) -> None:
    zones = cluster_config("production")["zones"]
    assert zones == ["1", "2", "3"]
    for mode, pool in pools(production).items():
        assert pool["availabilityZones"] == zones, mode


def test_staging_pools_are_not_zonal(staging: SynthResult) -> None:
    for mode, pool in pools(staging).items():
        assert "availabilityZones" not in pool, mode


def test_auto_upgrade_channel_follows_the_stack_file(result: SynthResult) -> None:
    profile = cluster_inputs(result)["autoUpgradeProfile"]
    assert profile["upgradeChannel"] == cluster_config(result.stack)["autoUpgradeChannel"]
    assert profile["nodeOSUpgradeChannel"]


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
    kube = [r for r in result.resources if r.type.startswith("kubernetes:") and r.custom]
    assert len(kube) > 50
    strays = [r.urn for r in kube if r.provider != provider.urn]
    assert strays == []


# -- config flows into the cluster: a copy of the project with other values -------------------

EDITED = {"istioRevision": "asm-1-31", "autoUpgradeChannel": "stable"}


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    project: Path = copy_project(tmp_path_factory.mktemp("cluster-config"))

    def edit(document: dict[str, Any]) -> None:
        document["config"]["micromart:cluster"].update(EDITED)

    edit_yaml(project / "Pulumi.staging.yaml", edit)
    return synthesize(project, "staging")


def test_istio_revision_and_upgrade_channel_come_from_config(edited: SynthResult) -> None:
    inputs = cluster_inputs(edited)
    assert inputs["serviceMeshProfile"]["istio"]["revisions"] == ["asm-1-31"]
    assert inputs["autoUpgradeProfile"]["upgradeChannel"] == "stable"
    for namespace in ("micromart", "micromart-messaging"):
        labels = kube_object(edited, "Namespace", namespace)["metadata"]["labels"]
        assert labels["istio.io/rev"] == "asm-1-31", namespace
