"""Blast radius: which resources change when one service's image or one platform setting changes.

Runs inside one worker process (the SDKs load once): a baseline synth of a private copy of the
project, then one synth per change. A resource "changes" when its inputs differ from the baseline
(secrets compared revealed, so a changed password would count) or when it appears or disappears.

- Image change: a file is added to `services/<name>/app/` of the copy, which changes the
  source-derived tag and the (mock) digest, exactly as editing the service's code would. Every
  changed resource must sit inside that service's Microservice component, and CI's targeting
  (tools/affected.py, the `--target` list of `pulumi preview/up`) must name that component and
  only it: `changed_untargeted` counts the changed resources a targeted run would miss.
- Platform setting: one stack config value is changed in memory (the stack file is not touched)
  and the report says which services' resources moved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

MICROSERVICE = "micromart:service:Microservice"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DOCKER_IMAGE = "docker:index/image:Image"
PROJECT_NAMESPACE = "micromart"
MARKER = "_benchmark_change.py"


def owners(resources: Iterable[Any]) -> dict[str, str]:
    """URN -> the service whose Microservice holds it, else the top-level component's type."""
    by_urn = {resource.urn: resource for resource in resources}
    owner: dict[str, str] = {}
    for urn, resource in by_urn.items():
        current = resource
        found = ""
        top = resource.type
        while current.parent in by_urn:
            parent = by_urn[current.parent]
            if parent.type == MICROSERVICE:
                found = parent.name
                break
            if parent.type == "pulumi:pulumi:Stack":
                break
            top = parent.type
            current = parent
        if resource.type == MICROSERVICE:
            found = resource.name
        owner[urn] = found or top
    return owner


def changed_urns(before: Any, after: Any) -> list[str]:
    old = {r.urn: r for r in before.resources if r.type != "pulumi:pulumi:Stack"}
    new = {r.urn: r for r in after.resources if r.type != "pulumi:pulumi:Stack"}
    changed = set(old) ^ set(new)
    for urn in set(old) & set(new):
        if old[urn].plain_inputs() != new[urn].plain_inputs():
            changed.add(urn)
    return sorted(changed)


def _type_of(urn: str) -> str:
    # urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>
    return urn.split("::")[2].rsplit("$", 1)[-1]


def image_change(project: Path, stack: str, baseline: Any, service: str) -> dict[str, Any]:
    from tools.affected import Change, scope_of
    from tools.synth import synthesize

    owner = owners(baseline.resources)
    services = sorted(r.name for r in baseline.resources if r.type == MICROSERVICE)
    scope = scope_of([Change(f"services/{service}/app/{MARKER}")], stack, services)
    targeted = scope.services if scope.services is not None else frozenset(services)
    marker = project / "services" / service / "app" / MARKER
    marker.write_text(f'"""Changed by the blast-radius benchmark: {service}."""\n', "utf-8")
    try:
        after = synthesize(project, stack)
    finally:
        marker.unlink()
    changed = changed_urns(baseline, after)
    owner.update(owners(after.resources))
    outside = [urn for urn in changed if owner.get(urn) != service]
    inside = [urn for urn in changed if owner.get(urn) == service]
    return {
        "service": service,
        "image_built": any(
            r.type == DOCKER_IMAGE and owner.get(r.urn) == service for r in baseline.resources
        ),
        "changed_total": len(changed),
        "changed_inside": len(inside),
        "changed_outside": len(outside),
        "inside_types": sorted({_type_of(urn) for urn in inside}),
        "outside": outside,
        "targets": scope.targets(stack),
        "changed_untargeted": sum(1 for urn in changed if owner.get(urn) not in targeted),
    }


def _config_key(setting: str) -> tuple[str, list[str]]:
    head, *path = setting.split(".")
    return f"{PROJECT_NAMESPACE}:{head}", path


def _read_setting(config: dict[str, str], setting: str) -> Any:
    key, path = _config_key(setting)
    if not path:
        return config.get(key)
    value: Any = json.loads(config[key])
    for part in path:
        value = value[part]
    return value


def _with_setting(config: dict[str, str], setting: str, new: Any) -> dict[str, str]:
    key, path = _config_key(setting)
    updated = dict(config)
    if not path:
        updated[key] = str(new)
        return updated
    document: Any = json.loads(config[key])
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    updated[key] = json.dumps(document)
    return updated


def platform_change(
    project: Path, stack: str, baseline: Any, setting: str, candidates: Sequence[Any]
) -> dict[str, Any]:
    from tools.synth import StackInput, read_stack_file, synthesize

    stack_input = read_stack_file(project, stack)
    current = _read_setting(stack_input.config, setting)
    new = next((value for value in candidates if value != current), candidates[0])
    changed_input = StackInput(
        config=_with_setting(stack_input.config, setting, new),
        secret_keys=stack_input.secret_keys,
    )
    after = synthesize(project, stack, changed_input)
    changed = changed_urns(baseline, after)
    owner = owners(baseline.resources)
    owner.update(owners(after.resources))
    services = {r.name for r in baseline.resources if r.type == MICROSERVICE}
    by_owner: dict[str, list[str]] = {}
    for urn in changed:
        by_owner.setdefault(owner.get(urn, "?"), []).append(_type_of(urn))
    touched = sorted(name for name in by_owner if name in services)
    # A ConfigMap consumed through envFrom changes no pod template: running pods keep the old
    # values until something else restarts them.
    without_rollout = sorted(
        name
        for name in touched
        if CONFIG_MAP in by_owner[name] and DEPLOYMENT not in by_owner[name]
    )
    return {
        "setting": f"{PROJECT_NAMESPACE}:{setting}",
        "from": current,
        "to": new,
        "changed_total": len(changed),
        "services_touched": touched,
        "services_untouched": sorted(services - set(touched)),
        "changed_by_owner": {name: sorted(types) for name, types in sorted(by_owner.items())},
        "configmap_changed_without_rollout": without_rollout,
    }


def run_blast_radius(
    project: Path, stack: str, settings: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    from tools.synth import synthesize

    baseline = synthesize(project, stack)
    services = sorted(r.name for r in baseline.resources if r.type == MICROSERVICE)
    return {
        "stack": stack,
        "resources": len(baseline.program_resources),
        "services": [image_change(project, stack, baseline, name) for name in services],
        "platform_settings": [
            platform_change(project, stack, baseline, setting, json.loads(candidates))
            for setting, candidates in settings
        ],
    }
