"""Image: build from the service's folder, or deploy a tag CI already pushed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from components.build_context import content_tag
from tests.components.microservice.objects import (
    app_deployments,
    component_urn,
    only_container,
    plan_entries,
    synth_copy,
)
from tests.components.microservice.sources import DOCKER_IMAGE, login_server, service_names
from tests.synthesis import PROJECT_DIR, kube_objects, owning_service
from tools.synth import SynthResult


def test_prebuilt_tag_mode_deploys_pushed_tags_without_building(tmp_path: Path) -> None:
    def prebuilt(config: dict[str, Any]) -> None:
        config["micromart:images"] = {"build": False, "tag": "1.4.2"}

    result = synth_copy(tmp_path, "staging", stack_edit=prebuilt)
    builds = [r.name for r in result.by_type(DOCKER_IMAGE) if owning_service(result, r)]
    assert builds == []
    images = {name: only_container(d)["image"] for name, d in app_deployments(result).items()}
    assert images == {name: f"{login_server('staging')}/{name}:1.4.2" for name in service_names()}


def test_build_mode_builds_one_image_per_service_from_the_shared_context(
    staging: SynthResult,
) -> None:
    builds = {
        r.name: r.plain_inputs()
        for r in staging.by_type(DOCKER_IMAGE)
        if owning_service(staging, r)
    }
    assert sorted(builds) == [f"{name}-image" for name in service_names()]
    for name in service_names():
        inputs = builds[f"{name}-image"]
        # One context for every service (the shared runtime plus each one's app/), and the
        # tag names exactly the files this service's Dockerfile copies from it.
        assert inputs["build"]["context"] == "services"
        assert inputs["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        tag = content_tag(PROJECT_DIR / "services", PROJECT_DIR / "services" / name / "Dockerfile")
        assert inputs["imageName"] == f"{login_server('staging')}/{name}:{tag}"
        assert inputs["imageName"].startswith(f"{login_server('staging')}/{name}:")
        assert not inputs["imageName"].endswith(":latest")
        image = next(r for r in staging.by_type(DOCKER_IMAGE) if r.name == f"{name}-image")
        assert image.parent == component_urn(staging, name)


def test_a_spec_only_change_does_not_rebuild_the_image(
    production: SynthResult, catalog_change: Callable[[str], SynthResult]
) -> None:
    result = catalog_change("spec-memory-limit")
    (image,) = [r for r in result.by_type(DOCKER_IMAGE) if r.name == "catalog-image"]
    assert plan_entries(result)[image.urn] == plan_entries(production)[image.urn]


def test_ci_digest_mode_deploys_each_digest_and_builds_nothing(tmp_path: Path) -> None:
    # What main.yml hands both stacks: one digest per image, built once for the commit.
    digests = {
        name: "sha256:" + f"{index:x}" * 64
        for index, name in enumerate([*service_names(), "rabbitmq"], start=1)
    }

    def promoted(config: dict[str, Any]) -> None:
        config["micromart:images"] = {"build": False, "digests": digests}

    result = synth_copy(tmp_path, "production", stack_edit=promoted)
    assert result.by_type(DOCKER_IMAGE) == []
    registry = login_server("production")
    images = {name: only_container(d)["image"] for name, d in app_deployments(result).items()}
    assert images == {name: f"{registry}/{name}@{digests[name]}" for name in service_names()}
    (broker,) = kube_objects(result, "StatefulSet")
    pod = broker["spec"]["template"]["spec"]
    for container in [*pod["containers"], *pod.get("initContainers", [])]:
        assert container["image"] == f"{registry}/rabbitmq@{digests['rabbitmq']}"
