"""The stack config: every `micromart:*` key a `Pulumi.<stack>.yaml` may set."""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from components.config.base import (
    CpuQuantity,
    Digest,
    DnsLabel,
    ImageTag,
    MemoryQuantity,
    PinnedTag,
    ResourceRequirements,
    Strict,
)
from components.config.kubernetes_versions import check_aks_version, check_istio_revision
from components.config.service_spec import ServiceOverride

# Regions with availability zones and both AKS and PostgreSQL Flexible Server zone-redundant HA.
# Kept explicit so a typo ('westeurop') fails at config time instead of mid-deployment.
AZURE_LOCATIONS = frozenset(
    {
        "australiaeast",
        "brazilsouth",
        "canadacentral",
        "centralindia",
        "centralus",
        "eastasia",
        "eastus",
        "eastus2",
        "francecentral",
        "germanywestcentral",
        "japaneast",
        "koreacentral",
        "northeurope",
        "norwayeast",
        "southafricanorth",
        "southcentralus",
        "southeastasia",
        "swedencentral",
        "switzerlandnorth",
        "uksouth",
        "westeurope",
        "westus2",
        "westus3",
    }
)

MIN_ISTIO_MINOR = 30


def _cidr_text(value: str) -> str:
    # ipaddress reads a bare address as a /32: without this, "10.40.0.0" would be a one-host
    # network that no subnet fits in, reported as a confusing containment error.
    if "/" not in value:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(
                f"'{value}' is not an IPv4 CIDR: write <address>/<prefix length>"
            ) from None
        raise ValueError(f"'{value}' has no prefix length: write it as {value}/<prefix length>")
    try:
        ipaddress.IPv4Network(value)
    except ValueError as error:
        raise ValueError(f"'{value}' is not an IPv4 CIDR ({error})") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr_text)]
Uuid = Annotated[
    str,
    Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]
Zone = Literal["1", "2", "3"]


# One cron field: numbers, `*`, ranges, steps and lists (ACR Tasks timer triggers take the
# five-field NCRONTAB form without seconds, in UTC: Microsoft Learn, "Run an ACR task on a
# defined schedule", Cron expressions).
_CRON_FIELD = (
    r"(?:\*|\d{1,2}(?:-\d{1,2})?)(?:/\d{1,2})?(?:,(?:\*|\d{1,2}(?:-\d{1,2})?)(?:/\d{1,2})?)*"
)
Cron = Annotated[str, Field(pattern=rf"^{_CRON_FIELD}(?: {_CRON_FIELD}){{4}}$")]


class RegistryCleanup(Strict):
    """The scheduled `acr purge` (components/registry_cleanup.py)."""

    enabled: bool = True
    # Sundays 03:00 UTC: outside the deploy window, once a week is plenty for a few builds a day.
    schedule: Cron = "0 3 * * 0"
    # The newest `keep` tags of each repository always stay, whatever their age.
    keep: int = Field(default=10, ge=1, le=1000)
    # Only tags (and untagged manifests) last updated more than this many days ago go.
    ago_days: int = Field(default=30, ge=1, le=3650, alias="agoDays")
    # Also delete manifests left without a tag (the storage); locked ones never.
    untagged: bool = True


class RegistryConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9]{5,50}$")]
    sku: Literal["Basic", "Standard", "Premium"] = "Standard"
    zone_redundancy: bool = Field(default=False, alias="zoneRedundancy")
    retention_days: int = Field(default=7, ge=0, le=365, alias="retentionDays")
    # Public network access off, reachable only through a private endpoint in the VNet.
    private_network: bool = Field(default=False, alias="privateNetwork")
    cleanup: RegistryCleanup = RegistryCleanup()

    @model_validator(mode="after")
    def _premium_features(self) -> RegistryConfig:
        for label, wanted in (
            ("zoneRedundancy", self.zone_redundancy),
            ("privateNetwork", self.private_network),
        ):
            if wanted and self.sku != "Premium":
                raise ValueError(f"{label} needs sku Premium (got {self.sku})")
        return self

    @property
    def login_server(self) -> str:
        return f"{self.name}.azurecr.io"


