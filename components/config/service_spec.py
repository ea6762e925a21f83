"""The service spec: what `services/<name>/service.yaml` may say, and what a stack may override."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from components.config.base import (
    Digest,
    DnsLabel,
    HttpPath,
    Percent,
    PinnedTag,
    Port,
    ResourceRequirements,
    Strict,
)

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
# Variables the platform injects itself (the Microservice component's container env and
# ConfigMap; tests/components/config/test_bad_input.py checks every injected name is covered);
# a spec setting one would silently lose to the platform's value.
RESERVED_ENV = frozenset(
    {
        "PORT",
        "SERVICE_NAME",
        "REQUIRED_ENV",
        # No longer injected (secrets are files now), but kept: a spec reviving either name
        # would put a connection string with a password back into env.
        "DATABASE_URL",
        "RABBITMQ_HOST",
        "RABBITMQ_PORT",
        "RABBITMQ_VHOST",
        "RABBITMQ_USER",
        "LOG_LEVEL",
        # Secrets as files (components/workload_identity.py) and the connection settings.
        "SECRETS_DIR",
        "REQUIRED_SECRETS",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_DATABASE",
        "POSTGRES_USER",
        "POSTGRES_SSLMODE",
        "METRICS_PORT",
    }
)
RESERVED_ENV_PATTERNS = (
    # The workload identity webhook's (AZURE_CLIENT_ID, AZURE_TENANT_ID,
    # AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST) in every pod labelled to use it.
    re.compile(r"^AZURE_"),
    # One per declared callee: UPSTREAM_<SERVICE>_URL.
    re.compile(r"^UPSTREAM_"),
    # The kubelet's own: KUBERNETES_SERVICE_HOST, and the service links of every Service in the
    # namespace (<SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT[_<NAME>], <SVC>_PORT[_<N>_TCP...]).
    re.compile(r"^KUBERNETES_"),
    re.compile(r"_SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?$"),
    re.compile(r"_PORT_[0-9]+_(TCP|UDP|SCTP)(_[A-Z]+)?$"),
)
# Envoy and the Istio agent bind 15000-15090 in every injected pod (admin 15000, outbound
# 15001, inbound 15006, HBONE 15008, telemetry 15020, health 15021, DNS 15053, Prometheus
# 15090): https://istio.io/latest/docs/ops/deployment/application-requirements/
ISTIO_RESERVED_PORTS = range(15000, 15091)
# The restricted Pod Security Standard drops every capability, so a non-root app cannot bind
# below 1024 (no NET_BIND_SERVICE).
PRIVILEGED_PORTS = range(1, 1024)
# The runtime's Prometheus exporter (loopback only; services/micromart_runtime/metrics.py).
METRICS_PORT = 9464


def platform_env(name: str) -> bool:
    """Whether the platform (or Kubernetes) sets `name` in every service's container."""
    return name in RESERVED_ENV or any(p.search(name) for p in RESERVED_ENV_PATTERNS)


def _no_platform_env(env: dict[str, str]) -> dict[str, str]:
    taken = sorted(name for name in env if platform_env(name))
    if taken:
        raise ValueError(f"{', '.join(taken)} is set by the platform; choose another name")
    return env


def _app_port(port: int) -> int:
    if port in ISTIO_RESERVED_PORTS:
        raise ValueError(
            f"{port} is reserved by the Istio sidecar (15000-15090); choose another port"
        )
    if port == METRICS_PORT:
        raise ValueError(
            f"{port} is the runtime's metrics port (METRICS_PORT); choose another port"
        )
    if port in PRIVILEGED_PORTS:
        raise ValueError(
            f"{port} is below 1024, which a non-root container under the restricted Pod "
            "Security Standard cannot bind; use e.g. 8080"
        )
    return port


AppEnv = Annotated[dict[EnvName, str], AfterValidator(_no_platform_env)]
AppPort = Annotated[Port, AfterValidator(_app_port)]


