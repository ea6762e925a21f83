"""Feed a synthesized stack to the policy pack exactly as `pulumi preview --policy-pack` would.

Before the pack runs, the stack's policy config is held to the pack's own rules: no policy may be
`disabled`, a policy may be lowered to `advisory` only if the pack tags it `advisory-allowed`,
and production may not use the blanket `all` key. The CLI would accept all of these silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Policy

from policy.rules import ALL_POLICIES
from policy.rules.podrules import ADVISORY_ALLOWED_TAG
from tools.opaque import not_checked
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
# The pack's advisory notice policy: its diagnostics are exemptions, not violations.
EXEMPTION_NOTICES = "k8s-policy-exemptions"
PRODUCTION = "production"


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


def policy_reads(result: SynthResult) -> list[PolicyResource]:
    """What the program read (`.get`), with the state it read, as the stack policies see it."""
    return [
        PolicyResource(
            urn=read.urn,
            type=read.type,
            name=read.name,
            properties=read.plain_inputs(),
            parent=read.parent,
            provider=read.provider,
        )
        for read in result.reads
    ]


def level_problems(
    config: Mapping[str, Any], stack: str, policies: tuple[Policy, ...] = ALL_POLICIES
) -> list[str]:
    """Why this config would switch enforcement off or lower it beyond what the pack allows."""
    problems = []
    blanket = config.get("all")
    if blanket is not None and stack == PRODUCTION:
        problems.append("all: a blanket level is not allowed for production; set levels per rule")
    for policy in policies:
        default = policy.enforcement_level or EnforcementLevel.MANDATORY
        level = _configured_level(config.get(policy.name)) or _configured_level(blanket)
        if level is None or level == default.value:
            continue
        if level == EnforcementLevel.DISABLED.value:
            problems.append(f"{policy.name}: may not be disabled")
        elif default is EnforcementLevel.ADVISORY:
            problems.append(f"{policy.name}: reports only; its level stays advisory")
        elif level == EnforcementLevel.ADVISORY.value and ADVISORY_ALLOWED_TAG not in (
            policy.tags or []
        ):
            problems.append(f"{policy.name}: the pack does not allow lowering it to advisory")
    return problems


def _configured_level(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping) and isinstance(entry.get("enforcementLevel"), str):
        level: str = entry["enforcementLevel"]
        return level
    return None


def config_overrides(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every entry of the stack's policy config, echoed into policy.json."""
    echoed = []
    for name, entry in sorted(config.items()):
        settings = (
            {k: v for k, v in entry.items() if k != "enforcementLevel"}
            if isinstance(entry, Mapping)
            else {}
        )
        echoed.append(
            {"policy": name, "enforcementLevel": _configured_level(entry), "settings": settings}
        )
    return echoed


def checked_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The stack's policy config, refused (exit 2) if it would switch enforcement off."""
    config = policy_config(project_dir, stack)
    problems = level_problems(config, stack)
    if problems:
        raise ProgramError(f"policy/config/{stack}.json: " + "; ".join(problems))
    return config


def check_stack(result: SynthResult, project_dir: Path) -> list[Finding]:
    config = checked_config(project_dir, result.stack)
    try:
        return run_policy_pack(
            policy_resources(result),
            pack_dir=project_dir / "policy",
            project=PROJECT,
            stack=result.stack,
            policy_config=config,
            reads=policy_reads(result),
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
            policy_config=checked_config(project_dir, result.stack),
            dry_run=True,
            reads=policy_reads(result),
        )
    except PolicyPackError as error:
        raise ProgramError(f"policy pack failed: {error}") from error


def undecided_json(undecided: Undecided) -> dict[str, str]:
    return {"policy": undecided.policy, "urn": undecided.urn, "reason": undecided.reason}


def finding_json(finding: Finding) -> dict[str, str]:
    data = asdict(finding)
    return {key: data[key] for key in ("policy", "level", "urn", "message")}


def blocking(findings: list[Finding]) -> list[Finding]:
    """Mandatory violations: what makes the synth (and `pulumi up`) fail."""
    return [f for f in findings if f.level == "mandatory" and f.policy != EXEMPTION_NOTICES]


def policy_document(
    result: SynthResult, findings: list[Finding], config: Mapping[str, Any]
) -> dict[str, Any]:
    """policy.json: violations, honoured/refused exemptions, config overrides, unseen objects."""
    return {
        "violations": [finding_json(f) for f in findings if f.policy != EXEMPTION_NOTICES],
        "exemptions": [finding_json(f) for f in findings if f.policy == EXEMPTION_NOTICES],
        "overrides": config_overrides(config),
        "not_checked": not_checked(result.resources),
    }
