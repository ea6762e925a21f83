"""The Istio CRDs of the pinned add-on minor: names, served versions and strict validation.

The CRD file is vendored unmodified (see schemas/istio/SOURCE.md). Each served version's
`openAPIV3Schema` is a Kubernetes *structural* schema; it becomes a JSON Schema the way the API
server reads it (k8s.io/apiextensions-apiserver `pkg/apiserver/schema`: `nullable`,
`x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`), with one deliberate
difference: where the server would prune an unknown field (and warn under `kubectl
--validate=strict`), this rejects it, because a silently dropped field is a misspelt setting.
CEL rules (`x-kubernetes-validations`) are evaluated only by the API server, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

CRD_FILE = Path(__file__).resolve().parent / "schemas" / "istio" / "crd-all.gen.yaml"
ISTIO_GROUP_SUFFIX = ".istio.io"
# Keys whose value is a map of subschemas, and keys whose value is one or a list of subschemas.
_SCHEMA_MAPS = ("properties", "patternProperties")
_SUBSCHEMAS = ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf")


def object_meta(*required: str) -> Mapping[str, Any]:
    """What the API server accepts in an object's metadata that this program could write."""
    text = {"type": "string"}
    text_map = {"type": "object", "additionalProperties": text}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": {
            "name": text,
            "namespace": text,
            "labels": text_map,
            "annotations": text_map,
        },
    }


_OBJECT_META = object_meta("name")


@dataclass(frozen=True)
class CrdVersion:
    crd_name: str  # "<plural>.<group>", what `kubectl get crd` lists
    api_version: str  # "<group>/<version>"
    kind: str
    served: bool
    schema: Mapping[str, Any]  # the openAPIV3Schema as written in the CRD


def is_istio(api_version: str) -> bool:
    return api_version.split("/", 1)[0].endswith(ISTIO_GROUP_SUFFIX)


@cache
def crd_documents() -> Mapping[str, Mapping[str, Any]]:
    """CRD name ("<plural>.<group>") -> the CRD as the add-on installs it."""
    text = CRD_FILE.read_text(encoding="utf-8")
    loaded = yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {crd["metadata"]["name"]: crd for crd in loaded if crd}


@cache
def crd_versions() -> Mapping[tuple[str, str], CrdVersion]:
    """(apiVersion, kind) -> the CRD version that serves it."""
    found: dict[tuple[str, str], CrdVersion] = {}
    for crd in crd_documents().values():
        spec = crd["spec"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            found[(api_version, spec["names"]["kind"])] = CrdVersion(
                crd_name=crd["metadata"]["name"],
                api_version=api_version,
                kind=spec["names"]["kind"],
                served=bool(version.get("served")),
                schema=version["schema"]["openAPIV3Schema"],
            )
    return found


def crd_for(api_version: str, kind: str) -> CrdVersion | None:
    return crd_versions().get((api_version, kind))


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Why the API server (strictly) would refuse `document`; [] when it is valid."""
    api_version, kind = str(document.get("apiVersion", "")), str(document.get("kind", ""))
    crd = crd_for(api_version, kind)
    if crd is None:
        return [f"{api_version} {kind}: no such kind in the Istio CRDs"]
    if not crd.served:
        return [f"{api_version} {kind}: version not served"]
    return schema_errors(_validator(api_version, kind), document)


def schema_errors(validator: Any, document: Mapping[str, Any]) -> list[str]:
    return sorted(
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    )


@cache
def _validator(api_version: str, kind: str) -> Any:
    return object_validator(crd_versions()[(api_version, kind)].schema, api_version, kind)


def object_validator(
    schema: Mapping[str, Any],
    api_version: str,
    kind: str,
    metadata: Mapping[str, Any] = _OBJECT_META,
) -> Any:
    """A strict validator for whole objects of a CRD version: unknown fields are errors."""
    root = dict(structural_to_json_schema(schema))
    root["properties"] = {
        **root.get("properties", {}),
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": metadata,
    }
    root["required"] = sorted({*root.get("required", ()), "apiVersion", "kind", "metadata"})
    root["additionalProperties"] = False
    return jsonschema.Draft7Validator(root)


def structural_to_json_schema(node: Any) -> Any:
    """A structural schema node as JSON Schema, unknown object fields rejected."""
    if isinstance(node, list):
        return [structural_to_json_schema(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS:
            converted[key] = {name: structural_to_json_schema(s) for name, s in value.items()}
        elif key in _SUBSCHEMAS:
            converted[key] = structural_to_json_schema(value)
        elif not key.startswith("x-kubernetes-") and key not in ("description", "nullable"):
            converted[key] = value
    if node.get("x-kubernetes-int-or-string"):
        converted["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    if _closes_unknown_fields(node):
        converted["additionalProperties"] = False
    return converted


def _closes_unknown_fields(node: Mapping[str, Any]) -> bool:
    # Only typed object nodes: anyOf/oneOf branches of a structural schema carry no type and
    # must not close the object they constrain.
    return (
        node.get("type") == "object"
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    )
