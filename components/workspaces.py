"""Where the stack's telemetry lands: a Log Analytics workspace and an Azure Monitor workspace.

Built before the cluster: the AKS monitoring add-on (Container Insights) and Defender name the
Log Analytics workspace in the cluster's own definition. Logs, AKS control-plane and resource
diagnostics go to Log Analytics; Prometheus metrics (managed Prometheus) to the Azure Monitor
workspace, which Managed Grafana reads when the stack turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, dashboard, monitor, operationalinsights

from components.azure import MONITORING_DATA_READER_ROLE_ID, Placement, role_definition_id
from components.config.stack import MonitoringConfig


@dataclass(frozen=True)
class MonitoringWorkspacesArgs:
    config: MonitoringConfig
    placement: Placement
    environment: str


class MonitoringWorkspaces(pulumi.ComponentResource):
    log_analytics_id: pulumi.Output[str]
    monitor_workspace_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: MonitoringWorkspacesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:workspaces:MonitoringWorkspaces", name, None, opts)
        placement = args.placement
        logs = operationalinsights.Workspace(
            f"{name}-logs",
            args=operationalinsights.WorkspaceArgs(
                workspace_name=f"log-micromart-{args.environment}",
                resource_group_name=placement.resource_group_name,
                location=placement.location,
                tags=placement.tags,
                sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
                retention_in_days=args.config.log_retention_days,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        metrics = monitor.AzureMonitorWorkspace(
            f"{name}-prometheus",
            azure_monitor_workspace_name=f"amw-micromart-{args.environment}",
            resource_group_name=placement.resource_group_name,
            location=placement.location,
            tags=placement.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.config.grafana:
            self._grafana(name, args, metrics)
        self.log_analytics_id = logs.id
        self.monitor_workspace_id = metrics.id
        self.register_outputs(
            {
                "log_analytics_id": self.log_analytics_id,
                "monitor_workspace_id": self.monitor_workspace_id,
            }
        )

    def _grafana(
        self, name: str, args: MonitoringWorkspacesArgs, metrics: monitor.AzureMonitorWorkspace
    ) -> None:
        """Managed Grafana with the Azure Monitor workspace as its Prometheus data source."""
        grafana = dashboard.Grafana(
            f"{name}-grafana",
            # Grafana workspace names are at most 23 characters.
            workspace_name=f"amg-micromart-{args.environment[:4]}",
            resource_group_name=args.placement.resource_group_name,
            location=args.placement.location,
            tags=args.placement.tags,
            sku=dashboard.ResourceSkuArgs(name="Standard"),
            identity=dashboard.ManagedServiceIdentityArgs(type="SystemAssigned"),
            properties=dashboard.ManagedGrafanaPropertiesArgs(
                # Sign-in is Entra ID only; API keys and service accounts would be credentials
                # outside it.
                api_key="Disabled",
                grafana_integrations=dashboard.GrafanaIntegrationsArgs(
                    azure_monitor_workspace_integrations=[
                        dashboard.AzureMonitorWorkspaceIntegrationArgs(
                            azure_monitor_workspace_resource_id=metrics.id
                        )
                    ]
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Grafana queries the workspace with its own identity: read access to that workspace only.
        authorization.RoleAssignment(
            f"{name}-grafana-data-reader",
            args=authorization.RoleAssignmentArgs(
                principal_id=grafana.identity.apply(
                    lambda identity: identity.principal_id if identity else ""
                ),
                principal_type="ServicePrincipal",
                role_definition_id=role_definition_id(MONITORING_DATA_READER_ROLE_ID, self),
                scope=metrics.id,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
