"""tools/policy_check.py: stack config may not switch enforcement off, and is echoed."""

from __future__ import annotations

from typing import Any

import pytest

from tools.policy_check import config_overrides, level_problems


@pytest.mark.parametrize(
    ("stack", "config"),
    [
        ("staging", {}),
        ("production", {"k8s-read-only-root-filesystem": "advisory"}),
        ("production", {"k8s-health-probes": {"enforcementLevel": "advisory"}}),
        ("staging", {"all": "mandatory", "k8s-policy-exemptions": "advisory"}),
        ("staging", {"k8s-image-pinned": "mandatory", "k8s-run-as-non-root": "remediate"}),
    ],
)
def test_allowed_levels(stack: str, config: dict[str, Any]) -> None:
    assert level_problems(config, stack) == []


@pytest.mark.parametrize(
    ("stack", "config", "problem"),
    [
        ("staging", {"k8s-no-privileged-containers": "disabled"}, "may not be disabled"),
        (
            "staging",
            {"k8s-no-host-path-volumes": {"enforcementLevel": "advisory"}},
            "k8s-no-host-path-volumes: the pack does not allow lowering it to advisory",
        ),
        ("production", {"all": "mandatory"}, "not allowed for production"),
        ("staging", {"all": "advisory"}, "k8s-run-as-non-root: the pack does not allow"),
        ("staging", {"all": "disabled"}, "k8s-image-pinned: may not be disabled"),
        ("staging", {"k8s-policy-exemptions": "mandatory"}, "its level stays advisory"),
    ],
)
def test_refused_levels(stack: str, config: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in level_problems(config, stack)), level_problems(config, stack)


def test_every_entry_is_echoed() -> None:
    config = {
        "k8s-health-probes": "advisory",
        "k8s-minimum-replicas": {"enforcementLevel": "mandatory", "minReplicas": 2},
    }
    assert config_overrides(config) == [
        {"policy": "k8s-health-probes", "enforcementLevel": "advisory", "settings": {}},
        {
            "policy": "k8s-minimum-replicas",
            "enforcementLevel": "mandatory",
            "settings": {"minReplicas": 2},
        },
    ]
