"""Blue-green: two full tracks of a service, and one switch that moves all traffic at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.config.loader import ConfigError, load_program_config
from tests.components.microservice.objects import (
    app_deployments,
    assert_hpa_and_replicas_consistent,
    assert_routes_consistent,
    destination_rules_by_host,
    only_container,
    plan_entries,
    pod_labels,
    selects,
    set_service_override,
    synth_copy,
)
from tests.components.microservice.sources import APP_NS, login_server, service_names
from tests.synthesis import PROJECT_DIR, kube_object, kube_objects
from tools.policy_check import EXEMPTION_NOTICES, check_stack
from tools.synth import SynthResult, read_stack_file

GREEN = "sha256:" + "9e" * 32


def _blue_green(live: str) -> Any:
    def edit(config: dict[str, Any]) -> None:
        set_service_override(
            config, "orders", "blueGreen", {"live": live, "green": {"digest": GREEN}}
        )

    return edit


@pytest.fixture(scope="module")
def blue_live(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synth_copy(tmp_path_factory.mktemp("blue"), "production", _blue_green("blue"))


@pytest.fixture(scope="module")
def green_live(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    return synth_copy(tmp_path_factory.mktemp("green"), "production", _blue_green("green"))


def _split(result: SynthResult, name: str, namespace: str = APP_NS) -> dict[str, int]:
    vs = kube_object(result, "VirtualService", name, namespace)
    split: dict[str, int] = {}
    for http in vs["spec"]["http"]:
        for route in http["route"]:
            subset = route["destination"]["subset"]
            assert split.setdefault(subset, route["weight"]) == route["weight"]
    return split


def test_two_full_tracks_replace_the_stable_deployment(blue_live: SynthResult) -> None:
    deployments = app_deployments(blue_live)
    assert sorted(deployments) == sorted(
        [*(n for n in service_names() if n != "orders"), "orders-blue", "orders-green"]
    )
    blue, green = deployments["orders-blue"], deployments["orders-green"]
    assert pod_labels(blue)["track"] == "blue" and pod_labels(green)["track"] == "green"
    assert not selects(blue["spec"]["selector"], pod_labels(green))
    assert not selects(green["spec"]["selector"], pod_labels(blue))
    # Blue runs the service's own image (built here), green the digest CI pushed.
    assert only_container(green)["image"] == f"{login_server('production')}/orders@{GREEN}"
    assert only_container(blue)["image"] != only_container(green)["image"]
    # "Two identical environments": everything but the image is the same.
    same = [{k: v for k, v in only_container(d).items() if k != "image"} for d in (blue, green)]
    assert same[0] == same[1]
    # Each track scales on its own HPA, and neither Deployment fights it with `replicas`.
    assert_hpa_and_replicas_consistent(blue_live)
    for track in ("blue", "green"):
        hpa = kube_object(blue_live, "HorizontalPodAutoscaler", f"orders-{track}", APP_NS)
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"orders-{track}"
        assert "replicas" not in deployments[f"orders-{track}"]["spec"]


def test_all_traffic_goes_to_the_live_track_and_the_flip_moves_it_all(
    blue_live: SynthResult, green_live: SynthResult
) -> None:
    host = f"orders.{APP_NS}.svc.cluster.local"
    for result, live in ((blue_live, "blue"), (green_live, "green")):
        rule = destination_rules_by_host(result)[host]
        subsets = {s["name"]: s["labels"] for s in rule["spec"]["subsets"]}
        assert subsets == {"blue": {"track": "blue"}, "green": {"track": "green"}}
        assert _split(result, "orders") == {live: 100}
        assert_routes_consistent(result)
        assert selects(
            {"matchLabels": subsets[live]}, pod_labels(app_deployments(result)[f"orders-{live}"])
        )
    # The flip (and the rollback, its mirror) edits exactly one object: the VirtualService.
    before, after = plan_entries(blue_live), plan_entries(green_live)
    assert set(before) == set(after)
    changed = sorted(after[urn]["name"] for urn in after if before[urn] != after[urn])
    assert changed == ["orders-virtual-service"]


def test_routes_wait_for_both_tracks(blue_live: SynthResult) -> None:
    # The provider waits for a Deployment to be Available, so a flip never routes to a track
    # that has not rolled out.
    deployments = {
        r.name: r.urn for r in blue_live.resources if r.name in ("orders-blue", "orders-green")
    }
    (vs,) = [r for r in blue_live.resources if r.name == "orders-virtual-service"]
    assert set(deployments.values()) <= set(vs.dependencies)


def test_blue_green_objects_pass_the_policy_pack(blue_live: SynthResult) -> None:
    findings = check_stack(blue_live, PROJECT_DIR)
    assert [f for f in findings if "orders" in str(f)] == []
    # The only notice is the broker's honoured KEDA exemption (components/rabbitmq.py).
    assert [f for f in findings if f.policy != EXEMPTION_NOTICES] == []
    assert all(f.message.startswith("honoured: ") for f in findings)


def test_the_public_service_flips_its_edge_routes_too(tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        set_service_override(
            config, "gateway", "blueGreen", {"live": "green", "green": {"tag": "2.0.0"}}
        )

    result = synth_copy(tmp_path, "staging", edit)
    (public,) = [vs for vs in kube_objects(result, "VirtualService") if vs["spec"].get("gateways")]
    assert _split(result, public["metadata"]["name"]) == {"green": 100}
    assert _split(result, "gateway") == {"green": 100}


def _config_error(override: dict[str, Any]) -> str:
    raw = dict(read_stack_file(PROJECT_DIR, "staging").config)
    raw["micromart:services"] = json.dumps({"orders": override})
    with pytest.raises(ConfigError) as caught:
        load_program_config(raw, "staging", PROJECT_DIR / "services")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(
        "Pulumi.staging.yaml: micromart:services.orders"
    )
    return message


@pytest.mark.parametrize(
    ("override", "rule"),
    [
        ({"blueGreen": {"live": "purple", "green": {"tag": "2.0.0"}}}, "'blue' or 'green'"),
        ({"blueGreen": {"live": "blue"}}, "pin one track's image"),
        (
            {"blueGreen": {"live": "blue", "blue": {"tag": "2.0.0"}, "green": {"tag": "2.0.0"}}},
            "blue and green pin the same image",
        ),
        ({"blueGreen": {"live": "green", "green": {"tag": "latest"}}}, "'latest' is not allowed"),
        (
            {"blueGreen": {"live": "green", "green": {"digest": "sha256:abc"}}},
            "should match pattern",
        ),
        (
            {
                "blueGreen": {"live": "green", "green": {"tag": "2"}},
                "canary": {"tag": "3", "weight": 5},
            },
            "canary and blueGreen cannot be combined",
        ),
        ({"blueGreen": {"live": "green", "green": {"tag": "2"}, "colour": "x"}}, "unknown key"),
    ],
)
def test_bad_blue_green_config_fails_with_one_line(override: dict[str, Any], rule: str) -> None:
    assert rule in _config_error(override)
