"""The service's pods: environment, Deployments (stable and canary), Service, scaling, PDB."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config.service_spec import METRICS_PORT
from components.microservice.args import (
    CONFIG_HASH_ANNOTATION,
    HTTP_PORT_NAME,
    POSTGRES_PORT,
    SERVICE_PORT,
    TRACK_LABEL,
    service_host,
    upstream_env,
)
from components.microservice.scope import ServiceScope
from components.microservice.security import secret_files
from components.workload_identity import SECRETS_DIR, PodIdentity

core = k8s.core.v1
apps = k8s.apps.v1
meta = k8s.meta.v1


@dataclass(frozen=True)
class EnvSources:
    """Where the container's environment comes from, and what rolls the pods when it changes."""

    config: core.ConfigMap
    digest: pulumi.Input[str]


def environment(scope: ServiceScope) -> dict[str, str]:
    """The ConfigMap's plain settings (all but POSTGRES_HOST, an output): never a secret.

    Secrets are files under SECRETS_DIR; REQUIRED_SECRETS names the files the app must find
    before it is ready, as REQUIRED_ENV names the variables.
    """
    spec = scope.args.spec
    upstreams = {
        upstream_env(callee): f"http://{service_host(callee, scope.args.namespace_name)}"
        for callee in spec.calls
    }
    required = sorted(upstreams)
    connection: dict[str, str] = {}
    if spec.postgres is not None:
        # Each service signs in as its own role (named after it) to its own database; TLS with
        # the server's certificate and host name verified.
        connection |= {
            "POSTGRES_PORT": str(POSTGRES_PORT),
            "POSTGRES_DATABASE": spec.postgres.database,
            "POSTGRES_USER": spec.name,
            "POSTGRES_SSLMODE": "verify-full",
        }
        required.extend(["POSTGRES_HOST", *connection])
    broker = scope.args.platform.rabbitmq
    if spec.rabbitmq and broker is not None:
        messaging = {
            "RABBITMQ_HOST": broker.host,
            "RABBITMQ_PORT": str(broker.port),
            "RABBITMQ_VHOST": broker.vhost,
            "RABBITMQ_USER": spec.name,
        }
        connection |= messaging
        required.extend(messaging)
    files = secret_files(scope)
    secrets = {"SECRETS_DIR": SECRETS_DIR, "REQUIRED_SECRETS": ",".join(files)} if files else {}
    plain = {key: value for key, value in spec.env.items() if key not in scope.args.secret_env}
    return {
        **plain,
        **upstreams,
        **connection,
        **secrets,
        "SERVICE_NAME": spec.name,
        "LOG_LEVEL": scope.args.log_level,
        "REQUIRED_ENV": ",".join(sorted(required)),
    }


def _postgres_host(scope: ServiceScope) -> pulumi.Input[str] | None:
    platform = scope.args.platform
    return platform.postgres_host if scope.args.spec.postgres is not None else None


def _digest(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def config_digest(scope: ServiceScope) -> pulumi.Input[str]:
    """What rolls the pods: a hash of the ConfigMap's data, read by the app at start only.

    The ConfigMap holds no secret, so a plain hash reveals nothing. Secrets are not in it and
    need no rollout: the CSI driver rewrites a mounted file in place when its Key Vault secret
    changes (the add-on's rotation poll, components/cluster.py), and the apps read the file when
    they use the value (micromart_runtime.secret). The HMAC that covered the old per-service env
    Secret is gone with that Secret.
    """
    env = environment(scope)
    host = _postgres_host(scope)
    if host is None:
        return _digest(env)
    return pulumi.Output.from_input(host).apply(
        lambda value: _digest({**env, "POSTGRES_HOST": value})
    )


def env_sources(scope: ServiceScope) -> EnvSources:
    return EnvSources(config=config_map(scope), digest=config_digest(scope))


def config_map(scope: ServiceScope) -> core.ConfigMap:
    data: dict[str, pulumi.Input[str]] = dict(environment(scope))
    host = _postgres_host(scope)
    if host is not None:
        data["POSTGRES_HOST"] = host
    return core.ConfigMap(
        f"{scope.name}-config",
        metadata=scope.meta(f"{scope.service}-config"),
        data=dict(sorted(data.items())),
        opts=scope.k8s_opts(),
    )


def _container(
    scope: ServiceScope, image: pulumi.Input[str], env: EnvSources, identity: PodIdentity
) -> core.ContainerArgs:
    spec = scope.args.spec
    _, tmp_mount = kube.tmp_volume()
    return core.ContainerArgs(
        name=spec.name,
        image=image,
        image_pull_policy="IfNotPresent",
        ports=[core.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=spec.port)],
        # No secret in env, ever: secrets are the read-only files of the identity's volume.
        env=[
            core.EnvVarArgs(name="PORT", value=str(spec.port)),
            core.EnvVarArgs(name="METRICS_PORT", value=str(METRICS_PORT)),
        ],
        env_from=[
            core.EnvFromSourceArgs(
                config_map_ref=core.ConfigMapEnvSourceArgs(name=kube.name_of(env.config))
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
        volume_mounts=[tmp_mount, *identity.volume_mounts],
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
    identity: PodIdentity,
    env: EnvSources,
    *,
    after: Sequence[pulumi.Resource] = (),
) -> apps.Deployment:
    service = scope.service
    name = service if track == "stable" else f"{service}-{track}"
    pod_labels = scope.labels | {TRACK_LABEL: track, "app": service}
    # The workload identity webhook projects the federated token into labelled pods only.
    template_labels = pod_labels | dict(identity.labels)
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
                    labels=template_labels,
                    annotations={
                        "kubectl.kubernetes.io/default-container": service,
                        # Env is read at pod start only: a config change must roll the pods,
                        # so the template carries a digest of the ConfigMap (config_digest).
                        CONFIG_HASH_ANNOTATION: env.digest,
                        # Request metrics; the Istio injector points these at its agent, which
                        # merges them with Envoy's (components/kube.py, ISTIO_AGENT_METRICS_PORT).
                        **kube.scrape_annotations(METRICS_PORT),
                    },
                ),
                spec=core.PodSpecArgs(
                    service_account_name=identity.service_account_name,
                    automount_service_account_token=False,
                    security_context=kube.pod_security_context(),
                    termination_grace_period_seconds=30,
                    topology_spread_constraints=kube.spread_constraints(scope.selector(track)),
                    containers=[_container(scope, image, env, identity)],
                    volumes=[tmp_volume, *identity.volumes],
                ),
            ),
        ),
        # `after`: the migration Job, which the provider awaits to completion first.
        opts=pulumi.ResourceOptions.merge(
            scope.k8s_opts(), pulumi.ResourceOptions(depends_on=list(after))
        ),
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
