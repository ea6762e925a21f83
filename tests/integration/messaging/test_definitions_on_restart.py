"""A rotated password reaches the broker by restarting it on its data with the new definitions.

This is the README's rotation procedure (Operations: RabbitMQ): the program re-renders the
definitions Secret and rolls the StatefulSet; a node then re-imports the changed file at boot.
RabbitMQ's docs say a boot-time import "will not overwrite anything already in the broker"; for
users it does replace the password hash, and this test is what shows it (on Debian's 3.10).
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from components.rabbitmq_definitions import password_hash
from tests.integration.messaging.conftest import MESSAGING_NS, Messaging, definitions_settings
from tests.integration.messaging.rabbitmq_server import running_broker
from tests.synthesis import kube_object
from tools.synth import SynthResult


def logs_in(port: int, user: str, password: str) -> bool:
    parameters = pika.ConnectionParameters(
        "127.0.0.1",
        port,
        "micromart",
        pika.PlainCredentials(user, password),
        connection_attempts=1,
    )
    try:
        pika.BlockingConnection(parameters).close()
    except pika.exceptions.ProbableAuthenticationError:
        return False
    return True


def test_a_rotated_password_replaces_the_old_one_when_the_node_restarts(
    staging: SynthResult, messaging: Messaging
) -> None:
    rendered = kube_object(staging, "Secret", "rabbitmq-credentials", MESSAGING_NS)
    document = json.loads(rendered["stringData"]["definitions.json"])
    passwords = messaging.passwords
    with tempfile.TemporaryDirectory(prefix="micromart-rabbitmq-rotate-") as folder:
        root = Path(folder)
        definitions = root / "definitions.json"
        definitions.write_text(json.dumps(document))
        settings = definitions_settings(staging)
        node = f"rotate-{root.name[-6:].lower()}@localhost"
        with running_broker(root / "node", definitions, settings, node) as broker:
            assert logs_in(broker.amqp_port, "inventory", passwords["inventory"])
            admin = pika.BlockingConnection(
                pika.ConnectionParameters(
                    "127.0.0.1",
                    broker.amqp_port,
                    "micromart",
                    pika.PlainCredentials("admin", passwords["admin"]),
                )
            )
            channel = admin.channel()
            channel.confirm_delivery()
            channel.basic_publish(
                "orders", "order.placed", b"{}", pika.BasicProperties(delivery_mode=2)
            )
            admin.close()
        (user,) = [u for u in document["users"] if u["name"] == "inventory"]
        salt = base64.b64decode(user["password_hash"])[:4]
        user["password_hash"] = password_hash("rotated-inventory-password", salt)
        definitions.write_text(json.dumps(document))
        with running_broker(root / "node", definitions, settings, node) as broker:
            port = broker.amqp_port
            assert not logs_in(port, "inventory", passwords["inventory"])
            assert logs_in(port, "inventory", "rotated-inventory-password")
            assert logs_in(port, "orders", passwords["orders"]), "other users are untouched"
            admin = pika.BlockingConnection(
                pika.ConnectionParameters(
                    "127.0.0.1",
                    port,
                    "micromart",
                    pika.PlainCredentials("admin", passwords["admin"]),
                )
            )
            declared = admin.channel().queue_declare("inventory", passive=True)
            admin.close()
            # The same node on the same data: the message published before the restart is there.
            assert declared.method.message_count == 1
