"""Prometheus metrics of one service: requests, errors and latency by route template.

Every label is bounded, so a scanner requesting random URLs adds no time series: `route` is one
of the templates the app declares (plus the probe paths), or `unmatched` for any other path;
`method` is one of the five methods the server dispatches; the status is reduced to its class.

The exposition is served on its own port, bound to the loopback interface only. Its one reader
is the Istio agent in the same pod: with Istio's metrics merging (on by default) the sidecar
injector moves the pod's `prometheus.io/port|path` annotations into the agent's environment and
points them at the agent's port 15020 (istio/istio pkg/kube/inject/inject.go,
`applyPrometheusMerge`); the agent then fetches `http://localhost:<port><path>` and appends it to
Envoy's metrics (pilot/cmd/pilot-agent/status/server.go, `handleStats`). Nothing outside the pod
can reach this port, whatever the NetworkPolicy or mesh policy says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

METRICS_PORT = 9464  # env METRICS_PORT; the pod's prometheus.io/port annotation names it
METRICS_PATH = "/metrics"
LOOPBACK = "127.0.0.1"
UNMATCHED = "unmatched"
PROBE_ROUTES = ("/health/live", "/health/ready", "/health/startup")
# Seconds; a p95 alert threshold should sit on or near one of these bounds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_PARAMETER = re.compile(r"^\{([a-z_][a-z0-9_]*)(\.\.\.)?\}$")


def _pattern(template: str) -> re.Pattern[str]:
    """`/api/items/{sku}` matches one segment; a last `{rest...}` matches one or more."""
    if not template.startswith("/"):
        raise ValueError(f"route template {template!r} must start with '/'")
    segments = template.split("/")[1:]
    parts = []
    for index, segment in enumerate(segments):
        found = _PARAMETER.match(segment)
        if found is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"route template {template!r}: malformed parameter {segment!r}")
            parts.append(re.escape(segment))
        elif found.group(2):
            if index != len(segments) - 1:
                raise ValueError(f"route template {template!r}: '...' only in the last segment")
            parts.append(r".+")
        else:
            parts.append(r"[^/]+")
    return re.compile("/" + "/".join(parts))


class RouteTable:
    """Maps a request path to the first declared template it matches, else `unmatched`."""

    def __init__(self, templates: Iterable[str]) -> None:
        declared = [*PROBE_ROUTES, *templates]
        if len(set(declared)) != len(declared):
            raise ValueError(f"duplicate route templates in {declared}")
        self._routes = [(template, _pattern(template)) for template in declared]

    def template(self, path: str) -> str:
        for template, pattern in self._routes:
            if pattern.fullmatch(path):
                return template
        return UNMATCHED

    @property
    def templates(self) -> tuple[str, ...]:
        return tuple(template for template, _ in self._routes)


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


@dataclass(frozen=True)
class Metrics:
    """The service's instruments, in their own registry (no process-wide default state)."""

    service: str
    routes: RouteTable
    registry: CollectorRegistry
    requests: Counter
    errors: Counter
    latency: Histogram

    @classmethod
    def create(cls, service: str, templates: Iterable[str] = ()) -> Metrics:
        registry = CollectorRegistry(auto_describe=True)
        labels = ("service", "route", "method", "status_class")
        return cls(
            service=service,
            routes=RouteTable(templates),
            registry=registry,
            requests=Counter(
                "micromart_http_requests",
                "HTTP requests answered, by route template, method and status class.",
                labels,
                registry=registry,
            ),
            errors=Counter(
                "micromart_http_request_errors",
                "Requests whose handler raised (answered 500 by the runtime), by route template.",
                ("service", "route"),
                registry=registry,
            ),
            latency=Histogram(
                "micromart_http_request_duration_seconds",
                "Time from reading the request line to writing the reply, by route template.",
                ("service", "route"),
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )

    def observe(self, path: str, method: str, status: int, seconds: float, failed: bool) -> None:
        route = self.routes.template(path)
        self.requests.labels(self.service, route, method, status_class(status)).inc()
        self.latency.labels(self.service, route).observe(seconds)
        if failed:
            self.errors.labels(self.service, route).inc()

    def serve(self, port: int | None = None) -> tuple[WSGIServer, Thread]:
        """Expose the registry on 127.0.0.1:$METRICS_PORT in a daemon thread."""
        chosen = port if port is not None else int(os.environ.get("METRICS_PORT", METRICS_PORT))
        return start_http_server(chosen, addr=LOOPBACK, registry=self.registry)
