"""Components whose Kubernetes objects the provider creates: expand them offline, or say we can't.

The policy pack only sees what is registered. Under the real engine:
- `kubernetes:yaml:ConfigFile` / `ConfigGroup` (v1) are SDK-side components: the Python SDK calls
  the `kubernetes:yaml:decode` invoke and registers one resource per object itself
  (pulumi_kubernetes/yaml/yaml.py, `_invoke_yaml_decode_async` and `_parse_yaml_object`), so
  answering that invoke like the provider does is enough (`decode_yaml`).
- `kubernetes:yaml/v2:ConfigFile` / `ConfigGroup` are provider-side (remote) components: the
  provider reads the files, decodes every document and registers each object as a child
  (pulumi-kubernetes provider/pkg/provider/yaml/v2/configfile.go and configgroup.go `Construct`,
  yaml.go `Parse`, `expand` and `register`). Mocks never run `Construct`, so `yaml_v2_children`
  rebuilds those children with the provider's names and types, and the recorder registers them.
- Helm charts (v3 `Chart`, v4 `Chart`) and kustomize directories need helm/kustomize and often
  the network; a helm `Release` installs its objects without ever registering them, even under
  the real engine. None of them can be seen here: `not_checked` lists them for policy.json.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

__all__ = [
    "YAML_V2_TYPES",
    "Child",
    "OpaqueError",
    "decode_yaml",
    "not_checked",
    "type_token",
    "yaml_v2_children",
]

YAML_V2_CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
YAML_V2_CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
YAML_V2_TYPES = frozenset({YAML_V2_CONFIG_FILE, YAML_V2_CONFIG_GROUP})
# Invokes the SDK makes for components the mocks cannot render; an empty result keeps the
# program running, and `not_checked` reports the component.
UNRENDERABLE_INVOKES = frozenset({"kubernetes:helm:template", "kubernetes:kustomize:directory"})
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class OpaqueError(ValueError):
    """A manifest the provider would refuse (bad YAML, no kind/apiVersion/name)."""


@dataclass(frozen=True)
class Child:
    """One object the provider would register under a yaml/v2 component."""

    type: str
    name: str
    inputs: dict[str, Any]
    secret_keys: tuple[str, ...]  # top-level inputs the provider marks secret (Secret data)


def decode_yaml(text: str) -> list[dict[str, Any]]:
    """The `kubernetes:yaml:decode` invoke: every non-empty document, in order."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise OpaqueError(f"decoding YAML: {error}") from None
    decoded = []
    for document in documents:
        if document in (None, {}):
            continue  # the provider skips empty documents
        if not isinstance(document, dict):
            raise OpaqueError(f"decoding YAML: a document is a {type(document).__name__}")
        decoded.append(document)
    return decoded


def type_token(api_version: str, kind: str) -> str:
    """The token the SDK registers for apiVersion/kind ("v1" is the "core" group)."""
    group_version = f"core/{api_version}" if "/" not in api_version else api_version
    return f"kubernetes:{group_version}:{kind}"


def _is_url(reference: str) -> bool:
    return bool(urlparse(reference).scheme) and "://" in reference


def _has_unknown(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return isinstance(value, str) and value == _UNKNOWN


def _read_files(files: Iterable[Any], *, use_glob: bool, base: Path) -> list[str]:
    texts = []
    for file in files:
        reference = str(file)
        matches = [reference]
        if use_glob and glob.has_magic(reference):
            # filepath.Glob, sorted, relative to the program directory; no match reads nothing.
            matches = sorted(glob.glob(reference, root_dir=base))
        for match in matches:
            path = base / match
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except OSError as error:
                raise OpaqueError(f"reading YAML file from disk: {error}") from None
    return texts


def _expand_lists(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `kind: List` (and every *List) is flattened into its items, as yaml.go `expand` does.
    flat: list[dict[str, Any]] = []
    pending = list(objects)
    while pending:
        obj = pending.pop(0)
        kind = obj.get("kind")
        if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
            pending = [dict(item) for item in obj["items"]] + pending
            continue
        flat.append(obj)
    return flat


def _child(obj: Mapping[str, Any], prefix: str) -> Child:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise OpaqueError(f"Kubernetes resources require a kind and apiVersion: {dict(obj)!r:.100}")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(name, str) or not name:
        raise OpaqueError(f"Kubernetes resources require a .metadata.name: {dict(obj)!r:.100}")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    resource_name = f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name
    if prefix:
        resource_name = f"{prefix}:{resource_name}"
    secret = ("data", "stringData") if f"{api_version}/{kind}" == "v1/Secret" else ()
    return Child(
        type=type_token(api_version, kind),
        name=resource_name,
        inputs=dict(obj),
        secret_keys=tuple(key for key in secret if key in obj),
    )


def yaml_v2_children(
    component_type: str, component_name: str, inputs: Mapping[str, Any], base: Path
) -> list[Child]:
    """What Construct would register for a yaml/v2 component ([] when it cannot be known here).

    Files, then the `yaml` literal, then `objs`; `resourcePrefix` defaults to the component name
    (an explicit "" means no prefix). Dependency ordering between children is not reproduced.
    """
    if component_type not in YAML_V2_TYPES or _unexpandable(component_type, inputs):
        return []
    if component_type == YAML_V2_CONFIG_FILE:
        texts = _read_files([inputs.get("file", "")], use_glob=False, base=base)
    else:
        texts = _read_files(inputs.get("files") or [], use_glob=True, base=base)
        texts.append(str(inputs.get("yaml") or ""))
    objects = [obj for text in texts for obj in decode_yaml(text)]
    if component_type == YAML_V2_CONFIG_GROUP:
        objects.extend(dict(obj) for obj in inputs.get("objs") or [] if isinstance(obj, Mapping))
    prefix = inputs.get("resourcePrefix")
    prefix = component_name if prefix is None else str(prefix)
    return [_child(obj, prefix) for obj in _expand_lists(objects)]


def _unexpandable(component_type: str, inputs: Mapping[str, Any]) -> str | None:
    """Why the synth cannot expand this yaml/v2 component, or None."""
    if _has_unknown(dict(inputs)):
        return "its inputs are unknown until deployment"
    files = [inputs.get("file")] if component_type == YAML_V2_CONFIG_FILE else inputs.get("files")
    urls = [str(f) for f in files or [] if isinstance(f, str) and _is_url(f)]
    if urls:
        return f"the provider downloads {', '.join(urls)} at deployment (no network offline)"
    return None


def not_checked(resources: Iterable[Any]) -> list[dict[str, str]]:
    """Components whose objects the policy pack never saw, with the reason (for policy.json).

    `resources` are RecordedResources (anything with urn, type and plain_inputs()).
    """
    found = []
    for resource in resources:
        reason = _opaque_reason(resource.type, resource.plain_inputs())
        if reason:
            found.append({"urn": resource.urn, "type": resource.type, "reason": reason})
    return sorted(found, key=lambda item: item["urn"])


def _opaque_reason(resource_type: str, inputs: Mapping[str, Any]) -> str | None:
    if resource_type.startswith("kubernetes:helm.sh/"):
        if resource_type.endswith(":Release"):
            return "helm installs the release's objects itself; no policy ever sees them"
        return "the chart is rendered by helm at deployment; helm is not run offline"
    if resource_type.startswith("kubernetes:kustomize"):
        return "the directory is rendered by kustomize at deployment; kustomize is not run offline"
    if resource_type in YAML_V2_TYPES:
        return _unexpandable(resource_type, inputs)
    return None
