"""PostgreSQL Flexible Server reachable only from the VNet, one database and secret per service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.dbforpostgresql as postgresql
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_azure_native import authorization

from components import kube
from components.azure import Placement
from components.config.stack import PostgresConfig

POSTGRES_PORT = 5432
DATABASE_URL_KEY = "DATABASE_URL"


@dataclass(frozen=True)
class DatabaseClaim:
    service: str
    database: str


@dataclass(frozen=True)
class PostgresServerArgs:
    config: PostgresConfig
    placement: Placement
    delegated_subnet_id: pulumi.Input[str]
    private_dns_zone_id: pulumi.Input[str]
    databases: Sequence[DatabaseClaim]
    secret_namespace: pulumi.Input[str]
    provider: k8s.Provider
    protect: bool


def secret_name(service: str) -> str:
    return f"{service}-postgres"


class PostgresServer(pulumi.ComponentResource):
    fqdn: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    # Service -> the password of its own database role (the roles themselves are created by the
    # in-cluster bootstrap Job; the services never see the admin password).
    role_passwords: dict[str, pulumi.Output[str]]
    # Output names, so a workload reading a secret waits until the database behind it exists.
    secret_names: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: PostgresServerArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("micromart:postgres:PostgresServer", name, None, opts)
        self._name = name
        self._args = args
        config = args.config
        password = self._password(f"{name}-admin-password")
        server = postgresql.Server(
            f"{name}-server",
            args=postgresql.ServerArgs(
                server_name=config.server_name,
                resource_group_name=args.placement.resource_group_name,
                location=args.placement.location,
                tags=args.placement.tags,
                version=config.version,
                administrator_login=config.admin_login,
                administrator_login_password=password.result,
                # Entra ID sign-in for people; the password login only for the service secrets.
                auth_config=postgresql.AuthConfigArgs(
                    password_auth="Enabled",
                    active_directory_auth="Enabled",
                    tenant_id=authorization.get_client_config_output(
                        opts=pulumi.InvokeOutputOptions(parent=self)
                    ).tenant_id,
                ),
                sku=postgresql.SkuArgs(name=config.sku_name, tier=config.tier),
                storage=postgresql.StorageArgs(
                    storage_size_gb=config.storage_gb, auto_grow="Enabled"
                ),
                backup=postgresql.BackupArgs(
                    backup_retention_days=config.backup_retention_days,
                    geo_redundant_backup="Enabled" if config.geo_redundant_backup else "Disabled",
                ),
                high_availability=postgresql.HighAvailabilityArgs(
                    mode="ZoneRedundant" if config.high_availability else "Disabled"
                ),
                network=postgresql.NetworkArgs(
                    delegated_subnet_resource_id=args.delegated_subnet_id,
                    private_dns_zone_arm_resource_id=args.private_dns_zone_id,
                    public_network_access="Disabled",
                ),
            ),
            opts=self._azure_opts(),
        )
        tls = postgresql.Configuration(
            f"{name}-require-tls",
            args=postgresql.ConfigurationArgs(
                resource_group_name=args.placement.resource_group_name,
                server_name=server.name,
                configuration_name="require_secure_transport",
                value="on",
                source="user-override",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Azure answers ServerIsBusy to a second operation on a flexible server while one is
        # running, so every child operation waits for the previous one: a chain, not a fan-out.
        previous: pulumi.Resource = tls
        self.fqdn = server.fully_qualified_domain_name.apply(lambda fqdn: fqdn or "")
        self.admin_password = password.result
        self.role_passwords = {
            claim.service: self._password(f"{name}-{claim.service}-role-password").result
            for claim in args.databases
        }
        self.secret_names = {}
        for claim in args.databases:
            database = postgresql.Database(
                f"{name}-{claim.service}-db",
                args=postgresql.DatabaseArgs(
                    resource_group_name=args.placement.resource_group_name,
                    server_name=server.name,
                    database_name=claim.database,
                    charset="UTF8",
                    collation="en_US.utf8",
                ),
                opts=self._azure_opts(depends_on=previous),
            )
            previous = database
            self.secret_names[claim.service] = self._connection_secret(
                claim, password.result, database, tls
            )
        self.register_outputs({"fqdn": self.fqdn, "secret_names": self.secret_names})

    def _password(self, resource_name: str) -> random.RandomPassword:
        # URL- and libpq-safe specials: the value goes into connection strings unquoted.
        return random.RandomPassword(
            resource_name,
            args=random.RandomPasswordArgs(length=32, special=True, override_special="-_.~"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _azure_opts(self, depends_on: pulumi.Resource | None = None) -> pulumi.ResourceOptions:
        # Production data must survive a mistaken `pulumi destroy` or a rename.
        return pulumi.ResourceOptions(
            parent=self,
            protect=self._args.protect,
            depends_on=[depends_on] if depends_on is not None else None,
        )

    def _connection_secret(
        self,
        claim: DatabaseClaim,
        password: pulumi.Output[str],
        database: postgresql.Database,
        tls: postgresql.Configuration,
    ) -> pulumi.Output[str]:
        login = self._args.config.admin_login
        url = pulumi.Output.all(self.fqdn, password).apply(
            lambda values: (
                f"postgresql://{login}:{values[1]}@{values[0]}:{POSTGRES_PORT}/"
                f"{claim.database}?sslmode=verify-full"
            )
        )
        name = secret_name(claim.service)
        secret = k8s.core.v1.Secret(
            f"{self._name}-{claim.service}-secret",
            metadata=kube.metadata(name, self._args.secret_namespace, kube.labels(claim.service)),
            type="Opaque",
            string_data={DATABASE_URL_KEY: kube.secret(url)},
            opts=pulumi.ResourceOptions(
                parent=self, provider=self._args.provider, depends_on=[database, tls]
            ),
        )
        return kube.name_of(secret)
