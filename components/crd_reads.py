"""Objects of an add-on's custom kinds wait for the add-on's CRDs: one read per CRD.

An AKS add-on (Istio, KEDA, the Key Vault Secrets Provider), not this program, installs these
CRDs. pulumi-kubernetes sends a custom resource as soon as its provider is ready and retries "no
matches for kind" only five times, doubling from one second (pulumi-kubernetes
provider/pkg/await/await.go, `Creation`: `WithMaxRetries(5)`, `WithBackoffFactor(2)`), then fails
the update with some objects applied and some not.

So each CRD an object needs is read from the cluster first (`CustomResourceDefinition.get`, the
engine's Read step), and every object depends on the read of its own CRD. The read runs once the
cluster, and with it the add-on, is provisioned; the CRD's existence is then a fact the update
has checked, not a race it hopes to win. A CRD that is still missing stops the update before any
such object is sent ("resource ... does not exist"), and the next `pulumi up` goes on from there.
No sleeps: nothing here guesses a duration.

`CrdReads` is the shared base of the per-add-on components (istio.py, keda.py,
secrets_store.py), each with its own type token and kind -> CRD table.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s


class CrdReads(pulumi.ComponentResource):
    """The add-on's CRDs as read from the cluster, and options that make objects wait for them."""

    def __init__(
        self,
        type_token: str,
        name: str,
        crds: Mapping[tuple[str, str], str],
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token, name, None, opts)
        # (apiVersion, kind) -> the CRD that serves it. A kind missing here cannot be waited
        # for (read_of raises), so no object of the add-on skips the wait.
        self._crds = crds
        self._reads = {
            crd_name: k8s.apiextensions.v1.CustomResourceDefinition.get(
                f"{name}-{crd_name}",
                crd_name,
                opts=pulumi.ResourceOptions(parent=self, provider=provider),
            )
            for crd_name in sorted(set(crds.values()))
        }
        self.register_outputs({"crds": sorted(self._reads)})

    def read_of(self, api_version: str, kind: str) -> pulumi.Resource:
        crd_name = self._crds.get((api_version, kind))
        if crd_name is None:
            raise ValueError(
                f"{api_version} {kind}: not a kind this program waits for; add its CRD to the "
                f"table of {type(self).__name__}"
            )
        return self._reads[crd_name]

    def waits_for(self, api_version: str, kind: str) -> pulumi.ResourceOptions:
        """Options that make an object of `kind` wait for the read of its CRD."""
        return pulumi.ResourceOptions(depends_on=[self.read_of(api_version, kind)])
