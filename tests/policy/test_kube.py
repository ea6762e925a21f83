"""policy/rules/kube.py: pod spec per workload kind, securityContext resolution, selectors."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import kube

POD_SPEC = {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (kube.DEPLOYMENT, {"spec": {"template": TEMPLATE}}),
        (kube.STATEFUL_SET, {"spec": {"template": TEMPLATE}}),
        (kube.DAEMON_SET, {"spec": {"template": TEMPLATE}}),
        (kube.JOB, {"spec": {"template": TEMPLATE}}),
        (kube.CRON_JOB, {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}}),
        (kube.POD, TEMPLATE),
        ("kubernetes:apps/v1:ReplicaSet", {"spec": {"template": TEMPLATE}}),
        ("kubernetes:apps/v1:DeploymentPatch", {"spec": {"template": TEMPLATE}}),
        ("kubernetes:argoproj.io/v1alpha1:Rollout", {"spec": {"template": TEMPLATE}}),
    ],
)
def test_pod_spec_and_labels_for_every_workload_kind(
    resource_type: str, props: dict[str, Any]
) -> None:
    proxied = unknown_checking_proxy(props)
    assert [c.label for c in kube.containers(kube.pod_spec(resource_type, proxied))] == [
        "container 'app'",
        "initContainer 'init'",
    ]
    assert dict(kube.pod_labels(resource_type, proxied)) == {"app": "x"}


def test_missing_or_malformed_pod_spec_has_no_containers() -> None:
    assert kube.containers(kube.pod_spec(kube.DEPLOYMENT, {"spec": {"template": "oops"}})) == []
    assert kube.containers({"containers": [{"image": "x"}]})[0].name == "#0"


def test_ephemeral_containers_are_containers_too() -> None:
    spec = {"containers": [{"name": "a"}], "ephemeralContainers": [{"name": "d"}]}
    assert [c.label for c in kube.containers(spec)] == [
        "container 'a'",
        "ephemeralContainer 'd'",
    ]
    assert [c.label for c in kube.containers(spec, include_init=False)] == ["container 'a'"]


def test_container_security_context_overrides_pod() -> None:
    spec: dict[str, Any] = {
        "securityContext": {"runAsUser": 0, "runAsNonRoot": True},
        "containers": [{"name": "a", "securityContext": {"runAsUser": 1000}}],
    }
    (container,) = kube.containers(spec)
    assert kube.effective_security(spec, container, "runAsUser") == 1000
    assert kube.effective_security(spec, container, "runAsNonRoot") is True
    assert kube.effective_security(spec, container, "seccompProfile") is None


LABELS = {"app": "orders", "tier": "api"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ({}, True),
        ({"matchLabels": {"app": "orders"}}, True),
        ({"matchLabels": {"app": "orders", "tier": "db"}}, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["orders", "x"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["orders"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}, False),
    ],
)
def test_selector_matches(selector: dict[str, Any], matches: bool) -> None:
    assert kube.selector_matches(unknown_checking_proxy(selector), LABELS) is matches


def test_selector_is_empty() -> None:
    assert kube.selector_is_empty({})
    assert kube.selector_is_empty(None)
    assert kube.selector_is_empty({"matchLabels": {}, "matchExpressions": []})
    assert not kube.selector_is_empty({"matchLabels": {"app": "x"}})


def test_namespace_defaults() -> None:
    assert kube.metadata_namespace({"metadata": {}}) == ""
    assert kube.effective_namespace({"metadata": {}}) == kube.DEFAULT_NAMESPACE
    assert kube.effective_namespace({"metadata": {"namespace": "apps"}}) == "apps"
