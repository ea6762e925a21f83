"""Cluster-level objects that act on other objects after the pack has judged them.

An admission webhook sees (and a mutating one rewrites) every matching object the API server
admits, so a pod the pack passed can be made privileged on its way in, and a validating webhook
receives Secrets in full. Hand-written Endpoints or EndpointSlices attach any address, including
one on the internet, to an in-cluster Service name, bypassing its selector. A ClusterRole that
reads Secrets or opens exec/proxy/token paths hands those out in every namespace it is bound in.
All are matched by kind at any version (patches, lists and CustomResource spellings included).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Policy, ResourceValidationArgs

from .builder import Severity, as_list, as_mapping
from .kinds import Manifest, manifest_policy, string

_ADMISSION = ("admissionregistration.k8s.io",)
_TAGS = ("kubernetes", "cluster")
# (API group, resource) -> verbs that make a cluster-wide grant a path to other workloads' data
# or to running code in them (Kubernetes "RBAC good practices": secrets, exec/attach, node proxy,
# token requests, CSR approval).
_SENSITIVE: dict[tuple[str, str], frozenset[str]] = {
    ("", "secrets"): frozenset({"get", "list", "watch"}),
    ("", "pods/exec"): frozenset({"create", "get"}),
    ("", "pods/attach"): frozenset({"create", "get"}),
    ("", "nodes/proxy"): frozenset({"get", "create"}),
    ("", "serviceaccounts/token"): frozenset({"create"}),
    ("certificates.k8s.io", "certificatesigningrequests/approval"): frozenset({"update", "patch"}),
}


def check_admission_hook(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    hooks = [as_mapping(item) for item in as_list(manifest.body.get("webhooks"))]
    targets = [
        string(as_mapping(hook.get("clientConfig")).get("url"))
        or string(as_mapping(as_mapping(hook.get("clientConfig")).get("service")).get("name"))
        for hook in hooks
    ]
    shown = ", ".join(target for target in targets if target) or "its policy"
    yield f"hands admitted objects to {shown}, unchecked"


def check_manual_endpoints(_manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    yield "written by hand; Services get their endpoints from their selector"


def check_cluster_role(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    for index, item in enumerate(as_list(manifest.body.get("rules"))):
        rule = as_mapping(item)
        groups = {string(group) for group in as_list(rule.get("apiGroups"))}
        resources = {string(resource).lower() for resource in as_list(rule.get("resources"))}
        verbs = {string(verb).lower() for verb in as_list(rule.get("verbs"))}
        for (group, resource), risky in sorted(_SENSITIVE.items()):
            granted = sorted(verbs & risky)
            if group in groups and resource in resources and granted:
                yield (
                    f"rules[{index}] grants {', '.join(granted)} on {resource} in every "
                    "namespace it is bound in"
                )


POLICIES: tuple[Policy, ...] = (
    manifest_policy(
        name="k8s-no-admission-webhooks",
        description=(
            "No mutating or validating admission webhook or mutating admission policy is "
            "declared, since it would act on objects after the pack judged them."
        ),
        kinds=[
            ("MutatingWebhookConfiguration", _ADMISSION),
            ("ValidatingWebhookConfiguration", _ADMISSION),
            ("MutatingAdmissionPolicy", _ADMISSION),
            ("MutatingAdmissionPolicyBinding", _ADMISSION),
        ],
        check=check_admission_hook,
        severity=Severity.CRITICAL,
        remediation=(
            "Express the rule in the policy pack or as a ValidatingAdmissionPolicy (CEL, deny "
            "only); cluster add-ons install their own webhooks outside this program."
        ),
        tags=_TAGS,
    ),
    manifest_policy(
        name="k8s-no-manual-endpoints",
        description=(
            "No Endpoints or EndpointSlice object is written by hand, since it can point a "
            "Service name at any address."
        ),
        kinds=[("Endpoints", ("",)), ("EndpointSlice", ("discovery.k8s.io",))],
        check=check_manual_endpoints,
        severity=Severity.HIGH,
        remediation=(
            "Give the Service a selector; reach an outside host through an Istio ServiceEntry "
            "the pack's allowedExternalHosts admits."
        ),
        tags=_TAGS,
    ),
    manifest_policy(
        name="k8s-rbac-no-cluster-wide-sensitive-access",
        description=(
            "No ClusterRole grants reading Secrets, exec or attach into pods, node proxy, "
            "service account tokens or certificate approval."
        ),
        kinds=[("ClusterRole", ("rbac.authorization.k8s.io",))],
        check=check_cluster_role,
        severity=Severity.HIGH,
        remediation=(
            "Grant it in a namespaced Role on the named Secrets (resourceNames) the workload "
            "needs, bound in that namespace only."
        ),
        tags=(*_TAGS, "rbac"),
    ),
)
