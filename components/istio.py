"""Istio objects wait for the AKS add-on's CRDs: one read per CRD, every Istio object after it.

The add-on, not this program, installs the Istio CRDs. pulumi-kubernetes sends a custom resource
as soon as its provider is ready and retries "no matches for kind" only five times, doubling
from one second (pulumi-kubernetes provider/pkg/await/await.go, `Creation`: `WithMaxRetries(5)`,
`WithBackoffFactor(2)`), then fails the update with some Istio objects applied and some not.

So each CRD an Istio object needs is read from the cluster first
(`CustomResourceDefinition.get`, the engine's Read step), and every Istio object depends on the
read of its own CRD. The read runs once the cluster, and with it the add-on, is provisioned; the
CRD's existence is then a fact the update has checked, not a race it hopes to win. A CRD that is
still missing stops the update before any Istio object is sent ("resource ... does not exist"),
and the next `pulumi up` goes on from there. No sleeps: nothing here guesses a duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# (apiVersion, kind) -> the CRD that serves it, for every Istio kind this program writes. A kind
# missing here cannot be created (istio_resource raises), so no Istio object skips the wait.
ISTIO_CRDS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("security.istio.io/v1", "PeerAuthentication"): "peerauthentications.security.istio.io",
        ("security.istio.io/v1", "AuthorizationPolicy"): "authorizationpolicies.security.istio.io",
        ("networking.istio.io/v1", "VirtualService"): "virtualservices.networking.istio.io",
        ("networking.istio.io/v1", "DestinationRule"): "destinationrules.networking.istio.io",
        ("networking.istio.io/v1", "Gateway"): "gateways.networking.istio.io",
    }
)


@dataclass(frozen=True)
class IstioCrdsArgs:
    provider: k8s.Provider


class IstioCrds(pulumi.ComponentResource):
    """The add-on's CRDs as read from the cluster; `istio_resource` makes objects wait for them."""

    def __init__(
        self, name: str, args: IstioCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:istio:IstioCrds", name, None, opts)
        self._reads = {
            crd_name: k8s.apiextensions.v1.CustomResourceDefinition.get(
                f"{name}-{crd_name}",
                crd_name,
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
            for crd_name in sorted(set(ISTIO_CRDS.values()))
        }
        self.register_outputs({"crds": sorted(self._reads)})

    def read_of(self, api_version: str, kind: str) -> pulumi.Resource:
        crd_name = ISTIO_CRDS.get((api_version, kind))
        if crd_name is None:
            raise ValueError(
                f"{api_version} {kind}: not an Istio kind this program waits for; "
                "add its CRD to components/istio.py ISTIO_CRDS"
            )
        return self._reads[crd_name]


def istio_resource(
    resource_name: str,
    crds: IstioCrds,
    *,
    api_version: str,
    kind: str,
    metadata: k8s.meta.v1.ObjectMetaArgs,
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """An Istio object that is sent only after its CRD was read from the cluster."""
    waits = pulumi.ResourceOptions(depends_on=[crds.read_of(api_version, kind)])
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=api_version,
        kind=kind,
        metadata=metadata,
        spec=dict(spec),
        opts=pulumi.ResourceOptions.merge(opts, waits),
    )
