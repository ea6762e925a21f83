"""Namespaces component: PSA restricted, Istio revision label, default deny, quotas, STRICT mTLS."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from components.config.base import cpu_millicores, memory_bytes
from tests.synthesis import PROJECT_DIR, kube_object, kube_objects, of_type, only
from tools.synth import SynthResult, component_of

NAMESPACES = ("micromart", "micromart-messaging")
STACKS = ("staging", "production")
COMPONENT = "micromart:namespaces:Namespaces"
DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
ISTIOD_RULE = {
    "to": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "aks-istio-system"}}}
    ],
    "ports": [{"protocol": "TCP", "port": 15012}],
}


@cache
def stack_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]
    return config


@pytest.fixture(params=NAMESPACES)
def namespace(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def in_namespace(result: SynthResult, kind: str, namespace: str) -> list[dict[str, Any]]:
    return [o for o in kube_objects(result, kind) if o["metadata"].get("namespace") == namespace]


def test_both_namespaces_belong_to_the_namespaces_component(result: SynthResult) -> None:
    owned = [
        r.plain_inputs()["metadata"]["name"]
        for r in of_type(result, "kubernetes:core/v1:Namespace")
        if component_of(result, r) == COMPONENT
    ]
    assert sorted(owned) == sorted(NAMESPACES)


def test_pod_security_admission_is_restricted_in_every_mode(
    result: SynthResult, namespace: str
) -> None:
    labels = kube_object(result, "Namespace", namespace)["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", mode


def test_sidecar_injection_uses_the_configured_revision_label(
    result: SynthResult, namespace: str
) -> None:
    labels = kube_object(result, "Namespace", namespace)["metadata"]["labels"]
    revision = stack_config(result.stack)["micromart:cluster"]["istioRevision"]
    assert labels["istio.io/rev"] == revision
    # The add-on ignores istio-injection, and the two labels together confuse the injector.
    assert "istio-injection" not in labels


def test_default_deny_covers_ingress_and_egress_allowing_only_dns_and_istiod(
    result: SynthResult, namespace: str
) -> None:
    policy = kube_object(result, "NetworkPolicy", "default-deny", namespace)
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    assert not spec.get("ingress")
    assert spec["egress"] == [DNS_RULE, ISTIOD_RULE]


# ResourceQuota `hard` field -> the `micromart:quota` key that sets it.
QUOTA_KEYS = {
    "requests.cpu": "requestsCpu",
    "requests.memory": "requestsMemory",
    "limits.cpu": "limitsCpu",
    "limits.memory": "limitsMemory",
    "pods": "pods",
}
# The LimitRange is not configurable: these are the platform's container defaults and ceiling.
CONTAINER_LIMITS: dict[str, dict[str, str]] = {
    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
    "default": {"cpu": "500m", "memory": "512Mi"},
    "max": {"cpu": "4", "memory": "8Gi"},
}


@cache
def documented_quota_defaults() -> dict[str, str]:
    """`requestsCpu (8)`-style defaults from the key's description in Pulumi.yaml."""
    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))
    description = project["config"]["micromart:quota"]["description"]
    return dict(re.findall(r"(\w+) \(([^)]+)\)", description))


def expected_quota(stack: str) -> dict[str, str]:
    configured = {
        **documented_quota_defaults(),
        **(stack_config(stack).get("micromart:quota") or {}),
    }
    return {field: str(configured[key]) for field, key in QUOTA_KEYS.items()}


def test_resource_quota_takes_each_value_from_its_own_config_key(
    result: SynthResult, namespace: str
) -> None:
    quotas = in_namespace(result, "ResourceQuota", namespace)
    assert len(quotas) == 1
    hard = {field: str(value) for field, value in quotas[0]["spec"]["hard"].items()}
    expected = expected_quota(result.stack)
    # Distinct values, so two keys wired to each other's field cannot pass.
    assert len(set(expected.values())) == len(expected), expected
    assert hard == expected


def quantity(resource: str, value: str) -> float:
    return float(cpu_millicores(value) if resource == "cpu" else memory_bytes(value))


def declared_containers(result: SynthResult, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    workloads = [*in_namespace(result, "Deployment", namespace)]
    workloads += in_namespace(result, "StatefulSet", namespace)
    assert workloads, namespace
    return [
        (f"{w['metadata']['name']}/{c['name']}", c.get("resources") or {})
        for w in workloads
        for c in [
            *w["spec"]["template"]["spec"].get("initContainers", []),
            *w["spec"]["template"]["spec"]["containers"],
        ]
    ]


def test_limit_range_gives_containers_sane_defaults_and_a_ceiling_every_pod_fits(
    result: SynthResult, namespace: str
) -> None:
    ranges = in_namespace(result, "LimitRange", namespace)
    assert len(ranges) == 1
    assert ranges[0]["spec"]["limits"] == [{"type": "Container", **CONTAINER_LIMITS}]
    for resource in ("cpu", "memory"):
        request, limit, ceiling = (
            quantity(resource, CONTAINER_LIMITS[kind][resource])
            for kind in ("defaultRequest", "default", "max")
        )
        assert request <= limit <= ceiling, resource
    # Admission rejects a pod whose limits exceed `max`: every container we declare must fit.
    for name, resources in declared_containers(result, namespace):
        for resource, value in (resources.get("limits") or {}).items():
            most = CONTAINER_LIMITS["max"][resource]
            assert quantity(resource, value) <= quantity(resource, most), (name, resource)


def test_peer_authentication_is_namespace_wide_strict(result: SynthResult, namespace: str) -> None:
    found = in_namespace(result, "PeerAuthentication", namespace)
    # Workload-scoped ones (the broker's KEDA port, tests/components/test_rabbitmq.py) only
    # narrow this one for their selected pods.
    policies = [p for p in found if "selector" not in p["spec"]]
    assert all(p["spec"]["selector"]["matchLabels"] for p in found if p not in policies)
    assert len(policies) == 1
    policy = policies[0]
    assert policy["apiVersion"].startswith("security.istio.io/")
    assert "selector" not in policy["spec"]
    assert policy["spec"]["mtls"] == {"mode": "STRICT"}


def _revision_minor(revision: str) -> int:
    match = re.fullmatch(r"asm-1-(\d+)", revision)
    assert match, revision
    return int(match.group(1))


def test_injected_pods_can_pass_restricted_pod_security(
    result: SynthResult, namespace: str
) -> None:
    """The namespace both enforces `restricted` and injects sidecars from a revision that the
    cluster installs and that redirects traffic with Istio CNI (no privileged istio-init)."""
    labels = kube_object(result, "Namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    mesh = only(result, "azure-native:containerservice:ManagedCluster").plain_inputs()[
        "serviceMeshProfile"
    ]
    revision = labels["istio.io/rev"]
    assert revision in mesh["istio"]["revisions"]
    components = mesh["istio"].get("components", {})
    cni = components.get("proxyRedirectionMechanism") == "CNIChaining"
    # From asm-1-30 the add-on defaults to CNI chaining.
    assert cni or _revision_minor(revision) >= 30
