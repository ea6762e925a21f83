"""MicroMart on Azure: load config, build the platform, build each service, export. Wiring only."""

from pathlib import Path

import pulumi
from pulumi_azure_native import resources

from components.alerts import Alerts, AlertsArgs
from components.azure import Placement
from components.cluster import Cluster, ClusterArgs
from components.config.loader import ConfigError, load_from_pulumi
from components.istio import IstioCrds, IstioCrdsArgs
from components.keda import KedaCrds, KedaCrdsArgs
from components.keyvault import KeyVault, KeyVaultArgs
from components.microservice import (
    Broker,
    Microservice,
    MicroserviceArgs,
    PlatformEndpoints,
    SecretsAccess,
    env_secrets,
    postgres_password_secret,
    rabbitmq_password_secret,
)
from components.monitoring import (
    AKS_LOG_CATEGORIES,
    DiagnosticTarget,
    Monitoring,
    MonitoringArgs,
)
from components.namespaces import Namespaces, NamespacesArgs
from components.network import Network, NetworkArgs
from components.postgres import DatabaseClaim, PostgresServer, PostgresServerArgs
from components.postgres_roles import ADMIN_SECRET, DatabaseRoles, DatabaseRolesArgs
from components.rabbitmq import NAME as RABBITMQ_IMAGE
from components.rabbitmq import RabbitMQ, RabbitMQArgs
from components.registry import Registry, RegistryArgs
from components.registry_cleanup import (
    PurgeTarget,
    RegistryCleanupArgs,
    RegistryCleanupTask,
    rabbitmq_pinned_tags,
)
from components.secrets_store import SecretsStoreCrds, SecretsStoreCrdsArgs
from components.workspaces import MonitoringWorkspaces, MonitoringWorkspacesArgs

APP_NAMESPACE, MESSAGING_NAMESPACE = "micromart", "micromart-messaging"
ROOT = Path(__file__).resolve().parent

try:
    config = load_from_pulumi(ROOT / "services")
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
stack = config.stack

