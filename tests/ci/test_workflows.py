"""The CI/CD contract of .github/: linted by two third-party tools, and the rules they cannot see.

actionlint (syntax, expressions, action inputs, shell) and zizmor (security audits, offline) must
report nothing. On top of that, the rules this project relies on are asserted structurally:
every action pinned to a full commit SHA; Python 3.11 installed through the Makefile only (the
same path as README.md and .ci/run, one lock: uv.lock); every `pulumi preview` /
`pulumi up` runs the `policy` pack with the stack's own config; least-privilege permissions;
no `${{ }}` inside run scripts; one update per stack at a time. Fast and offline.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.build_context import content_tag

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOW_DIR = GITHUB / "workflows"
ACTIONS_DIR = GITHUB / "actions"
STACKS = ("staging", "production")
POLICY_PACK = "policy"

SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[^@\s]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(?:\.\d+)*\b")
SELF_REFERENCE = ("$/", "./")
PULUMI_ACTION = "pulumi/actions"
PULUMI_RUN = re.compile(r"\bpulumi\s+(preview|up|update)\b")
EXPRESSION = re.compile(r"^\$\{\{\s*([\w.-]+)\s*\}\}$")
SAME_REPO_CONDITION = "github.event.pull_request.head.repo.full_name == github.repository"


# --------------------------------------------------------------------------------------
# Loading


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a YAML mapping"
    return data


def _workflow_files() -> list[Path]:
    files = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
    assert files, f"no workflow under {WORKFLOW_DIR}"
    return files


def _action_files() -> list[Path]:
    return sorted([*ACTIONS_DIR.glob("*/action.yml"), *ACTIONS_DIR.glob("*/action.yaml")])


def _workflow(name: str) -> dict[str, Any]:
    path = WORKFLOW_DIR / name
    assert path.is_file(), f"missing workflow {path.relative_to(ROOT)}"
    return _load(path)


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML (YAML 1.1) reads the bare key `on` as the boolean True.
    raw = workflow.get("on", workflow.get(True))
    if isinstance(raw, str):
        return {raw: None}
    if isinstance(raw, list):
        return {event: None for event in raw}
    assert isinstance(raw, dict), "workflow without triggers"
    return raw


def _jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow.get("jobs")
    assert isinstance(jobs, dict) and jobs, "workflow without jobs"
    return jobs


def _local_target(ref: str) -> Path:
    return ROOT / ref[2:]


def _composite_steps(ref: str) -> list[dict[str, Any]]:
    """Steps of a same-repository composite action, or [] if `ref` is not one."""
    if not ref.startswith(SELF_REFERENCE):
        return []
    target = _local_target(ref)
    for name in ("action.yml", "action.yaml"):
        if (target / name).is_file():
            runs = _load(target / name).get("runs", {})
            if runs.get("using") == "composite":
                return list(runs.get("steps", []))
    return []


@dataclass(frozen=True)
class Job:
    """A workflow job whose same-repository composite actions are expanded in place."""

    source: str
    job_id: str
    spec: dict[str, Any]
    steps: tuple[dict[str, Any], ...]

    @property
    def label(self) -> str:
        return f"{self.source}: job {self.job_id}"


def _expand(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for step in steps:
        yield step
        uses = step.get("uses")
        if isinstance(uses, str):
            yield from _expand(_composite_steps(uses))


def _all_jobs() -> list[Job]:
    jobs = []
    for path in _workflow_files():
        for job_id, spec in _jobs(_load(path)).items():
            steps = tuple(_expand(list(spec.get("steps", []))))
            jobs.append(Job(path.name, job_id, spec, steps))
    return jobs


def _all_steps() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every step written anywhere: workflow jobs and composite actions (not expanded)."""
    for path in _workflow_files():
        for job_id, spec in _jobs(_load(path)).items():
            for step in spec.get("steps", []):
                yield f"{path.name}: job {job_id}", step
    for path in _action_files():
        for step in _load(path).get("runs", {}).get("steps", []):
            yield str(path.relative_to(ROOT)), step


def _uses_refs() -> Iterator[tuple[str, str]]:
    for path in _workflow_files():
        for job_id, spec in _jobs(_load(path)).items():
            if "uses" in spec:
                yield f"{path.name}: job {job_id}", spec["uses"]
    for where, step in _all_steps():
        if "uses" in step:
            yield where, step["uses"]


def _action_name(ref: str) -> str:
    return ref.split("@", 1)[0]


# --------------------------------------------------------------------------------------
# Third-party linters


def _tool(name: str) -> str:
    """A console script of this venv (pinned in uv.lock), else one on PATH."""
    for directory in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is pinned in uv.lock (make install-dev)")
    return found


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GH_TOKEN", "GITHUB_TOKEN"}}
    env["NO_COLOR"] = "1"
    return env


def test_actionlint_reports_nothing() -> None:
    files = [str(p.relative_to(ROOT)) for p in _workflow_files()]
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", *files],
        cwd=ROOT,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"actionlint findings:\n{result.stdout}{result.stderr}"


def test_zizmor_offline_reports_nothing() -> None:
    # --offline: no GitHub API (online audits off, no remote inputs). .github holds the
    # workflows, the composite action and dependabot.yml; zizmor collects all three.
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", ".github"],
        cwd=ROOT,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"{result.stdout}{result.stderr}"
    assert result.returncode == 0, f"zizmor findings:\n{output}"
    assert "No findings to report" in output, output
    for path in [*_workflow_files(), *_action_files(), GITHUB / "dependabot.yml"]:
        assert f"completed {path.relative_to(ROOT)}" in output, f"zizmor skipped {path}:\n{output}"


