"""Kubernetes helpers for stack rules: pod template of an object, containers, label selectors.

Pod specs are found by shape through pods.py, so these helpers see the same pods as the
per-workload rules.

Properties are the Pulumi *inputs* of pulumi-kubernetes resources, i.e. the manifest with
camelCase keys: {apiVersion, kind, metadata, spec}.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource

from .builder import EMPTY, as_list, as_mapping, dig
from .pods import CONTAINER_LISTS, Container, carries_pods, pod_sites

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
POD_DISRUPTION_BUDGET = "kubernetes:policy/v1:PodDisruptionBudget"
PERSISTENT_VOLUME_CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
# v1 and v2 share scaleTargetRef/minReplicas; accept both so an older HPA is not invisible.
HPA_TYPES = frozenset(
    {
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    }
)

WORKLOAD_TYPES = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET, JOB, CRON_JOB, POD})
# Jobs run to completion and are never behind a Service, so readiness/liveness probes would only
# slow them down or kill a long migration; probe rules apply to these long-running kinds only.
LONG_RUNNING_TYPES = frozenset({DEPLOYMENT, STATEFUL_SET, DAEMON_SET, POD})

DEFAULT_NAMESPACE = "default"


def pod_template(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """{metadata, spec} of the first pod spec found by shape (pods.py), {} when there is none.

    The type token is only a hint (a Pod is its own template); a ReplicaSet, a Patch or a CRD
    embedding a template is found the same way as a Deployment.
    """
    sites = pod_sites(resource_type, props)
    if not sites:
        return EMPTY
    return {"metadata": sites[0].metadata, "spec": sites[0].spec}


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(pod_template(resource_type, props).get("spec"))


def pod_labels(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_mapping(dig(pod_template(resource_type, props), "metadata", "labels"))


def containers(spec: Mapping[str, Any], *, include_init: bool = True) -> list[Container]:
    """Regular, then init, then ephemeral containers, in manifest order."""
    found = []
    for key, kind in CONTAINER_LISTS:
        if not include_init and key != "containers":
            continue
        for index, item in enumerate(as_list(spec.get(key))):
            container = as_mapping(item)
            name = container.get("name")
            found.append(Container(kind, name if isinstance(name, str) else f"#{index}", container))
    return found


def effective_security(spec: Mapping[str, Any], container: Container, key: str) -> Any:
    """A securityContext field as the kubelet resolves it: the container's wins over the pod's."""
    own = container.security_context.get(key)
    if own is not None:
        return own
    return as_mapping(spec.get("securityContext")).get(key)


def metadata_name(props: Mapping[str, Any]) -> str:
    name = dig(props, "metadata", "name")
    return name if isinstance(name, str) else ""


def metadata_namespace(props: Mapping[str, Any]) -> str:
    """The declared namespace, "" when absent (the provider would then pick one for us)."""
    namespace = dig(props, "metadata", "namespace")
    return namespace if isinstance(namespace, str) else ""


def effective_namespace(props: Mapping[str, Any]) -> str:
    # An object without a namespace lands in the provider's default namespace; the explicit
    # namespace rule flags that separately, so stack rules can simply assume "default".
    return metadata_namespace(props) or DEFAULT_NAMESPACE


def selector_is_empty(selector: Any) -> bool:
    """True for `{}` (or absent): in a NetworkPolicy that selects every pod of the namespace."""
    selector = as_mapping(selector)
    return not as_mapping(selector.get("matchLabels")) and not as_list(
        selector.get("matchExpressions")
    )


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes LabelSelector semantics; an empty selector matches everything."""
    selector = as_mapping(selector)
    for key, value in as_mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    return all(
        _expression_matches(as_mapping(e), labels)
        for e in as_list(selector.get("matchExpressions"))
    )


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    key = str(expression.get("key"))
    operator = expression.get("operator")
    values = list(as_list(expression.get("values")))
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    # An operator the API server would reject cannot be relied on to select anything.
    return False


@dataclass(frozen=True)
class KubeObject:
    """A Kubernetes resource of the stack, with the fields stack rules keep needing."""

    type: str
    urn: str
    name: str
    namespace: str
    props: Mapping[str, Any]

    @property
    def spec(self) -> Mapping[str, Any]:
        return as_mapping(self.props.get("spec"))

    @property
    def label(self) -> str:
        return f"{self.type.rsplit(':', 1)[-1]} '{self.namespace}/{self.name}'"


def kube_objects(resources: Iterable[PolicyResource], types: Iterable[str]) -> list[KubeObject]:
    wanted = frozenset(types)
    return [
        KubeObject(
            type=r.resource_type,
            urn=r.urn,
            name=metadata_name(r.props) or r.name,
            namespace=effective_namespace(r.props),
            props=r.props,
        )
        for r in resources
        if r.resource_type in wanted
    ]


def pod_carriers(resources: Iterable[PolicyResource]) -> list[KubeObject]:
    """Every object that would run pods, found by shape (see pods.py), not by type token."""
    return [
        KubeObject(
            type=r.resource_type,
            urn=r.urn,
            name=metadata_name(r.props) or r.name,
            namespace=effective_namespace(r.props),
            props=r.props,
        )
        for r in resources
        if carries_pods(r.resource_type, r.props)
    ]


def in_namespace(objects: Iterable[KubeObject], namespace: str) -> Iterator[KubeObject]:
    return (o for o in objects if o.namespace == namespace)


__all__ = [
    "CRON_JOB",
    "DAEMON_SET",
    "DEFAULT_NAMESPACE",
    "DEPLOYMENT",
    "HPA_TYPES",
    "JOB",
    "LONG_RUNNING_TYPES",
    "NAMESPACE",
    "NETWORK_POLICY",
    "PERSISTENT_VOLUME_CLAIM",
    "POD",
    "POD_DISRUPTION_BUDGET",
    "SERVICE",
    "STATEFUL_SET",
    "WORKLOAD_TYPES",
    "Container",
    "KubeObject",
    "containers",
    "effective_namespace",
    "effective_security",
    "in_namespace",
    "kube_objects",
    "metadata_name",
    "metadata_namespace",
    "pod_carriers",
    "pod_labels",
    "pod_spec",
    "pod_template",
    "selector_is_empty",
    "selector_matches",
]
