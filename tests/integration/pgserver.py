"""A throwaway PostgreSQL server for the integration tests: the Debian `postgresql` package's
initdb and pg_ctl, a private data directory and a Unix socket in a temporary folder (no TCP port
is opened, so parallel runs cannot collide), stopped and removed at the end of the session.

PostgreSQL refuses to run as root, so under root (CI containers) the server runs as `nobody`:
the child process drops to that uid itself (subprocess `user=`), which needs no runuser/su, no
login shell and no home directory, and works the same in a fresh container.

Missing binaries are a failure that names the package to install, never a skip: a test run
that silently skipped the database tests would pass without proving anything.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them with "
    "`apt-get install postgresql` (Debian/Ubuntu; .ci/run does this on CI), "
    "or point PG_BINDIR at a folder holding initdb and pg_ctl"
)
SUPERUSER = "postgres"
UNPRIVILEGED = "nobody"
# Durability is worthless for a throwaway server; these make initdb + start about a second.
FAST = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


class MissingServerError(RuntimeError):
    pass


def bindir() -> Path:
    """Where initdb and pg_ctl are: $PG_BINDIR, Debian's versioned folder, or PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    for folder in filter(None, candidates):
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(pg_ctl)).parent
    raise MissingServerError(INSTALL_HINT)


@dataclass(frozen=True)
class Server:
    socket_dir: Path
    port: int
    superuser_password: str

    def conninfo(self, user: str, password: str, dbname: str = "postgres") -> str:
        return make_conninfo(
            host=str(self.socket_dir),
            port=str(self.port),
            user=user,
            password=password,
            dbname=dbname,
            connect_timeout="5",
        )

    def connect(self, user: str, password: str, dbname: str = "postgres") -> psycopg.Connection:
        conn = psycopg.connect(self.conninfo(user, password, dbname), autocommit=True)
        return conn

    def superuser(self, dbname: str = "postgres") -> psycopg.Connection:
        return self.connect(SUPERUSER, self.superuser_password, dbname)


def _as_server(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run a server tool as the current user, or as `nobody` when that is root."""
    account = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
    return subprocess.run(
        command,
        check=False,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
        user=account.pw_uid if account else None,
        group=account.pw_gid if account else None,
        extra_groups=[] if account else None,
        timeout=60,
    )


def _give(path: Path, mode: int) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED)
        os.chown(path, account.pw_uid, account.pw_gid)
    path.chmod(mode)


@contextmanager
def running_server() -> Iterator[Server]:
    tools = bindir()
    root = Path(tempfile.mkdtemp(prefix="micromart-pg-"))
    try:
        root.chmod(0o711)  # the server's user may pass through, not list
        data, sockets, logfile, pwfile = (root / n for n in ("data", "socket", "log", "pw"))
        for folder in (data, sockets):
            folder.mkdir()
            _give(folder, 0o700)
        password = f"su-{random.SystemRandom().getrandbits(64):x}"
        pwfile.write_text(password + "\n", encoding="utf-8")
        logfile.touch()
        _give(pwfile, 0o600)
        _give(logfile, 0o600)
        initdb = _as_server(
            [
                str(tools / "initdb"),
                "-D", str(data),
                "-U", SUPERUSER,
                "--pwfile", str(pwfile),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
            ]
        )  # fmt: skip
        pwfile.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed: {initdb.stderr.decode()}")
        port = random.SystemRandom().randrange(20000, 60000)
        options = [
            "-k", str(sockets), "-p", str(port), "-c", "listen_addresses=", *FAST,
        ]  # fmt: skip
        start = [
            str(tools / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-w", "-t", "30",
            "-o", " ".join(options), "start",
        ]  # fmt: skip
        started = _as_server(start)
        if started.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed: {started.stderr.decode()}\n{logfile.read_text()}"
            )
        try:
            yield Server(sockets, port, password)
        finally:
            _as_server([str(tools / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