def _vault_name(value: str) -> str:
    # Azure's rules for Microsoft.KeyVault/vaults names (Microsoft Learn, "Naming rules and
    # restrictions for Azure resources", Microsoft.KeyVault): 3-24 characters, alphanumerics and
    # hyphens, starting with a letter, ending with a letter or digit, no consecutive hyphens.
    # The name is also a DNS label under vault.azure.net, so it is unique across all of Azure.
    if not 3 <= len(value) <= 24:
        raise ValueError(f"'{value}' has {len(value)} characters; a vault name has 3 to 24")
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ValueError(f"'{value}' may hold only letters, digits and hyphens")
    if not value[0].isalpha():
        raise ValueError(f"'{value}' must start with a letter")
    if value.endswith("-"):
        raise ValueError(f"'{value}' must end with a letter or digit")
    if "--" in value:
        raise ValueError(f"'{value}' has consecutive hyphens")
    return value


class KeyVaultConfig(Strict):
    """The stack's Key Vault: the generated passwords live there, pods read them as files."""

    name: Annotated[str, AfterValidator(_vault_name)]
    # Azure allows 7-90 days; the value is fixed once the vault exists.
    soft_delete_retention_days: int = Field(
        default=90, ge=7, le=90, alias="softDeleteRetentionDays"
    )
    # Public network access off, reachable only through a private endpoint in the VNet.
    private_network: bool = Field(default=False, alias="privateNetwork")


class NetworkConfig(Strict):
    address_space: Cidr = Field(alias="addressSpace")
    aks_subnet: Cidr = Field(alias="aksSubnet")
    postgres_subnet: Cidr = Field(alias="postgresSubnet")
    # Subnet for private endpoints (the registry's); required by registry.privateNetwork.
    private_endpoint_subnet: Cidr | None = Field(default=None, alias="privateEndpointSubnet")
    # Egress of the AKS subnet through a NAT gateway with a static public IP.
    nat_gateway: bool = Field(default=False, alias="natGateway")

    @model_validator(mode="after")
    def _subnets_inside(self) -> NetworkConfig:
        space = _network(self.address_space, "addressSpace")
        subnets = {
            "aksSubnet": _network(self.aks_subnet, "aksSubnet"),
            "postgresSubnet": _network(self.postgres_subnet, "postgresSubnet"),
        }
        if self.private_endpoint_subnet is not None:
            subnets["privateEndpointSubnet"] = _network(
                self.private_endpoint_subnet, "privateEndpointSubnet"
            )
        for label, subnet in subnets.items():
            if not subnet.subnet_of(space):
                raise ValueError(f"{label} ({subnet}) is not inside addressSpace ({space})")
        labels = list(subnets)
        for index, first in enumerate(labels):
            for second in labels[index + 1 :]:
                if subnets[first].overlaps(subnets[second]):
                    raise ValueError(
                        f"{first} ({subnets[first]}) overlaps {second} ({subnets[second]})"
                    )
        return self


def _network(cidr: str, label: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr)
    except ValueError as error:
        raise ValueError(f"{label}: '{cidr}' is not an IPv4 CIDR ({error})") from None


class NodePoolConfig(Strict):
    vm_size: Annotated[str, Field(pattern=r"^Standard_[A-Za-z0-9_]+$")] = Field(alias="vmSize")
    min_count: int = Field(ge=1, le=100, alias="minCount")
    max_count: int = Field(ge=1, le=1000, alias="maxCount")

    @model_validator(mode="after")
    def _min_below_max(self) -> NodePoolConfig:
        if self.min_count > self.max_count:
            raise ValueError(f"minCount ({self.min_count}) > maxCount ({self.max_count})")
        return self


Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class MaintenanceWindowConfig(Strict):
    """Weekly window for AKS cluster and node-OS upgrades (aksManaged*UpgradeSchedule)."""

    day_of_week: Weekday = Field(alias="dayOfWeek")
    start_time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        alias="startTime"
    )
    # AKS requires at least 4 hours for these schedules (and allows at most 24).
    duration_hours: int = Field(default=4, ge=4, le=24, alias="durationHours")
    utc_offset: Annotated[str, Field(pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$")] = Field(
        default="+00:00", alias="utcOffset"
    )


# AKS accepts at most 200 authorized ranges (learn.microsoft.com, "API server authorized IP
# ranges", limitations).
MAX_AUTHORIZED_RANGES = 200
MIN_AUTHORIZED_PREFIX = 8
# Addresses no internet client has: RFC 1918, CGNAT, loopback, link-local, "this network".
_NOT_INTERNET = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
    )
)


