"""`./synth`, the documented command: exit codes 0/1/2 reach the caller (make would say 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.synthesis import PROJECT_DIR, copy_project, edit_yaml

SCRIPT = PROJECT_DIR / "synth"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env={"SYNTH_PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )


def test_a_violation_at_preview_exits_1(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")

    def single_replica(document: dict[str, Any]) -> None:
        document["config"]["micromart:services"]["orders"] = {
            "replicas": 1,
            "autoscaling": {"enabled": False},
        }

    edit_yaml(project / "Pulumi.production.yaml", single_replica)
    out = tmp_path / "build"
    done = run(
        "--stack", "production", "--preview", "--project-dir", str(project), "--out", str(out)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # Known values still block at preview; only what is unknown is left undecided.
    document = json.loads((out / "production" / "preview.json").read_text(encoding="utf-8"))
    # Besides it only the advisory report of the broker's honoured KEDA exemption.
    assert {v["policy"] for v in document["violations"] if v["level"] == "mandatory"} == {
        "k8s-minimum-replicas"
    }


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    done = run("--stack", "nosuch", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["synth: Pulumi.nosuch.yaml: no such stack file"]
