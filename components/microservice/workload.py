"""The service's pods: environment, Deployments (stable and canary), Service, scaling, PDB."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

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


# The keyed digest's key length: long enough that the annotation cannot be guessed offline.
DIGEST_KEY_LENGTH = 48


@dataclass(frozen=True)
class EnvSources:
    """Where the container's environment comes from, and what rolls the pods when it changes."""

    config: core.ConfigMap
    secret: core.Secret | None
    digest: pulumi.Input[str]


def environment(scope: ServiceScope) -> dict[str, str]:
    """The plain environment: what the ConfigMap holds (never a secret env value)."""
    spec = scope.args.spec
    upstreams = {
        upstream_env(callee): f"http://{service_host(callee, scope.args.namespace_name)}"
        for callee in spec.calls
    }
    required = sorted(upstreams)
    if spec.postgres is not None:
        required.append("DATABASE_URL")
    broker = scope.args.platform.rabbitmq
    messaging = (
        {
            "RABBITMQ_HOST": broker.host,
            "RABBITMQ_PORT": str(broker.port),
            "RABBITMQ_VHOST": broker.vhost,
            "RABBITMQ_USER": spec.name,
        }
        if spec.rabbitmq and broker is not None
        else {}
    )
    required.extend(messaging)
    plain = {key: value for key, value in spec.env.items() if key not in scope.args.secret_env}
    return {
        **plain,
        **upstreams,
        **messaging,
        "SERVICE_NAME": spec.name,
        "LOG_LEVEL": scope.args.log_level,
        "REQUIRED_ENV": ",".join(sorted(required)),
    }


def secret_environment(scope: ServiceScope) -> dict[str, str]:
    env = scope.args.spec.env
    return {key: env[key] for key in sorted(scope.args.secret_env) if key in env}


def config_digest(scope: ServiceScope) -> str:
    data = json.dumps(environment(scope), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def env_sources(scope: ServiceScope) -> EnvSources:
    config = config_map(scope)
    secrets = secret_environment(scope)
    if not secrets:
        return EnvSources(config=config, secret=None, digest=config_digest(scope))
    return EnvSources(
        config=config, secret=env_secret(scope, secrets), digest=_keyed_digest(scope, secrets)
    )


def config_map(scope: ServiceScope) -> core.ConfigMap:
    return core.ConfigMap(
        f"{scope.name}-config",
        metadata=scope.meta(f"{scope.service}-config"),
        data=dict(sorted(environment(scope).items())),
        opts=scope.k8s_opts(),
    )


def env_secret(scope: ServiceScope, secrets: dict[str, str]) -> core.Secret:
    return core.Secret(
        f"{scope.name}-env",
        metadata=scope.meta(f"{scope.service}-env"),
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in secrets.items()},
        opts=scope.k8s_opts(),
    )


def _keyed_digest(scope: ServiceScope, secrets: dict[str, str]) -> pulumi.Output[str]:
    # A plain hash of a secret is readable by anyone who may read Deployments (far more people
    # than may read Secrets) and a short password falls to an offline dictionary attack on it.
    # An HMAC under a random key that lives only in the (encrypted) Pulumi state still changes
    # whenever a value changes, yet says nothing about the value without that key. The digest
    # derives from a secret, so Pulumi also keeps it encrypted in state.
    key = random.RandomPassword(
        f"{scope.name}-env-digest-key",
        args=random.RandomPasswordArgs(length=DIGEST_KEY_LENGTH, special=False),
        opts=pulumi.ResourceOptions(parent=scope.component),
    )
    data = json.dumps({"plain": environment(scope), "secret": secrets}, sort_keys=True).encode()
    digest = key.result.apply(
        lambda secret_key: hmac.new(secret_key.encode(), data, hashlib.sha256).hexdigest()[:16]
    )
    return pulumi.Output.secret(digest)


def _secret_env(scope: ServiceScope, secret: core.Secret | None) -> list[core.EnvVarArgs]:
    spec, platform = scope.args.spec, scope.args.platform
    refs: list[tuple[str, pulumi.Input[str]]] = []
    if secret is not None:
        refs.extend((key, kube.name_of(secret)) for key in secret_environment(scope))
    if spec.postgres is not None and platform.postgres_secret is not None:
        refs.append(("DATABASE_URL", platform.postgres_secret))
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
    scope: ServiceScope, image: pulumi.Input[str], env: EnvSources
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
            *_secret_env(scope, env.secret),
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
    env: EnvSources,
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
                        # Env is read at pod start only: a config change must roll the pods,
                        # so the template carries a digest of the ConfigMap's and Secret's data.
                        CONFIG_HASH_ANNOTATION: env.digest,
                    },
                ),
                spec=core.PodSpecArgs(
                    service_account_name=service_account.metadata.apply(lambda m: m.name),
                    automount_service_account_token=False,
                    security_context=kube.pod_security_context(),
                    termination_grace_period_seconds=30,
                    topology_spread_constraints=kube.spread_constraints(scope.selector(track)),
                    containers=[_container(scope, image, env)],
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
