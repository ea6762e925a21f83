"""Reading the synthesized objects, and the invariants several concerns share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.components.microservice.sources import APP_NS, MICROSERVICE
from tests.synthesis import (
    copy_project,
    edit_yaml,
    kube_object,
    kube_objects,
)
from tools.synth import SynthResult, plan_document, synthesize


def result_for(request: pytest.FixtureRequest, stack: str) -> SynthResult:
    result: SynthResult = request.getfixturevalue(stack)
    return result


def app_deployments(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: d
        for d in kube_objects(result, "Deployment")
        if d["metadata"].get("namespace") == APP_NS
    }


def only_container(workload: Mapping[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: expected one container"
    container: dict[str, Any] = containers[0]
    return container


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def http_port(container: Mapping[str, Any]) -> int:
    named = [p["containerPort"] for p in container.get("ports") or [] if p.get("name") == "http"]
    assert len(named) == 1, f"{container['name']}: expected one container port named http"
    return int(named[0])


def resolve_port(container: Mapping[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(
        int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name") == port
    )


def probes(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = {
        kind: container[f"{kind}Probe"]["httpGet"]
        for kind in ("startup", "readiness", "liveness")
        if container.get(f"{kind}Probe")
    }
    assert {"readiness", "liveness"} <= set(found), f"{container['name']}: probes {found}"
    return found


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes LabelSelector semantics; an absent or empty selector selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def component_urn(result: SynthResult, service: str) -> str:
    matches = [r.urn for r in result.by_type(MICROSERVICE) if r.name == service]
    assert len(matches) == 1, f"expected one Microservice named {service}"
    return matches[0]


def virtual_services(result: SynthResult) -> list[dict[str, Any]]:
    return kube_objects(result, "VirtualService")


def destination_rules_by_host(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {dr["spec"]["host"]: dr for dr in kube_objects(result, "DestinationRule")}


def route_weights(route: list[dict[str, Any]]) -> list[int]:
    # Istio: a lone destination without a weight gets 100; with several, weights must be explicit.
    if len(route) == 1 and "weight" not in route[0]:
        return [100]
    return [int(destination["weight"]) for destination in route]


def plan_entries(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {entry["urn"]: entry for entry in plan_document(result)["resources"]}


def synth_copy(
    root: Path,
    stack: str,
    stack_edit: Callable[[dict[str, Any]], None] | None = None,
    project_edit: Callable[[Path], None] | None = None,
) -> SynthResult:
    project = copy_project(root)
    if stack_edit is not None:
        edit_yaml(project / f"Pulumi.{stack}.yaml", lambda doc: stack_edit(doc["config"]))
    if project_edit is not None:
        project_edit(project)
    return synthesize(project, stack)


def set_service_override(config: dict[str, Any], service: str, key: str, value: Any) -> None:
    services = config.setdefault("micromart:services", {}) or {}
    config["micromart:services"] = services
    services.setdefault(service, {})[key] = value


def with_canary(tag: str, weight: int, service: str = "orders") -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        set_service_override(config, service, "canary", {"tag": tag, "weight": weight})

    return edit


def pod_environment(result: SynthResult, deployment: Mapping[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would assemble it (secret values dummied)."""
    namespace = deployment["metadata"]["namespace"]
    container = only_container(deployment)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        config_map = kube_object(result, "ConfigMap", source["configMapRef"]["name"], namespace)
        env.update(config_map["data"])
    for variable in container.get("env") or []:  # `env` wins over `envFrom`, as in Kubernetes
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        secret = kube_object(result, "Secret", ref["name"], namespace)
        keys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
        assert ref["key"] in keys, f"{variable['name']}: Secret {ref['name']} has no {ref['key']}"
        env[variable["name"]] = f"dummy-{variable['name'].lower()}"
    return env


def mounted_secret_files(result: SynthResult, deployment: Mapping[str, Any]) -> list[str]:
    """The file names the CSI driver would mount for the pod: its SecretProviderClass's
    objectAliases, through the one csi volume the container mounts read-only at /mnt/secrets."""
    namespace = deployment["metadata"]["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes") or [] if "csi" in v}
    mounts = [
        m for m in only_container(deployment).get("volumeMounts") or [] if m["name"] in volumes
    ]
    if not mounts:
        return []
    (mount,) = mounts
    assert (mount["mountPath"], mount.get("readOnly")) == ("/mnt/secrets", True)
    csi = volumes[mount["name"]]["csi"]
    assert (csi["driver"], csi["readOnly"]) == ("secrets-store.csi.k8s.io", True)
    name = csi["volumeAttributes"]["secretProviderClass"]
    provider_class = kube_object(result, "SecretProviderClass", name, namespace)
    array = yaml.safe_load(provider_class["spec"]["parameters"]["objects"])["array"]
    return sorted(yaml.safe_load(item)["objectAlias"] for item in array)


def required_secrets(env: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in env.get("REQUIRED_SECRETS", "").split(",") if name.strip()]


def required_env(env: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in env.get("REQUIRED_ENV", "").split(",") if name.strip()]


def assert_hpa_and_replicas_consistent(result: SynthResult) -> None:
    deployments = app_deployments(result)
    targeted = set()
    # KEDA's ScaledObject drives an HPA that KEDA creates: it owns replicas just the same.
    scalers = [
        *kube_objects(result, "HorizontalPodAutoscaler"),
        *kube_objects(result, "ScaledObject"),
    ]
    for hpa in scalers:
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments, f"HPA {hpa['metadata']['name']}: no such target"
        targeted.add(target["name"])
    setting = sorted(name for name in targeted if "replicas" in deployments[name]["spec"])
    assert setting == [], f"Deployments that fight their HPA over replicas: {setting}"


def assert_routes_consistent(result: SynthResult) -> None:
    """Every weighted route sums to 100 and names a subset its DestinationRule declares."""
    rules = destination_rules_by_host(result)
    for vs in virtual_services(result):
        name = vs["metadata"]["name"]
        for http in vs["spec"]["http"]:
            route = http["route"]
            assert sum(route_weights(route)) == 100, f"{name}/{http.get('name')}: {route}"
            for destination in (d["destination"] for d in route):
                if "subset" not in destination:
                    continue
                rule = rules.get(destination["host"])
                assert rule is not None, f"{name}: no DestinationRule for {destination['host']}"
                subsets = {s["name"] for s in rule["spec"].get("subsets") or []}
                assert destination["subset"] in subsets, f"{name}: unknown subset {destination}"


def catalog_container(result: SynthResult) -> dict[str, Any]:
    return only_container(app_deployments(result)["catalog"])
