"""Start one real RabbitMQ node in a private folder, for one test session.

Hermetic: data, logs, config, enabled plugins, the Erlang cookie ($HOME) and the environment
file all live under the given folder; the node name is unique to the run; AMQP, Erlang
distribution and epmd use free ports, so the node neither meets a system RabbitMQ nor another
run's (a private epmd is started on that port and killed afterwards). The node is the Debian
package's, started directly (`/usr/lib/rabbitmq/bin/rabbitmq-server`, not the /usr/sbin wrapper,
which switches to the `rabbitmq` system user when run as root).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL = "apt-get install -y --no-install-recommends rabbitmq-server"
SERVER_SCRIPTS = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
START_TIMEOUT_SECONDS = 60.0


class MissingBrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class RunningBroker:
    amqp_port: int
    node: str
    env: dict[str, str]  # what rabbitmqctl needs to reach the node
    log_dir: Path
    start_seconds: float

    def ctl(self, *args: str) -> str:
        """Run rabbitmqctl against this node (same cookie, epmd port and node name)."""
        ctl = Path(SERVER_SCRIPTS[0]).with_name("rabbitmqctl")
        done = subprocess.run(
            [str(ctl), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def log_tail(self, lines: int = 40) -> str:
        texts = [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log"))]
        return "\n".join("\n".join(t.splitlines()[-lines:]) for t in texts)


def server_script() -> Path:
    for candidate in SERVER_SCRIPTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise MissingBrokerError(f"RabbitMQ server not found; install it: {INSTALL}")


def _epmd() -> str | None:
    found = shutil.which("epmd")
    if found:
        return found
    matches = sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))
    return matches[-1] if matches else None


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_broker(
    root: Path, definitions: Path, settings: dict[str, str], node: str | None = None
) -> Iterator[RunningBroker]:
    """A node that imports `definitions` at boot with the given rabbitmq.conf `settings`.

    Yields once the AMQP listener accepts connections: the node starts its listeners only after
    the boot-time definition import (rabbit boot steps), so every user and queue exists then.
    The same `root` and `node` again restart the same node on its data.
    """
    script = server_script()
    amqp, dist, epmd_port = _free_ports(3)
    node = node or f"mmtest-{os.getpid()}-{secrets.token_hex(3)}@localhost"
    for folder in ("mnesia", "log", "home"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    conf = {
        "listeners.tcp.1": f"127.0.0.1:{amqp}",
        **settings,
        "definitions.local.path": str(definitions),
        "log.console": "false",
        "log.file.level": "info",
    }
    (root / "rabbitmq.conf").write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
    (root / "enabled_plugins").write_text("[].\n")
    (root / "rabbitmq-env.conf").write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),  # the Erlang cookie lives here
        "LANG": "C.UTF-8",
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
        "RABBITMQ_LOG_BASE": str(root / "log"),
        "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(root / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
        "RABBITMQ_PID_FILE": str(root / "node.pid"),
        "RABBITMQ_DIST_PORT": str(dist),
        "ERL_EPMD_PORT": str(epmd_port),
    }
    started = time.monotonic()
    with (root / "server.out").open("w") as out:
        process = subprocess.Popen(
            [str(script)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = started + START_TIMEOUT_SECONDS
        while not _accepts(amqp):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "server.out").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"RabbitMQ did not start (exit {process.poll()}):\n{tail}")
            time.sleep(0.05)
        yield RunningBroker(amqp, node, env, root / "log", time.monotonic() - started)
    finally:
        _stop(process)
        epmd = _epmd()
        if epmd:
            subprocess.run(
                [epmd, "-port", str(epmd_port), "-kill"],
                capture_output=True,
                timeout=10,
                check=False,
            )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
