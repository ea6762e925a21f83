"""The bad-input corpus: every malformed value fails before any resource, with one clear line."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml
from tools import cli
from tools.synth import ProgramError, StackInput, read_stack_file, synthesize

Edit = Callable[[dict[str, Any]], None]
STACK_FILE = "Pulumi.staging.yaml"


@dataclass(frozen=True)
class StackCase:
    id: str
    key: str  # config key whose JSON/str value is edited; None value removes it
    edit: Callable[[Any], Any]
    expected: tuple[str, ...]


def _set(path: str, value: Any) -> Callable[[Any], Any]:
    def apply(document: Any) -> Any:
        target = document
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
        return document

    return apply


def _replace(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


REMOVE = object()

STACK_CASES = [
    StackCase(
        "unknown-top-level-key",
        "micromart:replicaz",
        _replace("3"),
        ("micromart:replicaz", "unknown key"),
    ),
    StackCase(
        "unknown-nested-key",
        "micromart:registry",
        _set("skew", "Premium"),
        ("micromart:registry.skew", "unknown key"),
    ),
    StackCase(
        "wrong-type",
        "micromart:rabbitmq",
        _set("replicas", "three"),
        ("micromart:rabbitmq.replicas", "three"),
    ),
    StackCase(
        "bad-location",
        "micromart:location",
        _replace("westeurop"),
        ("micromart:location", "'westeurop' is not a supported Azure region"),
    ),
    StackCase(
        "missing-required-key",
        "micromart:registry",
        _replace(REMOVE),
        ("micromart:registry", "required key is missing"),
    ),
    StackCase(
        "min-above-max",
        "micromart:services",
        _set("orders.autoscaling", {"enabled": True, "minReplicas": 5, "maxReplicas": 3}),
        ("micromart:services.orders.autoscaling", "minReplicas (5) > maxReplicas (3)"),
    ),
    StackCase(
        "negative-replicas",
        "micromart:services",
        _set("orders.replicas", -1),
        ("micromart:services.orders.replicas", "greater than or equal to 1"),
    ),
    StackCase(
        "bad-cpu-quantity",
        "micromart:services",
        _set(
            "orders.resources",
            {
                "requests": {"cpu": "lots", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        ),
        ("micromart:services.orders.resources.requests.cpu", "not a CPU quantity"),
    ),
    StackCase(
        "bad-memory-quantity",
        "micromart:services",
        _set(
            "orders.resources",
            {
                "requests": {"cpu": "100m", "memory": "512MB"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        ),
        ("micromart:services.orders.resources.requests.memory", "not a memory quantity"),
    ),
    StackCase(
        "requests-above-limits",
        "micromart:services",
        _set(
            "orders.resources",
            {"requests": {"cpu": "2", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        ),
        ("micromart:services.orders.resources", "requests.cpu (2) exceeds limits.cpu (1)"),
    ),
    StackCase(
        "canary-weight-above-100",
        "micromart:services",
        _set("orders.canary", {"tag": "v2", "weight": 150}),
        ("micromart:services.orders.canary.weight", "less than or equal to 100"),
    ),
    StackCase(
        "canary-weight-negative",
        "micromart:services",
        _set("orders.canary", {"tag": "v2", "weight": -5}),
        ("micromart:services.orders.canary.weight", "greater than or equal to 0"),
    ),
    StackCase(
        "canary-latest-tag",
        "micromart:services",
        _set("orders.canary", {"tag": "latest", "weight": 10}),
        ("micromart:services.orders.canary", "'latest' is not allowed"),
    ),
    StackCase(
        "override-unknown-service",
        "micromart:services",
        _set("payments.replicas", 2),
        ("micromart:services.payments", "no service named 'payments'"),
    ),
    StackCase(
        "short-backup-retention",
        "micromart:postgres",
        _set("backupRetentionDays", 3),
        ("micromart:postgres.backupRetentionDays", "greater than or equal to 7"),
    ),
    StackCase(
        "ha-on-burstable",
        "micromart:postgres",
        _set("highAvailability", True),
        ("micromart:postgres", "not available on the Burstable tier"),
    ),
    StackCase(
        "subnet-outside-vnet",
        "micromart:network",
        _set("aksSubnet", "10.99.0.0/20"),
        ("micromart:network", "aksSubnet (10.99.0.0/20) is not inside addressSpace"),
    ),
    StackCase(
        "overlapping-subnets",
        "micromart:network",
        _set("postgresSubnet", "10.40.1.0/24"),
        ("micromart:network", "overlaps postgresSubnet"),
    ),
    StackCase(
        "registry-name-uppercase",
        "micromart:registry",
        _set("name", "MicroMart"),
        ("micromart:registry.name", "should match pattern"),
    ),
    StackCase(
        "zone-redundancy-needs-premium",
        "micromart:registry",
        _set("zoneRedundancy", True),
        ("micromart:registry", "zoneRedundancy needs sku Premium"),
    ),
    StackCase(
        "prebuilt-without-tag",
        "micromart:images",
        _replace({"build": False}),
        ("micromart:images", "tag is required when build is false"),
    ),
    StackCase(
        "unsupported-kubernetes",
        "micromart:cluster",
        _set("kubernetesVersion", "1.19"),
        ("micromart:cluster.kubernetesVersion", "should match pattern"),
    ),
    StackCase(
        "unknown-environment",
        "micromart:environment",
        _replace("prod"),
        ("micromart:environment", "'staging' or 'production'"),
    ),
    StackCase(
        "pool-min-above-max",
        "micromart:cluster",
        _set("userPool", {"vmSize": "Standard_D4ds_v5", "minCount": 5, "maxCount": 2}),
        ("micromart:cluster.userPool", "minCount (5) > maxCount (2)"),
    ),
    StackCase(
        "istio-revision-without-cni",
        "micromart:cluster",
        _set("istioRevision", "asm-1-26"),
        ("micromart:cluster.istioRevision", "restricted Pod Security rejects"),
    ),
    StackCase(
        "bad-log-level",
        "micromart:logLevel",
        _replace("verbose"),
        ("micromart:logLevel", "'verbose'"),
    ),
]


@dataclass(frozen=True)
class SpecCase:
    id: str
    service: str
    edit: Edit
    expected: tuple[str, ...]


def _spec_set(key: str, value: Any) -> Edit:
    return lambda spec: spec.__setitem__(key, value)


SPEC_CASES = [
    SpecCase(
        "spec-unknown-key",
        "orders",
        _spec_set("replica", 2),
        ("services/orders/service.yaml", "replica", "unknown key"),
    ),
    SpecCase(
        "spec-unknown-dependency",
        "orders",
        _spec_set("calls", ["catalog", "payments"]),
        ("services/orders/service.yaml", "calls[1]", "unknown service 'payments'"),
    ),
    SpecCase(
        "spec-duplicate-name",
        "notifications",
        _spec_set("name", "orders"),
        (
            "services/orders/service.yaml: name: 'orders' is already declared by "
            "services/notifications/service.yaml",
        ),
    ),
    SpecCase(
        "spec-missing-probes",
        "catalog",
        lambda spec: spec.pop("probes"),
        ("services/catalog/service.yaml", "probes", "required key is missing"),
    ),
    SpecCase(
        "spec-identical-probes",
        "catalog",
        _spec_set("probes", {"liveness": "/health", "readiness": "/health"}),
        ("services/catalog/service.yaml", "probes", "same path"),
    ),
    SpecCase(
        "spec-negative-replicas",
        "catalog",
        _spec_set("replicas", -2),
        ("services/catalog/service.yaml", "replicas", "greater than or equal to 1"),
    ),
    SpecCase(
        "spec-routes-on-internal-service",
        "orders",
        _spec_set("routes", [{"prefix": "/api/x", "service": "catalog"}]),
        ("services/orders/service.yaml", "routes", "only a public service"),
    ),
    SpecCase(
        "spec-port-out-of-range",
        "catalog",
        _spec_set("port", 70000),
        ("services/catalog/service.yaml", "port", "less than or equal to 65535"),
    ),
    SpecCase(
        "spec-calls-itself",
        "catalog",
        _spec_set("calls", ["catalog"]),
        ("services/catalog/service.yaml", "may not call itself"),
    ),
    SpecCase(
        "spec-reserved-env",
        "catalog",
        _spec_set("env", {"DATABASE_URL": "x"}),
        ("services/catalog/service.yaml", "DATABASE_URL is set by the platform"),
    ),
    SpecCase(
        "spec-canary-weight",
        "catalog",
        _spec_set("canary", {"tag": "v2", "weight": 101}),
        ("services/catalog/service.yaml", "canary.weight", "less than or equal to 100"),
    ),
    SpecCase(
        "spec-shared-database",
        "inventory",
        _spec_set("postgres", {"database": "orders"}),
        ("service.yaml", "postgres.database", "already owned by service"),
    ),
]


def _stack_input(case: StackCase) -> StackInput:
    base = read_stack_file(PROJECT_DIR, "staging")
    config = dict(base.config)
    current = config.get(case.key)
    decoded = json.loads(current) if current and current.startswith(("{", "[")) else current
    edited = case.edit(decoded)
    if edited is REMOVE:
        config.pop(case.key)
    else:
        config[case.key] = json.dumps(edited) if isinstance(edited, (dict, list)) else str(edited)
    return StackInput(config=config, secret_keys=base.secret_keys)


def _assert_one_clear_line(error: ProgramError, expected: tuple[str, ...]) -> None:
    message = str(error)
    assert "\n" not in message, message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert error.registered == (), "a config error must register no resource"


@pytest.mark.parametrize("case", STACK_CASES, ids=lambda case: case.id)
def test_bad_stack_config_fails_before_any_resource(case: StackCase) -> None:
    with pytest.raises(ProgramError) as caught:
        synthesize(PROJECT_DIR, "staging", _stack_input(case))
    _assert_one_clear_line(caught.value, (f"{STACK_FILE}: ", *case.expected))


@pytest.mark.parametrize("case", SPEC_CASES, ids=lambda case: case.id)
def test_bad_service_spec_fails_before_any_resource(case: SpecCase, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    edit_yaml(project / "services" / case.service / "service.yaml", case.edit)
    with pytest.raises(ProgramError) as caught:
        synthesize(project, "staging")
    _assert_one_clear_line(caught.value, case.expected)


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    (project / "services" / "orders" / "service.yaml").write_text("name: [orders\n")
    with pytest.raises(ProgramError) as caught:
        synthesize(project, "staging")
    _assert_one_clear_line(caught.value, ("services/orders/service.yaml", "not valid YAML", "line"))


def test_cli_exits_2_and_keeps_the_previous_build(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    out = tmp_path / "build"
    previous = out / "staging" / "plan.json"
    previous.parent.mkdir(parents=True)
    previous.write_text("previous build\n")
    edit_yaml(project / "services" / "orders" / "service.yaml", _spec_set("replicas", 0))
    code = cli.main(["--stack", "staging", "--project-dir", str(project), "--out", str(out)])
    assert code == cli.EXIT_ERROR
    assert previous.read_text() == "previous build\n"
    assert sorted(p.name for p in out.iterdir()) == ["staging"]


def test_corpus_is_large_enough() -> None:
    assert len(STACK_CASES) + len(SPEC_CASES) >= 25
