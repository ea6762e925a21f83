"""The platform's own image (RabbitMQ, rebuilt into ACR): hadolint-clean, pinned, non-root."""

from __future__ import annotations

import re

from components.rabbitmq import IMAGE_CONTEXT, RABBITMQ_UID
from tests.services.test_dockerfiles import NUMERIC_USER, assert_hadolint_clean, parse_stages
from tests.synthesis import PROJECT_DIR

DOCKERFILE = PROJECT_DIR / IMAGE_CONTEXT / "Dockerfile"


def test_rabbitmq_dockerfile_passes_hadolint() -> None:
    assert_hadolint_clean(DOCKERFILE)


def test_rabbitmq_base_is_the_pinned_official_management_image() -> None:
    default = re.search(r"^ARG RABBITMQ_TAG=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert default is not None
    assert re.fullmatch(r"\d+\.\d+\.\d+-management", default.group(1))
    (stage,) = parse_stages(DOCKERFILE)
    assert stage.image == "rabbitmq:${RABBITMQ_TAG}"


def test_rabbitmq_runs_as_the_images_numeric_non_root_user() -> None:
    (stage,) = parse_stages(DOCKERFILE)
    match = NUMERIC_USER.match(stage.args("USER")[-1])
    assert match is not None and match.group(1) == str(RABBITMQ_UID)
    # Checkov CKV_K8S_40: a UID below 10000 may be shared with a user on the node.
    assert RABBITMQ_UID >= 10000