class ClusterConfig(Strict):
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.[0-9]{1,2}$")] = Field(
        alias="kubernetesVersion"
    )
    sku_tier: Literal["Free", "Standard", "Premium"] = Field(default="Standard", alias="skuTier")
    network_policy: Literal["cilium", "azure"] = Field(default="cilium", alias="networkPolicy")
    auto_upgrade_channel: Literal["patch", "stable", "rapid", "node-image"] = Field(
        default="patch", alias="autoUpgradeChannel"
    )
    istio_revision: Annotated[str, Field(pattern=r"^asm-1-[0-9]+$")] = Field(alias="istioRevision")

    @field_validator("kubernetes_version")
    @classmethod
    def _aks_still_creates(cls, version: str, info: ValidationInfo) -> str:
        # "Today" comes from the caller so a test can pin the date the table is read at.
        context = info.context if isinstance(info.context, dict) else {}
        check_aks_version(version, context.get("today") or date.today())
        return version

    @field_validator("istio_revision")
    @classmethod
    def _cni_by_default(cls, revision: str, info: ValidationInfo) -> str:
        # Namespaces enforce the restricted Pod Security Standard, which rejects the privileged
        # istio-init container; from asm-1-30 the add-on redirects traffic with Istio CNI instead.
        if int(revision.rsplit("-", 1)[1]) < MIN_ISTIO_MINOR:
            raise ValueError(
                f"'{revision}' injects a privileged istio-init container that restricted Pod "
                f"Security rejects; use asm-1-{MIN_ISTIO_MINOR} or later (Istio CNI by default)"
            )
        version = info.data.get("kubernetes_version")
        if version is not None:
            check_istio_revision(revision, version)
        return revision

    admin_group_object_ids: Annotated[tuple[Uuid, ...], Field(strict=False)] = Field(
        default=(), alias="adminGroupObjectIds"
    )
    zones: Annotated[tuple[Zone, ...], Field(strict=False)] = ()
    system_pool: NodePoolConfig = Field(alias="systemPool")
    user_pool: NodePoolConfig = Field(alias="userPool")
    # Public CIDRs (CI egress, operators) allowed to reach the API server; empty = anyone, which
    # the policy pack rejects.
    api_server_authorized_ip_ranges: Annotated[tuple[Cidr, ...], Field(strict=False)] = Field(
        default=(), alias="apiServerAuthorizedIpRanges", max_length=MAX_AUTHORIZED_RANGES
    )
    maintenance_window: MaintenanceWindowConfig | None = Field(
        default=None, alias="maintenanceWindow"
    )
    # Microsoft Defender for Containers (sensor + a Log Analytics workspace) and the Azure Policy
    # add-on (Gatekeeper with the subscription's Azure Policy assignments).
    defender: bool = False
    azure_policy: bool = Field(default=False, alias="azurePolicy")

    @field_validator("api_server_authorized_ip_ranges")
    @classmethod
    def _public_ranges(cls, ranges: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in ranges:
            try:
                network = ipaddress.IPv4Network(cidr)
            except ValueError as error:
                # AKS rejects a range that does not start at its first address.
                raise ValueError(f"'{cidr}' is not an IPv4 CIDR ({error})") from None
            if network.prefixlen < MIN_AUTHORIZED_PREFIX:
                raise ValueError(f"'{cidr}' is wider than /{MIN_AUTHORIZED_PREFIX}")
            if any(network.overlaps(private) for private in _NOT_INTERNET):
                raise ValueError(
                    f"'{cidr}' overlaps a private range; the API server only sees public addresses"
                )
        return ranges


class PostgresConfig(Strict):
    server_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")] = Field(
        alias="serverName"
    )
    version: Literal["14", "15", "16", "17"] = "16"
    sku_name: Annotated[str, Field(pattern=r"^Standard_[A-Za-z0-9_]+$")] = Field(alias="skuName")
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"]
    storage_gb: int = Field(ge=32, le=32768, alias="storageGb")
    backup_retention_days: int = Field(ge=7, le=35, alias="backupRetentionDays")
    geo_redundant_backup: bool = Field(alias="geoRedundantBackup")
    high_availability: bool = Field(alias="highAvailability")
    admin_login: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,62}$")] = Field(
        default="micromartadmin", alias="adminLogin"
    )

    @model_validator(mode="after")
    def _ha_needs_general_purpose(self) -> PostgresConfig:
        if self.high_availability and self.tier == "Burstable":
            raise ValueError("highAvailability is not available on the Burstable tier")
        return self


