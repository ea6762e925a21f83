"""Acceptance tests for the Microservice component (issue 4), run against the real program.

Every expectation is derived from the sources a reviewer would read (`services/*/service.yaml`
and `Pulumi.<stack>.yaml`), never from the component's code, and checked against what the
synthesized stacks actually declare:

- the probe paths and port of each Deployment answer 200 from the real app;
- replicas vs. HorizontalPodAutoscaler, and canary weights that always sum to 100;
- independent deployment: a change to one service touches only that service's resources;
- the call graph that NetworkPolicies and AuthorizationPolicies admit, evaluated with the
  Kubernetes and Istio matching rules, equals the graph declared in the specs;
- per-Deployment hardening, the public edge, and the prebuilt-tag image mode.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.services.apprunner import SERVICES_DIR, fetch, run_app
from tests.synthesis import (
    PROJECT_DIR,
    copy_project,
    edit_yaml,
    kube_object,
    kube_objects,
    owning_service,
)
from tools.synth import SynthResult, plan_document, synthesize

APP_NS = "micromart"
MESSAGING_NS = "micromart-messaging"
INGRESS_NS = "aks-istio-ingress"
ISTIO_SYSTEM_NS = "aks-istio-system"
INGRESS_SELECTOR = {"istio": "aks-istio-ingressgateway-external"}
NAME_LABEL = "app.kubernetes.io/name"
MESSAGING_CLIENT_LABEL = "micromart.io/messaging-client"
MICROSERVICE = "micromart:service:Microservice"
DOCKER_IMAGE = "docker:index/image:Image"
STACKS = ("staging", "production")
PUBLIC_PREFIXES = {"/api/orders", "/api/catalog", "/api/inventory"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
MISSING = object()


# --- what the sources say ----------------------------------------------------------------


@cache
def service_names() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in (PROJECT_DIR / "services").glob("*/service.yaml")))


@cache
def service_spec(name: str) -> dict[str, Any]:
    text = (PROJECT_DIR / "services" / name / "service.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


@cache
def stack_config(stack: str) -> dict[str, Any]:
    text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    config: dict[str, Any] = yaml.safe_load(text)["config"]
    return config


def effective(stack: str, service: str, *path: str, default: Any = MISSING) -> Any:
    """A spec value with the stack's `micromart:services.<name>` override applied."""
    override = (stack_config(stack).get("micromart:services") or {}).get(service) or {}
    for source in (override, service_spec(service)):
        node: Any = source
        for key in path:
            if not (isinstance(node, dict) and key in node):
                break
            node = node[key]
        else:
            return node
    if default is MISSING:
        raise KeyError(f"{service}: {'.'.join(path)} is set nowhere")
    return default


def autoscaled(stack: str, service: str) -> bool:
    return bool(effective(stack, service, "autoscaling", "enabled", default=True))


def login_server(stack: str) -> str:
    return f"{stack_config(stack)['micromart:registry']['name']}.azurecr.io"


def calls(service: str) -> tuple[str, ...]:
    return tuple(service_spec(service).get("calls") or ())


def public_services() -> list[str]:
    return [name for name in service_names() if service_spec(name).get("public")]


# --- reading the synthesized objects -------------------------------------------------------


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


# --- 1. probes on the app's real paths and port ---------------------------------------------


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


def required_env(env: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in env.get("REQUIRED_ENV", "").split(",") if name.strip()]


