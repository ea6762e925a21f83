"""HTTP runtime shared by every MicroMart service: JSON logs, probes, metrics, graceful shutdown.

One copy for all services: every image is built from services/ with a Dockerfile that copies
this package and the service's own app/ folder (see services/.dockerignore), and each image's
tag is derived from exactly those files (components/build_context.py).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from micromart_runtime.metrics import Metrics

MAX_BODY_BYTES = 1 << 20
SECRETS_DIR = "/mnt/secrets"  # where the Key Vault CSI volume is mounted (env SECRETS_DIR)
log = logging.getLogger("micromart")


def secret(name: str) -> str:
    """The secret file `$SECRETS_DIR/<name>`, without one trailing newline.

    Read on every call, never cached: the CSI driver rewrites the file when the value rotates.
    """
    text = _secret_path(name).read_text(encoding="utf-8")
    return text.removesuffix("\n")


def _secret_path(name: str) -> Path:
    # A file name, never a path: "../x" or "a/b" would read outside the secrets volume.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a secret file name: {name!r}")
    return Path(os.environ.get("SECRETS_DIR") or SECRETS_DIR) / name


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string
    target: str  # as received: path and query
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def json_reply(status: int, payload: object, *headers: tuple[str, str]) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        (("Content-Type", "application/json"), *headers),
    )


Handler = Callable[[Request], Reply | None]  # None means "no such route" (404)
# A readiness check: None when the dependency answers, else a short reason (never a secret).
ReadinessCheck = Callable[[], str | None]


def _listed(variable: str) -> list[str]:
    return [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]


def _missing_secrets() -> list[str]:
    # Names only, never values. An empty file counts as missing: the driver has not filled it.
    return [n for n in _listed("REQUIRED_SECRETS") if _unreadable(n)]


def _unreadable(name: str) -> bool:
    try:
        return secret(name) == ""
    except (OSError, ValueError):
        return True


def probe(path: str, checks: Sequence[ReadinessCheck] = ()) -> Reply | None:
    if path in ("/health/live", "/health/startup"):
        # Requests wait in the listen backlog until serve() has initialised and is serving,
        # so any answer at all means the process is up and started.
        return json_reply(200, {"status": "ok"})
    if path == "/health/ready":
        if missing := [n for n in _listed("REQUIRED_ENV") if not os.environ.get(n)]:
            return json_reply(503, {"status": "unready", "missing": missing})
        if missing := _missing_secrets():
            return json_reply(503, {"status": "unready", "missing_secrets": missing})
        # Only once the settings are there: a check would otherwise fail for the same reason.
        if failed := [reason for check in checks if (reason := check()) is not None]:
            return json_reply(503, {"status": "unready", "unreachable": failed})
        return json_reply(200, {"status": "ready"})
    return None


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "msg": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str) -> None:
    wanted = os.environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    aliases = {"INFORMATION": "INFO", "WARN": "WARNING", "TRACE": "DEBUG"}
    level = logging.getLevelNamesMapping().get(aliases.get(wanted, wanted))
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(_JsonFormatter(service))
    logging.basicConfig(level=level or logging.INFO, handlers=[stream], force=True)
    if level is None:
        log.warning("unknown LOG_LEVEL, using INFO", extra={"fields": {"LOG_LEVEL": wanted}})


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() waits for in-flight requests to finish

    def __init__(
        self, port: int, route: Handler, checks: Sequence[ReadinessCheck], metrics: Metrics
    ) -> None:
        super().__init__(("0.0.0.0", port), _RequestHandler)
        self.route = route
        self.checks = tuple(checks)
        self.metrics = metrics

    def handle_error(self, request: Any, client_address: Any) -> None:
        # e.g. the client went away mid-response; the default prints a traceback to stderr
        fields = {"client": client_address, "error": repr(sys.exc_info()[1])}
        log.warning("connection error", extra={"fields": fields})


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "micromart"
    sys_version = ""
    timeout = 30  # seconds a client may take to send its request
    _failed = False  # the handler raised; set per request by _route

    def _dispatch(self) -> None:
        started = time.perf_counter()
        self._failed = False
        path = urlsplit(self.path).path
        reply = probe(path, self.server.checks) if self.command == "GET" else None
        if reply is None:
            reply = self._route(path)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        elapsed = time.perf_counter() - started
        self.server.metrics.observe(path, self.command, reply.status, elapsed, self._failed)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _route(self, path: str) -> Reply:
        if not self.path.startswith("/"):  # absolute-form and other targets: not ours
            return json_reply(400, {"error": "bad request target"})
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return json_reply(413 if length.isdigit() else 400, {"error": "bad Content-Length"})
        body = self.rfile.read(int(length))
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, path, self.path, headers, body, self.client_address[0])
        try:
            return self.server.route(request) or json_reply(404, {"error": "not found"})
        except Exception:
            self._failed = True
            log.exception("unhandled error", extra={"fields": {"path": path}})
            return json_reply(500, {"error": "internal error"})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        level = logging.DEBUG if path.startswith("/health/") else logging.INFO
        fields = {"method": self.command, "path": path, "status": code}
        log.log(level, "request", extra={"fields": fields})

    def log_message(self, fmt: str, *args: Any) -> None:
        log.warning(fmt % args, extra={"fields": {"client": self.client_address[0]}})


def serve(
    service: str,
    handle: Handler,
    routes: Iterable[str] = (),
    ready: Sequence[ReadinessCheck] = (),
) -> None:
    """Serve `handle` and the probes on 0.0.0.0:$PORT until SIGTERM/SIGINT, then drain.

    `/health/ready` answers 503 while a required setting or secret is missing or a `ready`
    check fails (e.g. the database is unreachable), so the Service stops routing to the pod.
    `routes` are the app's route templates (`/api/items/{sku}`, a last `{rest...}` for a
    prefix): request metrics are labelled by them, on 127.0.0.1:$METRICS_PORT/metrics.
    """
    configure_logging(service)
    metrics = Metrics.create(service, routes)
    server = _Server(int(os.environ.get("PORT", "8080")), handle, ready, metrics)
    metrics.serve()

    def shutdown(signum: int) -> None:  # runs off the main thread: shutdown() blocks
        log.info("shutting down", extra={"fields": {"signal": signal.Signals(signum).name}})
        server.shutdown()

    def stop(signum: int, _frame: object) -> None:
        threading.Thread(target=shutdown, args=(signum,)).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening", extra={"fields": {"port": server.server_address[1]}})
    server.serve_forever(poll_interval=0.1)  # how soon a shutdown request is noticed
    server.server_close()
    log.info("stopped")
