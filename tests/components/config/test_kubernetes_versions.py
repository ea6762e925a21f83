"""AKS end of life and Istio add-on ranges, read at an injected date."""

from __future__ import annotations

import re
from datetime import date

import pytest
import yaml

from components.config.kubernetes_versions import (
    AKS_MINORS,
    ISTIO_REVISION_MINORS,
    check_aks_version,
    check_istio_revision,
)
from components.config.loader import ConfigError, load_program_config
from tests.synthesis import PROJECT_DIR
from tools.synth import read_stack_file

RUN_DATE = date(2026, 11, 30)  # the date the table was checked against its sources


def _stack_version(stack: str) -> tuple[str, str]:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())
    cluster = document["config"]["micromart:cluster"]
    return cluster["kubernetesVersion"], cluster["istioRevision"]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_both_stacks_run_a_supported_minor(stack: str) -> None:
    version, revision = _stack_version(stack)
    check_aks_version(version, RUN_DATE)
    check_aks_version(version, date.today())
    check_istio_revision(revision, version)


def test_1_33_is_refused_after_july_2026_and_was_fine_before() -> None:
    """Issue 10, defect 2: the old stacks' 1.33 passed config; AKS no longer creates it."""
    check_aks_version("1.33", date(2026, 6, 30))
    with pytest.raises(
        ValueError, match=re.escape("'1.33' reached end of life on AKS in July 2026")
    ):
        check_aks_version("1.33", RUN_DATE)


def test_the_supported_list_at_the_run_date() -> None:
    with pytest.raises(ValueError, match=r"supported on 2026-11-30: 1\.35, 1\.36$"):
        check_aks_version("1.34", RUN_DATE)


def test_a_minor_is_refused_before_it_is_generally_available() -> None:
    with pytest.raises(
        ValueError, match=re.escape("'1.37' is not generally available on AKS until")
    ):
        check_aks_version("1.37", RUN_DATE)


def test_the_pinned_revision_refuses_minors_outside_its_range() -> None:
    with pytest.raises(
        ValueError, match=re.escape("asm-1-30 supports Kubernetes 1.32 to 1.36, not 1.31")
    ):
        check_istio_revision("asm-1-30", "1.31")
    with pytest.raises(ValueError, match=re.escape("not 1.37")):
        check_istio_revision("asm-1-30", "1.37")


def test_the_tables_are_ordered_and_consistent() -> None:
    for minor in AKS_MINORS.values():
        assert minor.ga < minor.end_of_life < minor.lts_until
    for oldest, newest in ISTIO_REVISION_MINORS.values():
        assert oldest in AKS_MINORS and newest in AKS_MINORS


def test_the_loader_reads_the_table_at_the_date_it_is_given() -> None:
    raw = read_stack_file(PROJECT_DIR, "staging").config
    services = PROJECT_DIR / "services"
    load_program_config(raw, "staging", services, today=RUN_DATE)
    with pytest.raises(ConfigError, match=r"micromart:cluster.kubernetesVersion: '1.35' reached"):
        load_program_config(raw, "staging", services, today=date(2027, 3, 1))


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_manifest_schemas_exist_for_the_clusters_minor(stack: str) -> None:
    """tests/test_manifests.py validates against the stack's minor: the schema must be there."""
    import kubernetes_validate

    version, _ = _stack_version(stack)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    assert kubernetes_validate.validate(config_map, f"{version}.0", strict=True) == version