@pytest.mark.parametrize("stack", STACKS)
def test_probe_port_is_the_http_container_port_and_the_port_env(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    deployments = app_deployments(result)
    assert sorted(deployments) == list(service_names())
    for name, deployment in deployments.items():
        container = only_container(deployment)
        port = http_port(container)
        assert port == effective(stack, name, "port", default=8080), name
        for kind, probe in probes(container).items():
            assert resolve_port(container, probe["port"]) == port, f"{name} {kind}"
            assert probe["path"] == effective(stack, name, "probes", kind), f"{name} {kind}"
        env = pod_environment(result, deployment)
        assert env.get("PORT") == str(port), f"{name}: the app is not told to listen on {port}"
        missing = [var for var in required_env(env) if not env.get(var)]
        assert missing == [], f"{name}: readiness can never pass, nothing provides {missing}"


@pytest.mark.parametrize("service", service_names())
def test_app_answers_200_on_exactly_the_declared_probe_paths(
    production: SynthResult, service: str
) -> None:
    deployment = app_deployments(production)[service]
    container = only_container(deployment)
    declared = probes(container)
    env = pod_environment(production, deployment)
    # The manifest's port wiring is checked above; here the app gets a free loopback port.
    run_env = {key: value for key, value in env.items() if key != "PORT"}
    with run_app(SERVICES_DIR / service, run_env) as url:
        answers = {kind: fetch(url + probe["path"])[0] for kind, probe in declared.items()}
    assert answers == dict.fromkeys(declared, 200)

    # The readiness path must be the one that reflects configuration: take away one required
    # variable and readiness (only) fails. A readiness probe pointed at the liveness path would
    # pass this test's first half and fail here.
    required = required_env(env)
    if not required:
        return
    broken = {key: value for key, value in run_env.items() if key != required[0]}
    with run_app(SERVICES_DIR / service, broken) as url:
        assert fetch(url + declared["readiness"]["path"])[0] == 503
        assert fetch(url + declared["liveness"]["path"])[0] == 200


# --- 2. replicas vs. the autoscaler ----------------------------------------------------------


def assert_hpa_and_replicas_consistent(result: SynthResult) -> None:
    deployments = app_deployments(result)
    targeted = set()
    for hpa in kube_objects(result, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments, f"HPA {hpa['metadata']['name']}: no such target"
        targeted.add(target["name"])
    setting = sorted(name for name in targeted if "replicas" in deployments[name]["spec"])
    assert setting == [], f"Deployments that fight their HPA over replicas: {setting}"


def test_production_autoscales_every_service_without_deployment_replicas(
    production: SynthResult,
) -> None:
    assert all(autoscaled("production", name) for name in service_names())
    assert_hpa_and_replicas_consistent(production)
    hpas = {h["metadata"]["name"]: h for h in kube_objects(production, "HorizontalPodAutoscaler")}
    assert sorted(hpas) == list(service_names())
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert "replicas" not in app_deployments(production)[name]["spec"]
        scaling = ("autoscaling",)
        assert spec["minReplicas"] == effective("production", name, *scaling, "minReplicas")
        assert spec["maxReplicas"] == effective("production", name, *scaling, "maxReplicas")
        metrics = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"] if m}
        assert {m["type"] for m in spec["metrics"]} == {"Resource"}
        assert metrics == {
            "cpu": {
                "type": "Utilization",
                "averageUtilization": effective(
                    "production", name, *scaling, "targetCpuUtilization"
                ),
            },
            "memory": {
                "type": "Utilization",
                "averageUtilization": effective(
                    "production", name, *scaling, "targetMemoryUtilization"
                ),
            },
        }
        behavior = spec["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == effective(
            "production", name, *scaling, "scaleUpStabilizationSeconds"
        )
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == effective(
            "production", name, *scaling, "scaleDownStabilizationSeconds"
        )


def test_staging_sets_replicas_and_has_no_autoscaler(staging: SynthResult) -> None:
    assert not any(autoscaled("staging", name) for name in service_names())
    assert kube_objects(staging, "HorizontalPodAutoscaler") == []
    replicas = {name: d["spec"].get("replicas") for name, d in app_deployments(staging).items()}
    assert replicas == {name: effective("staging", name, "replicas") for name in service_names()}


# --- 3. canary -----------------------------------------------------------------------------


def with_canary(tag: str, weight: int, service: str = "orders") -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        set_service_override(config, service, "canary", {"tag": tag, "weight": weight})

    return edit


@pytest.fixture(scope="module")
def canary_production(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synth_copy(tmp_path_factory.mktemp("canary"), "production", with_canary("v2", 10))


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


def test_canary_adds_a_labelled_deployment_and_a_90_10_split(
    canary_production: SynthResult, production: SynthResult
) -> None:
    deployments = app_deployments(canary_production)
    assert sorted(deployments) == sorted([*service_names(), "orders-canary"])
    stable, canary = deployments["orders"], deployments["orders-canary"]
    assert pod_labels(canary)["track"] == "canary"
    assert pod_labels(stable)["track"] == "stable"
    assert selects(canary["spec"]["selector"], pod_labels(canary))
    assert not selects(canary["spec"]["selector"], pod_labels(stable))
    assert not selects(stable["spec"]["selector"], pod_labels(canary))
    assert only_container(canary)["image"] == f"{login_server('production')}/orders:v2"
    assert DIGEST.search(only_container(stable)["image"])
    # Same pod apart from the image: config, probes, resources, identity.
    canary_container = {k: v for k, v in only_container(canary).items() if k != "image"}
    stable_container = {k: v for k, v in only_container(stable).items() if k != "image"}
    assert canary_container == stable_container
    canary_pod, stable_pod = canary["spec"]["template"]["spec"], stable["spec"]["template"]["spec"]
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext", "volumes"):
        assert canary_pod[key] == stable_pod[key], key
    # The autoscaler keeps driving the stable track only.
    assert_hpa_and_replicas_consistent(canary_production)
    hpa = kube_object(canary_production, "HorizontalPodAutoscaler", "orders", APP_NS)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "orders"

    host = f"orders.{APP_NS}.svc.cluster.local"
    rule = destination_rules_by_host(canary_production)[host]
    subsets = {s["name"]: s["labels"] for s in rule["spec"]["subsets"]}
    assert subsets == {"stable": {"track": "stable"}, "canary": {"track": "canary"}}
    assert selects({"matchLabels": subsets["canary"]}, pod_labels(canary))
    assert not selects({"matchLabels": subsets["canary"]}, pod_labels(stable))
    vs = kube_object(canary_production, "VirtualService", "orders", APP_NS)
    (http,) = vs["spec"]["http"]
    split = {d["destination"]["subset"]: d["weight"] for d in http["route"]}
    assert split == {"stable": 90, "canary": 10}
    assert_routes_consistent(canary_production)

    # Nothing outside the orders component moved; inside it, only the new Deployment and the
    # routing objects.
    before, after = plan_entries(production), plan_entries(canary_production)
    added = set(after) - set(before)
    changed = {urn for urn in set(before) & set(after) if before[urn] != after[urn]}
    assert set(before) <= set(after)
    assert [after[urn]["name"] for urn in added] == ["orders-canary"]
    assert sorted(after[urn]["name"] for urn in changed) == [
        "orders-destination-rule",
        "orders-virtual-service",
    ]


def test_canary_weight_zero_declares_no_canary_resources(
    production: SynthResult, tmp_path: Path
) -> None:
    result = synth_copy(tmp_path, "production", with_canary("v2", 0))
    assert "orders-canary" not in app_deployments(result)
    rule = destination_rules_by_host(result)[f"orders.{APP_NS}.svc.cluster.local"]
    assert [s["name"] for s in rule["spec"]["subsets"]] == ["stable"]
    assert {r.urn for r in result.resources} == {r.urn for r in production.resources}
    assert plan_entries(result) == plan_entries(production)


@pytest.mark.parametrize("stack", STACKS)
def test_every_virtual_service_route_sums_to_100(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    assert len(virtual_services(result)) == len(service_names()) + len(public_services())
    assert_routes_consistent(result)


@pytest.fixture(scope="module")
def scratch_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("canary-weights"))


@settings(
    max_examples=3,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(weight=st.integers(min_value=0, max_value=100))
@example(weight=0)
@example(weight=100)
def test_any_canary_weight_gives_routes_summing_to_100(scratch_project: Path, weight: int) -> None:
    edit_yaml(
        scratch_project / "Pulumi.production.yaml",
        lambda doc: with_canary("v3", weight, "catalog")(doc["config"]),
    )
    result = synthesize(scratch_project, "production")
    assert_routes_consistent(result)
    vs = kube_object(result, "VirtualService", "catalog", APP_NS)
    (http,) = vs["spec"]["http"]
    subsets = [d["destination"]["subset"] for d in http["route"]]
    split = dict(zip(subsets, route_weights(http["route"]), strict=True))
    expected = {"stable": 100 - weight, "canary": weight} if weight else {"stable": 100}
    assert split == expected
    rule = destination_rules_by_host(result)[f"catalog.{APP_NS}.svc.cluster.local"]
    assert {s["name"] for s in rule["spec"]["subsets"]} == set(expected)
    assert ("catalog-canary" in app_deployments(result)) == (weight > 0)
    assert_hpa_and_replicas_consistent(result)


# --- 4. independent deployment ---------------------------------------------------------------


def touch_catalog_source(project: Path) -> None:
    main = project / "services" / "catalog" / "app" / "main.py"
    main.write_text(main.read_text(encoding="utf-8") + "\n# a source change\n", encoding="utf-8")


def raise_catalog_memory_limit(project: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["resources"]["limits"]["memory"] = "768Mi"

    edit_yaml(project / "services" / "catalog" / "service.yaml", edit)


def pin_catalog_image(config: dict[str, Any]) -> None:
    set_service_override(config, "catalog", "image", {"tag": "2.0.1"})


def catalog_container(result: SynthResult) -> dict[str, Any]:
    return only_container(app_deployments(result)["catalog"])


StackEdit = Callable[[dict[str, Any]], None]
ProjectEdit = Callable[[Path], None]
Visible = Callable[[dict[str, Any], dict[str, Any]], object]
INDEPENDENCE_CASES: dict[str, tuple[StackEdit | None, ProjectEdit | None, Visible]] = {
    # change -> (stack edit, project edit, what must visibly differ in catalog's Deployment)
    "image-source": (
        None,
        touch_catalog_source,
        lambda before, after: before["image"] != after["image"] and DIGEST.search(after["image"]),
    ),
    "spec-memory-limit": (
        None,
        raise_catalog_memory_limit,
        lambda _, after: after["resources"]["limits"]["memory"] == "768Mi",
    ),
    "stack-image-pin": (
        pin_catalog_image,
        None,
        lambda _, after: after["image"] == f"{login_server('production')}/catalog:2.0.1",
    ),
}


@pytest.fixture(scope="module")
def catalog_change(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], SynthResult]:
    """The production stack after one of INDEPENDENCE_CASES, synthesized once per case."""
    results: dict[str, SynthResult] = {}

    def synthesized(case: str) -> SynthResult:
        if case not in results:
            stack_edit, project_edit, _ = INDEPENDENCE_CASES[case]
            root = tmp_path_factory.mktemp(case)
            results[case] = synth_copy(root, "production", stack_edit, project_edit)
        return results[case]

    return synthesized


@pytest.mark.parametrize("case", sorted(INDEPENDENCE_CASES))
def test_changing_one_service_changes_only_its_own_resources(
    production: SynthResult, catalog_change: Callable[[str], SynthResult], case: str
) -> None:
    result = catalog_change(case)
    visible = INDEPENDENCE_CASES[case][2]
    assert visible(catalog_container(production), catalog_container(result)), "edit had no effect"
    before, after = plan_entries(production), plan_entries(result)
    touched = {
        urn
        for urn in set(before) | set(after)
        if before.get(urn) != after.get(urn)  # added, removed or changed
    }
    assert touched, "the change changed nothing"
    resources = {r.urn: r for r in (*production.resources, *result.resources)}
    outside = sorted(
        urn
        for urn in touched
        if owning_service(production if urn in before else result, resources[urn]) != "catalog"
    )
    assert outside == []
    catalog = component_urn(result, "catalog")
    assert all(resources[urn].parent == catalog for urn in touched)
    assert all(resources[urn].name.startswith("catalog-") for urn in touched)


def test_a_spec_only_change_does_not_rebuild_the_image(
    production: SynthResult, catalog_change: Callable[[str], SynthResult]
) -> None:
    result = catalog_change("spec-memory-limit")
    (image,) = [r for r in result.by_type(DOCKER_IMAGE) if r.name == "catalog-image"]
    assert plan_entries(result)[image.urn] == plan_entries(production)[image.urn]


def test_changing_a_service_port_changes_only_its_own_resources(
    production: SynthResult, tmp_path: Path
) -> None:
    def edit(project: Path) -> None:
        edit_yaml(
            project / "services" / "catalog" / "service.yaml",
            lambda spec: spec.__setitem__("port", 9090),
        )

    result = synth_copy(tmp_path, "production", project_edit=edit)
    assert http_port(catalog_container(result)) == 9090
    before, after = plan_entries(production), plan_entries(result)
    touched = sorted(after[urn]["name"] for urn in after if before.get(urn) != after[urn])
    assert touched
    assert [name for name in touched if not name.startswith("catalog-")] == []


def test_adding_a_call_changes_the_caller_and_only_the_callees_admission_policies(
    production: SynthResult, tmp_path: Path
) -> None:
    """A new edge must be admitted by the callee; nothing else outside the caller may move."""

    def edit(project: Path) -> None:
        edit_yaml(
            project / "services" / "notifications" / "service.yaml",
            lambda spec: spec.__setitem__("calls", ["catalog"]),
        )

    result = synth_copy(tmp_path, "production", project_edit=edit)
    before, after = plan_entries(production), plan_entries(result)
    assert set(before) == set(after)
    touched = sorted(after[urn]["name"] for urn in after if before[urn] != after[urn])
    outside = [name for name in touched if not name.startswith("notifications-")]
    assert outside == ["catalog-authorization-policy", "catalog-netpol"]
    assert "notifications-netpol" in touched


# --- 5. the admitted call graph --------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    protocol: str
    number: int
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.protocol}/{self.number}"


@dataclass(frozen=True)
class Endpoint:
    """A workload's pods (namespace + labels), or an address outside the pod network."""

    name: str
    namespace: str | None
    labels: tuple[tuple[str, str], ...]
    ports: tuple[Port, ...]
    service_account: str | None = None
    ip: str | None = None

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def principal(self) -> str:
        return f"cluster.local/ns/{self.namespace}/sa/{self.service_account}"


def workload_endpoint(workload: Mapping[str, Any]) -> Endpoint:
    pod = workload["spec"]["template"]["spec"]
    ports = tuple(
        Port(p.get("protocol", "TCP"), int(p["containerPort"]), p.get("name"))
        for container in pod["containers"]
        for p in container.get("ports") or []
    )
    return Endpoint(
        name=workload["metadata"]["name"],
        namespace=workload["metadata"]["namespace"],
        labels=tuple(sorted(pod_labels(workload).items())),
        ports=ports,
        service_account=pod.get("serviceAccountName", "default"),
    )


def cluster_endpoints(result: SynthResult, stack: str) -> dict[str, Endpoint]:
    workloads = [*kube_objects(result, "Deployment"), *kube_objects(result, "StatefulSet")]
    endpoints = {w["metadata"]["name"]: workload_endpoint(w) for w in workloads}
    subnet = ipaddress.ip_network(stack_config(stack)["micromart:network"]["postgresSubnet"])
    platform = [
        # The AKS add-on's external ingress gateway pods.
        Endpoint(
            "istio-ingressgateway",
            INGRESS_NS,
            tuple(sorted({**INGRESS_SELECTOR, "app": INGRESS_SELECTOR["istio"]}.items())),
            (Port("TCP", 80), Port("TCP", 443)),
            "aks-istio-ingressgateway-external",
        ),
        Endpoint(
            "kube-dns",
            "kube-system",
            (("k8s-app", "kube-dns"),),
            (Port("UDP", 53), Port("TCP", 53)),
            "coredns",
        ),
        Endpoint("istiod", ISTIO_SYSTEM_NS, (("app", "istiod"),), (Port("TCP", 15012),), "istiod"),
        # Any server in the delegated subnet (Azure keeps the first four addresses).
        Endpoint("postgres", None, (), (Port("TCP", 5432),), ip=str(subnet.network_address + 4)),
    ]
    assert not set(endpoints) & {e.name for e in platform}
    return {**endpoints, **{e.name: e for e in platform}}


def namespace_labels(result: SynthResult) -> Callable[[str], dict[str, str]]:
    declared = {
        ns["metadata"]["name"]: ns["metadata"].get("labels") or {}
        for ns in kube_objects(result, "Namespace")
    }

    def labels(namespace: str) -> dict[str, str]:
        return {**declared.get(namespace, {}), "kubernetes.io/metadata.name": namespace}

    return labels


def peer_matches(
    peer: Mapping[str, Any],
    policy_namespace: str,
    endpoint: Endpoint,
    ns_labels: Callable[[str], dict[str, str]],
) -> bool:
    if "ipBlock" in peer:
        if endpoint.ip is None:
            return False
        address = ipaddress.ip_address(endpoint.ip)
        block = peer["ipBlock"]
        excluded = any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], ns_labels(endpoint.namespace)):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), endpoint.label_map)


