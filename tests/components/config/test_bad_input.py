"""The bad-input corpus: every malformed stack file or spec gives exit 2 and one clear line.

Each case edits a private copy of the project the way a person editing YAML by hand would, runs
the synth in-process (`tools.cli.main`) over a previous build, and checks: exit code 2, exactly
one line on stderr naming the file (and the line where the file is YAML), the key path and the
rule, no resource registered, and the previous build untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config.loader import load_program_config
from components.config.service_spec import platform_env
from tests.synthesis import PROJECT_DIR, copy_project, kube_objects
from tools import cli
from tools.synth import ProgramError, SynthResult, read_stack_file, synthesize

Edit = Callable[[Path], object]
STAGING = "Pulumi.staging.yaml"
PRODUCTION = "Pulumi.production.yaml"
PREVIOUS = "previous build\n"


@dataclass(frozen=True)
class Case:
    id: str
    cls: str
    edit: Edit
    file: str
    key: str
    rule: str
    # A fragment of the edited file whose line the message must name; None: no line expected.
    line_of: str | None = None
    stack: str = "staging"
    env: dict[str, str] = field(default_factory=dict)


# -- edits ------------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(path: Path, document: Any) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _nested_set(document: dict[str, Any], dotted: list[str], value: Any) -> None:
    *parents, leaf = dotted
    for part in parents:
        document = document.setdefault(part, {})
    document[leaf] = value


def stack_set(key: str, path: str, value: Any, stack: str = "staging") -> Edit:
    """Set `path` (dots) under the config key `key`; value REMOVE deletes the key."""

    def edit(project: Path) -> None:
        file = project / f"Pulumi.{stack}.yaml"
        document = _load(file)
        config = document["config"]
        if value is REMOVE:
            del config[key]
        elif path:
            config.setdefault(key, {})
            _nested_set(config[key], path.split("."), value)
        else:
            config[key] = value
        _dump(file, document)

    return edit


def text(relative: str, old: str, new: str) -> Edit:
    def edit(project: Path) -> None:
        file = project / relative
        content = file.read_text(encoding="utf-8")
        assert old in content, f"{old!r} not in {relative}"
        file.write_text(content.replace(old, new, 1), encoding="utf-8")

    return edit


def write(relative: str, content: str | bytes) -> Edit:
    def edit(project: Path) -> None:
        file = project / relative
        if isinstance(content, bytes):
            file.write_bytes(content)
        else:
            file.write_text(content, encoding="utf-8")

    return edit


def spec_set(service: str, path: str, value: Any) -> Edit:
    def edit(project: Path) -> None:
        file = project / "services" / service / "service.yaml"
        document = _load(file)
        if value is REMOVE:
            document.pop(path)
        else:
            _nested_set(document, path.split("."), value)
        _dump(file, document)

    return edit


def spec_text(service: str, old: str, new: str) -> Edit:
    return text(f"services/{service}/service.yaml", old, new)


def both(*edits: Edit) -> Edit:
    def edit(project: Path) -> None:
        for each in edits:
            each(project)

    return edit


REMOVE = object()
ORDERS = "services/orders/service.yaml"
CATALOG = "services/catalog/service.yaml"
GATEWAY = "services/gateway/service.yaml"


def _env(service: str, name: str, value: str = "x") -> Edit:
    return spec_set(service, f"env.{name}", value)


def _alias_bomb(levels: int = 7) -> str:
    """Each level lists the previous ten times: tiny text, 10**7 values once expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


ALIAS_BOMB = _alias_bomb()

# -- the corpus, by class ----------------------------------------------------------------------

