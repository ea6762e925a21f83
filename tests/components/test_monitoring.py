"""Monitoring: workspaces, Container Insights, managed Prometheus, diagnostic settings, and the
path a scrape takes (annotations, add-on settings, NetworkPolicy) to every pod with metrics."""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

import pytest

from components import kube
from components.config.service_spec import METRICS_PORT
from components.monitoring import AKS_LOG_CATEGORIES, SCRAPE_SETTINGS_NAME, scrape_settings_data
from tests.services.apprunner import SERVICES_DIR
from tests.synthesis import kube_object, kube_objects, of_type, only
from tools.synth import SynthResult

WORKSPACE = "azure-native:operationalinsights:Workspace"
AMW = "azure-native:monitor:AzureMonitorWorkspace"
DCE = "azure-native:monitor:DataCollectionEndpoint"
DCR = "azure-native:monitor:DataCollectionRule"
DCRA = "azure-native:monitor:DataCollectionRuleAssociation"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"
CLUSTER = "azure-native:containerservice:ManagedCluster"
REGISTRY = "azure-native:containerregistry:Registry"
VAULT = "azure-native:keyvault:Vault"
POSTGRES = "azure-native:dbforpostgresql:Server"
GRAFANA = "azure-native:dashboard:Grafana"
SCRAPED_NAMESPACES = ("micromart", "micromart-messaging")
SCRAPER_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"rsName": "ama-metrics"}},
}


def test_diagnostic_settings_send_each_resources_logs_to_the_workspace(
    result: SynthResult,
) -> None:
    workspace = only(result, WORKSPACE)
    settings = {
        d.plain_inputs()["resourceUri"]: d.plain_inputs() for d in of_type(result, DIAGNOSTICS)
    }
    targets = {only(result, kind).id: kind for kind in (CLUSTER, REGISTRY, POSTGRES, VAULT)}
    assert targets.keys() == settings.keys(), "AKS, ACR, PostgreSQL and Key Vault each need one"
    for resource_id, setting in settings.items():
        assert setting["workspaceId"] == workspace.id
        assert all(log["enabled"] for log in setting["logs"])
        if targets.get(resource_id) == CLUSTER:
            categories = {log["category"] for log in setting["logs"]}
            assert categories == set(AKS_LOG_CATEGORIES)
            assert {"kube-audit-admin", "guard", "kube-apiserver"} <= categories
            assert setting["logAnalyticsDestinationType"] == "Dedicated"
        else:
            assert setting["logs"] == [{"enabled": True, "categoryGroup": "allLogs"}]


def test_log_retention_comes_from_the_stack(result: SynthResult) -> None:
    expected = {"staging": 30, "production": 90}[result.stack]
    assert only(result, WORKSPACE).plain_inputs()["retentionInDays"] == expected


def test_managed_prometheus_collects_into_the_monitor_workspace(result: SynthResult) -> None:
    cluster, workspace, endpoint = only(result, CLUSTER), only(result, AMW), only(result, DCE)
    rules = {r.plain_inputs()["dataCollectionRuleName"]: r for r in of_type(result, DCR)}
    name = f"MSProm-westeurope-{cluster.plain_inputs()['resourceName']}"
    prometheus = rules[name].plain_inputs()
    assert prometheus["dataCollectionEndpointId"] == endpoint.id
    assert prometheus["dataSources"]["prometheusForwarder"][0]["streams"] == [
        "Microsoft-PrometheusMetrics"
    ]
    destination = prometheus["destinations"]["monitoringAccounts"][0]
    assert destination["accountResourceId"] == workspace.id
    assert prometheus["dataFlows"] == [
        {"streams": ["Microsoft-PrometheusMetrics"], "destinations": [destination["name"]]}
    ]
    associations = {a.plain_inputs()["dataCollectionRuleId"]: a for a in of_type(result, DCRA)}
    assert associations[rules[name].id].plain_inputs()["resourceUri"] == cluster.id


def test_container_insights_rule_is_associated_under_the_name_the_add_on_reads(
    result: SynthResult,
) -> None:
    cluster, workspace = only(result, CLUSTER), only(result, WORKSPACE)
    (rule,) = [
        r
        for r in of_type(result, DCR)
        if r.plain_inputs()["dataCollectionRuleName"].startswith("MSCI-")
    ]
    inputs = rule.plain_inputs()
    extension = inputs["dataSources"]["extensions"][0]
    assert extension["extensionName"] == "ContainerInsights"
    assert "Microsoft-ContainerLogV2" in extension["streams"]
    assert inputs["destinations"]["logAnalytics"][0]["workspaceResourceId"] == workspace.id
    (association,) = [
        a.plain_inputs()
        for a in of_type(result, DCRA)
        if a.plain_inputs()["dataCollectionRuleId"] == rule.id
    ]
    assert association["associationName"] == "ContainerInsightsExtension"
    assert association["resourceUri"] == cluster.id