def port_matches(rule_ports: Iterable[Mapping[str, Any]] | None, port: Port) -> bool:
    rule_ports = list(rule_ports or [])
    if not rule_ports:
        return True
    for allowed in rule_ports:
        if allowed.get("protocol", "TCP") != port.protocol:
            continue
        if "port" not in allowed:
            return True
        value = allowed["port"]
        if isinstance(value, str):  # a named port, resolved on the destination pod
            if value == port.name:
                return True
        elif int(value) <= port.number <= int(allowed.get("endPort", value)):
            return True
    return False


def policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy["spec"]
    declared: list[str] | None = spec.get("policyTypes")
    return declared or ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def network_allows(
    policies: list[dict[str, Any]],
    ns_labels: Callable[[str], dict[str, str]],
    source: Endpoint,
    destination: Endpoint,
    port: Port,
) -> bool:
    """Kubernetes NetworkPolicy semantics: both the source's egress and the destination's
    ingress must admit the connection; a pod no policy selects is unrestricted."""
    for direction, subject, other in (
        ("Egress", source, destination),
        ("Ingress", destination, source),
    ):
        if subject.namespace is None:
            continue
        selecting = [
            p
            for p in policies
            if p["metadata"]["namespace"] == subject.namespace
            and direction in policy_types(p)
            and selects(p["spec"].get("podSelector"), subject.label_map)
        ]
        if not selecting:
            continue
        rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        if not any(
            (
                not rule.get(peers_key)
                or any(
                    peer_matches(peer, p["metadata"]["namespace"], other, ns_labels)
                    for peer in rule[peers_key]
                )
            )
            and port_matches(rule.get("ports"), port)
            for p in selecting
            for rule in p["spec"].get(rules_key) or []
        ):
            return False
    return True


