"""The service's pods: environment, Deployments (stable and canary), Service, scaling, PDB."""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.microservice.args import (
    CONFIG_HASH_ANNOTATION,
    HTTP_PORT_NAME,
    SERVICE_PORT,
    TRACK_LABEL,
    service_host,
    upstream_env,
)
from components.microservice.scope import ServiceScope

core = k8s.core.v1
apps = k8s.apps.v1
meta = k8s.meta.v1


def environment(scope: ServiceScope) -> dict[str, str]:
    spec = scope.args.spec
    upstreams = {
        upstream_env(callee): f"http://{service_host(callee, scope.args.namespace_name)}"
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
        "LOG_LEVEL": scope.args.log_level,
        "REQUIRED_ENV": ",".join(sorted(required)),
    }


def config_digest(scope: ServiceScope) -> str:
    data = json.dumps(environment(scope), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def config_map(scope: ServiceScope) -> core.ConfigMap:
    return core.ConfigMap(
        f"{scope.name}-config",
        metadata=scope.meta(f"{scope.service}-config"),
        data=dict(sorted(environment(scope).items())),
        opts=scope.k8s_opts(),
    )


def _secret_env(scope: ServiceScope) -> list[core.EnvVarArgs]:
    spec, platform = scope.args.spec, scope.args.platform
    refs = []
    if spec.postgres is not None and platform.postgres_secret is not None:
        refs.append(("DATABASE_URL", platform.postgres_secret))
    if spec.rabbitmq and platform.rabbitmq_secret is not None:
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
    scope: ServiceScope, image: pulumi.Input[str], config: core.ConfigMap
) -> core.ContainerArgs:
    spec = scope.args.spec
    _, tmp_mount = kube.tmp_volume()
    return core.ContainerArgs(
        name=spec.name,
        image=image,
        image_pull_policy="IfNotPresent",
        ports=[core.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=spec.port)],
        env=[
            core.EnvVarArgs(name="PORT", value=str(spec.port)),
            *_secret_env(scope),
        ],
        env_from=[
            core.EnvFromSourceArgs(
                config_map_ref=core.ConfigMapEnvSourceArgs(name=kube.name_of(config))
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


def _replicas(scope: ServiceScope, track: str) -> int | None:
    spec = scope.args.spec
    autoscaling = spec.autoscaling
    if track == "canary":
        # The mesh splits traffic by weight, so the canary only needs enough pods to stay
        # available; it has no autoscaler.
        return autoscaling.min_replicas if autoscaling.enabled else spec.replicas
    # With an HPA the Deployment must not set replicas, or every `pulumi up` resets the
    # autoscaler's decision.
    return None if autoscaling.enabled else spec.replicas


def deployment(
    scope: ServiceScope,
    track: str,
    image: pulumi.Input[str],
    service_account: core.ServiceAccount,
    config: core.ConfigMap,
) -> apps.Deployment:
    service = scope.service
    name = service if track == "stable" else f"{service}-{track}"
    pod_labels = scope.labels | {TRACK_LABEL: track, "app": service}
    tmp_volume, _ = kube.tmp_volume()
    return apps.Deployment(
        f"{scope.name}-{track}",
        metadata=kube.metadata(name, scope.args.namespace, pod_labels),
        spec=apps.DeploymentSpecArgs(
            replicas=_replicas(scope, track),
            revision_history_limit=5,
            selector=meta.LabelSelectorArgs(match_labels=scope.selector(track)),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=apps.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
            ),
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(
                    labels=pod_labels,
                    annotations={
                        "kubectl.kubernetes.io/default-container": service,
                        # envFrom is read at pod start only: a config change must roll the
                        # pods, so the template carries a digest of the ConfigMap's data.
                        CONFIG_HASH_ANNOTATION: config_digest(scope),
                    },
                ),
                spec=core.PodSpecArgs(
                    service_account_name=service_account.metadata.apply(lambda m: m.name),
                    automount_service_account_token=False,
                    security_context=kube.pod_security_context(),
                    termination_grace_period_seconds=30,
                    topology_spread_constraints=kube.spread_constraints(scope.selector(track)),
                    containers=[_container(scope, image, config)],
                    volumes=[tmp_volume],
                ),
            ),
        ),
        opts=scope.k8s_opts(),
    )


def cluster_service(scope: ServiceScope) -> None:
    core.Service(
        f"{scope.name}-service",
        metadata=scope.meta(),
        spec=core.ServiceSpecArgs(
            type="ClusterIP",
            selector=scope.selector(),
            ports=[
                core.ServicePortArgs(
                    name="http",
                    port=SERVICE_PORT,
                    target_port="http",
                    app_protocol="http",
                )
            ],
        ),
        opts=scope.k8s_opts(),
    )


def disruption_budget(scope: ServiceScope) -> None:
    # maxUnavailable rather than minAvailable: a single-replica staging service must still
    # let nodes drain during upgrades.
    k8s.policy.v1.PodDisruptionBudget(
        f"{scope.name}-pdb",
        metadata=scope.meta(),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=meta.LabelSelectorArgs(match_labels=scope.selector()),
        ),
        opts=scope.k8s_opts(),
    )


def _http_probe(path: str, port: int, *, period: int, failures: int) -> core.ProbeArgs:
    return core.ProbeArgs(
        http_get=core.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )
