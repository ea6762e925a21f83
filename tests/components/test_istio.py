"""Istio objects wait for the add-on's CRDs: each depends on the read of the CRD that serves it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.runtime.mocks import MockResourceArgs

from components.istio import ISTIO_CRDS
from components.keda import KEDA_CRDS
from components.secrets_store import SECRETS_STORE_CRDS
from tests.synthesis import PROJECT_DIR, copy_project, only
from tools import istio_crds
from tools.mocks import CRD_TYPE, SynthMocks
from tools.synth import ProgramError, SynthResult, synthesize

K8S_PROVIDER = "pulumi:providers:kubernetes"


def test_every_istio_object_waits_for_the_read_of_its_crd(result: SynthResult) -> None:
    reads = {read.id: read for read in result.reads if read.type == CRD_TYPE}
    istio = [
        r
        for r in result.resources
        if r.is_kubernetes_object and istio_crds.is_istio(str(r.inputs.get("apiVersion", "")))
    ]
    assert len(istio) >= 10
    for resource in istio:
        served_by = istio_crds.crd_for(resource.inputs["apiVersion"], resource.inputs["kind"])
        assert served_by is not None and served_by.served, resource.urn
        read = reads.get(served_by.crd_name)
        assert read is not None, f"{resource.urn}: no read of {served_by.crd_name}"
        assert read.urn in resource.dependencies, f"{resource.urn} does not wait for its CRD"


def test_crds_are_read_through_the_clusters_provider(result: SynthResult) -> None:
    provider = only(result, K8S_PROVIDER)
    # The KEDA and Key Vault add-ons' CRDs are read the same way (components/crd_reads.py).
    assert {read.id for read in result.reads} == {
        *ISTIO_CRDS.values(),
        *KEDA_CRDS.values(),
        *SECRETS_STORE_CRDS.values(),
    }
    assert all(read.provider == provider.urn for read in result.reads)


def test_the_wait_table_names_the_crds_of_the_pinned_istio_minor() -> None:
    for (api_version, kind), crd_name in ISTIO_CRDS.items():
        served_by = istio_crds.crd_for(api_version, kind)
        assert served_by is not None and served_by.served, (api_version, kind)
        assert served_by.crd_name == crd_name


def test_reading_a_crd_the_add_on_does_not_install_fails_like_the_engine() -> None:
    mocks = SynthMocks(PROJECT_DIR)
    args = MockResourceArgs(CRD_TYPE, "x", {}, "", "telemetries.example.istio.io")
    with pytest.raises(
        ValueError, match=r"resource 'telemetries\.example\.istio\.io' does not exist"
    ):
        mocks.new_resource(args)
    # At preview on a new stack the provider is unknown, so nothing is read and nothing fails.
    assert SynthMocks(PROJECT_DIR, preview=True).new_resource(args) == (None, {})


def test_an_istio_kind_without_a_crd_wait_cannot_be_created(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    namespaces = project / "components" / "namespaces.py"
    source = namespaces.read_text(encoding="utf-8")
    namespaces.write_text(
        source.replace('kind="PeerAuthentication"', 'kind="RequestAuthentication"'),
        encoding="utf-8",
    )
    with pytest.raises(ProgramError, match="not a kind this program waits for"):
        synthesize(project, "staging")
