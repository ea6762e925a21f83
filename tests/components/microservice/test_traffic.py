"""Traffic: canary Deployments and weights that always sum to 100, and the public edge."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.microservice import traffic
from tests.components.microservice.changes import CATALOG_OUTLIER_DETECTION
from tests.components.microservice.objects import (
    app_deployments,
    assert_hpa_and_replicas_consistent,
    assert_routes_consistent,
    destination_rules_by_host,
    only_container,
    plan_entries,
    pod_labels,
    result_for,
    route_weights,
    selects,
    synth_copy,
    virtual_services,
    with_canary,
)
from tests.components.microservice.sources import (
    APP_NS,
    DIGEST,
    INGRESS_SELECTOR,
    PUBLIC_PREFIXES,
    STACKS,
    effective,
    login_server,
    public_services,
    service_names,
    service_spec,
    stack_config,
)
from tests.synthesis import (
    PROJECT_DIR,
    kube_object,
    kube_objects,
)
from tools.synth import SynthResult


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
    # The purge of orders' repository now keeps the canary's tag (components/registry_cleanup.py).
    assert sorted(after[urn]["name"] for urn in changed) == [
        "orders-destination-rule",
        "orders-purge",
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


@pytest.mark.parametrize("weight", range(101))
def test_any_canary_weight_routes_to_declared_subsets_summing_to_100(weight: int) -> None:
    """Every weight the config admits (0-100), on the functions the component renders with;
    the synthesized stacks below check the same invariants end to end at 0, 10 and 100."""
    host = f"catalog.{APP_NS}.svc.cluster.local"
    # As the engine receives it: plain JSON.
    route: list[dict[str, Any]] = json.loads(json.dumps(traffic.weighted_route(host, weight)))
    declared = {subset["name"] for subset in traffic.subsets(has_canary=weight > 0)}
    split = dict(
        zip([d["destination"]["subset"] for d in route], route_weights(route), strict=True)
    )
    assert split == ({"stable": 100 - weight, "canary": weight} if weight else {"stable": 100})
    assert set(split) == declared
    assert {d["destination"]["host"] for d in route} == {host}


def test_a_full_canary_keeps_a_zero_weight_stable_route(tmp_path: Path) -> None:
    result = synth_copy(tmp_path, "production", with_canary("v3", 100, "catalog"))
    assert_routes_consistent(result)
    vs = kube_object(result, "VirtualService", "catalog", APP_NS)
    (http,) = vs["spec"]["http"]
    split = {d["destination"]["subset"]: d["weight"] for d in http["route"]}
    assert split == {"stable": 0, "canary": 100}
    assert "catalog-canary" in app_deployments(result)
    assert_hpa_and_replicas_consistent(result)


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


@cache
def schema_default(definition: str, key: str) -> Any:
    """A spec key's default, as the exported JSON Schema documents it for editors."""
    schema = json.loads((PROJECT_DIR / "services" / "service.schema.json").read_text("utf-8"))
    return schema["$defs"][definition]["properties"][key]["default"]


def traffic_setting(stack: str, service: str, definition: str, *path: str) -> Any:
    default = schema_default(definition, path[-1])
    return effective(stack, service, "traffic", *path, default=default)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", duration)
    assert match, f"not an Istio duration in seconds: {duration}"
    return float(match.group(1))


@pytest.mark.parametrize("stack", STACKS)
def test_destination_rules_use_mesh_mtls_and_the_specs_outlier_detection(
    request: pytest.FixtureRequest, stack: str
) -> None:
    rules = destination_rules_by_host(result_for(request, stack))
    for name in service_names():
        policy = rules[f"{name}.{APP_NS}.svc.cluster.local"]["spec"]["trafficPolicy"]
        # STRICT PeerAuthentication admits only mesh mTLS: DISABLE breaks every call, and
        # SIMPLE or MUTUAL would present other certificates than the workload identity.
        assert policy["tls"] == {"mode": "ISTIO_MUTUAL"}, name
        outlier = policy["outlierDetection"]

        def setting(key: str, service: str = name) -> Any:
            return traffic_setting(stack, service, "OutlierDetection", "outlierDetection", key)

        assert outlier["consecutive5xxErrors"] == setting("consecutive5xxErrors"), name
        assert seconds(outlier["interval"]) == setting("intervalSeconds"), name
        assert seconds(outlier["baseEjectionTime"]) == setting("baseEjectionSeconds"), name
        assert outlier["maxEjectionPercent"] == setting("maxEjectionPercent"), name


@pytest.mark.parametrize("stack", STACKS)
def test_every_route_carries_its_services_timeout_and_retries(
    request: pytest.FixtureRequest, stack: str
) -> None:
    routes = 0
    for vs in virtual_services(result_for(request, stack)):
        for http in vs["spec"]["http"]:
            (host,) = {d["destination"]["host"] for d in http["route"]}
            name = host.split(".")[0]
            where = f"{vs['metadata']['name']}/{http.get('name')}"

            def setting(definition: str, *path: str, service: str = name) -> Any:
                return traffic_setting(stack, service, definition, *path)

            assert seconds(http["timeout"]) == setting("Traffic", "timeoutSeconds"), where
            retries = http["retries"]
            assert retries["attempts"] == setting("Retries", "retries", "attempts"), where
            per_try = setting("Retries", "retries", "perTryTimeoutSeconds")
            assert seconds(retries["perTryTimeout"]) == per_try, where
            assert retries["retryOn"] == setting("Retries", "retries", "retryOn"), where
            routes += 1
    assert routes == len(service_names()) + len(PUBLIC_PREFIXES)


def test_outlier_detection_settings_each_reach_their_own_field(
    catalog_change: Callable[[str], SynthResult],
) -> None:
    result = catalog_change("spec-outlier-detection")
    rule = destination_rules_by_host(result)[f"catalog.{APP_NS}.svc.cluster.local"]
    outlier = rule["spec"]["trafficPolicy"]["outlierDetection"]
    expected = CATALOG_OUTLIER_DETECTION
    assert outlier["consecutive5xxErrors"] == expected["consecutive5xxErrors"]
    assert seconds(outlier["interval"]) == expected["intervalSeconds"]
    assert seconds(outlier["baseEjectionTime"]) == expected["baseEjectionSeconds"]
    assert outlier["maxEjectionPercent"] == expected["maxEjectionPercent"]
