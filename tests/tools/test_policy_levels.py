"""tools/policy_check.py: stack config may not switch enforcement off, and is echoed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.policy_check import checked_config, config_overrides, level_problems
from tools.synth import ProgramError


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


def test_a_config_that_disables_a_rule_stops_the_synth(tmp_path: Path) -> None:
    folder = tmp_path / "policy" / "config"
    folder.mkdir(parents=True)
    config = {"k8s-no-host-namespaces": "disabled", "all": "advisory"}
    (folder / "production.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ProgramError, match=r"^policy/config/production\.json: all: a blanket"):
        checked_config(tmp_path, "production")
    (folder / "production.json").write_text("{}", encoding="utf-8")
    assert checked_config(tmp_path, "production") == {}