# --------------------------------------------------------------------------------------
# Supply chain


def test_every_action_is_pinned_to_a_full_commit_sha() -> None:
    refs = list(_uses_refs())
    assert refs
    for where, ref in refs:
        if ref.startswith(SELF_REFERENCE):
            target = _local_target(ref)
            assert target.exists(), f"{where}: {ref} does not exist"
            continue
        assert not ref.startswith("docker://"), f"{where}: docker action {ref} is not allowed"
        assert SHA_PINNED.match(ref), f"{where}: {ref} is not pinned to a 40-hex commit SHA"

    # The human-readable release next to every SHA (what Dependabot updates alongside it).
    for path in [*_workflow_files(), *_action_files()]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
            if match is None or match.group(1).startswith(SELF_REFERENCE):
                continue
            assert VERSION_COMMENT.search(match.group(2)), (
                f"{path.relative_to(ROOT)}:{number}: `uses:` without a `# vX.Y.Z` comment"
            )


# Inputs of the pinned releases of the actions actionlint cannot resolve (it knows inputs of
# local actions and of popular actions by tag, not by SHA). A misspelt input such as
# `policyPackConfig` would otherwise be ignored silently, and the preview run without it.
KNOWN_INPUTS: dict[str, frozenset[str]] = {
    # Read from each action's action.yml at the pinned commit (tags checked in the upstream
    # repositories: trivy-action v0.36.0, build-push-action v7.3.0, setup-buildx-action v4.3.0,
    # cosign-installer v4.1.2).
    "aquasecurity/trivy-action": frozenset(
        [
            "cache",
            "cache-dir",
            "docker-host",
            "exit-code",
            "format",
            "github-pat",
            "hide-progress",
            "ignore-policy",
            "ignore-unfixed",
            "image-ref",
            "input",
            "limit-severities-for-sarif",
            "list-all-pkgs",
            "output",
            "scan-ref",
            "scan-type",
            "scanners",
            "severity",
            "skip-dirs",
            "skip-files",
            "skip-setup-trivy",
            "template",
            "tf-vars",
            "timeout",
            "token-setup-trivy",
            "trivy-config",
            "trivyignores",
            "version",
            "vuln-type",
        ]
    ),
    "docker/build-push-action": frozenset(
        [
            "add-hosts",
            "allow",
            "annotations",
            "attests",
            "build-args",
            "build-contexts",
            "builder",
            "cache-from",
            "cache-to",
            "call",
            "cgroup-parent",
            "context",
            "file",
            "github-token",
            "labels",
            "load",
            "network",
            "no-cache",
            "no-cache-filters",
            "outputs",
            "platforms",
            "provenance",
            "pull",
            "push",
            "sbom",
            "secret-envs",
            "secret-files",
            "secrets",
            "shm-size",
            "ssh",
            "tags",
            "target",
            "ulimit",
        ]
    ),
    "docker/setup-buildx-action": frozenset(
        [
            "append",
            "buildkitd-config",
            "buildkitd-config-inline",
            "buildkitd-flags",
            "cache-binary",
            "cleanup",
            "driver",
            "driver-opts",
            "endpoint",
            "keep-state",
            "name",
            "platforms",
            "use",
            "version",
        ]
    ),
    "sigstore/cosign-installer": frozenset(["cosign-release", "install-dir", "use-sudo"]),
    # pulumi/actions v7.0.0 action.yml
    PULUMI_ACTION: frozenset(
        [
            "command",
            "stack-name",
            "pulumi-version",
            "pulumi-version-file",
            "work-dir",
            "comment-on-pr",
            "comment-on-pr-number",
            "comment-on-summary",
            "github-token",
            "cloud-url",
            "secrets-provider",
            "parallel",
            "message",
            "config-map",
            "expect-no-changes",
            "diff",
            "replace",
            "exclude",
            "exclude-dependents",
            "target",
            "target-dependents",
            "policyPacks",
            "policyPackConfigs",
            "refresh",
            "upsert",
            "remove",
            "edit-pr-comment",
            "color",
            "exclude-protected",
            "plan",
            "suppress-outputs",
            "suppress-progress",
            "always-include-summary",
            "continue-on-error",
            "log-verbosity",
            "log-flow",
            "debug",
        ]
    ),
    # pulumi/auth-actions v2.1.0
    "pulumi/auth-actions": frozenset(
        [
            "organization",
            "requested-token-type",
            "scope",
            "token-expiration",
            "export-environment-variables",
            "cloud-url",
        ]
    ),
    # azure/use-kubelogin v1.3
    "azure/use-kubelogin": frozenset(["kubelogin-version", "skip-cache", "github-api-base-url"]),
    # azure/login v3.0.0
    "azure/login": frozenset(
        [
            "creds",
            "client-id",
            "tenant-id",
            "subscription-id",
            "enable-AzPSSession",
            "environment",
            "allow-no-subscriptions",
            "audience",
            "auth-type",
        ]
    ),
}


def test_inputs_of_pinned_actions_exist() -> None:
    for where, step in _all_steps():
        name = _action_name(step.get("uses", ""))
        if name in KNOWN_INPUTS:
            unknown = set(step.get("with", {})) - KNOWN_INPUTS[name]
            assert not unknown, f"{where}: {name} has no input(s) {sorted(unknown)}"


