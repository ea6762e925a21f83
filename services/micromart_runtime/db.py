"""PostgreSQL for the services: settings from the environment, the password from a secret file.

The pod's ConfigMap carries POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DATABASE, POSTGRES_USER and
POSTGRES_SSLMODE; the password is the file `postgres-password` under $SECRETS_DIR (Key Vault,
mounted by the Secrets Store CSI driver). A connection is opened per unit of work and the
password file is read each time, so a rotated password is picked up without a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psycopg
from psycopg.conninfo import make_conninfo

from micromart_runtime import Reply, json_reply, log, secret

PASSWORD_FILE = "postgres-password"
DEFAULT_PORT = 5432
# libpq's minimum useful value; readiness probes time out after 2 s, a request a little later.
CONNECT_TIMEOUT_SECONDS = 2
# Certificate checks against the image's CA bundle: Azure's server certificate chains to a
# public root. `system` needs libpq >= 16 (psycopg-binary 3.3 bundles 17) and the image's
# SSL_CERT_FILE, because the bundled OpenSSL looks for its roots under /usr/lib/psycopg-openssl.
VERIFYING_MODES = ("verify-ca", "verify-full")


Connection = psycopg.Connection[tuple[object, ...]]


class SettingsError(RuntimeError):
    """A connection setting is missing; the message names it (and never holds a secret)."""


def settings(
    env: Mapping[str, str] | None = None, password_file: str = PASSWORD_FILE
) -> dict[str, str]:
    """libpq keyword arguments for this service's own database."""
    env = os.environ if env is None else env
    missing = [
        key for key in ("POSTGRES_HOST", "POSTGRES_DATABASE", "POSTGRES_USER") if not env.get(key)
    ]
    if missing:
        raise SettingsError(f"missing settings: {', '.join(missing)}")
    sslmode = env.get("POSTGRES_SSLMODE") or "verify-full"
    params: dict[str, str] = {
        "host": env["POSTGRES_HOST"],
        "port": env.get("POSTGRES_PORT") or str(DEFAULT_PORT),
        "dbname": env["POSTGRES_DATABASE"],
        "user": env["POSTGRES_USER"],
        "sslmode": sslmode,
        "connect_timeout": str(CONNECT_TIMEOUT_SECONDS),
        "application_name": env.get("SERVICE_NAME") or "micromart",
    }
    if sslmode in VERIFYING_MODES:
        params["sslrootcert"] = "system"
    try:
        params["password"] = secret(password_file)
    except OSError as error:
        raise SettingsError(f"secret file {password_file} unreadable: {error.strerror}") from None
    return params


def connect(env: Mapping[str, str] | None = None) -> Connection:
    """A new connection to the service's database (use as a context manager)."""
    return open_connection(settings(env))


def open_connection(params: Mapping[str, str]) -> Connection:
    # A conninfo string: libpq quotes each value, whatever characters a password holds.
    return psycopg.connect(make_conninfo("", **params))


def reachable() -> str | None:
    """Readiness check: None when the database answers a query, else why not."""
    try:
        with connect() as conn:
            conn.execute("SELECT 1")
    except SettingsError as error:
        return f"postgres: {error}"
    except psycopg.Error as error:
        # The probe's body says only the class; the log (for operators) has libpq's message.
        log.warning("postgres unreachable", extra={"fields": {"error": str(error).strip()}})
        return f"postgres: {type(error).__name__}"
    return None


# What a request path answers 503 for (the client may retry); anything else is a bug (500).
UNAVAILABLE: tuple[type[Exception], ...] = (SettingsError, psycopg.OperationalError)


def unavailable(error: Exception) -> Reply:
    log.warning("postgres unavailable", extra={"fields": {"error": str(error).strip()}})
    return json_reply(503, {"error": "database unavailable"}, ("Retry-After", "5"))
