"""Read hand-written YAML strictly, keeping where every key sits.

PyYAML's defaults are too forgiving for config: a repeated key silently wins, a second document
is ignored by `safe_load_all` users, `2026-01-01` becomes a date that JSON cannot carry. Here
each of those is an error with the file, line and key path, and the line of every key is kept so
errors found later (by the models) can point at it too. The Go YAML library the Pulumi CLI reads
stack files with (yaml.v3) refuses repeated keys as well ("mapping key ... already defined").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from components.config.errors import ConfigError

Path_ = tuple[str | int, ...]
# Far above any real stack file, far below what an alias bomb expands to.
MAX_VALUES = 100_000
_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_TAG}{name}" for name in ("str", "int", "float", "bool", "null")}
# The YAML 1.2 core schema (spec 1.2.2, section 10.3.2), which the Pulumi CLI's Go YAML library
# (gopkg.in/yaml.v3, resolve.go `resolve`) follows for untyped values such as stack config.
# PyYAML resolves plain scalars by YAML 1.1, where `no`, `on`, `1_000`, `0b1`, `1:30` and `012`
# are booleans or numbers and `1e3` or `0o17` are text.
_CORE_NULL = re.compile(r"null|Null|NULL|~|")
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False}
_CORE_BOOL["FALSE"] = False
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_CORE_SPECIAL_FLOAT = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


@dataclass(frozen=True)
class YamlDocument:
    label: str
    data: Any
    lines: Mapping[Path_, int] = field(default_factory=dict)
    # The source text of unquoted scalars that YAML turned into numbers or booleans (`1.30`).
    texts: Mapping[Path_, str] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor written in the file."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def read_yaml(path: Path, label: str) -> YamlDocument:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(label, "", f"cannot read the file ({error.strerror})") from None
    return parse_yaml(raw, label)


def parse_yaml(raw: bytes, label: str) -> YamlDocument:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            label,
            "",
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
            "save the file as UTF-8",
            line=raw.count(b"\n", 0, error.start) + 1,
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(label, None)
        walker = _Walker(label, loader)
        walker.walk(node, ())
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(label, error) from None
    except yaml.YAMLError as error:
        raise ConfigError(label, "", f"not valid YAML ({error})") from None
    finally:
        loader.dispose()
    return YamlDocument(label, data, walker.lines, walker.texts)


def _syntax_error(label: str, error: yaml.MarkedYAMLError) -> ConfigError:
    mark = error.problem_mark or error.context_mark
    problem = " ".join(part for part in (error.context, error.problem) if part)
    if mark is None:
        return ConfigError(label, "", f"not valid YAML: {problem}")
    return ConfigError(
        label, "", f"not valid YAML at column {mark.column + 1}: {problem}", line=mark.line + 1
    )


class _Walker:
    """Checks the node tree before it is built into Python values, recording positions."""

    def __init__(self, label: str, loader: yaml.SafeLoader) -> None:
        self.label = label
        # The loader that builds the document: what it makes of a scalar is the YAML 1.1 reading.
        self._loader = loader
        self.lines: dict[Path_, int] = {}
        self.texts: dict[Path_, str] = {}
        self._sizes: dict[int, int] = {}

    def walk(self, node: Node, path: Path_) -> int:
        # Aliases share nodes: size each node once, so an alias bomb is measured, not expanded.
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        self._sizes[id(node)] = 1
        if isinstance(node, MappingNode):
            size = 1 + self._mapping(node, path)
        elif isinstance(node, SequenceNode):
            size = 1 + sum(
                self._item(item, (*path, index), item.start_mark.line + 1)
                for index, item in enumerate(node.value)
            )
        else:
            self._scalar(node, path)
            size = 1
        if size > MAX_VALUES:
            raise self._error(path, f"expands to more than {MAX_VALUES} values", node)
        self._sizes[id(node)] = size
        return size

    def _item(self, node: Node, path: Path_, line: int) -> int:
        self.lines.setdefault(path, line)
        return self.walk(node, path)

    def _mapping(self, node: MappingNode, path: Path_) -> int:
        seen: dict[str, int] = {}
        size = 0
        for key_node, value_node in node.value:
            key = self._key(key_node, path)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self._error(
                    (*path, key), f"duplicate key (first written at line {seen[key]})", key_node
                )
            seen[key] = line
            size += self._item(value_node, (*path, key), line)
        return size

    def _key(self, node: Node, path: Path_) -> str:
        if node.tag == f"{_TAG}merge":
            raise self._error(path, "YAML merge keys (<<) are not supported: write keys out", node)
        if not isinstance(node, ScalarNode) or node.tag != f"{_TAG}str":
            shown = node.value if isinstance(node, ScalarNode) else "a collection"
            raise self._error(path, f"keys must be text (got {shown}); quote the key", node)
        return str(node.value)

    def _scalar(self, node: Node, path: Path_) -> None:
        if not isinstance(node, ScalarNode):
            return
        if node.tag not in _PLAIN_TAGS:
            kind = node.tag.removeprefix(_TAG)
            raise self._error(
                path, f"'{node.value}' is read as a YAML {kind}; quote it to keep it text", node
            )
        if node.tag == f"{_TAG}float" and not math.isfinite(float(_yaml_float(node.value))):
            raise self._error(path, f"'{node.value}' is not a finite number", node)
        if node.style is None:
            legacy = self._loader.construct_object(node)
            if not _same_value(legacy, core_schema_value(node.value)):
                raise self._error(path, _ambiguity_rule(node.value, legacy), node)
        if node.style is None and node.tag != f"{_TAG}str":
            self.texts[path] = str(node.value)

    def _error(self, path: Path_, rule: str, node: Node) -> ConfigError:
        return ConfigError(self.label, dotted(path), rule, line=node.start_mark.line + 1)


def core_schema_value(text: str) -> Any:
    """What an unquoted scalar means under the YAML 1.2 core schema."""
    if _CORE_NULL.fullmatch(text):
        return None
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT.fullmatch(text):
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)
    if _CORE_FLOAT.fullmatch(text) or _CORE_SPECIAL_FLOAT.fullmatch(text):
        return _yaml_float(text)
    return text


def _same_value(legacy: Any, core: Any) -> bool:
    # One file, two readers: the synth (PyYAML, YAML 1.1) and the Pulumi CLI (YAML 1.2). A value
    # they read differently would pass offline and be another value, or a type error, in a real
    # `up`.
    if type(core) is not type(legacy):
        return False
    if isinstance(core, float) and math.isnan(core):
        return math.isnan(legacy)
    return bool(core == legacy)


def _ambiguity_rule(text: str, legacy: Any) -> str:
    core = core_schema_value(text)
    if isinstance(legacy, bool):
        fix = f"write {str(legacy).lower()}"
    elif isinstance(legacy, int | float):
        fix = f"write {legacy}"
    else:
        fix = f"write {core!r} as a plain decimal number"
    return (
        f"'{text}' is {legacy!r} in YAML 1.1 but {core!r} in YAML 1.2, which the Pulumi CLI "
        f"reads: {fix} if that is what you mean, or quote it to keep it text"
    )


def _yaml_float(text: str) -> float:
    lowered = text.lower().replace("_", "")
    if lowered.lstrip("+-") in {".inf"}:
        return math.inf
    if lowered == ".nan":
        return math.nan
    try:
        return float(lowered)
    except ValueError:
        return 0.0  # sexagesimal and other YAML 1.1 forms: finite


def dotted(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