def test_checkout_never_persists_credentials() -> None:
    checkouts = [
        (w, s) for w, s in _all_steps() if _action_name(s.get("uses", "")) == "actions/checkout"
    ]
    assert checkouts
    for where, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, (
            f"{where}: actions/checkout without persist-credentials: false"
        )


def test_no_expression_is_expanded_inside_a_run_script() -> None:
    for where, step in _all_steps():
        script = step.get("run")
        if isinstance(script, str):
            assert "${{" not in script, (
                f"{where}: step {step.get('name')!r} expands an expression in its script; "
                "pass the value through `env:` instead"
            )


def test_permissions_are_least_privilege() -> None:
    allowed_writes = {"id-token", "pull-requests"}
    for path in _workflow_files():
        workflow = _load(path)
        assert "permissions" in workflow, f"{path.name}: no workflow-level permissions"
        assert workflow["permissions"] in ({}, {"contents": "read"}), (
            f"{path.name}: workflow-level permissions must be {{}} or contents: read"
        )
        for job_id, spec in _jobs(workflow).items():
            permissions = spec.get("permissions")
            assert isinstance(permissions, dict), f"{path.name}: job {job_id} has no permission map"
            for scope, level in permissions.items():
                assert level in ("read", "write", "none"), f"{path.name}: {job_id}.{scope}={level}"
                if level == "write":
                    assert scope in allowed_writes, f"{path.name}: job {job_id} writes {scope}"


# --------------------------------------------------------------------------------------
# Python: 3.11, installed exactly like README.md and .ci/run


# The README's commands: `make synth` and `make install` install the runtime set, `make test`
# adds the dev group; each installs what it needs first.
MAKE_INSTALLS = re.compile(r"^make (install|install-dev|test|synth)\b")


def test_python_jobs_use_311_and_install_through_the_makefile() -> None:
    python_jobs = []
    for job in _all_jobs():
        setups = [
            i
            for i, step in enumerate(job.steps)
            if _action_name(step.get("uses", "")) == "actions/setup-python"
        ]
        runs = [str(step.get("run", "")).strip() for step in job.steps]
        installs_python = bool(setups) or any(
            re.search(r"\b(make|pip|uv|python3?)\b", script) for script in runs
        )
        if not installs_python:
            continue
        python_jobs.append(job.job_id)
        assert len(setups) == 1, f"{job.label}: expected one actions/setup-python step"
        version = job.steps[setups[0]].get("with", {}).get("python-version")
        assert version == "3.11", f'{job.label}: python-version must be the string "3.11"'
        installs = [i for i, script in enumerate(runs) if MAKE_INSTALLS.match(script)]
        assert installs and installs[0] > setups[0], (
            f"{job.label}: a Makefile install (make install/test/synth) must follow setup-python"
        )
        for script in runs:
            assert not re.search(r"\b(pip3?|uv)\s+(pip\s+)?(install|sync)\b", script), (
                f"{job.label}: installs packages outside the Makefile: {script!r}"
            )
    # Four jobs install Python: test (reusable), preview, up-staging, up-production.
    assert {"test", "preview", "up-staging", "up-production", "smoke-staging"} <= set(
        python_jobs
    ), python_jobs


def test_install_path_is_the_one_of_the_makefile_and_ci_script() -> None:
    makefile = ROOT / "Makefile"
    ci_run = ROOT / ".ci" / "run"
    for path in (makefile, ci_run, ROOT / "uv.lock", ROOT / "requirements-uv.txt"):
        assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    make_text = makefile.read_text(encoding="utf-8")
    for target in ("install", "install-dev", "synth", "test"):
        assert re.search(rf"^{target}\s*:", make_text, re.MULTILINE), f"Makefile has no {target}"
    # Every pin hash-checked: uv from the exported file by pip, the rest from uv.lock as locked.
    assert "--require-hashes" in make_text and "-r requirements-uv.txt" in make_text
    assert "sync --locked" in make_text, "Makefile does not install exactly what uv.lock says"
    ci_text = ci_run.read_text(encoding="utf-8")
    # .ci/run tests through the Makefile, so CI, README and workflows share one path.
    assert re.search(r"^make test\b", ci_text, re.MULTILINE), ".ci/run does not run `make test`"
    assert not re.search(r"\b(pip3?|uv)\s+(pip\s+)?(install|sync)\b", ci_text)
    # The composite action pins the Pulumi CLI to the SDK's version: the pin must be exact.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(re.fullmatch(r"pulumi==\d+\.\d+\.\d+", dep) for dep in project["dependencies"]), (
        "pyproject.toml must pin pulumi==X.Y.Z (the CI Pulumi CLI follows it)"
    )


def test_uv_is_on_path_for_the_pulumi_language_host() -> None:
    """With uv.lock in the repository the language host uses the uv toolchain for the program and
    the pack, and refuses to start without `uv` on PATH (pulumi sdk/python/toolchain/uv.go)."""
    action = _load(GITHUB / "actions" / "pulumi-job-setup" / "action.yml")
    runs = [str(step.get("run", "")) for step in action["runs"]["steps"]]
    install = runs.index("make install")
    on_path = [
        i for i, run in enumerate(runs) if re.search(r"/\.venv/bin\"? >> \"?\$\{?GITHUB_PATH", run)
    ]
    assert on_path and on_path[0] > install, "the venv's bin (uv) is not put on PATH after install"


# --------------------------------------------------------------------------------------
# Every pulumi preview / up runs the policy pack with the stack's config


