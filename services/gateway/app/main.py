"""Gateway: reverse proxy from /api/<service> to that service's upstream base URL."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from urllib.parse import unquote

from micromart_runtime import Reply, Request, json_reply, log, serve

ROUTES = {
    "/api/orders": "UPSTREAM_ORDERS_URL",
    "/api/catalog": "UPSTREAM_CATALOG_URL",
    "/api/inventory": "UPSTREAM_INVENTORY_URL",
}
# Per-connection headers (RFC 9110 7.6.1) plus the ones urllib or our server set
# themselves; everything else, tracing headers (traceparent, x-b3-*) included, passes on.
NOT_FORWARDED = frozenset(
    (
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "host",
        "content-length",
        "server",
        "date",
    )
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a proxy hands redirects back to the client


# No proxy-from-environment: in-cluster traffic goes straight to the (sidecar-wrapped) service.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _upstream(path: str) -> str | None:
    for prefix, variable in ROUTES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return variable
    return None


def _forward(request: Request, base: str, timeout: float) -> Reply:
    headers = {k: v for k, v in request.headers.items() if k not in NOT_FORWARDED}
    forwarded = request.headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.client}" if forwarded else request.client
    outgoing = urllib.request.Request(
        base.rstrip("/") + request.target,
        request.body or None,
        headers,
        method=request.method,
    )
    try:
        with _opener.open(outgoing, timeout=timeout) as response:
            status, reply_headers, body = (
                response.status,
                response.headers,
                response.read(),
            )
    except urllib.error.HTTPError as error:  # the upstream answered: pass its answer on
        with error:
            status, reply_headers, body = error.code, error.headers, error.read()
    passed = tuple((k, v) for k, v in reply_headers.items() if k.lower() not in NOT_FORWARDED)
    return Reply(status, body, passed)


def route(request: Request) -> Reply | None:
    variable = _upstream(request.path)
    if variable is None:
        return None
    if {".", ".."} & set(unquote(request.path).split("/")):  # no escaping the prefix
        return json_reply(400, {"error": "dot segments are not allowed"})
    if not (base := os.environ.get(variable)):
        return json_reply(502, {"error": "upstream not configured", "upstream": variable})
    timeout = float(os.environ.get("UPSTREAM_TIMEOUT_SECONDS", "5"))
    try:
        return _forward(request, base, timeout)
    except (OSError, http.client.HTTPException) as error:
        timed_out = isinstance(error, TimeoutError) or isinstance(
            getattr(error, "reason", None), TimeoutError
        )
        log.warning(
            "upstream failed",
            extra={"fields": {"upstream": variable, "error": repr(error)}},
        )
        return json_reply(
            504 if timed_out else 502,
            {"error": "upstream unavailable", "upstream": variable},
        )


if __name__ == "__main__":
    serve("gateway", route, routes=[t for p in ROUTES for t in (p, p + "/{rest...}")])