class Probes(Strict):
    liveness: HttpPath
    readiness: HttpPath
    startup: HttpPath | None = None

    @model_validator(mode="after")
    def _distinct(self) -> Probes:
        # A shared path makes liveness fail whenever a dependency is down, so Kubernetes would
        # restart healthy pods during someone else's outage.
        if self.liveness == self.readiness:
            raise ValueError(f"liveness and readiness use the same path ({self.liveness})")
        return self


QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,255}$")]


class QueueScaling(Strict):
    """Scale on the depth of the service's RabbitMQ queue (KEDA) instead of CPU and memory."""

    queue: QueueName
    messages_per_replica: int = Field(ge=1, le=100_000, alias="messagesPerReplica")


class Autoscaling(Strict):
    enabled: bool = True
    min_replicas: int = Field(default=2, ge=1, alias="minReplicas")
    max_replicas: int = Field(default=10, ge=1, le=100, alias="maxReplicas")
    target_cpu_utilization: Percent = Field(default=70, alias="targetCpuUtilization")
    target_memory_utilization: Percent = Field(default=80, alias="targetMemoryUtilization")
    scale_up_stabilization_seconds: int = Field(
        default=60, ge=0, le=3600, alias="scaleUpStabilizationSeconds"
    )
    scale_down_stabilization_seconds: int = Field(
        default=300, ge=0, le=3600, alias="scaleDownStabilizationSeconds"
    )
    # Rate limits (seed 004): up by 100 % or 4 pods per 15 s, whichever is more; down by 10 %
    # per minute, so a burst is met quickly and a lull does not drop half the pods at once.
    scale_up_percent: int = Field(default=100, ge=1, le=1000, alias="scaleUpPercent")
    scale_up_pods: int = Field(default=4, ge=1, le=100, alias="scaleUpPods")
    scale_down_percent: Percent = Field(default=10, alias="scaleDownPercent")
    queue: QueueScaling | None = None

    @model_validator(mode="after")
    def _min_below_max(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas ({self.min_replicas}) > maxReplicas ({self.max_replicas})"
            )
        return self


class Retries(Strict):
    attempts: int = Field(default=2, ge=0, le=10)
    per_try_timeout_seconds: float = Field(default=2, gt=0, le=60, alias="perTryTimeoutSeconds")
    retry_on: str = Field(default="5xx,reset,connect-failure", alias="retryOn")


class OutlierDetection(Strict):
    consecutive_5xx_errors: int = Field(default=5, ge=1, alias="consecutive5xxErrors")
    interval_seconds: int = Field(default=30, ge=1, alias="intervalSeconds")
    base_ejection_seconds: int = Field(default=30, ge=1, alias="baseEjectionSeconds")
    max_ejection_percent: Percent = Field(default=50, alias="maxEjectionPercent")


class Traffic(Strict):
    timeout_seconds: float = Field(default=10, gt=0, le=300, alias="timeoutSeconds")
    retries: Retries = Retries()
    outlier_detection: OutlierDetection = Field(
        default=OutlierDetection(), alias="outlierDetection"
    )


class Postgres(Strict):
    database: DnsLabel


class Route(Strict):
    prefix: HttpPath
    service: DnsLabel


class Canary(Strict):
    """A second Deployment on a prebuilt tag that receives `weight` percent of traffic."""

    tag: PinnedTag
    weight: int = Field(ge=0, le=100)


class ImagePin(Strict):
    """Deploy an image CI already pushed, by tag or (preferably) by digest, never both."""

    tag: PinnedTag | None = None
    digest: Digest | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImagePin:
        if (self.tag is None) == (self.digest is None):
            raise ValueError("set exactly one of tag or digest")
        return self


