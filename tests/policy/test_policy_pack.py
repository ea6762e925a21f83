"""The pack as a whole: policy metadata, __main__.py, PulumiPolicy.yaml, per-stack config files.

Booting the pack for real (subprocess + gRPC) is covered by tests/tools/test_policy_runner.py.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable
from importlib.metadata import packages_distributions, version
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from pulumi_policy import EnforcementLevel, Policy

from policy.rules import (
    ALL_POLICIES,
    azure,
    cluster_control,
    istio,
    networking,
    pod_security,
    rbac,
    resilience,
    secrets,
    workloads,
)
from tests.policy.conftest import Reported, evaluate, policy_config
from tools.synth import SynthResult

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
MODULES = {
    "workloads": workloads,
    "pod_security": pod_security,
    "networking": networking,
    "resilience": resilience,
    "azure": azure,
    "istio": istio,
    "rbac": rbac,
    "secrets": secrets,
    "cluster_control": cluster_control,
}


def test_policy_names_are_unique_kebab_case() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names))
    assert [n for n in names if not KEBAB.match(n)] == []


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=lambda p: p.name)
def test_policy_metadata(policy: Policy) -> None:
    assert policy.description.endswith(".") and ". " not in policy.description, "one sentence"
    # The one advisory policy only reports exemption annotations; it must never block.
    expected = (
        EnforcementLevel.ADVISORY
        if policy.name == "k8s-policy-exemptions"
        else EnforcementLevel.MANDATORY
    )
    assert policy.enforcement_level is expected
    assert policy.severity is not None
    assert policy.remediation_steps
    assert policy.tags


def test_every_policy_has_two_passing_and_two_failing_fixtures(all_cases: dict[str, Any]) -> None:
    counts = {name: {"pass": 0, "fail": 0} for name in BY_NAME}
    for module, cases in all_cases.items():
        module_policies = {p.name for p in MODULES[module].POLICIES}
        for case in cases:
            assert case.policy in module_policies, (
                f"{module}.yaml lists {case.policy} of another module"
            )
            counts[case.policy][case.expect] += 1
    # Issue 11 acceptance: at least two of each for every rule.
    thin = {name: c for name, c in counts.items() if c["pass"] < 2 or c["fail"] < 2}
    assert thin == {}


def test_every_pod_rule_has_two_passing_and_two_failing_fixtures(
    all_cases: dict[str, Any],
) -> None:
    pod_rules = {p.name for p in (*workloads.POLICIES, *pod_security.POLICIES)}
    counts = {name: {"pass": 0, "fail": 0} for name in pod_rules}
    for case in (*all_cases["workloads"], *all_cases["pod_security"]):
        counts[case.policy][case.expect] += 1
    thin = {name: c for name, c in counts.items() if c["pass"] < 2 or c["fail"] < 2}
    assert thin == {}


def test_main_only_builds_the_pack() -> None:
    tree = ast.parse((PACK_DIR / "__main__.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "PolicyPack"
    ]
    assert len(calls) == 1
    keywords = {k.arg: k.value for k in calls[0].keywords}
    assert (
        isinstance(keywords["name"], ast.Constant)
        and keywords["name"].value == "micromart-policies"
    )
    assert not any(isinstance(n, (ast.ClassDef,)) for n in tree.body), (
        "rules belong in policy/rules"
    )


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution.strip()).lower()


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert version, f"{path.name}: {requirement} is not pinned"
            pins[_normalized(name)] = version.strip()
    return pins


def _third_party_imports() -> set[str]:
    found = set()
    for source in PACK_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
    return {name for name in found if name not in sys.stdlib_module_names and name != "policy"}


def test_project_file_and_requirements() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"] == "python"
    assert project["description"]
    pins = _pins(PACK_DIR / "requirements.txt")
    # Every third-party module the pack imports comes from a distribution it pins itself.
    providers = packages_distributions()
    missing = {
        module
        for module in _third_party_imports()
        if not {_normalized(d) for d in providers.get(module, [])} & set(pins)
    }
    assert missing == set()
    # The pack runs on exactly the versions this suite exercised it with.
    assert {name: version(name) for name in pins} == pins
    assert {"pulumi", "pulumi-policy"} <= set(pins)


def _config(stack: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (PACK_DIR / "config" / f"{stack}.json").read_text(encoding="utf-8")
    )
    return loaded


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_config_file_matches_policy_schemas(stack: str) -> None:
    for name, section in _config(stack).items():
        assert name in BY_NAME, f"{stack}.json configures unknown policy {name}"
        schema = BY_NAME[name].config_schema
        assert schema is not None, f"{name} takes no config"
        values = {k: v for k, v in section.items() if k != "enforcementLevel"}
        assert set(values) <= set(schema.properties), f"{name}: undeclared keys"
        jsonschema.validate(values, {"type": "object", "properties": schema.properties})


# -- each stack's pack config against what that stack renders -----------------------------------

STACKS = ("staging", "production")
SERVER = "azure-native:dbforpostgresql:Server"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIGURED = (
    "k8s-image-allowed-registry",
    "k8s-minimum-replicas",
    "postgres-backup-policy",
    "protect-stateful-resources",
)


def _as_fixture(result: SynthResult) -> list[dict[str, Any]]:
    return [
        {"type": r.type, "name": r.name, "props": r.plain_inputs(), "protect": r.protect}
        for r in result.program_resources
        if r.custom
    ]


def _findings(stack: str, policy: str, resources: list[dict[str, Any]]) -> list[Reported]:
    return evaluate(BY_NAME[policy], resources, policy_config(stack, policy, {}))


def _one(resources: list[dict[str, Any]], type_token: str, name: str = "") -> dict[str, Any]:
    (found,) = [r for r in resources if r["type"] == type_token and name in r["name"]]
    return found


def _foreign_image(other: SynthResult) -> Callable[[list[dict[str, Any]]], None]:
    """The orders image, pushed to the other stack's registry."""
    (registry,) = other.by_type("azure-native:containerregistry:Registry")
    login_server = f"{registry.plain_inputs()['registryName']}.azurecr.io"

    def edit(resources: list[dict[str, Any]]) -> None:
        deployment = _one(resources, DEPLOYMENT, "orders")
        container = deployment["props"]["spec"]["template"]["spec"]["containers"][0]
        repository = container["image"].split("/", 1)[1]
        container["image"] = f"{login_server}/{repository}"

    return edit


