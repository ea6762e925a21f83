"""Export the service spec's JSON Schema so editors can check `services/*/service.yaml`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components.config.service_spec import ServiceSpec

SCHEMA_PATH = Path("services/service.schema.json")


def render() -> str:
    schema = ServiceSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "MicroMart service spec (services/<name>/service.yaml)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the checked-in schema")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_PATH.write_text(render(), encoding="utf-8")
        return 0
    if SCHEMA_PATH.read_text(encoding="utf-8") != render():
        print(f"{SCHEMA_PATH} is stale: run `make schema`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
