"""The broker's definitions: RabbitMQ's own password hashing, least-privilege permissions."""

from __future__ import annotations

import base64
import re

import pytest
import yaml

from components import rabbitmq_definitions as defs
from tests.components.test_rabbitmq import definitions_of
from tests.synthesis import PROJECT_DIR
from tools.synth import SynthResult

SERVICES = ("inventory", "notifications", "orders")


def messaging_services() -> list[str]:
    names = []
    for spec_file in sorted((PROJECT_DIR / "services").glob("*/service.yaml")):
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        if spec.get("rabbitmq"):
            names.append(spec["name"])
    return names


def test_hash_matches_rabbitmqs_own_for_the_documented_guest_user() -> None:
    # rabbitmq.com "Schema Definition Export and Import" shows this hash for password "guest".
    documented = "9/1i+jKFRpbTRV1PtRnzFFYibT3cEpP92JeZ8YKGtflf4e/u"
    salt = base64.b64decode(documented)[:4]
    assert defs.password_hash("guest", salt) == documented
    assert defs.password_hash("guesT", salt) != documented


def test_salt_must_be_four_bytes() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        defs.password_hash("x", b"abc")


def test_one_user_per_messaging_service_plus_monitoring_and_admin(result: SynthResult) -> None:
    users = {u["name"]: u for u in definitions_of(result)["users"]}
    assert sorted(users) == sorted([*messaging_services(), "monitoring", "admin"])
    assert set(messaging_services()) == set(SERVICES)
    for user in users.values():
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        assert len(base64.b64decode(user["password_hash"])) == 4 + 32
    assert users["admin"]["tags"] == ["administrator"]
    assert users["monitoring"]["tags"] == ["monitoring"]
    for service in SERVICES:
        assert users[service]["tags"] == [], "no service may use the management UI or API"
    # Every user has its own salt and password, so no two hashes are alike.
    assert len({u["password_hash"] for u in users.values()}) == len(users)


def permissions(result: SynthResult) -> dict[str, dict[str, str]]:
    entries = definitions_of(result)["permissions"]
    assert all(e["vhost"] == "micromart" for e in entries)
    return {e["user"]: {k: e[k] for k in ("configure", "write", "read")} for e in entries}


def test_each_service_may_only_publish_or_consume_its_own(result: SynthResult) -> None:
    assert permissions(result) == {
        "orders": {"configure": "^$", "write": "^(orders)$", "read": "^$"},
        "inventory": {"configure": "^$", "write": "^$", "read": "^(inventory)$"},
        "notifications": {"configure": "^$", "write": "^$", "read": "^(notifications)$"},
        "monitoring": {"configure": "^$", "write": "^$", "read": "^$"},
        "admin": {"configure": ".*", "write": ".*", "read": ".*"},
    }
    (topic,) = definitions_of(result)["topic_permissions"]
    assert topic == {
        "user": "orders",
        "vhost": "micromart",
        "exchange": "orders",
        "write": r"^order\.",
        "read": "^$",
    }


@pytest.mark.parametrize(
    ("name", "matches"),
    [("inventory", True), ("inventory.dead-letter", False), ("xinventory", False)],
)
def test_permission_regexes_are_anchored(name: str, matches: bool) -> None:
    read = defs.permissions_of("inventory")["read"]
    assert bool(re.search(read, name)) is matches


def test_topology_quorum_queues_bound_to_order_placed_with_dead_letters(
    result: SynthResult,
) -> None:
    document = definitions_of(result)
    queues = {q["name"]: q for q in document["queues"]}
    assert sorted(queues) == [
        "inventory",
        "inventory.dead-letter",
        "notifications",
        "notifications.dead-letter",
    ]
    for queue in queues.values():
        assert queue["arguments"] == {"x-queue-type": "quorum"}
        assert queue["durable"] is True and queue["auto_delete"] is False
    exchanges = {e["name"]: e["type"] for e in document["exchanges"]}
    assert exchanges == {"orders": "topic", "dead-letter": "direct"}
    bindings = {(b["source"], b["routing_key"], b["destination"]) for b in document["bindings"]}
    assert bindings == {
        ("orders", "order.placed", "inventory"),
        ("orders", "order.placed", "notifications"),
        ("dead-letter", "inventory", "inventory.dead-letter"),
        ("dead-letter", "notifications", "notifications.dead-letter"),
    }
    policies = {p["name"]: p for p in document["policies"]}
    assert set(policies) == {"inventory-dead-letter", "notifications-dead-letter"}
    for queue in ("inventory", "notifications"):
        policy = policies[f"{queue}-dead-letter"]
        assert re.fullmatch(policy["pattern"], queue)
        assert not re.search(policy["pattern"], f"{queue}.dead-letter")
        assert policy["definition"] == {
            "dead-letter-exchange": "dead-letter",
            "dead-letter-routing-key": queue,
            "delivery-limit": defs.DELIVERY_LIMIT,
        }
    assert document["vhosts"] == [{"name": "micromart"}]


def test_a_messaging_service_without_a_role_may_do_nothing() -> None:
    assert defs.permissions_of("payments") == {"configure": "^$", "write": "^$", "read": "^$"}
    document = defs.definitions(
        ["orders", "payments"], {u: "h" for u in ["orders", "payments", "monitoring", "admin"]}
    )
    assert {q["name"] for q in document["queues"]} == set()
    with pytest.raises(ValueError, match="share a name"):
        defs.users_for(["orders", "admin"])


def test_rendering_is_stable() -> None:
    hashes = {u: defs.password_hash(u, b"salt") for u in defs.users_for(SERVICES)}
    first = defs.render(defs.definitions(SERVICES, hashes))
    assert first == defs.render(defs.definitions(tuple(reversed(SERVICES)), hashes))
