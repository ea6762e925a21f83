"""policy/rules/pods.py: pod specs are found by shape, whatever the type token says."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from policy.rules import pods

SPEC = {"containers": [{"name": "app", "image": "x"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": SPEC}


def _sites(resource_type: str, props: dict[str, Any]) -> list[pods.PodSite]:
    return pods.pod_sites(resource_type, unknown_checking_proxy(props))


@pytest.mark.parametrize(
    ("resource_type", "props", "path"),
    [
        ("kubernetes:apps/v1:Deployment", {"spec": {"template": TEMPLATE}}, "spec.template.spec"),
        ("kubernetes:apps/v1:ReplicaSet", {"spec": {"template": TEMPLATE}}, "spec.template.spec"),
        (
            "kubernetes:core/v1:ReplicationController",
            {"spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:apps/v1beta1:StatefulSet",
            {"spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:apps/v1beta2:DaemonSet",
            {"spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:extensions/v1beta1:Deployment",
            {"spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:batch/v1beta1:CronJob",
            {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
            "spec.jobTemplate.spec.template.spec",
        ),
        ("kubernetes:core/v1:Pod", {"kind": "Pod", **TEMPLATE}, "spec"),
        ("kubernetes:v1:pod", {"kind": "pod", **TEMPLATE}, "spec"),
        ("kubernetes:core/v1:PodTemplate", {"template": TEMPLATE}, "template.spec"),
        (
            "kubernetes:apiextensions.k8s.io:CustomResource",
            {"apiVersion": "apps/v1", "kind": "DEPLOYMENT", "spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:apiextensions.k8s.io:CustomResource",
            {"apiVersion": "v1", "kind": "pod", **TEMPLATE},
            "spec",
        ),
        ("kubernetes:apps/v1:deployment", {"spec": {"template": TEMPLATE}}, "spec.template.spec"),
        (
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            {"spec": {"template": TEMPLATE}},
            "spec.template.spec",
        ),
        (
            "kubernetes:example.com/v1:Runner",
            {"spec": {"workers": [{"podSpec": SPEC}]}},
            "spec.workers.0.podSpec",
        ),
    ],
)
def test_every_carrier_is_found(resource_type: str, props: dict[str, Any], path: str) -> None:
    (site,) = _sites(resource_type, props)
    assert site.path == path
    assert [c.label for c in site.containers()] == ["container 'app'"]


def test_all_three_container_lists_in_order() -> None:
    spec = {
        "ephemeralContainers": [{"name": "debug"}],
        "initContainers": [{"name": "sidecar", "restartPolicy": "Always"}, {}],
        "containers": [{"name": "app"}],
    }
    (site,) = _sites("kubernetes:core/v1:Pod", {"kind": "Pod", "spec": spec})
    found = site.containers()
    assert [c.label for c in found] == [
        "container 'app'",
        "initContainer 'sidecar'",
        "initContainer '#1'",
        "ephemeralContainer 'debug'",
    ]
    assert [c.is_sidecar for c in found] == [False, True, False, False]


def test_patch_without_containers_is_a_partial_pod_spec() -> None:
    props = {"spec": {"template": {"spec": {"hostNetwork": True}}}}
    (site,) = _sites("kubernetes:apps/v1:DeploymentPatch", props)
    assert site.partial and site.spec["hostNetwork"] is True
    (pod,) = _sites("kubernetes:core/v1:PodPatch", {"spec": {"hostPID": True}})
    assert pod.partial and pod.path == "spec"


def test_job_like_specs_run_to_completion() -> None:
    cron = {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}}
    assert _sites("kubernetes:example.com/v1:Backup", cron)[0].run_to_completion
    assert _sites("kubernetes:batch/v1:Job", {"kind": "Job", "spec": {"template": TEMPLATE}})[
        0
    ].run_to_completion
    one_shot = {"kind": "Pod", "spec": {**SPEC, "restartPolicy": "Never"}}
    assert _sites("kubernetes:core/v1:Pod", one_shot)[0].run_to_completion
    assert not _sites("kubernetes:apps/v1:Deployment", {"spec": {"template": TEMPLATE}})[
        0
    ].run_to_completion


def test_multiple_pod_specs_in_one_object() -> None:
    props = {"spec": {"a": {"template": TEMPLATE}, "b": [{"template": TEMPLATE}]}}
    assert [s.path for s in _sites("kubernetes:example.com/v1:Pair", props)] == [
        "spec.a.template.spec",
        "spec.b.0.template.spec",
    ]


@pytest.mark.parametrize(
    "resource_type",
    [
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:yaml:ConfigFile",
        "kubernetes:helm.sh/v4:Chart",
        "azure-native:containerinstance:ContainerGroup",
        "pulumi:providers:kubernetes",
    ],
)
def test_components_and_other_clouds_carry_no_pods(resource_type: str) -> None:
    # yaml/helm components' objects are registered (and checked) as their own resources.
    assert _sites(resource_type, {"objs": [{"spec": {"template": TEMPLATE}}], **SPEC}) == []


def test_unknown_leaf_is_skipped_but_unknown_structure_surfaces() -> None:
    leaf = {"spec": {"template": {"spec": {"containers": [{"image": UNKNOWN_STRING_VALUE}]}}}}
    assert len(_sites("kubernetes:apps/v1:Deployment", leaf)) == 1
    hidden = {"spec": {"template": UNKNOWN_STRING_VALUE}}
    with pytest.raises(UnknownValueError):
        _sites("kubernetes:apps/v1:Deployment", hidden)


def test_namespace_patterns_and_exemption_annotations() -> None:
    assert pods.namespace_matches("aks-istio-ingress", ["kube-system", "aks-istio-*"])
    assert not pods.namespace_matches("kube-system-x", ["kube-system", "aks-istio-*"])
    props = {
        "metadata": {
            "annotations": {
                "exempt.policy.micromart.io/k8s-no-host-path-volumes": " reads /var/log ",
                "other.io/x": "y",
            }
        }
    }
    assert pods.exemption_annotations(unknown_checking_proxy(props)) == {
        "k8s-no-host-path-volumes": "reads /var/log"
    }


def test_namespace_comes_from_the_enclosing_object_not_the_template() -> None:
    template = {"metadata": {"namespace": "kube-system"}, "spec": SPEC}
    props = {"metadata": {"namespace": "apps"}, "spec": {"template": template}}
    assert [s.namespace for s in _sites("kubernetes:apps/v1:Deployment", props)] == ["apps"]
    items = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"namespace": ns},
            "spec": {"template": TEMPLATE},
        }
        for ns in ("apps", "messaging")
    ]
    listed = _sites("kubernetes:apps/v1:DeploymentList", {"items": items})
    assert [(s.path, s.namespace) for s in listed] == [
        ("items.0.spec.template.spec", "apps"),
        ("items.1.spec.template.spec", "messaging"),
    ]


def test_a_container_security_setting_wins_over_the_pods() -> None:
    """The kubelet's rule: the container's field where set, else the pod's."""
    spec = {
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False},
        "containers": [{"name": "app", "image": "x", "securityContext": {"runAsUser": 1000}}],
    }
    (site,) = _sites("kubernetes:core/v1:Pod", {"spec": spec})
    (container,) = site.containers()
    assert site.security(container, "runAsUser") == 1000
    assert site.security(container, "runAsNonRoot") is False