class BlueGreen(Strict):
    """Two complete tracks of the service; `live` gets all traffic, the other stays warm.

    Flipping `live` moves every request at once (one VirtualService edit) and flipping it back
    is the rollback. A track without `image` runs the service's own image (built locally or the
    digest CI deployed); the other names what CI pushed.
    """

    live: Literal["blue", "green"]
    blue: ImagePin | None = None
    green: ImagePin | None = None

    @model_validator(mode="after")
    def _tracks_differ(self) -> BlueGreen:
        if self.blue is None and self.green is None:
            raise ValueError("blue and green would run the same image: pin one track's image")
        if self.blue is not None and self.blue == self.green:
            raise ValueError("blue and green pin the same image")
        return self

    def image(self, track: str) -> ImagePin | None:
        return self.blue if track == "blue" else self.green


def _check_route_order(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    # The gateway's VirtualService lists the routes in this order and Istio takes the first
    # whose prefix matches the request path as a string: a route after a shorter prefix of it
    # never receives traffic.
    for later, route in enumerate(routes):
        for earlier in range(later):
            prefix = routes[earlier].prefix
            if route.prefix == prefix:
                raise ValueError(f"[{later}] prefix '{prefix}' repeats [{earlier}]")
            if route.prefix.startswith(prefix):
                raise ValueError(
                    f"[{later}] prefix '{route.prefix}' is shadowed by [{earlier}] "
                    f"'{prefix}' listed before it (Istio takes the first match); list the "
                    "longer prefix first"
                )
    return routes


class ServiceSpec(Strict):
    name: DnsLabel
    description: str = Field(min_length=1)
    port: AppPort = 8080
    probes: Probes
    resources: ResourceRequirements
    replicas: int = Field(default=2, ge=1, le=100)
    autoscaling: Autoscaling = Autoscaling()
    calls: Annotated[tuple[DnsLabel, ...], Field(strict=False)] = ()
    postgres: Postgres | None = None
    rabbitmq: bool = False
    public: bool = False
    routes: Annotated[
        tuple[Route, ...], Field(strict=False), AfterValidator(_check_route_order)
    ] = ()
    env: AppEnv = {}
    traffic: Traffic = Traffic()
    canary: Canary | None = None
    image: ImagePin | None = None
    blue_green: BlueGreen | None = Field(default=None, alias="blueGreen")

    @model_validator(mode="after")
    def _consistent(self) -> ServiceSpec:
        if self.canary is not None and self.blue_green is not None:
            raise ValueError(
                "canary and blueGreen cannot be combined: remove one (both split traffic)"
            )
        if self.name in self.calls:
            raise ValueError(f"calls: service '{self.name}' may not call itself")
        if len(set(self.calls)) != len(self.calls):
            raise ValueError("calls: lists a service more than once")
        if self.routes and not self.public:
            raise ValueError("routes: only a public service may declare external routes")
        for route in self.routes:
            if route.service not in self.calls:
                raise ValueError(
                    f"routes: '{route.prefix}' targets '{route.service}', which is not in calls"
                )
        if self.autoscaling.queue is not None and not self.rabbitmq:
            raise ValueError("autoscaling.queue: scaling on a RabbitMQ queue needs rabbitmq: true")
        return self

    @property
    def has_canary(self) -> bool:
        return self.canary is not None and self.canary.weight > 0


class AutoscalingOverride(Strict):
    enabled: bool | None = None
    min_replicas: int | None = Field(default=None, ge=1, alias="minReplicas")
    max_replicas: int | None = Field(default=None, ge=1, le=100, alias="maxReplicas")
    target_cpu_utilization: Percent | None = Field(default=None, alias="targetCpuUtilization")
    target_memory_utilization: Percent | None = Field(default=None, alias="targetMemoryUtilization")


class ServiceOverride(Strict):
    """What a stack file may change about a service: sizing and rollout, never its wiring."""

    replicas: int | None = Field(default=None, ge=1, le=100)
    resources: ResourceRequirements | None = None
    autoscaling: AutoscalingOverride | None = None
    env: AppEnv | None = None
    canary: Canary | None = None
    image: ImagePin | None = None
    blue_green: BlueGreen | None = Field(default=None, alias="blueGreen")
