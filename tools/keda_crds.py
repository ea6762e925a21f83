"""The KEDA CRDs of the AKS add-on: strict validation of the keda.sh objects the program writes.

The CRD files are vendored unmodified (see schemas/keda/SOURCE.md) and checked by the shared
strict validator (`tools.vendored_crds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools import vendored_crds

FOLDER = "keda"
KEDA_GROUP = "keda.sh"


def is_keda(api_version: str) -> bool:
    return api_version.split("/", 1)[0] == KEDA_GROUP


def crd_documents() -> Mapping[str, Mapping[str, Any]]:
    """CRD name ("<plural>.keda.sh") -> the CRD as the add-on installs it."""
    return vendored_crds.crd_documents(FOLDER)


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Why the API server (strictly) would refuse `document`; [] when it is valid."""
    return vendored_crds.validation_errors(FOLDER, document)
