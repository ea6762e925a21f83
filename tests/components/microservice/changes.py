"""The edits of the independent-deployment cases: each changes the catalog service only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.components.microservice.objects import set_service_override
from tests.components.microservice.sources import DIGEST, login_server
from tests.synthesis import (
    edit_yaml,
)


def touch_catalog_source(project: Path) -> None:
    main = project / "services" / "catalog" / "app" / "main.py"
    main.write_text(main.read_text(encoding="utf-8") + "\n# a source change\n", encoding="utf-8")


def raise_catalog_memory_limit(project: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["resources"]["limits"]["memory"] = "768Mi"

    edit_yaml(project / "services" / "catalog" / "service.yaml", edit)


def pin_catalog_image(config: dict[str, Any]) -> None:
    set_service_override(config, "catalog", "image", {"tag": "2.0.1"})


# Distinct values, so two settings wired to each other's field cannot pass.
CATALOG_OUTLIER_DETECTION = {
    "consecutive5xxErrors": 7,
    "intervalSeconds": 10,
    "baseEjectionSeconds": 45,
    "maxEjectionPercent": 30,
}


def tune_catalog_outlier_detection(project: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec.setdefault("traffic", {})["outlierDetection"] = dict(CATALOG_OUTLIER_DETECTION)

    edit_yaml(project / "services" / "catalog" / "service.yaml", edit)


def set_catalog_env(config: dict[str, Any]) -> None:
    set_service_override(config, "catalog", "env", {"FEATURE_FLAG": "on"})


StackEdit = Callable[[dict[str, Any]], None]


ProjectEdit = Callable[[Path], None]


Visible = Callable[[dict[str, Any], dict[str, Any]], object]


INDEPENDENCE_CASES: dict[str, tuple[StackEdit | None, ProjectEdit | None, Visible]] = {
    # change -> (stack edit, project edit, what must visibly differ in catalog's Deployment)
    "image-source": (
        None,
        touch_catalog_source,
        lambda before, after: before["image"] != after["image"] and DIGEST.search(after["image"]),
    ),
    "spec-memory-limit": (
        None,
        raise_catalog_memory_limit,
        lambda _, after: after["resources"]["limits"]["memory"] == "768Mi",
    ),
    "stack-image-pin": (
        pin_catalog_image,
        None,
        lambda _, after: after["image"] == f"{login_server('production')}/catalog:2.0.1",
    ),
    # Config reaches the pod through envFrom, so the container itself stays the same; the
    # ConfigMap and the pod template's config hash change (test_workload checks both).
    "stack-env": (set_catalog_env, None, lambda before, after: before == after),
    # Routing lives in the DestinationRule; the pod is untouched (test_traffic checks the rule).
    "spec-outlier-detection": (
        None,
        tune_catalog_outlier_detection,
        lambda before, after: before == after,
    ),
}