CASES = [
    # Values that break a rule of the models (the first corpus, now through the files).
    Case(
        "unknown-top-level-key",
        "value-rules",
        stack_set("micromart:replicaz", "", "3"),
        STAGING,
        "micromart:replicaz",
        "unknown key",
    ),
    Case(
        "unknown-nested-key",
        "value-rules",
        stack_set("micromart:registry", "skew", "Premium"),
        STAGING,
        "micromart:registry.skew",
        "unknown key",
    ),
    Case(
        "wrong-type",
        "value-rules",
        stack_set("micromart:rabbitmq", "replicas", "three"),
        STAGING,
        "micromart:rabbitmq.replicas",
        "three",
    ),
    Case(
        "bad-location",
        "value-rules",
        stack_set("micromart:location", "", "westeurop"),
        STAGING,
        "micromart:location",
        "'westeurop' is not a supported Azure region",
    ),
    Case(
        "min-above-max",
        "value-rules",
        stack_set(
            "micromart:services",
            "orders.autoscaling",
            {"enabled": True, "minReplicas": 5, "maxReplicas": 3},
        ),
        STAGING,
        "micromart:services.orders.autoscaling",
        "minReplicas (5) > maxReplicas (3)",
    ),
    Case(
        "negative-replicas",
        "value-rules",
        stack_set("micromart:services", "orders.replicas", -1),
        STAGING,
        "micromart:services.orders.replicas",
        "greater than or equal to 1",
    ),
    Case(
        "bad-cpu-quantity",
        "value-rules",
        stack_set(
            "micromart:services",
            "orders.resources",
            {
                "requests": {"cpu": "lots", "memory": "128Mi"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        ),
        STAGING,
        "micromart:services.orders.resources.requests.cpu",
        "not a CPU quantity",
    ),
    Case(
        "bad-memory-quantity",
        "value-rules",
        stack_set(
            "micromart:services",
            "orders.resources",
            {
                "requests": {"cpu": "100m", "memory": "512MB"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        ),
        STAGING,
        "micromart:services.orders.resources.requests.memory",
        "not a memory quantity",
    ),
    Case(
        "requests-above-limits",
        "value-rules",
        stack_set(
            "micromart:services",
            "orders.resources",
            {"requests": {"cpu": "2", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        ),
        STAGING,
        "micromart:services.orders.resources",
        "requests.cpu (2) exceeds limits.cpu (1)",
    ),
    Case(
        "canary-weight-above-100",
        "value-rules",
        stack_set("micromart:services", "orders.canary", {"tag": "v2", "weight": 150}),
        STAGING,
        "micromart:services.orders.canary.weight",
        "less than or equal to 100",
    ),
    Case(
        "canary-weight-negative",
        "value-rules",
        stack_set("micromart:services", "orders.canary", {"tag": "v2", "weight": -5}),
        STAGING,
        "micromart:services.orders.canary.weight",
        "greater than or equal to 0",
    ),
    Case(
        "canary-latest-tag",
        "value-rules",
        stack_set("micromart:services", "orders.canary", {"tag": "latest", "weight": 10}),
        STAGING,
        "micromart:services.orders.canary",
        "'latest' is not allowed",
    ),
    Case(
        "override-unknown-service",
        "value-rules",
        stack_set("micromart:services", "payments.replicas", 2),
        STAGING,
        "micromart:services.payments",
        "no service named 'payments'",
    ),
    Case(
        "short-backup-retention",
        "value-rules",
        stack_set("micromart:postgres", "backupRetentionDays", 3),
        STAGING,
        "micromart:postgres.backupRetentionDays",
        "greater than or equal to 7",
    ),
    Case(
        "ha-on-burstable",
        "value-rules",
        stack_set("micromart:postgres", "highAvailability", True),
        STAGING,
        "micromart:postgres",
        "not available on the Burstable tier",
    ),
    Case(
        "subnet-outside-vnet",
        "value-rules",
        stack_set("micromart:network", "aksSubnet", "10.99.0.0/20"),
        STAGING,
        "micromart:network",
        "aksSubnet (10.99.0.0/20) is not inside addressSpace",
    ),
    Case(
        "overlapping-subnets",
        "value-rules",
        stack_set("micromart:network", "postgresSubnet", "10.40.1.0/24"),
        STAGING,
        "micromart:network",
        "overlaps postgresSubnet",
    ),
    Case(
        "registry-name-uppercase",
        "value-rules",
        stack_set("micromart:registry", "name", "MicroMart"),
        STAGING,
        "micromart:registry.name",
        "should match pattern",
    ),
    Case(
        "registry-cleanup-schedule-not-five-field-cron",
        "value-rules",
        stack_set("micromart:registry", "cleanup", {"schedule": "@weekly"}),
        STAGING,
        "micromart:registry.cleanup.schedule",
        "should match pattern",
    ),
    Case(
        "registry-cleanup-keeps-no-tag",
        "value-rules",
        stack_set("micromart:registry", "cleanup", {"keep": 0}),
        STAGING,
        "micromart:registry.cleanup.keep",
        "greater than or equal to 1",
    ),
    Case(
        "vault-name-too-long",
        "value-rules",
        stack_set("micromart:vault", "name", "kv-micromart-staging-westeu"),
        STAGING,
        "micromart:vault.name",
        "has 27 characters; a vault name has 3 to 24",
    ),
    Case(
        "vault-name-starts-with-digit",
        "value-rules",
        stack_set("micromart:vault", "name", "1micromart"),
        STAGING,
        "micromart:vault.name",
        "must start with a letter",
    ),
    Case(
        "vault-name-consecutive-hyphens",
        "value-rules",
        stack_set("micromart:vault", "name", "kv--micromart"),
        STAGING,
        "micromart:vault.name",
        "has consecutive hyphens",
    ),
    Case(
        "vault-name-underscore",
        "value-rules",
        stack_set("micromart:vault", "name", "kv_micromart"),
        STAGING,
        "micromart:vault.name",
        "may hold only letters, digits and hyphens",
    ),
    Case(
        "vault-retention-beyond-azure-maximum",
        "value-rules",
        stack_set("micromart:vault", "softDeleteRetentionDays", 120),
        STAGING,
        "micromart:vault.softDeleteRetentionDays",
        "less than or equal to 90",
    ),
    Case(
        "private-vault-without-endpoint-subnet",
        "value-rules",
        stack_set("micromart:vault", "privateNetwork", True),
        STAGING,
        "micromart",
        "vault.privateNetwork needs network.privateEndpointSubnet",
    ),
    Case(
        "zone-redundancy-needs-premium",
        "value-rules",
        stack_set("micromart:registry", "zoneRedundancy", True),
        STAGING,
        "micromart:registry",
        "zoneRedundancy needs sku Premium",
    ),
    Case(
        "prebuilt-without-tag",
        "value-rules",
        stack_set("micromart:images", "", {"build": False}),
        STAGING,
        "micromart:images",
        "tag is required when build is false",
    ),
    Case(
        "unsupported-kubernetes",
        "value-rules",
        stack_set("micromart:cluster", "kubernetesVersion", "1.19"),
        STAGING,
        "micromart:cluster.kubernetesVersion",
        "not in the AKS version table",
    ),
    Case(
        "unknown-environment",
        "value-rules",
        stack_set("micromart:environment", "", "prod"),
        STAGING,
        "micromart:environment",
        "'staging' or 'production'",
    ),
    Case(
        "pool-min-above-max",
        "value-rules",
        stack_set(
            "micromart:cluster",
            "userPool",
            {"vmSize": "Standard_D4ds_v5", "minCount": 5, "maxCount": 2},
        ),
        STAGING,
        "micromart:cluster.userPool",
        "minCount (5) > maxCount (2)",
    ),
    Case(
        "istio-revision-without-cni",
        "value-rules",
        stack_set("micromart:cluster", "istioRevision", "asm-1-26"),
        STAGING,
        "micromart:cluster.istioRevision",
        "restricted Pod Security rejects",
    ),
    Case(
        "bad-log-level",
        "value-rules",
        stack_set("micromart:logLevel", "", "verbose"),
        STAGING,
        "micromart:logLevel",
        "'verbose'",
    ),
    Case(
        "spec-unknown-key",
        "value-rules",
        spec_set("orders", "replica", 2),
        ORDERS,
        "replica",
        "unknown key",
    ),
    Case(
        "spec-unknown-dependency",
        "value-rules",
        spec_set("orders", "calls", ["catalog", "payments"]),
        ORDERS,
        "calls[1]",
        "unknown service 'payments'",
    ),
    Case(
        "spec-duplicate-name",
        "value-rules",
        spec_set("notifications", "name", "orders"),
        "services/notifications/service.yaml",
        "name",
        "'orders' must match its folder 'notifications'",
    ),
    Case(
        # A spec copied from a callee keeps its name: blame the name, not the self-call it implies.
        "spec-name-of-a-callee",
        "value-rules",
        spec_set("orders", "name", "catalog"),
        ORDERS,
        "name",
        "'catalog' must match its folder 'orders'",
    ),
    Case(
        "spec-missing-probes",
        "value-rules",
        spec_set("catalog", "probes", REMOVE),
        CATALOG,
        "probes",
        "required key is missing",
    ),
    Case(
        "spec-identical-probes",
        "value-rules",
        spec_set("catalog", "probes", {"liveness": "/health", "readiness": "/health"}),
        CATALOG,
        "probes",
        "same path",
    ),
    Case(
        "spec-negative-replicas",
        "value-rules",
        spec_set("catalog", "replicas", -2),
        CATALOG,
        "replicas",
        "greater than or equal to 1",
    ),
    Case(
        "spec-routes-on-internal-service",
        "value-rules",
        spec_set("orders", "routes", [{"prefix": "/api/x", "service": "catalog"}]),
        ORDERS,
        "routes",
        "only a public service",
    ),
    Case(
        "spec-port-out-of-range",
        "value-rules",
        spec_set("catalog", "port", 70000),
        CATALOG,
        "port",
        "less than or equal to 65535",
    ),
    Case(
        "spec-calls-itself",
        "value-rules",
        spec_set("catalog", "calls", ["catalog"]),
        CATALOG,
        "",
        "may not call itself",
    ),
    Case(
        "spec-canary-weight",
        "value-rules",
        spec_set("catalog", "canary", {"tag": "v2", "weight": 101}),
        CATALOG,
        "canary.weight",
        "less than or equal to 100",
    ),
    Case(
        "spec-shared-database",
        "value-rules",
        spec_set("inventory", "postgres", {"database": "orders"}),
        ORDERS,
        "postgres.database",
        "already owned by service 'inventory'",
    ),
    # YAML that does not parse: the parser's line and column.
    Case(
        "stack-unclosed-flow-mapping",
        "yaml-syntax",
        text(
            STAGING,
            "systemPool: {vmSize: Standard_D2ds_v5, minCount: 1, maxCount: 3}",
            "systemPool: {vmSize: Standard_D2ds_v5, minCount: 1, maxCount: 3",
        ),
        STAGING,
        "",
        "not valid YAML at column",
    ),
    Case(
        "spec-unclosed-flow-sequence",
        "yaml-syntax",
        spec_text("orders", "calls: [catalog, inventory]", "calls: [catalog, inventory"),
        ORDERS,
        "",
        "not valid YAML at column",
    ),
    Case(
        "stack-tab-indentation",
        "yaml-syntax",
        text(STAGING, "    sku: Standard", "\tsku: Standard"),
        STAGING,
        "",
        "cannot start any token",
        line_of="\tsku: Standard",
    ),
    Case(
        "spec-two-documents",
        "yaml-syntax",
        lambda p: (p / ORDERS).write_text((p / ORDERS).read_text() + "---\nname: again\n"),
        ORDERS,
        "",
        "expected a single document",
        line_of="---",
    ),
    Case(
        "stack-latin1-encoding",
        "yaml-syntax",
        lambda p: (p / STAGING).write_bytes(
            (p / STAGING).read_bytes().replace(b"owner: platform-team", b"owner: \xe9quipe")
        ),
        STAGING,
        "",
        "not UTF-8 text (byte 0xe9",
    ),
    Case(
        "spec-utf16-encoding",
        "yaml-syntax",
        lambda p: (p / CATALOG).write_bytes((p / CATALOG).read_text().encode("utf-16")),
        CATALOG,
        "",
        "not UTF-8 text",
    ),
    Case(
        "spec-bad-indentation",
        "yaml-syntax",
        spec_text("orders", "  readiness: /health/ready", "    readiness: /health/ready"),
        ORDERS,
        "",
        "not valid YAML at column",
    ),
    Case(
        "spec-alias-bomb",
        "yaml-syntax",
        write(ORDERS, ALIAS_BOMB),
        ORDERS,
        "",
        "expands to more than 100000 values",
    ),
    Case(
        "stack-merge-key",
        "yaml-syntax",
        text(STAGING, "    sku: Standard", "    <<: {sku: Standard}"),
        STAGING,
        "config.micromart:registry",
        "YAML merge keys (<<) are not supported",
        line_of="<<:",
    ),
    Case(
        "stack-key-without-name",
        "shape",
        text(STAGING, "  micromart:logLevel: debug", "  'micromart:': debug"),
        STAGING,
        "micromart:",
        "configuration keys should be of the form",
        line_of="'micromart:'",
    ),
    Case(
        "stack-unknown-namespace",
        "shape",
        text(STAGING, "  micromart:logLevel: debug", "  micromat:logLevel: debug"),
        STAGING,
        "micromat:logLevel",
        "unknown config namespace 'micromat'",
        line_of="micromat:logLevel",
    ),
    Case(
        "stack-null-services",
        "strict-types",
        stack_set("micromart:services", "", None),
        STAGING,
        "micromart:services",
        "must be of type 'object'",
    ),
    Case(
        "stack-alias-to-nowhere",
        "yaml-syntax",
        text(STAGING, "    sku: Standard", "    sku: *undefined"),
        STAGING,
        "",
        "found undefined alias",
        line_of="*undefined",
    ),
    # Top level, config, empty files.
    Case("stack-empty-file", "shape", write(STAGING, ""), STAGING, "", "the file is empty"),
    Case(
        "stack-top-level-list",
        "shape",
        write(STAGING, "- config\n"),
        STAGING,
        "",
        "top level must be a mapping",
    ),
    Case(
        "stack-config-is-a-list",
        "shape",
        write(STAGING, "config:\n  - micromart:location\n"),
        STAGING,
        "config",
        "must be a mapping of keys to values",
        line_of="config:",
    ),
    Case(
        "stack-config-is-text",
        "shape",
        write(STAGING, "config: staging\n"),
        STAGING,
        "config",
        "must be a mapping of keys to values (got the text 'staging')",
    ),
    Case(
        "stack-top-level-typo",
        "shape",
        text(STAGING, "config:", "confg:"),
        STAGING,
        "confg",
        "unknown top-level key",
        line_of="confg:",
    ),
    Case("spec-empty-file", "shape", write(ORDERS, ""), ORDERS, "", "the file is empty"),
    Case(
        "spec-top-level-list",
        "shape",
        write(ORDERS, "- name: orders\n"),
        ORDERS,
        "",
        "top level must be a mapping",
    ),
    Case(
        "spec-top-level-scalar",
        "shape",
        write(ORDERS, "orders\n"),
        ORDERS,
        "",
        "top level must be a mapping",
    ),
    Case(
        "stack-key-with-two-colons",
        "shape",
        text(STAGING, "micromart:logLevel: debug", "micromart:log:level: debug"),
        STAGING,
        "micromart:log:level",
        "configuration keys should be of the form",
        line_of="micromart:log:level",
    ),
    # Duplicate keys anywhere.
    Case(
        "stack-duplicate-top-key",
        "duplicate-keys",
        text(
            STAGING,
            "  micromart:location: westeurope",
            "  micromart:location: westeurope\n  micromart:location: northeurope",
        ),
        STAGING,
        "config.micromart:location",
        "duplicate key (first written at line",
        line_of="micromart:location: northeurope",
    ),
    Case(
        "stack-duplicate-nested-key",
        "duplicate-keys",
        text(STAGING, "    sku: Standard", "    sku: Standard\n    sku: Premium"),
        STAGING,
        "config.micromart:registry.sku",
        "duplicate key",
        line_of="sku: Premium",
    ),
    Case(
        "stack-duplicate-in-flow-mapping",
        "duplicate-keys",
        text(
            STAGING,
            "{vmSize: Standard_D2ds_v5, minCount: 1, maxCount: 3}",
            "{vmSize: Standard_D2ds_v5, minCount: 1, maxCount: 3, minCount: 2}",
        ),
        STAGING,
        "systemPool.minCount",
        "duplicate key",
        line_of="systemPool:",
    ),
    Case(
        "stack-same-key-with-and-without-namespace",
        "duplicate-keys",
        text(
            STAGING, "  micromart:logLevel: debug", "  micromart:logLevel: debug\n  logLevel: info"
        ),
        STAGING,
        "logLevel",
        "already sets micromart:logLevel",
        line_of="  logLevel: info",
    ),
    Case(
        "spec-duplicate-top-key",
        "duplicate-keys",
        spec_text("orders", "port: 8080", "port: 8080\nport: 9090"),
        ORDERS,
        "port",
        "duplicate key (first written at line 4)",
        line_of="port: 9090",
    ),
    Case(
        "spec-duplicate-env-name",
        "duplicate-keys",
        spec_text(
            "orders",
            "  AUTH_AUTHORITY: https://auth.micromart.com",
            "  AUTH_AUTHORITY: https://auth.micromart.com\n  AUTH_AUTHORITY: https://x",
        ),
        ORDERS,
        "env.AUTH_AUTHORITY",
        "duplicate key",
        line_of="AUTH_AUTHORITY: https://x",
    ),
    # Strict types, with a hint where the value is almost right.
    Case(
        "unquoted-kubernetes-version",
        "strict-types",
        text(STAGING, 'kubernetesVersion: "1.35"', "kubernetesVersion: 1.30"),
        STAGING,
        "micromart:cluster.kubernetesVersion",
        'write "1.30" in quotes',
        line_of="kubernetesVersion: 1.30",
    ),
    Case(
        "unquoted-cpu",
        "strict-types",
        spec_text("orders", "cpu: 100m", "cpu: 0.5"),
        ORDERS,
        "resources.requests.cpu",
        'write "0.5" in quotes or "500m"',
        line_of="cpu: 0.5",
    ),
    Case(
        "boolean-for-number",
        "strict-types",
        spec_text("orders", "replicas: 2", "replicas: true"),
        ORDERS,
        "replicas",
        "must be a number (got the boolean true)",
        line_of="replicas: true",
    ),
    Case(
        "quoted-number",
        "strict-types",
        stack_set("micromart:rabbitmq", "replicas", "3"),
        STAGING,
        "micromart:rabbitmq.replicas",
        "'3'",
    ),
    Case(
        "number-for-text-in-stack",
        "strict-types",
        text(STAGING, 'version: "16"', "version: 16"),
        STAGING,
        "micromart:postgres.version",
        "16",
        line_of="version: 16",
    ),
    Case(
        "yes-for-boolean",
        "strict-types",
        stack_set("micromart:postgres", "geoRedundantBackup", "yes"),
        STAGING,
        "micromart:postgres.geoRedundantBackup",
        "must be true or false without quotes",
    ),
    Case(
        "date-for-tag",
        "strict-types",
        text(STAGING, "costCenter: micromart-staging", "costCenter: 2026-01-01"),
        STAGING,
        "config.micromart:tags.costCenter",
        "read as a YAML timestamp; quote it",
        line_of="costCenter: 2026-01-01",
    ),
    Case(
        "list-for-mapping",
        "strict-types",
        stack_set("micromart:registry", "", ["micromartstaging"]),
        STAGING,
        "micromart:registry",
        "must be of type 'object'",
    ),
    Case(
        "mapping-for-list",
        "strict-types",
        spec_set("orders", "calls", {"catalog": True}),
        ORDERS,
        "calls",
        "must be a list",
    ),
    Case(
        "number-for-env-value",
        "strict-types",
        spec_text("orders", "AUTH_AUTHORITY: https://auth.micromart.com", "TIMEOUT_MS: 500"),
        ORDERS,
        "env.TIMEOUT_MS",
        'write "500" in quotes',
        line_of="TIMEOUT_MS: 500",
    ),
    Case(
        "fraction-for-whole-number",
        "strict-types",
        spec_text("orders", "maxReplicas: 10", "maxReplicas: 10.5"),
        ORDERS,
        "autoscaling.maxReplicas",
        "must be a whole number (got 10.5)",
    ),
    Case(
        "integer-key",
        "strict-types",
        spec_text("orders", "AUTH_AUTHORITY: https://auth.micromart.com", "1: one"),
        ORDERS,
        "env",
        "keys must be text (got 1)",
        line_of="1: one",
    ),
    # CIDRs without a prefix length.
    Case(
        "address-space-without-prefix",
        "cidr",
        text(STAGING, "addressSpace: 10.40.0.0/16", "addressSpace: 10.40.0.0"),
        STAGING,
        "micromart:network.addressSpace",
        "'10.40.0.0' has no prefix length",
        line_of="addressSpace: 10.40.0.0",
    ),
    Case(
        "subnet-without-prefix",
        "cidr",
        text(STAGING, "postgresSubnet: 10.40.16.0/24", "postgresSubnet: 10.40.16.0"),
        STAGING,
        "micromart:network.postgresSubnet",
        "has no prefix length",
    ),
    Case(
        "cidr-with-host-bits",
        "cidr",
        text(STAGING, "aksSubnet: 10.40.0.0/20", "aksSubnet: 10.40.1.0/20"),
        STAGING,
        "micromart:network.aksSubnet",
        "has host bits set",
    ),
    Case(
        "cidr-not-an-address",
        "cidr",
        text(STAGING, "aksSubnet: 10.40.0.0/20", "aksSubnet: 10.400.0.0/20"),
        STAGING,
        "micromart:network.aksSubnet",
        "not an IPv4 CIDR",
    ),
    # micromart:environment against the stack's name.
    Case(
        "production-values-in-staging",
        "environment",
        text(STAGING, "micromart:environment: staging", "micromart:environment: production"),
        STAGING,
        "micromart:environment",
        "contradicts the stack name 'staging'",
        line_of="micromart:environment:",
    ),
    Case(
        "staging-values-in-production",
        "environment",
        text(PRODUCTION, "micromart:environment: production", "micromart:environment: staging"),
        PRODUCTION,
        "micromart:environment",
        "contradicts the stack name 'production'",
        stack="production",
    ),
    # services/ folders.
    Case(
        "folder-without-spec",
        "services-folder",
        lambda p: (p / "services" / "payments").mkdir(),
        "services/payments/service.yaml",
        "",
        "missing: every folder under services/",
    ),
    Case(
        "spec-named-yml",
        "services-folder",
        lambda p: (p / ORDERS).rename(p / "services/orders/service.yml"),
        "services/orders/service.yml",
        "",
        "only service.yaml is read",
    ),
    Case(
        "stray-yml-beside-spec",
        "services-folder",
        write("services/catalog/service.yml", "name: catalog\n"),
        "services/catalog/service.yml",
        "",
        "only service.yaml is read",
    ),
    Case(
        "missing-dockerfile",
        "services-folder",
        lambda p: (p / "services/inventory/Dockerfile").unlink(),
        "services/inventory/Dockerfile",
        "",
        "images.build is true",
    ),
    # Environment variables the platform injects.
    Case(
        "env-upstream-url",
        "platform-env",
        _env("orders", "UPSTREAM_CATALOG_URL"),
        ORDERS,
        "env",
        "UPSTREAM_CATALOG_URL is set by the platform",
    ),
    Case(
        "env-upstream-any",
        "platform-env",
        _env("catalog", "UPSTREAM_ANYTHING"),
        CATALOG,
        "env",
        "UPSTREAM_ANYTHING is set by the platform",
    ),
    Case(
        "env-database-url",
        "platform-env",
        _env("catalog", "DATABASE_URL"),
        CATALOG,
        "env",
        "DATABASE_URL is set by the platform",
    ),
    Case(
        "env-rabbitmq-user",
        "platform-env",
        _env("orders", "RABBITMQ_USER"),
        ORDERS,
        "env",
        "RABBITMQ_USER is set by the platform",
    ),
    Case(
        "env-service-name",
        "platform-env",
        _env("orders", "SERVICE_NAME"),
        ORDERS,
        "env",
        "SERVICE_NAME is set by the platform",
    ),
    Case(
        "env-log-level",
        "platform-env",
        _env("orders", "LOG_LEVEL"),
        ORDERS,
        "env",
        "LOG_LEVEL is set by the platform",
    ),
    Case(
        "env-required-env",
        "platform-env",
        _env("orders", "REQUIRED_ENV"),
        ORDERS,
        "env",
        "REQUIRED_ENV is set by the platform",
    ),
    Case(
        "env-port",
        "platform-env",
        _env("orders", "PORT"),
        ORDERS,
        "env",
        "PORT is set by the platform",
    ),
    Case(
        "env-kubernetes-service-link",
        "platform-env",
        _env("orders", "CATALOG_SERVICE_HOST"),
        ORDERS,
        "env",
        "CATALOG_SERVICE_HOST is set by the platform",
    ),
    Case(
        "env-override-in-stack",
        "platform-env",
        stack_set("micromart:services", "orders.env", {"UPSTREAM_INVENTORY_URL": "http://x"}),
        STAGING,
        "micromart:services.orders.env",
        "UPSTREAM_INVENTORY_URL is set by the platform",
    ),
    # Ports reserved by the sidecar, and privileged ports.
    Case(
        "port-envoy-admin",
        "reserved-ports",
        spec_text("orders", "port: 8080", "port: 15000"),
        ORDERS,
        "port",
        "reserved by the Istio sidecar",
        line_of="port: 15000",
    ),
    Case(
        "port-istio-health",
        "reserved-ports",
        spec_text("orders", "port: 8080", "port: 15021"),
        ORDERS,
        "port",
        "reserved by the Istio sidecar",
    ),
    Case(
        "port-envoy-prometheus",
        "reserved-ports",
        spec_text("catalog", "port: 8080", "port: 15090"),
        CATALOG,
        "port",
        "reserved by the Istio sidecar",
    ),
    Case(
        "port-privileged",
        "reserved-ports",
        spec_text("orders", "port: 8080", "port: 80"),
        ORDERS,
        "port",
        "below 1024",
    ),
    Case(
        "port-zero",
        "reserved-ports",
        spec_text("orders", "port: 8080", "port: 0"),
        ORDERS,
        "port",
        "greater than or equal to 1",
    ),
    # Public routes that repeat or shadow each other.
    Case(
        "route-repeated",
        "routes",
        spec_set(
            "gateway",
            "routes",
            [
                {"prefix": "/api/orders", "service": "orders"},
                {"prefix": "/api/orders", "service": "catalog"},
            ],
        ),
        GATEWAY,
        "routes",
        "[1] prefix '/api/orders' repeats [0]",
    ),
    Case(
        "route-shadowed-by-shorter",
        "routes",
        spec_set(
            "gateway",
            "routes",
            [
                {"prefix": "/api", "service": "catalog"},
                {"prefix": "/api/orders", "service": "orders"},
            ],
        ),
        GATEWAY,
        "routes",
        "'/api/orders' is shadowed by [0] '/api'",
    ),
    Case(
        "route-shadowed-by-string-prefix",
        "routes",
        spec_set(
            "gateway",
            "routes",
            [
                {"prefix": "/api/order", "service": "orders"},
                {"prefix": "/api/orders-v2", "service": "catalog"},
            ],
        ),
        GATEWAY,
        "routes",
        "shadowed by [0] '/api/order'",
    ),
    # Secret-looking plain values: key name and value shape, anywhere.
    Case(
        "tag-named-password",
        "plain-secrets",
        stack_set("micromart:tags", "dbPassword", "hunter2hunter2"),
        STAGING,
        "micromart:tags.dbPassword",
        "pulumi config set --secret --path",
    ),
    Case(
        "override-env-api-token",
        "plain-secrets",
        stack_set("micromart:services", "orders.env", {"API_TOKEN": "abc123abc123"}),
        STAGING,
        "micromart:services.orders.env.API_TOKEN",
        "names a secret but is plain text",
    ),
    Case(
        "stack-url-with-credentials",
        "plain-secrets",
        stack_set("micromart:services", "orders.env", {"BROKER": "amqp://app:s3cret@mq:5672"}),
        STAGING,
        "micromart:services.orders.env.BROKER",
        "credentials in a URL",
    ),
    Case(
        "stack-private-key-in-tag",
        "plain-secrets",
        stack_set("micromart:tags", "note", "-----BEGIN RSA PRIVATE KEY-----MIIE"),
        STAGING,
        "micromart:tags.note",
        "looks like a private key",
    ),
    Case(
        "spec-env-password",
        "plain-secrets",
        _env("orders", "DB_PASSWORD", "letmein"),
        ORDERS,
        "env.DB_PASSWORD",
        "move it to the stack as a secret",
    ),
    Case(
        "spec-aws-key-value",
        "plain-secrets",
        _env("catalog", "UPLOAD", "AKIAIOSFODNN7EXAMPLE"),
        CATALOG,
        "env.UPLOAD",
        "looks like an AWS access key",
    ),
    Case(
        "spec-storage-connection-string",
        "plain-secrets",
        _env("catalog", "STORAGE", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc=="),
        CATALOG,
        "env.STORAGE",
        "Azure account or shared access key",
    ),
    Case(
        "spec-jwt-in-description",
        "plain-secrets",
        spec_set("orders", "description", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig"),
        ORDERS,
        "description",
        "looks like a JSON Web Token",
    ),
    # The engine's config channel.
    Case(
        "pulumi-config-not-json",
        "engine-config",
        lambda _: None,
        "PULUMI_CONFIG",
        "",
        "not valid JSON",
        env={"PULUMI_CONFIG": "{micromart:logLevel: info"},
    ),
    Case(
        "pulumi-config-not-an-object",
        "engine-config",
        lambda _: None,
        "PULUMI_CONFIG",
        "",
        "must be a JSON object",
        env={"PULUMI_CONFIG": '["micromart:logLevel"]'},
    ),
    Case(
        "pulumi-config-unknown-key",
        "engine-config",
        lambda _: None,
        "PULUMI_CONFIG",
        "micromart:replicaz",
        "unknown key",
        env={"PULUMI_CONFIG": '{"micromart:replicaz": "3"}'},
    ),
    Case(
        "pulumi-config-unknown-namespace",
        "engine-config",
        lambda _: None,
        "PULUMI_CONFIG",
        "micromat:location",
        "unknown config namespace 'micromat'",
        env={"PULUMI_CONFIG": '{"micromat:location": "westeurope"}'},
    ),
    # The Pulumi CLI's own checks (Pulumi.yaml against the stack file), run before the program.
    # Monitoring: thresholds, receivers, retention.
    Case(
        "latency-threshold-not-measurable",
        "monitoring",
        stack_set("micromart:monitoring", "alerts.latencyP95Seconds", 10),
        STAGING,
        "micromart:monitoring.alerts.latencyP95Seconds",
        "10 s is not below the largest latency bucket (10 s)",
    ),
    Case(
        "error-ratio-above-one",
        "monitoring",
        stack_set("micromart:monitoring", "alerts.errorRatio", 1.5),
        STAGING,
        "micromart:monitoring.alerts.errorRatio",
        "less than or equal to 1",
    ),
    Case(
        "error-ratio-as-percent-text",
        "monitoring",
        stack_set("micromart:monitoring", "alerts.errorRatio", "5%"),
        STAGING,
        "micromart:monitoring.alerts.errorRatio",
        "5%",
    ),
    Case(
        "pod-restarts-zero",
        "monitoring",
        stack_set("micromart:monitoring", "alerts.podRestartsPerHour", 0, "production"),
        PRODUCTION,
        "micromart:monitoring.alerts.podRestartsPerHour",
        "greater than or equal to 1",
        stack="production",
    ),
    Case(
        "unknown-alert-threshold",
        "monitoring",
        stack_set("micromart:monitoring", "alerts.latencyP99Seconds", 2),
        STAGING,
        "micromart:monitoring.alerts.latencyP99Seconds",
        "unknown key",
    ),
    Case(
        "no-alert-receivers",
        "monitoring",
        stack_set("micromart:monitoring", "emails", []),
        STAGING,
        "micromart:monitoring.emails",
        "at least 1 item",
    ),
    Case(
        "duplicate-alert-receivers",
        "monitoring",
        stack_set(
            "micromart:monitoring",
            "emails",
            [
                {"name": "ops", "address": "a@example.com"},
                {"name": "ops", "address": "b@example.com"},
            ],
        ),
        STAGING,
        "micromart:monitoring.emails",
        "receiver names must be distinct: ops",
    ),
    Case(
        "malformed-receiver-address",
        "monitoring",
        stack_set("micromart:monitoring", "emails", [{"name": "ops", "address": "ops at example"}]),
        STAGING,
        "micromart:monitoring.emails[0].address",
        "'ops at example' is not an email address",
    ),
    Case(
        "log-retention-too-short",
        "monitoring",
        stack_set("micromart:monitoring", "logRetentionDays", 7),
        STAGING,
        "micromart:monitoring.logRetentionDays",
        "greater than or equal to 30",
    ),
    Case(
        "cli-missing-monitoring",
        "cli-checks",
        stack_set("micromart:monitoring", "", REMOVE),
        STAGING,
        "",
        "Stack 'staging' is missing configuration value 'micromart:monitoring'",
    ),
    Case(
        "cli-missing-required-key",
        "cli-checks",
        stack_set("micromart:registry", "", REMOVE),
        STAGING,
        "",
        "Stack 'staging' is missing configuration value 'micromart:registry'",
    ),
    Case(
        "cli-missing-required-keys",
        "cli-checks",
        both(
            stack_set("micromart:registry", "", REMOVE), stack_set("micromart:ingress", "", REMOVE)
        ),
        STAGING,
        "",
        "Stack 'staging' is missing configuration values 'micromart:ingress' and "
        "'micromart:registry'",
    ),
    Case(
        "cli-wrong-declared-type",
        "cli-checks",
        stack_set("micromart:environment", "", {"name": "staging"}),
        STAGING,
        "micromart:environment",
        "Stack 'staging' with configuration key 'micromart:environment' must be of type 'string'",
    ),
    Case(
        "cli-object-key-given-text",
        "cli-checks",
        text(STAGING, "  micromart:ingress:\n", "  micromart:ingress: staging.example.com\n  x:\n"),
        STAGING,
        "micromart:ingress",
        "must be of type 'object'",
    ),
    Case(
        "cli-secure-value-for-typed-key",
        "cli-checks",
        stack_set("micromart:cluster", "", {"secure": "v1:abc:def"}),
        STAGING,
        "micromart:cluster",
        "a secure value cannot be checked against type 'object'",
    ),
    Case(
        "cli-secure-without-ciphertext",
        "cli-checks",
        stack_set("micromart:services", "orders.env", {"API_TOKEN": {"secure": 42}}),
        STAGING,
        "micromart:services.orders.env.API_TOKEN",
        "reserved for ciphertext",
    ),
    Case(
        "cli-secret-declared-but-plain",
        "cli-checks",
        text("Pulumi.yaml", "  micromart:location:\n", "  micromart:location:\n    secret: true\n"),
        STAGING,
        "micromart:location",
        "must be encrypted as it's secret",
    ),
    Case(
        "cli-project-unknown-type",
        "cli-checks",
        text("Pulumi.yaml", "    type: string\n", "    type: text\n"),
        "Pulumi.yaml",
        "micromart:environment",
        "type must be one of string, integer, boolean",
    ),
    Case(
        "cli-project-default-of-wrong-type",
        "cli-checks",
        text("Pulumi.yaml", "    default: info\n", "    default: 3\n"),
        "Pulumi.yaml",
        "micromart:logLevel",
        "default value is not of the expected type 'string'",
    ),
    Case(
        "cli-project-array-without-items",
        "cli-checks",
        text("Pulumi.yaml", "    type: string\n", "    type: array\n"),
        "Pulumi.yaml",
        "micromart:environment",
        "does not specify the underlying type",
    ),
    # Kubernetes versions AKS no longer creates, or the Istio revision does not support.
    Case(
        "kubernetes-past-end-of-life",
        "kubernetes-version",
        text(STAGING, 'kubernetesVersion: "1.35"', 'kubernetesVersion: "1.33"'),
        STAGING,
        "micromart:cluster.kubernetesVersion",
        "'1.33' reached end of life on AKS in July 2026",
        line_of="kubernetesVersion:",
    ),
    Case(
        "kubernetes-unknown-to-the-table",
        "kubernetes-version",
        text(PRODUCTION, 'kubernetesVersion: "1.35"', 'kubernetesVersion: "1.29"'),
        PRODUCTION,
        "micromart:cluster.kubernetesVersion",
        "'1.29' is not in the AKS version table",
        stack="production",
    ),
    Case(
        "istio-revision-not-in-table",
        "kubernetes-version",
        text(STAGING, "istioRevision: asm-1-30", "istioRevision: asm-1-31"),
        STAGING,
        "micromart:cluster.istioRevision",
        "'asm-1-31' is not in the Istio add-on table",
        line_of="istioRevision:",
    ),
]


# -- the runner ------------------------------------------------------------------------------


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    """What the failed program had registered, seen through the CLI's call to synthesize."""
    seen: list[tuple[str, ...]] = []

    def spy(project_dir: Path, stack: str) -> Any:
        try:
            return synthesize(project_dir, stack)
        except ProgramError as error:
            seen.append(error.registered)
            raise

    monkeypatch.setattr(cli, "synthesize", spy)
    yield seen


def previous_build(out: Path, stack: str) -> Path:
    target = out / stack
    target.mkdir(parents=True)
    (target / "plan.json").write_text(PREVIOUS)
    return target


def run_cli(
    project: Path, out: Path, stack: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    code = cli.main(["--stack", stack, "--project-dir", str(project), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.err.splitlines()


def assert_untouched(out: Path, stack: str) -> None:
    assert (out / stack / "plan.json").read_text() == PREVIOUS
    assert sorted(p.name for p in out.iterdir()) == sorted([stack, f".{stack}.lock"])


def _line_of(project: Path, case: Case) -> int | None:
    if case.line_of is None:
        return None
    content = (project / case.file).read_text(encoding="utf-8")
    index = content.index(case.line_of)
    return content.count("\n", 0, index) + 1


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_exits_2_with_one_line(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    registered: list[tuple[str, ...]],
) -> None:
    project = copy_project(tmp_path / "project")
    case.edit(project)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "build"
    previous_build(out, case.stack)
    expected_line = _line_of(project, case)

    code, lines = run_cli(project, out, case.stack, capsys)

    assert code == cli.EXIT_ERROR, lines
    assert len(lines) == 1, lines
    message = lines[0]
    assert "Traceback" not in message
    where = f"{case.file}:{expected_line}: " if expected_line else f"{case.file}"
    assert message.startswith(f"synth: {where}"), message
    assert case.key in message, f"{case.key!r} not in {message!r}"
    assert case.rule in message, f"{case.rule!r} not in {message!r}"
    assert all(urns == () for urns in registered), "a config error must register no resource"
    assert_untouched(out, case.stack)


def test_the_corpus_covers_every_class() -> None:
    classes = {case.cls for case in CASES}
    assert classes >= {
        "yaml-syntax",
        "shape",
        "duplicate-keys",
        "strict-types",
        "cidr",
        "environment",
        "services-folder",
        "platform-env",
        "reserved-ports",
        "routes",
        "plain-secrets",
        "engine-config",
        "cli-checks",
        "kubernetes-version",
        "monitoring",
    }
    assert len({case.id for case in CASES}) == len(CASES)


# -- what must still be accepted ----------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            stack_set(
                "micromart:services", "orders.env", {"API_TOKEN": {"secure": "v1:AAAA:BBBB"}}
            ),
            id="secure-value-via-path",
        ),
        pytest.param(stack_set("micromart:tags", "", REMOVE), id="tags-default-from-pulumi-yaml"),
        pytest.param(
            both(
                lambda p: (p / "services/inventory/Dockerfile").unlink(),
                spec_set("inventory", "image", {"tag": "v1.2.3"}),
            ),
            id="pinned-image-needs-no-dockerfile",
        ),
        pytest.param(spec_set("orders", "port", 9090), id="ordinary-port"),
        pytest.param(_env("orders", "FEATURE_FLAGS", "search,checkout"), id="ordinary-env"),
        pytest.param(
            spec_set(
                "gateway",
                "routes",
                [
                    {"prefix": "/api/orders", "service": "orders"},
                    {"prefix": "/api", "service": "catalog"},
                ],
            ),
            id="longer-prefix-first",
        ),
    ],
)
def test_valid_variants_still_load(edit: Edit, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    edit(project)
    stack_input = read_stack_file(project, "staging")
    result = synthesize(project, "staging", stack_input)
    assert result.program_resources


def test_secure_values_reach_the_program_as_secrets(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    stack_set("micromart:services", "orders.env", {"API_TOKEN": {"secure": "v1:AAAA:BBBB"}})(
        project
    )
    stack_input = read_stack_file(project, "staging")
    assert "micromart:services" in stack_input.secret_keys
    services = json.loads(stack_input.config["micromart:services"])
    assert services["orders"]["env"]["API_TOKEN"] == "[secret]"


def test_every_variable_the_platform_injects_is_reserved(staging: SynthResult) -> None:
    """The reserved set follows the component: whatever it injects, a spec may not set."""
    config = load_program_config(
        read_stack_file(PROJECT_DIR, "staging").config, "staging", PROJECT_DIR / "services"
    )
    config_maps = {
        obj["metadata"]["name"]: obj.get("data", {}) for obj in kube_objects(staging, "ConfigMap")
    }
    injected: set[str] = set()
    for deployment in kube_objects(staging, "Deployment"):
        service = deployment["metadata"]["labels"].get("app.kubernetes.io/name")
        if service not in {spec.name for spec in config.services}:
            continue
        own = set(config.service(service).env)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names = {env["name"] for env in container.get("env", [])}
            for source in container.get("envFrom", []):
                names |= set(config_maps[source["configMapRef"]["name"]])
            injected |= names - own
    assert {"PORT", "SERVICE_NAME", "UPSTREAM_CATALOG_URL"} <= injected
    assert sorted(name for name in injected if not platform_env(name)) == []
