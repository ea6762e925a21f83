"""tools/opaque.py: yaml/v2 children named and typed as the provider registers them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools.opaque import OpaqueError, decode_yaml, not_checked, type_token, yaml_v2_children

POD = """
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: apps}
spec: {containers: [{name: c, image: i}]}
"""
LIST = """
---
apiVersion: v1
kind: List
items:
  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
  - {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: apps}, stringData: {k: v}}
---
"""


def test_decode_skips_empty_documents_and_refuses_garbage() -> None:
    assert decode_yaml("---\n---\n" + POD + "---\n{}\n") == [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "apps"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        }
    ]
    with pytest.raises(OpaqueError, match="decoding YAML"):
        decode_yaml("- just\n- a list\n")
    with pytest.raises(OpaqueError, match="decoding YAML"):
        decode_yaml("a: [unclosed\n")


def test_type_tokens() -> None:
    assert type_token("v1", "Pod") == "kubernetes:core/v1:Pod"
    assert type_token("apps/v1", "Deployment") == "kubernetes:apps/v1:Deployment"
    assert (
        type_token("argoproj.io/v1alpha1", "Rollout") == "kubernetes:argoproj.io/v1alpha1:Rollout"
    )


def test_config_file_children_use_the_component_name_as_prefix(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(POD + "---" + LIST, encoding="utf-8")
    children = yaml_v2_children("kubernetes:yaml/v2:ConfigFile", "cf", {"file": "m.yaml"}, tmp_path)
    assert [(c.type, c.name, c.secret_keys) for c in children] == [
        ("kubernetes:core/v1:Pod", "cf:apps/p", ()),
        ("kubernetes:apps/v1:Deployment", "cf:d", ()),
        ("kubernetes:core/v1:Secret", "cf:apps/s", ("stringData",)),
    ]


def test_config_group_files_glob_yaml_and_objs_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(POD.replace("name: p", "name: b"), encoding="utf-8")
    (tmp_path / "a.yaml").write_text(POD.replace("name: p", "name: a"), encoding="utf-8")
    inputs: dict[str, Any] = {
        "files": ["*.yaml"],
        "yaml": POD,
        "objs": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
        "resourcePrefix": "",
    }
    children = yaml_v2_children("kubernetes:yaml/v2:ConfigGroup", "cg", inputs, tmp_path)
    assert [c.name for c in children] == ["apps/a", "apps/b", "apps/p", "c"]


def test_objects_the_provider_refuses(tmp_path: Path) -> None:
    with pytest.raises(OpaqueError, match="kind and apiVersion"):
        yaml_v2_children("kubernetes:yaml/v2:ConfigGroup", "g", {"yaml": "metadata: {}"}, tmp_path)
    with pytest.raises(OpaqueError, match=r"\.metadata\.name"):
        yaml_v2_children(
            "kubernetes:yaml/v2:ConfigGroup", "g", {"yaml": "apiVersion: v1\nkind: Pod"}, tmp_path
        )
    with pytest.raises(OpaqueError, match="reading YAML file"):
        yaml_v2_children("kubernetes:yaml/v2:ConfigFile", "f", {"file": "missing.yaml"}, tmp_path)


@dataclass(frozen=True)
class _Recorded:
    urn: str
    type: str
    inputs: dict[str, Any]

    def plain_inputs(self) -> dict[str, Any]:
        return self.inputs


def test_what_cannot_be_seen_offline_is_listed(tmp_path: Path) -> None:
    remote = {"file": "https://example.com/m.yaml"}
    assert yaml_v2_children("kubernetes:yaml/v2:ConfigFile", "f", remote, tmp_path) == []
    resources = [
        _Recorded("u:release", "kubernetes:helm.sh/v3:Release", {"chart": "nginx"}),
        _Recorded("u:chart4", "kubernetes:helm.sh/v4:Chart", {}),
        _Recorded("u:kustomize", "kubernetes:kustomize/v2:Directory", {}),
        _Recorded("u:remote", "kubernetes:yaml/v2:ConfigFile", remote),
        _Recorded("u:local", "kubernetes:yaml/v2:ConfigFile", {"file": "m.yaml"}),
        _Recorded("u:pod", "kubernetes:core/v1:Pod", {}),
    ]
    listed = {item["urn"]: item["reason"] for item in not_checked(resources)}
    assert sorted(listed) == ["u:chart4", "u:kustomize", "u:release", "u:remote"]
    assert "no policy ever sees them" in listed["u:release"]
    assert "https://example.com/m.yaml" in listed["u:remote"]
