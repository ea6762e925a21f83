"""The smoke test: what it plans from the specs, and how it judges a stub server on loopback."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.synthesis import PROJECT_DIR
from tools import smoke

SERVICES = PROJECT_DIR / "services"


def _specs() -> dict[str, dict[str, object]]:
    return {
        path.parent.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in SERVICES.glob("*/service.yaml")
    }


class _Stub(http.server.BaseHTTPRequestHandler):
    """200 on the paths in `ok`, 503 on the rest: a service whose readiness can be switched."""

    ok: frozenset[str] = frozenset()
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status = 200 if self.path in self.ok else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type(
        "Handler", (_Stub,), {"ok": frozenset({"/health/ready", "/api/orders"}), "seen": []}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_public_plan_covers_every_route_of_the_public_service() -> None:
    specs = smoke.load_specs(SERVICES)
    urls = smoke.plan_public(specs, "staging.example.com")
    (gateway,) = [raw for raw in _specs().values() if raw.get("public")]
    routes = gateway["routes"]
    assert isinstance(routes, list)
    assert sorted(urls) == sorted(f"https://staging.example.com{r['prefix']}" for r in routes)


def test_every_service_readiness_path_is_planned_once() -> None:
    specs = smoke.load_specs(SERVICES)
    mesh = smoke.plan_mesh(specs)
    local = smoke.plan_local(specs)
    raw = _specs()
    expected = {name: spec["probes"]["readiness"] for name, spec in raw.items()}  # type: ignore[index]
    covered: dict[str, str] = {}
    (gateway,) = [name for name, spec in raw.items() if spec.get("public")]
    for url in mesh:
        host = url.split("//", 1)[1].split("/", 1)[0]
        name = gateway if host.startswith("127.0.0.1") else host.split(".", 1)[0]
        # Callees are reached by their cluster DNS name (through the mesh), never by pod IP.
        if name != gateway:
            assert host == f"{name}.micromart.svc.cluster.local:80", url
        covered[name] = "/" + url.split("//", 1)[1].split("/", 1)[1]
    for name, url in local:
        assert name not in covered, f"{name} planned twice"
        assert url.startswith("http://127.0.0.1:")
        covered[name] = "/" + url.split("//", 1)[1].split("/", 1)[1]
    assert covered == expected
    assert [name for name, _ in local] == ["notifications"]


def test_check_passes_only_when_every_url_answers_2xx(stub: tuple[str, type[_Stub]]) -> None:
    base, _ = stub
    results = smoke.check([f"{base}/health/ready", f"{base}/api/orders"], attempts=1)
    assert [r.status for r in results] == [200, 200]
    assert all(r.ok for r in results)
    failing = smoke.check([f"{base}/health/ready", f"{base}/api/catalog"], attempts=1)
    assert [r.ok for r in failing] == [True, False]
    assert failing[1].status == 503


def test_a_failing_url_is_retried_then_reported(stub: tuple[str, type[_Stub]]) -> None:
    base, handler = stub
    waits: list[float] = []
    (result,) = smoke.check([f"{base}/api/catalog"], attempts=3, wait=waits.append)
    assert not result.ok
    assert handler.seen == ["/api/catalog"] * 3
    assert waits == [smoke.RETRY_SECONDS] * 2


def test_a_refused_connection_fails_without_raising() -> None:
    # Port 9 (discard) on loopback: nothing listens in a test sandbox.
    (result,) = smoke.check(["http://127.0.0.1:9/health/ready"], attempts=1)
    assert result.status is None and not result.ok


def test_checking_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="checks nothing"):
        smoke.check([])


def test_the_file_runs_from_stdin_like_in_the_pod(stub: tuple[str, type[_Stub]]) -> None:
    # `kubectl exec -i ... -- python - check URL < tools/smoke.py`: no project import allowed.
    base, _ = stub
    source = Path(smoke.__file__).read_text(encoding="utf-8")

    def run(*urls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", "-", "check", "--attempts", "1", *urls],
            input=source,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd="/",
        )

    passed = run(f"{base}/health/ready", f"{base}/api/orders")
    assert passed.returncode == 0, passed.stderr
    assert "all 2 checks passed" in passed.stdout
    failed = run(f"{base}/health/ready", f"{base}/api/inventory")
    assert failed.returncode == 1
    assert f"FAIL 503 {base}/api/inventory" in failed.stdout
    assert "1 of 2 checks failed" in failed.stderr
