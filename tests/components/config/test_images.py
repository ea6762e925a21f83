"""`images`: CI hands the program one digest per image; bad digests fail with one clear line."""

from __future__ import annotations

import json

import pytest

from components.config.loader import ConfigError, ProgramConfig, load_program_config
from tests.synthesis import PROJECT_DIR
from tools.synth import read_stack_file

DIGEST = "sha256:" + "ab" * 32
IMAGES = ("catalog", "gateway", "inventory", "notifications", "orders", "rabbitmq")


def _load(images: object, services: object = None) -> ProgramConfig:
    raw = dict(read_stack_file(PROJECT_DIR, "staging").config)
    # CI passes the whole object as JSON text (pulumi/actions config-map sets plain strings).
    raw["micromart:images"] = json.dumps(images)
    if services is not None:
        raw["micromart:services"] = json.dumps(services)
    return load_program_config(raw, "staging", PROJECT_DIR / "services")


def _error(images: object, services: object = None) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(images, services)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Pulumi.staging.yaml: micromart:")
    return message


def test_every_image_by_digest_without_a_tag_is_accepted() -> None:
    config = _load({"build": False, "digests": dict.fromkeys(IMAGES, DIGEST)})
    assert config.stack.images.digests == dict.fromkeys(IMAGES, DIGEST)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "ab" * 31,  # too short
        "sha256:" + "AB" * 32,  # registries print lowercase hex only
        "sha512:" + "ab" * 64,
        "ab" * 32,  # no algorithm
        "sha256:" + "ab" * 32 + "\n",
        f"orders@sha256:{'ab' * 32}",
    ],
)
def test_a_malformed_digest_names_the_image(digest: str) -> None:
    message = _error(
        {"build": False, "digests": dict.fromkeys(IMAGES, DIGEST) | {"orders": digest}}
    )
    assert "micromart:images.digests.orders" in message
    assert "sha256" in message


def test_a_digest_for_an_unknown_image_is_refused() -> None:
    message = _error({"digests": {"order": DIGEST}})
    assert "micromart:images.digests.order: no image named 'order'" in message


def test_build_false_without_tag_needs_a_digest_for_every_image() -> None:
    message = _error({"build": False, "digests": {"orders": DIGEST}})
    assert "micromart:images.digests" in message
    assert "missing: catalog, gateway, inventory, notifications, rabbitmq" in message


def test_a_service_pin_takes_a_tag_or_a_digest_not_both() -> None:
    pinned = _load({}, {"orders": {"image": {"digest": DIGEST}}})
    pin = pinned.service("orders").image
    assert pin is not None and pin.digest == DIGEST
    message = _error({}, {"orders": {"image": {"digest": DIGEST, "tag": "1.0.0"}}})
    assert "micromart:services.orders.image" in message
    assert "exactly one of tag or digest" in message
