"""What the cluster and the Azure resources send to the stack's workspaces, and how.

- Container Insights: a data collection rule for the AKS monitoring add-on's ContainerInsights
  extension (container logs as ContainerLogV2, Kubernetes events and inventory) into Log
  Analytics, associated with the cluster. The add-on authenticates with its managed identity
  (`useAADAuth`), which is what makes it read this rule (Microsoft's onboarding template,
  microsoft/Docker-Provider scripts/onboarding/aks/onboarding-msi-terraform/main.tf).
- Managed Prometheus: a data collection endpoint and rule with the Microsoft-PrometheusMetrics
  stream into the Azure Monitor workspace, associated with the cluster (Azure/prometheus-collector
  AddonTerraformTemplate/main.tf); the cluster's azureMonitorProfile.metrics turns the agent on.
- Diagnostic settings: the AKS control plane's logs and each Azure resource's logs into Log
  Analytics.
- `ama-metrics-settings-configmap` (kube-system): pod-annotation scraping in exactly the app and
  messaging namespaces. Without it the agent scrapes no annotated pod at all (learn.microsoft.com,
  "Customize scraping of Prometheus metrics in Azure Monitor managed service for Prometheus":
  `podannotationnamespaceregex` is empty by default).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import monitor

from components import kube
from components.azure import Placement

# AKS control-plane log categories (learn.microsoft.com, "Monitor AKS: resource logs"). The full
# `kube-audit` (every read, too) is left out: `kube-audit-admin` keeps every change at a fraction
# of the volume; `guard` is the Entra ID / Azure RBAC authorization trail.
AKS_LOG_CATEGORIES = (
    "kube-apiserver",
    "kube-audit-admin",
    "kube-controller-manager",
    "kube-scheduler",
    "cluster-autoscaler",
    "cloud-controller-manager",
    "guard",
)
# Container Insights streams (Microsoft's onboarding template's list, minus the legacy
# ContainerLog table that ContainerLogV2 replaces).
CONTAINER_INSIGHTS_STREAMS = (
    "Microsoft-ContainerLogV2",
    "Microsoft-KubeEvents",
    "Microsoft-KubePodInventory",
    "Microsoft-KubeNodeInventory",
    "Microsoft-KubePVInventory",
    "Microsoft-KubeServices",
    "Microsoft-KubeMonAgentEvents",
    "Microsoft-InsightsMetrics",
    "Microsoft-ContainerInventory",
    "Microsoft-ContainerNodeInventory",
    "Microsoft-Perf",
)
PROMETHEUS_STREAM = "Microsoft-PrometheusMetrics"
SCRAPE_SETTINGS_NAME = "ama-metrics-settings-configmap"
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # no regex metacharacters
# The default targets the alerts read (kube-state-metrics for restarts and autoscalers); the
# others stay at the add-on's defaults (Azure/prometheus-collector,
# otelcollector/configmaps/ama-metrics-settings-configmap.yaml).
DEFAULT_TARGETS = {
    "kubelet": True,
    "coredns": False,
    "cadvisor": True,
    "kubeproxy": False,
    "apiserver": False,
    "kubestate": True,
    "nodeexporter": True,
    "windowsexporter": False,
    "windowskubeproxy": False,
    "kappiebasic": True,
    "prometheuscollectorhealth": False,
}


@dataclass(frozen=True)
class DiagnosticTarget:
    """An Azure resource whose logs go to Log Analytics: explicit categories, or `allLogs`."""

    name: str
    resource_id: pulumi.Input[str]
    categories: tuple[str, ...] = ()
    # Resource-specific tables (AKSAudit, AKSControlPlane, ...) instead of AzureDiagnostics.
    dedicated_tables: bool = False
    metrics: bool = False


@dataclass(frozen=True)
class MonitoringArgs:
    placement: Placement
    cluster_name: str
    cluster_id: pulumi.Input[str]
    log_analytics_id: pulumi.Input[str]
    monitor_workspace_id: pulumi.Input[str]
    diagnostics: tuple[DiagnosticTarget, ...]
    # Namespaces whose annotated pods managed Prometheus scrapes: exactly these.
    scrape_namespaces: tuple[str, ...]
    provider: k8s.Provider


class Monitoring(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:monitoring:Monitoring", name, None, opts)
        self._name = name
        self._args = args
        self._container_insights()
        self._prometheus()
        for target in args.diagnostics:
            self._diagnostic_setting(target)
        scrape_settings(f"{name}-scrape-settings", args.scrape_namespaces, args.provider, self)
        self.register_outputs({})

    def _azure(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _container_insights(self) -> None:
        args, placement = self._args, self._args.placement
        rule = monitor.DataCollectionRule(
            f"{self._name}-container-insights",
            data_collection_rule_name=f"MSCI-{placement.location}-{args.cluster_name}",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            description="Container Insights: container logs, events and inventory of the cluster",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=list(CONTAINER_INSIGHTS_STREAMS),
                        extension_settings={
                            "dataCollectionSettings": {
                                "interval": "1m",
                                "namespaceFilteringMode": "Off",
                                "enableContainerLogV2": True,
                            }
                        },
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[
                    monitor.LogAnalyticsDestinationArgs(
                        name="ciworkspace", workspace_resource_id=args.log_analytics_id
                    )
                ]
            ),
            data_flows=[
                monitor.DataFlowArgs(
                    streams=list(CONTAINER_INSIGHTS_STREAMS), destinations=["ciworkspace"]
                )
            ],
            opts=self._azure(),
        )
        monitor.DataCollectionRuleAssociation(
            f"{self._name}-container-insights-association",
            # The add-on looks its rule up under this association name.
            association_name="ContainerInsightsExtension",
            resource_uri=args.cluster_id,
            data_collection_rule_id=rule.id,
            description="Container Insights for the cluster; deleting it stops log collection.",
            opts=self._azure(),
        )

    def _prometheus(self) -> None:
        args, placement = self._args, self._args.placement
        rule_name = f"MSProm-{placement.location}-{args.cluster_name}"
        endpoint = monitor.DataCollectionEndpoint(
            f"{self._name}-prometheus-endpoint",
            data_collection_endpoint_name=rule_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            kind="Linux",
            opts=self._azure(),
        )
        rule = monitor.DataCollectionRule(
            f"{self._name}-prometheus",
            data_collection_rule_name=rule_name,
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            kind="Linux",
            description="Managed Prometheus: cluster metrics into the Azure Monitor workspace",
            data_collection_endpoint_id=endpoint.id,
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                prometheus_forwarder=[
                    monitor.PrometheusForwarderDataSourceArgs(
                        name="PrometheusDataSource", streams=[PROMETHEUS_STREAM]
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                monitoring_accounts=[
                    monitor.MonitoringAccountDestinationArgs(
                        name="MonitoringAccount1", account_resource_id=args.monitor_workspace_id
                    )
                ]
            ),
            data_flows=[
                monitor.DataFlowArgs(
                    streams=[PROMETHEUS_STREAM], destinations=["MonitoringAccount1"]
                )
            ],
            opts=self._azure(),
        )
        monitor.DataCollectionRuleAssociation(
            f"{self._name}-prometheus-association",
            association_name=rule_name,
            resource_uri=args.cluster_id,
            data_collection_rule_id=rule.id,
            description="Managed Prometheus for the cluster; deleting it stops metric collection.",
            opts=self._azure(),
        )

    def _diagnostic_setting(self, target: DiagnosticTarget) -> None:
        logs = (
            [
                monitor.DiagnosticsLogSettingsArgs(enabled=True, category=c)
                for c in target.categories
            ]
            if target.categories
            else [monitor.DiagnosticsLogSettingsArgs(enabled=True, category_group="allLogs")]
        )
        monitor.DiagnosticSetting(
            f"{self._name}-{target.name}-diagnostics",
            name="to-log-analytics",
            resource_uri=target.resource_id,
            workspace_id=self._args.log_analytics_id,
            log_analytics_destination_type="Dedicated" if target.dedicated_tables else None,
            logs=logs,
            metrics=[monitor.DiagnosticsMetricSettingsArgs(enabled=True, category="AllMetrics")]
            if target.metrics
            else None,
            opts=self._azure(),
        )


def scrape_settings_data(namespaces: tuple[str, ...]) -> dict[str, str]:
    """The add-on's settings ConfigMap (schema v1), annotation scraping limited to `namespaces`."""
    targets = "\n".join(f"{key} = {json.dumps(on)}" for key, on in DEFAULT_TARGETS.items())
    # The agent keeps pods whose namespace matches this regex; Prometheus relabel regexes are
    # anchored, so an alternation of literal names admits exactly those namespaces.
    regex = "|".join(namespaces)
    return {
        "schema-version": "v1",
        "config-version": "ver1",
        "prometheus-collector-settings": 'cluster_alias = ""',
        "default-scrape-settings-enabled": targets,
        "pod-annotation-based-scraping": f"podannotationnamespaceregex = {json.dumps(regex)}",
    }


def scrape_settings(
    name: str, namespaces: tuple[str, ...], provider: k8s.Provider, parent: pulumi.Resource
) -> k8s.core.v1.ConfigMap:
    for namespace in namespaces:
        if not NAMESPACE_NAME.fullmatch(namespace):
            raise ValueError(f"{namespace!r} is not a namespace name")
    return k8s.core.v1.ConfigMap(
        name,
        metadata=kube.metadata(
            SCRAPE_SETTINGS_NAME, kube.METRICS_SCRAPER_NAMESPACE, kube.labels("ama-metrics")
        ),
        data=scrape_settings_data(namespaces),
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )
