"""Rogue resources appended to the real production program: each is caught, and synth exits 1.

Unlike the fixture cases (inputs written by hand), these go through the real SDK classes, the
mock engine and the pack over gRPC, so a wrong type token, a camelCase surprise or a Patch or
CustomResource variant the SDK renders differently would show up here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.synthesis import copy_project
from tools import cli

ROGUE_PROGRAM = """

# --- rogue resources appended by tests/policy/test_rogue_resources.py ---------------------
import pulumi_kubernetes as _k8s
from pulumi_azure_native import (
    authorization as _authorization,
    containerregistry as _acr,
    dbforpostgresql as _pg,
    storage as _storage,
)

_in_cluster = pulumi.ResourceOptions(provider=cluster.provider)
_RBAC = "rbac.authorization.k8s.io"
_PSA = "pod-security.kubernetes.io/enforce"
_meta = {"name": "rogue", "namespace": APP_NAMESPACE}


def _custom(name, api_version, kind, spec):
    _k8s.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind, metadata=_meta, spec=spec, opts=_in_cluster
    )


_k8s.core.v1.ServicePatch(
    "rogue-service-patch",
    metadata={"name": "orders", "namespace": APP_NAMESPACE},
    spec={"type": "LoadBalancer"},
    opts=_in_cluster,
)
_k8s.core.v1.Service(
    "rogue-external-name",
    metadata=_meta,
    spec={"type": "ExternalName", "external_name": "evil.example.net"},
    opts=_in_cluster,
)
_k8s.networking.v1.NetworkPolicy(
    "rogue-allow-all",
    metadata=_meta,
    spec={"pod_selector": {}, "policy_types": ["Ingress"], "ingress": [{}]},
    opts=_in_cluster,
)
_k8s.networking.v1.Ingress(
    "rogue-ingress",
    metadata=_meta,
    spec={"default_backend": {"service": {"name": "orders", "port": {"number": 80}}}},
    opts=_in_cluster,
)
_custom("rogue-authz", "security.istio.io/v1", "AuthorizationPolicy", {"rules": [{}]})
_custom("rogue-peer", "security.istio.io/v1", "PeerAuthentication",
        {"mtls": {"mode": "PERMISSIVE"}})
_custom("rogue-dr", "networking.istio.io/v1", "DestinationRule",
        {"host": "orders", "trafficPolicy": {"tls": {"mode": "DISABLE"}}})
_custom("rogue-egress", "networking.istio.io/v1", "ServiceEntry", {"hosts": ["*"]})
_custom("rogue-sidecar", "networking.istio.io/v1", "Sidecar",
        {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}})
_custom("rogue-envoy", "networking.istio.io/v1alpha3", "EnvoyFilter", {"configPatches": []})
_custom("rogue-gateway", "networking.istio.io/v1", "Gateway",
        {"servers": [{"hosts": ["*"], "port": {"number": 80, "name": "http", "protocol": "HTTP"}}]})
