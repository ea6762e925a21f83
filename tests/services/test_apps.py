"""The five service apps, run as real processes (see apprunner.py) and spoken to over HTTP."""

from __future__ import annotations

import ast
import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .apprunner import (
    SERVICE_NAMES,
    SERVICES_DIR,
    fetch,
    fetch_json,
    run_app,
    start_app,
)

API_ROUTES = {  # a GET that must answer 200 once the service is up
    "notifications": "/api/notifications/status",
}
# Services whose API reads their database: without one they answer 503 (their request paths
# with a real server are in tests/integration/test_postgres.py).
DATABASE_ROUTES = {
    "orders": "/api/orders",
    "catalog": "/api/catalog/items",
    "inventory": "/api/inventory/MM-1001",
}
UPSTREAMS = ("UPSTREAM_ORDERS_URL", "UPSTREAM_CATALOG_URL", "UPSTREAM_INVENTORY_URL")


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


# --- source-level checks -------------------------------------------------------------


def test_every_service_has_an_app_package() -> None:
    found = sorted(p.parent.parent.name for p in SERVICES_DIR.glob("*/app/main.py"))
    assert found == sorted(SERVICE_NAMES)


def test_one_shared_runtime_and_no_vendored_copy() -> None:
    assert (SERVICES_DIR / "micromart_runtime" / "__init__.py").is_file()
    copies = sorted(str(p.relative_to(SERVICES_DIR)) for p in SERVICES_DIR.glob("*/app/runtime.py"))
    assert copies == []
    for name in SERVICE_NAMES:
        main = (SERVICES_DIR / name / "app" / "main.py").read_text(encoding="utf-8")
        assert "from micromart_runtime import" in main, name


def _locked_imports() -> set[str]:
    """Import names of the images' top-level packages (services/requirements.in)."""
    text = (SERVICES_DIR / "requirements.in").read_text(encoding="utf-8")
    names = (line.split("[")[0].strip() for line in text.splitlines())
    return {name.replace("-", "_") for name in names if name and not name.startswith("#")}


@pytest.mark.parametrize("name", [*SERVICE_NAMES, "micromart_runtime"])
def test_apps_use_only_the_standard_library_and_the_locked_packages(name: str) -> None:
    locked = _locked_imports()
    assert "psycopg" in locked
    for source in (SERVICES_DIR / name).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                allowed = (
                    top in ("app", "micromart_runtime")
                    or top in sys.stdlib_module_names
                    or top in locked
                )
                assert allowed, f"{source}: {module}"


# --- probes and readiness --------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_probes_and_readiness_follow_required_env(name: str) -> None:
    required = {
        "REQUIRED_ENV": " DATABASE_URL, RABBITMQ_URL ,",
        "DATABASE_URL": "postgres://db",
    }
    with run_app(SERVICES_DIR / name, {**required, "RABBITMQ_URL": ""}) as url:
        assert fetch(url + "/health/live")[0] == 200
        assert fetch(url + "/health/startup")[0] == 200
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["missing"]) == (
            503,
            ["RABBITMQ_URL"],
        )  # empty counts as missing
    with run_app(SERVICES_DIR / name, {**required, "RABBITMQ_URL": "amqp://mq"}) as url:
        if name in DATABASE_ROUTES:  # settings there, but no database answers
            assert fetch_json(url + "/health/ready")[0] == 503
        else:
            assert fetch_json(url + "/health/ready") == (200, {"status": "ready"})
        assert fetch(url + "/health/live")[0] == 200


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_readiness_waits_for_every_required_secret_file(name: str, tmp_path: Path) -> None:
    env = {"SECRETS_DIR": str(tmp_path), "REQUIRED_SECRETS": "postgres-password, API_KEY"}
    (tmp_path / "postgres-password").write_text("pw\n", encoding="utf-8")
    (tmp_path / "API_KEY").write_text("", encoding="utf-8")  # mounted but empty: not ready
    with run_app(SERVICES_DIR / name, env) as url:
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["missing_secrets"]) == (503, ["API_KEY"])
        assert "pw" not in json.dumps(body)
        # The CSI driver writes a rotated or late secret in place: readiness follows the file.
        (tmp_path / "API_KEY").write_text("k", encoding="utf-8")
        if name in DATABASE_ROUTES:  # files there: now it waits for its (absent) database
            assert "unreachable" in fetch_json(url + "/health/ready")[1]
        else:
            assert fetch_json(url + "/health/ready") == (200, {"status": "ready"})
        (tmp_path / "postgres-password").unlink()
        assert fetch_json(url + "/health/ready")[1]["missing_secrets"] == ["postgres-password"]


