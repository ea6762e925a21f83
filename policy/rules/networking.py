"""Network exposure rules: no node/cloud exposure of Services, default-deny plus per-app policies.

Traffic enters the cluster only through the AKS Istio ingress gateway (managed by the add-on, not
by this program), so no Service of ours needs a node port or a cloud load balancer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs, StackValidationArgs

from .addresses import Network, covers_public_internet, parse_network, subtract
from .builder import (
    Finding,
    Severity,
    as_list,
    as_mapping,
    plain,
    stack_policy,
)
from .kinds import Manifest, manifest_policy
from .kube import (
    DEPLOYMENT,
    NAMESPACE,
    NETWORK_POLICY,
    KubeObject,
    in_namespace,
    kube_objects,
    pod_carriers,
    pod_labels,
    selector_is_empty,
    selector_matches,
)
from .podrules import system_namespace_schema, system_namespaces
from .pods import namespace_matches

_K8S = ("kubernetes", "network")
_CORE = ("",)
_NETWORK_POLICY_GROUPS = ("networking.k8s.io", "extensions")
# Azure's cloud provider keeps a LoadBalancer Service off the internet only with this exact value
# (cloud-provider-azure consts.ServiceAnnotationLoadBalancerInternal, compared with "true").
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
# A namespace label every namespace carries (set by the API server since 1.22), so selecting on
# its mere existence selects every namespace.
_UNIVERSAL_LABELS = frozenset({"kubernetes.io/metadata.name"})


def check_service_internal_only(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    spec = manifest.spec
    service_type = spec.get("type")
    if service_type == "NodePort":
        yield "spec.type is NodePort (opens a port on every node)"
    elif service_type == "LoadBalancer":
        if manifest.annotations.get(INTERNAL_LB_ANNOTATION) != "true":
            yield (
                f'spec.type is LoadBalancer without annotation {INTERNAL_LB_ANNOTATION}: "true" '
                "(a public load balancer)"
            )
    elif service_type == "ExternalName":
        yield "spec.type is ExternalName (a DNS alias that leaves the mesh)"
    elif service_type not in (None, "ClusterIP"):
        yield f"spec.type is {service_type!r}, not ClusterIP"
    internal = manifest.annotations.get(INTERNAL_LB_ANNOTATION)
    if manifest.patch and INTERNAL_LB_ANNOTATION in manifest.annotations and internal != "true":
        # A patch that flips the annotation turns an internal load balancer into a public one
        # without touching spec.type.
        yield f"sets {INTERNAL_LB_ANNOTATION} to {internal!r}, exposing a load balancer publicly"
    if as_list(spec.get("externalIPs")):
        yield "spec.externalIPs is set (nodes accept traffic for those addresses)"


def check_no_ingress_objects(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    yield "external traffic enters only through the Istio ingress gateway of the AKS add-on"


def selector_is_broad(selector: Any) -> bool:
    """A label selector that selects (practically) everything it is applied to.

    `{}` selects all; so do requirements that every object satisfies: Exists on a label all
    namespaces carry, or only negative requirements (NotIn, DoesNotExist), which every object
    without the named labels meets.
    """
    if selector_is_empty(selector):
        return True
    selector = as_mapping(selector)
    if as_mapping(selector.get("matchLabels")):
        return False
    expressions = [as_mapping(e) for e in as_list(selector.get("matchExpressions"))]
    return all(
        e.get("operator") in ("NotIn", "DoesNotExist")
        or (e.get("operator") == "Exists" and e.get("key") in _UNIVERSAL_LABELS)
        for e in expressions
    )


def _ip_block_ranges(peer: Mapping[str, Any]) -> list[Network]:
    block = as_mapping(peer.get("ipBlock"))
    cidr = parse_network(block.get("cidr"))
    if cidr is None:
        return []
    excepted = [n for n in (parse_network(e) for e in as_list(block.get("except"))) if n]
    return subtract([cidr], excepted)


def peer_is_everything(peer: Any) -> bool:
    """A NetworkPolicy peer that matches every pod of every namespace, or the whole internet."""
    peer = as_mapping(peer)
    if "ipBlock" in peer:
        return covers_public_internet(_ip_block_ranges(peer))
    namespaces, pods = peer.get("namespaceSelector"), peer.get("podSelector")
    if namespaces is None:
        # No namespaceSelector: either nothing at all (matches everything) or pods of this
        # namespace only, which is a scoped allow, not "everything".
        return pods is None
    return selector_is_broad(namespaces) and (pods is None or selector_is_broad(pods))


def rule_allows_everything(rule: Any, peers_key: str) -> bool:
    """An ingress (peers_key="from") or egress ("to") rule that admits every peer.

    Ports do not narrow "who": a rule open to every pod and the internet on one port is how data
    leaves or attackers enter, so it cancels default-deny as much as an empty rule does. The
    ipBlocks of a rule are judged together (two /1 halves are the whole internet).
    """
    rule = as_mapping(rule)
    peers = [as_mapping(p) for p in as_list(rule.get(peers_key))]
    if not peers or any(peer_is_everything(p) for p in peers):
        return True
    ranges = [r for p in peers for r in _ip_block_ranges(p)]
    return covers_public_internet(ranges)


# Cilium's own policy CRDs (the cluster runs the cilium dataplane): entities that mean "anyone".
_CILIUM = ("cilium.io",)
_CILIUM_EVERYONE = frozenset({"all", "world", "world-ipv4", "world-ipv6"})


def _cilium_rule_problems(where: str, rule: Mapping[str, Any], prefix: str) -> Iterator[str]:
    entities = {str(e).lower() for e in as_list(rule.get(f"{prefix}Entities"))}
    if entities & _CILIUM_EVERYONE:
        yield f"{where}.{prefix}Entities admits {', '.join(sorted(entities & _CILIUM_EVERYONE))}"
    cidrs = [parse_network(c) for c in as_list(rule.get(f"{prefix}CIDR"))]
    for item in as_list(rule.get(f"{prefix}CIDRSet")):
        block = as_mapping(item)
        cidr = parse_network(block.get("cidr"))
        if cidr is not None:
            excepted = [n for n in (parse_network(e) for e in as_list(block.get("except"))) if n]
            cidrs.extend(subtract([cidr], excepted))
    if covers_public_internet([c for c in cidrs if c is not None]):
        yield f"{where}.{prefix}CIDR/{prefix}CIDRSet cover the whole internet"
    for fqdn in as_list(rule.get("toFQDNs")):
        if as_mapping(fqdn).get("matchPattern") == "*":
            yield f"{where}.toFQDNs matchPattern '*' admits every domain"


def check_cilium_policy(manifest: Manifest) -> Iterator[str]:
    specs = [("spec", manifest.spec)] + [
        (f"specs[{i}]", as_mapping(s)) for i, s in enumerate(as_list(manifest.body.get("specs")))
    ]
    for name, spec in specs:
        for direction, prefix in (("ingress", "from"), ("egress", "to")):
            for index, rule in enumerate(as_list(spec.get(direction))):
                where = f"{name}.{direction}[{index}]"
                yield from _cilium_rule_problems(where, as_mapping(rule), prefix)


def check_network_policy_no_allow_all(
    manifest: Manifest, _: ResourceValidationArgs
) -> Iterator[str]:
    if manifest.group == "cilium.io":
        yield from check_cilium_policy(manifest)
        return
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(as_list(manifest.spec.get(direction))):
            if rule_allows_everything(rule, peers_key):
                yield (
                    f"spec.{direction}[{index}] admits every peer (empty or missing "
                    f"'{peers_key}', all namespaces and pods, or the whole internet)"
                )


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
    # AKS and its add-ons run their own pods in the documented system namespaces; those are
    # exempted by name in the pack config rather than by demanding a default-deny there.
    system = system_namespaces(args)
    workloads = [
        w for w in pod_carriers(args.resources) if not namespace_matches(w.namespace, system)
    ]
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
    manifest_policy(
        name="k8s-service-internal-only",
        description=(
            "Services are not exposed on nodes, public load balancers, external IPs or external "
            "DNS names."
        ),
        kinds=[("Service", _CORE)],
        check=check_service_internal_only,
        severity=Severity.HIGH,
        remediation=(
            "Use type ClusterIP without externalIPs and route external traffic through the Istio "
            "ingress gateway with a Gateway and VirtualService; a LoadBalancer must carry "
            f'{INTERNAL_LB_ANNOTATION}: "true".'
        ),
        tags=_K8S,
    ),
    manifest_policy(
        name="k8s-no-ingress-objects",
        description=(
            "No Ingress or Gateway API Gateway objects: the Istio add-on's gateway is the only "
            "way in."
        ),
        kinds=[("Ingress", None), ("Gateway", ("gateway.networking.k8s.io",))],
        check=check_no_ingress_objects,
        severity=Severity.HIGH,
        remediation=(
            "Delete the object; expose the route with an Istio Gateway bound to "
            "istio: aks-istio-ingressgateway-external and a VirtualService."
        ),
        tags=_K8S,
    ),
    manifest_policy(
        name="k8s-network-policy-no-allow-all",
        description=(
            "No NetworkPolicy (or Cilium policy) rule admits every peer, which would cancel the "
            "namespace's default deny."
        ),
        kinds=[
            ("NetworkPolicy", _NETWORK_POLICY_GROUPS),
            ("CiliumNetworkPolicy", _CILIUM),
            ("CiliumClusterwideNetworkPolicy", _CILIUM),
        ],
        check=check_network_policy_no_allow_all,
        severity=Severity.HIGH,
        remediation=(
            "Name the peers: a podSelector (plus a namespaceSelector with matchLabels for other "
            "namespaces) or the exact ipBlock CIDRs needed, never {} or 0.0.0.0/0."
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
        config_schema=system_namespace_schema(),
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
