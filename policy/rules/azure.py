"""Azure rules for the platform resources: ACR, AKS, PostgreSQL Flexible Server, Key Vault.

Properties are azure-native *inputs* (camelCase). The azure-native SDK fills documented API
defaults into its Args classes (e.g. adminUserEnabled=False, backupRetentionDays=7), so a missing
field here means the resource was declared without them; it is judged by the Azure API default,
and fails wherever that default is unsafe.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)

from .addresses import covers_public_internet, is_public, parse_network
from .builder import (
    Finding,
    Severity,
    as_list,
    as_mapping,
    config_value,
    dig,
    is_true,
    schema,
    show_number,
    shown,
    stack_policy,
)
from .kinds import matching_policy

REGISTRY = "azure-native:containerregistry:Registry"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"
POSTGRES_SERVER = "azure-native:dbforpostgresql:Server"
POSTGRES_DATABASE = "azure-native:dbforpostgresql:Database"
POSTGRES_CONFIGURATION = "azure-native:dbforpostgresql:Configuration"

PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"

# Built-in roles that can change anything or grant anything (Microsoft Learn, "Azure built-in
# roles", General and Privileged categories; the role definition's name is this GUID).
PRIVILEGED_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}

# Azure's own backup retention when none is given (days).
_AZURE_DEFAULT_RETENTION_DAYS = 7
_TLS_PARAMETER = "require_secure_transport"


def azure_type(resource_type: str) -> tuple[str, str] | None:
    """(module, resource) of an azure-native token, API version dropped.

    `azure-native:dbforpostgresql/v20221201:Configuration` and the default-version token are the
    same resource to Azure, so rules must not be evaded by picking an explicit API version.
    """
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "azure-native":
        return None
    return parts[1].split("/", 1)[0].lower(), parts[2]


def is_azure(resource_type: str, module: str, *names: str) -> bool:
    parsed = azure_type(resource_type)
    return parsed is not None and parsed[0] == module and parsed[1] in names


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
    configurations = [r for r in args.resources if _postgres_kind(r.resource_type, "Configuration")]
    for server in (r for r in args.resources if _is_postgres_server(r.resource_type)):
        values = [
            value
            for value in (_tls_value(c) for c in configurations if configures_server(c, server))
            if value is not None
        ]
        if values and all(value.strip().lower() == "on" for value in values):
            continue
        found = ", ".join(f"'{value}'" for value in values)
        detail = f"{_TLS_PARAMETER} is {found}" if values else f"no {_TLS_PARAMETER} Configuration"
        yield Finding(server.urn, f"Postgres server '{server.name}': {detail}; it must be 'on'")


# --- private registry -------------------------------------------------------------------------

PRIVATE_REGISTRY_SCHEMA = schema(
    requirePrivateNetwork={
        "type": "boolean",
        "default": True,
        "description": (
            "Registries must have public network access Disabled and a private endpoint "
            "(production); false lets a stack keep a public registry."
        ),
    },
)


def _has_endpoint(
    endpoints: list[PolicyResource], target: PolicyResource, name_key: str, collection: str
) -> bool:
    """Whether a private endpoint's connections point at this resource (dependency or ID).

    Dependencies are tried on every endpoint before any ID is read: at preview another
    service's endpoint may carry an unknown ID, and reading it would leave this resource
    undecided although its own endpoint is known. `name_key` is the target's own-name input
    (registryName, vaultName) and `collection` the ARM path segment before that name.
    """
    key = "privateLinkServiceConnections"
    for endpoint in endpoints:
        if any(dep.urn == target.urn for dep in endpoint.property_dependencies.get(key, [])):
            return True
    name = str(target.props.get(name_key) or "").lower()
    for endpoint in endpoints:
        for connection in as_list(endpoint.props.get(key)):
            service_id = as_mapping(connection).get("privateLinkServiceId")
            if (
                name
                and isinstance(service_id, str)
                and service_id.lower().endswith(f"/{collection}/{name}")
            ):
                return True
    return False


def _private_endpoints(args: StackValidationArgs) -> list[PolicyResource]:
    return [r for r in args.resources if is_azure(r.resource_type, "network", "PrivateEndpoint")]


def _public_access_problem(props: Any) -> str | None:
    access = props.get("publicNetworkAccess")
    if isinstance(access, str) and access.lower() == "disabled":
        return None
    return f"publicNetworkAccess is {shown(access)} (Azure default Enabled), not Disabled"


def check_acr_private_network(args: StackValidationArgs) -> Iterator[Finding]:
    if config_value(args, PRIVATE_REGISTRY_SCHEMA, "requirePrivateNetwork") is not True:
        return
    endpoints = _private_endpoints(args)
    for registry in args.resources:
        if not is_azure(registry.resource_type, "containerregistry", "Registry"):
            continue
        label = registry.props.get("registryName") or registry.name
        if (problem := _public_access_problem(registry.props)) is not None:
            yield Finding(registry.urn, f"registry '{label}': {problem}")
        sku = dig(registry.props, "sku", "name")
        if sku != "Premium":
            yield Finding(
                registry.urn,
                f"registry '{label}': sku is {shown(sku)}; private endpoints need Premium",
            )
        if not _has_endpoint(endpoints, registry, "registryName", "registries"):
            yield Finding(
                registry.urn,
                f"registry '{label}': no private endpoint connects to it, so nothing "
                "could pull once public access is off",
            )


# --- Key Vault ----------------------------------------------------------------------------------

KEYVAULT_SCHEMA = schema(
    requirePrivateNetwork={
        "type": "boolean",
        "default": True,
        "description": (
            "Vaults must have public network access Disabled and a private endpoint "
            "(production); false lets a stack keep the public endpoint behind its deny-by-default "
            "network ACL."
        ),
    },
)


def _vault_problems(props: Any) -> Iterator[str]:
    """What makes a vault's own settings unsafe, whatever the stack."""
    if not is_true(props.get("enableRbacAuthorization")):
        # Access policies cannot be scoped below the vault: any reader reads every secret.
        yield (
            f"enableRbacAuthorization is {shown_bool(props.get('enableRbacAuthorization'))} "
            "(access policies grant the whole vault)"
        )
    if not is_true(props.get("enablePurgeProtection")):
        yield f"enablePurgeProtection is {shown_bool(props.get('enablePurgeProtection'))}"
    # Absent means Azure's default for a new vault (on); only an explicit false turns it off.
    if props.get("enableSoftDelete") is False:
        yield "enableSoftDelete is false"
    action = dig(props, "networkAcls", "defaultAction")
    if not (isinstance(action, str) and action.lower() == "deny"):
        yield f"networkAcls.defaultAction is {shown(action)} (Azure default Allow), not Deny"