@dataclass(frozen=True)
class PulumiOperation:
    job: Job
    command: str
    stacks: tuple[str, ...]


def _matrix_values(job: Job, key: str) -> tuple[str, ...]:
    matrix = job.spec.get("strategy", {}).get("matrix", {})
    values = list(matrix.get(key, []))
    values += [entry[key] for entry in matrix.get("include", []) if key in entry]
    assert values, f"{job.label}: matrix.{key} has no values"
    return tuple(values)


def _resolve_stack(job: Job, expression: str) -> tuple[str, ...]:
    match = EXPRESSION.match(expression)
    if match is None:
        assert "${{" not in expression, f"{job.label}: cannot resolve stack {expression!r}"
        return (expression,)
    context, _, key = match.group(1).partition(".")
    assert context == "matrix", f"{job.label}: stack from {expression!r} cannot be checked"
    return _matrix_values(job, key)


def _check_stacks(job: Job, stacks: tuple[str, ...]) -> None:
    for stack in stacks:
        assert stack in STACKS, f"{job.label}: unknown stack {stack!r}"
        assert (ROOT / f"Pulumi.{stack}.yaml").is_file(), f"missing Pulumi.{stack}.yaml"
        config = ROOT / POLICY_PACK / "config" / f"{stack}.json"
        assert config.is_file(), f"missing {config.relative_to(ROOT)}"


def _pulumi_operations() -> list[PulumiOperation]:
    operations = []
    for job in _all_jobs():
        for step in job.steps:
            uses = step.get("uses", "")
            if _action_name(uses) == PULUMI_ACTION:
                inputs = step.get("with", {})
                command = inputs.get("command")
                if command not in ("preview", "up", "update"):
                    continue
                stack_expression = str(inputs.get("stack-name", "")).rsplit("/", 1)[-1]
                assert stack_expression, f"{job.label}: pulumi/actions without stack-name"
                assert inputs.get("policyPacks") == POLICY_PACK, (
                    f"{job.label}: pulumi {command} without policyPacks: {POLICY_PACK}"
                )
                assert inputs.get("policyPackConfigs") == (
                    f"{POLICY_PACK}/config/{stack_expression}.json"
                ), f"{job.label}: pulumi {command} must use the stack's policy config"
                stacks = _resolve_stack(job, stack_expression)
                _check_stacks(job, stacks)
                operations.append(PulumiOperation(job, command, stacks))
            script = step.get("run")
            if isinstance(script, str):
                for line in script.replace("\\\n", " ").splitlines():
                    found = PULUMI_RUN.search(line)
                    if found is None:
                        continue
                    stack = re.search(r"(?:--stack|-s)[\s=]+(?:[\w.-]+/)*([\w.-]+)", line)
                    assert stack, f"{job.label}: {line.strip()!r} names no --stack"
                    assert re.search(rf"--policy-pack[\s=]+{POLICY_PACK}(?:\s|$)", line), (
                        f"{job.label}: {line.strip()!r} runs without --policy-pack {POLICY_PACK}"
                    )
                    config = f"{POLICY_PACK}/config/{stack.group(1)}.json"
                    assert re.search(rf"--policy-pack-config[\s=]+{re.escape(config)}", line), (
                        f"{job.label}: {line.strip()!r} runs without --policy-pack-config {config}"
                    )
                    _check_stacks(job, (stack.group(1),))
                    operations.append(PulumiOperation(job, found.group(1), (stack.group(1),)))
    return operations


def test_every_pulumi_preview_and_up_runs_the_policy_pack() -> None:
    assert (ROOT / POLICY_PACK / "PulumiPolicy.yaml").is_file(), "missing policy/PulumiPolicy.yaml"
    operations = _pulumi_operations()
    previewed = {s for op in operations if op.command == "preview" for s in op.stacks}
    deployed = {s for op in operations if op.command in ("up", "update") for s in op.stacks}
    assert previewed == set(STACKS), f"previews cover {previewed}"
    assert deployed == set(STACKS), f"updates cover {deployed}"
    for op in operations:
        if op.command == "preview":
            assert op.job.source == "pull-request.yml", f"{op.job.label}: preview outside PRs"
        else:
            assert op.job.source == "main.yml", f"{op.job.label}: update outside main.yml"


def test_every_pulumi_operation_is_authenticated_by_oidc_with_kubelogin() -> None:
    # Entra-only AKS: kubelogin must be installed and told to reuse the Azure CLI session;
    # azure-native uses GitHub OIDC itself; Pulumi Cloud gets a token from pulumi/auth-actions;
    # images are pushed with the Docker login made by `az acr login`. No stored secret at all.
    required_before = ("azure/login", "azure/use-kubelogin", "pulumi/auth-actions")
    for path in _workflow_files():
        assert "secrets." not in path.read_text(encoding="utf-8"), f"{path.name} uses a secret"
    for job in _all_jobs():
        names = [_action_name(step.get("uses", "")) for step in job.steps]
        for index, step in enumerate(job.steps):
            if names[index] != PULUMI_ACTION:
                continue
            for action in required_before:
                assert action in names[:index], f"{job.label}: {action} must run before"
            assert any("az acr login" in str(s.get("run", "")) for s in job.steps[:index])
            env = step.get("env", {})
            assert env.get("ARM_USE_OIDC") == "true", f"{job.label}: ARM_USE_OIDC"
            assert env.get("AAD_LOGIN_METHOD") == "azurecli", f"{job.label}: kubelogin"
            assert {"ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID"} <= set(env)
            assert str(env.get("PULUMI_PYTHON_CMD", "")).endswith("/.venv/bin/python"), (
                f"{job.label}: the policy pack must run on the project venv"
            )
            setup = next(s for s in job.spec["steps"] if "pulumi-job-setup" in s.get("uses", ""))
            registry_required = setup["with"]["registry-required"]
            expected = "false" if step["with"]["command"] == "preview" else "true"
            assert registry_required == expected, f"{job.label}: registry-required"


