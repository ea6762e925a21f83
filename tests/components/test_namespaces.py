"""Namespaces component: PSA restricted, Istio revision label, default deny, quotas, STRICT mTLS."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
import yaml

from tests.synthesis import PROJECT_DIR, kube_object, kube_objects, of_type
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


def test_resource_quota_caps_compute_and_pods(result: SynthResult, namespace: str) -> None:
    quotas = in_namespace(result, "ResourceQuota", namespace)
    assert len(quotas) == 1
    hard = quotas[0]["spec"]["hard"]
    assert set(hard) >= {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods"}
    assert all(str(value) for value in hard.values())


def test_limit_range_gives_containers_defaults(result: SynthResult, namespace: str) -> None:
    ranges = in_namespace(result, "LimitRange", namespace)
    assert len(ranges) == 1
    container = [item for item in ranges[0]["spec"]["limits"] if item["type"] == "Container"]
    assert len(container) == 1
    for field in ("default", "defaultRequest", "max"):
        assert set(container[0][field]) == {"cpu", "memory"}, field


def test_peer_authentication_is_namespace_wide_strict(result: SynthResult, namespace: str) -> None:
    policies = in_namespace(result, "PeerAuthentication", namespace)
    assert len(policies) == 1
    policy = policies[0]
    assert policy["apiVersion"].startswith("security.istio.io/")
    assert "selector" not in policy["spec"]
    assert policy["spec"]["mtls"] == {"mode": "STRICT"}


def _revision_minor(revision: str) -> int:
    match = re.fullmatch(r"asm-1-(\d+)", revision)
    assert match, revision
    return int(match.group(1))


def test_injected_pods_can_pass_restricted_pod_security(result: SynthResult) -> None:
    mesh = of_type(result, "azure-native:containerservice:ManagedCluster")[0].plain_inputs()[
        "serviceMeshProfile"
    ]
    components = mesh["istio"].get("components", {})
    revision = mesh["istio"]["revisions"][0]
    cni = components.get("proxyRedirectionMechanism") == "CNIChaining"
    # From asm-1-30 the add-on defaults to CNI chaining (no privileged istio-init).
    assert cni or _revision_minor(revision) >= 30
