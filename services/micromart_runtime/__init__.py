"""HTTP runtime shared by every MicroMart service: JSON logs, probes, graceful shutdown.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 1 << 20
log = logging.getLogger("micromart")


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


# Where the platform mounts the service's secrets: one file per secret, named by the secret (the
# Secrets Store CSI driver's volume, read-only; the driver rewrites a file in place when the
# secret rotates, so read it when the value is needed instead of caching it at start).
DEFAULT_SECRETS_DIR = "/mnt/secrets"


def _secret_path(name: str) -> Path:
    # A file name, never a path: "../x" or "a/b" would read outside the secrets volume.
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"not a secret file name: {name!r}")
    return Path(os.environ.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR) / name


def secret(name: str) -> str:
    """The current value of the mounted secret `name` ($SECRETS_DIR/<name>).

    One trailing newline is stripped (a value written with `echo` or a heredoc ends in one);
    anything else, other whitespace included, is part of the value. Raises FileNotFoundError
    when the secret is not mounted.
    """
    value = _secret_path(name).read_text(encoding="utf-8")
    return value[:-1] if value.endswith("\n") else value


def _names(variable: str) -> list[str]:
    return [n for n in (n.strip() for n in os.environ.get(variable, "").split(",")) if n]


def _secret_missing(name: str) -> bool:
    try:
        return secret(name) == ""
    except (OSError, ValueError):
        return True


def probe(path: str) -> Reply | None:
    if path in ("/health/live", "/health/startup"):
        # Requests wait in the listen backlog until serve() has initialised and is serving,
        # so any answer at all means the process is up and started.
        return json_reply(200, {"status": "ok"})
    if path == "/health/ready":
        missing = [n for n in _names("REQUIRED_ENV") if not os.environ.get(n)]
        # Names only: a secret's value never appears in a reply or a log.
        missing_secrets = [n for n in _names("REQUIRED_SECRETS") if _secret_missing(n)]
        if missing or missing_secrets:
            body: dict[str, object] = {"status": "unready", "missing": missing}
            if missing_secrets:
                body["missing_secrets"] = missing_secrets
            return json_reply(503, body)
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


def _configure_logging(service: str) -> None:
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

    def __init__(self, port: int, route: Handler) -> None:
        super().__init__(("0.0.0.0", port), _RequestHandler)
        self.route = route

    def handle_error(self, request: Any, client_address: Any) -> None:
        # e.g. the client went away mid-response; the default prints a traceback to stderr
        fields = {"client": client_address, "error": repr(sys.exc_info()[1])}
        log.warning("connection error", extra={"fields": fields})


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "micromart"
    sys_version = ""
    timeout = 30  # seconds a client may take to send its request

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        reply = probe(path) if self.command == "GET" else None
        if reply is None:
            reply = self._route(path)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

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
            log.exception("unhandled error", extra={"fields": {"path": path}})
            return json_reply(500, {"error": "internal error"})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urlsplit(self.path).path
        level = logging.DEBUG if path.startswith("/health/") else logging.INFO
        fields = {"method": self.command, "path": path, "status": code}
        log.log(level, "request", extra={"fields": fields})

    def log_message(self, fmt: str, *args: Any) -> None:
        log.warning(fmt % args, extra={"fields": {"client": self.client_address[0]}})


def serve(service: str, handle: Handler) -> None:
    """Serve `handle` and the probes on 0.0.0.0:$PORT until SIGTERM/SIGINT, then drain."""
    _configure_logging(service)
    server = _Server(int(os.environ.get("PORT", "8080")), handle)

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
