"""Istio rules: mTLS stays strict, authorization names its callers, traffic stays in the mesh.

Field semantics follow the Istio API (istio/api security/v1beta1 authorization.proto,
peer_authentication.proto, networking/v1alpha3 destination_rule.proto, gateway.proto):
- AuthorizationPolicy: action defaults to ALLOW; a rule matches when all its fields match and an
  absent field matches anything, so an ALLOW rule without `from` (or with an empty source)
  admits every caller, including plaintext ones.
- PeerAuthentication: mode UNSET inherits from the parent scope; DISABLE and PERMISSIVE accept
  plaintext. portLevelMtls overrides per port, and only in a policy with a workload selector
  (the CRD's rule "portLevelMtls requires selector"); the port is the workload's container port.

One structured per-object exemption: `exempt.policy.micromart.io/istio-peer-authentication-strict:
<reason>` (pods.EXEMPTION_PREFIX) is honoured only on a PeerAuthentication (not a Patch, which keeps
unseen live fields) with a non-empty workload selector, whose own mode is STRICT or UNSET, and
whose portLevelMtls lists port numbers set to PERMISSIVE, STRICT or UNSET: then only those listed
PERMISSIVE ports are let through. Namespace- or mesh-wide plaintext and DISABLE are never exempt.
- DestinationRule: tls.mode DISABLE sends plaintext; SIMPLE/MUTUAL replace the mesh identity with
  app-managed TLS, which inside the mesh bypasses Istio mTLS and AuthorizationPolicy principals.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ResourceValidationArgs

from .builder import Severity, as_list, as_mapping, config_value, schema
from .kinds import Manifest, manifest_policy, manifests, string
from .pods import EXEMPTION_PREFIX, exemption_annotations

_ISTIO = ("kubernetes", "istio")
_SECURITY = ("security.istio.io",)
_NETWORKING = ("networking.istio.io",)
_PLAINTEXT_PEER_MODES = frozenset({"DISABLE", "PERMISSIVE"})
# Inside the mesh only ISTIO_MUTUAL (or leaving tls unset, which auto-mTLS upgrades) keeps the
# workload identity that AuthorizationPolicies check.
_NON_MESH_TLS_MODES = frozenset({"DISABLE", "SIMPLE", "MUTUAL"})
_MESH_SUFFIXES = (".svc.cluster.local", ".svc", ".cluster.local")
# Source fields that narrow who the caller is; the `not*` fields only carve exceptions out of
# "everyone".
_IDENTITY_FIELDS = (
    "principals",
    "requestPrincipals",
    "namespaces",
    "ipBlocks",
    "remoteIpBlocks",
    "serviceAccounts",
)


# --- AuthorizationPolicy -------------------------------------------------------------------


def _source_is_everyone(source: Mapping[str, Any]) -> bool:
    narrowing = [as_list(source.get(field)) for field in _IDENTITY_FIELDS]
    if not any(narrowing):
        return True
    return any(any(value in ("*", "0.0.0.0/0", "::/0") for value in values) for values in narrowing)


def _rule_admits_anyone(rule: Any) -> bool:
    sources = [
        as_mapping(as_mapping(f).get("source")) for f in as_list(as_mapping(rule).get("from"))
    ]
    return not sources or any(_source_is_everyone(s) for s in sources)


def check_authorization_policy(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    spec = manifest.spec
    action = string(spec.get("action")) or "ALLOW"
    if action.upper() != "ALLOW":
        return
    for index, rule in enumerate(as_list(spec.get("rules"))):
        if _rule_admits_anyone(rule):
            yield (
                f"spec.rules[{index}] of an ALLOW policy has no 'from' naming the callers "
                "(empty rule, empty source, or '*' principals/namespaces) and admits anyone"
            )


# --- mTLS ----------------------------------------------------------------------------------


PEER_STRICT = "istio-peer-authentication-strict"


def _port_number(key: Any) -> bool:
    text = str(key)
    return text.isdigit() and 1 <= int(text) <= 65535


def peer_exemption_refusal(manifest: Manifest) -> str | None:
    """None when this PeerAuthentication's exemption annotation holds, else why it cannot."""
    if manifest.patch:
        return "a Patch keeps the live object's unseen fields; exempt the object itself"
    spec = manifest.spec
    if not as_mapping(as_mapping(spec.get("selector")).get("matchLabels")):
        return "no workload selector: only listed ports of selected pods may be exempted"
    mode = string(as_mapping(spec.get("mtls")).get("mode")).upper()
    if mode in _PLAINTEXT_PEER_MODES:
        return f"spec.mtls.mode is {mode}: only listed ports may be exempted, never the workload"
    return _port_level_refusal(as_mapping(spec.get("portLevelMtls")))


def _port_level_refusal(ports: Mapping[str, Any]) -> str | None:
    if not ports:
        return "no portLevelMtls: nothing port-level to exempt"
    for port, setting in ports.items():
        if not _port_number(port):
            return f"portLevelMtls key {port!r} is not a port number"
        if string(as_mapping(setting).get("mode")).upper() == "DISABLE":
            return f"spec.portLevelMtls[{port}].mode is DISABLE, which no exemption covers"
    return None


def peer_exemption_condition(args: ResourceValidationArgs) -> str | None:
    """The object-level condition `k8s-policy-exemptions` reports for PEER_STRICT."""
    found = [
        m
        for m in manifests(args.resource_type, args.props)
        if m.is_kind("PeerAuthentication", _SECURITY)
    ]
    if not found:
        return "the object is no PeerAuthentication"
    for manifest in found:
        why = peer_exemption_refusal(manifest)
        if why is not None:
            return why
    return None


def check_peer_authentication(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    spec = manifest.spec
    exempt = (
        bool(exemption_annotations(manifest.body).get(PEER_STRICT))
        and peer_exemption_refusal(manifest) is None
    )
    mode = string(as_mapping(spec.get("mtls")).get("mode")).upper()
    if mode in _PLAINTEXT_PEER_MODES:
        yield f"spec.mtls.mode is {mode}; it must be STRICT (or UNSET to inherit)"
    for port, setting in as_mapping(spec.get("portLevelMtls")).items():
        port_mode = string(as_mapping(setting).get("mode")).upper()
        if exempt and port_mode == "PERMISSIVE":
            continue
        if port_mode in _PLAINTEXT_PEER_MODES:
            yield f"spec.portLevelMtls[{port}].mode is {port_mode}; it must be STRICT"


def host_in_mesh(host: str) -> bool:
    """A Kubernetes service name: short, <svc>.<ns>.svc[.cluster.local], or *.cluster.local."""
    host = host.strip().lower().rstrip(".")
    if not host or host == "*":
        return False
    if "*" in host:
        return host.endswith(_MESH_SUFFIXES)
    return "." not in host or host.endswith(_MESH_SUFFIXES)


def _tls_problems(where: str, policy: Any, in_mesh: bool) -> Iterator[str]:
    policy = as_mapping(policy)
    settings = [(where, as_mapping(policy.get("tls")))]
    for index, port_setting in enumerate(as_list(policy.get("portLevelSettings"))):
        settings.append(
            (f"{where}.portLevelSettings[{index}]", as_mapping(as_mapping(port_setting).get("tls")))
        )
    for path, tls in settings:
        mode = string(tls.get("mode")).upper()
        if mode == "DISABLE" or (in_mesh and mode in _NON_MESH_TLS_MODES):
            yield f"{path}.tls.mode is {mode}; in-mesh traffic must use ISTIO_MUTUAL"


def check_destination_rule_tls(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    spec = manifest.spec
    in_mesh = host_in_mesh(string(spec.get("host")))
    yield from _tls_problems("spec.trafficPolicy", spec.get("trafficPolicy"), in_mesh)
    for index, subset in enumerate(as_list(spec.get("subsets"))):
        yield from _tls_problems(
            f"spec.subsets[{index}].trafficPolicy",
            as_mapping(subset).get("trafficPolicy"),
            in_mesh,
        )


# --- traffic leaving the mesh ----------------------------------------------------------------

EGRESS_SCHEMA = schema(
    allowedExternalHosts={
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "default": [],
        "description": (
            "Hosts outside the mesh that VirtualServices may route to and ServiceEntries may "
            "declare (exact names, or *.domain for its subdomains)."
        ),
    },
)


def _allowed(host: str, allowed: list[str]) -> bool:
    host = host.strip().lower().rstrip(".")
    for pattern in (p.strip().lower().rstrip(".") for p in allowed):
        if pattern == host:
            return True
        if pattern.startswith("*.") and "*" not in host and host.endswith(pattern[1:]):
            return True
    return False


def _destinations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, host) of every route and mirror destination of a VirtualService."""
    for protocol in ("http", "tcp", "tls"):
        for index, item in enumerate(as_list(spec.get(protocol))):
            route = as_mapping(item)
            for dest_index, dest in enumerate(as_list(route.get("route"))):
                host = as_mapping(as_mapping(dest).get("destination")).get("host")
                yield f"spec.{protocol}[{index}].route[{dest_index}]", string(host)
            for key in ("mirror",):
                if key in route:
                    yield (
                        f"spec.{protocol}[{index}].{key}",
                        string(as_mapping(route[key]).get("host")),
                    )
            for mirror_index, mirror in enumerate(as_list(route.get("mirrors"))):
                host = as_mapping(as_mapping(mirror).get("destination")).get("host")
                yield f"spec.{protocol}[{index}].mirrors[{mirror_index}]", string(host)


def _serves_only_gateways(spec: Mapping[str, Any]) -> bool:
    # A VirtualService bound to gateways (and not to "mesh") answers for external names on the
    # ingress side; its hosts are what clients ask for, not where traffic goes.
    gateways = [string(g) for g in as_list(spec.get("gateways"))]
    return bool(gateways) and "mesh" not in gateways


def check_virtual_service_hosts(manifest: Manifest, args: ResourceValidationArgs) -> Iterator[str]:
    allowed = list(config_value(args, EGRESS_SCHEMA, "allowedExternalHosts"))
    spec = manifest.spec
    targets = list(_destinations(spec))
    if not _serves_only_gateways(spec):
        targets += [
            (f"spec.hosts[{i}]", string(h)) for i, h in enumerate(as_list(spec.get("hosts")))
        ]
    for path, host in targets:
        if not host_in_mesh(host) and not _allowed(host, allowed):
            yield f"{path} is '{host}', outside the mesh and not in allowedExternalHosts"


def check_service_entry_hosts(manifest: Manifest, args: ResourceValidationArgs) -> Iterator[str]:
    allowed = list(config_value(args, EGRESS_SCHEMA, "allowedExternalHosts"))
    hosts = [string(h) for h in as_list(manifest.spec.get("hosts"))]
    if not hosts:
        yield "spec.hosts is empty"
    for index, host in enumerate(hosts):
        if not _allowed(host, allowed):
            yield f"spec.hosts[{index}] is '{host}', not in allowedExternalHosts"


def check_sidecar_outbound(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    # ALLOW_ANY passes traffic to any host the mesh does not know straight through the sidecar,
    # which makes every ServiceEntry review moot.
    mode = string(as_mapping(manifest.spec.get("outboundTrafficPolicy")).get("mode")).upper()
    if mode == "ALLOW_ANY":
        yield "spec.outboundTrafficPolicy.mode is ALLOW_ANY; use REGISTRY_ONLY"


def check_egress_hosts(manifest: Manifest, args: ResourceValidationArgs) -> Iterator[str]:
    if manifest.kind == "serviceentry":
        return check_service_entry_hosts(manifest, args)
    if manifest.kind == "sidecar":
        return check_sidecar_outbound(manifest, args)
    return check_virtual_service_hosts(manifest, args)


def check_no_envoy_filter(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    yield (
        "EnvoyFilter patches the proxies' raw configuration and can undo mTLS, authorization "
        "and routing below every other Istio rule"
    )


# --- ingress gateway -------------------------------------------------------------------------


def _wildcard(host: str) -> bool:
    # Server hosts may be "namespace/host"; the host part is what clients are matched against.
    return "*" in host.rsplit("/", 1)[-1]


def check_gateway(manifest: Manifest, _: ResourceValidationArgs) -> Iterator[str]:
    for index, item in enumerate(as_list(manifest.spec.get("servers"))):
        server = as_mapping(item)
        for host in (string(h) for h in as_list(server.get("hosts"))):
            if _wildcard(host):
                yield f"spec.servers[{index}] serves wildcard host '{host}'"
        protocol = string(as_mapping(server.get("port")).get("protocol")).upper()
        tls = as_mapping(server.get("tls"))
        if protocol in ("HTTPS", "TLS"):
            continue
        if protocol in ("HTTP", "HTTP2") and tls.get("httpsRedirect") is True:
            continue
        yield (
            f"spec.servers[{index}] accepts plaintext {protocol or 'traffic'} without "
            "tls.httpsRedirect"
        )


POLICIES: tuple[Policy, ...] = (
    manifest_policy(
        name="istio-authorization-names-callers",
        description="Every ALLOW AuthorizationPolicy rule names its callers in `from`.",
        kinds=[("AuthorizationPolicy", _SECURITY)],
        check=check_authorization_policy,
        severity=Severity.HIGH,
        remediation=(
            "Give each rule a from.source with the callers' principals "
            "(cluster.local/ns/<ns>/sa/<service account>) or namespaces."
        ),
        tags=_ISTIO,
    ),
    manifest_policy(
        name="istio-peer-authentication-strict",
        description="No PeerAuthentication accepts plaintext (DISABLE or PERMISSIVE) at any scope.",
        kinds=[("PeerAuthentication", _SECURITY)],
        check=check_peer_authentication,
        severity=Severity.HIGH,
        remediation=(
            "Set mtls.mode STRICT (and STRICT or UNSET in portLevelMtls). A client outside the "
            f"mesh may get PERMISSIVE on listed ports only: annotation {EXEMPTION_PREFIX}"
            f"{PEER_STRICT}: <reason> on a policy with a workload selector (policy/README.md)."
        ),
        tags=_ISTIO,
    ),
    manifest_policy(
        name="istio-destination-rule-mtls",
        description="No DestinationRule turns mesh mTLS off for a host, subset or port.",
        kinds=[("DestinationRule", _NETWORKING)],
        check=check_destination_rule_tls,
        severity=Severity.HIGH,
        remediation=(
            "Use tls.mode ISTIO_MUTUAL (or omit tls) for in-mesh hosts; never DISABLE, and keep "
            "SIMPLE/MUTUAL to hosts outside the mesh."
        ),
        tags=_ISTIO,
    ),
    manifest_policy(
        name="istio-egress-hosts-allowed",
        description=(
            "VirtualServices, ServiceEntries and Sidecars reach hosts outside the mesh only where "
            "the pack config allows it."
        ),
        kinds=[
            ("VirtualService", _NETWORKING),
            ("ServiceEntry", _NETWORKING),
            ("Sidecar", _NETWORKING),
        ],
        check=check_egress_hosts,
        severity=Severity.HIGH,
        remediation=(
            "Route to <service>.<namespace>.svc.cluster.local, or add the external host to "
            "allowedExternalHosts in policy/config/<stack>.json after review."
        ),
        tags=_ISTIO,
        config_schema=EGRESS_SCHEMA,
    ),
    manifest_policy(
        name="istio-gateway-tls-named-hosts",
        description=(
            "Istio Gateways serve named hosts over TLS; plain HTTP only redirects to HTTPS."
        ),
        kinds=[("Gateway", _NETWORKING)],
        check=check_gateway,
        severity=Severity.HIGH,
        remediation=(
            "List the exact public hostnames; use protocol HTTPS with a credentialName, and give "
            "any HTTP server tls.httpsRedirect: true."
        ),
        tags=_ISTIO,
    ),
    manifest_policy(
        name="istio-no-envoy-filter",
        description="No EnvoyFilter rewrites the sidecars' or gateways' proxy configuration.",
        kinds=[("EnvoyFilter", _NETWORKING)],
        check=check_no_envoy_filter,
        severity=Severity.HIGH,
        remediation=(
            "Express the behaviour with VirtualService, DestinationRule, Telemetry or "
            "AuthorizationPolicy; the AKS add-on does not support EnvoyFilter either."
        ),
        tags=_ISTIO,
    ),
)
