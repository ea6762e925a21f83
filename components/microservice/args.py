"""What a Microservice is given, and the names it derives from that alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config.service_spec import ServiceSpec
from components.config.stack import ImagesConfig, IngressConfig
from components.istio import IstioCrds
from components.keda import KedaCrds

SERVICE_PORT = 80
HTTP_PORT_NAME = "http"
CONFIG_HASH_ANNOTATION = "micromart.io/config-hash"
POSTGRES_PORT = 5432
AMQP_PORT = 5672
TRACK_LABEL = "track"
BLUE_GREEN_TRACKS = ("blue", "green")
INGRESS_GATEWAY_PRINCIPAL = (
    f"cluster.local/ns/{kube.ISTIO_INGRESS_NAMESPACE}/sa/aks-istio-ingressgateway-external"
)


@dataclass(frozen=True)
class Broker:
    """Where a messaging service connects; its user is named after the service, its password
    reaches the pod as the file `rabbitmq-password`, never as env."""

    host: str
    port: int
    vhost: str
    # The monitoring user's AMQP URL (key `host`), for KEDA's TriggerAuthentication only.
    monitoring_secret: pulumi.Input[str]


@dataclass(frozen=True)
class PlatformEndpoints:
    """What a service may reach on the platform, by name only."""

    postgres_subnet: str
    # Secret names as outputs: the Deployment then waits until the secret really exists.
    postgres_secret: pulumi.Input[str] | None
    rabbitmq: Broker | None
    rabbitmq_namespace: str


@dataclass(frozen=True)
class MicroserviceArgs:
    spec: ServiceSpec
    callers: tuple[str, ...]
    namespace: pulumi.Input[str]
    namespace_name: str
    source_dir: Path
    login_server: pulumi.Input[str]
    images: ImagesConfig
    log_level: str
    platform: PlatformEndpoints
    provider: k8s.Provider
    # Istio objects are sent only after the add-on's CRDs were read from the cluster.
    istio: IstioCrds
    # The KEDA add-on's CRDs, for a service that scales on its queue.
    keda: KedaCrds | None = None
    ingress: IngressConfig | None = None
    # Names in spec.env whose values are Pulumi secrets: they go to a Secret, not the ConfigMap.
    secret_env: frozenset[str] = frozenset()


def service_host(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def upstream_env(service: str) -> str:
    return f"UPSTREAM_{service.upper().replace('-', '_')}_URL"
