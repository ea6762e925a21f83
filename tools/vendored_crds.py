"""CRDs vendored under tools/schemas/<name>/: the documents and strict validation of objects.

One implementation for every add-on whose CRDs the program writes objects of (KEDA, the Secrets
Store CSI driver); each served version's structural schema becomes a JSON Schema as for Istio
(`istio_crds.object_validator`), unknown fields rejected, because the API server would silently
prune a misspelt setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tools.istio_crds import object_meta, object_validator, schema_errors

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"
_NAMESPACED_META = object_meta("name", "namespace")


@cache
def crd_documents(folder: str) -> Mapping[str, Mapping[str, Any]]:
    """CRD name ("<plural>.<group>") -> the CRD as the add-on installs it."""
    documents: dict[str, Mapping[str, Any]] = {}
    for path in sorted((SCHEMAS_DIR / folder).glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if crd:
                documents[crd["metadata"]["name"]] = crd
    return documents


@cache
def served_schemas(folder: str) -> Mapping[tuple[str, str], Mapping[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema of every served version."""
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for crd in crd_documents(folder).values():
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served"):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = version["schema"]["openAPIV3Schema"]
    return found


def validation_errors(folder: str, document: Mapping[str, Any]) -> list[str]:
    """Why the API server (strictly) would refuse `document`; [] when it is valid."""
    key = (str(document.get("apiVersion", "")), str(document.get("kind", "")))
    if key not in served_schemas(folder):
        return [f"{key[0]} {key[1]}: not served by the vendored CRDs in schemas/{folder}"]
    return schema_errors(_validator(folder, *key), document)


@cache
def _validator(folder: str, api_version: str, kind: str) -> Any:
    schema = served_schemas(folder)[(api_version, kind)]
    return object_validator(schema, api_version, kind, _NAMESPACED_META)
