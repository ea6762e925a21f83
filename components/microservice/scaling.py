"""How the service's pods scale: a CPU and memory HPA, or KEDA on its RabbitMQ queue's depth.

Both get the same rate limits (Percent and Pods policies), so a burst is met in seconds and a lull
sheds pods gradually. Either way the Deployment leaves `replicas` unset (see workload).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config.service_spec import Autoscaling, QueueScaling
from components.keda import KEDA_API_VERSION
from components.microservice.scope import ServiceScope
from components.rabbitmq import MONITORING_URL_KEY

v2 = k8s.autoscaling.v2
apps = k8s.apps.v1

SCALE_UP_PERIOD_SECONDS = 15
SCALE_DOWN_PERIOD_SECONDS = 60
# How often KEDA reads the queue, and how long an empty queue waits before scaling down.
POLLING_SECONDS = 15


def autoscaler(scope: ServiceScope, target: apps.Deployment, track: str | None = None) -> None:
    """One per Deployment; a blue-green track scales on its own, like the stable one would."""
    scaling = scope.args.spec.autoscaling
    name = scope.service + (f"-{track}" if track else "")
    logical = scope.name + (f"-{track}" if track else "")
    if scaling.queue is not None:
        _queue_scaler(scope, target, scaling.queue, name, logical)
        return
    v2.HorizontalPodAutoscaler(
        f"{logical}-hpa",
        metadata=scope.meta(name),
        spec=v2.HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1",
                kind="Deployment",
                name=kube.name_of(target),
            ),
            min_replicas=scaling.min_replicas,
            max_replicas=scaling.max_replicas,
            metrics=[
                _utilization("cpu", scaling.target_cpu_utilization),
                _utilization("memory", scaling.target_memory_utilization),
            ],
            behavior=v2.HorizontalPodAutoscalerBehaviorArgs(
                scale_up=v2.HPAScalingRulesArgs(
                    stabilization_window_seconds=scaling.scale_up_stabilization_seconds,
                    select_policy="Max",
                    policies=[
                        _policy("Percent", scaling.scale_up_percent, SCALE_UP_PERIOD_SECONDS),
                        _policy("Pods", scaling.scale_up_pods, SCALE_UP_PERIOD_SECONDS),
                    ],
                ),
                scale_down=v2.HPAScalingRulesArgs(
                    stabilization_window_seconds=scaling.scale_down_stabilization_seconds,
                    select_policy="Max",
                    policies=[
                        _policy("Percent", scaling.scale_down_percent, SCALE_DOWN_PERIOD_SECONDS)
                    ],
                ),
            ),
        ),
        opts=scope.k8s_opts(),
    )


def behavior(scaling: Autoscaling) -> dict[str, object]:
    """The HPA `behavior` as KEDA passes it on to the HPA it manages (same rules as ours)."""

    def rule(window: int, policies: list[tuple[str, int, int]]) -> dict[str, object]:
        return {
            "stabilizationWindowSeconds": window,
            "selectPolicy": "Max",
            "policies": [
                {"type": kind, "value": value, "periodSeconds": period}
                for kind, value, period in policies
            ],
        }

    return {
        "scaleUp": rule(
            scaling.scale_up_stabilization_seconds,
            [
                ("Percent", scaling.scale_up_percent, SCALE_UP_PERIOD_SECONDS),
                ("Pods", scaling.scale_up_pods, SCALE_UP_PERIOD_SECONDS),
            ],
        ),
        "scaleDown": rule(
            scaling.scale_down_stabilization_seconds,
            [("Percent", scaling.scale_down_percent, SCALE_DOWN_PERIOD_SECONDS)],
        ),
    }


def trigger_authentication(scope: ServiceScope) -> str | None:
    """KEDA reads the broker URL of the read-nothing monitoring user; the object's name, if any.

    Queue depth over AMQP is a passive queue.declare (KEDA pkg/scalers/rabbitmq_scaler.go,
    `getQueueStatus` -> amqp091-go `Channel.QueueInspect`), which needs no permission that
    would let the scaler take, publish or declare anything; the service's own user and
    password stay with the service.
    """
    broker = scope.args.platform.rabbitmq
    scaling = scope.args.spec.autoscaling
    if not scaling.enabled or scaling.queue is None or broker is None:
        return None
    secret = broker.monitoring_secret
    name = _authentication_name(scope)
    k8s.apiextensions.CustomResource(
        f"{scope.name}-trigger-authentication",
        api_version=KEDA_API_VERSION,
        kind="TriggerAuthentication",
        metadata=scope.meta(name),
        spec={
            "secretTargetRef": [{"parameter": "host", "name": secret, "key": MONITORING_URL_KEY}]
        },
        opts=_keda_opts(scope, "TriggerAuthentication"),
    )
    return name


def _queue_scaler(
    scope: ServiceScope, target: apps.Deployment, queue: QueueScaling, name: str, logical: str
) -> None:
    scaling = scope.args.spec.autoscaling
    k8s.apiextensions.CustomResource(
        f"{logical}-scaled-object",
        api_version=KEDA_API_VERSION,
        kind="ScaledObject",
        metadata=scope.meta(name),
        spec={
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": kube.name_of(target),
            },
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "pollingInterval": POLLING_SECONDS,
            "cooldownPeriod": scaling.scale_down_stabilization_seconds,
            "advanced": {
                "horizontalPodAutoscalerConfig": {"name": name, "behavior": behavior(scaling)}
            },
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "protocol": "amqp",
                        "queueName": queue.queue,
                        "mode": "QueueLength",
                        "value": str(queue.messages_per_replica),
                    },
                    "authenticationRef": {"name": _authentication_name(scope)},
                }
            ],
        },
        opts=_keda_opts(scope, "ScaledObject"),
    )


def _keda_opts(scope: ServiceScope, kind: str) -> pulumi.ResourceOptions:
    keda = scope.args.keda
    if keda is None:
        raise ValueError(
            f"{scope.service}: autoscaling.queue needs the KEDA CRDs (MicroserviceArgs.keda)"
        )
    return pulumi.ResourceOptions.merge(scope.k8s_opts(), keda.wait_for(kind))


def _authentication_name(scope: ServiceScope) -> str:
    return f"{scope.service}-rabbitmq"


def _policy(kind: str, value: int, period: int) -> v2.HPAScalingPolicyArgs:
    return v2.HPAScalingPolicyArgs(type=kind, value=value, period_seconds=period)


def _utilization(resource: str, percent: int) -> v2.MetricSpecArgs:
    return v2.MetricSpecArgs(
        type="Resource",
        resource=v2.ResourceMetricSourceArgs(
            name=resource,
            target=v2.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )
