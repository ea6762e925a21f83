"""Parse stack config and service specs once, into validated models, or fail with one clear line.

Every error names the file, the line where it is known, the key path and the rule, because the
person reading it is about to open that file; nothing here touches Pulumi resources, so a bad
value registers nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.config.errors import ConfigError
from components.config.plain_secrets import find_plain_secret
from components.config.service_spec import ServiceSpec
from components.config.stack import StackConfig
from components.config.stack_file import (
    PROJECT,
    StackFile,
    read_stack_file_document,
    stack_label,
)
from components.config.yaml_source import Path_, YamlDocument, dotted, read_yaml

__all__ = ["ConfigError", "ProgramConfig", "load_from_pulumi", "load_program_config"]

SPEC_FILE = "service.yaml"
ENGINE_CHANNEL = "PULUMI_CONFIG"
PROJECT_FILE = "Pulumi.yaml"
# Config namespaces a stack may set besides the project's: the providers this program uses and
# the engine's own. Any other namespace is a typo whose value would be silently ignored.
KNOWN_NAMESPACES = frozenset({PROJECT, "azure-native", "kubernetes", "docker", "random", "pulumi"})
# Stack names that say which environment they are (`prod-eu`, `staging`).
ENVIRONMENT_WORDS = {
    "production": frozenset({"production", "prod", "prd"}),
    "staging": frozenset({"staging", "stage", "stg"}),
}


@dataclass(frozen=True)
class ProgramConfig:
    stack_name: str
    stack: StackConfig
    services: tuple[ServiceSpec, ...]
    services_dir: Path
    # Per service, the env names the stack set with `config set --secret --path`: their values
    # must never reach a ConfigMap (readable by anyone who may read the namespace's config).
    secret_env: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def service(self, name: str) -> ServiceSpec:
        return next(spec for spec in self.services if spec.name == name)

    def callers_of(self, name: str) -> tuple[str, ...]:
        """Who declared `name` in their calls: the only sources its policies admit."""
        return tuple(spec.name for spec in self.services if name in spec.calls)

    def secret_env_of(self, name: str) -> frozenset[str]:
        return self.secret_env.get(name, frozenset())


def stack_file(stack_name: str) -> str:
    return stack_label(stack_name)


@dataclass(frozen=True)
class _Sources:
    """Where each config key came from, to blame the right file and line."""

    stack_name: str
    stack_file: StackFile | None = None
    origins: Mapping[str, str] = field(default_factory=dict)
    secret_keys: frozenset[str] = frozenset()

    def file_of(self, full_key: str) -> str:
        return self.origins.get(full_key, stack_label(self.stack_name))

    def error(self, full_key: str, loc: Path_, rule: str) -> ConfigError:
        key = f"{full_key}.{dotted(loc)}" if loc else full_key
        if loc and isinstance(loc[0], int):
            key = f"{full_key}{dotted(loc)}"
        file = self.file_of(full_key)
        line = None
        if self.stack_file is not None and file == self.stack_file.label:
            line = self.stack_file.line_of(full_key, *loc)
        return ConfigError(file, key, rule, line)

    def text_of(self, full_key: str, loc: Path_) -> str | None:
        if self.stack_file is None or full_key not in self.stack_file.written:
            return None
        written = self.stack_file.written[full_key]
        return self.stack_file.document.texts.get(("config", written, *loc))

    def is_secret(self, path: Path_) -> bool:
        if self.stack_file is not None and path[0] in self.stack_file.written:
            return self.stack_file.is_secret(path)
        return path[0] in self.secret_keys


def load_program_config(
    raw_config: Mapping[str, str],
    stack_name: str,
    services_dir: Path,
    *,
    secret_keys: Sequence[str] = (),
    source: StackFile | None = None,
    origins: Mapping[str, str] | None = None,
    today: date | None = None,
) -> ProgramConfig:
    """Validate `micromart:*` config values (Pulumi's string form) and every service spec."""
    sources = _Sources(stack_name, source, origins or {}, frozenset(secret_keys))
    values = _stack_values(raw_config, sources)
    stack = _parse_stack(values, sources, today or date.today())
    _check_environment(stack, sources)
    specs = _read_specs(services_dir)
    _check_overrides_name_services(stack, specs, sources)
    _check_image_digests(stack, specs, sources)
    _check_names_match_folders(specs, services_dir)
    merged = tuple(
        (folder, _merge_spec(folder, document, stack, sources, services_dir))
        for folder, document in specs.items()
    )
    _check_dockerfiles(merged, stack, services_dir)
    _check_catalog(merged, services_dir)
    return ProgramConfig(
        stack_name=stack_name,
        stack=stack,
        services=tuple(spec for _, spec in merged),
        services_dir=services_dir,
        secret_env=_secret_env(stack, sources),
    )


def _secret_env(stack: StackConfig, sources: _Sources) -> dict[str, frozenset[str]]:
    # Only the stack can hold secrets (a spec's plain secret is refused above). Without the stack
    # file the engine only says the whole key is secret: then every env value under it is one.
    full_key = f"{PROJECT}:services"
    secret_env: dict[str, frozenset[str]] = {}
    for folder, override in stack.services.items():
        names = frozenset(
            name
            for name in (override.env or {})
            if sources.is_secret((full_key, folder, "env", name))
        )
        if names:
            secret_env[folder] = names
    return secret_env


# -- the stack ------------------------------------------------------------------------------


def _stack_values(raw_config: Mapping[str, str], sources: _Sources) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for full_key, text in sorted(raw_config.items()):
        namespace = full_key.split(":", 1)[0]
        if namespace not in KNOWN_NAMESPACES:
            raise sources.error(
                full_key,
                (),
                f"unknown config namespace '{namespace}' (known: "
                f"{', '.join(sorted(KNOWN_NAMESPACES))}); did you mean {PROJECT}:?",
            )
        if namespace != PROJECT:
            continue
        value = _decode(text)
        found = find_plain_secret(value, (full_key,), sources.is_secret)
        if found is not None:
            path, reason = found
            dotted_key = full_key + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:]
            )
            raise sources.error(
                full_key,
                path[1:],
                f"{reason} but is plain text: store it with "
                f"`pulumi config set --secret --path '{dotted_key}' <value>`",
            )
        values[full_key.split(":", 1)[1]] = value
    return values


