"""What each broker user may and may not do, against a real RabbitMQ with the rendered definitions.

Every refusal is the broker's own: a channel closed with 403 ACCESS_REFUSED, or a login refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest

from tests.integration.messaging import rabbitmq_server
from tests.integration.messaging.conftest import Messaging

ACCESS_REFUSED = 403
SERVICES = ("orders", "inventory", "notifications")
QUEUES = ("inventory", "notifications")


def refused(messaging: Messaging, user: str, action: Callable[[Any], object]) -> None:
    """`action(channel)` as `user` must close the channel with ACCESS_REFUSED."""
    connection = messaging.connect(user)
    try:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as caught:
            action(channel)
            # A publish is asynchronous: a round trip makes the broker's answer arrive.
            channel.basic_qos(prefetch_count=1)
        assert caught.value.reply_code == ACCESS_REFUSED, caught.value
    finally:
        if connection.is_open:
            connection.close()


def publish(exchange: str, key: str = "order.placed") -> Callable[[Any], object]:
    return lambda channel: channel.basic_publish(exchange, key, b"{}")


def test_broker_starts_quickly(messaging: Messaging) -> None:
    # Reported by the session (README "Operations: RabbitMQ"); a regression here costs every run.
    print(f"RabbitMQ node ready in {messaging.broker.start_seconds:.1f} s")
    assert messaging.broker.start_seconds < 30


@pytest.mark.parametrize("user", [*SERVICES, "monitoring", "admin"])
def test_every_user_logs_in_with_the_password_key_vault_holds(
    messaging: Messaging, user: str
) -> None:
    connection = messaging.connect(user)
    assert connection.is_open
    connection.close()


@pytest.mark.parametrize("user", [*SERVICES, "monitoring", "admin"])
def test_a_wrong_password_is_refused(messaging: Messaging, user: str) -> None:
    wrong = messaging.passwords[user][:-1] + ("x" if messaging.passwords[user][-1] != "x" else "y")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        messaging.connect(user, wrong)


@pytest.mark.parametrize(("user", "password"), [("guest", "guest"), ("micromart", "micromart")])
def test_default_and_former_shared_users_do_not_exist(
    messaging: Messaging, user: str, password: str
) -> None:
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        messaging.connect(user, password)


@pytest.mark.parametrize("queue", [*QUEUES, "inventory.dead-letter"])
def test_orders_cannot_read_any_queue(messaging: Messaging, queue: str) -> None:
    refused(messaging, "orders", lambda channel: channel.basic_get(queue))


@pytest.mark.parametrize(
    ("exchange", "key"),
    [("", "inventory"), ("amq.topic", "order.placed"), ("dead-letter", "inventory")],
)
def test_orders_may_publish_only_to_its_exchange(
    messaging: Messaging, exchange: str, key: str
) -> None:
    refused(messaging, "orders", publish(exchange, key))


def test_orders_may_publish_only_order_routing_keys(messaging: Messaging) -> None:
    # Topic permission: the exchange is orders', but not every routing key on it.
    refused(messaging, "orders", publish("orders", "inventory.restock"))


@pytest.mark.parametrize("user", ["inventory", "notifications", "monitoring"])
def test_only_orders_may_publish_order_events(messaging: Messaging, user: str) -> None:
    refused(messaging, user, publish("orders"))


@pytest.mark.parametrize(
    ("user", "queue"),
    [
        ("notifications", "inventory"),
        ("inventory", "notifications"),
        ("inventory", "inventory.dead-letter"),
        ("notifications", "notifications.dead-letter"),
    ],
)
def test_a_consumer_cannot_read_another_queue(messaging: Messaging, user: str, queue: str) -> None:
    refused(messaging, user, lambda channel: channel.basic_get(queue))
    refused(
        messaging,
        user,
        lambda channel: channel.basic_consume(queue, lambda *_: None, auto_ack=False),
    )


DECLARATIONS: dict[str, Callable[[Any], object]] = {
    "declare a queue": lambda channel: channel.queue_declare("sneaky", durable=True),
    "declare an exchange": lambda channel: channel.exchange_declare("sneaky", "fanout"),
    "delete a queue": lambda channel: channel.queue_delete("inventory"),
    "delete the exchange": lambda channel: channel.exchange_delete("orders"),
    "bind a queue": lambda channel: channel.queue_bind("notifications", "orders", "#"),
}


@pytest.mark.parametrize("user", [*SERVICES, "monitoring"])
@pytest.mark.parametrize("what", sorted(DECLARATIONS))
def test_no_service_may_declare_bind_or_delete(messaging: Messaging, user: str, what: str) -> None:
    refused(messaging, user, DECLARATIONS[what])


def test_monitoring_reads_queue_depth_but_never_messages(messaging: Messaging) -> None:
    # KEDA's AMQP scaler: a passive queue.declare, whose answer carries the ready count.
    admin = messaging.connect("admin")
    try:
        admin.channel().basic_publish(
            "orders", "order.placed", json.dumps({"order_id": 0}).encode()
        )
    finally:
        admin.close()
    connection = messaging.connect("monitoring")
    try:
        declared = connection.channel().queue_declare("inventory", passive=True)
        assert declared.method.message_count >= 1
    finally:
        connection.close()
    refused(messaging, "monitoring", lambda channel: channel.basic_get("inventory"))
    # Clean up: the apps' tests expect empty queues.
    admin = messaging.connect("admin")
    try:
        channel = admin.channel()
        for queue in QUEUES:
            channel.queue_purge(queue)
    finally:
        admin.close()


def test_a_missing_broker_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rabbitmq_server, "SERVER_SCRIPTS", ("/nonexistent/rabbitmq-server",))
    with pytest.raises(rabbitmq_server.MissingBrokerError) as caught:
        rabbitmq_server.server_script()
    assert "apt-get install -y --no-install-recommends rabbitmq-server" in str(caught.value)
