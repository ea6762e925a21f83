"""Alerts of one stack: Prometheus rule groups on the Azure Monitor workspace, PostgreSQL metric
alerts, and the action group that emails the stack's receivers.

Every threshold comes from `micromart:monitoring.alerts`; README "Operations" says what each
alert means and what to do first. The expressions read only series that really exist:
- the services' own metrics (services/micromart_runtime/metrics.py: `service`, `route`,
  `status_class` labels), merged into the Istio agent's endpoint and scraped by annotation;
- kube-state-metrics, which managed Prometheus runs and scrapes by default (`kubestate`);
- RabbitMQ's rabbitmq_prometheus plugin, per-object endpoint (`queue`, `vhost` labels).
tests/components/test_alerts.py checks each expression with promtool and against those names.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import alertsmanagement, monitor

from components.azure import Placement
from components.config.stack import AlertThresholds, MonitoringConfig

# Probe traffic is the kubelet's, not the users': it would dilute error ratios and latency.
API_TRAFFIC = 'route!~"/health/.*"'
RULE_INTERVAL = "PT1M"


@dataclass(frozen=True)
class PrometheusAlert:
    name: str
    expression: str
    for_minutes: int
    severity: int  # Azure Monitor: 0 critical .. 4 verbose
    summary: str


def service_alerts(t: AlertThresholds) -> list[PrometheusAlert]:
    """Per service (one series per `service` label): what its users see."""
    requests = f"micromart_http_requests_total{{{API_TRAFFIC}}}"
    errors = f'micromart_http_requests_total{{{API_TRAFFIC},status_class="5xx"}}'
    buckets = f"micromart_http_request_duration_seconds_bucket{{{API_TRAFFIC}}}"
    return [
        PrometheusAlert(
            "ServiceHighErrorRatio",
            f"sum by (service) (rate({errors}[5m]))"
            f" / sum by (service) (rate({requests}[5m])) > {t.error_ratio:g}",
            for_minutes=5,
            severity=1,
            summary=f"more than {t.error_ratio:.0%} of the service's API requests answer 5xx",
        ),
        PrometheusAlert(
            "ServiceHighLatencyP95",
            f"histogram_quantile(0.95, sum by (service, le) (rate({buckets}[5m])))"
            f" > {t.latency_p95_seconds:g}",
            for_minutes=10,
            severity=2,
            summary=f"the service's p95 API latency is above {t.latency_p95_seconds:g} s",
        ),
    ]


def platform_alerts(t: AlertThresholds, namespaces: tuple[str, ...]) -> list[PrometheusAlert]:
    """Pods, autoscalers and the broker, in the stack's own namespaces."""
    ours = f'namespace=~"{"|".join(namespaces)}"'
    return [
        PrometheusAlert(
            "PodRestarting",
            f"increase(kube_pod_container_status_restarts_total{{{ours}}}[1h])"
            f" >= {t.pod_restarts_per_hour}",
            for_minutes=0,
            severity=2,
            summary=f"a container restarted {t.pod_restarts_per_hour} times or more in an hour",
        ),
        PrometheusAlert(
            "AutoscalerAtMaximum",
            f"kube_horizontalpodautoscaler_status_current_replicas{{{ours}}}"
            f" >= kube_horizontalpodautoscaler_spec_max_replicas{{{ours}}}",
            for_minutes=t.hpa_at_max_minutes,
            severity=2,
            summary=f"an autoscaler has been at its maxReplicas for {t.hpa_at_max_minutes} min",
        ),
        PrometheusAlert(
            "QueueBacklog",
            f"max by (vhost, queue) (rabbitmq_queue_messages_ready) > {t.queue_ready_messages}",
            for_minutes=10,
            severity=2,
            summary=f"a queue holds more than {t.queue_ready_messages} ready messages",
        ),
        PrometheusAlert(
            "QueueUnacknowledged",
            f"max by (vhost, queue) (rabbitmq_queue_messages_unacked) > {t.queue_unacked_messages}",
            for_minutes=10,
            severity=2,
            summary=f"a queue has more than {t.queue_unacked_messages} unacknowledged deliveries",
        ),
    ]


@dataclass(frozen=True)
class MetricAlertSpec:
    name: str
    metric: str
    threshold: int
    summary: str


