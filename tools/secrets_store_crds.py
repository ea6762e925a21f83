"""The Secrets Store CSI driver's SecretProviderClass CRD, as the AKS Key Vault add-on installs it.

Vendored unmodified (see schemas/secrets-store/SOURCE.md) and checked by the shared strict
validator (`tools.vendored_crds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools import vendored_crds

FOLDER = "secrets-store"
GROUP = "secrets-store.csi.x-k8s.io"


def is_secrets_store(api_version: str) -> bool:
    return api_version.split("/", 1)[0] == GROUP


def crd_documents() -> Mapping[str, Mapping[str, Any]]:
    return vendored_crds.crd_documents(FOLDER)


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Why the API server (strictly) would refuse `document`; [] when it is valid."""
    return vendored_crds.validation_errors(FOLDER, document)
