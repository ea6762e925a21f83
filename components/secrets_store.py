"""SecretProviderClasses wait for the CRD the AKS Key Vault Secrets Provider add-on installs.

The add-on (cluster addonProfiles.azureKeyvaultSecretsProvider) deploys the Secrets Store CSI
driver and its SecretProviderClass CRD; why objects wait for a read of it: components/crd_reads.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import pulumi
import pulumi_kubernetes as k8s

from components.crd_reads import CrdReads

SECRETS_STORE_API_VERSION = "secrets-store.csi.x-k8s.io/v1"
SECRET_PROVIDER_CLASS = "SecretProviderClass"
# The CSI driver's name in a pod's csi volume (secrets-store-csi-driver docs, "Usage").
CSI_DRIVER = "secrets-store.csi.k8s.io"
SECRETS_STORE_CRDS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (
            SECRETS_STORE_API_VERSION,
            SECRET_PROVIDER_CLASS,
        ): "secretproviderclasses.secrets-store.csi.x-k8s.io",
    }
)


@dataclass(frozen=True)
class SecretsStoreCrdsArgs:
    provider: k8s.Provider


class SecretsStoreCrds(CrdReads):
    """The add-on's SecretProviderClass CRD as read from the cluster."""

    def __init__(
        self, name: str, args: SecretsStoreCrdsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            "micromart:secretsstore:SecretsStoreCrds", name, SECRETS_STORE_CRDS, args.provider, opts
        )
