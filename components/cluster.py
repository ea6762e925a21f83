"""AKS with Entra ID + Azure RBAC, no local accounts, workload identity and the Istio add-on.

The API server answers only the stack's authorized public ranges (plus the NAT gateway's IP,
through which the nodes themselves reach it); upgrades run inside the configured weekly window.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.containerservice as aks
import pulumi_kubernetes as k8s
from pulumi_azure_native import authorization, operationalinsights

from components import kubeconfig as kubeconfig_login
from components.azure import NETWORK_CONTRIBUTOR_ROLE_ID, Placement, role_definition_id
from components.config.stack import ClusterConfig, MaintenanceWindowConfig, NodePoolConfig

# The add-on's external gateway; Istio Gateways select it by this label.
INGRESS_GATEWAY_SELECTOR = {"istio": "aks-istio-ingressgateway-external"}


@dataclass(frozen=True)
class ClusterArgs:
    config: ClusterConfig
    placement: Placement
    environment: str
    subnet_id: pulumi.Input[str]
    # Public IP of the AKS subnet's NAT gateway: outbound type userAssignedNATGateway, and the
    # nodes' egress address must be an authorized range. None = the cluster's own load balancer.
    nat_public_ip: pulumi.Input[str] | None = None
    # Observability: the stack's Log Analytics workspace for Container Insights (the monitoring
    # add-on) and Defender; with it the managed Prometheus agent is turned on too. None: neither.
    log_analytics_id: pulumi.Input[str] | None = None


# AKS's reserved names for the two planned-maintenance schedules (AKS planned maintenance docs).
MAINTENANCE_SCHEDULES = ("aksManagedAutoUpgradeSchedule", "aksManagedNodeOSUpgradeSchedule")


class Cluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    kubelet_object_id: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(
        self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:cluster:Cluster", name, None, opts)
        config = args.config
        cluster_name = f"aks-micromart-{args.environment}"
        cluster = aks.ManagedCluster(
            f"{name}-aks",
            # Keyword form: ManagedClusterArgs collides with the resource's own `resource_name`.
            resource_name_=cluster_name,
            resource_group_name=args.placement.resource_group_name,
            location=args.placement.location,
            tags=args.placement.tags,
            dns_prefix=cluster_name,
            kubernetes_version=config.kubernetes_version,
            sku=aks.ManagedClusterSKUArgs(name="Base", tier=config.sku_tier),
            identity=aks.ManagedClusterIdentityArgs(type=aks.ResourceIdentityType.SYSTEM_ASSIGNED),
            enable_rbac=True,
            # Every human and pipeline authenticates through Entra ID; a static admin
            # kubeconfig would bypass that and cannot be revoked per person.
            disable_local_accounts=True,
            aad_profile=aks.ManagedClusterAADProfileArgs(
                managed=True,
                enable_azure_rbac=True,
                admin_group_object_ids=list(config.admin_group_object_ids) or None,
            ),
            agent_pool_profiles=[
                _pool("system", "System", config.system_pool, config, args.subnet_id),
                _pool("user", "User", config.user_pool, config, args.subnet_id),
            ],
            network_profile=aks.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium" if config.network_policy == "cilium" else "azure",
                network_policy=config.network_policy,
                load_balancer_sku="standard",
                outbound_type="userAssignedNATGateway" if args.nat_public_ip is not None else None,
                service_cidr="172.16.0.0/16",
                dns_service_ip="172.16.0.10",
                pod_cidr="192.168.0.0/16",
            ),
            api_server_access_profile=_api_server_access(config, args.nat_public_ip),
            oidc_issuer_profile=aks.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=aks.ManagedClusterSecurityProfileArgs(
                workload_identity=aks.ManagedClusterSecurityProfileWorkloadIdentityArgs(
                    enabled=True
                ),
                defender=self._defender(name, args) if config.defender else None,
            ),
            # The managed KEDA add-on: event-driven ScaledObjects (notifications scales on its
            # RabbitMQ queue); its KEDA version follows the cluster's Kubernetes minor.
            workload_auto_scaler_profile=aks.ManagedClusterWorkloadAutoScalerProfileArgs(
                keda=aks.ManagedClusterWorkloadAutoScalerProfileKedaArgs(enabled=True)
            ),
            addon_profiles=_addon_profiles(config, args.log_analytics_id),
            # Managed Prometheus: the ama-metrics agent; where it sends is the data collection
            # rule associated with the cluster (components/monitoring.py).
            azure_monitor_profile=aks.ManagedClusterAzureMonitorProfileArgs(
                metrics=aks.ManagedClusterAzureMonitorProfileMetricsArgs(enabled=True)
            )
            if args.log_analytics_id is not None
            else None,
            auto_upgrade_profile=aks.ManagedClusterAutoUpgradeProfileArgs(
                upgrade_channel=config.auto_upgrade_channel,
                node_os_upgrade_channel="NodeImage",
            ),
            service_mesh_profile=aks.ServiceMeshProfileArgs(
                mode="Istio",
                istio=aks.IstioServiceMeshArgs(
                    revisions=[config.istio_revision],
                    components=aks.IstioComponentsArgs(
                        ingress_gateways=[
                            aks.IstioIngressGatewayArgs(enabled=True, mode="External")
                        ]
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # The cluster autoscaler owns node counts after creation; sending `count` again
                # on every update would fight it.
                ignore_changes=[f"agentPoolProfiles[{index}].count" for index in range(2)],
            ),
        )
        if config.maintenance_window is not None:
            self._maintenance(name, cluster, args, config.maintenance_window)
        authorization.RoleAssignment(
            f"{name}-subnet-network-contributor",
            args=authorization.RoleAssignmentArgs(
                principal_id=cluster.identity.apply(
                    lambda identity: identity.principal_id if identity else ""
                ),
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(NETWORK_CONTRIBUTOR_ROLE_ID, self),
                scope=args.subnet_id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        credentials = aks.list_managed_cluster_user_credentials_output(
            resource_group_name=args.placement.resource_group_name,
            resource_name=cluster.name,
            # kubelogin exec plugin: non-interactive in CI through AAD_LOGIN_METHOD (azurecli,
            # workload identity); the legacy "azure" format cannot log in without a browser.
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        # AKS's kubeconfig would log in by device code, a prompt nobody sees inside `pulumi up`.
        kubeconfig = credentials.kubeconfigs.apply(
            lambda configs: kubeconfig_login.with_login(
                base64.b64decode(configs[0].value).decode(), kubeconfig_login.AZURE_CLI_LOGIN
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            args=k8s.ProviderArgs(
                kubeconfig=pulumi.Output.secret(kubeconfig),
                # The kubeconfig changes whenever credentials rotate; identifying the cluster by
                # its stable name keeps that from replacing every Kubernetes object.
                cluster_identifier=cluster_name,
                enable_server_side_apply=True,
                delete_unreachable=False,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cluster_name = cluster.name
        self.aks_name = cluster_name  # known before deployment: names the monitoring rules
        self.cluster_id = cluster.id
        self.kubelet_object_id = cluster.identity_profile.apply(_kubelet_object_id)
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(
            lambda profile: profile.issuer_url if profile else ""
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_id": self.cluster_id,
                "kubelet_object_id": self.kubelet_object_id,
                "oidc_issuer_url": self.oidc_issuer_url,
            }
        )

    def _defender(
        self, name: str, args: ClusterArgs
    ) -> aks.ManagedClusterSecurityProfileDefenderArgs:
        """Defender for Containers reports into a workspace of this stack."""
        if args.log_analytics_id is not None:
            return aks.ManagedClusterSecurityProfileDefenderArgs(
                log_analytics_workspace_resource_id=args.log_analytics_id,
                security_monitoring=aks.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs(
                    enabled=True
                ),
            )
        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            args=operationalinsights.WorkspaceArgs(
                workspace_name=f"log-micromart-{args.environment}",
                resource_group_name=args.placement.resource_group_name,
                location=args.placement.location,
                tags=args.placement.tags,
                sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
                retention_in_days=30,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return aks.ManagedClusterSecurityProfileDefenderArgs(
            log_analytics_workspace_resource_id=workspace.id,
            security_monitoring=aks.ManagedClusterSecurityProfileDefenderSecurityMonitoringArgs(
                enabled=True
            ),
        )

    def _maintenance(
        self,
        name: str,
        cluster: aks.ManagedCluster,
        args: ClusterArgs,
        window: MaintenanceWindowConfig,
    ) -> None:
        """Cluster and node-OS upgrades only inside the weekly window."""
        for schedule in MAINTENANCE_SCHEDULES:
            aks.MaintenanceConfiguration(
                f"{name}-{schedule}",
                # Keyword form: the Args class's `resource_name` collides with the resource's own
                # name in _internal_init (azure-native 3.29), so the cluster goes in resource_name_.
                resource_name_=cluster.name,
                resource_group_name=args.placement.resource_group_name,
                config_name=schedule,
                maintenance_window=_maintenance_window(window),
                opts=pulumi.ResourceOptions(parent=self),
            )


# AKS addon profile keys (Microsoft Learn, "Use the Azure Key Vault provider for Secrets Store CSI
# Driver in an AKS cluster": addonProfiles.azureKeyvaultSecretsProvider, config
# enableSecretRotation / rotationPollInterval; the Azure Policy add-on's key is "azurepolicy").
KEYVAULT_SECRETS_PROVIDER = "azureKeyvaultSecretsProvider"
SECRET_ROTATION_POLL_INTERVAL = "2m"


def _addon_profiles(
    config: ClusterConfig, log_analytics_id: pulumi.Input[str] | None
) -> dict[str, aks.ManagedClusterAddonProfileArgs]:
    profiles = {
        # The Secrets Store CSI driver and its Azure provider: pods mount their Key Vault
        # secrets as files. With rotation on, the driver re-reads every mounted secret each poll
        # interval and rewrites the file in place, so a new secret version reaches running pods
        # without a restart (the apps read the file when they need the value).
        KEYVAULT_SECRETS_PROVIDER: aks.ManagedClusterAddonProfileArgs(
            enabled=True,
            config={
                "enableSecretRotation": "true",
                "rotationPollInterval": SECRET_ROTATION_POLL_INTERVAL,
            },
        )
    }
    if config.azure_policy:
        profiles["azurepolicy"] = aks.ManagedClusterAddonProfileArgs(enabled=True)
    if log_analytics_id is not None:
        # Container Insights. useAADAuth: the agent authenticates with its managed identity and
        # takes its configuration from the data collection rule associated with the cluster,
        # not from the workspace's shared keys (az aks show ... addonProfiles.omsagent).
        profiles["omsagent"] = aks.ManagedClusterAddonProfileArgs(
            enabled=True,
            config={
                "logAnalyticsWorkspaceResourceID": log_analytics_id,
                "useAADAuth": "true",
            },
        )
    return profiles


def _maintenance_window(window: MaintenanceWindowConfig) -> aks.MaintenanceWindowArgs:
    return aks.MaintenanceWindowArgs(
        schedule=aks.ScheduleArgs(
            weekly=aks.WeeklyScheduleArgs(day_of_week=window.day_of_week, interval_weeks=1)
        ),
        duration_hours=window.duration_hours,
        start_time=window.start_time,
        utc_offset=window.utc_offset,
    )


def _api_server_access(
    config: ClusterConfig, nat_public_ip: pulumi.Input[str] | None
) -> aks.ManagedClusterAPIServerAccessProfileArgs | None:
    ranges = list(config.api_server_authorized_ip_ranges)
    if not ranges:
        return None  # open to the internet: the policy pack's aks-api-server-restricted says so
    if nat_public_ip is None:
        # With the Standard load balancer outbound, AKS adds its outbound IP itself.
        return aks.ManagedClusterAPIServerAccessProfileArgs(authorized_ip_ranges=ranges)
    with_nat = pulumi.Output.from_input(nat_public_ip).apply(
        lambda ip: authorized_ranges(ranges, ip)
    )
    return aks.ManagedClusterAPIServerAccessProfileArgs(authorized_ip_ranges=with_nat)


def authorized_ranges(configured: list[str], nat_ip: str) -> list[str]:
    """The configured ranges plus the NAT gateway's address, whose traffic the nodes send.

    AKS documents that it authorizes its own load balancer's outbound IP (learn.microsoft.com,
    "API server authorized IP ranges"); with a user-assigned NAT gateway the nodes' egress is the
    NAT IP, so it is listed explicitly rather than relying on AKS to discover it.
    """
    own = f"{nat_ip}/32"
    return [*configured, own] if nat_ip and own not in configured else list(configured)


def _pool(
    name: str,
    mode: str,
    pool: NodePoolConfig,
    config: ClusterConfig,
    subnet_id: pulumi.Input[str],
) -> aks.ManagedClusterAgentPoolProfileArgs:
    return aks.ManagedClusterAgentPoolProfileArgs(
        name=name,
        mode=mode,
        vm_size=pool.vm_size,
        os_type="Linux",
        os_sku="AzureLinux",
        enable_auto_scaling=True,
        count=pool.min_count,
        min_count=pool.min_count,
        max_count=pool.max_count,
        availability_zones=list(config.zones) or None,
        vnet_subnet_id=subnet_id,
        max_pods=110,
        # Keep application pods off the system pool so add-ons (CoreDNS, Istio) keep headroom.
        node_taints=["CriticalAddonsOnly=true:NoSchedule"] if mode == "System" else None,
        upgrade_settings=aks.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
    )


def _kubelet_object_id(profile: object) -> str:
    if not profile:
        return ""
    identity = profile.get("kubeletidentity") if isinstance(profile, dict) else None
    if identity is None:
        return ""
    object_id = getattr(identity, "object_id", None)
    if object_id is None and isinstance(identity, dict):
        object_id = identity.get("objectId") or identity.get("object_id")
    return str(object_id or "")