@pytest.mark.parametrize("policy", CONFIGURED)
@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_passes_its_own_pack_config(
    request: pytest.FixtureRequest, stack: str, policy: str
) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    assert _findings(stack, policy, _as_fixture(result)) == []


def _short_retention(resources: list[dict[str, Any]]) -> None:
    # README: production keeps backups 30 days or more.
    _one(resources, SERVER)["props"]["backup"]["backupRetentionDays"] = 29


def _local_backups(resources: list[dict[str, Any]]) -> None:
    _one(resources, SERVER)["props"]["backup"]["geoRedundantBackup"] = "Disabled"


def _unprotected_server(resources: list[dict[str, Any]]) -> None:
    _one(resources, SERVER)["protect"] = False


def _single_replica(resources: list[dict[str, Any]]) -> None:
    _one(resources, HPA, "orders")["props"]["spec"]["minReplicas"] = 1


def _public_registry(resources: list[dict[str, Any]]) -> None:
    _one(resources, "azure-native:containerregistry:Registry")["props"]["publicNetworkAccess"] = (
        "Enabled"
    )


PRODUCTION_REGRESSIONS = {
    "acr-private-network": _public_registry,
    "postgres-backup-policy (retention)": _short_retention,
    "postgres-backup-policy (geo)": _local_backups,
    "protect-stateful-resources": _unprotected_server,
    "k8s-minimum-replicas": _single_replica,
}


@pytest.mark.parametrize("regression", sorted(PRODUCTION_REGRESSIONS))
def test_production_config_blocks_what_staging_may_do(
    production: SynthResult, regression: str
) -> None:
    """The production config is strict where production must be: short or local backups,
    an unprotected database or a single replica fail."""
    resources = _as_fixture(production)
    PRODUCTION_REGRESSIONS[regression](resources)
    assert _findings("production", regression.split(" ", maxsplit=1)[0], resources)


def test_each_stack_admits_images_only_from_its_own_registry(
    staging: SynthResult, production: SynthResult
) -> None:
    for stack, result, other in (
        ("staging", staging, production),
        ("production", production, staging),
    ):
        resources = _as_fixture(result)
        _foreign_image(other)(resources)
        assert _findings(stack, "k8s-image-allowed-registry", resources), stack


def test_production_keeps_the_private_network_and_storage_requirements() -> None:
    # These two config switches relax a rule; only staging may use them.
    production = _config("production")
    assert production["acr-private-network"] == {"requirePrivateNetwork": True}
    assert production["storage-account-secure"] == {"requireSharedKeyDisabled": True}
    assert _config("staging")["acr-private-network"] == {"requirePrivateNetwork": False}
