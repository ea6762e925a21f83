"""One MicroMart service: its image, workload, scaling, network and mesh policy, and routing.

Everything here is derived from the service's own spec plus the names of its peers, never from
another service's resources, so changing one service never touches another's objects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components import kube
from components.build_context import content_tag
from components.cluster import INGRESS_GATEWAY_SELECTOR
from components.config.service_spec import ServiceSpec
from components.config.stack import ImagesConfig, IngressConfig

core = k8s.core.v1
apps = k8s.apps.v1
meta = k8s.meta.v1
netv1 = k8s.networking.v1

SERVICE_PORT = 80
HTTP_PORT_NAME = "http"
CONFIG_HASH_ANNOTATION = "micromart.io/config-hash"
POSTGRES_PORT = 5432
AMQP_PORT = 5672
TRACK_LABEL = "track"
INGRESS_GATEWAY_PRINCIPAL = (
    f"cluster.local/ns/{kube.ISTIO_INGRESS_NAMESPACE}/sa/aks-istio-ingressgateway-external"
)


@dataclass(frozen=True)
class PlatformEndpoints:
    """What a service may reach on the platform, by name only."""

    postgres_subnet: str
    # Secret names as outputs: the Deployment then waits until the secret really exists.
    postgres_secret: pulumi.Input[str] | None
    rabbitmq_secret: pulumi.Input[str] | None
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
    ingress: IngressConfig | None = None


def service_host(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def upstream_env(service: str) -> str:
    return f"UPSTREAM_{service.upper().replace('-', '_')}_URL"


class Microservice(pulumi.ComponentResource):
    image: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: MicroserviceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("micromart:service:Microservice", name, None, opts)
        self._name = name
        self._args = args
        self._spec = args.spec
        self._labels = kube.labels(
            self._spec.name,
            {kube.MESSAGING_CLIENT_LABEL: "true"} if self._spec.rabbitmq else None,
        )
        self.image = self._image()
        service_account = core.ServiceAccount(
            f"{name}-sa",
            metadata=kube.metadata(self._spec.name, args.namespace, self._labels),
            automount_service_account_token=False,
            opts=self._k8s(),
        )
        config_map = self._config_map()
        stable = self._deployment("stable", self.image, service_account, config_map)
        canary = self._spec.canary
        if canary is not None and canary.weight > 0:
            self._deployment("canary", self._prebuilt(canary.tag), service_account, config_map)
        self._service()
        if self._spec.autoscaling.enabled:
            self._autoscaler(stable)
        self._disruption_budget()
        self._network_policy()
        self._destination_rule()
        self._mesh_routes()
        self._authorization_policy()
        if self._spec.public and args.ingress is not None:
            self._public_edge(args.ingress)
        self.register_outputs({"image": self.image})

    # -- helpers ---------------------------------------------------------------------------

    def _k8s(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._args.provider)

    def _meta(self, object_name: str | None = None) -> meta.ObjectMetaArgs:
        return kube.metadata(object_name or self._spec.name, self._args.namespace, self._labels)

    def _selector(self, track: str | None = None) -> dict[str, str]:
        selector = {kube.NAME_LABEL: self._spec.name}
        return selector | {TRACK_LABEL: track} if track else selector

    def _host(self) -> str:
        return service_host(self._spec.name, self._args.namespace_name)

    def _prebuilt(self, tag: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._args.login_server, f"/{self._spec.name}:{tag}")

    # -- image -----------------------------------------------------------------------------

    def _image(self) -> pulumi.Output[str]:
        pinned = self._spec.image.tag if self._spec.image else None
        if pinned or not self._args.images.build:
            return self._prebuilt(pinned or str(self._args.images.tag))
        tag = self._args.images.tag or content_tag(self._args.source_dir)
        image = docker.Image(
            f"{self._name}-image",
            args=docker.ImageArgs(
                image_name=self._prebuilt(tag),
                build=docker.DockerBuildArgs(
                    context=self._args.source_dir.as_posix(), platform="linux/amd64"
                ),
                registry=docker.RegistryArgs(server=self._args.login_server),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The digest, not the tag: a Deployment then changes exactly when the bytes change.
        return image.repo_digest

    # -- workload --------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        spec = self._spec
        upstreams = {
            upstream_env(callee): f"http://{service_host(callee, self._args.namespace_name)}"
            for callee in spec.calls
        }
        required = sorted(upstreams)
        if spec.postgres is not None:
            required.append("DATABASE_URL")
        if spec.rabbitmq:
            required.append("RABBITMQ_URL")
        return {
            **spec.env,
            **upstreams,
            "SERVICE_NAME": spec.name,
            "LOG_LEVEL": self._args.log_level,
            "REQUIRED_ENV": ",".join(sorted(required)),
        }

    def _config_digest(self) -> str:
        data = json.dumps(self._environment(), sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()[:16]

    def _config_map(self) -> core.ConfigMap:
        return core.ConfigMap(
            f"{self._name}-config",
            metadata=self._meta(f"{self._spec.name}-config"),
            data=dict(sorted(self._environment().items())),
            opts=self._k8s(),
        )

    def _secret_env(self) -> list[core.EnvVarArgs]:
        platform = self._args.platform
        refs = []
        if self._spec.postgres is not None and platform.postgres_secret is not None:
            refs.append(("DATABASE_URL", platform.postgres_secret))
        if self._spec.rabbitmq and platform.rabbitmq_secret is not None:
            refs.append(("RABBITMQ_URL", platform.rabbitmq_secret))
        return [
            core.EnvVarArgs(
                name=key,
                value_from=core.EnvVarSourceArgs(
                    secret_key_ref=core.SecretKeySelectorArgs(name=secret, key=key)
                ),
            )
            for key, secret in refs
        ]

    def _container(
        self, image: pulumi.Input[str], config_map: core.ConfigMap
    ) -> core.ContainerArgs:
        spec = self._spec
        _, tmp_mount = kube.tmp_volume()
        return core.ContainerArgs(
            name=spec.name,
            image=image,
            image_pull_policy="IfNotPresent",
            ports=[core.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=spec.port)],
            env=[
                core.EnvVarArgs(name="PORT", value=str(spec.port)),
                *self._secret_env(),
            ],
            env_from=[
                core.EnvFromSourceArgs(
                    config_map_ref=core.ConfigMapEnvSourceArgs(name=kube.name_of(config_map))
                )
            ],
            resources=kube.resources(
                spec.resources.requests.cpu,
                spec.resources.requests.memory,
                spec.resources.limits.cpu,
                spec.resources.limits.memory,
            ),
            security_context=kube.container_security_context(),
            startup_probe=_http_probe(spec.probes.startup, spec.port, period=5, failures=24)
            if spec.probes.startup
            else None,
            readiness_probe=_http_probe(spec.probes.readiness, spec.port, period=5, failures=3),
            liveness_probe=_http_probe(spec.probes.liveness, spec.port, period=15, failures=3),
            volume_mounts=[tmp_mount],
        )

    def _replicas(self, track: str) -> int | None:
        autoscaling = self._spec.autoscaling
        if track == "canary":
            # The mesh splits traffic by weight, so the canary only needs enough pods to stay
            # available; it has no autoscaler.
            return autoscaling.min_replicas if autoscaling.enabled else self._spec.replicas
        # With an HPA the Deployment must not set replicas, or every `pulumi up` resets the
        # autoscaler's decision.
        return None if autoscaling.enabled else self._spec.replicas

    def _deployment(
        self,
        track: str,
        image: pulumi.Input[str],
        service_account: core.ServiceAccount,
        config_map: core.ConfigMap,
    ) -> apps.Deployment:
        name = self._spec.name if track == "stable" else f"{self._spec.name}-{track}"
        pod_labels = self._labels | {TRACK_LABEL: track, "app": self._spec.name}
        tmp_volume, _ = kube.tmp_volume()
        return apps.Deployment(
            f"{self._name}-{track}",
            metadata=kube.metadata(name, self._args.namespace, pod_labels),
            spec=apps.DeploymentSpecArgs(
                replicas=self._replicas(track),
                revision_history_limit=5,
                selector=meta.LabelSelectorArgs(match_labels=self._selector(track)),
                strategy=apps.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=apps.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(
                        labels=pod_labels,
                        annotations={
                            "kubectl.kubernetes.io/default-container": self._spec.name,
                            # envFrom is read at pod start only: a config change must roll the
                            # pods, so the template carries a digest of the ConfigMap's data.
                            CONFIG_HASH_ANNOTATION: self._config_digest(),
                        },
                    ),
                    spec=core.PodSpecArgs(
                        service_account_name=service_account.metadata.apply(lambda m: m.name),
                        automount_service_account_token=False,
                        security_context=kube.pod_security_context(),
                        termination_grace_period_seconds=30,
                        topology_spread_constraints=kube.spread_constraints(self._selector(track)),
                        containers=[self._container(image, config_map)],
                        volumes=[tmp_volume],
                    ),
                ),
            ),
            opts=self._k8s(),
        )

    def _service(self) -> None:
        core.Service(
            f"{self._name}-service",
            metadata=self._meta(),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=self._selector(),
                ports=[
                    core.ServicePortArgs(
                        name="http",
                        port=SERVICE_PORT,
                        target_port="http",
                        app_protocol="http",
                    )
                ],
            ),
            opts=self._k8s(),
        )

    def _autoscaler(self, deployment: apps.Deployment) -> None:
        scaling = self._spec.autoscaling
        v2 = k8s.autoscaling.v2
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{self._name}-hpa",
            metadata=self._meta(),
            spec=v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1",
                    kind="Deployment",
                    name=kube.name_of(deployment),
                ),
                min_replicas=scaling.min_replicas,
                max_replicas=scaling.max_replicas,
                metrics=[
                    _utilization("cpu", scaling.target_cpu_utilization),
                    _utilization("memory", scaling.target_memory_utilization),
                ],
                behavior=v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_up=v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=scaling.scale_up_stabilization_seconds
                    ),
                    scale_down=v2.HPAScalingRulesArgs(
                        stabilization_window_seconds=scaling.scale_down_stabilization_seconds
                    ),
                ),
            ),
            opts=self._k8s(),
        )

    def _disruption_budget(self) -> None:
        # maxUnavailable rather than minAvailable: a single-replica staging service must still
        # let nodes drain during upgrades.
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb",
            metadata=self._meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=meta.LabelSelectorArgs(match_labels=self._selector()),
            ),
            opts=self._k8s(),
        )

    # -- network and mesh ------------------------------------------------------------------

    def _network_policy(self) -> None:
        spec = self._spec
        sources = [
            netv1.NetworkPolicyPeerArgs(
                pod_selector=meta.LabelSelectorArgs(match_labels={kube.NAME_LABEL: caller})
            )
            for caller in self._args.callers
        ]
        if spec.public:
            sources.append(kube.namespace_peer(kube.ISTIO_INGRESS_NAMESPACE))
        ingress = (
            [netv1.NetworkPolicyIngressRuleArgs(from_=sources, ports=kube.tcp_ports(spec.port))]
            if sources
            else []
        )
        netv1.NetworkPolicy(
            f"{self._name}-netpol",
            metadata=self._meta(),
            spec=netv1.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(match_labels=self._selector()),
                policy_types=["Ingress", "Egress"],
                ingress=ingress,
                egress=self._egress_rules(),
            ),
            opts=self._k8s(),
        )

    def _egress_rules(self) -> list[netv1.NetworkPolicyEgressRuleArgs]:
        spec = self._spec
        platform = self._args.platform
        rules = [
            netv1.NetworkPolicyEgressRuleArgs(
                to=[
                    netv1.NetworkPolicyPeerArgs(
                        pod_selector=meta.LabelSelectorArgs(match_labels={kube.NAME_LABEL: callee})
                    )
                ],
                # The named port resolves on the callee's pods, so a callee changing its port
                # number does not edit this service's policy.
                ports=[netv1.NetworkPolicyPortArgs(protocol="TCP", port=HTTP_PORT_NAME)],
            )
            for callee in spec.calls
        ]
        if spec.postgres is not None:
            rules.append(
                netv1.NetworkPolicyEgressRuleArgs(
                    to=[
                        netv1.NetworkPolicyPeerArgs(
                            ip_block=netv1.IPBlockArgs(cidr=platform.postgres_subnet)
                        )
                    ],
                    ports=kube.tcp_ports(POSTGRES_PORT),
                )
            )
        if spec.rabbitmq:
            rules.append(
                netv1.NetworkPolicyEgressRuleArgs(
                    to=[
                        kube.namespace_peer(
                            platform.rabbitmq_namespace, {kube.NAME_LABEL: "rabbitmq"}
                        )
                    ],
                    ports=kube.tcp_ports(AMQP_PORT),
                )
            )
        return rules

    def _istio(
        self,
        suffix: str,
        api_version: str,
        kind: str,
        spec: dict[str, object],
        name: str | None = None,
    ) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=api_version,
            kind=kind,
            metadata=self._meta(name),
            spec=spec,
            opts=self._k8s(),
        )

    def _destination_rule(self) -> None:
        outlier = self._spec.traffic.outlier_detection
        subsets = [{"name": "stable", "labels": {TRACK_LABEL: "stable"}}]
        if self._spec.has_canary:
            subsets.append({"name": "canary", "labels": {TRACK_LABEL: "canary"}})
        self._istio(
            "destination-rule",
            "networking.istio.io/v1",
            "DestinationRule",
            {
                "host": self._host(),
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
                "subsets": subsets,
            },
        )

    def _weighted_route(self) -> list[dict[str, object]]:
        canary_weight = (
            self._spec.canary.weight if self._spec.has_canary and self._spec.canary else 0
        )
        destinations: list[dict[str, object]] = [
            {
                "destination": {
                    "host": self._host(),
                    "subset": "stable",
                    "port": {"number": SERVICE_PORT},
                },
                "weight": 100 - canary_weight,
            }
        ]
        if canary_weight:
            destinations.append(
                {
                    "destination": {
                        "host": self._host(),
                        "subset": "canary",
                        "port": {"number": SERVICE_PORT},
                    },
                    "weight": canary_weight,
                }
            )
        return destinations

    def _http_policy(self) -> dict[str, object]:
        traffic = self._spec.traffic
        return {
            "timeout": f"{traffic.timeout_seconds:g}s",
            "retries": {
                "attempts": traffic.retries.attempts,
                "perTryTimeout": f"{traffic.retries.per_try_timeout_seconds:g}s",
                "retryOn": traffic.retries.retry_on,
            },
        }

    def _mesh_routes(self) -> None:
        self._istio(
            "virtual-service",
            "networking.istio.io/v1",
            "VirtualService",
            {
                "hosts": [self._host()],
                "http": [
                    {
                        "name": "default",
                        "route": self._weighted_route(),
                        **self._http_policy(),
                    }
                ],
            },
        )

    def _authorization_policy(self) -> None:
        namespace = self._args.namespace_name
        principals = [f"cluster.local/ns/{namespace}/sa/{caller}" for caller in self._args.callers]
        if self._spec.public:
            principals.append(INGRESS_GATEWAY_PRINCIPAL)
        rules = [{"from": [{"source": {"principals": sorted(principals)}}]}] if principals else []
        # An ALLOW policy with no rules admits nothing: a service nobody calls is unreachable.
        self._istio(
            "authorization-policy",
            "security.istio.io/v1",
            "AuthorizationPolicy",
            {
                "selector": {"matchLabels": self._selector()},
                "action": "ALLOW",
                "rules": rules,
            },
        )

    def _public_edge(self, ingress: IngressConfig) -> None:
        gateway_name = f"{self._spec.name}-public"
        self._istio(
            "istio-gateway",
            "networking.istio.io/v1",
            "Gateway",
            {
                "selector": INGRESS_GATEWAY_SELECTOR,
                "servers": [
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": [ingress.hostname],
                        # The secret lives beside the add-on's gateway pods in aks-istio-ingress.
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
        )
        routes = [
            {
                "name": route.service,
                "match": [{"uri": {"prefix": route.prefix}}],
                "route": self._weighted_route(),
                **self._http_policy(),
            }
            for route in self._spec.routes
        ]
        self._istio(
            "public-routes",
            "networking.istio.io/v1",
            "VirtualService",
            {
                "hosts": [ingress.hostname],
                "gateways": [f"{self._args.namespace_name}/{gateway_name}"],
                "http": routes,
            },
            gateway_name,
        )


def _http_probe(path: str, port: int, *, period: int, failures: int) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )


def _utilization(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
    v2 = k8s.autoscaling.v2
    return v2.MetricSpecArgs(
        type="Resource",
        resource=v2.ResourceMetricSourceArgs(
            name=resource,
            target=v2.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )
