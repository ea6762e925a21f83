"""The services' databases on a real PostgreSQL server (see conftest.py and pgserver.py).

Roles, databases and connection settings come from the synthesized staging program; the
bootstrap, the migrations and the apps run as the images run them (`python -m ...`, only the
rendered environment plus a secrets folder). What they prove: each service's migration applies
once and re-applies as a no-op, each service's request path works with its own role, and no
service (nor PUBLIC) can reach another service's data.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import (
    Platform,
    run_bootstrap,
    run_migration,
    run_module,
)
from tests.integration.rendered import RoleSpec
from tests.services.apprunner import PYTHON, SERVICES_DIR, fetch, fetch_json, run_app

SERVICES = ("catalog", "inventory", "orders")  # the services whose spec claims a database
TABLES = {"catalog": "products", "inventory": "stock", "orders": "orders"}


def migration_files(service: str) -> list[str]:
    return sorted(p.name for p in (SERVICES_DIR / service / "app" / "migrations").glob("*.sql"))


def logged(run: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def connect_as(platform: Platform, role: str, database: str) -> psycopg.Connection:
    return platform.server.connect(role, platform.passwords[role], database)


def database_of(platform: Platform, role: str) -> str:
    return next(s.database for s in platform.rendered.roles if s.role == role)


# --- the rendered program and the bootstrap ------------------------------------------------


def test_every_service_with_a_database_is_rendered(platform: Platform) -> None:
    assert sorted(s.role for s in platform.rendered.roles) == list(SERVICES)
    for spec in platform.rendered.roles:
        env = platform.rendered.service_env[spec.role]
        assert (env["POSTGRES_USER"], env["POSTGRES_DATABASE"]) == (spec.role, spec.database)
        assert env["POSTGRES_SSLMODE"] == "verify-full"


def test_bootstrap_creates_exactly_the_rendered_roles(platform: Platform) -> None:
    with platform.server.superuser() as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
            ([s.role for s in platform.rendered.roles],),
        ).fetchall()
        others = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_' AND rolcanlogin ORDER BY 1"
        ).fetchall()
    assert rows == [(role, True, False, False, False, False, False) for role in SERVICES]
    # Nothing else can log in: the superuser of this test server, the admin, the services.
    assert [r for (r,) in others] == sorted(["postgres", "micromartadmin", *SERVICES])


def test_each_role_owns_only_its_own_schema(platform: Platform) -> None:
    for spec in platform.rendered.roles:
        with platform.server.superuser(spec.database) as conn:
            owner = conn.execute(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'public'"
            ).fetchone()
            public_acl = conn.execute(
                "SELECT count(*) FROM pg_namespace, aclexplode(nspacl) a"
                " WHERE nspname = 'public' AND a.grantee = 0"
            ).fetchone()
        assert owner == (spec.role,)
        assert public_acl == (0,), "PUBLIC keeps a right on the public schema"


def test_public_has_no_connect_or_temp_on_service_databases(platform: Platform) -> None:
    with platform.server.superuser() as conn:
        for spec in platform.rendered.roles:
            grantees = conn.execute(
                "SELECT coalesce(a.grantee::regrole::text, 'PUBLIC'), a.privilege_type"
                " FROM pg_database, aclexplode(datacl) a"
                " WHERE datname = %s AND a.grantee <> datdba ORDER BY 1, 2",
                (spec.database,),
            ).fetchall()
            assert grantees == [(spec.role, "CONNECT"), (spec.role, "TEMPORARY")]
        # A role nobody granted anything cannot open any service database.
        conn.execute("CREATE ROLE intruder LOGIN PASSWORD 'intruder-pw'")
    try:
        for spec in platform.rendered.roles:
            with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
                platform.server.connect("intruder", "intruder-pw", spec.database)
    finally:
        with platform.server.superuser() as conn:
            conn.execute("DROP ROLE intruder")


def test_bootstrap_rerun_rotates_a_password_and_changes_nothing_else(platform: Platform) -> None:
    before = _grants_snapshot(platform)
    rotated = {**platform.passwords, "catalog": "rotated-" + platform.passwords["catalog"]}
    try:
        run = run_bootstrap(platform.bootstrap_env(rotated))
        assert run.returncode == 0, run.stdout + run.stderr
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect_as(platform, "catalog", "catalog")
        platform.server.connect("catalog", rotated["catalog"], "catalog").close()
        assert _grants_snapshot(platform) == before
    finally:
        assert run_bootstrap(platform.bootstrap_env()).returncode == 0
    connect_as(platform, "catalog", "catalog").close()


def test_bootstrap_never_prints_a_password(platform: Platform) -> None:
    run = run_bootstrap(platform.bootstrap_env())
    assert run.returncode == 0
    output = run.stdout + run.stderr
    assert platform.admin_password not in output
    assert not [p for p in platform.passwords.values() if p in output]
    assert {"roles converged"} <= {str(r["msg"]) for r in logged(run)}


def test_bootstrap_fails_without_a_password_file(platform: Platform) -> None:
    env = platform.bootstrap_env()
    env["BOOTSTRAP_ROLES"] += ",stranger=catalog"
    run = run_bootstrap(env)
    assert run.returncode == 1
    assert "distinct role=database" in run.stdout
    env["BOOTSTRAP_ROLES"] = "stranger=stranger"
    run = run_bootstrap(env)
    assert (run.returncode, "stranger-postgres-password" in run.stdout) == (1, True)


def _grants_snapshot(platform: Platform) -> list[tuple[object, ...]]:
    with platform.server.superuser() as conn:
        return conn.execute(
            "SELECT datname, datacl::text FROM pg_database ORDER BY datname"
        ).fetchall()


# --- migrations ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_migration_applies_then_reapplies_as_a_no_op(
    platform: Platform,
    first_migrations: dict[str, subprocess.CompletedProcess[str]],
    service: str,
) -> None:
    first = first_migrations[service]
    assert first.returncode == 0, first.stdout + first.stderr
    applied = [r["migration"] for r in logged(first) if r["msg"] == "migration applied"]
    assert applied == migration_files(service)
    again = run_migration(service, platform.service_env(service))
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r for r in logged(again) if r["msg"] == "migration applied"] == []
    with connect_as(platform, service, database_of(platform, service)) as conn:
        recorded = conn.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = %s", (TABLES[service],)
        ).fetchone()
    assert [name for (name,) in recorded] == migration_files(service)
    assert owner == (service,)


def test_migration_with_a_wrong_password_fails_with_one_line(platform: Platform) -> None:
    run = run_migration("orders", platform.service_env("orders", password="wrong"))
    assert run.returncode == 1
    records = logged(run)
    assert [r["msg"] for r in records] == ["migration failed"]
    assert "password authentication failed" in str(records[0]["error"])


@pytest.fixture
def scratch(platform: Platform) -> Iterator[dict[str, str]]:
    """A fresh database owned by a fresh role, for migration edge cases; dropped afterwards."""
    with platform.server.superuser() as conn:
        conn.execute("CREATE ROLE scratch LOGIN PASSWORD 'scratch-pw'")
        conn.execute("CREATE DATABASE scratch OWNER scratch")
    folder = platform.secrets_dir("scratch", {"postgres-password": "scratch-pw"})
    env = {
        **platform.local(folder),
        "POSTGRES_DATABASE": "scratch",
        "POSTGRES_USER": "scratch",
    }
    try:
        yield env
    finally:
        with platform.server.superuser() as conn:
            conn.execute("DROP DATABASE scratch WITH (FORCE)")
            conn.execute("DROP ROLE scratch")


def _migrations_app(tmp_path_factory: pytest.TempPathFactory, files: dict[str, str]) -> Path:
    app = tmp_path_factory.mktemp("svc") / "app"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrate.py").write_text((SERVICES_DIR / "orders" / "app" / "migrate.py").read_text())
    for name, text in files.items():
        (app / "migrations" / name).write_text(text)
    return app.parent


def test_concurrent_runs_apply_each_migration_once(
    platform: Platform, scratch: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Without the advisory lock both runs find 0001 missing and the second CREATE TABLE fails.
    files = {
        "0001_slow.sql": "SELECT pg_sleep(0.3); CREATE TABLE t (id int);",
        "0002_more.sql": "ALTER TABLE t ADD COLUMN name text;",
    }
    cwd = _migrations_app(tmp_path_factory, files)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SERVICES_DIR), **scratch}
    runs = [
        subprocess.Popen(
            [PYTHON, "-m", "app.migrate"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=30)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = [line for out in outputs for line in out.splitlines() if "migration applied" in line]
    assert len(applied) == 2, outputs  # each of the two files once, by one run or the other


def test_failed_migration_leaves_no_trace_and_an_edited_one_is_refused(
    platform: Platform, scratch: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = {
        "0001_ok.sql": "CREATE TABLE a (id int);",
        "0002_broken.sql": "CREATE TABLE b (id int); SELECT no_such_function();",
    }
    cwd = _migrations_app(tmp_path_factory, files)
    run = run_module("app.migrate", scratch, cwd=cwd)
    assert run.returncode == 1
    with platform.server.connect("scratch", "scratch-pw", "scratch") as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        assert conn.execute("SELECT to_regclass('b')").fetchone() == (None,)
    (cwd / "app" / "migrations" / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
    (cwd / "app" / "migrations" / "0002_broken.sql").write_text("SELECT 1;")
    run = run_module("app.migrate", scratch, cwd=cwd)
    assert run.returncode == 1
    assert "0001_ok.sql was changed after it was applied" in run.stdout


# --- the apps' request paths, each with its own role ---------------------------------------


def test_catalog_lists_products_from_its_database(
    platform: Platform, first_migrations: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    with run_app(SERVICES_DIR / "catalog", platform.service_env("catalog")) as url:
        assert fetch_json(url + "/health/ready") == (200, {"status": "ready"})
        status, body = fetch_json(url + "/api/catalog/items")
    assert status == 200
    assert [item["sku"] for item in body["items"]] == ["MM-1001", "MM-1002", "MM-1003"]
    assert body["items"][2] == {
        "sku": "MM-1003",
        "name": "Burr grinder",
        "price_cents": 12900,
        "currency": "EUR",
    }


def test_orders_stores_the_order_it_returns(
    platform: Platform, first_migrations: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    with run_app(SERVICES_DIR / "orders", platform.service_env("orders")) as url:
        order = json.dumps({"sku": "MM-1002", "quantity": 2}).encode()
        status, placed = fetch_json(url + "/api/orders", "POST", order)
        assert status == 201, placed
        assert fetch(url + "/api/orders", "POST", b'{"sku": "x", "quantity": 0}')[0] == 400
        status, listed = fetch_json(url + "/api/orders")
    assert {k: placed[k] for k in ("sku", "quantity", "status")} == {
        "sku": "MM-1002",
        "quantity": 2,
        "status": "pending",
    }
    assert listed["orders"][0] == placed
    with connect_as(platform, "orders", "orders") as conn:
        row = conn.execute(
            "SELECT sku, quantity, status FROM orders WHERE id = %s", (placed["id"],)
        ).fetchone()
    assert row == ("MM-1002", 2, "pending")


def test_inventory_reads_stock_from_its_database(
    platform: Platform, first_migrations: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    with connect_as(platform, "inventory", "inventory") as conn:
        conn.execute("UPDATE stock SET available = 5 WHERE sku = 'MM-1003'")
    try:
        with run_app(SERVICES_DIR / "inventory", platform.service_env("inventory")) as url:
            assert fetch_json(url + "/api/inventory/mm-1003") == (
                200,
                {"sku": "MM-1003", "available": 5, "in_stock": True},
            )
            assert fetch(url + "/api/inventory/MM-9999")[0] == 404
    finally:
        with connect_as(platform, "inventory", "inventory") as conn:
            conn.execute("UPDATE stock SET available = 0 WHERE sku = 'MM-1003'")


@pytest.mark.parametrize("service", SERVICES)
def test_unready_and_503_while_the_database_refuses(platform: Platform, service: str) -> None:
    route = {"catalog": "/api/catalog/items", "inventory": "/api/inventory/MM-1001"}
    env = platform.service_env(service, password="wrong")
    with run_app(SERVICES_DIR / service, env) as url:
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["unreachable"]) == (503, ["postgres: OperationalError"])
        assert fetch(url + route.get(service, "/api/orders"))[0] == 503
        assert fetch(url + "/health/live")[0] == 200


def test_unready_while_the_server_is_unreachable(platform: Platform) -> None:
    env = platform.service_env("catalog") | {"POSTGRES_PORT": "1"}  # no server there
    with run_app(SERVICES_DIR / "catalog", env) as url:
        assert fetch_json(url + "/health/ready")[0] == 503


# --- isolation between services ------------------------------------------------------------

PAIRS = [(a, b) for a, b in itertools.permutations(SERVICES, 2)]


@pytest.mark.parametrize("service", SERVICES)
def test_wrong_password_is_refused(platform: Platform, service: str) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        platform.server.connect(service, "not-" + platform.passwords[service], service)


@pytest.mark.parametrize(("role", "other"), PAIRS)
def test_role_cannot_connect_to_another_services_database(
    platform: Platform, role: str, other: str
) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(platform, role, database_of(platform, other))


@pytest.mark.parametrize(("role", "other"), PAIRS)
def test_role_cannot_read_another_services_tables_even_when_connected(
    platform: Platform,
    first_migrations: dict[str, subprocess.CompletedProcess[str]],
    role: str,
    other: str,
) -> None:
    """Defence in depth: a stray CONNECT grant still opens no table, and the bootstrap undoes it."""
    database = database_of(platform, other)
    with platform.server.superuser() as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(role)
            )
        )
    try:
        with connect_as(platform, role, database) as conn:
            for statement in (
                # Qualified: unqualified names would just not resolve (no USAGE on the schema).
                sql.SQL("SELECT * FROM {}").format(sql.Identifier("public", TABLES[other])),
                sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier("public", "x")),
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        assert run_bootstrap(platform.bootstrap_env()).returncode == 0
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(platform, role, database)


def test_rendered_roles_are_the_ones_the_bootstrap_reads(platform: Platform) -> None:
    specs = [
        RoleSpec(*item.split("="))
        for item in platform.rendered.bootstrap_env["BOOTSTRAP_ROLES"].split(",")
    ]
    assert sorted(specs, key=str) == sorted(platform.rendered.roles, key=str)


def test_azure_settings_verify_the_server_certificate(platform: Platform) -> None:
    """As rendered for Azure: verify-full against the system CA roots (libpq's `system`)."""
    env = platform.rendered.service_env["catalog"]
    folder = platform.secrets_dir("settings", {"postgres-password": "pw"})
    run = subprocess.run(
        [
            PYTHON,
            "-c",
            "import json; from micromart_runtime import db; print(json.dumps(db.settings()))",
        ],
        env={"PYTHONPATH": str(SERVICES_DIR), **env, "SECRETS_DIR": str(folder)},
        capture_output=True,
        text=True,
        check=True,
    )
    settings = json.loads(run.stdout)
    assert settings["host"].endswith(".postgres.database.azure.com")
    assert (settings["sslmode"], settings["sslrootcert"]) == ("verify-full", "system")
    assert (settings["user"], settings["dbname"], settings["password"]) == (
        "catalog",
        "catalog",
        "pw",
    )