# --------------------------------------------------------------------------------------
# The two pipelines


def test_credential_free_test_job_is_shared_and_fork_safe() -> None:
    text = (WORKFLOW_DIR / "test.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "vars." not in text, "test.yml must need no credential"
    workflow = _workflow("test.yml")
    assert set(_triggers(workflow)) == {"workflow_call"}
    (job,) = _jobs(workflow).values()
    assert job["permissions"] == {"contents": "read"}
    runs = [str(step.get("run", "")).strip() for step in job["steps"]]
    assert runs.index("make test") < runs.index("./synth --stack staging")
    assert "./synth --stack production" in runs
    assert {"./synth --stack staging --preview", "./synth --stack production --preview"} <= set(
        runs
    )
    uploads = [
        s for s in job["steps"] if _action_name(s.get("uses", "")) == "actions/upload-artifact"
    ]
    assert len(uploads) == 1 and uploads[0]["with"]["path"].rstrip("/") == "build"
    for name in ("pull-request.yml", "main.yml"):
        caller = _jobs(_workflow(name))["test"]
        assert caller["uses"] in (
            "$/.github/workflows/test.yml",
            "./.github/workflows/test.yml",
        )
        assert caller["permissions"] == {"contents": "read"}


def test_pull_request_workflow_previews_same_repo_branches_only() -> None:
    workflow = _workflow("pull-request.yml")
    assert set(_triggers(workflow)) == {"pull_request"}
    preview = _jobs(workflow)["preview"]
    assert preview["needs"] in ("test", ["test"])
    assert preview["if"].replace("${{", "").replace("}}", "").strip() == SAME_REPO_CONDITION
    assert preview["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "pull-requests": "write",
    }
    assert "environment" not in preview, "a protected environment would gate every PR preview"
    job = Job("pull-request.yml", "preview", preview, tuple(_expand(preview["steps"])))
    assert set(_matrix_values(job, "stack")) == set(STACKS)
    assert preview["concurrency"]["cancel-in-progress"] is False
    assert "matrix.stack" in preview["concurrency"]["group"]
    (step,) = [s for s in preview["steps"] if _action_name(s.get("uses", "")) == PULUMI_ACTION]
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True


def test_main_workflow_deploys_staging_then_production_one_update_per_stack() -> None:
    workflow = _workflow("main.yml")
    triggers = _triggers(workflow)
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"] == {"branches": ["main"]}
    jobs = _jobs(workflow)
    assert set(_needs(jobs["up-staging"])) == {"test", "images"}
    assert set(_needs(jobs["up-production"])) == {"images", "smoke-staging"}
    groups = set()
    for stack in STACKS:
        job = jobs[f"up-{stack}"]
        assert job["environment"] == stack
        assert job["permissions"] == {"actions": "read", "contents": "read", "id-token": "write"}
        assert job["concurrency"]["cancel-in-progress"] is False
        assert stack in job["concurrency"]["group"]
        groups.add(job["concurrency"]["group"])
        (step,) = [s for s in job["steps"] if _action_name(s.get("uses", "")) == PULUMI_ACTION]
        assert step["with"]["command"] == "up"
        assert step["with"]["stack-name"].endswith(f"/{stack}")
    assert len(groups) == len(STACKS), "each stack needs its own concurrency group"
    # No other workflow may hold a deployment group (a queued preview would cancel a queued up).
    for path in _workflow_files():
        if path.name == "main.yml":
            continue
        for spec in _jobs(_load(path)).values():
            assert spec.get("concurrency", {}).get("group") not in groups, path.name


def test_no_workflow_uses_a_privileged_pull_request_trigger() -> None:
    for path in _workflow_files():
        triggers = _triggers(_load(path))
        assert "pull_request_target" not in triggers, f"{path.name}: pull_request_target"
        assert "workflow_run" not in triggers, f"{path.name}: workflow_run"


# --------------------------------------------------------------------------------------
# Dependabot


def test_dependabot_updates_the_lock_and_actions_weekly_grouped() -> None:
    config = _load(GITHUB / "dependabot.yml")
    assert config["version"] == 2
    updates = {entry["package-ecosystem"]: entry for entry in config["updates"]}
    assert set(updates) == {"uv", "pip", "github-actions", "docker"}
    assert set(updates["uv"]["directories"]) == {"/"}
    assert set(updates["pip"]["directories"]) == {"/policy"}
    actions_dirs = set(updates["github-actions"].get("directories", []))
    assert "/" in actions_dirs and "/.github/actions/*" in actions_dirs
    for entry in updates.values():
        assert entry["schedule"]["interval"] == "weekly"
        assert entry.get("groups"), f"{entry['package-ecosystem']}: updates are not grouped"


def test_dependabot_watches_the_base_image_of_every_dockerfile() -> None:
    config = _load(GITHUB / "dependabot.yml")
    (docker,) = [e for e in config["updates"] if e["package-ecosystem"] == "docker"]
    patterns = list(docker["directories"])
    folders = sorted("/" + str(p.parent.relative_to(ROOT)) for p in ROOT.rglob("Dockerfile"))
    folders = [f for f in folders if not f.startswith(("/.venv", "/build"))]
    assert {"/components/images/rabbitmq", "/services/orders"} <= set(folders)
    for folder in folders:
        assert any(fnmatch.fnmatchcase(folder, p) for p in patterns), f"{folder} not watched"
    # Every base image is in a group, so one pull request bumps all services sharing it.
    bases: set[str] = set()
    for folder in folders:
        text = (ROOT / folder[1:] / "Dockerfile").read_text(encoding="utf-8")
        stages = set(re.findall(r"(?im)^FROM\s.*\sAS\s+(\S+)", text))
        for image in re.findall(r"(?m)^FROM\s+(?:--platform=\S+\s+)?([\w./-]+)", text):
            if image not in stages:  # `FROM build` continues a stage, it pulls nothing
                bases.add(image)
    assert bases, "no base image found"
    grouped = {p for g in docker["groups"].values() for p in g["patterns"]}
    for base in bases:
        assert any(fnmatch.fnmatchcase(base, p) for p in grouped), f"{base} is in no group"


# --------------------------------------------------------------------------------------
# Build once, promote the same bytes (main.yml)

BUILD_ACTIONS = ("docker/build-push-action", "docker/setup-buildx-action")
DOCKER_BUILD = re.compile(r"\b(docker\s+(buildx\s+)?build|buildctl|kaniko|az\s+acr\s+build)\b")
IMAGES_CONFIG = "${{ toJSON(needs.images.outputs.config) }}"


def _needs(spec: dict[str, Any]) -> list[str]:
    needs = spec.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _main_job(job_id: str) -> Job:
    spec = _jobs(_workflow("main.yml"))[job_id]
    return Job("main.yml", job_id, spec, tuple(_expand(list(spec.get("steps", [])))))


def _ancestors(jobs: dict[str, dict[str, Any]], job_id: str) -> set[str]:
    seen: set[str] = set()
    pending = _needs(jobs[job_id])
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(_needs(jobs[current]))
    return seen


def _step_index(job: Job, predicate: Any, what: str) -> int:
    found = [index for index, step in enumerate(job.steps) if predicate(step)]
    assert len(found) == 1, f"{job.label}: expected one step that {what}, found {len(found)}"
    return found[0]


def _uses(name: str) -> Any:
    return lambda step: _action_name(step.get("uses", "")) == name


def _runs(pattern: str) -> Any:
    return lambda step: re.search(pattern, str(step.get("run", ""))) is not None


def _images_config(job: Job) -> str:
    (step,) = [s for s in job.steps if _action_name(s.get("uses", "")) == PULUMI_ACTION]
    config = yaml.safe_load(step["with"].get("config-map", "") or "{}") or {}
    return str(config.get("micromart:images", {}).get("value", ""))


def test_image_matrix_lists_every_image_the_program_deploys() -> None:
    job = _main_job("image")
    matrix = job.spec["strategy"]["matrix"]["include"]
    listed = {entry["image"]: (entry["context"], entry["file"]) for entry in matrix}
    # Services share one context (the shared runtime plus their own app/), each its Dockerfile.
    services = {
        p.parent.name: ("services", f"services/{p.parent.name}/Dockerfile")
        for p in ROOT.glob("services/*/service.yaml")
    }
    rabbitmq = "components/images/rabbitmq"
    expected = services | {
        "rabbitmq": (rabbitmq, f"{rabbitmq}/Dockerfile"),
        # The database bootstrap: the shared runtime from services/, its own Dockerfile.
        "db-bootstrap": ("services", "components/images/db-bootstrap/Dockerfile"),
    }
    assert listed == expected
    # The resolver walks .github/scripts/images: it must name the same triples.
    script = subprocess.run(
        [str(GITHUB / "scripts" / "images")], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = [line.split() for line in script.stdout.splitlines()]
    assert {name: (context, file) for name, context, file in lines} == expected
    for context, dockerfile in expected.values():
        assert (ROOT / context).is_dir() and (ROOT / dockerfile).is_file(), dockerfile


def test_image_tag_follows_build_inputs_only(tmp_path: Path) -> None:
    """Two services in one context: each tag moves with its own files and the shared ones."""
    dockerfile = "FROM x\nCOPY shared/ shared/\nCOPY {name}/app/ app/\n"
    files = {
        "a/Dockerfile": dockerfile.format(name="a"),
        "b/Dockerfile": dockerfile.format(name="b"),
        "a/app/main.py": "a = 1\n",
        "b/app/main.py": "b = 1\n",
        "a/service.yaml": "replicas: 1\n",
        "shared/runtime.py": "r = 1\n",
    }

    def tags(edits: dict[str, str] | None = None) -> tuple[str, str]:
        files.update(edits or {})
        for name, text in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text, encoding="utf-8")
        return (
            content_tag(tmp_path, tmp_path / "a" / "Dockerfile"),
            content_tag(tmp_path, tmp_path / "b" / "Dockerfile"),
        )

    first = tags()
    assert all(re.fullmatch(r"src-[0-9a-f]{12}", tag) for tag in first)
    assert tags({"a/service.yaml": "replicas: 3\n"}) == first, "a spec-only change: no rebuild"
    a_changed = tags({"a/app/main.py": "a = 2\n"})
    assert a_changed[0] != first[0] and a_changed[1] == first[1], "b must not retag"
    assert tags({"a/app/new.py": "n = 1\n"})[0] != a_changed[0]
    shared = tags({"shared/runtime.py": "r = 2\n"})
    assert shared[0] != first[0] and shared[1] != first[1], "both contain the runtime"
    # CI's script is the same function, from any working directory.
    script = subprocess.run(
        [str(GITHUB / "scripts" / "image-tag"), ".", "b/Dockerfile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert script.stdout.strip() == shared[1]


def test_scan_gates_the_push_and_every_pushed_image_is_signed() -> None:
    job = _main_job("image")
    assert job.spec["permissions"] == {"contents": "read", "id-token": "write"}
    builds = [
        i for i, s in enumerate(job.steps) if _action_name(s.get("uses", "")) == BUILD_ACTIONS[0]
    ]
    assert len(builds) == 2, f"{job.label}: one build for the scan, one for the push"
    scan_build, push_build = (job.steps[i]["with"] for i in builds)
    assert scan_build.get("load") is True and scan_build.get("push") is False
    assert "push=true" not in str(scan_build.get("outputs", ""))
    scan = _step_index(job, _uses("aquasecurity/trivy-action"), "scans")
    trivy = job.steps[scan]["with"]
    assert builds[0] < scan < builds[1], "build for the scan, scan, then push"
    assert trivy["image-ref"] == scan_build["tags"], "the scan must look at the image just built"
    assert "CRITICAL" in trivy["severity"].split(",")
    assert str(trivy["exit-code"]) == "1", "a critical finding must fail the job"
    assert "ignore-unfixed" not in trivy or trivy["ignore-unfixed"] in (False, "false")
    # The push carries an SBOM and provenance and pushes by digest, tagged only once signed.
    assert push_build["sbom"] is True
    assert str(push_build["provenance"]).startswith("mode=max")
    assert "push-by-digest=true" in push_build["outputs"] and "push=true" in push_build["outputs"]
    assert push_build["context"] == scan_build["context"]
    assert job.steps[builds[1]].get("id") == "push"
    sign = _step_index(job, _runs(r"\bcosign sign --yes\b"), "signs")
    installer = _step_index(job, _uses("sigstore/cosign-installer"), "installs cosign")
    assert builds[1] < installer < sign
    script = str(job.steps[sign]["run"])
    assert script.index("cosign sign") < script.index("imagetools create --tag")
    assert job.steps[sign]["env"]["DIGEST"] == "${{ steps.push.outputs.digest }}"
    # Reuse needs the tag, and the tag exists only once signed: every build step is skipped
    # exactly when the tag was found.
    for index in (*builds, scan, installer, sign):
        assert job.steps[index].get("if") == "steps.key.outputs.existing == ''", job.steps[index]


def test_both_stacks_deploy_the_digests_of_this_commit() -> None:
    jobs = _jobs(_workflow("main.yml"))
    resolver = jobs["images"]
    assert _needs(resolver) == ["image"]
    assert set(resolver["outputs"]) == {"config", "manifest"}
    for stack in STACKS:
        job = _main_job(f"up-{stack}")
        assert "images" in _needs(job.spec)
        assert _images_config(job) == IMAGES_CONFIG, f"{job.label}: must deploy needs.images"


def test_production_never_builds_and_imports_the_verified_digests() -> None:
    job = _main_job("up-production")
    for step in job.steps:
        assert _action_name(step.get("uses", "")) not in BUILD_ACTIONS, f"{job.label}: builds"
        assert not DOCKER_BUILD.search(str(step.get("run", ""))), f"{job.label}: builds"
    promote = _step_index(job, _runs(r"\baz acr import\b"), "imports")
    deploy = _step_index(job, _uses(PULUMI_ACTION), "deploys")
    assert promote < deploy
    step = job.steps[promote]
    script = str(step["run"])
    assert step["env"]["MANIFEST"] == "${{ needs.images.outputs.manifest }}"
    assert script.index("cosign verify") < script.index("az acr import"), "verify, then import"
    assert (
        "--certificate-identity" in script
        and "/.github/workflows/main.yml@refs/heads/main" in script
    )
    assert "token.actions.githubusercontent.com" in script
    assert '--source "${name}@${digest}"' in script, "import by digest, never by tag"
    # The program then builds nothing: build false plus one digest per image (the stack's
    # `images` is exactly what the resolver emitted for this commit).
    assert _images_config(job) == IMAGES_CONFIG


def test_smoke_gate_precedes_production() -> None:
    jobs = _jobs(_workflow("main.yml"))
    smoke = _main_job("smoke-staging")
    assert _needs(smoke.spec) == ["up-staging"]
    assert smoke.spec["environment"] == "staging"
    assert {"smoke-staging", "up-staging", "image", "test"} <= _ancestors(jobs, "up-production")
    checks = [str(s.get("run", "")) for s in smoke.steps if "tools.smoke" in str(s.get("run", ""))]
    assert any("plan-public" in c and "tools/smoke.py check" in c for c in checks), checks
    assert any("plan-mesh" in c and 'exec -i "$(pod_of gateway)"' in c for c in checks), checks
    assert any("plan-local" in c and "tools/smoke.py" in c for c in checks), checks
    assert (ROOT / "tools" / "smoke.py").is_file()
    rollout = _step_index(
        smoke, _runs(r"kubectl .*wait deployment --all --for=condition=Available"), "waits"
    )
    first_check = min(
        i for i, s in enumerate(smoke.steps) if "tools.smoke" in str(s.get("run", ""))
    )
    assert rollout < first_check


def test_ci_builds_the_rabbitmq_version_both_stacks_declare() -> None:
    # CI builds the broker image once, from the Dockerfile's default RABBITMQ_TAG (no build
    # argument), and both stacks deploy that digest: their rabbitmq.imageTag must be that tag,
    # or the stack file would claim a version the cluster does not run.
    dockerfile = (ROOT / "components" / "images" / "rabbitmq" / "Dockerfile").read_text("utf-8")
    (default,) = re.findall(r"(?m)^ARG RABBITMQ_TAG=(\S+)$", dockerfile)
    for stack in STACKS:
        config = _load(ROOT / f"Pulumi.{stack}.yaml")["config"]
        assert config["micromart:rabbitmq"]["imageTag"] == default, stack
    (entry,) = [
        e
        for e in _main_job("image").spec["strategy"]["matrix"]["include"]
        if e["image"] == "rabbitmq"
    ]
    assert "build-args" not in str(_main_job("image").spec), "the default tag is the built tag"
    assert entry["context"] == "components/images/rabbitmq"


# --------------------------------------------------------------------------------------
# Per-service deploys: one service's change previews and rolls only that service


AFFECTED = re.compile(
    r'^\.venv/bin/python -m tools\.affected --stack "\$\{STACK\}" --base "\$\{(\w+)\}" '
    r"--github-output$",
    re.MULTILINE,
)


def _base_variable(script: str) -> str:
    match = AFFECTED.search(script)
    assert match, f"no tools.affected call in {script!r}"
    return match.group(1)


def _scope_step(job: Job) -> tuple[int, dict[str, Any]]:
    index = _step_index(job, lambda step: step.get("id") == "scope", "has id scope")
    return index, job.steps[index]


def _targeted_jobs() -> list[tuple[Job, str]]:
    preview = _jobs(_workflow("pull-request.yml"))["preview"]
    jobs = [(Job("pull-request.yml", "preview", preview, tuple(_expand(preview["steps"]))), "")]
    return jobs + [(_main_job(f"up-{stack}"), stack) for stack in STACKS]


def test_every_preview_and_up_targets_the_services_the_change_affects() -> None:
    for job, stack in _targeted_jobs():
        checkout = job.steps[_step_index(job, _uses("actions/checkout"), "checks out")]
        assert checkout["with"].get("fetch-depth") == 0, f"{job.label}: the base commit is needed"
        index, scope = _scope_step(job)
        setup = _step_index(job, lambda s: "pulumi-job-setup" in s.get("uses", ""), "sets up")
        assert setup < index, f"{job.label}: tools.affected runs from the venv set up before it"
        _base_variable(scope["run"])
        expected_stack = stack or "${{ matrix.stack }}"
        assert scope["env"]["STACK"] == expected_stack, f"{job.label}: scope of another stack"
        pulumi = _step_index(job, _uses(PULUMI_ACTION), "runs pulumi")
        assert index < pulumi
        inputs = job.steps[pulumi]["with"]
        assert inputs["target"] == "${{ steps.scope.outputs.targets }}", job.label
        assert inputs["target-dependents"] == "${{ steps.scope.outputs.target-dependents }}"


def test_the_base_is_the_pull_requests_base_or_the_last_complete_deployment() -> None:
    (preview, _), *ups = _targeted_jobs()
    _, scope = _scope_step(preview)
    assert _base_variable(scope["run"]) == "BASE"
    assert scope["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    for job, _stack in ups:
        _, scope = _scope_step(job)
        assert _base_variable(scope["run"]) == "base"
        # Only a run that finished (both stacks deployed its commit) may serve as the base:
        # a failed or rejected production leaves changes that the next run must still roll out.
        lookup = re.search(r'base="\$\(gh api "([^"]+)" --jq \'([^\']+)\'\)"', scope["run"])
        assert lookup, f"{job.label}: no base lookup"
        url, query = lookup.groups()
        assert url.startswith("repos/${GITHUB_REPOSITORY}/actions/workflows/main.yml/runs?")
        assert {"branch=main", "status=success", "per_page=1"} <= set(url.split("?")[1].split("&"))
        assert query == '.workflow_runs[0].head_sha // ""'
        assert scope["env"]["GH_TOKEN"] == "${{ github.token }}"


LOCK = re.compile(
    r'az acr repository update --name "\$\{ACR_NAME\}" --image "\$\{name\}@\$\{digest\}" '
    r"--delete-enabled false\b"
)


def test_every_deployed_digest_is_locked_against_the_scheduled_purge() -> None:
    # components/registry_cleanup.py: acr purge never deletes a locked manifest; both
    # registries lock each digest before the stack that runs it is updated.
    images = _main_job("images")
    resolve = images.steps[_step_index(images, _runs(r"image-tag"), "resolves the digests")]
    assert LOCK.search(resolve["run"]), "the staging registry does not lock the digests"
    production = _main_job("up-production")
    index = _step_index(production, _runs(r"az acr import"), "imports the digests")
    script = production.steps[index]["run"]
    lock = LOCK.search(script)
    assert lock, "the production registry does not lock the imported digests"
    assert script.index("az acr import") < lock.start()
    assert index < _step_index(production, _uses(PULUMI_ACTION), "runs pulumi up")
    for job_id in ("images", "up-production"):
        text = yaml.safe_dump(_jobs(_workflow("main.yml"))[job_id])
        assert "--include-locked" not in text and "--delete-enabled true" not in text
