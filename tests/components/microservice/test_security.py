"""Security: the admitted call graph equals the declared one, for NetworkPolicy and mesh."""

from __future__ import annotations

import pytest

from tests.components.microservice.graph import (
    DIRECTIONS,
    INTRUDER_NS,
    SIDECAR_PORTS,
    admitted_mesh_edges,
    admitted_network_edges,
    app_endpoints,
    cluster_endpoints,
    enforced_by,
    expected_mesh_edges,
    expected_network_edges,
    service_of,
)
from tests.components.microservice.objects import result_for
from tests.components.microservice.sources import (
    MESSAGING_CLIENT_LABEL,
    service_names,
    service_spec,
)
from tests.synthesis import (
    kube_objects,
)
from tools.synth import SynthResult

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


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("stack", GRAPH_STACKS)
def test_each_side_alone_admits_exactly_the_declared_edges(
    request: pytest.FixtureRequest, stack: str, direction: str
) -> None:
    """Egress only to declared dependencies, ingress only from declared callers, each on its
    own: a caller's egress without a port must not lean on the callee's ingress to stay shut."""
    result = result_for(request, stack)
    endpoints = cluster_endpoints(result, result.stack)
    admitted = enforced_by(
        direction, endpoints, admitted_network_edges(result, result.stack, [direction])
    )
    expected = enforced_by(direction, endpoints, expected_network_edges(endpoints))
    assert sorted(admitted - expected) == [], f"{direction} admits what is not declared"
    assert sorted(expected - admitted) == [], f"{direction} refuses what is declared"


def test_the_adversaries_are_in_place(staging: SynthResult) -> None:
    """Guards the graph tests against a vacuous adversary set."""
    endpoints = cluster_endpoints(staging, staging.stack)
    intruders = {e.name for e in endpoints.values() if e.namespace == INTRUDER_NS}
    assert intruders >= {f"intruder-{name}" for name in service_names()} | {"intruder-rabbitmq"}
    assert {"outside-postgres-subnet", "internet"} <= set(endpoints)
    assert all(set(SIDECAR_PORTS) <= set(e.ports) for e in app_endpoints(endpoints))


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


def test_the_rendered_graph_is_not_vacuous(staging: SynthResult) -> None:
    """Guards the evaluators above: the rendered policies must connect some services and
    keep others apart, and admit the ingress gateway to exactly one, or "admitted equals
    declared" would prove little."""
    endpoints = cluster_endpoints(staging, staging.stack)
    apps = {e.name for e in app_endpoints(endpoints)}
    admitted = admitted_network_edges(staging, staging.stack)
    between_apps = {(s, d) for s, d, _ in admitted if s in apps and d in apps}
    pairs = {(s, d) for s in apps for d in apps if s != d}
    assert between_apps and pairs - between_apps
    assert len({d for s, d, _ in admitted if s == "istio-ingressgateway"}) == 1
