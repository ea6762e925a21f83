"""Parse stack config and service specs once, into validated models, or fail with one clear line.

Every error names the file, the key path and the rule, because the person reading it is about to
open that file; nothing here touches Pulumi resources, so a bad value registers nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from components.config.service_spec import ServiceSpec
from components.config.stack import StackConfig

PROJECT = "micromart"
SPEC_FILE = "service.yaml"


class ConfigError(Exception):
    """A config or spec value breaks a rule; the message is ready to show to a person."""


@dataclass(frozen=True)
class ProgramConfig:
    stack_name: str
    stack: StackConfig
    services: tuple[ServiceSpec, ...]
    services_dir: Path

    def service(self, name: str) -> ServiceSpec:
        return next(spec for spec in self.services if spec.name == name)

    def callers_of(self, name: str) -> tuple[str, ...]:
        """Who declared `name` in their calls: the only sources its policies admit."""
        return tuple(spec.name for spec in self.services if name in spec.calls)


def stack_file(stack_name: str) -> str:
    return f"Pulumi.{stack_name}.yaml"


def load_program_config(
    raw_config: Mapping[str, str], stack_name: str, services_dir: Path
) -> ProgramConfig:
    """Validate `micromart:*` config values (Pulumi's string form) and every service spec."""
    stack = _parse_stack(raw_config, stack_name)
    specs = _read_specs(services_dir)
    _check_overrides_name_services(stack, specs, stack_name)
    _check_image_digests(stack, specs, stack_name)
    merged = tuple(
        (folder, _merge_spec(folder, raw, stack, stack_name, services_dir))
        for folder, raw in specs.items()
    )
    _check_catalog(merged, services_dir)
    return ProgramConfig(
        stack_name=stack_name,
        stack=stack,
        services=tuple(spec for _, spec in merged),
        services_dir=services_dir,
    )


def _parse_stack(raw_config: Mapping[str, str], stack_name: str) -> StackConfig:
    values = {
        key.split(":", 1)[1]: _decode(value)
        for key, value in sorted(raw_config.items())
        if key.startswith(f"{PROJECT}:")
    }
    try:
        return StackConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError(_describe(error, stack_file(stack_name), f"{PROJECT}:")) from None


def _decode(value: str) -> Any:
    # Pulumi hands structured values over as JSON text and scalars as plain strings.
    stripped = value.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def _read_specs(services_dir: Path) -> dict[str, dict[str, Any]]:
    folders = sorted(path.parent for path in services_dir.glob(f"*/{SPEC_FILE}"))
    if not folders:
        raise ConfigError(f"{services_dir}: no services found (expected */{SPEC_FILE})")
    return {folder.name: _read_yaml(folder / SPEC_FILE, services_dir) for folder in folders}


def _read_yaml(path: Path, services_dir: Path) -> dict[str, Any]:
    label = _spec_label(path.parent.name, services_dir)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise ConfigError(f"{label}: (document): not valid YAML at {where}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{label}: (document): must be a mapping of keys to values")
    return document


def _spec_label(folder: str, services_dir: Path) -> str:
    return f"{services_dir.name}/{folder}/{SPEC_FILE}"


def _check_overrides_name_services(
    stack: StackConfig, specs: Mapping[str, Any], stack_name: str
) -> None:
    for name in stack.services:
        if name not in specs:
            known = ", ".join(sorted(specs))
            raise ConfigError(
                f"{stack_file(stack_name)}: {PROJECT}:services.{name}: "
                f"no service named '{name}' (known: {known})"
            )


# Images that are not services but that CI also builds, scans and signs once per commit.
PLATFORM_IMAGES = ("rabbitmq",)


def _check_image_digests(stack: StackConfig, specs: Mapping[str, Any], stack_name: str) -> None:
    images = stack.images
    known = sorted({*specs, *PLATFORM_IMAGES})
    prefix = f"{stack_file(stack_name)}: {PROJECT}:images.digests"
    for name in images.digests:
        if name not in known:
            raise ConfigError(
                f"{prefix}.{name}: no image named '{name}' (known: {', '.join(known)})"
            )
    # Without a tag to fall back on, an image without a digest would have nothing to deploy.
    missing = [name for name in known if name not in images.digests]
    if not images.build and images.tag is None and missing:
        raise ConfigError(
            f"{prefix}: build is false and no tag is set, so every image needs a digest "
            f"(missing: {', '.join(missing)})"
        )


def _merge_spec(
    folder: str,
    raw_spec: dict[str, Any],
    stack: StackConfig,
    stack_name: str,
    services_dir: Path,
) -> ServiceSpec:
    # The spec must stand on its own: a value an override happens to hide is still wrong.
    try:
        ServiceSpec.model_validate(raw_spec)
    except ValidationError as error:
        raise ConfigError(_describe(error, _spec_label(folder, services_dir), "")) from None
    override = stack.services.get(folder)
    override_raw = override.model_dump(by_alias=True, exclude_none=True) if override else {}
    try:
        return ServiceSpec.model_validate(_deep_merge(raw_spec, override_raw))
    except ValidationError as error:
        prefix = f"{PROJECT}:services.{folder}."
        raise ConfigError(_describe(error, stack_file(stack_name), prefix)) from None


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key != "env":
            merged[key] = _deep_merge(merged[key], value)
        elif key == "env" and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _check_catalog(specs: Sequence[tuple[str, ServiceSpec]], services_dir: Path) -> None:
    """Rules that span services: names, the call graph, the public edge, databases."""
    owners: dict[str, str] = {}
    for folder, spec in specs:
        owner = owners.setdefault(spec.name, folder)
        if owner != folder:
            raise ConfigError(
                f"{_spec_label(folder, services_dir)}: name: '{spec.name}' is already declared "
                f"by {_spec_label(owner, services_dir)}"
            )
    for folder, spec in specs:
        if spec.name != folder:
            raise ConfigError(
                f"{_spec_label(folder, services_dir)}: name: '{spec.name}' must match its "
                f"folder '{folder}'"
            )
    known = sorted(owners)
    for folder, spec in specs:
        for index, callee in enumerate(spec.calls):
            if callee not in owners:
                raise ConfigError(
                    f"{_spec_label(folder, services_dir)}: calls[{index}]: unknown service "
                    f"'{callee}' (known: {', '.join(known)})"
                )
    public = [folder for folder, spec in specs if spec.public]
    if len(public) > 1:
        raise ConfigError(
            f"{_spec_label(public[1], services_dir)}: public: only one service may be public "
            f"(already: {public[0]})"
        )
    databases: dict[str, str] = {}
    for folder, spec in specs:
        if spec.postgres is None:
            continue
        other = databases.setdefault(spec.postgres.database, folder)
        if other != folder:
            raise ConfigError(
                f"{_spec_label(folder, services_dir)}: postgres.database: "
                f"'{spec.postgres.database}' is already owned by service '{other}'"
            )


def _describe(error: ValidationError, file_label: str, key_prefix: str) -> str:
    lines = []
    for detail in error.errors():
        path = _key_path(detail["loc"])
        key = f"{key_prefix}{path}" if path else key_prefix.rstrip(".")
        # A rule that spans keys names them itself ("calls: ..."), so it needs no key prefix.
        lines.append(
            f"{file_label}: {key}: {_rule(detail)}" if key else f"{file_label}: {_rule(detail)}"
        )
    return "\n".join(lines)


def _key_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _rule(detail: Mapping[str, Any]) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(detail["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if kind in {
        "literal_error",
        "string_pattern_mismatch",
        "int_parsing",
        "bool_parsing",
    }:
        message = f"{message} (got {detail.get('input')!r})"
    return message


def load_from_pulumi(services_dir: Path) -> ProgramConfig:
    """The one place the program reads Pulumi config."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    # Pulumi exposes config both through the process environment and through values set
    # in-process (tests, the synth harness); the in-process values win, as in pulumi.Config.
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return load_program_config(
        {key: str(value) for key, value in raw.items()},
        pulumi.get_stack(),
        services_dir,
    )
