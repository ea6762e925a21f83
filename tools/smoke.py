"""Smoke test of a deployed stack: every public route and every readiness path answer 2xx.

Planning reads the service specs and prints one check per line:
- `plan-public --host H`: `https://H<prefix>` for every route of the public service (ingress,
  gateway, then the routed service, all through the mesh);
- `plan-mesh`: every readiness path reachable from inside the gateway pod: the gateway's own on
  loopback, each service it calls by its cluster name (through its sidecar, mTLS,
  AuthorizationPolicy and NetworkPolicy, exactly like live traffic);
- `plan-local`: `<service> <url>` for the services nothing public calls, checked on loopback
  inside their own pod (no path through the gateway exists for them, by design).

`check URL...` GETs each URL and exits 1 naming every failure. It uses the standard library
only and never imports the project, so the same file also runs inside a service pod, read from
stdin: `kubectl exec -i deployment/gateway -- python - check URL... < tools/smoke.py`.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.config.service_spec import ServiceSpec

NAMESPACE = "micromart"
SERVICE_PORT = 80
ATTEMPTS = 5
# Istio pushes new routes to every sidecar within seconds of a rollout; a few retries absorb that
# without hiding a route that stays broken.
RETRY_SECONDS = 3.0
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Outcome:
    url: str
    status: int | None
    detail: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --------------------------------------------------------------------------------------
# Checking (standard library only)


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # A proxy from the environment would test the proxy, not the route.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    try:
        with _no_proxy_opener().open(url, timeout=timeout) as response:
            return Outcome(url, response.status, response.reason)
    except urllib.error.HTTPError as error:
        with error:
            return Outcome(url, error.code, error.reason)
    except (OSError, http.client.HTTPException) as error:
        return Outcome(url, None, repr(error))


def check(
    urls: Sequence[str],
    attempts: int = ATTEMPTS,
    wait: Callable[[float], None] = time.sleep,
    fetch: Callable[[str], Outcome] = probe,
) -> list[Outcome]:
    """The last outcome of each URL, retried up to `attempts` times while it fails."""
    if not urls:
        raise ValueError("no URL to check: a smoke test that checks nothing proves nothing")
    results = []
    for url in urls:
        outcome = fetch(url)
        for _ in range(attempts - 1):
            if outcome.ok:
                break
            wait(RETRY_SECONDS)
            outcome = fetch(url)
        results.append(outcome)
    return results


# --------------------------------------------------------------------------------------
# Planning (reads the specs)


def load_specs(services_dir: Path) -> list[ServiceSpec]:
    import yaml

    from components.config.service_spec import ServiceSpec

    return [
        ServiceSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for path in sorted(services_dir.glob("*/service.yaml"))
    ]


def _public(specs: Sequence[ServiceSpec]) -> ServiceSpec:
    public = [spec for spec in specs if spec.public]
    if len(public) != 1:
        raise ValueError(f"expected exactly one public service, found {len(public)}")
    return public[0]


def plan_public(specs: Sequence[ServiceSpec], host: str) -> list[str]:
    routes = _public(specs).routes
    if not routes:
        raise ValueError("the public service declares no routes")
    return [f"https://{host}{route.prefix}" for route in routes]


def plan_mesh(specs: Sequence[ServiceSpec], namespace: str = NAMESPACE) -> list[str]:
    gateway = _public(specs)
    by_name = {spec.name: spec for spec in specs}
    urls = [f"http://127.0.0.1:{gateway.port}{gateway.probes.readiness}"]
    for callee in gateway.calls:
        host = f"{callee}.{namespace}.svc.cluster.local"
        urls.append(f"http://{host}:{SERVICE_PORT}{by_name[callee].probes.readiness}")
    return urls


def plan_local(specs: Sequence[ServiceSpec]) -> list[tuple[str, str]]:
    gateway = _public(specs)
    reached = {gateway.name, *gateway.calls}
    return [
        (spec.name, f"http://127.0.0.1:{spec.port}{spec.probes.readiness}")
        for spec in specs
        if spec.name not in reached
    ]


# --------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smoke", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("check", help="GET every URL; exit 1 if any is not 2xx")
    run.add_argument("urls", nargs="+")
    run.add_argument("--attempts", type=int, default=ATTEMPTS)
    for name in ("plan-public", "plan-mesh", "plan-local"):
        plan = commands.add_parser(name)
        plan.add_argument("--services-dir", type=Path, default=Path("services"))
        if name == "plan-public":
            plan.add_argument("--host", required=True)
        if name == "plan-mesh":
            plan.add_argument("--namespace", default=NAMESPACE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        results = check(args.urls, attempts=args.attempts)
        for outcome in results:
            mark = "ok  " if outcome.ok else "FAIL"
            print(f"{mark} {outcome.status or '---'} {outcome.url} {outcome.detail}")
        failed = [outcome.url for outcome in results if not outcome.ok]
        if failed:
            print(f"smoke: {len(failed)} of {len(results)} checks failed", file=sys.stderr)
            return 1
        print(f"smoke: all {len(results)} checks passed")
        return 0
    specs = load_specs(args.services_dir)
    if args.command == "plan-public":
        lines = plan_public(specs, args.host)
    elif args.command == "plan-mesh":
        lines = plan_mesh(specs, args.namespace)
    else:
        lines = [f"{service} {url}" for service, url in plan_local(specs)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
