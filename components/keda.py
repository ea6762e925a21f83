"""KEDA objects wait for the AKS KEDA add-on's CRDs, as Istio objects wait for Istio's.

The add-on (enabled on the cluster by `workloadAutoScalerProfile.keda`) installs the keda.sh
CRDs, not this program; a ScaledObject sent before they exist would fail after the provider's
few "no matches for kind" retries (see components/crd_reads.py for the provider behaviour). Each
CRD is read once from the cluster and every KEDA object depends on the read of its own CRD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pulumi
import pulumi_kubernetes as k8s

from components.crd_reads import CrdReads

KEDA_API_VERSION = "keda.sh/v1alpha1"
# (apiVersion, kind) -> the CRD that serves it, for every KEDA kind this program writes.
KEDA_CRDS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (KEDA_API_VERSION, "ScaledObject"): "scaledobjects.keda.sh",
        (KEDA_API_VERSION, "TriggerAuthentication"): "triggerauthentications.keda.sh",
    }
)


@dataclass(frozen=True)
class KedaCrdsArgs:
    provider: k8s.Provider


class KedaCrds(CrdReads):
    """The add-on's keda.sh CRDs as read from the cluster."""

    def __init__(
        self, name: str, args: KedaCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:keda:KedaCrds", name, KEDA_CRDS, args.provider, opts)

    def wait_for(self, kind: str) -> pulumi.ResourceOptions:
        """Options that make an object of `kind` wait for the read of its CRD."""
        return self.waits_for(KEDA_API_VERSION, kind)
