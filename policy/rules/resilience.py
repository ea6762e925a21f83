"""Availability and durability rules: disruption budgets, replica ownership and counts, protect.

These are stack rules (except protect) because they relate resources to each other: a Deployment
to its PodDisruptionBudget, a Deployment to the HPA that scales it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs

from .azure import POSTGRES_DATABASE, POSTGRES_SERVER
from .builder import (
    Finding,
    Severity,
    as_list,
    as_mapping,
    config_value,
    dig,
    resource_policy,
    schema,
    show_number,
    stack_policy,
)
from .kube import (
    DEPLOYMENT,
    HPA_TYPES,
    PERSISTENT_VOLUME_CLAIM,
    POD_DISRUPTION_BUDGET,
    STATEFUL_SET,
    KubeObject,
    in_namespace,
    kube_objects,
    pod_labels,
    selector_matches,
)

_K8S = ("kubernetes", "reliability")
# Kubernetes' default for Deployment/StatefulSet replicas and HPA minReplicas.
_API_DEFAULT_REPLICAS = 1


def check_deployment_pdb(args: StackValidationArgs) -> Iterator[Finding]:
    budgets = kube_objects(args.resources, [POD_DISRUPTION_BUDGET])
    for deployment in kube_objects(args.resources, [DEPLOYMENT]):
        labels = pod_labels(DEPLOYMENT, deployment.props)
        # policy/v1: a missing selector selects no pods, an empty one selects the whole namespace.
        covered = any(
            selector is not None and selector_matches(selector, labels)
            for selector in (
                b.spec.get("selector") for b in in_namespace(budgets, deployment.namespace)
            )
        )
        if not covered:
            yield Finding(
                deployment.urn,
                f"{deployment.label}: no PodDisruptionBudget selects its pods",
            )


# A KEDA ScaledObject drives an HPA that KEDA creates in the cluster, so the program never
# declares that HPA: the ScaledObject is the autoscaler the pack sees. Its floor is
# minReplicaCount, whose KEDA default is 0 (scale to zero); scaleTargetRef.kind defaults to
# Deployment (keda.sh_scaledobjects.yaml, v2.17).
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
_FLOORS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(HPA_TYPES, ("minReplicas", _API_DEFAULT_REPLICAS)),
    SCALED_OBJECT: ("minReplicaCount", 0),
}


def autoscalers_by_target(
    args: StackValidationArgs,
) -> dict[tuple[str, str], list[KubeObject]]:
    """HPAs and ScaledObjects keyed by the (namespace, name) of the Deployment they scale."""
    targets: dict[tuple[str, str], list[KubeObject]] = {}
    for scaler in kube_objects(args.resources, _FLOORS):
        ref = as_mapping(scaler.spec.get("scaleTargetRef"))
        default_kind = "Deployment" if scaler.type == SCALED_OBJECT else None
        if ref.get("kind", default_kind) == "Deployment" and isinstance(ref.get("name"), str):
            targets.setdefault((scaler.namespace, ref["name"]), []).append(scaler)
    return targets


def _kind(resource: KubeObject) -> str:
    return resource.type.rsplit(":", 1)[-1]


def check_hpa_owns_replicas(args: StackValidationArgs) -> Iterator[Finding]:
    autoscaled = autoscalers_by_target(args)
    for deployment in kube_objects(args.resources, [DEPLOYMENT]):
        hpas = autoscaled.get((deployment.namespace, deployment.name), [])
        replicas = deployment.spec.get("replicas")
        if hpas and replicas is not None:
            names = ", ".join(f"{_kind(h)} '{h.name}'" for h in hpas)
            yield Finding(
                deployment.urn,
                f"{deployment.label}: sets spec.replicas={show_number(replicas)} but is scaled by "
                f"{names}; each update would reset the autoscaler's choice",
            )


REPLICAS_SCHEMA = schema(
    minReplicas={
        "type": "integer",
        "minimum": 1,
        "default": 1,
        "description": (
            "Minimum replicas for every Deployment (or its HPA's minReplicas) and StatefulSet."
        ),
    }
)


def _replicas(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return _API_DEFAULT_REPLICAS


def _replica_floors(
    args: StackValidationArgs,
) -> Iterator[tuple[KubeObject, str, float]]:
    """(object that sets the floor, field name, value) for every Deployment and StatefulSet."""
    autoscaled = autoscalers_by_target(args)
    for deployment in kube_objects(args.resources, [DEPLOYMENT]):
        hpas = autoscaled.get((deployment.namespace, deployment.name), [])
        # With an HPA the floor is its minReplicas; the Deployment's own value is then ignored.
        for hpa in hpas:
            field, default = _FLOORS[hpa.type]
            value = hpa.spec.get(field)
            yield hpa, field, _replicas(value) if value is not None else default
        if not hpas:
            yield deployment, "replicas", _replicas(deployment.spec.get("replicas"))
    for stateful_set in kube_objects(args.resources, [STATEFUL_SET]):
        yield stateful_set, "replicas", _replicas(stateful_set.spec.get("replicas"))


def check_minimum_replicas(args: StackValidationArgs) -> Iterator[Finding]:
    minimum = _replicas(config_value(args, REPLICAS_SCHEMA, "minReplicas"))
    for owner, field, count in _replica_floors(args):
        if count < minimum:
            yield Finding(
                owner.urn,
                f"{owner.label}: {field} {show_number(count)} is below the stack minimum "
                f"{show_number(minimum)}",
            )


PROTECT_SCHEMA = schema(
    requireProtect={
        "type": "boolean",
        "default": False,
        "description": "Require the protect resource option on databases and persistent volumes.",
    }
)


def holds_data(args: ResourceValidationArgs) -> bool:
    if args.resource_type == STATEFUL_SET:
        return bool(as_list(dig(args.props, "spec", "volumeClaimTemplates")))
    return args.resource_type in (
        POSTGRES_SERVER,
        POSTGRES_DATABASE,
        PERSISTENT_VOLUME_CLAIM,
    )


def check_protect(args: ResourceValidationArgs) -> Iterator[str]:
    if config_value(args, PROTECT_SCHEMA, "requireProtect") is not True:
        return
    if holds_data(args) and not args.opts.protect:
        yield f"{args.resource_type} '{args.name}' holds data but is not protected"


POLICIES: tuple[Policy, ...] = (
    stack_policy(
        name="k8s-deployment-pdb",
        description=(
            "Every Deployment has a PodDisruptionBudget in its namespace that selects its pods."
        ),
        check=check_deployment_pdb,
        severity=Severity.MEDIUM,
        remediation=(
            "Add a policy/v1 PodDisruptionBudget in the Deployment's namespace whose selector "
            "matches the pod template labels (e.g. maxUnavailable: 1)."
        ),
        tags=_K8S,
    ),
    stack_policy(
        name="k8s-hpa-owns-replicas",
        description="A Deployment scaled by a HorizontalPodAutoscaler does not set spec.replicas.",
        check=check_hpa_owns_replicas,
        severity=Severity.MEDIUM,
        remediation=(
            "Remove spec.replicas from the Deployment and set the floor with the HPA's minReplicas."
        ),
        tags=_K8S,
    ),
    stack_policy(
        name="k8s-minimum-replicas",
        description=(
            "Every Deployment (or its HPA's minReplicas) and StatefulSet runs at least the "
            "stack's minimum replicas."
        ),
        check=check_minimum_replicas,
        severity=Severity.MEDIUM,
        remediation=(
            "Raise the service's replicas or autoscaling.minReplicas in Pulumi.<stack>.yaml to at "
            "least minReplicas from policy/config/<stack>.json."
        ),
        tags=_K8S,
        config_schema=REPLICAS_SCHEMA,
    ),
    resource_policy(
        name="protect-stateful-resources",
        description=(
            "Postgres servers and databases, PVCs and StatefulSets with volume claims are "
            "protected where the stack requires it."
        ),
        resource_types=[
            POSTGRES_SERVER,
            POSTGRES_DATABASE,
            STATEFUL_SET,
            PERSISTENT_VOLUME_CLAIM,
        ],
        check=check_protect,
        severity=Severity.HIGH,
        remediation=(
            "Pass opts=pulumi.ResourceOptions(protect=True) to the resource (production stacks)."
        ),
        tags=("durability",),
        config_schema=PROTECT_SCHEMA,
    ),
)
