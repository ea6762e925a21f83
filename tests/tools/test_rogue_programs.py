"""Rogue resources appended to the real program: each evasion route must make synth exit 1.

One synth run carries every rogue resource (a synth costs seconds); each is asserted to draw its
own mandatory violation, which is what would make a program holding only that rogue exit 1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.synthesis import copy_project
from tools import cli

ROGUE_MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: rogue-yaml-pod, namespace: micromart}
spec:
  containers:
    - name: shell
      image: micromartstaging.azurecr.io/tools:1.0.0
      securityContext: {privileged: true}
"""

ROGUE_PROGRAM = """
# --- rogue resources appended by tests/tools/test_rogue_programs.py ---
import pulumi_kubernetes as _k8s
from pulumi_kubernetes.apps import v1 as _apps
from pulumi_kubernetes.core import v1 as _core
from pulumi_kubernetes.meta import v1 as _meta

_PRIVILEGED = _core.ContainerArgs(
    name="shell",
    image="micromartstaging.azurecr.io/tools:1.0.0",
    security_context=_core.SecurityContextArgs(privileged=True),
)
_apps.ReplicaSet(
    "rogue-replicaset",
    spec=_apps.ReplicaSetSpecArgs(
        selector=_meta.LabelSelectorArgs(match_labels={"app": "rogue"}),
        template=_core.PodTemplateSpecArgs(
            metadata=_meta.ObjectMetaArgs(labels={"app": "rogue"}),
            spec=_core.PodSpecArgs(containers=[_PRIVILEGED]),
        ),
    ),
    metadata=_meta.ObjectMetaArgs(name="rogue-replicaset", namespace="micromart"),
)
_apps.DeploymentPatch(
    "rogue-deployment-patch",
    metadata=_meta.ObjectMetaPatchArgs(name="orders", namespace="micromart"),
    spec=_apps.DeploymentSpecPatchArgs(
        template=_core.PodTemplateSpecPatchArgs(
            spec=_core.PodSpecPatchArgs(host_network=True),
        ),
    ),
)
_k8s.apiextensions.CustomResource(
    "rogue-custom-deployment",
    api_version="apps/v1",
    kind="deployment",
    metadata={"name": "rogue-custom", "namespace": "micromart"},
    spec={
        "selector": {"matchLabels": {"app": "rogue-custom"}},
        "template": {
            "metadata": {"labels": {"app": "rogue-custom"}},
            "spec": {"containers": [{"name": "x", "image": "busybox:1.36"}]},
        },
    },
)
_k8s.apiextensions.CustomResource(
    "rogue-rollout",
    api_version="argoproj.io/v1alpha1",
    kind="Rollout",
    metadata={"name": "rogue-rollout", "namespace": "micromart"},
    spec={
        "template": {
            "spec": {
                "containers": [
                    {"name": "x", "image": "micromartstaging.azurecr.io/x:1",
                     "securityContext": {"privileged": True}}
                ]
            }
        }
    },
)
_core.Pod(
    "rogue-ephemeral",
    metadata=_meta.ObjectMetaArgs(name="rogue-ephemeral", namespace="micromart"),
    spec=_core.PodSpecArgs(
        containers=[_core.ContainerArgs(name="app", image="micromartstaging.azurecr.io/x:1")],
        ephemeral_containers=[
            _core.EphemeralContainerArgs(
                name="debug",
                image="micromartstaging.azurecr.io/x:1",
                security_context=_core.SecurityContextArgs(privileged=True),
            )
        ],
    ),
)
_k8s.yaml.ConfigFile("rogue-configfile", file="rogue.yaml")
_k8s.yaml.v2.ConfigGroup(
    "rogue-configgroup",
    objs=[
        {
            "apiVersion": "batch/v1beta1",
            "kind": "CronJob",
            "metadata": {"name": "rogue-cron", "namespace": "micromart"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "hostPID": True,
                "containers": [{"name": "x", "image": "micromartstaging.azurecr.io/x:1"}],
            }}}}},
        }
    ],
)
_k8s.helm.v3.Release(
    "rogue-release",
    chart="nginx",
    repository_opts=_k8s.helm.v3.RepositoryOptsArgs(repo="https://charts.example.com"),
)
_k8s.helm.v4.Chart("rogue-chart", chart="oci://registry.example.com/charts/nginx")
# Not rogue: a log shipper reading /var/log read-only under an exemption annotation.
_apps.DaemonSet(
    "log-shipper",
    metadata=_meta.ObjectMetaArgs(
        name="log-shipper",
        namespace="micromart",
        annotations={
            "exempt.policy.micromart.io/k8s-no-host-path-volumes": "ships node logs (read-only)"
        },
    ),
    spec=_apps.DaemonSetSpecArgs(
        selector=_meta.LabelSelectorArgs(match_labels={"app": "log-shipper"}),
        template=_core.PodTemplateSpecArgs(
            metadata=_meta.ObjectMetaArgs(labels={"app": "log-shipper"}),
            spec=_core.PodSpecArgs(
                containers=[
                    _core.ContainerArgs(
                        name="shipper",
                        image="micromartstaging.azurecr.io/shipper:3.1.0",
                        volume_mounts=[
                            _core.VolumeMountArgs(
                                name="varlog", mount_path="/var/log", read_only=True
                            )
                        ],
                    )
                ],
                volumes=[
                    _core.VolumeArgs(
                        name="varlog", host_path=_core.HostPathVolumeSourceArgs(path="/var/log")
                    )
                ],
            ),
        ),
    ),
)
"""

