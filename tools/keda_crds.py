"""The KEDA CRDs of the AKS add-on: strict validation of the keda.sh objects the program writes.

The CRD files are vendored unmodified (see schemas/keda/SOURCE.md); each served version's
structural schema becomes a JSON Schema the same way as for Istio (`istio_crds`), unknown fields
rejected, because the API server would silently prune a misspelt setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tools.istio_crds import object_meta, object_validator, schema_errors

CRD_DIR = Path(__file__).resolve().parent / "schemas" / "keda"
KEDA_GROUP = "keda.sh"
_OBJECT_META = object_meta("name", "namespace")


def is_keda(api_version: str) -> bool:
    return api_version.split("/", 1)[0] == KEDA_GROUP


@cache
def crd_documents() -> Mapping[str, Mapping[str, Any]]:
    """CRD name ("<plural>.keda.sh") -> the CRD as the add-on installs it."""
    documents: dict[str, Mapping[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if crd:
                documents[crd["metadata"]["name"]] = crd
    return documents


@cache
def served_schemas() -> Mapping[tuple[str, str], Mapping[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of every served version."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for crd in crd_documents().values():
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = version["schema"]["openAPIV3Schema"]
    return found


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Why the API server (strictly) would refuse `document`; [] when it is valid."""
    key = (str(document.get("apiVersion", "")), str(document.get("kind", "")))
    if key not in served_schemas():
        return [f"{key[0]} {key[1]}: not served by the vendored KEDA CRDs"]
    return schema_errors(_validator(*key), document)


@cache
def _validator(api_version: str, kind: str) -> Any:
    schema = served_schemas()[(api_version, kind)]
    return object_validator(schema, api_version, kind, _OBJECT_META)
