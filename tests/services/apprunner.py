"""Run a service's app (`python -m app.main`) as a real process and talk HTTP to it.

Reusable by any test that needs a live service, e.g. to hit the probe paths a synthesized
Deployment declares:

    with run_app(SERVICES / "orders", {"REQUIRED_ENV": ""}) as base_url:
        status, body = fetch(base_url + "/health/ready")

Unless `env` sets them, PORT and METRICS_PORT get free loopback ports. Only PATH, PYTHONPATH
(the folder with the shared runtime) and the given variables reach the process, so the host
environment cannot make a readiness check pass by accident. Start-up is awaited with a bounded
poll of /health/startup.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO / "services"
SERVICE_NAMES = ("gateway", "orders", "catalog", "inventory", "notifications")
# The images run Python 3.12; set this to a 3.12 interpreter to test with exactly that.
PYTHON = os.environ.get("MICROMART_APP_PYTHON", sys.executable)
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """(status, body) for any status, 4xx/5xx included; never goes through a proxy."""
    request = urllib.request.Request(url, body, dict(headers or {}), method=method)
    try:
        with _no_proxy.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def fetch_json(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body)."""
    status, raw = fetch(url, method, body)
    return status, json.loads(raw)


@dataclass
class RunningApp:
    url: str
    process: subprocess.Popen[str]
    output: list[str]  # stdout + stderr lines so far
    reader: threading.Thread  # appends to `output` until the pipe closes

    def log_records(self) -> list[dict[str, Any]]:
        """The output parsed as JSON lines; raises if any line is not JSON."""
        return [json.loads(line) for line in list(self.output)]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait for the exit code; a hang past `timeout` is killed and raises."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self.reader.join(5)  # so `output` holds everything the app wrote


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pump(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line.rstrip("\n"))


@contextmanager
def start_app(
    service_dir: Path | str, env: Mapping[str, str] | None = None, timeout: float = 10.0
) -> Iterator[RunningApp]:
    """Start the app in `service_dir`, wait until /health/startup answers 200, stop it after."""
    child_env = {
        "PATH": os.environ.get("PATH", ""),
        # As in the image, where /srv holds app/ beside the shared micromart_runtime/.
        "PYTHONPATH": str(Path(service_dir).resolve().parent),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PORT": str(free_port()),
        # Each app's metrics exporter binds its own loopback port; in a pod that is always 9464,
        # here several apps share one host.
        "METRICS_PORT": str(free_port()),
        **(env or {}),
    }
    process = subprocess.Popen(
        [PYTHON, "-m", "app.main"],
        cwd=service_dir,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=_pump, args=(process, output), daemon=True)
    reader.start()
    app = RunningApp(f"http://127.0.0.1:{child_env['PORT']}", process, output, reader)
    try:
        _wait_until_started(app, timeout)
        yield app
    finally:
        try:
            app.stop(timeout=5)
        finally:
            if process.stdout:
                process.stdout.close()


def _wait_until_started(app: RunningApp, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            app.reader.join(5)
            raise RuntimeError(
                f"app exited with {app.process.returncode}:\n" + "\n".join(app.output)
            )
        try:
            if fetch(app.url + "/health/startup", timeout=1)[0] == 200:
                return
        except OSError:  # not listening yet
            pass
        time.sleep(0.02)
    raise TimeoutError(
        f"{app.url}/health/startup not 200 within {timeout}s:\n" + "\n".join(app.output)
    )


@contextmanager
def run_app(service_dir: Path | str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Start the app in `service_dir` with `env`; yield its base URL (http://127.0.0.1:PORT)."""
    with start_app(service_dir, env) as app:
        yield app.url
