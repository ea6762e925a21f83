"""Forward-only schema migrations, shared by every service with a database.

A service keeps `app/migrations/NNNN_<what>.sql` and runs `python -m app.migrate` (its migration
Job, before its pods roll). Each file is applied once, in version order, in its own transaction
together with its row in `schema_migrations`: a failing migration leaves no trace and the next run
retries it. Every transaction first takes a transaction-scoped advisory lock, so two runs (a retried
Job pod next to a slow one) queue behind each other instead of racing; the second then finds the
work done. A file edited after it was applied is refused (its checksum is recorded): a change to
an applied schema is a new migration. Undoing one is a new migration too (README, Operations).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from micromart_runtime import configure_logging, db, log

FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_xact_lock takes a bigint: a fixed key shared by every run against one database
# (each service has its own database, so services never wait for each other).
LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"micromart:schema_migrations").digest()[:8], "big", signed=True
)
LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in version order; a malformed set is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: expected NNNN_lower_case_name.sql")
        version = int(match[1])
        if version in found:
            raise MigrationError(f"{path.name}: version {version} also in {found[version].name}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    if not found:
        raise MigrationError(f"{directory}: no migrations")
    return [found[v] for v in sorted(found)]


def apply(conn: db.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply what is not applied yet; the names applied by this call, in order."""
    conn.autocommit = True  # transactions below are explicit, one per migration
    applied: list[str] = []
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            # Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
            conn.execute(LEDGER)
            row = conn.execute(
                "SELECT checksum FROM schema_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if row is not None:
                if row[0] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was changed after it was applied: "
                        "write a new migration instead"
                    )
                continue
            # No parameters: psycopg sends the file as one simple query, several statements.
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        applied.append(migration.name)
        log.info("migration applied", extra={"fields": {"migration": migration.name}})
    newer = conn.execute(
        "SELECT name FROM schema_migrations WHERE version > %s ORDER BY version",
        (migrations[-1].version,),
    ).fetchall()
    if newer:
        # An older image after a newer one migrated: expand-contract keeps the old code working.
        log.warning(
            "database has newer migrations than this image",
            extra={"fields": {"migrations": [name for (name,) in newer]}},
        )
    return applied


def main(directory: Path, service: str | None = None) -> int:
    """`python -m app.migrate`: exit 0 when the schema is current, 1 with one log line if not."""
    configure_logging(service or "migrate")
    try:
        migrations = discover(directory)
        with db.connect() as conn:
            applied = apply(conn, migrations)
    except (MigrationError, db.SettingsError, psycopg.Error) as error:
        log.error("migration failed", extra={"fields": {"error": str(error).strip()}})
        return 1
    log.info(
        "schema current",
        extra={"fields": {"applied": applied, "version": migrations[-1].version}},
    )
    return 0
