"""PostgreSQL Flexible Server reachable only from the VNet, one database per service.

The passwords (admin, and one role per service) are generated here and stored only in Key Vault
(components/keyvault.py, wired in __main__.py); no Kubernetes Secret holds any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.dbforpostgresql as postgresql
import pulumi_random as random
from pulumi_azure_native import authorization

from components.azure import Placement
from components.config.stack import PostgresConfig

POSTGRES_PORT = 5432


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
    protect: bool


class PostgresServer(pulumi.ComponentResource):
    fqdn: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    # Service -> the password of its own database role (the roles themselves are created by the
    # in-cluster bootstrap Job; the services never see the admin password).
    role_passwords: dict[str, pulumi.Output[str]]

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
                # Entra ID sign-in for people; password logins for the admin (bootstrap only) and
                # each service's own role.
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
        previous: pulumi.CustomResource = tls
        fqdn = server.fully_qualified_domain_name.apply(lambda value: value or "")
        self.admin_password = password.result
        self.role_passwords = {
            claim.service: self._password(f"{name}-{claim.service}-role-password").result
            for claim in args.databases
        }
        self.server_id = server.id  # for its diagnostic setting and metric alerts
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
        # Clients read the host only once TLS is enforced and every database exists (the chain
        # ends with them), so no pod connects to a server that is still being configured.
        self.fqdn = pulumi.Output.all(fqdn, previous.id).apply(lambda values: values[0])
        self.register_outputs({"fqdn": self.fqdn, "server_id": self.server_id})

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
