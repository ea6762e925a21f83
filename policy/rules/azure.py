"""Azure rules for the platform resources: ACR, AKS and PostgreSQL Flexible Server.

Properties are azure-native *inputs* (camelCase). The azure-native SDK fills documented API
defaults into its Args classes (e.g. adminUserEnabled=False, backupRetentionDays=7), so a missing
field here means the resource was declared without them; it is judged by the Azure API default,
and fails wherever that default is unsafe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)

from .builder import (
    Finding,
    Severity,
    as_mapping,
    config_value,
    dig,
    is_true,
    resource_policy,
    schema,
    show_number,
    shown,
    stack_policy,
)

REGISTRY = "azure-native:containerregistry:Registry"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
POSTGRES_SERVER = "azure-native:dbforpostgresql:Server"
POSTGRES_DATABASE = "azure-native:dbforpostgresql:Database"
POSTGRES_CONFIGURATION = "azure-native:dbforpostgresql:Configuration"

# Azure's own backup retention when none is given (days).
_AZURE_DEFAULT_RETENTION_DAYS = 7
_TLS_PARAMETER = "require_secure_transport"


def check_acr_admin_user_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    value = args.props.get("adminUserEnabled")
    # Absent means the API default (disabled); anything but an explicit false/absent is suspect.
    if value is not None and value is not False:
        yield f"adminUserEnabled is {value}"


def check_acr_anonymous_pull_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    if is_true(args.props.get("anonymousPullEnabled")):
        yield "anonymousPullEnabled is true"


def check_aks_entra_id_azure_rbac(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("enableRBAC")):
        yield "enableRBAC is not true"
    aad = as_mapping(args.props.get("aadProfile"))
    for field in ("managed", "enableAzureRBAC"):
        if not is_true(aad.get(field)):
            yield f"aadProfile.{field} is not true"


def check_aks_local_accounts_disabled(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_true(args.props.get("disableLocalAccounts")):
        yield "disableLocalAccounts is not true"


def check_aks_network_policy(args: ResourceValidationArgs) -> Iterator[str]:
    engine = dig(args.props, "networkProfile", "networkPolicy")
    if not isinstance(engine, str) or engine.strip().lower() in ("", "none"):
        yield f"networkProfile.networkPolicy is {shown(engine)}"


def check_postgres_private_access(args: ResourceValidationArgs) -> Iterator[str]:
    access = dig(args.props, "network", "publicNetworkAccess")
    if not (isinstance(access, str) and access.lower() == "disabled"):
        yield f"network.publicNetworkAccess is {shown(access)}, not Disabled"


BACKUP_SCHEMA = schema(
    minBackupRetentionDays={
        "type": "integer",
        "minimum": 1,
        "maximum": 35,
        "default": _AZURE_DEFAULT_RETENTION_DAYS,
        "description": "Smallest allowed backup.backupRetentionDays (Azure allows 7-35).",
    },
    requireGeoRedundantBackup={
        "type": "boolean",
        "default": False,
        "description": "Require backup.geoRedundantBackup Enabled.",
    },
)


def check_postgres_backup(args: ResourceValidationArgs) -> Iterator[str]:
    backup = as_mapping(args.props.get("backup"))
    days: Any = backup.get("backupRetentionDays")
    if not isinstance(days, (int, float)) or isinstance(days, bool):
        days = _AZURE_DEFAULT_RETENTION_DAYS
    minimum = config_value(args, BACKUP_SCHEMA, "minBackupRetentionDays")
    if days < minimum:
        yield (
            f"backup.backupRetentionDays is {show_number(days)}, "
            f"below the required {show_number(minimum)}"
        )
    if config_value(args, BACKUP_SCHEMA, "requireGeoRedundantBackup") is True:
        geo = backup.get("geoRedundantBackup")
        if not (isinstance(geo, str) and geo.lower() == "enabled"):
            yield f"backup.geoRedundantBackup is {shown(geo)}, not Enabled"


def configures_server(configuration: PolicyResource, server: PolicyResource) -> bool:
    """Whether a Configuration targets this server, by dependency or by literal serverName."""
    # The dependency is checked first: during preview a new server's name is unknown, and reading
    # an unknown value would turn the whole rule into an advisory "can't be known" notice.
    if any(
        dep.urn == server.urn for dep in configuration.property_dependencies.get("serverName", [])
    ):
        return True
    server_name = server.props.get("serverName")
    return (
        isinstance(server_name, str)
        and bool(server_name)
        and configuration.props.get("serverName") == server_name
    )


def _tls_value(configuration: PolicyResource) -> str | None:
    """The configured require_secure_transport value, or None for other parameters."""
    name = configuration.props.get("configurationName")
    if not isinstance(name, str) or name.lower() != _TLS_PARAMETER:
        return None
    return str(configuration.props.get("value", ""))


def check_postgres_tls_enforced(args: StackValidationArgs) -> Iterator[Finding]:
    configurations = [r for r in args.resources if r.resource_type == POSTGRES_CONFIGURATION]
    for server in (r for r in args.resources if r.resource_type == POSTGRES_SERVER):
        values = [
            value
            for value in (_tls_value(c) for c in configurations if configures_server(c, server))
            if value is not None
        ]
        if any(value.lower() == "on" for value in values):
            continue
        found = ", ".join(f"'{value}'" for value in values)
        detail = f"{_TLS_PARAMETER} is {found}" if values else f"no {_TLS_PARAMETER} Configuration"
        yield Finding(server.urn, f"Postgres server '{server.name}': {detail}; it must be 'on'")


_AZURE = ("azure",)

POLICIES: tuple[Policy, ...] = (
    resource_policy(
        name="acr-admin-user-disabled",
        description="The container registry's shared admin user is disabled.",
        resource_types=[REGISTRY],
        check=check_acr_admin_user_disabled,
        severity=Severity.HIGH,
        remediation=(
            "Set admin_user_enabled=False; push with `az acr login` and pull through the kubelet "
            "identity's AcrPull role."
        ),
        tags=(*_AZURE, "acr"),
    ),
    resource_policy(
        name="acr-anonymous-pull-disabled",
        description="The container registry does not allow anonymous pulls.",
        resource_types=[REGISTRY],
        check=check_acr_anonymous_pull_disabled,
        severity=Severity.HIGH,
        remediation="Set anonymous_pull_enabled=False (or leave it unset).",
        tags=(*_AZURE, "acr"),
    ),
    resource_policy(
        name="aks-entra-id-azure-rbac",
        description=(
            "The AKS cluster uses Kubernetes RBAC with managed Entra ID integration and Azure RBAC."
        ),
        resource_types=[MANAGED_CLUSTER],
        check=check_aks_entra_id_azure_rbac,
        severity=Severity.HIGH,
        remediation=(
            "Set enable_rbac=True and aad_profile=ManagedClusterAADProfileArgs(managed=True, "
            "enable_azure_rbac=True)."
        ),
        tags=(*_AZURE, "aks"),
    ),
    resource_policy(
        name="aks-local-accounts-disabled",
        description="The AKS cluster has local (certificate) accounts disabled.",
        resource_types=[MANAGED_CLUSTER],
        check=check_aks_local_accounts_disabled,
        severity=Severity.HIGH,
        remediation="Set disable_local_accounts=True so every access goes through Entra ID.",
        tags=(*_AZURE, "aks"),
    ),
    resource_policy(
        name="aks-network-policy-enabled",
        description="The AKS cluster runs a network policy engine so NetworkPolicies are enforced.",
        resource_types=[MANAGED_CLUSTER],
        check=check_aks_network_policy,
        severity=Severity.HIGH,
        remediation=(
            'Set network_profile.network_policy to "cilium" (with the cilium dataplane) or "azure".'
        ),
        tags=(*_AZURE, "aks"),
    ),
    resource_policy(
        name="postgres-private-access-only",
        description="The PostgreSQL server is reachable only through its private network.",
        resource_types=[POSTGRES_SERVER],
        check=check_postgres_private_access,
        severity=Severity.CRITICAL,
        remediation=(
            'Set network.public_network_access="Disabled" with a delegated subnet and a private '
            "DNS zone."
        ),
        tags=(*_AZURE, "postgres"),
    ),
    resource_policy(
        name="postgres-backup-policy",
        description=(
            "The PostgreSQL server keeps backups long enough and geo-redundantly where the stack "
            "requires it."
        ),
        resource_types=[POSTGRES_SERVER],
        check=check_postgres_backup,
        severity=Severity.HIGH,
        remediation=(
            "Set backup.backup_retention_days to at least minBackupRetentionDays and, where "
            'required, backup.geo_redundant_backup="Enabled" (fixed at server creation).'
        ),
        tags=(*_AZURE, "postgres", "durability"),
        config_schema=BACKUP_SCHEMA,
    ),
    stack_policy(
        name="postgres-tls-enforced",
        description="Every PostgreSQL server has a require_secure_transport=on Configuration.",
        check=check_postgres_tls_enforced,
        severity=Severity.HIGH,
        remediation=(
            'Add dbforpostgresql.Configuration(configuration_name="require_secure_transport", '
            'value="on", source="user-override", server_name=<server name>).'
        ),
        tags=(*_AZURE, "postgres"),
    ),
)
