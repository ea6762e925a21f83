"""The broker's definitions file: vhost, exchanges, queues, users and their permissions.

Pure functions, no Pulumi: the RabbitMQ component feeds them generated passwords and salts inside
one `apply`, and the integration tests load the very same file into a real broker.

Format: RabbitMQ's definitions JSON as `rabbitmqctl export_definitions` writes it (rabbitmq.com
"Schema Definition Export and Import"). A blank node that imports definitions on boot creates
neither the default vhost nor the default user (same page, "Nuances of Boot-time Definition
Import"), so the only users are the ones below.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VHOST = "micromart"
ORDER_EVENTS_EXCHANGE = "orders"
ORDER_PLACED_ROUTING_KEY = "order.placed"
DEAD_LETTER_EXCHANGE = "dead-letter"
MONITORING_USER = "monitoring"
ADMIN_USER = "admin"
# A message redelivered this often (the consumer crashed or rejected it with requeue) is
# dead-lettered instead of looping forever; RabbitMQ 4.x defaults to 20, 3.x to unlimited.
DELIVERY_LIMIT = 5
HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
SALT_BYTES = 4
NOTHING = "^$"


@dataclass(frozen=True)
class Client:
    """What one service may do on the broker: publish to an exchange and/or consume one queue."""

    publishes: str | None = None  # exchange
    publish_keys: str | None = None  # routing-key prefix it may publish with (topic permission)
    consumes: str | None = None  # queue, bound to the order events it needs


# Who publishes and who consumes what. Declarations come from the definitions alone: no service
# may declare, bind or delete anything (configure is nothing for all of them).
CLIENTS: Mapping[str, Client] = {
    "orders": Client(publishes=ORDER_EVENTS_EXCHANGE, publish_keys="order."),
    "inventory": Client(consumes="inventory"),
    "notifications": Client(consumes="notifications"),
}


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead-letter"


def password_hash(password: str, salt: bytes) -> str:
    """What RabbitMQ stores for `password` with `rabbit_password_hashing_sha256`.

    rabbit_password:hash/2 prepends a 4-byte salt to the UTF-8 password, hashes that, and keeps
    salt ++ digest; definitions carry it base64-encoded (rabbitmq-server deps/rabbit/src/
    rabbit_password.erl, `hash/2` and `salted_hash/3`).
    """
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a RabbitMQ password salt is {SALT_BYTES} bytes, got {len(salt)}")
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def _exact(*names: str) -> str:
    """An anchored regex matching exactly these names (RabbitMQ matches permissions with re)."""
    if not names:
        return NOTHING
    return "^(" + "|".join(re.escape(name) for name in sorted(names)) + ")$"


def permissions_of(user: str) -> dict[str, str]:
    """configure/write/read regexes for a user, each anchored so no other name can match."""
    if user == ADMIN_USER:
        return {"configure": ".*", "write": ".*", "read": ".*"}
    if user == MONITORING_USER:
        # Queue depth comes from a passive queue.declare (KEDA's AMQP scaler) or the management
        # API (tag `monitoring`); neither needs read, which would let it take messages.
        return {"configure": NOTHING, "write": NOTHING, "read": NOTHING}
    client = role_of(user)
    writes = [client.publishes] if client.publishes else []
    reads = [client.consumes] if client.consumes else []
    return {"configure": NOTHING, "write": _exact(*writes), "read": _exact(*reads)}


def role_of(service: str) -> Client:
    """A messaging service not in CLIENTS gets a user that may connect and do nothing else."""
    return CLIENTS.get(service, Client())


def users_for(services: Sequence[str]) -> list[str]:
    """The broker's users: one per messaging service, the monitoring user and the admin."""
    clash = {MONITORING_USER, ADMIN_USER} & set(services)
    if clash:
        raise ValueError(f"services {sorted(clash)} would share a name with a broker user")
    return [*sorted(services), MONITORING_USER, ADMIN_USER]


def _quorum_queue(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": VHOST,
        "durable": True,
        "auto_delete": False,
        "arguments": {"x-queue-type": "quorum"},
    }


def _exchange(name: str, kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": VHOST,
        "type": kind,
        "durable": True,
        "auto_delete": False,
        "internal": False,
        "arguments": {},
    }


def _binding(exchange: str, queue: str, key: str) -> dict[str, Any]:
    return {
        "source": exchange,
        "vhost": VHOST,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": key,
        "arguments": {},
    }


def definitions(services: Sequence[str], hashes: Mapping[str, str]) -> dict[str, Any]:
    """The whole definitions document for these messaging services.

    `hashes`: user -> `password_hash(...)` for every user in `users_for(services)`.
    """
    users = users_for(services)
    missing = sorted(set(users) - set(hashes))
    if missing:
        raise ValueError(f"no password hash for {missing}")
    queues = sorted(q for s in services if (q := role_of(s).consumes))
    tags = {MONITORING_USER: ["monitoring"], ADMIN_USER: ["administrator"]}
    # Dead-lettering is set by policy, not queue arguments: a policy can change later, while a
    # queue's arguments are fixed at declaration (rabbitmq.com "Dead Letter Exchanges").
    policies = [
        {
            "vhost": VHOST,
            "name": f"{queue}-dead-letter",
            "pattern": _exact(queue),
            "apply-to": "queues",
            "priority": 0,
            "definition": {
                "dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "dead-letter-routing-key": queue,
                "delivery-limit": DELIVERY_LIMIT,
            },
        }
        for queue in queues
    ]
    topic_permissions = [
        {
            "user": service,
            "vhost": VHOST,
            "exchange": client.publishes,
            "write": "^" + re.escape(client.publish_keys),
            "read": NOTHING,
        }
        for service in sorted(services)
        if (client := role_of(service)).publishes and client.publish_keys
    ]
    return {
        "users": [
            {
                "name": user,
                "password_hash": hashes[user],
                "hashing_algorithm": HASHING_ALGORITHM,
                "tags": tags.get(user, []),
                "limits": {},
            }
            for user in users
        ],
        "vhosts": [{"name": VHOST}],
        "permissions": [{"user": user, "vhost": VHOST, **permissions_of(user)} for user in users],
        "topic_permissions": topic_permissions,
        "parameters": [],
        "global_parameters": [],
        "policies": policies,
        "queues": [_quorum_queue(name) for q in queues for name in (q, dead_letter_queue(q))],
        "exchanges": [
            _exchange(ORDER_EVENTS_EXCHANGE, "topic"),
            _exchange(DEAD_LETTER_EXCHANGE, "direct"),
        ],
        "bindings": [
            *(_binding(ORDER_EVENTS_EXCHANGE, q, ORDER_PLACED_ROUTING_KEY) for q in queues),
            *(_binding(DEAD_LETTER_EXCHANGE, dead_letter_queue(q), q) for q in queues),
        ],
    }


def render(document: Mapping[str, Any]) -> str:
    """Stable text: the same inputs give the same bytes, so the import is skipped when unchanged."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
