"""How requests reach the service through the mesh: subsets, routes, retries, the public edge."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.cluster import INGRESS_GATEWAY_SELECTOR
from components.config.stack import IngressConfig
from components.microservice.args import BLUE_GREEN_TRACKS, SERVICE_PORT, TRACK_LABEL
from components.microservice.scope import ServiceScope


def destination_rule(scope: ServiceScope) -> None:
    spec = scope.args.spec
    outlier = spec.traffic.outlier_detection
    scope.custom_resource(
        "destination-rule",
        "networking.istio.io/v1",
        "DestinationRule",
        {
            "host": scope.host(),
            "trafficPolicy": {
                "tls": {"mode": "ISTIO_MUTUAL"},
                "connectionPool": {
                    "http": {
                        "http1MaxPendingRequests": 1024,
                        "maxRequestsPerConnection": 0,
                    }
                },
                "outlierDetection": {
                    "consecutive5xxErrors": outlier.consecutive_5xx_errors,
                    "interval": f"{outlier.interval_seconds}s",
                    "baseEjectionTime": f"{outlier.base_ejection_seconds}s",
                    "maxEjectionPercent": outlier.max_ejection_percent,
                },
            },
            "subsets": subsets(spec.has_canary, blue_green=spec.blue_green is not None),
        },
    )


def subsets(has_canary: bool, *, blue_green: bool = False) -> list[dict[str, object]]:
    # Blue-green keeps both tracks addressable: the idle one is the instant way back.
    if blue_green:
        tracks = list(BLUE_GREEN_TRACKS)
    else:
        tracks = ["stable", "canary"] if has_canary else ["stable"]
    return [{"name": track, "labels": {TRACK_LABEL: track}} for track in tracks]


def weighted_route(host: str, canary_weight: int) -> list[dict[str, object]]:
    """Stable gets what the canary does not; a canary at weight 0 gets no destination at all."""
    weights = {"stable": 100 - canary_weight, "canary": canary_weight}
    return [
        _destination(host, subset, weight)
        for subset, weight in weights.items()
        if subset == "stable" or weight
    ]


def _destination(host: str, subset: str, weight: int) -> dict[str, object]:
    return {
        "destination": {"host": host, "subset": subset, "port": {"number": SERVICE_PORT}},
        "weight": weight,
    }


def _weighted_route(scope: ServiceScope) -> list[dict[str, object]]:
    spec = scope.args.spec
    if spec.blue_green is not None:
        # All of it, at once: the flip is this one subset name.
        return [_destination(scope.host(), spec.blue_green.live, 100)]
    canary_weight = spec.canary.weight if spec.has_canary and spec.canary else 0
    return weighted_route(scope.host(), canary_weight)


def _http_policy(scope: ServiceScope) -> dict[str, object]:
    traffic = scope.args.spec.traffic
    return {
        "timeout": f"{traffic.timeout_seconds:g}s",
        "retries": {
            "attempts": traffic.retries.attempts,
            "perTryTimeout": f"{traffic.retries.per_try_timeout_seconds:g}s",
            "retryOn": traffic.retries.retry_on,
        },
    }


def mesh_routes(scope: ServiceScope, tracks: Sequence[pulumi.Resource] = ()) -> None:
    scope.custom_resource(
        "virtual-service",
        "networking.istio.io/v1",
        "VirtualService",
        {
            "hosts": [scope.host()],
            "http": [
                {
                    "name": "default",
                    "route": _weighted_route(scope),
                    **_http_policy(scope),
                }
            ],
        },
        depends_on=tracks,
    )


def public_edge(
    scope: ServiceScope,
    ingress: IngressConfig,
    tracks: Sequence[pulumi.Resource] = (),
    certificate: pulumi.Resource | None = None,
) -> None:
    gateway_name = f"{scope.service}-public"
    scope.custom_resource(
        "istio-gateway",
        "networking.istio.io/v1",
        "Gateway",
        {
            "selector": INGRESS_GATEWAY_SELECTOR,
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": [ingress.hostname],
                    # The secret lives beside the add-on's gateway pods in aks-istio-ingress,
                    # synced there from Key Vault by components/gateway_tls.py.
                    "tls": {
                        "mode": "SIMPLE",
                        "credentialName": ingress.tls_secret_name,
                    },
                },
                {
                    "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                    "hosts": [ingress.hostname],
                    "tls": {"httpsRedirect": True},
                },
            ],
        },
        gateway_name,
        # Served only once the certificate's sync pods are up (and the Secret with them).
        depends_on=[certificate] if certificate is not None else (),
    )
    routes = [
        {
            "name": route.service,
            "match": [{"uri": {"prefix": route.prefix}}],
            "route": _weighted_route(scope),
            **_http_policy(scope),
        }
        for route in scope.args.spec.routes
    ]
    scope.custom_resource(
        "public-routes",
        "networking.istio.io/v1",
        "VirtualService",
        {
            "hosts": [ingress.hostname],
            "gateways": [f"{scope.args.namespace_name}/{gateway_name}"],
            "http": routes,
        },
        gateway_name,
        depends_on=tracks,
    )