group = resources.ResourceGroup(
    "micromart-rg",
    args=resources.ResourceGroupArgs(
        resource_group_name=stack.resource_group_name,
        location=stack.location,
        tags=stack.tags,
    ),
    opts=pulumi.ResourceOptions(protect=stack.is_production),
)
placement = Placement(group.name, stack.location, stack.tags)
network = Network(
    "micromart",
    NetworkArgs(
        stack.network,
        placement,
        stack.environment,
        stack.registry.private_network,
        stack.vault.private_network,
    ),
)
workspaces = MonitoringWorkspaces(
    "micromart", MonitoringWorkspacesArgs(stack.monitoring, placement, stack.environment)
)
cluster = Cluster(
    "micromart",
    ClusterArgs(
        stack.cluster,
        placement,
        stack.environment,
        network.aks_subnet_id,
        network.nat_public_ip,
        log_analytics_id=workspaces.log_analytics_id,
    ),
)
registry = Registry(
    "micromart",
    RegistryArgs(
        stack.registry,
        placement,
        cluster.kubelet_object_id,
        network.registry_endpoint,
    ),
)
purge = PurgeTarget(stack.registry.cleanup, registry.registry_name, placement)
RegistryCleanupTask(
    "micromart",
    RegistryCleanupArgs(
        purge, {RABBITMQ_IMAGE: rabbitmq_pinned_tags(stack.rabbitmq, stack.images)}
    ),
)
istio = IstioCrds("micromart", IstioCrdsArgs(cluster.provider))
keda = KedaCrds("micromart", KedaCrdsArgs(cluster.provider))
secrets_store = SecretsStoreCrds("micromart", SecretsStoreCrdsArgs(cluster.provider))
namespaces = Namespaces(
    "micromart",
    NamespacesArgs(
        APP_NAMESPACE,
        MESSAGING_NAMESPACE,
        stack.cluster.istio_revision,
        stack.quota,
        cluster.provider,
        istio,
    ),
)
postgres_claims = [
    DatabaseClaim(s.name, s.postgres.database) for s in config.services if s.postgres
]
postgres = PostgresServer(
    "micromart",
    PostgresServerArgs(
        config=stack.postgres,
        placement=placement,
        delegated_subnet_id=network.postgres_subnet_id,
        private_dns_zone_id=network.postgres_dns_zone_id,
        databases=postgres_claims,
        protect=stack.is_production,
    ),
)
rabbitmq = RabbitMQ(
    "micromart",
    RabbitMQArgs(
        config=stack.rabbitmq,
        namespace=namespaces.messaging_namespace,
        namespace_name=MESSAGING_NAMESPACE,
        client_namespace=namespaces.app_namespace,
        login_server=registry.login_server,
        provider=cluster.provider,
        protect=stack.is_production,
        images=stack.images,
        clients=tuple(s.name for s in config.services if s.rabbitmq),
        queue_scalers=any(
            s.autoscaling.enabled and s.autoscaling.queue is not None for s in config.services
        ),
        istio=istio,
    ),
)
# The PostgreSQL passwords by Key Vault secret name: the vault stores them, and the bootstrap Job
# reads them and re-runs when one changes.
postgres_secrets = {
    ADMIN_SECRET: postgres.admin_password,
    **{postgres_password_secret(s): p for s, p in postgres.role_passwords.items()},
}
vault = KeyVault(
    "micromart",
    KeyVaultArgs(
        config=stack.vault,
        placement=placement,
        secrets={
            **postgres_secrets,
            "rabbitmq-admin-password": rabbitmq.admin_password,
            "rabbitmq-monitoring-password": rabbitmq.monitoring_password,
            **{
                rabbitmq_password_secret(service): password
                for service, password in rabbitmq.user_passwords.items()
            },
            **{
                name: value
                for spec in config.services
                for name, value in env_secrets(spec, config.secret_env_of(spec.name)).items()
            },
        },
        private_endpoint=network.keyvault_endpoint,
        allowed_subnet_ids=(network.aks_subnet_id,),
        protect=stack.is_production,
    ),
)
secrets_access = SecretsAccess(
    placement, cluster.oidc_issuer_url, vault.vault, vault.secret_ids, secrets_store
)
database_roles = DatabaseRoles(
    "micromart",
    DatabaseRolesArgs(
        claims=postgres_claims,
        host=postgres.fqdn,
        admin_login=stack.postgres.admin_login,
        namespace=namespaces.app_namespace,
        namespace_name=APP_NAMESPACE,
        postgres_subnet=stack.network.postgres_subnet,
        provider=cluster.provider,
        secrets=secrets_access,
        passwords=postgres_secrets,
        login_server=registry.login_server,
        images=stack.images,
    ),
)
broker = Broker(
    rabbitmq.amqp_host, rabbitmq.amqp_port, rabbitmq.vhost, rabbitmq.monitoring_secret_name
)
monitoring = Monitoring(
    "micromart",
    MonitoringArgs(
        placement=placement,
        cluster_name=cluster.aks_name,
        cluster_id=cluster.cluster_id,
        log_analytics_id=workspaces.log_analytics_id,
        monitor_workspace_id=workspaces.monitor_workspace_id,
        diagnostics=(
            DiagnosticTarget("aks", cluster.cluster_id, AKS_LOG_CATEGORIES, dedicated_tables=True),
            DiagnosticTarget("acr", registry.registry_id, metrics=True),
            DiagnosticTarget("postgres", postgres.server_id, metrics=True),
            DiagnosticTarget("keyvault", vault.vault.resource_id, metrics=True),
        ),
        scrape_namespaces=(APP_NAMESPACE, MESSAGING_NAMESPACE),
        provider=cluster.provider,
    ),
)
Alerts(
    "micromart",
    AlertsArgs(
        config=stack.monitoring,
        placement=placement,
        environment=stack.environment,
        cluster_name=cluster.aks_name,
        monitor_workspace_id=workspaces.monitor_workspace_id,
        postgres_server_id=postgres.server_id,
        namespaces=(APP_NAMESPACE, MESSAGING_NAMESPACE),
    ),
)
services = {
    spec.name: Microservice(
        spec.name,
        MicroserviceArgs(
            spec=spec,
            callers=config.callers_of(spec.name),
            namespace=namespaces.app_namespace,
            namespace_name=APP_NAMESPACE,
            source_dir=Path("services") / spec.name,
            login_server=registry.login_server,
            images=stack.images,
            log_level=stack.log_level,
            platform=PlatformEndpoints(
                postgres_subnet=stack.network.postgres_subnet,
                postgres_host=postgres.fqdn,
                rabbitmq=broker,
                rabbitmq_namespace=MESSAGING_NAMESPACE,
            ),
            provider=cluster.provider,
            istio=istio,
            secrets=secrets_access,
            keda=keda,
            ingress=stack.ingress if spec.public else None,
            secret_env=config.secret_env_of(spec.name),
            registry_cleanup=purge,
            database_roles=database_roles.job if spec.postgres else None,
        ),
    )
    for spec in config.services
}

pulumi.export("registryLoginServer", registry.login_server)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("publicHostname", stack.ingress.hostname)
pulumi.export("postgresFqdn", postgres.fqdn)
pulumi.export("images", {name: service.image for name, service in services.items()})
