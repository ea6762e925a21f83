"""The checked-in JSON Schema matches the models and accepts every real service spec."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.synthesis import PROJECT_DIR
from tools import schema


def test_checked_in_schema_is_current() -> None:
    assert (PROJECT_DIR / schema.SCHEMA_PATH).read_text() == schema.render(), "run `make schema`"


def test_stale_schema_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "service.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(schema, "SCHEMA_PATH", stale)
    assert schema.main([]) == 1
    assert schema.main(["--write"]) == 0
    assert schema.main([]) == 0


@pytest.mark.parametrize(
    "spec_path", sorted(PROJECT_DIR.glob("services/*/service.yaml")), ids=lambda p: p.parent.name
)
def test_every_service_spec_validates_against_the_schema(spec_path: Path) -> None:
    document = json.loads(schema.render())
    jsonschema.validate(yaml.safe_load(spec_path.read_text()), document)


def test_schema_rejects_unknown_keys() -> None:
    document = json.loads(schema.render())
    spec = yaml.safe_load((PROJECT_DIR / "services/orders/service.yaml").read_text())
    spec["replica"] = 3
    with pytest.raises(jsonschema.ValidationError, match="replica"):
        jsonschema.validate(spec, document)