def postgres_alerts(t: AlertThresholds) -> list[MetricAlertSpec]:
    # Platform metrics of Microsoft.DBforPostgreSQL/flexibleServers (Azure Monitor supported
    # metrics: cpu_percent, storage_percent), averaged over 15 minutes.
    return [
        MetricAlertSpec(
            "postgres-cpu",
            "cpu_percent",
            t.postgres_cpu_percent,
            f"PostgreSQL CPU above {t.postgres_cpu_percent} % for 15 minutes",
        ),
        MetricAlertSpec(
            "postgres-storage",
            "storage_percent",
            t.postgres_storage_percent,
            f"PostgreSQL storage above {t.postgres_storage_percent} % used",
        ),
    ]


@dataclass(frozen=True)
class AlertsArgs:
    config: MonitoringConfig
    placement: Placement
    environment: str
    cluster_name: str
    monitor_workspace_id: pulumi.Input[str]
    postgres_server_id: pulumi.Input[str]
    namespaces: tuple[str, ...]


class Alerts(pulumi.ComponentResource):
    action_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:alerts:Alerts", name, None, opts)
        self._name = name
        self._args = args
        placement = args.placement
        group = monitor.ActionGroup(
            f"{name}-action-group",
            action_group_name=f"ag-micromart-{args.environment}",
            # At most 12 characters: it prefixes every SMS and email subject.
            group_short_name=f"mm-{args.environment[:9]}",
            resource_group_name=placement.resource_group_name,
            location="Global",
            tags=placement.tags,
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=receiver.name,
                    email_address=receiver.address,
                    use_common_alert_schema=True,
                )
                for receiver in args.config.emails
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        thresholds = args.config.alerts
        self._rule_group("services", service_alerts(thresholds), group.id)
        self._rule_group("platform", platform_alerts(thresholds, args.namespaces), group.id)
        for spec in postgres_alerts(thresholds):
            self._metric_alert(spec, group.id)
        self.action_group_id = group.id
        self.register_outputs({"action_group_id": self.action_group_id})

    def _rule_group(
        self, suffix: str, alerts: list[PrometheusAlert], action_group_id: pulumi.Input[str]
    ) -> None:
        args = self._args
        alertsmanagement.PrometheusRuleGroup(
            f"{self._name}-{suffix}-rules",
            rule_group_name=f"micromart-{suffix}-{args.environment}",
            resource_group_name=args.placement.resource_group_name,
            location=args.placement.location,
            tags=args.placement.tags,
            description=f"MicroMart {suffix} alerts ({args.environment})",
            # Scoped to the workspace, filtered to this cluster's series (its `cluster` label).
            scopes=[args.monitor_workspace_id],
            cluster_name=args.cluster_name,
            interval=RULE_INTERVAL,
            enabled=True,
            rules=[
                alertsmanagement.PrometheusRuleArgs(
                    alert=alert.name,
                    expression=alert.expression,
                    for_=f"PT{alert.for_minutes}M" if alert.for_minutes else None,
                    severity=alert.severity,
                    enabled=True,
                    labels={"stack": args.environment},
                    annotations={"summary": alert.summary},
                    actions=[
                        alertsmanagement.PrometheusRuleGroupActionArgs(
                            action_group_id=action_group_id
                        )
                    ],
                    resolve_configuration=alertsmanagement.PrometheusRuleResolveConfigurationArgs(
                        auto_resolved=True, time_to_resolve="PT10M"
                    ),
                )
                for alert in alerts
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _metric_alert(self, spec: MetricAlertSpec, action_group_id: pulumi.Input[str]) -> None:
        args = self._args
        monitor.MetricAlert(
            f"{self._name}-{spec.name}",
            rule_name=f"micromart-{spec.name}-{args.environment}",
            resource_group_name=args.placement.resource_group_name,
            location="global",
            tags=args.placement.tags,
            description=spec.summary,
            severity=2,
            enabled=True,
            scopes=[args.postgres_server_id],
            evaluation_frequency="PT5M",
            window_size="PT15M",
            auto_mitigate=True,
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name=spec.metric,
                        metric_name=spec.metric,
                        metric_namespace="Microsoft.DBforPostgreSQL/flexibleServers",
                        operator="GreaterThan",
                        threshold=float(spec.threshold),
                        time_aggregation="Average",
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=action_group_id)],
            opts=pulumi.ResourceOptions(parent=self),
        )
