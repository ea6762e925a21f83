"""Every app's /metrics: Prometheus text that prometheus_client's own parser reads, with bounded
labels (route templates, status classes), served on loopback only."""

from __future__ import annotations

import importlib
import socket
import threading
from collections.abc import Iterator
from types import ModuleType

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from .apprunner import SERVICE_NAMES, SERVICES_DIR, fetch, free_port, start_app

REQUESTS = "micromart_http_requests"
LATENCY = "micromart_http_request_duration_seconds"
ERRORS = "micromart_http_request_errors"


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The shared runtime package, imported in-process as the images lay it out."""
    monkeypatch.syspath_prepend(str(SERVICES_DIR))
    yield importlib.import_module("micromart_runtime")


def samples(text: str) -> dict[str, list[Sample]]:
    """Samples by family name, through prometheus_client's parser (raises on malformed text)."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def scrape(port: int) -> dict[str, list[Sample]]:
    status, body = fetch(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return samples(body.decode())


def counts(found: dict[str, list[Sample]]) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["route"], s.labels["method"], s.labels["status_class"]): s.value
        for s in found[REQUESTS]
        if s.name == REQUESTS + "_total"
    }


# --- route templates ---------------------------------------------------------------------------


def test_paths_map_to_their_template_and_everything_else_to_one_label(runtime: ModuleType) -> None:
    metrics = importlib.import_module("micromart_runtime.metrics")
    table = metrics.RouteTable(["/api/orders", "/api/inventory/{sku}", "/api/catalog/{rest...}"])
    assert table.template("/api/orders") == "/api/orders"
    assert table.template("/api/inventory/MM-1001") == "/api/inventory/{sku}"
    assert table.template("/api/catalog/items/7/reviews") == "/api/catalog/{rest...}"
    assert table.template("/health/ready") == "/health/ready"
    for stray in ("/api/orders/1", "/api/inventory/", "/api/inventory/a/b", "/", "/wp-admin"):
        assert table.template(stray) == metrics.UNMATCHED, stray


@pytest.mark.parametrize(
    ("templates", "problem"),
    [
        (["api/orders"], "must start with '/'"),
        (["/api/{rest...}/x"], "only in the last segment"),
        (["/api/{Bad}"], "malformed parameter"),
        (["/api/orders", "/api/orders"], "duplicate"),
        (["/health/ready"], "duplicate"),
    ],
)
def test_bad_templates_are_refused_at_start(
    runtime: ModuleType, templates: list[str], problem: str
) -> None:
    metrics = importlib.import_module("micromart_runtime.metrics")
    with pytest.raises(ValueError, match=problem):
        metrics.RouteTable(templates)


# --- the apps, as processes --------------------------------------------------------------------


API_PATHS = {
    "gateway": "/api/orders/42",
    "orders": "/api/orders",
    "catalog": "/api/catalog/items",
    "inventory": "/api/inventory/MM-1001",
    "notifications": "/api/notifications/status",
}
API_TEMPLATES = {
    "gateway": "/api/orders/{rest...}",
    "orders": "/api/orders",
    "catalog": "/api/catalog/items",
    "inventory": "/api/inventory/{sku}",
    "notifications": "/api/notifications/status",
}


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_app_counts_requests_by_template_and_status_class(name: str) -> None:
    port = free_port()
    with start_app(SERVICES_DIR / name, {"METRICS_PORT": str(port)}) as app:
        fetch(app.url + API_PATHS[name])
        for index in range(20):  # a scan: twenty distinct unknown paths
            assert fetch(f"{app.url}/scan/{index}")[0] == 404
        fetch(app.url + "/health/ready")
        found = scrape(port)

    by_label = counts(found)
    assert by_label[("unmatched", "GET", "4xx")] == 20  # one series for all of them
    # Ready or not (503 without a database here), one probe request under its own template.
    assert sum(v for k, v in by_label.items() if k[0] == "/health/ready") == 1
    # Without their database, broker or upstream the API answers 5xx here; with them, 2xx (the
    # integration tests): one request either way, under the route's template.
    api = {key: value for key, value in by_label.items() if key[0] == API_TEMPLATES[name]}
    assert sum(api.values()) == 1 and [key[1] for key in api] == ["GET"], api
    assert {s.labels["service"] for s in found[REQUESTS]} == {name}
    # start_app polls /health/startup until the app answers: some number of times.
    routes = {s.labels["route"] for s in found[REQUESTS]} - {"/health/startup"}
    assert routes == {"unmatched", "/health/ready", API_TEMPLATES[name]}, routes
    # The latency histogram has one bucket series per bound and route, +Inf counting all.
    inf = {
        s.labels["route"]: s.value
        for s in found[LATENCY]
        if s.name == LATENCY + "_bucket"
        and s.labels["le"] == "+Inf"
        and s.labels["route"] != "/health/startup"
    }
    assert inf == {"unmatched": 20, "/health/ready": 1, API_TEMPLATES[name]: 1}


def _non_loopback_address() -> str | None:
    """This host's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_metrics_answer_on_loopback_only_and_not_on_the_app_port() -> None:
    port = free_port()
    with start_app(SERVICES_DIR / "catalog", {"METRICS_PORT": str(port)}) as app:
        assert fetch(app.url + "/metrics")[0] == 404  # the app port does not serve them
        assert REQUESTS in scrape(port)
        address = _non_loopback_address()
        if address is None:
            pytest.skip("no non-loopback interface to try")
        with pytest.raises(OSError):  # connection refused: nothing listens there
            socket.create_connection((address, port), timeout=2).close()


# --- errors, in-process ------------------------------------------------------------------------


def test_a_raising_handler_counts_as_an_error_and_a_5xx(runtime: ModuleType) -> None:
    def handler(request: runtime.Request) -> None:  # type: ignore[name-defined]
        if request.path == "/api/boom":
            raise RuntimeError("boom")

    metrics = runtime.Metrics.create("probe-test", ["/api/boom"])
    server = runtime._Server(0, handler, (), metrics)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert fetch(url + "/api/boom")[0] == 500
        assert fetch(url + "/api/nothing-here")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    found = samples(runtime_exposition(metrics))
    errors = {s.labels["route"]: s.value for s in found[ERRORS] if s.name == ERRORS + "_total"}
    assert errors == {"/api/boom": 1}
    assert counts(found) == {("/api/boom", "GET", "5xx"): 1, ("unmatched", "GET", "4xx"): 1}


def runtime_exposition(metrics: object) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()  # type: ignore[attr-defined]
