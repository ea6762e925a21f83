"""PostgresServer component: private access, TLS, sizing from config, databases and passwords."""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Any

import yaml

from tests.synthesis import PROJECT_DIR, dependency_closure, kube_object, named, of_type, only
from tools.recorder import SECRET_SIG, SIG_KEY, RecordedResource
from tools.synth import SynthResult, plan_document

SERVER = "azure-native:dbforpostgresql:Server"
DATABASE = "azure-native:dbforpostgresql:Database"
CONFIGURATION = "azure-native:dbforpostgresql:Configuration"
PASSWORD = "random:index/randomPassword:RandomPassword"
VNET = "azure-native:network:VirtualNetwork"
ZONE = "azure-native:privatedns:PrivateZone"
LINK = "azure-native:privatedns:VirtualNetworkLink"
K8S_PROVIDER = "pulumi:providers:kubernetes"
COMPONENT_PREFIX = "micromart:postgres:PostgresServer"
STACKS = ("staging", "production")


@cache
def postgres_config(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]["micromart:postgres"]
    return config


@cache
def declared_databases() -> dict[str, str]:
    """Services whose services/<name>/service.yaml declares `postgres`, and their databases."""
    declared = {}
    for spec_file in sorted((PROJECT_DIR / "services").glob("*/service.yaml")):
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        if spec.get("postgres"):
            declared[spec["name"]] = spec["postgres"]["database"]
    return declared


def admin_password(result: SynthResult) -> RecordedResource:
    server = only(result, SERVER)
    (urn,) = server.property_dependencies["administratorLoginPassword"]
    return result.get(urn)


def test_server_is_reachable_only_through_the_delegated_subnet(result: SynthResult) -> None:
    server = only(result, SERVER)
    vnet = only(result, VNET)
    zone = named(result, ZONE, "micromart-postgres-dns")
    link = named(result, LINK, "micromart-postgres-dns-link")
    network = server.plain_inputs()["network"]
    assert network["publicNetworkAccess"] == "Disabled"
    assert network["delegatedSubnetResourceId"] == f"{vnet.id}/subnets/postgres"
    assert network["privateDnsZoneArmResourceId"] == zone.id
    # Azure refuses a zone that is not linked yet: the server must wait for the link too.
    assert set(server.property_dependencies["network"]) == {vnet.urn, zone.urn, link.urn}


def test_tls_is_enforced_on_the_server(result: SynthResult) -> None:
    server = only(result, SERVER)
    configuration = only(result, CONFIGURATION)
    inputs = configuration.plain_inputs()
    assert inputs["configurationName"] == "require_secure_transport"
    assert inputs["value"] == "on"
    assert inputs["serverName"] == server.plain_inputs()["serverName"]
    assert configuration.property_dependencies["serverName"] == (server.urn,)


def test_sizing_backup_ha_and_geo_follow_the_stack_file(result: SynthResult) -> None:
    config = postgres_config(result.stack)
    inputs = only(result, SERVER).plain_inputs()
    assert inputs["serverName"] == config["serverName"]
    assert inputs["version"] == str(config["version"])
    assert inputs["sku"] == {"name": config["skuName"], "tier": config["tier"]}
    assert inputs["storage"]["storageSizeGB"] == config["storageGb"]
    assert inputs["backup"] == {
        "backupRetentionDays": config["backupRetentionDays"],
        "geoRedundantBackup": "Enabled" if config["geoRedundantBackup"] else "Disabled",
    }
    expected_ha = "ZoneRedundant" if config["highAvailability"] else "Disabled"
    assert inputs["highAvailability"]["mode"] == expected_ha


def test_production_is_zone_redundant_geo_backed_up_for_35_days(production: SynthResult) -> None:
    inputs = only(production, SERVER).plain_inputs()
    assert inputs["highAvailability"]["mode"] == "ZoneRedundant"
    assert inputs["backup"] == {"backupRetentionDays": 35, "geoRedundantBackup": "Enabled"}


def test_one_database_per_service_that_declares_one(result: SynthResult) -> None:
    server = only(result, SERVER)
    databases = of_type(result, DATABASE)
    names = sorted(d.plain_inputs()["databaseName"] for d in databases)
    assert names == sorted(declared_databases().values())
    assert len(set(names)) == len(names) > 0
    for database in databases:
        assert database.plain_inputs()["serverName"] == server.plain_inputs()["serverName"]
        assert database.property_dependencies["serverName"] == (server.urn,)


def test_admin_password_is_generated_and_secret_on_the_wire(result: SynthResult) -> None:
    server = only(result, SERVER)
    password = admin_password(result)
    assert password.type == PASSWORD
    assert password.plain_inputs()["length"] >= 24
    raw = server.inputs["administratorLoginPassword"]
    assert isinstance(raw, dict)
    assert raw.get(SIG_KEY) == SECRET_SIG


