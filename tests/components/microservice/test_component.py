"""Independent deployment: a change to one service touches only that service's resources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.components.microservice.changes import INDEPENDENCE_CASES
from tests.components.microservice.objects import (
    catalog_container,
    component_urn,
    http_port,
    plan_entries,
    synth_copy,
)
from tests.synthesis import (
    edit_yaml,
    owning_service,
)
from tools.synth import SynthResult


@pytest.mark.parametrize("case", sorted(INDEPENDENCE_CASES))
def test_changing_one_service_changes_only_its_own_resources(
    production: SynthResult, catalog_change: Callable[[str], SynthResult], case: str
) -> None:
    result = catalog_change(case)
    visible = INDEPENDENCE_CASES[case][2]
    assert visible(catalog_container(production), catalog_container(result)), "edit had no effect"
    before, after = plan_entries(production), plan_entries(result)
    touched = {
        urn
        for urn in set(before) | set(after)
        if before.get(urn) != after.get(urn)  # added, removed or changed
    }
    assert touched, "the change changed nothing"
    resources = {r.urn: r for r in (*production.resources, *result.resources)}
    outside = sorted(
        urn
        for urn in touched
        if owning_service(production if urn in before else result, resources[urn]) != "catalog"
    )
    assert outside == []
    catalog = component_urn(result, "catalog")
    assert all(resources[urn].parent == catalog for urn in touched)
    assert all(resources[urn].name.startswith("catalog-") for urn in touched)


def test_changing_a_service_port_changes_only_its_own_resources(
    production: SynthResult, tmp_path: Path
) -> None:
    def edit(project: Path) -> None:
        edit_yaml(
            project / "services" / "catalog" / "service.yaml",
            lambda spec: spec.__setitem__("port", 9090),
        )

    result = synth_copy(tmp_path, "production", project_edit=edit)
    assert http_port(catalog_container(result)) == 9090
    before, after = plan_entries(production), plan_entries(result)
    touched = sorted(after[urn]["name"] for urn in after if before.get(urn) != after[urn])
    assert touched
    assert [name for name in touched if not name.startswith("catalog-")] == []


def test_adding_a_call_changes_the_caller_and_only_the_callees_admission_policies(
    production: SynthResult, tmp_path: Path
) -> None:
    """A new edge must be admitted by the callee; nothing else outside the caller may move."""

    def edit(project: Path) -> None:
        edit_yaml(
            project / "services" / "notifications" / "service.yaml",
            lambda spec: spec.__setitem__("calls", ["catalog"]),
        )

    result = synth_copy(tmp_path, "production", project_edit=edit)
    before, after = plan_entries(production), plan_entries(result)
    assert set(before) == set(after)
    touched = sorted(after[urn]["name"] for urn in after if before[urn] != after[urn])
    outside = [name for name in touched if not name.startswith("notifications-")]
    assert outside == ["catalog-authorization-policy", "catalog-netpol"]
    assert "notifications-netpol" in touched
