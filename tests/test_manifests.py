"""Every manifest synth writes is valid: Kubernetes objects against the pinned version's strict
schema (kubernetes-validate), Istio objects against the cloudcoil Istio models, losslessly."""

from __future__ import annotations

import copy
from functools import cache
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.istio.networking import v1 as istio_networking_v1
from cloudcoil.models.istio.security import v1 as istio_security_v1
from pydantic import ValidationError as ModelValidationError

from tests.synthesis import PROJECT_DIR
from tools.synth import SynthResult, manifest_documents

STACKS = ("staging", "production")
ISTIO_MODELS: dict[str, ModuleType] = {
    "networking.istio.io/v1": istio_networking_v1,
    "security.istio.io/v1": istio_security_v1,
}
ISTIO_GROUPS = ("networking.istio.io/", "security.istio.io/")


@cache
def pinned_version(stack: str) -> str:
    """`micromart:cluster.kubernetesVersion` ("1.33") as the patch version the schemas use."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    minor = str(document["config"]["micromart:cluster"]["kubernetesVersion"])
    return f"{minor}.0"


def as_written(document: dict[str, Any]) -> dict[str, Any]:
    """The document as synth writes it to build/<stack>/manifests and kubectl reads it back."""
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_dump(document, sort_keys=False))
    return loaded


def is_istio(document: dict[str, Any]) -> bool:
    return str(document.get("apiVersion", "")).startswith(ISTIO_GROUPS)


def istio_errors(document: dict[str, Any]) -> list[str]:
    module = ISTIO_MODELS.get(document["apiVersion"])
    if module is None:
        return [f"no Istio model for apiVersion {document['apiVersion']}"]
    model = getattr(module, document["kind"], None)
    if model is None:
        return [f"no Istio model for {document['apiVersion']} {document['kind']}"]
    try:
        parsed = model.model_validate(document)
    except ModelValidationError as error:
        return [str(error)]
    # The models ignore unknown fields; a lossy round trip is how a misspelt field shows up.
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if dumped != document:
        return [f"not a lossless round trip:\n  wrote {document}\n  model {dumped}"]
    return []


def kubernetes_errors(document: dict[str, Any], version: str) -> list[str]:
    try:
        validated = kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return [f"{path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        # The CLI only warns here; for an object we write, no schema is a failure.
        return [error.message]
    expected = ".".join(version.split(".")[:2])
    if validated != expected:
        return [f"validated against {validated}, not the pinned {expected}"]
    return []


def manifest_errors(document: dict[str, Any], version: str) -> list[str]:
    if is_istio(document):
        return istio_errors(document)
    return kubernetes_errors(document, version)


@pytest.fixture
def documents(result: SynthResult) -> dict[str, dict[str, Any]]:
    return {path: as_written(doc) for path, doc in manifest_documents(result).items()}


def test_every_kubernetes_object_is_written_once(
    result: SynthResult, documents: dict[str, dict[str, Any]]
) -> None:
    objects = [r for r in result.resources if r.is_kubernetes_object]
    # Two objects mapping to one path would silently overwrite each other on disk.
    assert len(documents) == len(objects)
    assert sum(is_istio(d) for d in documents.values()) >= 10


def test_every_manifest_validates(
    result: SynthResult, documents: dict[str, dict[str, Any]]
) -> None:
    version = pinned_version(result.stack)
    failures = {
        path: errors
        for path, document in sorted(documents.items())
        if (errors := manifest_errors(document, version))
    }
    assert failures == {}


# -- the validators catch what they are meant to catch -----------------------------------------


def pick(documents: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(d for d in documents.values() if d["kind"] == kind))


@pytest.fixture
def staging_documents(staging: SynthResult) -> dict[str, dict[str, Any]]:
    return {path: as_written(doc) for path, doc in manifest_documents(staging).items()}


def test_misspelt_istio_field_is_caught(staging_documents: dict[str, dict[str, Any]]) -> None:
    peer = pick(staging_documents, "PeerAuthentication")
    assert istio_errors(peer) == []
    peer["spec"]["mtls"] = {"mdoe": "STRICT"}
    assert istio_errors(peer)

    route = pick(staging_documents, "VirtualService")
    assert istio_errors(route) == []
    route["spec"]["http"][0]["timout"] = route["spec"]["http"][0].pop("timeout", "5s")
    assert istio_errors(route)


def test_invalid_istio_value_is_caught(staging_documents: dict[str, dict[str, Any]]) -> None:
    peer = pick(staging_documents, "PeerAuthentication")
    peer["spec"]["mtls"]["mode"] = "STRICTER"
    assert istio_errors(peer)


def test_invalid_core_fields_are_caught(staging_documents: dict[str, dict[str, Any]]) -> None:
    version = pinned_version("staging")
    service = pick(staging_documents, "Service")
    assert kubernetes_errors(service, version) == []
    service["spec"]["clusterIp"] = "None"  # unknown field: only --strict catches it
    assert kubernetes_errors(service, version)

    statefulset = pick(staging_documents, "StatefulSet")
    assert kubernetes_errors(statefulset, version) == []
    statefulset["spec"]["replicas"] = "three"
    assert kubernetes_errors(statefulset, version)


def test_kind_without_a_schema_is_a_failure_not_a_warning() -> None:
    document = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert manifest_errors(document, pinned_version("staging"))
