"""tools/policy_runner.py: the real pack as a subprocess spoken to over the analyzer gRPC protocol.

Every boot costs ~0.7 s (the pack imports the Pulumi SDK), so the module starts each scenario
once, all of them concurrently, in the `runs` fixture; the tests then only read the outcomes.
Scenarios: the real pack on the compliant fixture stack plus deliberate offenders, the real pack
with invalid config, and throwaway packs that fail to boot, print garbage, hang or raise.
"""

from __future__ import annotations

import copy
import json
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.policy_runner import (
    Analysis,
    PolicyPackError,
    PolicyResource,
    Undecided,
    Violation,
    analyze,
    run_policy_pack,
    stack_call_seconds,
)

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "policy"
FIXTURE = ROOT / "tests" / "policy" / "fixtures" / "compliant_stack.yaml"
PREFIX = "urn:pulumi:staging::micromart::"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-at-preview value
PROVIDER_URN = f"{PREFIX}pulumi:providers:kubernetes::aks"
COMPONENT_URN = f"{PREFIX}micromart:services:Microservice::orders"
POSTGRES_URN = f"{PREFIX}azure-native:dbforpostgresql:Server::postgres"

Outcome = Analysis | list[Violation] | PolicyPackError


def _urn(type_: str, name: str) -> str:
    return f"{PREFIX}{type_}::{name}"


