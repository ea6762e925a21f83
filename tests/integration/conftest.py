"""One real PostgreSQL server per test session, set up the way Azure hands it to the stack.

Azure's flexible-server admin is not a superuser: it has CREATEROLE/CREATEDB, is a member of
azure_pg_admin and owns the databases the stack creates. The fixture builds exactly that, then
runs the bootstrap module with the roles the synthesized program renders (the bootstrap Job's
BOOTSTRAP_ROLES), so a test proves what the Job would do, not what a hand-copied list says.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.pgserver import MissingServerError, Server, running_server
from tests.integration.rendered import Rendered, rendered_program
from tests.services.apprunner import PYTHON, SERVICES_DIR
from tools.synth import SynthResult

ADMIN = "micromartadmin"


@dataclass(frozen=True)
class Platform:
    """The server after the bootstrap: who may log in with what, and where the files are."""

    server: Server
    rendered: Rendered
    admin_password: str
    passwords: dict[str, str]  # role -> password, as Key Vault would hold them
    root: Path  # per-session folder for secret files

    def secrets_dir(self, name: str, files: Mapping[str, str]) -> Path:
        """A folder laid out like the CSI volume at /mnt/secrets."""
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        for file_name, value in files.items():
            (folder / file_name).write_text(value + "\n", encoding="utf-8")
        return folder

    def bootstrap_env(self, passwords: Mapping[str, str] | None = None) -> dict[str, str]:
        """The bootstrap Job's environment, pointed at this server."""
        passwords = dict(passwords or self.passwords)
        # The Key Vault secret names, which the CSI volume uses as file names.
        files = {"postgres-admin-password": self.admin_password}
        files |= {f"{role}-postgres-password": value for role, value in passwords.items()}
        folder = self.secrets_dir(f"bootstrap-{secrets.token_hex(4)}", files)
        return self.rendered.bootstrap_env | self.local(folder)

    def service_env(self, service: str, password: str | None = None) -> dict[str, str]:
        """The service's rendered environment, pointed at this server."""
        value = self.passwords[service] if password is None else password
        folder = self.secrets_dir(f"{service}-{secrets.token_hex(4)}", {"postgres-password": value})
        return without_broker(self.rendered.service_env[service]) | self.local(folder)

    def database_env(self, service: str, secrets_dir: Path) -> dict[str, str]:
        """The service's rendered database settings, its password added to `secrets_dir`
        (for tests that run an app with other secrets in that folder too)."""
        (secrets_dir / "postgres-password").write_text(self.passwords[service] + "\n")
        database = {k: v for k, v in self.rendered.service_env[service].items() if "POSTGRES" in k}
        return database | self.local(secrets_dir)

    def local(self, secrets_dir: Path) -> dict[str, str]:
        # Only where this server differs from Azure: a Unix socket instead of TLS over TCP.
        return {
            "POSTGRES_HOST": str(self.server.socket_dir),
            "POSTGRES_PORT": str(self.server.port),
            "POSTGRES_SSLMODE": "disable",
            "SECRETS_DIR": str(secrets_dir),
        }


def without_broker(env: Mapping[str, str]) -> dict[str, str]:
    """The database tests run no broker (tests/integration/messaging runs both together)."""
    kept = {k: v for k, v in env.items() if not k.startswith("RABBITMQ_")}
    required = [n for n in env.get("REQUIRED_ENV", "").split(",") if n in kept]
    files = [n for n in env.get("REQUIRED_SECRETS", "").split(",") if n.startswith("postgres")]
    return kept | {"REQUIRED_ENV": ",".join(required), "REQUIRED_SECRETS": ",".join(files)}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    try:
        with running_server() as server:
            yield server
    except MissingServerError as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope="session")
def rendered(staging: SynthResult) -> Rendered:
    return rendered_program(staging)


@pytest.fixture(scope="session")
def platform(pg_server: Server, rendered: Rendered) -> Iterator[Platform]:
    admin_password = secrets.token_urlsafe(24)
    with pg_server.superuser() as conn:
        conn.execute("CREATE ROLE azure_pg_admin NOLOGIN")
        conn.execute(
            f"CREATE ROLE {ADMIN} LOGIN CREATEROLE CREATEDB IN ROLE azure_pg_admin "
            f"PASSWORD '{admin_password}'"
        )
    with pg_server.connect(ADMIN, admin_password) as conn:
        for spec in rendered.roles:  # as the stack's Database resources do, as the admin
            conn.execute(f'CREATE DATABASE "{spec.database}"')
    root = Path(tempfile.mkdtemp(prefix="micromart-secrets-"))
    platform = Platform(
        server=pg_server,
        rendered=rendered,
        admin_password=admin_password,
        passwords={spec.role: secrets.token_urlsafe(24) for spec in rendered.roles},
        root=root,
    )
    try:
        assert run_bootstrap(platform.bootstrap_env()).returncode == 0
        yield platform
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_module(
    module: str, env: Mapping[str, str], cwd: Path = SERVICES_DIR
) -> subprocess.CompletedProcess[str]:
    """`python -m <module>` as the image runs it: only the given environment, /srv layout."""
    return subprocess.run(
        [PYTHON, "-m", module],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SERVICES_DIR), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_bootstrap(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("micromart_runtime.db_bootstrap", env)


def run_migration(service: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("app.migrate", env, SERVICES_DIR / service)


@pytest.fixture(scope="session")
def first_migrations(platform: Platform) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each service's migration Job, run once against the bootstrapped server."""
    return {
        service: run_migration(service, platform.service_env(service))
        for service in sorted(platform.rendered.service_env)
    }
