"""Alerts: the rendered PromQL is valid Prometheus (promtool), reads series that really exist,
fires exactly at each stack's thresholds (promtool rule unit tests), and notifies the action
group built from the stack's receivers."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from components.config.stack import LATENCY_BUCKET_MAX_SECONDS
from tests.services.apprunner import SERVICES_DIR
from tests.synthesis import PROJECT_DIR, of_type, only
from tools.synth import SynthResult

RULE_GROUP = "azure-native:alertsmanagement:PrometheusRuleGroup"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
METRIC_ALERT = "azure-native:monitor:MetricAlert"
POSTGRES = "azure-native:dbforpostgresql:Server"
AMW = "azure-native:monitor:AzureMonitorWorkspace"
CLUSTER = "azure-native:containerservice:ManagedCluster"

# Series the alerts may read besides the services' own (read from the runtime below).
# kube-state-metrics v2 names (kubernetes/kube-state-metrics docs/metrics/workload/
# pod-metrics.md and horizontalpodautoscaler-metrics.md); the AKS add-on's KSM is scraped by
# default (`kubestate = true`).
KUBE_STATE = {
    "kube_pod_container_status_restarts_total": {"namespace", "pod", "container"},
    "kube_horizontalpodautoscaler_status_current_replicas": {
        "namespace",
        "horizontalpodautoscaler",
    },
    "kube_horizontalpodautoscaler_spec_max_replicas": {"namespace", "horizontalpodautoscaler"},
}
# rabbitmq_prometheus, /metrics/per-object (rabbitmq-server deps/rabbitmq_prometheus/metrics.md).
RABBITMQ = {
    "rabbitmq_queue_messages_ready": {"vhost", "queue"},
    "rabbitmq_queue_messages_unacked": {"vhost", "queue"},
}
PROMQL_WORDS = {
    "sum",
    "max",
    "by",
    "rate",
    "increase",
    "histogram_quantile",
    "le",
    "and",
    "or",
    "unless",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not found: apt-get install prometheus (Debian ships promtool in it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def rule_groups(result: SynthResult) -> list[dict[str, Any]]:
    return [group.plain_inputs() for group in of_type(result, RULE_GROUP)]


def as_prometheus_rules(result: SynthResult, annotations: bool = True) -> dict[str, Any]:
    """The Azure rule groups as a Prometheus rules file, as promtool reads it (rule unit tests
    compare annotations too: they leave them out)."""
    groups = []
    for group in rule_groups(result):
        rules = []
        for rule in group["rules"]:
            entry: dict[str, Any] = {"alert": rule["alert"], "expr": rule["expression"]}
            if "for" in rule:
                entry["for"] = iso_minutes(rule["for"])
            entry["labels"] = rule.get("labels", {})
            if annotations:
                entry["annotations"] = rule.get("annotations", {})
            rules.append(entry)
        groups.append({"name": group["ruleGroupName"], "rules": rules})
    return {"groups": groups}


def iso_minutes(duration: str) -> str:
    match = re.fullmatch(r"PT(\d+)M", duration)
    assert match, f"{duration!r} is not a whole-minute ISO 8601 duration"
    return f"{match.group(1)}m"


@cache
def stack_alerts(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return dict(document["config"]["micromart:monitoring"]["alerts"])


def app_series() -> dict[str, set[str]]:
    """Every sample name the runtime exposes, with its labels, from its real exposition."""
    sys.path.insert(0, str(SERVICES_DIR))
    try:
        runtime_metrics = importlib.import_module("micromart_runtime.metrics")
    finally:
        sys.path.remove(str(SERVICES_DIR))
    metrics = runtime_metrics.Metrics.create("orders", ["/api/orders"])
    metrics.observe("/api/orders", "GET", 500, 0.2, failed=True)
    text = generate_latest(metrics.registry).decode()
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


# -- syntax and names ---------------------------------------------------------------------------


def test_promtool_accepts_every_rule(result: SynthResult, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(as_prometheus_rules(result)), encoding="utf-8")
    run = subprocess.run(
        [promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 6 rules found" in run.stdout, run.stdout


def selectors(expression: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """(metric name, matcher labels) of each selector, and the labels grouped `by`."""
    grouping = {
        label.strip()
        for clause in re.findall(r"by \(([^)]*)\)", expression)
        for label in clause.split(",")
    }
    rest = re.sub(r"by \([^)]*\)", "", expression)
    rest = re.sub(r'"[^"]*"', '""', rest)  # label values
    rest = re.sub(r"\[[0-9]+[smhd]\]", "", rest)  # range durations
    found = [
        (name, set(re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", matchers)))
        for name, matchers in re.findall(r"([a-z_][a-z0-9_]*)\s*(\{[^}]*\})?", rest)
        if name not in PROMQL_WORDS
    ]
    return found, grouping


def test_expressions_read_only_series_and_labels_that_exist(result: SynthResult) -> None:
    known = {**app_series(), **KUBE_STATE, **RABBITMQ}
    for group in rule_groups(result):
        for rule in group["rules"]:
            found, grouping = selectors(rule["expression"])
            assert found, rule["expression"]
            for name, labels in found:
                assert name in known, f"{rule['alert']}: no exporter provides {name!r}"
                assert labels <= known[name], f"{rule['alert']}: {name} has no {labels}"
            # Grouping labels exist on every series the expression reads.
            for name, _ in found:
                assert grouping <= known[name], f"{rule['alert']}: {name} lacks {grouping}"


def test_the_name_check_catches_a_misspelt_series() -> None:
    found, grouping = selectors(
        'sum by (service) (rate(micromart_http_request_total{route!~"/h.*"}[5m])) > 1'
    )
    assert found == [("micromart_http_request_total", {"route"})] and grouping == {"service"}
    assert "micromart_http_request_total" not in app_series()


def test_the_latency_threshold_limit_is_the_runtimes_largest_bucket() -> None:
    source = (SERVICES_DIR / "micromart_runtime" / "metrics.py").read_text(encoding="utf-8")
    buckets = re.search(r"LATENCY_BUCKETS = \(([^)]*)\)", source)
    assert buckets
    assert max(float(b) for b in buckets.group(1).split(",")) == LATENCY_BUCKET_MAX_SECONDS


# -- behaviour: promtool rule unit tests at each stack's thresholds -----------------------------


INF = float("inf")
BUCKETS = tuple(
    float(bound)
    for bound in re.findall(
        r"[0-9.]+",
        re.search(
            r"LATENCY_BUCKETS = \(([^)]*)\)",
            (SERVICES_DIR / "micromart_runtime" / "metrics.py").read_text(encoding="utf-8"),
        ).group(1),  # type: ignore[union-attr]
    )
)


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def _unit_tests(stack: str) -> dict[str, Any]:
    """Input series just above and just below each threshold; which alerts must fire."""
    t = stack_alerts(stack)
    ratio = float(t["errorRatio"])
    per_minute = 600  # requests per minute per service
    bad_above = round(per_minute * ratio * 1.5)
    bad_below = round(per_minute * ratio * 0.5)
    api = {"route": "/api/orders", "method": "GET"}
    slow = float(t["latencyP95Seconds"])
    series = [
        # orders: 5xx above the ratio; catalog: below it.
        _series(
            "micromart_http_requests_total",
            {"service": "orders", **api, "status_class": "5xx"},
            f"0+{bad_above}x20",
        ),
        _series(
            "micromart_http_requests_total",
            {"service": "orders", **api, "status_class": "2xx"},
            f"0+{per_minute - bad_above}x20",
        ),
        _series(
            "micromart_http_requests_total",
            {"service": "catalog", **api, "status_class": "5xx"},
            f"0+{bad_below}x20",
        ),
        _series(
            "micromart_http_requests_total",
            {"service": "catalog", **api, "status_class": "2xx"},
            f"0+{per_minute - bad_below}x20",
        ),
        # Probes fail all the time on both, and must not count.
        _series(
            "micromart_http_requests_total",
            {
                "service": "catalog",
                "route": "/health/ready",
                "method": "GET",
                "status_class": "5xx",
            },
            f"0+{per_minute}x20",
        ),
        # The runtime's real buckets. orders: every request in the first bucket above the
        # threshold; catalog: every request in the bucket just below or at it.
        *[
            _series(
                "micromart_http_request_duration_seconds_bucket",
                {"service": service, "route": "/api/orders", "le": f"{le:g}"},
                f"0+{per_minute if le >= edge else 0}x20",
            )
            for service, edge in (
                ("orders", min(b for b in [*BUCKETS, INF] if b > slow)),
                ("catalog", max(b for b in BUCKETS if b <= slow)),
            )
            for le in [*BUCKETS, INF]
        ],
        _series(
            "rabbitmq_queue_messages_ready",
            {"vhost": "/", "queue": "order-placed"},
            f"{int(t['queueReadyMessages']) + 1}x20",
        ),
        _series(
            "rabbitmq_queue_messages_ready",
            {"vhost": "/", "queue": "quiet"},
            f"{t['queueReadyMessages']}x20",
        ),
        _series(
            "rabbitmq_queue_messages_unacked",
            {"vhost": "/", "queue": "order-placed"},
            f"{int(t['queueUnackedMessages']) + 1}x20",
        ),
    ]
    fired = {
        "ServiceHighErrorRatio": [{"service": "orders"}],
        "ServiceHighLatencyP95": [{"service": "orders"}],
        "QueueBacklog": [{"vhost": "/", "queue": "order-placed"}],
        "QueueUnacknowledged": [{"vhost": "/", "queue": "order-placed"}],
    }
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": name,
                "exp_alerts": [
                    {"exp_labels": {**labels, "stack": stack}} for labels in fired[name]
                ],
            }
            for name in fired
        ],
    }


def _lifecycle_tests(stack: str) -> dict[str, Any]:
    """Pod restarts and an autoscaler at its maximum, with their `for` durations."""
    t = stack_alerts(stack)
    restarts = int(t["podRestartsPerHour"])
    hold = int(t["hpaAtMaxMinutes"])
    pod = {"namespace": "micromart", "pod": "orders-1", "container": "orders"}
    calm = {"namespace": "micromart", "pod": "catalog-1", "container": "catalog"}
    hpa = {"namespace": "micromart", "horizontalpodautoscaler": "orders"}
    other = {"namespace": "kube-system", "pod": "coredns-1", "container": "coredns"}
    return {
        "interval": "1m",
        "input_series": [
            _series(
                "kube_pod_container_status_restarts_total", pod, f"0+{restarts}x1 {restarts}x90"
            ),
            _series("kube_pod_container_status_restarts_total", calm, f"0+{restarts - 1}x1 0x90"),
            _series("kube_pod_container_status_restarts_total", other, "0+50x90"),
            _series("kube_horizontalpodautoscaler_spec_max_replicas", hpa, "10x90"),
            _series("kube_horizontalpodautoscaler_status_current_replicas", hpa, "10x90"),
        ],
        "alert_rule_test": [
            {
                "eval_time": "5m",
                "alertname": "PodRestarting",
                "exp_alerts": [{"exp_labels": {**pod, "stack": stack}}],
            },
            {"eval_time": f"{hold - 1}m", "alertname": "AutoscalerAtMaximum", "exp_alerts": []},
            {
                "eval_time": f"{hold + 1}m",
                "alertname": "AutoscalerAtMaximum",
                "exp_alerts": [{"exp_labels": {**hpa, "stack": stack}}],
            },
        ],
    }


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_alerts_fire_exactly_at_the_stacks_thresholds(
    stack: str, staging: SynthResult, production: SynthResult, tmp_path: Path
) -> None:
    result = {"staging": staging, "production": production}[stack]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(as_prometheus_rules(result, False)), encoding="utf-8")
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        yaml.safe_dump(
            {"rule_files": [rules.name], "tests": [_unit_tests(stack), _lifecycle_tests(stack)]}
        ),
        encoding="utf-8",
    )
    run = subprocess.run(
        [promtool(), "test", "rules", tests.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# -- Azure side ---------------------------------------------------------------------------------


def test_every_rule_notifies_the_stacks_action_group(result: SynthResult) -> None:
    group = only(result, ACTION_GROUP)
    document = yaml.safe_load(
        (PROJECT_DIR / f"Pulumi.{result.stack}.yaml").read_text(encoding="utf-8")
    )
    emails = document["config"]["micromart:monitoring"]["emails"]
    assert group.plain_inputs()["emailReceivers"] == [
        {"name": e["name"], "emailAddress": e["address"], "useCommonAlertSchema": True}
        for e in emails
    ]
    workspace = only(result, AMW)
    for rule_group in rule_groups(result):
        assert rule_group["scopes"] == [workspace.id]
        assert rule_group["clusterName"] == only(result, CLUSTER).plain_inputs()["resourceName"]
        for rule in rule_group["rules"]:
            assert rule["actions"] == [{"actionGroupId": group.id}], rule["alert"]
    for alert in of_type(result, METRIC_ALERT):
        assert alert.plain_inputs()["actions"] == [{"actionGroupId": group.id}]


def test_postgres_alerts_watch_the_server_at_the_stacks_thresholds(result: SynthResult) -> None:
    server = only(result, POSTGRES)
    thresholds = stack_alerts(result.stack)
    found = {}
    for alert in of_type(result, METRIC_ALERT):
        inputs = alert.plain_inputs()
        assert inputs["scopes"] == [server.id]
        (criterion,) = inputs["criteria"]["allOf"]
        assert criterion["metricNamespace"] == "Microsoft.DBforPostgreSQL/flexibleServers"
        found[criterion["metricName"]] = (criterion["operator"], criterion["threshold"])
    assert found == {
        "cpu_percent": ("GreaterThan", thresholds["postgresCpuPercent"]),
        "storage_percent": ("GreaterThan", thresholds["postgresStoragePercent"]),
    }