def istio_match(pattern: str, value: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


def authz_rule_matches(rule: Mapping[str, Any], source: Endpoint) -> bool:
    assert set(rule) <= {"from", "to", "when"}, f"unsupported rule fields: {rule}"
    sources = rule.get("from")
    if not sources:
        return True
    for entry in sources:
        found = entry.get("source") or {}
        known = {"principals", "notPrincipals", "namespaces", "notNamespaces"}
        assert set(found) <= known, f"unsupported source fields: {found}"
        checks = (
            ("principals", source.principal, True),
            ("notPrincipals", source.principal, False),
            ("namespaces", source.namespace or "", True),
            ("notNamespaces", source.namespace or "", False),
        )
        if all(
            key not in found or any(istio_match(p, value) for p in found[key]) == wanted
            for key, value, wanted in checks
        ):
            return True
    return False


def mesh_allows(policies: list[dict[str, Any]], source: Endpoint, destination: Endpoint) -> bool:
    """Istio AuthorizationPolicy semantics (DENY first; with any ALLOW policy, one must match)."""
    applicable = [
        p
        for p in policies
        if p["metadata"]["namespace"] in (destination.namespace, ISTIO_SYSTEM_NS)
        and selects((p["spec"].get("selector") or {}), destination.label_map)
    ]
    actions = {p["spec"].get("action", "ALLOW") for p in applicable}
    assert actions <= {"ALLOW", "DENY"}, f"unmodelled actions {actions}"

    def matched(action: str) -> bool:
        return any(
            authz_rule_matches(rule, source)
            for p in applicable
            if p["spec"].get("action", "ALLOW") == action
            for rule in p["spec"].get("rules") or []
        )

    if matched("DENY"):
        return False
    return "ALLOW" not in actions or matched("ALLOW")


def service_of(endpoint: Endpoint) -> str:
    return endpoint.label_map.get(NAME_LABEL, endpoint.name)


def app_endpoints(endpoints: Mapping[str, Endpoint]) -> list[Endpoint]:
    return [e for e in endpoints.values() if e.namespace == APP_NS]


def expected_network_edges(endpoints: Mapping[str, Endpoint]) -> set[tuple[str, str, str]]:
    """(source, destination, port) from the specs, at the level of workloads."""
    apps = app_endpoints(endpoints)
    by_service: dict[str, list[Endpoint]] = {}
    for endpoint in apps:
        by_service.setdefault(service_of(endpoint), []).append(endpoint)
    rabbitmq = [e for e in endpoints.values() if e.namespace == MESSAGING_NS]
    edges: set[tuple[str, str, str]] = set()
    for source in apps:
        spec = service_spec(service_of(source))
        for callee in spec.get("calls") or []:
            for target in by_service[callee]:
                edges |= {(source.name, target.name, str(p)) for p in target.ports}
        if spec.get("postgres"):
            edges.add((source.name, "postgres", "TCP/5432"))
        if spec.get("rabbitmq"):
            edges |= {(source.name, broker.name, "TCP/5672") for broker in rabbitmq}
        edges |= {(source.name, "kube-dns", "UDP/53"), (source.name, "kube-dns", "TCP/53")}
        edges.add((source.name, "istiod", "TCP/15012"))
    for name in public_services():
        for target in by_service[name]:
            edges |= {("istio-ingressgateway", target.name, str(p)) for p in target.ports}
    return edges


def admitted_network_edges(result: SynthResult, stack: str) -> set[tuple[str, str, str]]:
    endpoints = cluster_endpoints(result, stack)
    policies = kube_objects(result, "NetworkPolicy")
    ns_labels = namespace_labels(result)
    return {
        (source.name, destination.name, str(port))
        for source in endpoints.values()
        if source.ip is None
        for destination in endpoints.values()
        if source != destination and APP_NS in (source.namespace, destination.namespace)
        for port in destination.ports
        if network_allows(policies, ns_labels, source, destination, port)
    }


def expected_mesh_edges(endpoints: Mapping[str, Endpoint]) -> set[tuple[str, str]]:
    apps = app_endpoints(endpoints)
    edges = {
        (source.name, target.name)
        for source in apps
        for target in apps
        if service_of(target) in calls(service_of(source))
    }
    edges |= {
        ("istio-ingressgateway", target.name)
        for target in apps
        if service_of(target) in public_services()
    }
    return edges


def admitted_mesh_edges(result: SynthResult, stack: str) -> set[tuple[str, str]]:
    endpoints = cluster_endpoints(result, stack)
    policies = kube_objects(result, "AuthorizationPolicy")
    sources = [e for e in endpoints.values() if e.namespace is not None and e.service_account]
    return {
        (source.name, destination.name)
        for source in sources
        for destination in app_endpoints(endpoints)
        if source != destination and mesh_allows(policies, source, destination)
    }


GRAPH_STACKS = ("staging", "production", "canary_production")


@pytest.mark.parametrize("stack", GRAPH_STACKS)
def test_network_policies_admit_exactly_the_declared_edges(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    stack_name = result.stack
    endpoints = cluster_endpoints(result, stack_name)
    admitted = admitted_network_edges(result, stack_name)
    expected = expected_network_edges(endpoints)
    assert sorted(admitted - expected) == [], "admitted but not declared"
    assert sorted(expected - admitted) == [], "declared but not admitted"
    # The broker admits its clients by label: exactly the services that declare rabbitmq.
    for endpoint in app_endpoints(endpoints):
        wants = bool(service_spec(service_of(endpoint)).get("rabbitmq"))
        assert (endpoint.label_map.get(MESSAGING_CLIENT_LABEL) == "true") == wants, endpoint.name


@pytest.mark.parametrize("stack", GRAPH_STACKS)
def test_authorization_policies_admit_exactly_the_declared_callers(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    endpoints = cluster_endpoints(result, result.stack)
    accounts = {
        (sa["metadata"]["namespace"], sa["metadata"]["name"])
        for sa in kube_objects(result, "ServiceAccount")
    }
    for endpoint in app_endpoints(endpoints):  # a principal only means something if it exists
        assert (endpoint.namespace, endpoint.service_account) in accounts, endpoint.name
    admitted = admitted_mesh_edges(result, result.stack)
    expected = expected_mesh_edges(endpoints)
    assert sorted(admitted - expected) == [], "admitted but not declared"
    assert sorted(expected - admitted) == [], "declared but not admitted"


def test_the_spec_call_graph_is_the_one_documented() -> None:
    """Guards the evaluators above against a vacuous spec graph."""
    graph = {name: set(calls(name)) for name in service_names()}
    assert graph == {
        "catalog": set(),
        "gateway": {"orders", "catalog", "inventory"},
        "inventory": set(),
        "notifications": set(),
        "orders": {"catalog", "inventory"},
    }
    assert public_services() == ["gateway"]


# --- 6. hardening per Deployment ----------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_are_hardened_as_the_spec_says(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    deployments = app_deployments(result)
    services = {s["metadata"]["name"]: s for s in kube_objects(result, "Service")}
    budgets = kube_objects(result, "PodDisruptionBudget")
    accounts = {a["metadata"]["name"]: a for a in kube_objects(result, "ServiceAccount")}
    for name in service_names():
        deployment = deployments[name]
        labels = pod_labels(deployment)
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        container = only_container(deployment)
        where = f"{stack}/{name}"

        assert selects(spec["selector"], labels), where
        assert spec["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }, where
        spread = pod.get("topologySpreadConstraints") or []
        assert {c["topologyKey"] for c in spread} >= {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }, where
        assert all(selects(c["labelSelector"], labels) for c in spread), where

        pod_context, context = pod.get("securityContext") or {}, container["securityContext"]
        assert pod_context.get("runAsNonRoot") or context.get("runAsNonRoot"), where
        assert (context.get("runAsUser") or pod_context.get("runAsUser") or 0) > 0, where
        seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
        assert seccomp.get("type") == "RuntimeDefault", where
        assert context.get("allowPrivilegeEscalation") is False, where
        assert not context.get("privileged"), where
        assert context.get("capabilities", {}).get("drop") == ["ALL"], where
        assert not context.get("capabilities", {}).get("add"), where
        assert context.get("readOnlyRootFilesystem") is True, where
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        tmp = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1 and "emptyDir" in volumes[tmp[0]["name"]], where

        assert container["resources"] == {
            kind: dict(effective(stack, name, "resources", kind)) for kind in ("requests", "limits")
        }, where

        image = container["image"]
        assert image.startswith(f"{login_server(stack)}/{name}@sha256:"), where
        assert DIGEST.search(image), where

        account = accounts[pod["serviceAccountName"]]
        assert account["automountServiceAccountToken"] is False, where
        assert pod.get("automountServiceAccountToken") is not True, where

        service = services[name]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", where
        assert selects({"matchLabels": service["spec"]["selector"]}, labels), where
        for port in service["spec"]["ports"]:
            assert resolve_port(container, port["targetPort"]) == http_port(container), where

        covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, where
        budget = covering[0]["spec"]
        replicas = (
            effective(stack, name, "autoscaling", "minReplicas")
            if autoscaled(stack, name)
            else effective(stack, name, "replicas")
        )
        if "maxUnavailable" in budget:
            assert int(budget["maxUnavailable"]) >= 1, where  # drains can proceed
        else:
            assert int(budget["minAvailable"]) < replicas, where


@pytest.mark.parametrize("stack", STACKS)
def test_public_edge_is_an_https_istio_gateway_with_api_routes(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result = result_for(request, stack)
    ingress = stack_config(stack)["micromart:ingress"]
    gateways = kube_objects(result, "Gateway")
    assert len(gateways) == 1
    gateway = gateways[0]
    assert gateway["spec"]["selector"] == INGRESS_SELECTOR
    servers = gateway["spec"]["servers"]
    https = [s for s in servers if s["port"]["protocol"] == "HTTPS"]
    assert len(https) == 1
    assert https[0]["port"]["number"] == 443
    assert https[0]["hosts"] == [ingress["hostname"]]
    assert https[0]["tls"]["mode"] == "SIMPLE"
    assert https[0]["tls"]["credentialName"] == ingress["tlsSecretName"]
    for plain in (s for s in servers if s["port"]["protocol"] == "HTTP"):
        assert plain["tls"] == {"httpsRedirect": True}

    gateway_ref = f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}"
    bound = [vs for vs in virtual_services(result) if gateway_ref in vs["spec"].get("gateways", [])]
    assert len(bound) == 1
    public = bound[0]["spec"]
    assert public["hosts"] == [ingress["hostname"]]
    prefixes = [m["uri"]["prefix"] for http in public["http"] for m in http["match"]]
    assert sorted(prefixes) == sorted(PUBLIC_PREFIXES)
    declared = {r["prefix"] for name in public_services() for r in service_spec(name)["routes"]}
    assert set(prefixes) == declared
    # The ingress gateway may only reach the public service (see the graph tests), so every
    # public route must enter through it.
    (edge,) = public_services()
    hosts = {d["destination"]["host"] for http in public["http"] for d in http["route"]}
    assert hosts == {f"{edge}.{APP_NS}.svc.cluster.local"}
    assert_routes_consistent(result)


# --- 7. prebuilt images ------------------------------------------------------------------------


def test_prebuilt_tag_mode_deploys_pushed_tags_without_building(tmp_path: Path) -> None:
    def prebuilt(config: dict[str, Any]) -> None:
        config["micromart:images"] = {"build": False, "tag": "1.4.2"}

    result = synth_copy(tmp_path, "staging", stack_edit=prebuilt)
    builds = [r.name for r in result.by_type(DOCKER_IMAGE) if owning_service(result, r)]
    assert builds == []
    images = {name: only_container(d)["image"] for name, d in app_deployments(result).items()}
    assert images == {name: f"{login_server('staging')}/{name}:1.4.2" for name in service_names()}


def test_build_mode_builds_one_image_per_service_from_its_folder(staging: SynthResult) -> None:
    builds = {
        r.name: r.plain_inputs()
        for r in staging.by_type(DOCKER_IMAGE)
        if owning_service(staging, r)
    }
    assert sorted(builds) == [f"{name}-image" for name in service_names()]
    for name in service_names():
        inputs = builds[f"{name}-image"]
        assert inputs["build"]["context"] == f"services/{name}"
        assert inputs["imageName"].startswith(f"{login_server('staging')}/{name}:")
        assert not inputs["imageName"].endswith(":latest")
        image = next(r for r in staging.by_type(DOCKER_IMAGE) if r.name == f"{name}-image")
        assert image.parent == component_urn(staging, name)


# --- the closing note's numbers ------------------------------------------------------------------


def resources_per_service(result: SynthResult) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for resource in result.program_resources:
        service = owning_service(result, resource)
        if service is not None and resource.type != MICROSERVICE:
            counts.setdefault(service, Counter())[resource.type.rsplit(":", 1)[-1]] += 1
    return counts


def test_resources_per_service_match_the_stack_mode(
    staging: SynthResult, production: SynthResult
) -> None:
    common = {
        "Image": 1,
        "ServiceAccount": 1,
        "ConfigMap": 1,
        "Deployment": 1,
        "Service": 1,
        "PodDisruptionBudget": 1,
        "NetworkPolicy": 1,
        "DestinationRule": 1,
        "VirtualService": 1,
        "AuthorizationPolicy": 1,
    }
    for stack, result in (("staging", staging), ("production", production)):
        counts = resources_per_service(result)
        assert sorted(counts) == list(service_names())
        for name, found in counts.items():
            expected = Counter(common)
            if autoscaled(stack, name):
                expected["HorizontalPodAutoscaler"] += 1
            if service_spec(name).get("public"):
                expected.update({"Gateway": 1, "VirtualService": 1})
            assert found == expected, f"{stack}/{name}"