def check_keyvault_secure(args: StackValidationArgs) -> Iterator[Finding]:
    require_private = config_value(args, KEYVAULT_SCHEMA, "requirePrivateNetwork") is True
    endpoints = _private_endpoints(args)
    for vault in args.resources:
        if not is_azure(vault.resource_type, "keyvault", "Vault"):
            continue
        label = vault.props.get("vaultName") or vault.name
        props = as_mapping(vault.props.get("properties"))
        problems = list(_vault_problems(props))
        if require_private:
            problems.append(_public_access_problem(props) or "")
        for problem in filter(None, problems):
            yield Finding(vault.urn, f"key vault '{label}': {problem}")
        if not require_private:
            continue
        if not _has_endpoint(endpoints, vault, "vaultName", "vaults"):
            yield Finding(
                vault.urn,
                f"key vault '{label}': no private endpoint connects to it, so no pod could "
                "read a secret once public access is off",
            )


# --- workload identity federation ----------------------------------------------------------------

# A Kubernetes ServiceAccount subject: namespace and name are DNS names (no `*`, no `:`).
_SERVICE_ACCOUNT_SUBJECT = re.compile(
    r"system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?"
)


def check_federated_credential_single_subject(args: ResourceValidationArgs) -> Iterator[str]:
    # Flexible credentials (claimsMatchingExpression) match many subjects by pattern; a plain
    # subject is compared exactly, so it must name one ServiceAccount and nothing wider.
    if args.props.get("claimsMatchingExpression") is not None:
        yield "claimsMatchingExpression matches subjects by pattern; name one ServiceAccount"
    subject = args.props.get("subject")
    if not isinstance(subject, str) or not subject:
        yield "subject is unset"
    elif "*" in subject or not _SERVICE_ACCOUNT_SUBJECT.fullmatch(subject):
        yield (
            f"subject '{subject}' is not exactly one ServiceAccount "
            "(system:serviceaccount:<namespace>:<name>)"
        )


# --- AKS exposure ---------------------------------------------------------------------------