_k8s.rbac.v1.ClusterRoleBinding(
    "rogue-binding",
    role_ref={"api_group": _RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
    subjects=[{"kind": "Group", "name": "system:authenticated", "api_group": _RBAC}],
    opts=_in_cluster,
)
_k8s.rbac.v1.Role(
    "rogue-role",
    metadata=_meta,
    rules=[{"api_groups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    opts=_in_cluster,
)
_k8s.core.v1.NamespacePatch(
    "rogue-namespace",
    metadata={"name": APP_NAMESPACE, "labels": {_PSA: "privileged"}},
    opts=_in_cluster,
)
_k8s.core.v1.ConfigMap(
    "rogue-config", metadata=_meta, data={"DB_PASSWORD": "hunter2hunter2"}, opts=_in_cluster
)
_k8s.core.v1.Secret(
    "rogue-secret", metadata=_meta, string_data={"password": "hunter2hunter2"}, opts=_in_cluster
)
_pg.FirewallRule(
    "rogue-firewall",
    resource_group_name=group.name,
    server_name=stack.postgres.server_name,
    firewall_rule_name="everyone",
    start_ip_address="0.0.0.0",
    end_ip_address="255.255.255.255",
)
_pg.Configuration(
    "rogue-tls-off",
    resource_group_name=group.name,
    server_name=stack.postgres.server_name,
    configuration_name="require_secure_transport",
    value="off",
    source="user-override",
)
_storage.StorageAccount(
    "rogue-storage",
    account_name="micromartrogue",
    resource_group_name=group.name,
    kind="StorageV2",
    sku=_storage.SkuArgs(name="Standard_LRS"),
    allow_blob_public_access=True,
)
_authorization.RoleAssignment(
    "rogue-owner",
    principal_id="11111111-2222-3333-4444-555555555555",
    role_definition_id=(
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
        "Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
    ),
    scope="/subscriptions/00000000-0000-0000-0000-000000000000",
)
_acr.Registry(
    "rogue-registry",
    registry_name="micromartrogue",
    resource_group_name=group.name,
    sku=_acr.SkuArgs(name="Premium"),
    admin_user_enabled=False,
)
"""

# Rogue resource name -> the policy that must flag it.
EXPECTED = {
    "rogue-service-patch": "k8s-service-internal-only",
    "rogue-external-name": "k8s-service-internal-only",
    "rogue-allow-all": "k8s-network-policy-no-allow-all",
    "rogue-ingress": "k8s-no-ingress-objects",
    "rogue-authz": "istio-authorization-names-callers",
    "rogue-peer": "istio-peer-authentication-strict",
    "rogue-dr": "istio-destination-rule-mtls",
    "rogue-egress": "istio-egress-hosts-allowed",
    "rogue-sidecar": "istio-egress-hosts-allowed",
    "rogue-envoy": "istio-no-envoy-filter",
    "rogue-gateway": "istio-gateway-tls-named-hosts",
    "rogue-binding": "k8s-rbac-no-broad-bindings",
    "rogue-role": "k8s-rbac-least-privilege",
    "rogue-namespace": "k8s-namespace-pod-security-restricted",
    "rogue-config": "no-plaintext-secrets",
    "rogue-secret": "k8s-secret-values-not-literal",
    "rogue-firewall": "postgres-firewall-closed",
    "rogue-tls-off": "postgres-tls-not-disabled",
    "rogue-storage": "storage-account-secure",
    "rogue-owner": "azure-no-privileged-role-at-broad-scope",
    "rogue-registry": "acr-private-network",
}


@pytest.fixture(scope="module")
def rogue_violations(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    root = tmp_path_factory.mktemp("rogue")
    project = copy_project(root / "project")
    main = project / "__main__.py"
    main.write_text(main.read_text(encoding="utf-8") + ROGUE_PROGRAM, encoding="utf-8")
    out = root / "build"
    code = cli.main(["--stack", "production", "--project-dir", str(project), "--out", str(out)])
    assert code == cli.EXIT_VIOLATION
    document = json.loads((Path(out) / "production" / "policy.json").read_text())
    violations: list[dict[str, str]] = document["violations"]
    return violations


@pytest.mark.parametrize(("rogue", "policy"), sorted(EXPECTED.items()))
def test_rogue_resource_is_blocked(
    rogue_violations: list[dict[str, str]], rogue: str, policy: str
) -> None:
    flagged = {
        v["policy"]
        for v in rogue_violations
        if v["urn"].endswith(f"::{rogue}") and v["level"] == "mandatory"
    }
    assert policy in flagged, f"{rogue}: flagged only by {sorted(flagged)}"


def test_the_real_resources_stay_clean(rogue_violations: list[dict[str, str]]) -> None:
    # Only the rogue resources (and the server the rogue Configuration turns TLS off for) fail.
    others = {
        (v["policy"], v["urn"].rsplit("::", 1)[-1])
        for v in rogue_violations
        if not v["urn"].rsplit("::", 1)[-1].startswith("rogue-")
    }
    assert others <= {("postgres-tls-enforced", "micromart-server")}, sorted(others)