def _decode(value: str) -> Any:
    # Pulumi hands structured values over as JSON text and scalars as plain strings.
    stripped = value.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def _parse_stack(values: Mapping[str, Any], sources: _Sources, today: date) -> StackConfig:
    try:
        return StackConfig.model_validate(values, context={"today": today})
    except ValidationError as error:
        detail = error.errors()[0]
        loc = tuple(detail["loc"])
        if not loc:
            raise ConfigError(sources.file_of(PROJECT), PROJECT, _rule(detail, None)) from None
        full_key = f"{PROJECT}:{loc[0]}"
        text = sources.text_of(full_key, loc[1:])
        rule = _rule(detail, text) + _more(error)
        raise sources.error(full_key, loc[1:], rule) from None


def _check_environment(stack: StackConfig, sources: _Sources) -> None:
    words = set(re.split(r"[-_.]", sources.stack_name.rsplit("/", 1)[-1].lower()))
    for environment, names in ENVIRONMENT_WORDS.items():
        if environment != stack.environment and words & names:
            raise sources.error(
                f"{PROJECT}:environment",
                (),
                f"'{stack.environment}' contradicts the stack name '{sources.stack_name}', "
                f"which says {environment}",
            )


# -- the service specs ----------------------------------------------------------------------


def _read_specs(services_dir: Path) -> dict[str, YamlDocument]:
    label = services_dir.name
    if not services_dir.is_dir():
        raise ConfigError(
            f"{label}/", "", "no such folder: every service lives in services/<name>/"
        )
    folders = sorted(
        path
        for path in services_dir.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_")) and not _shared_code(path)
    )
    if not folders:
        raise ConfigError(f"{label}/", "", f"no services found (expected */{SPEC_FILE})")
    return {folder.name: _read_spec(folder, services_dir) for folder in folders}


def _shared_code(folder: Path) -> bool:
    # A Python package beside the services (the shared runtime every image copies) is code,
    # not a service; a package that also carries a spec is still read, and refused if wrong.
    has_spec = any((folder / name).exists() for name in (SPEC_FILE, "service.yml"))
    return (folder / "__init__.py").is_file() and not has_spec


def _read_spec(folder: Path, services_dir: Path) -> YamlDocument:
    label = _spec_label(folder.name, services_dir)
    spec = folder / SPEC_FILE
    for wrong in ("service.yml", "Service.yaml"):
        if (folder / wrong).is_file():
            raise ConfigError(
                f"{services_dir.name}/{folder.name}/{wrong}",
                "",
                f"only {SPEC_FILE} is read: rename it (or remove the stray copy)",
            )
    if not spec.is_file():
        raise ConfigError(
            label, "", "missing: every folder under services/ is a service and needs this spec"
        )
    document = read_yaml(spec, label)
    if document.data is None:
        raise ConfigError(label, "", "the file is empty; a spec needs name, probes, resources")
    if not isinstance(document.data, dict):
        raise ConfigError(label, "", "the top level must be a mapping of keys to values", 1)
    found = find_plain_secret(document.data, (), lambda _: False)
    if found is not None:
        path, reason = found
        raise ConfigError(
            label,
            dotted(path),
            f"{reason} but is committed in plain text: move it to the stack as a secret with "
            f"`pulumi config set --secret --path '{PROJECT}:services.{folder.name}."
            f"{dotted(path)}' <value>`",
            document.line_of(path),
        )
    return document


def _spec_label(folder: str, services_dir: Path) -> str:
    return f"{services_dir.name}/{folder}/{SPEC_FILE}"


def _check_overrides_name_services(
    stack: StackConfig, specs: Mapping[str, Any], sources: _Sources
) -> None:
    for name in stack.services:
        if name not in specs:
            known = ", ".join(sorted(specs))
            raise sources.error(
                f"{PROJECT}:services", (name,), f"no service named '{name}' (known: {known})"
            )


# Images that are not services but that CI also builds, scans and signs once per commit.
PLATFORM_IMAGES = ("rabbitmq",)


def _check_image_digests(stack: StackConfig, specs: Mapping[str, Any], sources: _Sources) -> None:
    images = stack.images
    known = sorted({*specs, *PLATFORM_IMAGES})
    key = f"{PROJECT}:images"
    for name in images.digests:
        if name not in known:
            raise sources.error(
                key, ("digests", name), f"no image named '{name}' (known: {', '.join(known)})"
            )
    # Without a tag to fall back on, an image without a digest would have nothing to deploy.
    missing = [name for name in known if name not in images.digests]
    if not images.build and images.tag is None and missing:
        raise sources.error(
            key,
            ("digests",),
            "build is false and no tag is set, so every image needs a digest "
            f"(missing: {', '.join(missing)})",
        )


def _merge_spec(
    folder: str,
    document: YamlDocument,
    stack: StackConfig,
    sources: _Sources,
    services_dir: Path,
) -> ServiceSpec:
    # The spec must stand on its own: a value an override happens to hide is still wrong.
    raw_spec = document.data
    try:
        ServiceSpec.model_validate(raw_spec)
    except ValidationError as error:
        detail = error.errors()[0]
        loc = tuple(detail["loc"])
        raise ConfigError(
            _spec_label(folder, services_dir),
            dotted(loc),
            _rule(detail, document.texts.get(loc)) + _more(error),
            document.line_of(loc),
        ) from None
    override = stack.services.get(folder)
    override_raw = override.model_dump(by_alias=True, exclude_none=True) if override else {}
    try:
        return ServiceSpec.model_validate(_deep_merge(raw_spec, override_raw))
    except ValidationError as error:
        detail = error.errors()[0]
        loc = tuple(detail["loc"])
        full_key = f"{PROJECT}:services"
        rule = _rule(detail, sources.text_of(full_key, (folder, *loc))) + _more(error)
        raise sources.error(full_key, (folder, *loc), rule) from None


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


def _check_dockerfiles(
    specs: Sequence[tuple[str, ServiceSpec]], stack: StackConfig, services_dir: Path
) -> None:
    # The order components/microservice/image.py picks an image in: only the last one builds.
    if not stack.images.build:
        return
    for folder, spec in specs:
        prebuilt = spec.image is not None or folder in stack.images.digests
        if not prebuilt and not (services_dir / folder / "Dockerfile").is_file():
            raise ConfigError(
                f"{services_dir.name}/{folder}/Dockerfile",
                "",
                f"missing: {PROJECT}:images.build is true, so the image is built from "
                f"{services_dir.name}/{folder}/ (or pin one with image.tag)",
            )


