"""tools/policy_runner.py: the real pack as a subprocess spoken to over the analyzer gRPC protocol.

One module-scoped run analyzes the compliant fixture stack plus a few deliberate offenders, so the
pack boots once for most assertions; the failure-mode tests use tiny throwaway packs.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.policy_runner import PolicyPackError, PolicyResource, Violation, run_policy_pack

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "policy"
FIXTURE = ROOT / "tests" / "policy" / "fixtures" / "compliant_stack.yaml"
PREFIX = "urn:pulumi:staging::micromart::"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-at-preview sentinel
PROVIDER_URN = f"{PREFIX}pulumi:providers:kubernetes::aks"
COMPONENT_URN = f"{PREFIX}micromart:services:Microservice::orders"


def _urn(type_: str, name: str) -> str:
    return f"{PREFIX}{type_}::{name}"


def _fixture() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return loaded


def _resource(entry: dict[str, Any], **extra: Any) -> PolicyResource:
    kubernetes = entry["type"].startswith("kubernetes:")
    return PolicyResource(
        urn=_urn(entry["type"], entry["name"]),
        type=entry["type"],
        name=entry["name"],
        properties=entry["props"],
        provider=f"{PROVIDER_URN}::0b5e6c1c" if kubernetes else "",
        **extra,
    )


def _compliant() -> list[PolicyResource]:
    postgres = _urn("azure-native:dbforpostgresql:Server", "postgres")
    extras: dict[str, dict[str, Any]] = {
        "orders": {"parent": COMPONENT_URN},
        "postgres": {"protect": True},
        "orders-db": {"protect": True, "dependencies": (postgres,)},
        "postgres-tls": {
            "dependencies": (postgres,),
            "property_dependencies": {"serverName": (postgres,)},
        },
    }
    resources = [
        PolicyResource(
            urn=PROVIDER_URN, type="pulumi:providers:kubernetes", name="aks", properties={}
        ),
        PolicyResource(
            urn=COMPONENT_URN, type="micromart:services:Microservice", name="orders", properties={}
        ),
    ]
    return resources + [_resource(e, **extras.get(e["name"], {})) for e in _fixture()]


def _offenders() -> list[PolicyResource]:
    entries = {e["name"]: e for e in _fixture()}
    root = copy.deepcopy(entries["orders"])
    root["name"] = "sandbox-root"
    root["props"]["metadata"].update(name="root", namespace="sandbox")
    root["props"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    legacy = copy.deepcopy(entries["registry"])
    legacy["name"] = "legacy-registry"
    legacy["props"]["adminUserEnabled"] = True
    return [_resource(root), _resource(legacy)]


def _staging_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(
        (PACK_DIR / "config" / "staging.json").read_text(encoding="utf-8")
    )
    config["protect-stateful-resources"] = {
        "requireProtect": True
    }  # postgres is protected, rabbitmq not
    config["acr-admin-user-disabled"] = "advisory"
    return config


@pytest.fixture(scope="module")
def compliant() -> list[PolicyResource]:
    resources = _compliant()
    # The CronJob's image is unknown, as a freshly built image's digest is during preview.
    for index, resource in enumerate(resources):
        if resource.name == "catalog-reindex":
            props = copy.deepcopy(resource.properties)
            props["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] = (
                UNKNOWN_STRING
            )
            resources[index] = PolicyResource(**{**resource.__dict__, "properties": props})
    return resources


@pytest.fixture(scope="module")
def violations(compliant: list[PolicyResource]) -> list[Violation]:
    return run_policy_pack(
        [*compliant, *_offenders()],
        pack_dir=PACK_DIR,
        project="micromart",
        stack="staging",
        policy_config=_staging_config(),
    )


def test_root_deployment_is_a_mandatory_violation(violations: list[Violation]) -> None:
    root = _urn("kubernetes:apps/v1:Deployment", "sandbox-root")
    found = [v for v in violations if v.urn == root and v.policy == "k8s-run-as-non-root"]
    assert found == [
        Violation(
            "k8s-run-as-non-root", "mandatory", root, "container 'orders': runAsUser is 0 (root)"
        ),
        Violation(
            "k8s-run-as-non-root",
            "mandatory",
            root,
            "initContainer 'migrate': runAsUser is 0 (root)",
        ),
    ]
    # Stack rules report against the offending resource too, not against the stack.
    stack_level = {v.policy for v in violations if v.urn == root}
    assert {
        "k8s-namespace-default-deny",
        "k8s-deployment-pdb",
        "k8s-deployment-network-policy",
    } <= stack_level


def test_compliant_resources_have_no_mandatory_violations(
    violations: list[Violation], compliant: list[PolicyResource]
) -> None:
    rabbitmq = _urn("kubernetes:apps/v1:StatefulSet", "rabbitmq")
    compliant_urns = {r.urn for r in compliant} | {""}
    mandatory = [v for v in violations if v.level == "mandatory" and v.urn in compliant_urns]
    # The only one is the protect requirement switched on for this run: postgres is protected
    # through the resource options, rabbitmq's StatefulSet is not.
    assert mandatory == [
        Violation(
            "protect-stateful-resources",
            "mandatory",
            rabbitmq,
            "kubernetes:apps/v1:StatefulSet 'rabbitmq' holds data but is not protected",
        )
    ]


def test_config_can_lower_a_policy_to_advisory(violations: list[Violation]) -> None:
    legacy = _urn("azure-native:containerregistry:Registry", "legacy-registry")
    assert [v for v in violations if v.urn == legacy] == [
        Violation("acr-admin-user-disabled", "advisory", legacy, "adminUserEnabled is True")
    ]


def test_unknown_values_are_not_reported(violations: list[Violation]) -> None:
    cron_job = _urn("kubernetes:batch/v1:CronJob", "catalog-reindex")
    assert [v for v in violations if v.urn == cron_job] == []
    assert not any("can't be known during preview" in v.message for v in violations)


def test_violations_are_sorted(violations: list[Violation]) -> None:
    assert violations == sorted(violations, key=lambda v: (v.policy, v.urn, v.message, v.level))


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"k8s-no-such-policy": "mandatory"}, "unknown policies: k8s-no-such-policy"),
        ({"k8s-minimum-replicas": {"minReplica": 2}}, "undeclared keys: minReplica"),
        ({"k8s-minimum-replicas": {"minReplicas": "two"}}, "is not of type 'integer'"),
        ({"k8s-image-pinned": "blocking"}, "is not one of advisory"),
    ],
)
def test_invalid_config_is_rejected(config: dict[str, Any], error: str) -> None:
    with pytest.raises(PolicyPackError, match=error):
        run_policy_pack(
            [], pack_dir=PACK_DIR, project="micromart", stack="staging", policy_config=config
        )


def _pack(tmp_path: Path, main: str) -> Path:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n", encoding="utf-8")
    (tmp_path / "__main__.py").write_text(textwrap.dedent(main), encoding="utf-8")
    return tmp_path


def test_pack_that_fails_to_boot_raises(tmp_path: Path) -> None:
    pack = _pack(tmp_path, "raise RuntimeError('rules module is broken')\n")
    with pytest.raises(
        PolicyPackError, match="exited with code 1 before reporting its port"
    ) as raised:
        run_policy_pack([], pack_dir=pack, project="micromart", stack="staging")
    assert "rules module is broken" in str(raised.value)


def test_pack_that_prints_garbage_raises(tmp_path: Path) -> None:
    pack = _pack(
        tmp_path, "print('hello from a debug print', flush=True)\nimport time\ntime.sleep(30)\n"
    )
    with pytest.raises(
        PolicyPackError, match="printed 'hello from a debug print' instead of its port"
    ):
        run_policy_pack([], pack_dir=pack, project="micromart", stack="staging")


def test_pack_that_never_reports_a_port_times_out(tmp_path: Path) -> None:
    pack = _pack(tmp_path, "import time\ntime.sleep(30)\n")
    with pytest.raises(PolicyPackError, match=r"timed out after 0\.5s"):
        run_policy_pack([], pack_dir=pack, project="micromart", stack="staging", timeout=0.5)


def test_policy_that_raises_is_an_error(tmp_path: Path) -> None:
    pack = _pack(
        tmp_path,
        """
        from pulumi_policy import PolicyPack, ResourceValidationPolicy

        def explode(args, report):
            raise ValueError("rule bug")

        PolicyPack(
            name="broken",
            policies=[ResourceValidationPolicy(name="explode", description="d", validate=explode)],
        )
        """,
    )
    resource = PolicyResource(urn=_urn("t:m:R", "r"), type="t:m:R", name="r", properties={})
    with pytest.raises(PolicyPackError, match="Analyze failed"):
        run_policy_pack([resource], pack_dir=pack, project="micromart", stack="staging")
