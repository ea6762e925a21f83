"""Generate a copy of the project with N synthetic services, for the scaling benchmark.

The copy keeps the real platform (stack files, components, policy pack) and replaces the five real
services with `svc-000` .. `svc-<N-1>`: N is then exactly the number of services, and the names
cannot collide with the real ones. The stack files' `micromart:services` overrides name the real
services only, so they are dropped (the loader rejects an override for an unknown service).

Each generated spec is valid on its own and varied the way real ones are, deterministically from
`seed`: the call graph is acyclic (a service calls up to two *earlier* services), about 40% own a
Postgres database (named after the service, so unique) and about 40% use RabbitMQ, about half
autoscale, and the last service is the single public edge with a route to each service it calls.
Each gets a tiny build context (a Dockerfile and `app/main.py`) so its image tag and digest are
derived from its own files.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import yaml

SERVICE_PREFIX = "svc"
STACK_FILES = ("Pulumi.staging.yaml", "Pulumi.production.yaml")
SERVICES_KEY = "micromart:services"
# Built from services/ like the real ones: the shared runtime plus the service's own app/.
_DOCKERFILE = """\
FROM python:3.12.8-slim-bookworm
WORKDIR /srv
COPY micromart_runtime/ micromart_runtime/
COPY {name}/app/ app/
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "app.main"]
"""


def service_name(index: int) -> str:
    return f"{SERVICE_PREFIX}-{index:03d}"


def copy_program(target: Path) -> Path:
    """The program as the tests copy it (tests.synthesis.copy_project), into `target`."""
    from tests.synthesis import copy_project

    return copy_project(target)


def generate_project(target: Path, count: int, seed: int = 7) -> Path:
    """A copy of the project at `target` whose services are `count` generated ones."""
    if count < 1:
        raise ValueError("count must be at least 1")
    project = copy_program(target)
    services_dir = project / "services"
    # The real services go; the shared runtime they are built with stays.
    for real in list(services_dir.glob("*/service.yaml")):
        shutil.rmtree(real.parent)
    drop_service_overrides(project)
    for index, spec in enumerate(generate_specs(count, seed)):
        write_service(services_dir, spec, index)
    return project


def drop_service_overrides(project: Path) -> None:
    for name in STACK_FILES:
        path = project / name
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        config = document.get("config") or {}
        config.pop(SERVICES_KEY, None)
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def generate_specs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    specs = []
    for index in range(count):
        name = service_name(index)
        earlier = [service_name(i) for i in range(index)]
        calls = rng.sample(earlier, k=min(len(earlier), rng.randint(0, 2)))
        public = index == count - 1
        spec: dict[str, Any] = {
            "name": name,
            "description": f"Generated service {index} for the scaling benchmark.",
            "port": 8080,
            "probes": {
                "liveness": "/health/live",
                "readiness": "/health/ready",
                "startup": "/health/startup",
            },
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "250m", "memory": "256Mi"},
            },
            # Two replicas: production's policy config requires at least two.
            "replicas": 2,
            "autoscaling": {"enabled": rng.random() < 0.5, "minReplicas": 2, "maxReplicas": 4},
        }
        if calls:
            spec["calls"] = calls
        if rng.random() < 0.4:
            spec["postgres"] = {"database": name.replace("-", "")}
        if rng.random() < 0.4:
            spec["rabbitmq"] = True
        if public:
            spec["public"] = True
            spec["routes"] = [{"prefix": f"/api/{callee}", "service": callee} for callee in calls]
        specs.append(spec)
    return specs


def write_service(services_dir: Path, spec: dict[str, Any], index: int) -> Path:
    folder = services_dir / str(spec["name"])
    (folder / "app").mkdir(parents=True)
    (folder / "service.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    (folder / "Dockerfile").write_text(_DOCKERFILE.format(name=spec["name"]), encoding="utf-8")
    (folder / "app" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "app" / "main.py").write_text(
        f'"""Generated service {index}."""\n\nSERVICE = "{spec["name"]}"\n', encoding="utf-8"
    )
    return folder