class RabbitMqConfig(Strict):
    replicas: Literal[1, 3, 5]
    image_tag: ImageTag = Field(alias="imageTag")
    storage: MemoryQuantity
    # Zone-redundant disks let a broker pod move to another zone with its data.
    disk_sku: Literal["Premium_LRS", "Premium_ZRS", "StandardSSD_LRS", "StandardSSD_ZRS"] = Field(
        default="Premium_LRS", alias="diskSku"
    )
    resources: ResourceRequirements


class QuotaConfig(Strict):
    """Per-namespace ceiling, so one runaway autoscaler cannot starve the rest of the cluster."""

    requests_cpu: CpuQuantity = Field(default="8", alias="requestsCpu")
    requests_memory: MemoryQuantity = Field(default="16Gi", alias="requestsMemory")
    limits_cpu: CpuQuantity = Field(default="16", alias="limitsCpu")
    limits_memory: MemoryQuantity = Field(default="32Gi", alias="limitsMemory")
    pods: int = Field(default=100, ge=1, le=5000)


class IngressConfig(Strict):
    hostname: Annotated[str, Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")]
    # The Kubernetes TLS Secret in aks-istio-ingress (the Gateway's credentialName) that the
    # CSI driver creates from the Key Vault certificate below and keeps in sync with it.
    tls_secret_name: DnsLabel = Field(alias="tlsSecretName")
    # A certificate in the stack's Key Vault, imported or issued out of band (README, Real use).
    # Key Vault object names: 1-127 letters, digits and hyphens.
    certificate_name: Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{1,127}$")] = Field(
        alias="certificateName"
    )


class ImagesConfig(Strict):
    """Build every service from source, or deploy images that CI already built, scanned, signed.

    `digests` maps an image (a service name, or `rabbitmq`) to the digest CI pushed for this
    commit; a digest wins over `build` and `tag`, so CI deploys the exact bytes it scanned.
    """

    build: bool = True
    tag: PinnedTag | None = None
    digests: dict[DnsLabel, Digest] = {}

    @model_validator(mode="after")
    def _prebuilt_needs_tag(self) -> ImagesConfig:
        if not self.build and self.tag is None and not self.digests:
            raise ValueError("tag is required when build is false (or digests for every image)")
        return self


# The runtime's request-latency histogram bounds (services/micromart_runtime/metrics.py,
# LATENCY_BUCKETS; a test keeps both equal). A p95 above the largest finite bound cannot be
# measured: histogram_quantile answers that bound for anything slower.
LATENCY_BUCKET_MAX_SECONDS = 10.0
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _email(address: str) -> str:
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"'{address}' is not an email address (name@domain.tld)")
    return address


Email = Annotated[str, AfterValidator(_email)]


