"""policy/rules/secrets.py: fixture cases (cases/secrets.yaml) plus the detectors."""

from __future__ import annotations

from typing import Any

import pytest

from policy.rules import secrets
from policy.rules.secrets import key_is_secret, secret_reason

CASES = "secrets"


def test_policy_case(case: Any, run_case: Any) -> None:
    run_case(case, secrets.POLICIES)


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("DB_PASSWORD", True),
        ("apiKey", True),
        ("erlangCookie", True),
        ("RABBITMQ_ERLANG_COOKIE", True),
        ("client-secret", True),
        ("TLS_SECRET_NAME", False),
        ("AUTH_TOKEN_URL", False),
        ("partitionKey", False),
        ("monkey", False),
    ],
)
def test_key_is_secret(key: str, secret: bool) -> None:
    assert key_is_secret(key) is secret


@pytest.mark.parametrize(
    "value",
    [
        "micromartprod.azurecr.io/orders@sha256:" + "a" * 64,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "3f1c2a4e-8d5b-4c7a-9e21-6b0d4f8a1c35",
        "https://auth.micromart.com/realms/shop?client=orders",
        "default_queue_type = quorum\nqueue_leader_locator = balanced\n",
        "DATABASE_URL,RABBITMQ_URL,UPSTREAM_CATALOG_URL,UPSTREAM_INVENTORY_URL",
    ],
)
def test_real_stack_values_are_not_secrets(value: str) -> None:
    assert secret_reason("VALUE", value) is None
