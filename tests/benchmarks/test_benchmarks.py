"""The benchmark code runs and writes its report; no assertion is made about any timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import critical_path, generator
from benchmarks.stats import least_squares
from tests.benchmarks import background

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """`python -m benchmarks --quick`, started in the background when collection ended."""
    return background.started(request.config).wait()


@pytest.fixture(scope="module")
def report(quick_run: tuple[Path, str]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((quick_run[0] / "report.json").read_text("utf-8"))
    return loaded


def test_quick_run_writes_a_png_chart(quick_run: tuple[Path, str]) -> None:
    chart = quick_run[0] / "report.png"
    assert chart.read_bytes()[:8] == PNG_SIGNATURE


def test_quick_run_prints_the_table(quick_run: tuple[Path, str]) -> None:
    for heading in ("1. Program evaluation", "2. Scaling", "3. Deploy critical path", "4. Blast"):
        assert heading in quick_run[1]


def test_report_has_the_expected_keys(report: dict[str, Any]) -> None:
    assert report["mode"] == "quick"
    assert {"evaluation", "scaling", "critical_path", "blast_radius", "machine"} <= set(report)
    evaluation = report["evaluation"]
    # Quick mode times staging only (production's plan still feeds the critical path).
    assert set(evaluation["commands"]) == {"import_pulumi", "import_sdks", "staging"}
    for command in evaluation["commands"].values():
        assert {"seconds", "cpu_seconds", "peak_rss_mib"} <= set(command)
        assert command["seconds"]["median"] > 0
    assert set(evaluation["ratios"]) == {"staging_vs_import_pulumi", "staging_vs_import_sdks"}
    scaling = report["scaling"]
    assert [point["services"] for point in scaling["points"]] == [1, 2]
    assert {"slope_seconds_per_service", "slope_runs", "marginal_segments"} <= set(scaling)
    for stack in ("staging", "production"):
        result = report["critical_path"]["stacks"][stack]
        assert {"estimated_up_seconds", "slowest_resource", "ratio_up_to_slowest"} <= set(result)
        assert result["critical_path"]
    assert report["critical_path"]["durations"]
    blast = report["blast_radius"]
    assert [item["service"] for item in blast["services"]] == ["svc-000", "svc-001"]
    for item in blast["services"]:
        # One service's change touches only it, and CI's --target list is exactly that service.
        assert item["changed_inside"] > 0 and item["changed_outside"] == 0, item
        assert item["targets"] == [
            f"urn:pulumi:{blast['stack']}::micromart::micromart:service:Microservice::"
            f"{item['service']}"
        ]
        assert item["changed_untargeted"] == 0, item
    assert {item["setting"] for item in blast["platform_settings"]} == {
        "micromart:logLevel",
        "micromart:rabbitmq.replicas",
    }


def test_every_duration_cites_a_source_and_says_how_strong_it_is() -> None:
    rows = critical_path.duration_table()
    for row in rows:
        assert row["source"].startswith("https://"), row["type"]
        assert row["basis"] in {"create", "test", "estimate"}, row["type"]
        assert row["range_seconds"][0] <= row["seconds"] <= row["range_seconds"][1], row["type"]
    # The slow resources that dominate the path come from observed times, not guesses.
    observed = {row["type"] for row in rows if row["basis"] != "estimate"}
    assert {
        "azure-native:containerservice:ManagedCluster",
        "azure-native:dbforpostgresql:Server",
    } <= observed


def test_estimates_are_marked_in_the_printed_path() -> None:
    steps = [
        {"start": 0, "seconds": 5, "type": "t:a", "name": "a", "basis": "create"},
        {"start": 5, "seconds": 90, "type": "t:b", "name": "b", "basis": "estimate"},
    ]
    first, second = critical_path.format_path(steps)
    assert "*" not in first and "+   90s* t:b" in second


def _resource(urn: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "urn": urn,
        "type": kind,
        "name": urn,
        "parent": fields.get("parent", "stack"),
        "provider": fields.get("provider", ""),
        "dependencies": fields.get("dependencies", []),
        "inputs": fields.get("inputs", {}),
    }


def test_critical_path_treats_components_and_named_references() -> None:
    deployment_inputs = {
        "metadata": {"name": "api", "namespace": "app"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"env": [{"valueFrom": {"secretKeyRef": {"name": "db", "key": "URL"}}}]}
                    ]
                }
            }
        },
    }
    plan = {
        "resources": [
            _resource("stack", "pulumi:pulumi:Stack", parent=""),
            _resource("rg", "azure-native:resources:ResourceGroup"),
            _resource("platform", "micromart:test:Platform", dependencies=["rg"]),
            _resource("server", "azure-native:dbforpostgresql:Server", parent="platform"),
            _resource(
                "secret",
                "kubernetes:core/v1:Secret",
                parent="platform",
                dependencies=["server"],
                inputs={"metadata": {"name": "db", "namespace": "app"}},
            ),
            _resource("image", "docker:index/image:Image", dependencies=["rg"]),
            _resource(
                "api",
                "kubernetes:apps/v1:Deployment",
                dependencies=["image"],
                inputs=deployment_inputs,
            ),
            _resource("after", "kubernetes:core/v1:ConfigMap", dependencies=["platform"]),
        ]
    }
    result = critical_path.estimate(plan)
    names = [step["name"] for step in result["critical_path"]]
    # The Deployment waits for the Secret it names, which waits for the server.
    assert names == ["rg", "server", "secret", "api"]
    assert result["slowest_resource"]["name"] == "server"
    by_name = result["checks"]["references_by_name_only"]
    assert [(item["workload"], item["references"]) for item in by_name] == [("api", "secret")]
    assert result["checks"]["await_timeouts_expected"] == []


def test_least_squares_recovers_a_line() -> None:
    fit = least_squares([1, 2, 3, 4], [3, 5, 7, 9])
    assert fit.slope == pytest.approx(2)
    assert fit.intercept == pytest.approx(1)
    assert fit.r_squared == pytest.approx(1)


def test_generated_specs_form_an_acyclic_call_graph_with_unique_databases() -> None:
    specs = generator.generate_specs(40, seed=3)
    names = [spec["name"] for spec in specs]
    for index, spec in enumerate(specs):
        assert set(spec.get("calls", ())) <= set(names[:index])
        assert len(spec.get("calls", ())) <= 2
    databases = [spec["postgres"]["database"] for spec in specs if "postgres" in spec]
    assert len(databases) == len(set(databases))
    assert [spec["name"] for spec in specs if spec.get("public")] == [names[-1]]
    assert generator.generate_specs(40, seed=3) == specs


def test_generated_project_passes_the_config_loader(tmp_path: Path) -> None:
    from components.config.loader import load_program_config
    from tools.synth import read_stack_file

    project = generator.generate_project(tmp_path / "project", 6)
    stack = read_stack_file(project, "staging")
    config = load_program_config(stack.config, "staging", project / "services")
    assert [spec.name for spec in config.services] == [generator.service_name(i) for i in range(6)]
