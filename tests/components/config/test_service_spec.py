"""Spec rules that had no failing case: each is shown to reject, and its boundary to pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.loader import load_program_config
from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml
from tools.synth import ProgramError, StackInput, read_stack_file, synthesize


def _resources(request_memory: str, limit_memory: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": "100m", "memory": request_memory},
        "limits": {"cpu": "500m", "memory": limit_memory},
    }


def _with_spec(project: Path, service: str, **values: Any) -> None:
    edit_yaml(project / "services" / service / "service.yaml", lambda spec: spec.update(values))


def _one_line_error(project: Path, stack_input: StackInput | None = None) -> str:
    with pytest.raises(ProgramError) as caught:
        synthesize(project, "staging", stack_input)
    message = str(caught.value)
    assert "\n" not in message, message
    assert caught.value.registered == (), "a config error must register no resource"
    return message


def test_a_spec_memory_request_above_its_limit_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _with_spec(project, "catalog", resources=_resources("1Gi", "512Mi"))
    message = _one_line_error(project)
    assert "services/catalog/service.yaml" in message
    assert "resources" in message
    assert "requests.memory (1Gi) exceeds limits.memory (512Mi)" in message


def test_a_stack_override_with_memory_request_above_limit_is_refused() -> None:
    base = read_stack_file(PROJECT_DIR, "staging")
    services = json.loads(base.config["micromart:services"])
    # Different units: the comparison must be by size, not by text (1025Mi > 1Gi).
    services["orders"]["resources"] = _resources("1025Mi", "1Gi")
    config = {**base.config, "micromart:services": json.dumps(services)}
    message = _one_line_error(PROJECT_DIR, StackInput(config, base.secret_keys))
    assert "Pulumi.staging.yaml" in message
    assert "micromart:services.orders.resources" in message
    assert "requests.memory (1025Mi) exceeds limits.memory (1Gi)" in message


@pytest.mark.parametrize(("request_memory", "limit_memory"), [("1Gi", "1Gi"), ("1000Mi", "1Gi")])
def test_memory_requests_up_to_the_limit_are_accepted(
    tmp_path: Path, request_memory: str, limit_memory: str
) -> None:
    services = copy_project(tmp_path / "project") / "services"
    edit_yaml(
        services / "catalog" / "service.yaml",
        lambda spec: spec.update(resources=_resources(request_memory, limit_memory)),
    )
    config = load_program_config(read_stack_file(PROJECT_DIR, "production").config, "x", services)
    assert config.service("catalog").resources.requests.memory == request_memory


def test_a_second_public_service_is_refused(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    _with_spec(project, "orders", public=True)
    message = _one_line_error(project)
    assert "services/orders/service.yaml" in message
    assert "public: only one service may be public" in message
    assert "gateway" in message  # the one that already is
