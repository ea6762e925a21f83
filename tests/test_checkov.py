"""Checkov's Kubernetes checks over both stacks' manifests, written exactly as synth writes them:
every check passes, or the object itself suppresses it with a reason (issue 13).

Checkov runs once, from its own venv (.venv-checkov, `make checkov`), offline, over
<tmp>/staging, <tmp>/production and <tmp>/probe: the probe is a deliberately weak Pod whose
failures prove that the run reports what it finds and honours a `CheckovSkip` annotation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import kube
from tests.synthesis import PROJECT_DIR
from tools.cli import write_manifests
from tools.synth import SynthResult, manifest_documents

CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"
STACKS = ("staging", "production")
PROBE = "probe"
# The probe skips one check it fails (its image is tagged, not pinned by digest) and must still
# fail these: Checkov really ran its container checks on it.
PROBE_SKIP = kube.CheckovSkip("CKV_K8S_43", "probe: the tag is deliberate")
PROBE_FAILS = {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_28"}
# Checkov 3.3.30 passes 912 checks on staging and 912 on production (Nov 2026): a run
# far below that scanned little, whatever the failure count says.
MIN_PASSED = 900


@dataclass(frozen=True)
class Failure:
    stack: str
    check: str
    check_name: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            f"{self.check} {self.kind}/{self.namespace}/{self.name}: {self.check_name}"
            f" [{self.stack}]"
        )


@dataclass(frozen=True)
class Report:
    summary: dict[str, int]
    failures: tuple[Failure, ...]
    documents: int
    suppressions: int


def probe_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": PROBE,
            "namespace": PROBE,
            "annotations": kube.checkov_annotations([PROBE_SKIP]),
        },
        "spec": {"containers": [{"name": PROBE, "image": "nginx:1.27"}]},
    }


def checkov_environment() -> dict[str, str]:
    """No call home: no platform key, no guideline mapping, no PyPI version check."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BC_", "CKV_", "PRISMA_", "CHECKOV_"))
    }
    # checkov/main.py (Checkov.run): BC_SKIP_MAPPING=TRUE sets bc_integration.skip_download,
    # as --skip-download does; checkov/common/util/banner.py checks PyPI for a newer version at
    # import unless CKV_SKIP_PACKAGE_UPDATE_CHECK (common/util/env_vars_config.py).
    environment |= {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}
    return environment


def suppression_count(folder: Path) -> int:
    return sum(
        key.startswith(kube.CHECKOV_SKIP_PREFIX)
        for path in folder.rglob("*.yaml")
        for key in (
            yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"].get("annotations") or {}
        )
    )


def run_checkov(folder: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV.relative_to(PROJECT_DIR)} is missing: run `make checkov`")
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
        ],
        # A .checkov.yaml in the caller's directory would change the run.
        cwd=folder,
        env=checkov_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # 0: nothing failed, 1: something failed; anything else is Checkov itself failing.
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    output = json.loads(completed.stdout)
    reports = output if isinstance(output, list) else [output]
    kubernetes = [report for report in reports if report.get("check_type") == "kubernetes"]
    assert len(kubernetes) == 1, f"no Kubernetes report in Checkov's output: {output!r:.500}"
    report: dict[str, Any] = kubernetes[0]
    return report


def failure(check: dict[str, Any]) -> Failure:
    stack = Path(check["file_path"]).parts[1]
    # "<kind>.<namespace>.<name>": neither kind nor namespace holds a dot, a name may.
    kind, namespace, name = check["resource"].split(".", 2)
    return Failure(stack, check["check_id"], check["check_name"], kind, namespace, name)


@pytest.fixture(scope="module")
def report(
    staging: SynthResult, production: SynthResult, tmp_path_factory: pytest.TempPathFactory
) -> Report:
    # Checkov ignores paths with a "/." component (CKV_IGNORE_HIDDEN_DIRECTORIES): a plain name.
    folder = tmp_path_factory.mktemp("checkov")
    for result in (staging, production):
        write_manifests(result, folder / result.stack)
    (folder / PROBE).mkdir()
    (folder / PROBE / "pod-probe.yaml").write_text(yaml.safe_dump(probe_pod()), encoding="utf-8")
    raw = run_checkov(folder)
    return Report(
        summary=raw["summary"],
        failures=tuple(failure(check) for check in raw["results"]["failed_checks"]),
        documents=sum(1 for _ in folder.rglob("*.yaml")),
        suppressions=suppression_count(folder),
    )


def test_every_checkov_kubernetes_check_passes_on_both_stacks(report: Report) -> None:
    failures = sorted((f for f in report.failures if f.stack in STACKS), key=str)
    assert not failures, "Checkov failed checks:\n" + "\n".join(map(str, failures))


def test_checkov_really_checked_both_stacks(report: Report) -> None:
    assert report.summary["parsing_errors"] == 0
    # Every file became at least one resource (a workload adds its pod template).
    assert report.summary["resource_count"] >= report.documents
    assert report.summary["passed"] >= MIN_PASSED, report.summary


def test_checkov_reports_the_probes_failures_and_honours_its_suppression(report: Report) -> None:
    probe = {f.check for f in report.failures if f.stack == PROBE}
    assert probe >= PROBE_FAILS
    assert PROBE_SKIP.check not in probe
    # Every checkov.io/skip annotation written (the probe's and the stacks') was read as one.
    assert report.summary["skipped"] == report.suppressions >= 1


# -- the suppressions, as README.md lists them ------------------------------------------------

README_TABLE_HEADER = "| Check | Object | Reason |"
ROW = re.compile(r"^\| `(?P<check>[^`]+)` \| `(?P<object>[^`]+)` \| (?P<reason>.+) \|$")


def suppressions(result: SynthResult) -> set[tuple[str, str, str]]:
    found = set()
    for document in manifest_documents(result).values():
        metadata = document["metadata"]
        for key, value in (metadata.get("annotations") or {}).items():
            if kube.CHECKOV_SKIP_PREFIX in key:
                check, reason = value.split("=")
                where = f"{document['kind']}/{metadata.get('namespace', '')}/{metadata['name']}"
                found.add((check, where, reason))
    return found


def readme_suppressions() -> set[tuple[str, str, str]]:
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    assert README_TABLE_HEADER in text, "README.md has no Checkov suppression table"
    rows = text.split(README_TABLE_HEADER, 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    parsed = [ROW.match(row) for row in rows]
    assert all(parsed), (
        f"README.md: a suppression row is not | `check` | `object` | reason |: {rows}"
    )
    return {(m["check"], m["object"], m["reason"]) for m in parsed if m}


def test_readme_lists_exactly_the_suppressions_the_stacks_write(
    staging: SynthResult, production: SynthResult
) -> None:
    assert suppressions(staging) | suppressions(production) == readme_suppressions()