# Rogue resource name -> the mandatory rule that must flag it.
EXPECTED = {
    "rogue-replicaset": "k8s-no-privileged-containers",
    "rogue-deployment-patch": "k8s-no-host-namespaces",
    "rogue-custom-deployment": "k8s-image-allowed-registry",
    "rogue-rollout": "k8s-no-privileged-containers",
    "rogue-ephemeral": "k8s-no-privileged-containers",
    "micromart/rogue-yaml-pod": "k8s-no-privileged-containers",
    "rogue-configgroup:micromart/rogue-cron": "k8s-no-host-namespaces",
    "rogue-release": "k8s-no-helm-release",
}


@pytest.fixture(scope="module")
def rogue_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    root = tmp_path_factory.mktemp("rogue")
    project = copy_project(root / "project")
    (project / "rogue.yaml").write_text(ROGUE_MANIFEST, encoding="utf-8")
    main = project / "__main__.py"
    main.write_text(main.read_text(encoding="utf-8") + ROGUE_PROGRAM, encoding="utf-8")
    code = cli.main(["--stack", "staging", "--project-dir", str(project), "--out", str(root)])
    report = json.loads((root / "staging" / "policy.json").read_text(encoding="utf-8"))
    return code, report


def test_rogue_program_exits_1(rogue_run: tuple[int, dict[str, Any]]) -> None:
    assert rogue_run[0] == cli.EXIT_VIOLATION


@pytest.mark.parametrize(("name", "rule"), sorted(EXPECTED.items()))
def test_each_evasion_draws_a_mandatory_violation(
    rogue_run: tuple[int, dict[str, Any]], name: str, rule: str
) -> None:
    flagged = {
        (v["urn"].rsplit("::", 1)[-1], v["policy"])
        for v in rogue_run[1]["violations"]
        if v["level"] == "mandatory"
    }
    assert (name, rule) in flagged


def test_what_helm_hides_is_listed_not_checked(rogue_run: tuple[int, dict[str, Any]]) -> None:
    unseen = {item["urn"].rsplit("::", 1)[-1] for item in rogue_run[1]["not_checked"]}
    assert unseen == {"rogue-release", "rogue-chart"}


def test_honoured_exemption_is_reported_not_violated(
    rogue_run: tuple[int, dict[str, Any]],
) -> None:
    report = rogue_run[1]
    shipper = [e for e in report["exemptions"] if e["urn"].endswith("::log-shipper")]
    assert [e["message"] for e in shipper] == [
        "honoured: k8s-no-host-path-volumes: ships node logs (read-only)"
    ]
    assert not [
        v
        for v in report["violations"]
        if v["urn"].endswith("::log-shipper") and v["policy"] == "k8s-no-host-path-volumes"
    ]


def test_policy_config_is_echoed(rogue_run: tuple[int, dict[str, Any]]) -> None:
    echoed = {o["policy"]: o for o in rogue_run[1]["overrides"]}
    assert echoed["k8s-image-allowed-registry"]["settings"] == {
        "allowedRegistries": ["micromartstaging.azurecr.io"]
    }