def test_admin_password_never_appears_in_redacted_inputs_or_the_plan(result: SynthResult) -> None:
    secret = only(result, SERVER).plain_inputs()["administratorLoginPassword"]
    assert isinstance(secret, str)
    assert len(secret) >= 24
    for resource in result.resources:
        assert secret not in json.dumps(resource.redacted_inputs()), resource.urn
    assert secret not in json.dumps(plan_document(result))


def test_no_kubernetes_secret_holds_a_postgres_password(result: SynthResult) -> None:
    # The admin password reaches only Key Vault (for the bootstrap Job); no service, and no
    # Kubernetes Secret, gets it or a connection string built from it.
    admin = only(result, SERVER).plain_inputs()["administratorLoginPassword"]
    for resource in result.resources:
        if resource.is_kubernetes_object:
            assert admin not in json.dumps(resource.plain_inputs()), resource.urn
    assert [
        r for r in of_type(result, "kubernetes:core/v1:Secret") if COMPONENT_PREFIX in r.urn
    ] == []


def test_each_database_service_gets_its_own_generated_role_password(result: SynthResult) -> None:
    admin = admin_password(result).urn
    passwords = {
        r.urn.rsplit("::", 1)[1]: r
        for r in of_type(result, PASSWORD)
        if COMPONENT_PREFIX in r.urn and r.urn != admin
    }
    assert sorted(passwords) == sorted(f"micromart-{s}-role-password" for s in declared_databases())
    values = {r.plain_inputs()["length"] for r in passwords.values()}
    assert min(values) >= 24
    vault_secrets = {
        r.plain_inputs()["secretName"]: r for r in of_type(result, "azure-native:keyvault:Secret")
    }
    for service in declared_databases():
        secret = vault_secrets[f"{service}-postgres-password"]
        (source,) = secret.property_dependencies["properties"]
        assert source == next(
            r.urn for name, r in passwords.items() if name == f"micromart-{service}-role-password"
        )


def test_clients_read_the_host_after_tls_and_every_database(result: SynthResult) -> None:
    # The ConfigMaps' POSTGRES_HOST is the server's FQDN, released only at the end of the chain.
    by_database = {d.plain_inputs()["databaseName"]: d.urn for d in of_type(result, DATABASE)}
    tls = only(result, CONFIGURATION).urn
    server = only(result, SERVER).plain_inputs()
    for service, database in declared_databases().items():
        config_map = kube_object(result, "ConfigMap", f"{service}-config", "micromart")
        assert config_map["data"]["POSTGRES_HOST"] == (
            f"{server['serverName']}.postgres.database.azure.com"
        )
        assert config_map["data"]["POSTGRES_DATABASE"] == database
        assert config_map["data"]["POSTGRES_USER"] == service
        assert config_map["data"]["POSTGRES_SSLMODE"] == "verify-full"
        (recorded,) = [
            r
            for r in of_type(result, "kubernetes:core/v1:ConfigMap")
            if r.plain_inputs()["metadata"]["name"] == f"{service}-config"
        ]
        closure = dependency_closure(result, recorded.urn)
        assert {*by_database.values(), tls} <= closure, service


def test_production_server_and_databases_are_protected(production: SynthResult) -> None:
    stateful = [only(production, SERVER), *of_type(production, DATABASE)]
    assert len(stateful) == 1 + len(declared_databases())
    assert all(r.protect for r in stateful), [r.urn for r in stateful if not r.protect]


def test_staging_server_and_databases_are_not_protected(staging: SynthResult) -> None:
    stateful = [only(staging, SERVER), *of_type(staging, DATABASE)]
    assert not any(r.protect for r in stateful), [r.urn for r in stateful if r.protect]


def server_children(result: SynthResult) -> list[RecordedResource]:
    """Every resource that operates on the flexible server (names it through `serverName`)."""
    server = only(result, SERVER)
    return [
        r for r in result.resources if server.urn in r.property_dependencies.get("serverName", ())
    ]


def test_server_children_run_one_at_a_time(result: SynthResult) -> None:
    # Azure answers ServerIsBusy to concurrent operations on one flexible server: the children
    # must form one dependency chain, each waiting for the one before it.
    children = server_children(result)
    assert {r.type for r in children} == {CONFIGURATION, DATABASE}
    assert len(children) == 1 + len(declared_databases())
    closures = {r.urn: dependency_closure(result, r.urn) for r in children}
    ordered = sorted(children, key=lambda r: len(closures[r.urn]))
    for before, after in itertools.pairwise(ordered):
        assert before.urn in after.dependencies, f"{after.urn} does not wait for {before.urn}"