def check_aks_api_server_restricted(args: ResourceValidationArgs) -> Iterator[str]:
    profile = as_mapping(args.props.get("apiServerAccessProfile"))
    if is_true(profile.get("enablePrivateCluster")):
        return
    ranges = [str(r) for r in as_list(profile.get("authorizedIPRanges"))]
    if not ranges:
        yield (
            "the API server is public (enablePrivateCluster not true) and "
            "apiServerAccessProfile.authorizedIPRanges is empty"
        )
        return
    parsed = [parse_network(r) for r in ranges]
    bad = [r for r, n in zip(ranges, parsed, strict=True) if n is None]
    if bad:
        yield f"authorizedIPRanges has entries that are not CIDRs: {', '.join(bad)}"
    if covers_public_internet([n for n in parsed if n is not None]):
        yield "authorizedIPRanges admit the whole internet"


def _pools(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    if is_azure(args.resource_type, "containerservice", "AgentPool"):
        yield "agent pool", args.props
        return
    for index, pool in enumerate(as_list(args.props.get("agentPoolProfiles"))):
        yield f"agentPoolProfiles[{index}]", pool


def check_aks_no_node_public_ip(args: ResourceValidationArgs) -> Iterator[str]:
    for where, pool in _pools(args):
        if is_true(as_mapping(pool).get("enableNodePublicIP")):
            yield f"{where}: enableNodePublicIP is true"


# --- PostgreSQL ------------------------------------------------------------------------------


def _postgres_kind(resource_type: str, suffix: str) -> bool:
    # Flexible, single-server and Cosmos (server group) variants share the semantics.
    parsed = azure_type(resource_type)
    return parsed is not None and parsed[0] == "dbforpostgresql" and parsed[1].endswith(suffix)


def _range_networks(start: Any, end: Any) -> list[Any] | None:
    try:
        first, last = ipaddress.IPv4Address(str(start)), ipaddress.IPv4Address(str(end))
    except ValueError:
        return None
    if last < first:
        return []
    return list(ipaddress.summarize_address_range(first, last))


def check_postgres_firewall_closed(args: ResourceValidationArgs) -> Iterator[str]:
    start, end = args.props.get("startIpAddress"), args.props.get("endIpAddress")
    if start == "0.0.0.0" and end == "0.0.0.0":
        # Azure's special rule: every Azure service of every tenant may connect.
        yield "0.0.0.0-0.0.0.0 admits every Azure-hosted client of any tenant"
        return
    networks = _range_networks(start, end)
    if networks is None:
        yield f"the range {start}-{end} is not a pair of IPv4 addresses"
    elif any(is_public(n) for n in networks):
        yield f"the range {start}-{end} opens the server to public addresses"


# Service tags and wildcards that stand for every address on the internet in an NSG rule.
_ANY_SOURCE_TAGS = frozenset({"*", "internet", "any"})


def _nsg_rule_problem(rule: Any) -> str | None:
    props = as_mapping(rule)
    inbound = str(props.get("direction", "")).lower() == "inbound"
    allowed = str(props.get("access", "")).lower() == "allow"
    if not (inbound and allowed):
        return None
    sources = [props.get("sourceAddressPrefix"), *as_list(props.get("sourceAddressPrefixes"))]
    texts = [str(source).strip() for source in sources if source is not None]
    if any(text.lower() in _ANY_SOURCE_TAGS for text in texts):
        return f"admits {', '.join(texts)} inbound"
    networks = [network for network in map(parse_network, texts) if network is not None]
    if networks and covers_public_internet(networks):
        return f"admits the whole internet ({', '.join(texts)}) inbound"
    return None


def check_nsg_no_internet_inbound(args: ResourceValidationArgs) -> Iterator[str]:
    # A NetworkSecurityGroup carries its rules inline; a SecurityRule is one rule on its own.
    if azure_type(args.resource_type) == ("network", "SecurityRule"):
        rules: list[Any] = [args.props]
    else:
        rules = list(as_list(args.props.get("securityRules")))
    for index, rule in enumerate(rules):
        problem = _nsg_rule_problem(rule)
        if problem:
            name = as_mapping(rule).get("name") or f"#{index}"
            yield f"security rule '{name}' {problem}"


def check_postgres_tls_setting(args: ResourceValidationArgs) -> Iterator[str]:
    name = str(args.props.get("configurationName") or "").lower()
    value = str(args.props.get("value", "")).strip()
    if name == _TLS_PARAMETER and value.lower() != "on":
        yield f"{_TLS_PARAMETER} is '{value}'; it must be 'on'"
    if name == "ssl_min_protocol_version" and value.upper() in ("TLSV1", "TLSV1.1"):
        yield f"ssl_min_protocol_version is '{value}'; it must be TLSv1.2 or later"


# --- Storage ----------------------------------------------------------------------------------

STORAGE_SCHEMA = schema(
    requireSharedKeyDisabled={
        "type": "boolean",
        "default": True,
        "description": "Storage accounts must set allowSharedKeyAccess false (Entra ID only).",
    },
)
_TLS_OK = frozenset({"TLS1_2", "TLS1_3"})


def check_storage_account(args: ResourceValidationArgs) -> Iterator[str]:
    if is_azure(args.resource_type, "storage", "BlobContainer"):
        access = args.props.get("publicAccess")
        if access is not None and str(access) != "None":
            yield f"publicAccess is {access}; containers must be private"
        return
    props = args.props
    if props.get("allowBlobPublicAccess") is not False:
        shown_access = shown_bool(props.get("allowBlobPublicAccess"))
        yield f"allowBlobPublicAccess is {shown_access}, not false"
    if props.get("enableHttpsTrafficOnly") is False:
        yield "enableHttpsTrafficOnly is false"
    tls = props.get("minimumTlsVersion")
    if tls not in _TLS_OK:
        yield f"minimumTlsVersion is {shown(tls)} (Azure default TLS1_0), not TLS1_2"
    shared_key_off = props.get("allowSharedKeyAccess") is False
    if (
        config_value(args, STORAGE_SCHEMA, "requireSharedKeyDisabled") is True
        and not shared_key_off
    ):
        yield (
            f"allowSharedKeyAccess is {shown_bool(props.get('allowSharedKeyAccess'))} "
            "(Azure default true), not false"
        )


def shown_bool(value: Any) -> str:
    return "unset" if value is None else str(value).lower()


# --- Azure RBAC -------------------------------------------------------------------------------


def _broad_scope(scope: str) -> str | None:
    parts = [p.lower() for p in scope.strip().strip("/").split("/") if p]
    if not parts:
        return "the tenant root"
    if len(parts) == 2 and parts[0] == "subscriptions":
        return "a subscription"
    if len(parts) == 4 and parts[:3] == ["providers", "microsoft.management", "managementgroups"]:
        return "a management group"
    return None


# Actions that amount to Owner/User Access Administrator when granted broadly.
_PRIVILEGED_ACTIONS = ("*", "microsoft.authorization/*")


def _custom_role_problems(args: ResourceValidationArgs) -> Iterator[str]:
    """A custom role definition that grants everything (or grant rights) assignable broadly."""
    broad = [
        s for s in (str(x) for x in as_list(args.props.get("assignableScopes"))) if _broad_scope(s)
    ]
    if not broad:
        return
    for index, permission in enumerate(as_list(args.props.get("permissions"))):
        actions = [str(a).lower() for a in as_list(as_mapping(permission).get("actions"))]
        granted = [
            a
            for a in actions
            if a in _PRIVILEGED_ACTIONS or a.startswith("microsoft.authorization/roleassignments/")
        ]
        if granted:
            yield (
                f"custom role permissions[{index}] grant {', '.join(granted)} and are assignable "
                f"at {', '.join(broad)}"
            )


def check_privileged_role_scope(args: ResourceValidationArgs) -> Iterator[str]:
    if is_azure(args.resource_type, "authorization", "RoleDefinition"):
        yield from _custom_role_problems(args)
        return
    role_id = str(args.props.get("roleDefinitionId") or "")
    role = PRIVILEGED_ROLES.get(role_id.rstrip("/").rsplit("/", 1)[-1].lower())
    if role is None:
        return  # the scope (often unknown at preview) only matters for privileged roles
    scope = args.props.get("scope")
    if not isinstance(scope, str):
        return
    broad = _broad_scope(scope)
    if broad:
        yield f"{role} is assigned at {broad} ({scope}); scope it to the resource it manages"


_AZURE = ("azure",)


# Any API version of the resource: an explicit-version token is the same Azure resource.
def _is_registry(resource_type: str) -> bool:
    return is_azure(resource_type, "containerregistry", "Registry")


def _is_cluster(resource_type: str) -> bool:
    return is_azure(resource_type, "containerservice", "ManagedCluster")


def _is_postgres_server(resource_type: str) -> bool:
    return is_azure(resource_type, "dbforpostgresql", "Server")


POLICIES: tuple[Policy, ...] = (
    matching_policy(
        name="acr-admin-user-disabled",
        description="The container registry's shared admin user is disabled.",
        applies=_is_registry,
        check=check_acr_admin_user_disabled,
        severity=Severity.HIGH,
        remediation=(
            "Set admin_user_enabled=False; push with `az acr login` and pull through the kubelet "
            "identity's AcrPull role."
        ),
        tags=(*_AZURE, "acr"),
    ),
    matching_policy(
        name="acr-anonymous-pull-disabled",
        description="The container registry does not allow anonymous pulls.",
        applies=_is_registry,
        check=check_acr_anonymous_pull_disabled,
        severity=Severity.HIGH,
        remediation="Set anonymous_pull_enabled=False (or leave it unset).",
        tags=(*_AZURE, "acr"),
    ),
    matching_policy(
        name="aks-entra-id-azure-rbac",
        description=(
            "The AKS cluster uses Kubernetes RBAC with managed Entra ID integration and Azure RBAC."
        ),
        applies=_is_cluster,
        check=check_aks_entra_id_azure_rbac,
        severity=Severity.HIGH,
        remediation=(
            "Set enable_rbac=True and aad_profile=ManagedClusterAADProfileArgs(managed=True, "
            "enable_azure_rbac=True)."
        ),
        tags=(*_AZURE, "aks"),
    ),
    matching_policy(
        name="aks-local-accounts-disabled",
        description="The AKS cluster has local (certificate) accounts disabled.",
        applies=_is_cluster,
        check=check_aks_local_accounts_disabled,
        severity=Severity.HIGH,
        remediation="Set disable_local_accounts=True so every access goes through Entra ID.",
        tags=(*_AZURE, "aks"),
    ),
    matching_policy(
        name="aks-network-policy-enabled",
        description="The AKS cluster runs a network policy engine so NetworkPolicies are enforced.",
        applies=_is_cluster,
        check=check_aks_network_policy,
        severity=Severity.HIGH,
        remediation=(
            'Set network_profile.network_policy to "cilium" (with the cilium dataplane) or "azure".'
        ),
        tags=(*_AZURE, "aks"),
    ),
    matching_policy(
        name="postgres-private-access-only",
        description="The PostgreSQL server is reachable only through its private network.",
        applies=_is_postgres_server,
        check=check_postgres_private_access,
        severity=Severity.CRITICAL,
        remediation=(
            'Set network.public_network_access="Disabled" with a delegated subnet and a private '
            "DNS zone."
        ),
        tags=(*_AZURE, "postgres"),
    ),
    matching_policy(
        name="postgres-backup-policy",
        description=(
            "The PostgreSQL server keeps backups long enough and geo-redundantly where the stack "
            "requires it."
        ),
        applies=_is_postgres_server,
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
        description=(
            "Every PostgreSQL server has require_secure_transport=on, in every Configuration "
            "that sets it."
        ),
        check=check_postgres_tls_enforced,
        severity=Severity.HIGH,
        remediation=(
            'Add dbforpostgresql.Configuration(configuration_name="require_secure_transport", '
            'value="on", source="user-override", server_name=<server name>).'
        ),
        tags=(*_AZURE, "postgres"),
    ),
    stack_policy(
        name="acr-private-network",
        description=(
            "Registries have public network access disabled and a private endpoint where the "
            "stack requires it."
        ),
        check=check_acr_private_network,
        severity=Severity.HIGH,
        remediation=(
            'Use sku Premium, public_network_access="Disabled", and a network.PrivateEndpoint '
            '(group "registry") with a privatelink.azurecr.io private DNS zone linked to the VNet.'
        ),
        tags=(*_AZURE, "acr", "network"),
        config_schema=PRIVATE_REGISTRY_SCHEMA,
    ),
    stack_policy(
        name="keyvault-secure",
        description=(
            "Key Vaults use RBAC authorization, purge protection, soft delete and a "
            "deny-by-default network ACL, and are private where the stack requires it."
        ),
        check=check_keyvault_secure,
        severity=Severity.HIGH,
        remediation=(
            "Set properties.enable_rbac_authorization=True, enable_purge_protection=True, leave "
            'enable_soft_delete unset or True, network_acls.default_action="Deny"; where required '
            'public_network_access="Disabled" and a network.PrivateEndpoint (group "vault") with '
            "a privatelink.vaultcore.azure.net zone linked to the VNet."
        ),
        tags=(*_AZURE, "keyvault", "secrets"),
        config_schema=KEYVAULT_SCHEMA,
    ),
    matching_policy(
        name="azure-federated-credential-single-subject",
        description=(
            "A federated identity credential trusts exactly one Kubernetes ServiceAccount, never "
            "a pattern."
        ),
        applies=lambda t: is_azure(t, "managedidentity", "FederatedIdentityCredential"),
        check=check_federated_credential_single_subject,
        severity=Severity.HIGH,
        remediation=(
            'Set subject="system:serviceaccount:<namespace>:<service account>" for the one '
            "workload that needs the identity; give other workloads identities of their own."
        ),
        tags=(*_AZURE, "identity"),
    ),
    matching_policy(
        name="aks-api-server-restricted",
        description=("The AKS API server is private or reachable only from authorized IP ranges."),
        applies=lambda t: is_azure(t, "containerservice", "ManagedCluster"),
        check=check_aks_api_server_restricted,
        severity=Severity.HIGH,
        remediation=(
            "Set api_server_access_profile.authorized_ip_ranges to the CI and operator egress "
            "CIDRs, or enable_private_cluster=True with API server VNet integration."
        ),
        tags=(*_AZURE, "aks", "network"),
    ),
    matching_policy(
        name="aks-no-node-public-ip",
        description="No AKS node pool gives its nodes public IP addresses.",
        applies=lambda t: is_azure(t, "containerservice", "ManagedCluster", "AgentPool"),
        check=check_aks_no_node_public_ip,
        severity=Severity.HIGH,
        remediation=(
            "Leave enable_node_public_ip unset or False; egress goes through the NAT gateway."
        ),
        tags=(*_AZURE, "aks", "network"),
    ),
    matching_policy(
        name="postgres-firewall-closed",
        description="No PostgreSQL firewall rule admits public or all-Azure addresses.",
        applies=lambda t: (
            (azure_type(t) or ("", ""))[0] == "dbforpostgresql"
            and (azure_type(t) or ("", ""))[1].endswith("FirewallRule")
        ),
        check=check_postgres_firewall_closed,
        severity=Severity.CRITICAL,
        remediation="Delete the rule; clients reach the server through the delegated subnet.",
        tags=(*_AZURE, "postgres", "network"),
    ),
    matching_policy(
        name="postgres-tls-not-disabled",
        description=(
            "No PostgreSQL Configuration turns require_secure_transport off or allows TLS "
            "below 1.2."
        ),
        applies=lambda t: (
            (azure_type(t) or ("", ""))[0] == "dbforpostgresql"
            and (azure_type(t) or ("", ""))[1].endswith("Configuration")
        ),
        check=check_postgres_tls_setting,
        severity=Severity.HIGH,
        remediation='Set require_secure_transport to "on" and ssl_min_protocol_version to TLSv1.2.',
        tags=(*_AZURE, "postgres"),
    ),
    matching_policy(
        name="azure-nsg-no-internet-inbound",
        description=(
            "No network security group rule allows inbound traffic from any address or the "
            "Internet service tag."
        ),
        applies=lambda t: is_azure(t, "network", "NetworkSecurityGroup", "SecurityRule"),
        check=check_nsg_no_internet_inbound,
        severity=Severity.CRITICAL,
        remediation=(
            "Name the source ranges that need access (CI runners, operators) or reach the "
            "service through the Istio ingress gateway; AKS manages its own node NSG rules."
        ),
        tags=(*_AZURE, "network"),
    ),
    matching_policy(
        name="storage-account-secure",
        description=(
            "Storage accounts deny public blob access, require HTTPS and TLS 1.2, and (where "
            "required) disable shared keys."
        ),
        applies=lambda t: is_azure(t, "storage", "StorageAccount", "BlobContainer"),
        check=check_storage_account,
        severity=Severity.HIGH,
        remediation=(
            "Set allow_blob_public_access=False, enable_https_traffic_only=True, "
            'minimum_tls_version="TLS1_2", allow_shared_key_access=False; containers keep '
            'public_access="None".'
        ),
        tags=(*_AZURE, "storage"),
        config_schema=STORAGE_SCHEMA,
    ),
    matching_policy(
        name="azure-no-privileged-role-at-broad-scope",
        description=(
            "No Owner, Contributor, access-administrator or equivalent custom role is assigned "
            "at subscription, management-group or root scope."
        ),
        applies=lambda t: is_azure(t, "authorization", "RoleAssignment", "RoleDefinition"),
        check=check_privileged_role_scope,
        severity=Severity.CRITICAL,
        remediation=(
            "Assign the narrowest built-in role (e.g. AcrPull, Network Contributor) at the scope "
            "of the one resource that needs it."
        ),
        tags=(*_AZURE, "rbac"),
    ),
)