def test_ready_when_nothing_is_required() -> None:
    with run_app(SERVICES_DIR / "gateway", {}) as url:
        assert fetch(url + "/health/ready")[0] == 200


# --- API routes ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(API_ROUTES))
def test_api_route_answers_json(name: str) -> None:
    with run_app(SERVICES_DIR / name, {}) as url:
        status, body = fetch_json(url + API_ROUTES[name])
        assert status == 200
        assert isinstance(body, dict)
        status, body = fetch_json(url + "/api/nope")
        assert (status, body) == (404, {"error": "not found"})


@pytest.mark.parametrize("name", sorted(DATABASE_ROUTES))
def test_database_routes_answer_503_without_a_database(name: str) -> None:
    with run_app(SERVICES_DIR / name, {"REQUIRED_ENV": ""}) as url:
        status, body = fetch_json(url + DATABASE_ROUTES[name])
        assert (status, body) == (503, {"error": "database unavailable"})
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["unreachable"]) == (
            503,
            ["postgres: missing settings: POSTGRES_HOST, POSTGRES_DATABASE, POSTGRES_USER"],
        )


def test_orders_validates_before_touching_the_database() -> None:
    with run_app(SERVICES_DIR / "orders", {}) as url:
        for bad in (b"", b"[]", b'{"sku": "x"}', b'{"sku": "x", "quantity": true}'):
            assert fetch(url + "/api/orders", "POST", bad)[0] == 400, bad
        assert fetch(url + "/api/orders", "DELETE")[0] == 405


def test_inventory_validates_the_sku_before_touching_the_database() -> None:
    with run_app(SERVICES_DIR / "inventory", {}) as url:
        assert fetch(url + "/api/inventory/no%20such")[0] == 400
        assert fetch(url + "/api/inventory/MM-1001", "POST")[0] == 405


def test_notifications_reports_config_without_credentials(tmp_path: Path) -> None:
    (tmp_path / "rabbitmq-password").write_text("s3cret\n")
    with socket.socket() as closed:  # a port nobody listens on: the consumer keeps retrying
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_PORT": str(port),
        "RABBITMQ_VHOST": "micromart",
        "RABBITMQ_USER": "notifications",
        "SECRETS_DIR": str(tmp_path),
        "REQUIRED_SECRETS": "rabbitmq-password",
    }
    with run_app(SERVICES_DIR / "notifications", env) as url:
        status, raw = fetch(url + "/api/notifications/status")
        assert status == 200
        assert b"s3cret" not in raw
        body = json.loads(raw)
        assert body == {
            "queue": "notifications",
            "broker_configured": True,
            "broker_host": "127.0.0.1",
            "broker_port": port,
            "broker_vhost": "micromart",
        }
        # Configured but no broker answers: the pod must not receive traffic.
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["unreachable"]) == (503, ["rabbitmq: not consuming notifications"])


# --- gateway ---------------------------------------------------------------------------


