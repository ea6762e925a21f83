"""The Pulumi CLI's project/stack config checks, run by the synth before the program.

`pulumi preview` and `pulumi up` refuse to start the program when the stack's config does not
satisfy the project's `config:` block. Emulated from pulumi/pulumi (snapshot 1b59498, Aug 2026;
the CLI pinned here is 3.272):
- `sdk/go/common/workspace/project.go` `Project.Validate`: not both `default` and `value`; a
  typed `array` needs `items`; a typed `default` must match its type; a key outside the
  project's namespace may not declare `type` or `default` and must give `value`.
- `sdk/go/common/workspace/project.json` (`configTypeDeclaration`, `simpleConfigType`): the
  declaration's fields and the types `string`, `integer`, `boolean`, `array`, `object`.
- `sdk/go/common/workspace/project.go` `RewriteShorthandConfigValues`: a bare string, integer,
  boolean or list is the `default` of a project key (the `value` of another namespace's key).
- `pkg/workspace/config.go` `mergeConfig` (via `ValidateStackConfigAndApplyProjectConfig`): a
  project-namespace key with neither `default` nor `value` that the stack does not set is
  missing ("Stack '<s>' is missing configuration value(s) ..."); otherwise the default/value is
  applied. Then `validateStackConfigValues`/`validateStackConfigValue`: a `secret: true` key
  must be `secure:`, and every explicitly typed key is checked with `ValidateConfigValue`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config.errors import ConfigError
from components.config.stack_file import (
    PROJECT,
    StackFile,
    read_stack_file_document,
    to_pulumi_strings,
)
from components.config.yaml_source import YamlDocument, read_yaml

PROJECT_FILE = "Pulumi.yaml"
CONFIG_TYPES = ("string", "integer", "boolean", "array", "object")
DECLARATION_FIELDS = frozenset({"type", "items", "description", "secret", "default", "value"})
_INTEGER_TEXT = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class Items:
    type: str
    items: Items | None


@dataclass(frozen=True)
class Declaration:
    key: str  # as written in Pulumi.yaml
    full_key: str
    type: str | None
    items: Items | None
    default: Any
    value: Any
    secret: bool
    line: int | None

    @property
    def has_default_or_value(self) -> bool:
        return self.default is not None or self.value is not None


def read_project(project_dir: Path) -> tuple[Declaration, ...]:
    document = read_yaml(project_dir / PROJECT_FILE, PROJECT_FILE)
    data = document.data
    if not isinstance(data, dict):
        raise ConfigError(PROJECT_FILE, "", "the top level must be a mapping", 1)
    if data.get("name") != PROJECT:
        raise ConfigError(PROJECT_FILE, "name", f"must be '{PROJECT}' (got {data.get('name')!r})")
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(PROJECT_FILE, "config", "must be a mapping of config declarations")
    return tuple(_declaration(key, raw, document) for key, raw in config.items())


def _declaration(key: str, raw: Any, document: YamlDocument) -> Declaration:
    line = document.line_of(("config", key))
    namespaced_by_project = ":" not in key or key.startswith(f"{PROJECT}:")
    full_key = key if ":" in key else f"{PROJECT}:{key}"

    def fail(rule: str) -> ConfigError:
        return ConfigError(PROJECT_FILE, key, rule, line)

    if _is_shorthand(raw):
        raw = {"default": raw} if namespaced_by_project else {"value": raw}
    if not isinstance(raw, dict):
        raise fail("must be a value or a declaration {type, description, default, ...}")
    unknown = sorted(set(raw) - DECLARATION_FIELDS)
    if unknown:
        raise fail(
            f"unknown field '{unknown[0]}' (allowed: {', '.join(sorted(DECLARATION_FIELDS))})"
        )
    type_name = raw.get("type")
    if type_name is not None and type_name not in CONFIG_TYPES:
        raise fail(f"type must be one of {', '.join(CONFIG_TYPES)} (got {type_name!r})")
    declaration = Declaration(
        key=key,
        full_key=full_key,
        type=type_name,
        items=_items(raw.get("items"), fail),
        default=raw.get("default"),
        value=raw.get("value"),
        secret=raw.get("secret") is True,
        line=line,
    )
    _validate_declaration(declaration, namespaced_by_project, fail)
    return declaration


def _is_shorthand(raw: Any) -> bool:
    # project.go isPrimitiveValue (string, int, bool) or isArray; floats are not shorthand.
    return isinstance(raw, (str, bool, int, list))


def _items(raw: Any, fail: Any) -> Items | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in CONFIG_TYPES:
        raise fail(f"items must be {{type: {'|'.join(CONFIG_TYPES)}}} (got {raw!r})")
    return Items(raw["type"], _items(raw.get("items"), fail))


def _validate_declaration(declaration: Declaration, namespaced_by_project: bool, fail: Any) -> None:
    """project.go Project.Validate, rule by rule."""
    if declaration.default is not None and declaration.value is not None:
        raise fail("cannot have both a 'default' and 'value' attribute")
    if namespaced_by_project:
        if declaration.type == "array" and declaration.items is None:
            raise fail(
                "declares an array but does not specify the underlying type via the 'items' "
                "attribute"
            )
        if (
            declaration.type is not None
            and declaration.default is not None
            and not validate_config_value(declaration.type, declaration.items, declaration.default)
        ):
            raise fail(
                "the default value is not of the expected type "
                f"'{full_type_name(declaration.type, declaration.items)}'"
            )
        return
    if declaration.type is not None:
        raise fail("is not namespaced by the project and should not define a type")
    if declaration.default is not None:
        raise fail(
            "is not namespaced by the project and should not define a default value; use 'value'"
        )
    if declaration.value is None:
        raise fail("is namespaced and must provide an attribute 'value'")


def full_type_name(type_name: str, items: Items | None) -> str:
    """project.go InferFullTypeName."""
    if items is not None:
        return f"array<{full_type_name(items.type, items.items)}>"
    return type_name


def validate_config_value(type_name: str, items: Items | None, value: Any) -> bool:
    """project.go ValidateConfigValue: what the CLI accepts for each declared type."""
    if type_name == "array":
        return (
            isinstance(value, list)
            and items is not None
            and all(validate_config_value(items.type, items.items, item) for item in value)
        )
    checks = {
        "string": lambda: isinstance(value, str),
        "integer": lambda: _is_integer(value),
        "boolean": lambda: isinstance(value, bool) or value in ("true", "false"),
        "object": lambda: isinstance(value, dict),
    }
    check = checks.get(type_name)
    return check is not None and check()


def _is_integer(value: Any) -> bool:
    # Whole floats pass (YAML numbers reach Go as float64), and so does text that parses.
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and value == math.trunc(value)
    return isinstance(value, str) and _INTEGER_TEXT.match(value) is not None


def check_stack_config(
    stack: str, declarations: tuple[Declaration, ...], stack_file: StackFile
) -> dict[str, Any]:
    """mergeConfig + validateStackConfigValues: the stack's values with the project's applied."""
    merged: dict[str, Any] = dict(stack_file.values)
    missing: list[str] = []
    for declaration in sorted(declarations, key=lambda d: d.key):
        if declaration.full_key in merged:
            continue
        if declaration.has_default_or_value:
            merged[declaration.full_key] = (
                declaration.default if declaration.default is not None else declaration.value
            )
        elif declaration.full_key.startswith(f"{PROJECT}:"):
            missing.append(declaration.key)
    if missing:
        raise ConfigError(stack_file.label, "", _missing_message(stack, missing))
    for declaration in sorted(declarations, key=lambda d: d.key):
        _check_value(stack, declaration, stack_file, merged)
    return merged


def _missing_message(stack: str, missing: list[str]) -> str:
    # config.go missingStackConfigurationKeysError / formatMissingKeys, word for word.
    if len(missing) == 1:
        return f"Stack '{stack}' is missing configuration value '{missing[0]}'"
    quoted = [f"'{key}'" for key in sorted(missing)]
    listed = ", ".join([*quoted[:-2], f"{quoted[-2]} and {quoted[-1]}"])
    return f"Stack '{stack}' is missing configuration values {listed}"


def _check_value(
    stack: str, declaration: Declaration, stack_file: StackFile, merged: Mapping[str, Any]
) -> None:
    key = declaration.full_key
    from_stack = key in stack_file.values
    label = stack_file.label if from_stack else PROJECT_FILE
    line = stack_file.line_of(key) if from_stack else declaration.line
    secure = (key,) in stack_file.secure_paths
    if declaration.secret and not secure:
        raise ConfigError(
            label,
            key,
            f"Stack '{stack}' with configuration key '{declaration.key}' must be encrypted as "
            f"it's secret: pulumi config set --secret {key} <value>",
            line,
        )
    if declaration.type is None or key not in merged:
        return
    if secure:
        # The CLI decrypts first; offline there is no key, and only text can be checked blind.
        if declaration.type != "string":
            raise ConfigError(
                label,
                key,
                f"a secure value cannot be checked against type '{declaration.type}' offline; "
                "declare the key as type string or keep it plain",
                line,
            )
        return
    if not validate_config_value(declaration.type, declaration.items, _as_cli_sees(merged[key])):
        raise ConfigError(
            label,
            key,
            f"Stack '{stack}' with configuration key '{declaration.key}' must be of type "
            f"'{full_type_name(declaration.type, declaration.items)}' "
            f"(got {merged[key]!r})",
            line,
        )


def _as_cli_sees(value: Any) -> Any:
    # A scalar reaches ValidateConfigValue as its text (config.Value holds strings); objects
    # and lists are unmarshalled from JSON, so their numbers stay numbers.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(value)
    if value is None:
        return ""
    return value


def load_stack_config(
    project_dir: Path, stack: str, placeholder: str
) -> tuple[dict[str, str], list[str]]:
    """What `pulumi up` hands the program for `stack`, after the CLI's checks; secrets masked."""
    stack_file = read_stack_file_document(project_dir, stack)
    merged = check_stack_config(stack, read_project(project_dir), stack_file)
    return to_pulumi_strings(merged, stack_file.secure_paths, placeholder)
