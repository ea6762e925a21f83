"""Every manifest synth writes is valid: Kubernetes objects against the pinned version's strict
schema (kubernetes-validate), Istio objects against the vendored CRDs of the pinned add-on minor
(tools/schemas/istio), KEDA objects against the vendored CRDs of the add-on's KEDA
(tools/schemas/keda), SecretProviderClasses against the Secrets Store CSI driver's CRD
(tools/schemas/secrets-store), unknown fields rejected."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.synthesis import PROJECT_DIR
from tools import istio_crds, keda_crds, secrets_store_crds
from tools.synth import SynthResult, manifest_documents

STACKS = ("staging", "production")


@cache
def pinned_version(stack: str) -> str:
    """`micromart:cluster.kubernetesVersion` ("1.35") as the patch version the schemas use."""
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    minor = str(document["config"]["micromart:cluster"]["kubernetesVersion"])
    return f"{minor}.0"


def as_written(document: dict[str, Any]) -> dict[str, Any]:
    """The document as synth writes it to build/<stack>/manifests and kubectl reads it back."""
    loaded: dict[str, Any] = yaml.safe_load(yaml.safe_dump(document, sort_keys=False))
    return loaded


def is_istio(document: dict[str, Any]) -> bool:
    return istio_crds.is_istio(str(document.get("apiVersion", "")))


def istio_errors(document: dict[str, Any]) -> list[str]:
    return istio_crds.validation_errors(document)


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
    if keda_crds.is_keda(str(document.get("apiVersion", ""))):
        return keda_crds.validation_errors(document)
    if secrets_store_crds.is_secrets_store(str(document.get("apiVersion", ""))):
        return secrets_store_crds.validation_errors(document)
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


def test_wrong_istio_types_and_unserved_kinds_are_caught(
    staging_documents: dict[str, dict[str, Any]],
) -> None:
    rule = pick(staging_documents, "DestinationRule")
    assert istio_errors(rule) == []
    rule["spec"]["host"] = ["not", "a", "string"]
    assert any(error.startswith("spec.host:") for error in istio_errors(rule))

    policy = pick(staging_documents, "AuthorizationPolicy")
    policy["spec"]["action"] = 1
    assert istio_errors(policy)

    gateway = pick(staging_documents, "Gateway")
    gateway["apiVersion"] = "networking.istio.io/v2"
    assert istio_errors(gateway)
    gateway["apiVersion"], gateway["kind"] = "networking.istio.io/v1", "Gateways"
    assert istio_errors(gateway)


def test_istio_schema_conversion_keeps_int_or_string_and_preserved_fields() -> None:
    converted = istio_crds.structural_to_json_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "maybe": {"type": "string", "nullable": True},
            },
        }
    )
    assert converted["additionalProperties"] is False
    assert converted["properties"]["port"]["type"] == ["integer", "string"]
    assert "additionalProperties" not in converted["properties"]["free"]
    assert converted["properties"]["maybe"]["type"] == ["string", "null"]


def test_vendored_crds_match_the_pinned_add_on_minor() -> None:
    revision = yaml.safe_load((PROJECT_DIR / "Pulumi.staging.yaml").read_text(encoding="utf-8"))
    pinned = revision["config"]["micromart:cluster"]["istioRevision"]  # asm-1-<minor>
    source = (istio_crds.CRD_FILE.parent / "SOURCE.md").read_text(encoding="utf-8")
    assert f"tag `1.{pinned.removeprefix('asm-1-')}." in source


def test_fields_of_the_pinned_minor_are_known_and_typed(
    staging_documents: dict[str, dict[str, Any]],
) -> None:
    # retryBudget arrived after Istio 1.24: a checker of an older minor would refuse it, and
    # one that ignores unknown fields would not see the wrong type below.
    rule = pick(staging_documents, "DestinationRule")
    rule["spec"].setdefault("trafficPolicy", {})["retryBudget"] = {
        "percent": 20,
        "minRetryConcurrency": 3,
    }
    assert istio_errors(rule) == []
    rule["spec"]["trafficPolicy"]["retryBudget"]["percent"] = "twenty"
    assert any("retryBudget.percent" in error for error in istio_errors(rule))
    rule["spec"]["trafficPolicy"]["retryBudget"] = {"percnt": 20}
    assert any("percnt" in error for error in istio_errors(rule))
