"""The pack as a whole: policy metadata, __main__.py, PulumiPolicy.yaml, per-stack config files.

Booting the pack for real (subprocess + gRPC) is covered by tests/tools/test_policy_runner.py.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from pulumi_policy import EnforcementLevel, Policy

from policy.rules import ALL_POLICIES, azure, networking, pod_security, resilience, workloads

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
MODULES = {
    "workloads": workloads,
    "pod_security": pod_security,
    "networking": networking,
    "resilience": resilience,
    "azure": azure,
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


def test_every_policy_has_one_passing_and_two_failing_fixtures(all_cases: dict[str, Any]) -> None:
    counts = {name: {"pass": 0, "fail": 0} for name in BY_NAME}
    for module, cases in all_cases.items():
        module_policies = {p.name for p in MODULES[module].POLICIES}
        for case in cases:
            assert case.policy in module_policies, (
                f"{module}.yaml lists {case.policy} of another module"
            )
            counts[case.policy][case.expect] += 1
    thin = {name: c for name, c in counts.items() if c["pass"] < 1 or c["fail"] < 2}
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


def test_project_file_and_requirements() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"] == "python"
    assert project["description"]
    requirements = (PACK_DIR / "requirements.txt").read_text(encoding="utf-8").split()
    assert "pulumi==3.272.0" in requirements
    assert "pulumi-policy==1.21.0" in requirements


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


def test_stack_config_values() -> None:
    staging, production = _config("staging"), _config("production")
    assert staging["k8s-image-allowed-registry"]["allowedRegistries"] == [
        "micromartstaging.azurecr.io"
    ]
    assert production["k8s-image-allowed-registry"]["allowedRegistries"] == [
        "micromartprod.azurecr.io"
    ]
    assert (
        staging["k8s-minimum-replicas"]["minReplicas"],
        production["k8s-minimum-replicas"]["minReplicas"],
    ) == (1, 2)
    assert staging["postgres-backup-policy"] == {
        "minBackupRetentionDays": 7,
        "requireGeoRedundantBackup": False,
    }
    assert production["postgres-backup-policy"] == {
        "minBackupRetentionDays": 30,
        "requireGeoRedundantBackup": True,
    }
    assert staging["protect-stateful-resources"]["requireProtect"] is False
    assert production["protect-stateful-resources"]["requireProtect"] is True
