"""Registry cleanup: a timer-triggered ACR Task running `acr purge`, as synthesized.

The purge keeps the newest tags and recent ones, never a pinned tag, a signature or a locked
(deployed) digest; the tests decode the task's YAML from both stacks' plans.
"""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any

import pytest
import yaml

from components.config.service_spec import ServiceSpec
from components.config.stack import ImagesConfig, RabbitMqConfig, RegistryCleanup
from components.registry_cleanup import (
    purge_command,
    rabbitmq_pinned_tags,
    service_pinned_tags,
    tag_filter,
)
from tests.synthesis import MICROSERVICE, only, stack_setting
from tools.recorder import RecordedResource
from tools.synth import SynthResult

TASK = "azure-native:containerregistry:Task"
REGISTRY = "azure-native:containerregistry:Registry"
SERVICES = ("catalog", "gateway", "inventory", "notifications", "orders")


def _decode(inputs: dict[str, Any]) -> list[str]:
    document = yaml.safe_load(base64.b64decode(inputs["step"]["encodedTaskContent"]))
    (step,) = document["steps"]
    assert document["version"] == "v1.1.0"
    return shlex.split(step["cmd"])


def _tasks(result: SynthResult) -> dict[str, tuple[RecordedResource, list[str]]]:
    return {
        task.plain_inputs()["taskName"]: (task, _decode(task.plain_inputs()))
        for task in result.by_type(TASK)
    }


def _filters(argv: list[str]) -> dict[str, str]:
    values = [argv[i + 1] for i, word in enumerate(argv) if word == "--filter"]
    return dict(value.split(":", 1) for value in values)


def _matches(pattern: str, tag: str) -> bool:
    # Python's re has the lookahead acr purge's regexp2 has; enough for these patterns.
    return re.search(pattern, tag) is not None


def test_each_task_runs_on_a_timer_in_the_stacks_registry(result: SynthResult) -> None:
    config = stack_setting(result.stack, "registry")
    registry = only(result, REGISTRY)
    tasks = _tasks(result)
    assert sorted(tasks) == sorted(f"{name}-purge" for name in (*SERVICES, "micromart"))
    for task, argv in tasks.values():
        inputs = task.plain_inputs()
        assert inputs["registryName"] == config["name"]
        assert inputs["resourceGroupName"] == registry.plain_inputs()["resourceGroupName"]
        assert inputs["status"] == "Enabled"
        assert inputs["platform"] == {"os": "Linux", "architecture": "amd64"}
        (timer,) = inputs["trigger"]["timerTriggers"]
        assert timer == {"name": "schedule", "schedule": "0 3 * * 0", "status": "Enabled"}
        assert argv[:2] == ["acr", "purge"]
        assert argv[argv.index("--ago") + 1] == "30d"
        assert argv[argv.index("--keep") + 1] == "10"
        assert "--untagged" in argv
        # Locked (deployed) tags and manifests are skipped only without this flag.
        assert "--include-locked" not in argv
        # The registry exists first: the task names it through the Registry's output.
        assert registry.urn in task.dependencies


def test_each_repository_is_purged_by_its_owner_keeping_pins_and_signatures(
    result: SynthResult,
) -> None:
    tasks = _tasks(result)
    components = {r.urn: r for r in result.by_type(MICROSERVICE)}
    for name in SERVICES:
        task, argv = tasks[f"{name}-purge"]
        # Inside the service's own component: pinning one of its tags changes only it.
        assert components[task.parent].name == name
        filters = _filters(argv)
        assert list(filters) == [name]
        assert _matches(filters[name], "3f2a9c1d0b7e")
        assert not _matches(filters[name], "sha256-" + "a" * 64 + ".sig")
    _, argv = tasks["micromart-purge"]
    filters = _filters(argv)
    assert list(filters) == ["rabbitmq"]
    rabbitmq_tag = stack_setting(result.stack, "rabbitmq")["imageTag"]
    assert not _matches(filters["rabbitmq"], rabbitmq_tag)
    assert _matches(filters["rabbitmq"], rabbitmq_tag + "-old")


def _spec(**fields: Any) -> ServiceSpec:
    base = {
        "name": "orders",
        "description": "x",
        "probes": {"liveness": "/l", "readiness": "/r"},
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
    }
    return ServiceSpec.model_validate({**base, **fields})


def test_pinned_tags_collect_canary_blue_green_image_and_common_tags() -> None:
    images = ImagesConfig.model_validate({"build": False, "tag": "release-7"})
    orders = _spec(canary={"tag": "c-1", "weight": 10}, image={"tag": "stable-1"})
    catalog = _spec(name="catalog", blueGreen={"live": "blue", "green": {"tag": "g-2"}})
    assert service_pinned_tags(orders, images) == {"c-1", "stable-1", "release-7"}
    assert service_pinned_tags(catalog, images) == {"g-2", "release-7"}
    assert service_pinned_tags(_spec(), ImagesConfig()) == frozenset()
    idle = _spec(canary={"tag": "c-0", "weight": 0})
    assert service_pinned_tags(idle, ImagesConfig()) == frozenset()
    broker = RabbitMqConfig.model_validate(
        {
            "replicas": 1,
            "imageTag": "4.1.4-management",
            "storage": "8Gi",
            "resources": _spec().resources.model_dump(by_alias=True),
        }
    )
    assert rabbitmq_pinned_tags(broker, images) == {"4.1.4-management", "release-7"}


@pytest.mark.parametrize(
    ("tag", "deleted"),
    [
        ("c-1", False),
        ("c-10", True),  # a prefix of a pinned tag is not the pinned tag
        ("x.c-1", True),
        ("4.1.4-management", False),
        ("4x1x4-management", True),  # the dots are literal
        ("sha256-abc.att", False),
        ("build-1", True),
    ],
)
def test_tag_filter_matches_exactly_the_unpinned_tags(tag: str, deleted: bool) -> None:
    pattern = tag_filter("r", frozenset({"c-1", "4.1.4-management"})).split(":", 1)[1]
    assert _matches(pattern, tag) is deleted


def test_config_drives_the_command() -> None:
    config = RegistryCleanup.model_validate({"keep": 3, "agoDays": 7, "untagged": False})
    argv = shlex.split(purge_command(config, {"orders": frozenset()}))
    assert argv == [
        "acr",
        "purge",
        "--filter",
        "orders:^(?!sha256-).+$",
        "--ago",
        "7d",
        "--keep",
        "3",
    ]


@pytest.mark.parametrize("schedule", ["0 3 * * 0", "*/30 * * * *", "0 1,13 * * 1-5"])
def test_five_field_cron_schedules_are_accepted(schedule: str) -> None:
    assert RegistryCleanup.model_validate({"schedule": schedule}).schedule == schedule


@pytest.mark.parametrize("schedule", ["@weekly", "0 3 * *", "0 3 * * 0 2026", "0 3 * * sun"])
def test_other_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        RegistryCleanup.model_validate({"schedule": schedule})
