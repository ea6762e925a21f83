"""Network exposure rules: no node/cloud exposure of Services, default-deny plus per-app policies.

Traffic enters the cluster only through the AKS Istio ingress gateway (managed by the add-on, not
by this program), so no Service of ours needs a node port or a cloud load balancer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs

from .builder import (
    Finding,
    Severity,
    as_list,
    as_mapping,
    dig,
    plain,
    resource_policy,
    stack_policy,
)
from .kube import (
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    SERVICE,
    KubeObject,
    in_namespace,
    kube_objects,
    pod_carriers,
    pod_labels,
    selector_is_empty,
    selector_matches,
)

_K8S = ("kubernetes", "network")
_EXPOSED_SERVICE_TYPES = ("LoadBalancer", "NodePort")
_EVERYWHERE_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def check_service_internal_only(args: ResourceValidationArgs) -> Iterator[str]:
    service_type = dig(args.props, "spec", "type")
    if service_type in _EXPOSED_SERVICE_TYPES:
        yield f"spec.type is {service_type}"


def peer_is_everything(peer: Any) -> bool:
    """A NetworkPolicy peer that matches every pod of every namespace, or the whole internet."""
    peer = as_mapping(peer)
    ip_block = as_mapping(peer.get("ipBlock"))
    if ip_block:
        return ip_block.get("cidr") in _EVERYWHERE_CIDRS and not as_list(ip_block.get("except"))
    namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespaces is None:
        # No namespaceSelector: either nothing at all (matches everything) or pods of this
        # namespace only, which is a scoped allow, not "everything".
        return pods is None
    return selector_is_empty(namespaces) and selector_is_empty(pods)


def rule_allows_everything(rule: Any, peers_key: str) -> bool:
    """An ingress (peers_key="from") or egress ("to") rule with no effective restriction."""
    rule = as_mapping(rule)
    peers = as_list(rule.get(peers_key))
    unrestricted_peers = not peers or any(peer_is_everything(p) for p in peers)
    return unrestricted_peers and not as_list(rule.get("ports"))


def default_deny_problems(policy: KubeObject) -> list[str]:
    """Why this NetworkPolicy is not a namespace-wide default deny ([] when it is one)."""
    spec = policy.spec
    problems = []
    if not selector_is_empty(spec.get("podSelector")):
        problems.append("podSelector is not {}")
    declared = {str(t) for t in as_list(spec.get("policyTypes"))}
    # Without an explicit Egress entry Kubernetes leaves egress open when no egress rules exist.
    missing = [t for t in ("Ingress", "Egress") if t not in declared]
    if missing:
        problems.append(f"policyTypes lacks {' and '.join(missing)}")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        if any(rule_allows_everything(rule, peers_key) for rule in as_list(spec.get(direction))):
            problems.append(f"an {direction} rule allows all traffic")
    return problems


def check_namespace_default_deny(args: StackValidationArgs) -> Iterator[Finding]:
    workloads = pod_carriers(args.resources)
    policies = kube_objects(args.resources, [NETWORK_POLICY])
    namespaces = {n.name: n for n in kube_objects(args.resources, [NAMESPACE])}
    for namespace in sorted({w.namespace for w in workloads}):
        # Only policies selecting every pod are default-deny candidates; explaining why each
        # per-app policy "fails" would bury the useful part of the message.
        candidates = [
            p
            for p in in_namespace(policies, namespace)
            if selector_is_empty(p.spec.get("podSelector"))
        ]
        problems = {p.name: default_deny_problems(p) for p in candidates}
        if any(not found for found in problems.values()):
            continue
        detail = "; ".join(
            f"'{name}': {', '.join(found)}" for name, found in sorted(problems.items())
        )
        message = (
            f"namespace '{namespace}' runs workloads but has no default-deny NetworkPolicy "
            f"({detail or 'no NetworkPolicy with podSelector {} in it'})"
        )
        if namespace in namespaces:
            yield Finding(namespaces[namespace].urn, message)
        else:
            for workload in in_namespace(workloads, namespace):
                yield Finding(workload.urn, message)


def _labels_text(labels: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(plain(labels).items())) or "none"


def check_deployment_network_policy(args: StackValidationArgs) -> Iterator[Finding]:
    policies = kube_objects(args.resources, [NETWORK_POLICY])
    for deployment in kube_objects(args.resources, [DEPLOYMENT]):
        labels = pod_labels(DEPLOYMENT, deployment.props)
        covered = any(
            not selector_is_empty(selector) and selector_matches(selector, labels)
            for selector in (
                p.spec.get("podSelector") for p in in_namespace(policies, deployment.namespace)
            )
        )
        if not covered:
            yield Finding(
                deployment.urn,
                f"{deployment.label}: no NetworkPolicy with a non-empty podSelector selects its "
                f"pods (pod labels: {_labels_text(labels)})",
            )


POLICIES: tuple[Policy, ...] = (
    resource_policy(
        name="k8s-service-internal-only",
        description=(
            "Services are not exposed on nodes or cloud load balancers (no NodePort or "
            "LoadBalancer)."
        ),
        resource_types=[SERVICE],
        check=check_service_internal_only,
        severity=Severity.HIGH,
        remediation=(
            "Use type ClusterIP and route external traffic through the Istio ingress gateway with "
            "a Gateway and VirtualService."
        ),
        tags=_K8S,
    ),
    stack_policy(
        name="k8s-namespace-default-deny",
        description=(
            "Every namespace that runs workloads has a default-deny NetworkPolicy for ingress and "
            "egress."
        ),
        check=check_namespace_default_deny,
        severity=Severity.HIGH,
        remediation=(
            "Add a NetworkPolicy with podSelector {}, policyTypes [Ingress, Egress], no ingress "
            "rules and only a DNS egress rule to the namespace."
        ),
        tags=_K8S,
    ),
    stack_policy(
        name="k8s-deployment-network-policy",
        description=(
            "Every Deployment's pods are selected by a NetworkPolicy of their own (non-empty "
            "podSelector)."
        ),
        check=check_deployment_network_policy,
        severity=Severity.HIGH,
        remediation=(
            "Add a NetworkPolicy in the Deployment's namespace whose podSelector matches the pod "
            "template labels and allows only the declared callers and dependencies."
        ),
        tags=_K8S,
    ),
)