def test_grafana_only_where_the_stack_turns_it_on(result: SynthResult) -> None:
    grafana = of_type(result, GRAFANA)
    assert len(grafana) == {"staging": 0, "production": 1}[result.stack]
    for instance in grafana:
        integrations = instance.plain_inputs()["properties"]["grafanaIntegrations"]
        assert integrations["azureMonitorWorkspaceIntegrations"] == [
            {"azureMonitorWorkspaceResourceId": only(result, AMW).id}
        ]


# -- the scrape path ----------------------------------------------------------------------------


def test_the_add_on_scrapes_annotated_pods_in_exactly_the_stacks_namespaces(
    result: SynthResult,
) -> None:
    settings = kube_object(result, "ConfigMap", SCRAPE_SETTINGS_NAME, "kube-system")["data"]
    line = settings["pod-annotation-based-scraping"]
    found = re.fullmatch(r'podannotationnamespaceregex = "(.*)"', line)
    assert found, line
    # Prometheus relabel regexes are anchored: the agent keeps a namespace the regex fullmatches.
    regex = re.compile(found.group(1))
    for namespace in SCRAPED_NAMESPACES:
        assert regex.fullmatch(namespace), namespace
    for other in ("kube-system", "default", "aks-istio-system", "micromart-x", "xmicromart"):
        assert not regex.fullmatch(other), other
    assert settings["schema-version"] == "v1"
    assert "kubestate = true" in settings["default-scrape-settings-enabled"]


def test_namespace_names_with_regex_characters_are_refused() -> None:
    assert scrape_settings_data(("a", "b-c"))["pod-annotation-based-scraping"].endswith('"a|b-c"')
    from components.monitoring import scrape_settings

    with pytest.raises(ValueError, match="not a namespace name"):
        scrape_settings("x", ("micromart.*",), None, None)  # type: ignore[arg-type]


def _scraped_pods(result: SynthResult) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(namespace, pod labels, annotations) of every Deployment and StatefulSet, but the public
    certificate's sync pods in aks-istio-ingress: they only hold a CSI mount (`sleep`), serve
    nothing and admit nobody (components/gateway_tls.py; tests/components/test_gateway_tls.py)."""
    pods = []
    for kind in ("Deployment", "StatefulSet"):
        for obj in kube_objects(result, kind):
            if obj["metadata"]["namespace"] == kube.ISTIO_INGRESS_NAMESPACE:
                assert obj["metadata"]["name"] == "gateway-tls-sync"
                continue
            template = obj["spec"]["template"]["metadata"]
            pods.append(
                (obj["metadata"]["namespace"], template["labels"], template.get("annotations", {}))
            )
    return pods


def test_every_workload_is_annotated_for_scraping(result: SynthResult) -> None:
    pods = _scraped_pods(result)
    assert pods
    for namespace, labels, pod_annotations in pods:
        assert namespace in SCRAPED_NAMESPACES
        assert pod_annotations.get("prometheus.io/scrape") == "true", labels
        if labels[kube.NAME_LABEL] == "rabbitmq":
            assert pod_annotations["prometheus.io/port"] == "15692"
            assert pod_annotations["prometheus.io/path"] == "/metrics/per-object"
        else:
            assert pod_annotations["prometheus.io/port"] == str(METRICS_PORT)
            assert pod_annotations["prometheus.io/path"] == "/metrics"


KEDA_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"app": "keda-operator"}},
}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return bool(selector.get("matchLabels", {}).items() <= labels.items())


def test_network_policies_admit_exactly_the_scraper_on_exactly_the_agent_port(
    result: SynthResult,
) -> None:
    policies = kube_objects(result, "NetworkPolicy")
    for namespace, labels, _ in _scraped_pods(result):
        admitted = []
        for policy in policies:
            if policy["metadata"]["namespace"] != namespace:
                continue
            if not _selects(policy["spec"]["podSelector"], labels):
                continue
            for rule in policy["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    if "namespaceSelector" in peer:
                        admitted.append((peer, rule["ports"]))
        scraper = [ports for peer, ports in admitted if peer == SCRAPER_PEER]
        assert scraper == [[{"port": 15020, "protocol": "TCP"}]], (namespace, labels)
        # No other rule lets kube-system (or any other namespace's pods) reach these pods, but
        # the KEDA operator on the broker's AMQP port where a service scales on its queue
        # (tests/components/test_rabbitmq.py checks that rule).
        keda = [ports for peer, ports in admitted if peer == KEDA_PEER]
        assert keda in ([], [[{"port": 5672, "protocol": "TCP"}]]), (namespace, labels)
        if keda:
            assert labels[kube.NAME_LABEL] == "rabbitmq"
        others = [peer for peer, _ in admitted if peer not in (SCRAPER_PEER, KEDA_PEER)]
        assert all(
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            not in ("kube-system",)
            for peer in others
        )


def test_the_platform_and_the_runtime_agree_on_the_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(SERVICES_DIR))
    monkeypatch.delitem(sys.modules, "micromart_runtime.metrics", raising=False)
    metrics = importlib.import_module("micromart_runtime.metrics")
    assert metrics.METRICS_PORT == METRICS_PORT
    assert metrics.LOOPBACK == "127.0.0.1"
