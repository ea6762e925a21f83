"""Istio objects wait for the AKS add-on's CRDs: one read per CRD, every Istio object after it.

Why and how: components/crd_reads.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.crd_reads import CrdReads

# (apiVersion, kind) -> the CRD that serves it, for every Istio kind this program writes.
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


class IstioCrds(CrdReads):
    """The add-on's CRDs as read from the cluster; `istio_resource` makes objects wait for them."""

    def __init__(
        self, name: str, args: IstioCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:istio:IstioCrds", name, ISTIO_CRDS, args.provider, opts)


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
    waits = crds.waits_for(api_version, kind)
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=api_version,
        kind=kind,
        metadata=metadata,
        spec=dict(spec),
        opts=pulumi.ResourceOptions.merge(opts, waits),
    )
