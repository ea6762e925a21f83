"""Production differs from staging exactly where the stack files say.

Every field that differs between the two synthesized stacks must be explained by a config key
that differs between Pulumi.staging.yaml and Pulumi.production.yaml, and every differing config
key must show up somewhere in the resources. A curated list of fields is then checked against
the values each stack file gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache, partial
from typing import Any

import pytest
import yaml

from components.config.loader import load_program_config
from tests.synthesis import PROJECT_DIR, kube_objects, of_type, owning_service
from tools.recorder import RecordedResource
from tools.synth import STACK_TYPE, SynthResult, read_stack_file

STACKS = ("staging", "production")
MICROSERVICE = "micromart:service:Microservice"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
HPA_KIND = "HorizontalPodAutoscaler"
# KEDA: where a spec scales on its queue, a ScaledObject (and its TriggerAuthentication) stands
# in for the HPA; KEDA then creates the HPA itself.
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
TRIGGER_AUTHENTICATION = "kubernetes:keda.sh/v1alpha1:TriggerAuthentication"
AUTOSCALER_TYPES = (HPA, SCALED_OBJECT, TRIGGER_AUTHENTICATION)
EXISTS, PROTECT = "<exists>", "<protect>"
MISSING = object()


# -- the stack files ------------------------------------------------------------------------


@cache
def stack_file(stack: str) -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    return {key.split(":", 1)[1]: value for key, value in document["config"].items()}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys; lists and scalars are leaves."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def differing_config_keys() -> set[str]:
    staging, production = flatten(stack_file("staging")), flatten(stack_file("production"))
    return {
        key
        for key in staging.keys() | production.keys()
        if staging.get(key, MISSING) != production.get(key, MISSING)
    }


def setting(stack: str, dotted: str, default: Any = MISSING) -> Any:
    value: Any = stack_file(stack)
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            assert default is not MISSING, f"{stack}: no {dotted} and no default"
            return default
        value = value[part]
    return value


# -- resource-level differences -------------------------------------------------------------


def stable_urn(resource: RecordedResource) -> str:
    """The URN without the stack name, so the same resource matches across stacks."""
    return resource.urn.split("::", 1)[1]


def flatten_inputs(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten_inputs(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value:
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten_inputs(item, f"{prefix}[{index}]"))
        return flat
    return {prefix: value}


@dataclass(frozen=True)
class Difference:
    urn: str
    type: str
    service: str
    field: str


def resource_differences(staging: SynthResult, production: SynthResult) -> list[Difference]:
    before = {stable_urn(r): r for r in staging.resources if r.type != STACK_TYPE}
    after = {stable_urn(r): r for r in production.resources if r.type != STACK_TYPE}
    found: list[Difference] = []
    for urn in sorted(before.keys() | after.keys()):
        resource = after.get(urn) or before[urn]
        result = production if urn in after else staging
        service = owning_service(result, resource) or ""
        if urn not in before or urn not in after:
            found.append(Difference(urn, resource.type, service, EXISTS))
            continue
        old, new = before[urn], after[urn]
        if old.protect != new.protect:
            found.append(Difference(urn, resource.type, service, PROTECT))
        old_fields = flatten_inputs(old.redacted_inputs())
        new_fields = flatten_inputs(new.redacted_inputs())
        for field in sorted(old_fields.keys() | new_fields.keys()):
            if old_fields.get(field, MISSING) != new_fields.get(field, MISSING):
                found.append(Difference(urn, resource.type, service, field))
    return found


@dataclass(frozen=True)
class Rule:
    """Differences in `field` (regex) of resources of `type` (regex) come from `keys` (globs,
    formatted with the field's named groups and the owning service)."""

    type: str
    field: str
    keys: tuple[str, ...]


POOL_FIELD = r"agentPoolProfiles\[{index}\]\.(?P<setting>vmSize|minCount|maxCount)"
RULES = (
    # Names and placement derived from `environment`.
    Rule(r"azure-native:.*", r"resourceGroupName", ("environment",)),
    Rule(r"azure-native:.*", r"tags\.(?P<tag>.+)", ("tags.{tag}",)),
    Rule(r".*", PROTECT, ("environment",)),
    Rule(r".*:ManagedCluster", r"resourceName|dnsPrefix", ("environment",)),
    Rule(r"pulumi:providers:kubernetes", r"clusterIdentifier", ("environment",)),
    Rule(r".*:privatedns:.*", r"privateZoneName", ("environment",)),
    # The kubelet identity of a differently named cluster.
    Rule(r".*:RoleAssignment", r"principalId", ("environment",)),
    # ARM IDs embed the environment's resource group (and the DNS zone its name).
    Rule(r".*:RoleAssignment", r"scope", ("environment",)),
    Rule(r".*:ManagedCluster", r"agentPoolProfiles\[\d\]\.vnetSubnetID", ("environment",)),
    Rule(r".*:VirtualNetworkLink", r"virtualNetwork\.id", ("environment",)),
    Rule(
        r".*:dbforpostgresql:Server",
        r"network\.(delegatedSubnetResourceId|privateDnsZoneArmResourceId)",
        ("environment",),
    ),
    # Registry.
    Rule(r".*:containerregistry:(Registry|Task)", r"registryName", ("registry.name",)),
    Rule(r".*:containerregistry:Registry", r"sku\.name", ("registry.sku",)),
    Rule(r".*:containerregistry:Registry", r"zoneRedundancy", ("registry.zoneRedundancy",)),
    Rule(
        r".*:containerregistry:Registry",
        r"policies\.retentionPolicy\.(days|status)",
        ("registry.retentionDays", "registry.sku"),
    ),
    # A private registry: no public access, an endpoint and its privatelink zone.
    Rule(r".*:containerregistry:Registry", r"publicNetworkAccess", ("registry.privateNetwork",)),
    Rule(
        r".*:network:(PrivateEndpoint|PrivateDnsZoneGroup)",
        EXISTS,
        ("registry.privateNetwork", "vault.privateNetwork", "network.privateEndpointSubnet"),
    ),
    Rule(
        r".*:privatedns:(PrivateZone|VirtualNetworkLink)",
        EXISTS,
        ("registry.privateNetwork", "vault.privateNetwork"),
    ),
    # Key Vault: its name, retention, and private (endpoint) or public (AKS subnet ACL) access.
    Rule(r".*:keyvault:(Vault|Secret)", r"vaultName", ("vault.name",)),
    Rule(
        r".*:keyvault:Vault",
        r"properties\.softDeleteRetentionInDays",
        ("vault.softDeleteRetentionDays",),
    ),
    Rule(
        r".*:keyvault:Vault",
        r"properties\.(publicNetworkAccess|networkAcls\.virtualNetworkRules.*)",
        ("vault.privateNetwork",),
    ),
    Rule(r".*:VirtualNetwork", r"subnets\[0\]\.serviceEndpoints.*", ("vault.privateNetwork",)),
    Rule(
        r"kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass",
        r"spec\.parameters\.keyvaultName",
        ("vault.name",),
    ),
    # The cluster's OIDC issuer URL embeds the cluster's (environment's) name.
    Rule(r".*:FederatedIdentityCredential", r"issuer", ("environment",)),
    Rule(r"kubernetes:core/v1:ConfigMap", r"data\.POSTGRES_HOST", ("postgres.serverName",)),
    # Images are pushed to, and pulled by digest from, the stack's registry.
    Rule(r"docker:.*", r"imageName|registry\.server", ("registry.name",)),
    Rule(
        r"kubernetes:apps/v1:(Deployment|StatefulSet)",
        r"spec\.template\.spec\.(initContainers|containers)\[\d+\]\.image",
        ("registry.name",),
    ),
    # Database Jobs: the name carries a digest of the image reference (components/db_jobs.py);
    # the bootstrap is told the server's host name.
    Rule(
        r"kubernetes:batch/v1:Job",
        r"metadata\.name|spec\.template\.spec\.containers\[0\]\.image",
        ("registry.name",),
    ),
    Rule(
        r"kubernetes:batch/v1:Job",
        r"spec\.template\.spec\.containers\[0\]\.env\[0\]\.value",
        ("postgres.serverName",),
    ),
    # Network.
    Rule(r".*:VirtualNetwork", r"addressSpace\.addressPrefixes\[0\]", ("network.addressSpace",)),
    Rule(r".*:VirtualNetwork", r"subnets\[0\]\.addressPrefix", ("network.aksSubnet",)),
    Rule(r".*:VirtualNetwork", r"subnets\[1\]\.addressPrefix", ("network.postgresSubnet",)),
    Rule(r".*:VirtualNetwork", r"subnets\[2\]\..*", ("network.privateEndpointSubnet",)),
    Rule(r".*:VirtualNetwork", r"subnets\[0\]\.natGateway\.id", ("network.natGateway",)),
    Rule(r".*:network:(NatGateway|PublicIPAddress)", EXISTS, ("network.natGateway",)),
    Rule(r".*:ManagedCluster", r"networkProfile\.outboundType", ("network.natGateway",)),
    Rule(
        r"kubernetes:networking.k8s.io/v1:NetworkPolicy",
        r"spec\.egress\[\d+\]\.to\[\d+\]\.ipBlock\.cidr",
        ("network.postgresSubnet",),
    ),
    # Namespace quotas: each hard limit from its own key only.
    *[
        Rule(r"kubernetes:core/v1:ResourceQuota", rf"spec\.hard\.{re.escape(field)}", (key,))
        for field, key in (
            ("requests.cpu", "quota.requestsCpu"),
            ("requests.memory", "quota.requestsMemory"),
            ("limits.cpu", "quota.limitsCpu"),
            ("limits.memory", "quota.limitsMemory"),
            ("pods", "quota.pods"),
        )
    ],
    # Cluster.
    Rule(r".*:ManagedCluster", r"sku\.tier", ("cluster.skuTier",)),
    Rule(r".*:ManagedCluster", POOL_FIELD.format(index=0), ("cluster.systemPool.{setting}",)),
    Rule(r".*:ManagedCluster", POOL_FIELD.format(index=1), ("cluster.userPool.{setting}",)),
    Rule(r".*:ManagedCluster", r"agentPoolProfiles\[0\]\.count", ("cluster.systemPool.minCount",)),
    Rule(r".*:ManagedCluster", r"agentPoolProfiles\[1\]\.count", ("cluster.userPool.minCount",)),
    Rule(r".*:ManagedCluster", r"agentPoolProfiles\[\d\]\.availabilityZones.*", ("cluster.zones",)),
    Rule(r".*:MaintenanceConfiguration", EXISTS, ("cluster.maintenanceWindow.*",)),
    Rule(r".*:operationalinsights:Workspace", EXISTS, ("cluster.defender",)),
    Rule(r".*:ManagedCluster", r"securityProfile\.defender\..*", ("cluster.defender",)),
    Rule(r".*:ManagedCluster", r"addonProfiles\.azurepolicy\..*", ("cluster.azurePolicy",)),
    # Postgres.
    Rule(r".*:dbforpostgresql:.*", r"serverName", ("postgres.serverName",)),
    Rule(r".*:dbforpostgresql:Server", r"sku\.name", ("postgres.skuName",)),
    Rule(r".*:dbforpostgresql:Server", r"sku\.tier", ("postgres.tier",)),
    Rule(r".*:dbforpostgresql:Server", r"storage\.storageSizeGB", ("postgres.storageGb",)),
    Rule(
        r".*:dbforpostgresql:Server",
        r"backup\.backupRetentionDays",
        ("postgres.backupRetentionDays",),
    ),
    Rule(
        r".*:dbforpostgresql:Server",
        r"backup\.geoRedundantBackup",
        ("postgres.geoRedundantBackup",),
    ),
    Rule(r".*:dbforpostgresql:Server", r"highAvailability\.mode", ("postgres.highAvailability",)),
    # RabbitMQ.
    Rule(r"kubernetes:apps/v1:StatefulSet", r"spec\.replicas", ("rabbitmq.replicas",)),
    Rule(
        r"kubernetes:apps/v1:StatefulSet",
        r"spec\.template\.spec\.containers\[0\]\.resources\.(?P<kind>\w+)\.(?P<name>\w+)",
        ("rabbitmq.resources.{kind}.{name}",),
    ),
    Rule(
        r"kubernetes:apps/v1:StatefulSet",
        r"spec\.volumeClaimTemplates\[0\]\.spec\.resources\.requests\.storage",
        ("rabbitmq.storage",),
    ),
    Rule(r"kubernetes:core/v1:ConfigMap", r"data\.rabbitmq\.conf", ("rabbitmq.replicas",)),
    Rule(
        r"kubernetes:storage.k8s.io/v1:StorageClass", r"parameters\.skuName", ("rabbitmq.diskSku",)
    ),
    # Monitoring: workspaces and rules named after the environment and pointing at its
    # resources; retention, Grafana, receivers and thresholds from their own keys.
    Rule(
        r".*:(operationalinsights:Workspace|monitor:.*)",
        r"workspaceName|azureMonitorWorkspaceName|dataCollection(Endpoint|Rule)Name|associationName"
        r"|resourceUri|workspaceId|dataCollection(Endpoint|Rule)Id"
        r"|destinations\.(logAnalytics|monitoringAccounts)\[0\]\.(workspaceResourceId|accountResourceId)",
        ("environment",),
    ),
    Rule(
        r".*:ManagedCluster",
        r"addonProfiles\.omsagent\.config\.logAnalyticsWorkspaceResourceID",
        ("environment",),
    ),
    Rule(r".*:operationalinsights:Workspace", r"retentionInDays", ("monitoring.logRetentionDays",)),
    Rule(r".*:(dashboard:Grafana|authorization:RoleAssignment)", EXISTS, ("monitoring.grafana",)),
    Rule(
        r".*:(alertsmanagement:PrometheusRuleGroup|monitor:(ActionGroup|MetricAlert))",
        r"ruleGroupName|actionGroupName|groupShortName|ruleName|clusterName|scopes\[0\]"
        r"|description|rules\[\d+\]\.labels\.stack|actions\[0\]\.actionGroupId"
        r"|rules\[\d+\]\.actions\[0\]\.actionGroupId",
        ("environment",),
    ),
    Rule(r".*:monitor:ActionGroup", r"emailReceivers\[\d+\]\..*", ("monitoring.emails",)),
    # Each threshold reaches its own alerts' expressions, durations, summaries.
    *[
        Rule(
            r".*:alertsmanagement:PrometheusRuleGroup",
            r"rules\[\d+\]\.(expression|for|annotations\.summary)",
            (f"monitoring.alerts.{key}",),
        )
        for key in (
            "errorRatio",
            "latencyP95Seconds",
            "podRestartsPerHour",
            "hpaAtMaxMinutes",
            "queueReadyMessages",
            "queueUnackedMessages",
        )
    ],
    Rule(
        r".*:monitor:MetricAlert",
        r"criteria\.allOf\[0\]\.threshold|description",
        ("monitoring.alerts.postgres*",),
    ),
    # Services: replica counts or autoscaling, log level, the public edge.
    Rule(
        r"kubernetes:apps/v1:Deployment",
        r"spec\.replicas",
        ("services.{service}.replicas", "services.{service}.autoscaling.*"),
    ),
    Rule(HPA, EXISTS, ("services.{service}.autoscaling.*",)),
    Rule(SCALED_OBJECT, EXISTS, ("services.{service}.autoscaling.*",)),
    Rule(TRIGGER_AUTHENTICATION, EXISTS, ("services.{service}.autoscaling.*",)),
    # A service scaling on its queue (production only) opens AMQP to the KEDA operator: one
    # broker NetworkPolicy rule and the port-level PeerAuthentication (components/rabbitmq.py).
    Rule(
        r"kubernetes:networking.k8s.io/v1:NetworkPolicy",
        r"spec\.ingress\[3\]\..*",
        ("services.*.autoscaling.*",),
    ),
    Rule(
        r"kubernetes:security.istio.io/v1:PeerAuthentication",
        EXISTS,
        ("services.*.autoscaling.*",),
    ),
    Rule(r"kubernetes:core/v1:ConfigMap", r"data\.LOG_LEVEL", ("logLevel",)),
    # The pod template carries a hash of the ConfigMap, so pods restart when it changes.
    Rule(
        r"kubernetes:apps/v1:Deployment",
        r"spec\.template\.metadata\.annotations\.micromart\.io/config-hash",
        ("logLevel", "services.{service}.env.*"),
    ),
    Rule(
        r"kubernetes:networking.istio.io/v1:(Gateway|VirtualService)",
        r"spec\.(servers\[\d+\]\.)?hosts\[\d+\]",
        ("ingress.hostname",),
    ),
    Rule(
        r"kubernetes:networking.istio.io/v1:Gateway",
        r"spec\.servers\[\d+\]\.tls\.credentialName",
        ("ingress.tlsSecretName",),
    ),
    # The certificate sync writes the Gateway's credentialName (components/gateway_tls.py).
    Rule(
        r"kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass",
        r"spec\.secretObjects\[\d+\]\.secretName",
        ("ingress.tlsSecretName",),
    ),
)


def explaining_keys(difference: Difference, differing: set[str]) -> set[str]:
    """The differing config keys that explain `difference` (empty: unexplained)."""
    keys: set[str] = set()
    for rule in RULES:
        match = re.fullmatch(rule.field, difference.field)
        if not re.fullmatch(rule.type, difference.type) or match is None:
            continue
        values = {**match.groupdict(), "service": difference.service}
        for pattern in rule.keys:
            keys |= {key for key in differing if fnmatchcase(key, pattern.format(**values))}
    return keys


@pytest.fixture(scope="module")
def differences(staging: SynthResult, production: SynthResult) -> list[Difference]:
    return resource_differences(staging, production)


def test_the_stack_files_differ_in_the_expected_areas() -> None:
    areas = {key.split(".")[0] for key in differing_config_keys()}
    assert areas == {
        "environment",
        "logLevel",
        "tags",
        "registry",
        "vault",
        "network",
        "cluster",
        "postgres",
        "rabbitmq",
        "ingress",
        "monitoring",
        "quota",
        "services",
    }
    # Both stacks pin the same platform versions.
    for same in ("cluster.kubernetesVersion", "cluster.istioRevision", "postgres.version"):
        assert setting("staging", same) == setting("production", same), same


def test_every_resource_difference_is_explained_by_a_config_difference(
    differences: list[Difference],
) -> None:
    differing = differing_config_keys()
    assert differences, "the stacks cannot be identical"
    unexplained = [d for d in differences if not explaining_keys(d, differing)]
    assert unexplained == []


def test_every_config_difference_reaches_the_resources(differences: list[Difference]) -> None:
    differing = differing_config_keys()
    explained: set[str] = set()
    for difference in differences:
        explained |= explaining_keys(difference, differing)
    assert sorted(differing - explained) == []


# Resources production adds for its private network (registry endpoint, NAT, upgrade window).
PRIVATE_PRODUCTION = re.compile(
    r".*\$azure-native:(network:(PrivateEndpoint|PrivateDnsZoneGroup|NatGateway|PublicIPAddress)"
    r"|privatedns:(PrivateZone|VirtualNetworkLink)|containerservice:MaintenanceConfiguration"
    r"|operationalinsights:Workspace)::.*"
    # and Managed Grafana (monitoring.grafana) with its read access to the metrics workspace.
    r"|.*\$azure-native:(dashboard:Grafana|authorization:RoleAssignment)::micromart-grafana.*"
)


# The broker's port-level PeerAuthentication for KEDA, only where a service scales on its queue.
QUEUE_SCALER_ACCESS = re.compile(
    r".*RabbitMQ\$kubernetes:security\.istio\.io/v1:PeerAuthentication::micromart-keda-amqp-mtls"
)


def test_same_resources_in_both_stacks_except_autoscalers(
    staging: SynthResult, production: SynthResult
) -> None:
    before = {stable_urn(r) for r in staging.resources if r.type != STACK_TYPE}
    after = {stable_urn(r) for r in production.resources if r.type != STACK_TYPE}
    assert before - after == set()
    only_production = after - before
    unexpected = [
        urn
        for urn in only_production
        if not any(f"${t}::" in urn for t in AUTOSCALER_TYPES)
        and not PRIVATE_PRODUCTION.fullmatch(urn)
        and not QUEUE_SCALER_ACCESS.fullmatch(urn)
    ]
    assert unexpected == []

    for stack, result in (("staging", staging), ("production", production)):
        program = load_program_config(
            read_stack_file(PROJECT_DIR, stack).config, stack, PROJECT_DIR / "services"
        )
        autoscaled = {spec.name for spec in program.services if spec.autoscaling.enabled}
        with_hpa = {r.name.removesuffix("-hpa") for r in of_type(result, HPA)}
        with_keda = {r.name.removesuffix("-scaled-object") for r in of_type(result, SCALED_OBJECT)}
        assert with_hpa | with_keda == autoscaled, stack
        assert not with_hpa & with_keda, "one autoscaler per Deployment"
    assert not of_type(staging, HPA) and not of_type(staging, SCALED_OBJECT)
    assert len(of_type(production, HPA)) + len(of_type(production, SCALED_OBJECT)) == 5


# -- curated fields: each stack's value is its own file's value -------------------------------


def one(result: SynthResult, type_token: str) -> dict[str, Any]:
    (resource,) = of_type(result, type_token)
    return resource.plain_inputs()


def registry(result: SynthResult) -> dict[str, Any]:
    return one(result, "azure-native:containerregistry:Registry")


def cluster(result: SynthResult) -> dict[str, Any]:
    return one(result, "azure-native:containerservice:ManagedCluster")


def pool(mode: str, key: str, result: SynthResult) -> Any:
    (found,) = [p for p in cluster(result)["agentPoolProfiles"] if p["mode"] == mode]
    return found.get(key, [])


def server(result: SynthResult) -> dict[str, Any]:
    return one(result, "azure-native:dbforpostgresql:Server")


def broker(result: SynthResult) -> dict[str, Any]:
    spec: dict[str, Any] = one(result, "kubernetes:apps/v1:StatefulSet")["spec"]
    return spec


def gateway_servers(result: SynthResult) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = one(result, "kubernetes:networking.istio.io/v1:Gateway")[
        "spec"
    ]["servers"]
    return servers


def public_hosts(result: SynthResult) -> set[str]:
    hosts = {host for server in gateway_servers(result) for host in server["hosts"]}
    for route in kube_objects(result, "VirtualService"):
        if route["spec"].get("gateways"):
            hosts |= set(route["spec"]["hosts"])
    return hosts


def log_levels(result: SynthResult) -> set[str]:
    return {
        config["data"]["LOG_LEVEL"]
        for config in kube_objects(result, "ConfigMap")
        if "LOG_LEVEL" in config.get("data", {})
    }


def azure_tags(result: SynthResult) -> list[Any]:
    return [
        r.plain_inputs().get("tags")
        for r in result.resources
        if r.type.startswith("azure-native:") and "tags" in r.plain_inputs()
    ]


@dataclass(frozen=True)
class Check:
    name: str
    actual: Callable[[SynthResult], Any]
    expected: Callable[[str], Any]


ON_OFF = {True: "Enabled", False: "Disabled"}
CHECKS = [
    Check(
        "registry sku", lambda r: registry(r)["sku"]["name"], lambda s: setting(s, "registry.sku")
    ),
    Check(
        "registry zone redundancy",
        lambda r: registry(r)["zoneRedundancy"],
        lambda s: ON_OFF[setting(s, "registry.zoneRedundancy", False)],
    ),
    Check(
        "cluster sku tier",
        lambda r: cluster(r)["sku"]["tier"],
        lambda s: setting(s, "cluster.skuTier"),
    ),
    *[
        Check(
            f"{mode} pool {key}",
            partial(pool, mode, key),
            partial(lambda name, key, s: setting(s, f"cluster.{name}.{key}"), name, key),
        )
        for mode, name in (("System", "systemPool"), ("User", "userPool"))
        for key in ("vmSize", "minCount", "maxCount")
    ],
    *[
        Check(
            f"{mode} pool zones",
            partial(pool, mode, "availabilityZones"),
            lambda s: setting(s, "cluster.zones", []),
        )
        for mode in ("System", "User")
    ],
    Check(
        "postgres sku", lambda r: server(r)["sku"]["name"], lambda s: setting(s, "postgres.skuName")
    ),
    Check(
        "postgres tier", lambda r: server(r)["sku"]["tier"], lambda s: setting(s, "postgres.tier")
    ),
    Check(
        "postgres storage",
        lambda r: server(r)["storage"]["storageSizeGB"],
        lambda s: setting(s, "postgres.storageGb"),
    ),
    Check(
        "postgres backup retention",
        lambda r: server(r)["backup"]["backupRetentionDays"],
        lambda s: setting(s, "postgres.backupRetentionDays"),
    ),
    Check(
        "postgres geo-redundant backup",
        lambda r: server(r)["backup"]["geoRedundantBackup"],
        lambda s: ON_OFF[setting(s, "postgres.geoRedundantBackup")],
    ),
    Check(
        "postgres high availability",
        lambda r: server(r)["highAvailability"]["mode"],
        lambda s: "ZoneRedundant" if setting(s, "postgres.highAvailability") else "Disabled",
    ),
    Check(
        "rabbitmq replicas",
        lambda r: broker(r)["replicas"],
        lambda s: setting(s, "rabbitmq.replicas"),
    ),
    Check(
        "rabbitmq storage",
        lambda r: broker(r)["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        lambda s: setting(s, "rabbitmq.storage"),
    ),
    Check(
        "rabbitmq resources",
        lambda r: broker(r)["template"]["spec"]["containers"][0]["resources"],
        lambda s: setting(s, "rabbitmq.resources"),
    ),
    Check("public hostname", public_hosts, lambda s: {setting(s, "ingress.hostname")}),
    Check(
        "TLS secret",
        lambda r: {
            server["tls"]["credentialName"]
            for server in gateway_servers(r)
            if "credentialName" in server.get("tls", {})
        },
        lambda s: {setting(s, "ingress.tlsSecretName")},
    ),
    Check("log level of every service", log_levels, lambda s: {setting(s, "logLevel")}),
    Check(
        "tags on every Azure resource",
        lambda r: [tags for tags in azure_tags(r) if tags != setting(r.stack, "tags")],
        lambda s: [],
    ),
    Check(
        "resource group name",
        lambda r: one(r, "azure-native:resources:ResourceGroup")["resourceGroupName"],
        lambda s: f"rg-micromart-{setting(s, 'environment')}",
    ),
    Check(
        "cluster name",
        lambda r: cluster(r)["resourceName"],
        lambda s: f"aks-micromart-{setting(s, 'environment')}",
    ),
]


@pytest.mark.parametrize("check", CHECKS, ids=[check.name for check in CHECKS])
@pytest.mark.parametrize("stack", STACKS)
def test_field_takes_its_stack_file_value(
    request: pytest.FixtureRequest, stack: str, check: Check
) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    assert check.actual(result) == check.expected(stack)


def test_curated_fields_differ_only_where_the_files_differ(
    staging: SynthResult, production: SynthResult
) -> None:
    for check in CHECKS:
        files_agree = check.expected("staging") == check.expected("production")
        stacks_agree = check.actual(staging) == check.actual(production)
        assert files_agree == stacks_agree, check.name


TAGGED = {
    "azure-native:resources:ResourceGroup",
    "azure-native:network:VirtualNetwork",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "azure-native:containerservice:ManagedCluster",
    "azure-native:containerregistry:Registry",
    "azure-native:dbforpostgresql:Server",
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_azure_resource_carries_the_stack_tags(
    request: pytest.FixtureRequest, stack: str
) -> None:
    result: SynthResult = request.getfixturevalue(stack)
    tagged = {r.type for r in result.resources if "tags" in r.plain_inputs()}
    assert tagged >= TAGGED


def service_deployments(result: SynthResult) -> list[dict[str, Any]]:
    """The services' Deployments: not the certificate sync's in aks-istio-ingress (fixed at
    components/gateway_tls.py REPLICAS; tests/components/test_gateway_tls.py)."""
    found = [
        d for d in kube_objects(result, "Deployment") if d["metadata"]["namespace"] == "micromart"
    ]
    assert len(found) < len(kube_objects(result, "Deployment"))
    return found


def test_service_replicas_are_fixed_in_staging_and_autoscaled_in_production(
    staging: SynthResult, production: SynthResult
) -> None:
    for deployment in service_deployments(staging):
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["replicas"] == setting("staging", f"services.{name}.replicas")
    program = load_program_config(
        read_stack_file(PROJECT_DIR, "production").config, "production", PROJECT_DIR / "services"
    )
    autoscalers = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in kube_objects(production, HPA_KIND)
    }
    for scaled in kube_objects(production, "ScaledObject"):
        # The same floor and ceiling under KEDA's names.
        bounds = {"minReplicas": "minReplicaCount", "maxReplicas": "maxReplicaCount"}
        floor_and_ceiling = {field: scaled["spec"][keda] for field, keda in bounds.items()}
        autoscalers[scaled["spec"]["scaleTargetRef"]["name"]] = {"spec": floor_and_ceiling}
    for deployment in service_deployments(production):
        name = deployment["metadata"]["name"]
        # With an HPA the Deployment must not set replicas, or every `up` fights the autoscaler.
        assert "replicas" not in deployment["spec"], name
        spec = program.service(name).autoscaling
        assert autoscalers[name]["spec"]["minReplicas"] == spec.min_replicas, name
        assert autoscalers[name]["spec"]["maxReplicas"] == spec.max_replicas, name
    for name in ("gateway", "orders"):
        override = setting("production", f"services.{name}.autoscaling")
        assert autoscalers[name]["spec"]["minReplicas"] == override["minReplicas"], name
        assert autoscalers[name]["spec"]["maxReplicas"] == override["maxReplicas"], name