def _check_names_match_folders(specs: Mapping[str, YamlDocument], services_dir: Path) -> None:
    # Before the spec model runs: a copied spec still naming its origin would otherwise be
    # reported by whichever rule first trips over the wrong name (e.g. "may not call itself").
    for folder, document in specs.items():
        name = document.data.get("name") if isinstance(document.data, Mapping) else None
        if isinstance(name, str) and name != folder:
            raise ConfigError(
                _spec_label(folder, services_dir),
                "name",
                f"'{name}' must match its folder '{folder}'",
                line=document.line_of(("name",)),
            )


def _check_catalog(specs: Sequence[tuple[str, ServiceSpec]], services_dir: Path) -> None:
    """Rules that span services: names, the call graph, the public edge, databases."""
    owners: dict[str, str] = {}
    for folder, spec in specs:
        owner = owners.setdefault(spec.name, folder)
        if owner != folder:
            raise ConfigError(
                _spec_label(folder, services_dir),
                "name",
                f"'{spec.name}' is already declared by {_spec_label(owner, services_dir)}",
            )
    for folder, spec in specs:
        if spec.name != folder:
            raise ConfigError(
                _spec_label(folder, services_dir),
                "name",
                f"'{spec.name}' must match its folder '{folder}'",
            )
    known = sorted(owners)
    for folder, spec in specs:
        for index, callee in enumerate(spec.calls):
            if callee not in owners:
                raise ConfigError(
                    _spec_label(folder, services_dir),
                    f"calls[{index}]",
                    f"unknown service '{callee}' (known: {', '.join(known)})",
                )
    public = [folder for folder, spec in specs if spec.public]
    if len(public) > 1:
        raise ConfigError(
            _spec_label(public[1], services_dir),
            "public",
            f"only one service may be public (already: {public[0]})",
        )
    databases: dict[str, str] = {}
    for folder, spec in specs:
        if spec.postgres is None:
            continue
        other = databases.setdefault(spec.postgres.database, folder)
        if other != folder:
            raise ConfigError(
                _spec_label(folder, services_dir),
                "postgres.database",
                f"'{spec.postgres.database}' is already owned by service '{other}'",
            )


# -- turning pydantic's errors into one line --------------------------------------------------


def _more(error: ValidationError) -> str:
    count = error.error_count()
    return f" (and {count - 1} more)" if count > 1 else ""


