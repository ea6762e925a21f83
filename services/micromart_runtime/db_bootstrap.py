"""Database bootstrap: one LOGIN role per service, with rights on its own database only.

Run by the stack's bootstrap Job (`python -m micromart_runtime.db_bootstrap`, image
components/images/db-bootstrap), the only place the server's admin password is used. Idempotent:
every run converges the server to the state below, so re-running it rotates passwords and repairs
drift, and nothing else in the stack needs the admin login.

- each service role exists, LOGIN, no CREATEDB/CREATEROLE, password = its Key Vault secret
  (sent as a SCRAM verifier computed client-side, so no plaintext reaches the server's logs);
- the role owns its database's `public` schema (so its migrations create the tables it owns);
  PUBLIC loses USAGE/CREATE there;
- on every service database PUBLIC has no CONNECT/TEMPORARY, and of the service roles only the
  owning one may connect.

Settings: POSTGRES_HOST/PORT/USER (the admin login)/SSLMODE as for the services,
POSTGRES_DATABASE the maintenance database (`postgres`), BOOTSTRAP_ROLES
`<role>=<database>,...`, and the secret files `postgres-admin-password` and
`<role>-postgres-password`. Written for Azure's admin, which is not a superuser (CREATEROLE,
member of azure_pg_admin, owner of the databases it created); the tests run it as such a role.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from micromart_runtime import configure_logging, db, log, secret

ADMIN_PASSWORD_FILE = "postgres-admin-password"
ROLES_ENV = "BOOTSTRAP_ROLES"
# Service names are DNS labels; PostgreSQL reserves `pg_` and Azure `azure_` role prefixes.
ROLE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")

Connection = db.Connection


class BootstrapError(RuntimeError):
    pass


@dataclass(frozen=True)
class RoleSpec:
    role: str
    database: str

    @property
    def password_file(self) -> str:
        return role_password_file(self.role)


def role_password_file(role: str) -> str:
    """The secret's name in Key Vault and its file name in the Job's secrets volume."""
    return f"{role}-postgres-password"


def parse_roles(text: str) -> list[RoleSpec]:
    specs: list[RoleSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        role, separator, database = item.partition("=")
        if not separator or not ROLE_NAME.fullmatch(role) or role.startswith(("pg_", "azure")):
            raise BootstrapError(f"{ROLES_ENV}: bad role in {item!r}")
        if not DATABASE_NAME.fullmatch(database) or database in ("postgres", "azure_maintenance"):
            raise BootstrapError(f"{ROLES_ENV}: bad database in {item!r}")
        specs.append(RoleSpec(role, database))
    roles = [s.role for s in specs]
    databases = [s.database for s in specs]
    if not specs or len(set(roles)) != len(roles) or len(set(databases)) != len(databases):
        raise BootstrapError(f"{ROLES_ENV}: want distinct role=database pairs, got {text!r}")
    return sorted(specs, key=_key)


def _key(spec: RoleSpec) -> str:
    return spec.role


def bootstrap(
    connect: Callable[[str], Connection],
    specs: Sequence[RoleSpec],
    password_of: Callable[[str], str],
) -> None:
    """Converge roles and grants; `connect(database)` opens an admin connection."""
    with connect("") as conn:
        conn.autocommit = True
        admin = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        for spec in specs:
            if spec.role == admin:
                raise BootstrapError(f"role {spec.role} is the admin login")
            _converge_role(conn, spec, password_of(spec.password_file))
        for spec in specs:
            _restrict_database(conn, spec, specs)
    for spec in specs:
        with connect(spec.database) as conn:
            conn.autocommit = True
            _own_schema(conn, spec)
    log.info("roles converged", extra={"fields": {"roles": [s.role for s in specs]}})


def _converge_role(conn: Connection, spec: RoleSpec, password: str) -> None:
    role = sql.Identifier(spec.role)
    if not password:
        raise BootstrapError(f"{spec.password_file} is empty")
    # libpq's PQencryptPasswordConn: the verifier in the server's password_encryption format.
    verifier = conn.pgconn.encrypt_password(password.encode(), spec.role.encode()).decode()
    attributes = sql.SQL("LOGIN NOCREATEDB NOCREATEROLE INHERIT PASSWORD {}").format(
        sql.Literal(verifier)
    )
    with conn.transaction():
        row = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", (spec.role,)
        ).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE ROLE {} ").format(role) + attributes)
            log.info("role created", extra={"fields": {"role": spec.role}})
        elif row[0]:
            raise BootstrapError(f"role {spec.role} is a superuser: refusing to touch it")
        else:
            conn.execute(sql.SQL("ALTER ROLE {} ").format(role) + attributes)
            log.info("role password set", extra={"fields": {"role": spec.role}})
        # Taking ownership of the schema below needs membership in the new owner (PostgreSQL
        # 15 and 16 both); Azure's admin has CREATEROLE and may grant itself the role.
        member = conn.execute(
            "SELECT pg_has_role(current_user, %s, 'MEMBER')", (spec.role,)
        ).fetchone()
        if not (member and member[0]):
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))


def _restrict_database(conn: Connection, spec: RoleSpec, specs: Sequence[RoleSpec]) -> None:
    database = sql.Identifier(spec.database)
    with conn.transaction():
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        for other in specs:
            if other.role != spec.role:
                conn.execute(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                        database, sql.Identifier(other.role)
                    )
                )
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                database, sql.Identifier(spec.role)
            )
        )


def _own_schema(conn: Connection, spec: RoleSpec) -> None:
    role = sql.Identifier(spec.role)
    with conn.transaction():
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(role))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role))


def admin_connector(env: Mapping[str, str]) -> Callable[[str], Connection]:
    """Admin connections from the Job's settings; "" means the maintenance database."""
    base = db.settings(env, ADMIN_PASSWORD_FILE)

    def connect(database: str) -> Connection:
        return db.open_connection({**base, "dbname": database or base["dbname"]})

    return connect


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    configure_logging("db-bootstrap")
    try:
        specs = parse_roles(env.get(ROLES_ENV, ""))
        bootstrap(admin_connector(env), specs, secret)
    except (BootstrapError, db.SettingsError, OSError, psycopg.Error) as error:
        log.error("bootstrap failed", extra={"fields": {"error": str(error).strip()}})
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
