"""What the sources a reviewer reads say: `services/*/service.yaml` and `Pulumi.<stack>.yaml`.

Every expectation in these tests derives from here, never from the component's code.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml

from tests.synthesis import (
    PROJECT_DIR,
)

APP_NS = "micromart"


MESSAGING_NS = "micromart-messaging"


INGRESS_NS = "aks-istio-ingress"


ISTIO_SYSTEM_NS = "aks-istio-system"


INGRESS_SELECTOR = {"istio": "aks-istio-ingressgateway-external"}


NAME_LABEL = "app.kubernetes.io/name"


MESSAGING_CLIENT_LABEL = "micromart.io/messaging-client"


MICROSERVICE = "micromart:service:Microservice"


DOCKER_IMAGE = "docker:index/image:Image"


STACKS = ("staging", "production")


PUBLIC_PREFIXES = {"/api/orders", "/api/catalog", "/api/inventory"}


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


MISSING = object()


@cache
def service_names() -> tuple[str, ...]:
    return tuple(sorted(p.parent.name for p in (PROJECT_DIR / "services").glob("*/service.yaml")))


@cache
def service_spec(name: str) -> dict[str, Any]:
    text = (PROJECT_DIR / "services" / name / "service.yaml").read_text(encoding="utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


@cache
def stack_config(stack: str) -> dict[str, Any]:
    text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    config: dict[str, Any] = yaml.safe_load(text)["config"]
    return config


def effective(stack: str, service: str, *path: str, default: Any = MISSING) -> Any:
    """A spec value with the stack's `micromart:services.<name>` override applied."""
    override = (stack_config(stack).get("micromart:services") or {}).get(service) or {}
    for source in (override, service_spec(service)):
        node: Any = source
        for key in path:
            if not (isinstance(node, dict) and key in node):
                break
            node = node[key]
        else:
            return node
    if default is MISSING:
        raise KeyError(f"{service}: {'.'.join(path)} is set nowhere")
    return default


def autoscaled(stack: str, service: str) -> bool:
    return bool(effective(stack, service, "autoscaling", "enabled", default=True))


def login_server(stack: str) -> str:
    return f"{stack_config(stack)['micromart:registry']['name']}.azurecr.io"


def calls(service: str) -> tuple[str, ...]:
    return tuple(service_spec(service).get("calls") or ())


def public_services() -> list[str]:
    return [name for name in service_names() if service_spec(name).get("public")]