class EmailReceiverConfig(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$")]
    address: Email


class AlertThresholds(Strict):
    """Per-stack alert thresholds; each is documented with its alert in README "Operations"."""

    # Share of a service's API requests answered 5xx over 5 minutes.
    error_ratio: float = Field(default=0.05, gt=0, le=1, alias="errorRatio")
    # 95th percentile of a service's API latency over 5 minutes, in seconds.
    latency_p95_seconds: float = Field(default=1.0, gt=0, alias="latencyP95Seconds")
    # Container restarts of one pod within an hour.
    pod_restarts_per_hour: int = Field(default=3, ge=1, le=100, alias="podRestartsPerHour")
    # Minutes an autoscaler may sit at its maxReplicas before anyone is told.
    hpa_at_max_minutes: int = Field(default=15, ge=1, le=1440, alias="hpaAtMaxMinutes")
    # Ready messages in one RabbitMQ queue, and delivered-but-unacknowledged ones.
    queue_ready_messages: int = Field(default=1000, ge=1, alias="queueReadyMessages")
    queue_unacked_messages: int = Field(default=500, ge=1, alias="queueUnackedMessages")
    # PostgreSQL Flexible Server platform metrics (cpu_percent, storage_percent), 15-minute mean.
    postgres_cpu_percent: int = Field(default=80, ge=1, le=100, alias="postgresCpuPercent")
    postgres_storage_percent: int = Field(default=85, ge=1, le=100, alias="postgresStoragePercent")

    @field_validator("latency_p95_seconds")
    @classmethod
    def _measurable(cls, seconds: float) -> float:
        if seconds >= LATENCY_BUCKET_MAX_SECONDS:
            raise ValueError(
                f"{seconds:g} s is not below the largest latency bucket "
                f"({LATENCY_BUCKET_MAX_SECONDS:g} s): a p95 is never measured above it, so the "
                "alert could never fire"
            )
        return seconds


class MonitoringConfig(Strict):
    """Azure Monitor: Log Analytics, managed Prometheus, alerts and who they notify."""

    # Log Analytics interactive retention on the PerGB2018 tier: 30 to 730 days.
    log_retention_days: int = Field(default=30, ge=30, le=730, alias="logRetentionDays")
    # Azure Managed Grafana over the stack's Azure Monitor workspace (Standard SKU: billed hourly).
    grafana: bool = False
    # Who the action group emails; alerts with nobody to tell are noise in a portal.
    emails: Annotated[tuple[EmailReceiverConfig, ...], Field(strict=False, min_length=1)]
    alerts: AlertThresholds = AlertThresholds()

    @field_validator("emails")
    @classmethod
    def _distinct_names(
        cls, receivers: tuple[EmailReceiverConfig, ...]
    ) -> tuple[EmailReceiverConfig, ...]:
        names = [receiver.name for receiver in receivers]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"receiver names must be distinct: {', '.join(duplicates)}")
        return receivers


class StackConfig(Strict):
    environment: Literal["staging", "production"]
    location: str
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", alias="logLevel"
    )
    tags: dict[str, str] = {}
    registry: RegistryConfig
    vault: KeyVaultConfig
    network: NetworkConfig
    cluster: ClusterConfig
    postgres: PostgresConfig
    rabbitmq: RabbitMqConfig
    ingress: IngressConfig
    monitoring: MonitoringConfig
    quota: QuotaConfig = QuotaConfig()
    images: ImagesConfig = ImagesConfig()
    services: dict[str, ServiceOverride] = {}

    @model_validator(mode="after")
    def _private_services_need_endpoint_subnet(self) -> StackConfig:
        for label, private in (
            ("registry", self.registry.private_network),
            ("vault", self.vault.private_network),
        ):
            if private and self.network.private_endpoint_subnet is None:
                raise ValueError(
                    f"{label}.privateNetwork needs network.privateEndpointSubnet for its private "
                    "endpoint"
                )
        return self

    @field_validator("location")
    @classmethod
    def _known_location(cls, value: str) -> str:
        if value not in AZURE_LOCATIONS:
            raise ValueError(f"'{value}' is not a supported Azure region")
        return value

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def resource_group_name(self) -> str:
        return f"rg-micromart-{self.environment}"
