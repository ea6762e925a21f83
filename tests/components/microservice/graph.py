"""The call graph that NetworkPolicies and AuthorizationPolicies admit, evaluated with the
Kubernetes and Istio matching rules, so it can be compared with the graph the specs declare."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tests.components.microservice.objects import pod_labels, selects
from tests.components.microservice.sources import (
    APP_NS,
    INGRESS_NS,
    INGRESS_SELECTOR,
    ISTIO_SYSTEM_NS,
    MESSAGING_NS,
    NAME_LABEL,
    calls,
    public_services,
    service_spec,
    stack_config,
)
from tests.synthesis import (
    kube_objects,
)
from tools.synth import SynthResult


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


INTRUDER_NS = "intruder"
# What an Istio sidecar listens on beside the app (Prometheus scrape, health): reachable only
# if a policy forgets its port list.
SIDECAR_PORTS = (Port("TCP", 15090, "http-envoy-prom"), Port("TCP", 15021, "status-port"))


def cluster_endpoints(result: SynthResult, stack: str) -> dict[str, Endpoint]:
    """Every workload the stack runs and the platform pods it talks to, plus adversaries that
    a too-wide policy would let in: each workload's twin in a namespace without policies, the
    sidecar's ports, PgBouncer's port on the database address and an address just outside
    the database subnet."""
    workloads = [*kube_objects(result, "Deployment"), *kube_objects(result, "StatefulSet")]
    endpoints = {w["metadata"]["name"]: workload_endpoint(w) for w in workloads}
    endpoints = {
        name: with_sidecar(e) if e.namespace == APP_NS else e for name, e in endpoints.items()
    }
    intruders = [
        replace(e, name=f"intruder-{e.name}", namespace=INTRUDER_NS) for e in endpoints.values()
    ]
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
        # Any server in the delegated subnet (Azure keeps the first four addresses); the
        # flexible server also offers PgBouncer on 6432.
        Endpoint(
            "postgres",
            None,
            (),
            (Port("TCP", 5432), Port("TCP", 6432)),
            ip=str(subnet.network_address + 4),
        ),
        Endpoint(
            "outside-postgres-subnet",
            None,
            (),
            (Port("TCP", 5432),),
            ip=str(subnet.broadcast_address + 1),
        ),
        Endpoint("internet", None, (), (Port("TCP", 5432), Port("TCP", 443)), ip="203.0.113.7"),
    ]
    named = [*intruders, *platform]
    assert not set(endpoints) & {e.name for e in named}
    return {**endpoints, **{e.name: e for e in named}}


def with_sidecar(endpoint: Endpoint) -> Endpoint:
    return replace(endpoint, ports=(*endpoint.ports, *SIDECAR_PORTS))


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


DIRECTIONS = ("Egress", "Ingress")


def direction_allows(
    policies: list[dict[str, Any]],
    ns_labels: Callable[[str], dict[str, str]],
    direction: str,
    *,
    source: Endpoint,
    destination: Endpoint,
    port: Port,
) -> bool:
    """Kubernetes NetworkPolicy semantics for one side: the source's egress or the
    destination's ingress; a pod no policy of that direction selects is unrestricted."""
    subject, other = (source, destination) if direction == "Egress" else (destination, source)
    if subject.namespace is None:
        return True
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and direction in policy_types(p)
        and selects(p["spec"].get("podSelector"), subject.label_map)
    ]
    if not selecting:
        return True
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    return any(
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
    )


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


Edge = tuple[str, str, str]


def http_port(endpoint: Endpoint) -> Port:
    (port,) = [p for p in endpoint.ports if p.name == "http"]
    return port


def expected_network_edges(endpoints: Mapping[str, Endpoint]) -> set[Edge]:
    """(source, destination, port) from the specs, at the level of workloads."""
    apps = app_endpoints(endpoints)
    by_service: dict[str, list[Endpoint]] = {}
    for endpoint in apps:
        by_service.setdefault(service_of(endpoint), []).append(endpoint)
    rabbitmq = [e for e in endpoints.values() if e.namespace == MESSAGING_NS]
    edges: set[Edge] = set()
    for source in apps:
        spec = service_spec(service_of(source))
        for callee in spec.get("calls") or []:
            edges |= {(source.name, t.name, str(http_port(t))) for t in by_service[callee]}
        if spec.get("postgres"):
            edges.add((source.name, "postgres", "TCP/5432"))
        if spec.get("rabbitmq"):
            edges |= {(source.name, broker.name, "TCP/5672") for broker in rabbitmq}
        edges |= {(source.name, "kube-dns", "UDP/53"), (source.name, "kube-dns", "TCP/53")}
        edges.add((source.name, "istiod", "TCP/15012"))
    for name in public_services():
        edges |= {("istio-ingressgateway", t.name, str(http_port(t))) for t in by_service[name]}
    return edges


def admitted_network_edges(
    result: SynthResult, stack: str, directions: Iterable[str] = DIRECTIONS
) -> set[Edge]:
    """Every (source, destination, port) with an app pod at either end that the policies of
    `directions` admit: both for what is reachable, one for what that side enforces alone."""
    endpoints = cluster_endpoints(result, stack)
    policies = kube_objects(result, "NetworkPolicy")
    ns_labels = namespace_labels(result)
    checked = tuple(directions)
    return {
        (source.name, destination.name, str(port))
        for source in endpoints.values()
        if source.ip is None
        for destination in endpoints.values()
        if source != destination and APP_NS in (source.namespace, destination.namespace)
        for port in destination.ports
        if all(
            direction_allows(
                policies, ns_labels, d, source=source, destination=destination, port=port
            )
            for d in checked
        )
    }


def enforced_by(direction: str, endpoints: Mapping[str, Endpoint], edges: set[Edge]) -> set[Edge]:
    """The edges whose app-side end is the one `direction`'s policies govern."""
    end = 0 if direction == "Egress" else 1
    return {edge for edge in edges if endpoints[edge[end]].namespace == APP_NS}


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
