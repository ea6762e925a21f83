"""Feed a synthesized stack to the policy pack exactly as `pulumi preview --policy-pack` would."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.policy_runner import (
    Analysis,
    PolicyPackError,
    PolicyResource,
    Undecided,
    Violation,
    analyze,
    run_policy_pack,
)
from tools.synth import PROJECT, STACK_TYPE, ProgramError, SynthResult

Finding = Violation


def policy_config(project_dir: Path, stack: str) -> dict[str, Any]:
    path = project_dir / "policy" / "config" / f"{stack}.json"
    if not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def policy_resources(result: SynthResult) -> list[PolicyResource]:
    return [
        PolicyResource(
            urn=resource.urn,
            type=resource.type,
            name=resource.name,
            properties=resource.plain_inputs(),
            parent=resource.parent,
            provider=resource.provider,
            dependencies=resource.dependencies,
            property_dependencies=resource.property_dependencies,
            protect=resource.protect,
        )
        for resource in result.resources
        if resource.type != STACK_TYPE
    ]


def check_stack(result: SynthResult, project_dir: Path) -> list[Finding]:
    try:
        return run_policy_pack(
            policy_resources(result),
            pack_dir=project_dir / "policy",
            project=PROJECT,
            stack=result.stack,
            policy_config=policy_config(project_dir, result.stack),
        )
    except PolicyPackError as error:
        # A pack that cannot boot would fail `pulumi preview` too; it is never a pass.
        raise ProgramError(f"policy pack failed: {error}") from error


def preview_stack(result: SynthResult, project_dir: Path) -> Analysis:
    """The pack at preview: unknown values are sent as the engine sends them (the unknown
    sentinel, pulumi/pulumi pkg/resource/plugin/analyzer_plugin.go marshals with KeepUnknowns),
    and a policy that cannot decide is reported as undecided, never dropped."""
    try:
        return analyze(
            policy_resources(result),
            pack_dir=project_dir / "policy",
            project=PROJECT,
            stack=result.stack,
            policy_config=policy_config(project_dir, result.stack),
            dry_run=True,
        )
    except PolicyPackError as error:
        raise ProgramError(f"policy pack failed: {error}") from error


def undecided_json(undecided: Undecided) -> dict[str, str]:
    return {"policy": undecided.policy, "urn": undecided.urn, "reason": undecided.reason}


def finding_json(finding: Finding) -> dict[str, str]:
    data = asdict(finding)
    return {key: data[key] for key in ("policy", "level", "urn", "message")}