def _fixture() -> dict[str, dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return {entry["name"]: entry for entry in loaded}


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


# Graph edges and options the compliant stack carries, as the synth's plan would have them.
_EXTRAS: dict[str, dict[str, Any]] = {
    "orders": {"parent": COMPONENT_URN},
    "postgres": {"protect": True},
    "orders-db": {"protect": True, "dependencies": (POSTGRES_URN,)},
    "postgres-tls": {
        "dependencies": (POSTGRES_URN,),
        "property_dependencies": {"serverName": (POSTGRES_URN,)},
    },
}


def _compliant() -> list[PolicyResource]:
    entries = _fixture()
    # The CronJob's image is unknown, as a freshly built image's digest is during preview.
    cron_pod = entries["catalog-reindex"]["props"]["spec"]["jobTemplate"]["spec"]["template"]
    cron_pod["spec"]["containers"][0]["image"] = UNKNOWN_STRING
    return [
        PolicyResource(
            urn=PROVIDER_URN, type="pulumi:providers:kubernetes", name="aks", properties={}
        ),
        PolicyResource(
            urn=COMPONENT_URN, type="micromart:services:Microservice", name="orders", properties={}
        ),
        *(_resource(entry, **_EXTRAS.get(name, {})) for name, entry in entries.items()),
    ]


def _offenders() -> list[PolicyResource]:
    entries = _fixture()
    root = copy.deepcopy(entries["orders"])
    root["name"] = "sandbox-root"
    root["props"]["metadata"].update(name="root", namespace="sandbox")
    root["props"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0
    legacy = copy.deepcopy(entries["registry"])
    legacy["name"] = "legacy-registry"
    legacy["props"]["adminUserEnabled"] = True
    return [_resource(root), _resource(legacy)]


def _staging_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads((PACK_DIR / "config" / "staging.json").read_text("utf-8"))
    # Postgres is protected through its resource options, the RabbitMQ StatefulSet is not.
    config["protect-stateful-resources"] = {"requireProtect": True}
    config["acr-admin-user-disabled"] = "advisory"
    return config


INVALID_CONFIG = {
    "k8s-no-such-policy": "mandatory",
    "k8s-minimum-replicas": {"minReplica": 2},
    "postgres-backup-policy": {"minBackupRetentionDays": "thirty"},
    "k8s-image-pinned": "blocking",
    "all": {"allowedRegistries": []},
}

THROWAWAY_PACKS = {
    "fails-to-boot": "raise RuntimeError('rules module is broken')\n",
    "prints-garbage": "print('hello from a debug print', flush=True)\nimport time\ntime.sleep(9)\n",
    "never-reports-port": "import time\ntime.sleep(9)\n",
    "policy-raises": """
        from pulumi_policy import PolicyPack, ResourceValidationPolicy

        def explode(args, report):
            raise ValueError("rule bug")

        PolicyPack(
            name="broken",
            policies=[ResourceValidationPolicy(name="explode", description="d", validate=explode)],
        )
        """,
}


def _pack(root: Path, name: str) -> Path:
    pack = root / name
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n", encoding="utf-8")
    (pack / "__main__.py").write_text(textwrap.dedent(THROWAWAY_PACKS[name]), encoding="utf-8")
    return pack


def _outcome(run: Callable[[], Analysis | list[Violation]]) -> Outcome:
    try:
        return run()
    except PolicyPackError as error:
        return error


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    packs = tmp_path_factory.mktemp("packs")
    any_resource = PolicyResource(urn=_urn("t:m:R", "r"), type="t:m:R", name="r", properties={})
    common: dict[str, Any] = {"project": "micromart", "stack": "staging"}
    scenarios: dict[str, Callable[[], Analysis | list[Violation]]] = {
        # A preview: the CronJob's image is unknown (see _compliant).
        "staging": lambda: analyze(
            [*_compliant(), *_offenders()],
            pack_dir=PACK_DIR,
            policy_config=_staging_config(),
            dry_run=True,
            **common,
        ),
        # The same unknown at update, where every value must be known.
        "update-with-unknown": lambda: run_policy_pack(
            _compliant(), pack_dir=PACK_DIR, policy_config=_staging_config(), **common
        ),
        "invalid-config": lambda: run_policy_pack(
            [], pack_dir=PACK_DIR, policy_config=INVALID_CONFIG, **common
        ),
        "fails-to-boot": lambda: run_policy_pack(
            [], pack_dir=_pack(packs, "fails-to-boot"), **common
        ),
        "prints-garbage": lambda: run_policy_pack(
            [], pack_dir=_pack(packs, "prints-garbage"), **common
        ),
        "never-reports-port": lambda: run_policy_pack(
            [], pack_dir=_pack(packs, "never-reports-port"), timeout=0.5, **common
        ),
        "policy-raises": lambda: run_policy_pack(
            [any_resource], pack_dir=_pack(packs, "policy-raises"), **common
        ),
    }
    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        futures = {name: pool.submit(_outcome, run) for name, run in scenarios.items()}
    return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def violations(runs: dict[str, Outcome]) -> list[Violation]:
    outcome = runs["staging"]
    assert isinstance(outcome, Analysis), outcome
    return outcome.violations


def _error(runs: dict[str, Outcome], name: str) -> str:
    outcome = runs[name]
    assert isinstance(outcome, PolicyPackError), f"{name} should fail, got {outcome}"
    return str(outcome)


def test_root_deployment_is_a_mandatory_violation(violations: list[Violation]) -> None:
    root = _urn("kubernetes:apps/v1:Deployment", "sandbox-root")
    found = [v for v in violations if v.urn == root and v.policy == "k8s-run-as-non-root"]
    assert [(v.level, v.message) for v in found] == [
        ("mandatory", "container 'orders': runAsUser is 0 (root)"),
        ("mandatory", "initContainer 'migrate': runAsUser is 0 (root)"),
    ]
    # Stack rules report against the offending resource too, not against the stack.
    stack_rules = {
        "k8s-namespace-default-deny",
        "k8s-deployment-pdb",
        "k8s-deployment-network-policy",
    }
    assert stack_rules <= {v.policy for v in violations if v.urn == root}


def test_compliant_resources_have_no_mandatory_violations(violations: list[Violation]) -> None:
    compliant_urns = {r.urn for r in _compliant()} | {""}
    mandatory = [v for v in violations if v.level == "mandatory" and v.urn in compliant_urns]
    # The only one is the protect requirement switched on for this run (see _staging_config).
    assert mandatory == [
        Violation(
            "protect-stateful-resources",
            "mandatory",
            _urn("kubernetes:apps/v1:StatefulSet", "rabbitmq"),
            "kubernetes:apps/v1:StatefulSet 'rabbitmq' holds data but is not protected",
        )
    ]


def test_config_can_lower_a_policy_to_advisory(violations: list[Violation]) -> None:
    legacy = _urn("azure-native:containerregistry:Registry", "legacy-registry")
    assert [v for v in violations if v.urn == legacy] == [
        Violation("acr-admin-user-disabled", "advisory", legacy, "adminUserEnabled is True")
    ]


def test_unknown_values_are_undecided_not_violations(
    runs: dict[str, Outcome], violations: list[Violation]
) -> None:
    cron_job = _urn("kubernetes:batch/v1:CronJob", "catalog-reindex")
    assert [v for v in violations if v.urn == cron_job] == []
    assert not any("can't be known during preview" in v.message for v in violations)
    outcome = runs["staging"]
    assert isinstance(outcome, Analysis)
    image = ".spec.jobTemplate.spec.template.spec.containers.0.image"
    reason = f"string value at {image} can't be known during preview"
    assert {u for u in outcome.undecided if u.urn == cron_job} == {
        Undecided("k8s-image-allowed-registry", cron_job, reason),
        Undecided("k8s-image-pinned", cron_job, reason),
    }


def test_an_unknown_at_update_is_an_error_not_a_pass(runs: dict[str, Outcome]) -> None:
    error = _error(runs, "update-with-unknown")
    assert error.startswith("policies could not decide on known values:")
    assert "catalog-reindex" in error


def test_violations_are_sorted(violations: list[Violation]) -> None:
    assert violations == sorted(violations, key=lambda v: (v.policy, v.urn, v.message, v.level))


def test_invalid_config_lists_every_problem(runs: dict[str, Outcome]) -> None:
    assert _error(runs, "invalid-config").splitlines() == [
        "invalid policy config:",
        "  k8s-image-pinned: enforcement level 'blocking' is not one of advisory, mandatory, "
        "remediate, disabled",
        "  all: may only set an enforcement level",
        "  k8s-no-such-policy: no such policy in the pack",
        "  k8s-minimum-replicas: undeclared keys minReplica",
        "  postgres-backup-policy.minBackupRetentionDays: 'thirty' is not of type 'integer'",
    ]


def test_pack_that_fails_to_boot_raises_with_its_stderr(runs: dict[str, Outcome]) -> None:
    error = _error(runs, "fails-to-boot")
    assert "exited with code 1 before reporting its port" in error
    assert "rules module is broken" in error


def test_pack_that_prints_garbage_raises(runs: dict[str, Outcome]) -> None:
    assert "printed 'hello from a debug print' instead of its port" in _error(
        runs, "prints-garbage"
    )


def test_pack_that_never_reports_a_port_times_out(runs: dict[str, Outcome]) -> None:
    assert "timed out after 0.5s" in _error(runs, "never-reports-port")


def test_policy_that_raises_is_an_error(runs: dict[str, Outcome]) -> None:
    error = _error(runs, "policy-raises")
    assert "Analyze failed (UNKNOWN)" in error
    assert "rule bug" in error


def test_the_stack_wide_call_gets_time_in_proportion_to_the_stack() -> None:
    """A fixed limit failed a 200-service synth ("timed out after 30s"): the stack-wide call's
    limit grows with the resources, while each step keeps the caller's short limit."""
    small, large = stack_call_seconds(30, 100), stack_call_seconds(30, 2600)
    assert small >= 30
    # At least 10 ms per resource, ten times what the real pack needs here.
    assert large - small >= 2500 * 0.01
