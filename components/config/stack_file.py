"""`Pulumi.<stack>.yaml` as the Pulumi CLI reads it: shape, key names and `secure:` values.

The CLI's reading is emulated from pulumi/pulumi `sdk/go/common/workspace/loaders.go`
(`LoadProjectStackBytes`, `stackConfigNamespacedWithProject`: a key without a namespace gets the
project's) and `sdk/go/common/resource/config/key.go` (`ParseKey`: `<namespace>:<name>` or the
old `<namespace>:config:<name>`), and `config/object.go` (`isSecureValue`: a mapping whose only
key is `secure` holding a string is ciphertext; any other value under that key is refused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config.errors import ConfigError
from components.config.yaml_source import Path_, YamlDocument, dotted, read_yaml

PROJECT = "micromart"
# What a stack file may hold besides `config` (pulumi/pulumi workspace.ProjectStack fields).
STACK_FILE_KEYS = frozenset(
    {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}
)


def stack_label(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class StackFile:
    document: YamlDocument
    values: Mapping[str, Any]
    # Where each full key is written (`micromart:cluster` may be written `cluster`).
    written: Mapping[str, str] = field(default_factory=dict)
    # (full key, *path) of every `secure:` value, at any depth (`config set --secret --path`).
    secure_paths: frozenset[Path_] = frozenset()

    @property
    def label(self) -> str:
        return self.document.label

    def line_of(self, full_key: str, *path: str | int) -> int | None:
        written = self.written.get(full_key)
        if written is None:
            return None
        return self.document.line_of(("config", written, *path))

    def is_secret(self, path: Path_) -> bool:
        return any(path[: len(secure)] == secure for secure in self.secure_paths)


def read_stack_file_document(project_dir: Path, stack: str) -> StackFile:
    path = project_dir / stack_label(stack)
    if not path.is_file():
        raise ConfigError(stack_label(stack), "", "no such stack file")
    return parse_stack_document(read_yaml(path, stack_label(stack)))


def parse_stack_document(document: YamlDocument) -> StackFile:
    label, data = document.label, document.data
    if data is None:
        raise ConfigError(label, "", "the file is empty; a stack file holds `config:` values")
    if not isinstance(data, dict):
        raise ConfigError(
            label, "", f"the top level must be a mapping with `config:` (got {_kind(data)})", 1
        )
    for key in data:
        if key not in STACK_FILE_KEYS:
            raise ConfigError(
                label,
                key,
                f"unknown top-level key (a stack file has {', '.join(sorted(STACK_FILE_KEYS))})",
                document.line_of((key,)),
            )
    config = data.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(
            label,
            "config",
            f"must be a mapping of keys to values (got {_kind(config)})",
            document.line_of(("config",)),
        )
    values: dict[str, Any] = {}
    written: dict[str, str] = {}
    secure: list[Path_] = []
    for key, value in config.items():
        full_key = _full_key(key, label, document)
        if full_key in written:
            raise ConfigError(
                label,
                key,
                f"duplicate key: '{written[full_key]}' already sets {full_key}",
                document.line_of(("config", key)),
            )
        written[full_key] = key
        values[full_key] = value
        secure.extend(_secure_paths(value, (full_key,), label, document, key))
    return StackFile(document, values, written, frozenset(secure))


def _full_key(key: str, label: str, document: YamlDocument) -> str:
    parts = key.split(":")
    if len(parts) == 1:
        return f"{PROJECT}:{key}"
    if len(parts) == 2 and all(parts):
        return key
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return f"{parts[0]}:{parts[2]}"
    raise ConfigError(
        label,
        key,
        "could not parse as a configuration key (configuration keys should be of the form "
        "`<namespace>:<name>`)",
        document.line_of(("config", key)),
    )


def _secure_paths(
    value: Any, path: Path_, label: str, document: YamlDocument, written: str
) -> list[Path_]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            ciphertext = value["secure"]
            if not isinstance(ciphertext, str) or not ciphertext.strip():
                raise ConfigError(
                    label,
                    dotted(path),
                    "maps with the single key `secure` are reserved for ciphertext written by "
                    f"`pulumi config set --secret` (got {ciphertext!r})",
                    document.line_of(("config", written, *path[1:])),
                )
            return [path]
        return [
            found
            for key, item in value.items()
            for found in _secure_paths(item, (*path, key), label, document, written)
        ]
    if isinstance(value, list):
        return [
            found
            for index, item in enumerate(value)
            for found in _secure_paths(item, (*path, index), label, document, written)
        ]
    return []


def to_pulumi_strings(
    values: Mapping[str, Any], secure_paths: frozenset[Path_], placeholder: str
) -> tuple[dict[str, str], list[str]]:
    """The string map the engine hands a program, with every `secure:` value replaced."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for full_key, value in values.items():
        config[full_key] = pulumi_string(_replace_secure(value, placeholder))
        if any(path[0] == full_key for path in secure_paths):
            # The engine marks the whole top-level key secret when any part of it is.
            secret_keys.append(full_key)
    return config, secret_keys


def pulumi_string(value: Any) -> str:
    """How the CLI turns a YAML value into config text (config/object.go `MarshalString`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _replace_secure(value: Any, placeholder: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return placeholder
        return {key: _replace_secure(item, placeholder) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_secure(item, placeholder) for item in value]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    return f"{type(value).__name__} {value!r}"