class FakeUpstream(ThreadingHTTPServer):
    """Echoes requests as JSON; /api/orders/slow blocks until `release` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.arrived = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _EchoHandler(BaseHTTPRequestHandler):
    server: FakeUpstream

    def _echo(self) -> None:
        if self.path.startswith("/api/orders/slow"):
            self.server.arrived.set()
            self.server.release.wait(10)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        status = 404 if self.path.endswith("/missing") else 200
        payload = {
            "method": self.command,
            "path": self.path,
            "body": body.decode(),
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "fake")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = _echo

    def log_message(self, fmt: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _gateway_env(upstream: FakeUpstream, refused_url: str, timeout: str = "0.5") -> dict[str, str]:
    return {
        "REQUIRED_ENV": ",".join(UPSTREAMS),
        "UPSTREAM_ORDERS_URL": upstream.url,
        "UPSTREAM_CATALOG_URL": upstream.url + "/",
        "UPSTREAM_INVENTORY_URL": refused_url,
        "UPSTREAM_TIMEOUT_SECONDS": timeout,
    }


def test_gateway_forwards_by_prefix(upstream: FakeUpstream, refused_url: str) -> None:
    with run_app(SERVICES_DIR / "gateway", _gateway_env(upstream, refused_url)) as url:
        assert fetch(url + "/health/ready")[0] == 200

        status, echoed = fetch_json(url + "/api/orders?page=2")
        assert (status, echoed["method"], echoed["path"]) == (
            200,
            "GET",
            "/api/orders?page=2",
        )

        headers = {
            "X-Request-Id": "r-1",
            "traceparent": "00-abc-def-01",
            "Content-Type": "application/json",
        }
        status, raw = fetch(url + "/api/orders", "POST", b'{"sku": "MM-1"}', headers)
        echoed = json.loads(raw)
        assert (status, echoed["method"], echoed["body"]) == (
            200,
            "POST",
            '{"sku": "MM-1"}',
        )
        assert echoed["headers"]["x-request-id"] == "r-1"
        assert echoed["headers"]["traceparent"] == "00-abc-def-01"
        assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"

        # UPSTREAM_CATALOG_URL ends in "/": no double slash; upstream 4xx passes on.
        status, echoed = fetch_json(url + "/api/catalog/items")
        assert (status, echoed["path"]) == (200, "/api/catalog/items")
        assert fetch(url + "/api/catalog/missing")[0] == 404

        assert fetch(url + "/api/ordersx")[0] == 404  # prefixes match whole segments
        assert fetch(url + "/api/orders/%2E%2E/admin")[0] == 400
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
        connection.request("GET", "http://elsewhere/api/orders")  # absolute-form target
        assert connection.getresponse().status == 400
        connection.close()
        assert fetch(url + "/api/payments")[0] == 404
        assert fetch(url + "/")[0] == 404


def test_gateway_answers_502_when_upstream_is_down(
    upstream: FakeUpstream, refused_url: str
) -> None:
    with run_app(SERVICES_DIR / "gateway", _gateway_env(upstream, refused_url)) as url:
        status, body = fetch_json(url + "/api/inventory/MM-1001")
        assert (status, body["upstream"]) == (502, "UPSTREAM_INVENTORY_URL")


def test_gateway_answers_504_when_upstream_is_too_slow(
    upstream: FakeUpstream, refused_url: str
) -> None:
    with run_app(SERVICES_DIR / "gateway", _gateway_env(upstream, refused_url)) as url:
        assert fetch(url + "/api/orders/slow")[0] == 504
        upstream.release.set()


def test_gateway_unready_and_502_without_upstream_config() -> None:
    with run_app(SERVICES_DIR / "gateway", {"REQUIRED_ENV": ",".join(UPSTREAMS)}) as url:
        status, body = fetch_json(url + "/health/ready")
        assert (status, body["missing"]) == (503, list(UPSTREAMS))
        assert fetch(url + "/api/orders")[0] == 502


# --- process behaviour -----------------------------------------------------------------


def test_sigterm_drains_in_flight_requests_then_exits_0(
    upstream: FakeUpstream, refused_url: str
) -> None:
    env = _gateway_env(upstream, refused_url, timeout="10")
    with start_app(SERVICES_DIR / "gateway", env) as app:
        result: list[int] = []
        client = threading.Thread(
            target=lambda: result.append(fetch(app.url + "/api/orders/slow", timeout=10)[0])
        )
        client.start()
        assert upstream.arrived.wait(5)
        app.process.terminate()  # SIGTERM
        _wait_for(lambda: any('"shutting down"' in line for line in app.output))
        assert app.process.poll() is None  # still draining the request in flight
        upstream.release.set()
        client.join(10)
        assert result == [200]
        # Wait for the exit the first SIGTERM started. A second one (as stop() would send)
        # can land while the interpreter finalizes, where CPython has put SIG_DFL back
        # (Modules/signalmodule.c, _PySignal_Fini) and the process dies with -15.
        assert app.process.wait(10) == 0
        app.reader.join(5)
        assert app.log_records()[-1]["msg"] == "stopped"


def test_logs_are_json_lines_at_the_configured_level() -> None:
    with start_app(SERVICES_DIR / "orders", {"LOG_LEVEL": "debug"}) as app:
        fetch(app.url + "/api/orders")
        fetch(app.url + "/health/live")
        app.stop()
        records = app.log_records()  # raises if any line is not JSON
        requests = [r for r in records if r["msg"] == "request"]
        assert {r["path"] for r in requests} >= {"/api/orders", "/health/live"}
        assert all({"time", "level", "service", "msg"} <= set(r) for r in records)
        assert {r["service"] for r in records} == {"orders"}
    with start_app(SERVICES_DIR / "orders", {"LOG_LEVEL": "WARNING"}) as app:
        # A request that never reaches the (absent) database, so nothing logs a warning.
        fetch(app.url + "/api/orders", "POST", b"")
        app.stop()
        assert app.output == []  # every record so far is INFO or DEBUG