def _rule(detail: Mapping[str, Any], source_text: str | None) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    hint = _type_hint(kind, detail.get("input"), source_text, detail["loc"]) or _literal_hint(
        detail, source_text
    )
    if hint:
        return hint
    message = str(detail["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if kind in {"literal_error", "string_pattern_mismatch", "enum"}:
        message = f"{message} (got {detail.get('input')!r})"
    return message


def _type_hint(kind: str, value: Any, text: str | None, loc: Sequence[Any]) -> str | None:
    """Say how to write a value that is almost right, instead of pydantic's type name."""
    shown = text if text is not None else json.dumps(value)
    if kind == "string_type":
        return _text_hint(value, text, shown, loc)
    if kind in {"int_type", "float_type", "int_parsing", "int_from_float"}:
        return _number_hint(value, shown)
    hints = {
        "bool_type": f"must be true or false without quotes (got {value!r})",
        "dict_type": f"must be a mapping of keys to values (got {value!r})",
        "model_type": f"must be a mapping of keys to values (got {value!r})",
        "model_attributes_type": f"must be a mapping of keys to values (got {value!r})",
        "tuple_type": f"must be a list (got {value!r})",
        "list_type": f"must be a list (got {value!r})",
    }
    return hints.get(kind)


def _literal_hint(detail: Mapping[str, Any], text: str | None) -> str | None:
    """A choice that was right but written as the wrong type: `version: 16`, `replicas: "3"`."""
    if detail["type"] != "literal_error":
        return None
    value, expected = detail.get("input"), str(detail.get("ctx", {}).get("expected", ""))
    shown = text if text is not None else str(value)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_number and f"'{shown}'" in expected:
        return f'must be one of {expected}: write "{shown}" in quotes (got the number {shown})'
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value) and value in expected:
        return f"must be one of {expected}: write {value} without quotes (got the text '{value}')"
    return None


def _text_hint(value: Any, text: str | None, shown: str, loc: Sequence[Any]) -> str | None:
    if isinstance(value, bool):
        return f'must be text: write "{shown}" in quotes (got the boolean {shown})'
    if not isinstance(value, (int, float)):
        return None
    if loc and loc[-1] == "cpu":
        millicores = int(float(value) * 1000)
        return (
            f'must be a CPU quantity as text: write "{shown}" in quotes or "{millicores}m" '
            f"(got the number {shown})"
        )
    read_as = f"; YAML reads {text} as {value!r}" if text and text != repr(value) else ""
    return f'must be text: write "{shown}" in quotes (got the number {shown}{read_as})'


def _number_hint(value: Any, shown: str) -> str | None:
    if isinstance(value, bool):
        return f"must be a number (got the boolean {shown})"
    if isinstance(value, str):
        return f"must be a number: write it without quotes (got the text {value!r})"
    if isinstance(value, float):
        return f"must be a whole number (got {shown})"
    return None


# -- the program's entry point ----------------------------------------------------------------


def load_from_pulumi(services_dir: Path) -> ProgramConfig:
    """The one place the program reads Pulumi config."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    stack_name = pulumi.get_stack()
    engine = _engine_config()
    in_process = {key: str(value) for key, value in runtime_config.CONFIG.get().items()}
    project_dir = services_dir.parent
    source = _stack_file_or_none(project_dir, stack_name)
    # In-process values (the synth harness, tests) win over the engine's, as in pulumi.Config.
    raw = {**engine, **in_process}
    secret_keys = {*runtime_config.get_config_secret_keys_env(), *_in_process_secret_keys()}
    return load_program_config(
        raw,
        stack_name,
        services_dir,
        secret_keys=sorted(secret_keys),
        source=source,
        origins=_origins(raw, engine, in_process, source, project_dir),
    )


def _engine_config() -> dict[str, str]:
    text = os.environ.get(ENGINE_CHANNEL)
    if text is None:
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            ENGINE_CHANNEL,
            "",
            f"the engine's config variable is not valid JSON ({error.msg} at character "
            f"{error.pos}); unset it or set it to a JSON object of strings",
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(ENGINE_CHANNEL, "", "must be a JSON object of config keys to strings")
    for key, value in document.items():
        if not isinstance(value, str) or key.count(":") != 1:
            raise ConfigError(
                ENGINE_CHANNEL,
                key,
                "each entry must be '<namespace>:<name>' mapped to a string "
                f"(got {json.dumps(value)})",
            )
    return document


def _in_process_secret_keys() -> list[str]:
    from pulumi.runtime import config as runtime_config

    return [key for key in runtime_config.CONFIG.get() if runtime_config.is_config_secret(key)]


def _stack_file_or_none(project_dir: Path, stack_name: str) -> StackFile | None:
    # The stack file only sharpens error messages here (lines, exact `secure:` paths); the
    # engine already checked it, so a copy that cannot be read is no reason to fail.
    try:
        return read_stack_file_document(project_dir, stack_name)
    except ConfigError:
        return None


def _origins(
    raw: Mapping[str, str],
    engine: Mapping[str, str],
    in_process: Mapping[str, str],
    source: StackFile | None,
    project_dir: Path,
) -> dict[str, str]:
    """Blame a key on the stack file when it sets it, else on Pulumi.yaml or the engine."""
    declared = _project_defaults(project_dir)
    origins: dict[str, str] = {}
    for key in raw:
        if source is not None and key in source.values:
            continue
        if key in declared:
            origins[key] = PROJECT_FILE
        elif key in engine and key not in in_process:
            origins[key] = ENGINE_CHANNEL
    return origins


def _project_defaults(project_dir: Path) -> frozenset[str]:
    try:
        document = read_yaml(project_dir / PROJECT_FILE, PROJECT_FILE)
    except ConfigError:
        return frozenset()
    config = document.data.get("config") if isinstance(document.data, dict) else None
    if not isinstance(config, dict):
        return frozenset()
    return frozenset(
        key if ":" in key else f"{PROJECT}:{key}"
        for key, value in config.items()
        if not isinstance(value, dict) or "default" in value or "value" in value
    )
