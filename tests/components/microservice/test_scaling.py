"""Scaling: HPAs with rate policies, and KEDA on the RabbitMQ queue where a spec asks for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.loader import ConfigError, load_program_config
from components.keda import KEDA_CRDS
from tests.components.microservice.objects import app_deployments
from tests.components.microservice.sources import APP_NS, service_names, service_spec
from tests.synthesis import copy_project, edit_yaml, kube_object, kube_objects, only
from tools import keda_crds
from tools.synth import SynthResult, read_stack_file

CLUSTER = "azure-native:containerservice:ManagedCluster"


def _queue_services() -> list[str]:
    return [n for n in service_names() if service_spec(n).get("autoscaling", {}).get("queue")]


@pytest.fixture(scope="module")
def keda_production(production: SynthResult) -> SynthResult:
    """The shipped production stack: notifications scales on its queue there."""
    return production


def test_shipped_spec_scales_only_notifications_on_its_queue() -> None:
    assert _queue_services() == ["notifications"]
    assert service_spec("notifications")["autoscaling"]["queue"]["queue"] == "notifications"


def test_notifications_scales_on_its_queue_with_keda_instead_of_cpu(
    keda_production: SynthResult,
) -> None:
    production = keda_production
    spec = service_spec("notifications")
    hpas = {h["metadata"]["name"] for h in kube_objects(production, "HorizontalPodAutoscaler")}
    assert "notifications" not in hpas, "KEDA owns the HPA; a second one would fight it"
    scaled = kube_object(production, "ScaledObject", "notifications", APP_NS)
    deployment = app_deployments(production)["notifications"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert scaled["spec"]["minReplicaCount"] == spec["autoscaling"]["minReplicas"]
    assert scaled["spec"]["maxReplicaCount"] == spec["autoscaling"]["maxReplicas"]
    (trigger,) = scaled["spec"]["triggers"]
    queue = spec["autoscaling"]["queue"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == queue["queue"]
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["value"] == str(queue["messagesPerReplica"])
    # The credentials: the read-nothing monitoring user's URL, never the service's own user;
    # the service's pods get their broker password as a file, never from env.
    auth = kube_object(
        production, "TriggerAuthentication", trigger["authenticationRef"]["name"], APP_NS
    )
    (ref,) = auth["spec"]["secretTargetRef"]
    assert (ref["parameter"], ref["name"], ref["key"]) == ("host", "rabbitmq-monitoring", "host")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]] == ["PORT", "METRICS_PORT"]
    secret = kube_object(production, "Secret", ref["name"], APP_NS)
    assert secret["stringData"]["host"].startswith("amqp://monitoring:")


def test_keda_objects_are_valid_for_the_add_on_crds(keda_production: SynthResult) -> None:
    objects = [
        *kube_objects(keda_production, "ScaledObject"),
        *kube_objects(keda_production, "TriggerAuthentication"),
    ]
    assert len(objects) == 2
    for document in objects:
        assert keda_crds.validation_errors(document) == [], document["kind"]


def test_the_keda_schema_rejects_what_the_api_server_would_prune() -> None:
    base = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x", "namespace": "y"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [{"type": "rabbitmq", "metadata": {}}],
        },
    }
    assert keda_crds.validation_errors(base) == []
    typo = json.loads(json.dumps(base))
    typo["spec"]["minReplicas"] = 2  # the HPA's field name, not KEDA's minReplicaCount
    assert any("minReplicas" in e for e in keda_crds.validation_errors(typo))
    wrong_type = json.loads(json.dumps(base))
    wrong_type["spec"]["maxReplicaCount"] = "6"
    assert keda_crds.validation_errors(wrong_type) != []
    missing = json.loads(json.dumps(base))
    del missing["spec"]["triggers"]
    assert keda_crds.validation_errors(missing) != []
    assert keda_crds.validation_errors({**base, "apiVersion": "keda.sh/v1"}) != []


def test_staging_without_autoscaling_declares_no_keda_objects(staging: SynthResult) -> None:
    assert kube_objects(staging, "ScaledObject") == []
    assert kube_objects(staging, "TriggerAuthentication") == []


def test_hpas_rate_limit_scaling_with_percent_and_pods_policies(
    keda_production: SynthResult,
) -> None:
    hpas = kube_objects(keda_production, "HorizontalPodAutoscaler")
    assert sorted(h["metadata"]["name"] for h in hpas) == sorted(
        n for n in service_names() if n != "notifications"
    )
    scaled = kube_object(keda_production, "ScaledObject", "notifications", APP_NS)
    behaviors = [h["spec"]["behavior"] for h in hpas]
    behaviors.append(scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"])
    for behavior in behaviors:
        up, down = behavior["scaleUp"], behavior["scaleDown"]
        # Seed 004: up by 100 % or 4 pods per 15 s, whichever is more; down by 10 % a minute.
        assert up["selectPolicy"] == "Max"
        assert {(p["type"], p["value"], p["periodSeconds"]) for p in up["policies"]} == {
            ("Percent", 100, 15),
            ("Pods", 4, 15),
        }
        assert [(p["type"], p["value"], p["periodSeconds"]) for p in down["policies"]] == [
            ("Percent", 10, 60)
        ]


def test_the_cluster_runs_the_keda_add_on(result: SynthResult) -> None:
    profile = only(result, CLUSTER).plain_inputs()["workloadAutoScalerProfile"]
    assert profile["keda"]["enabled"] is True


def test_queue_scaling_needs_rabbitmq(tmp_path: Path) -> None:
    project = copy_project(tmp_path)

    def edit(doc: dict[str, Any]) -> None:
        doc["autoscaling"]["queue"] = {"queue": "catalog", "messagesPerReplica": 5}

    edit_yaml(project / "services" / "catalog" / "service.yaml", edit)
    raw = dict(read_stack_file(project, "staging").config)
    with pytest.raises(ConfigError, match="needs rabbitmq: true") as caught:
        load_program_config(raw, "staging", project / "services")
    assert "services/catalog/service.yaml" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_keda_objects_wait_for_the_read_of_their_crd(keda_production: SynthResult) -> None:
    production = keda_production
    reads = {read.id: read.urn for read in production.reads}
    keda = [
        r for r in production.resources if keda_crds.is_keda(str(r.inputs.get("apiVersion", "")))
    ]
    assert len(keda) == 2
    for resource in keda:
        crd = KEDA_CRDS[(resource.inputs["apiVersion"], resource.inputs["kind"])]
        assert reads[crd] in resource.dependencies, f"{resource.urn} does not wait for {crd}"
        assert crd in keda_crds.crd_documents(), "the vendored CRDs serve what the mocks read"
