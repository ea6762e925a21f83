"""Orders: accepts and lists orders (kept in memory per replica; readiness gates config).

Each stored order is announced as an OrderPlaced event on the `orders` exchange (routing key
`order.placed`), which the inventory and notifications queues are bound to.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Mapping

from micromart_runtime import ReadinessCheck, Reply, Request, json_reply, log, serve
from micromart_runtime.broker import BROKER_ERRORS, Publisher, Settings

EXCHANGE = "orders"
ORDER_PLACED = "order.placed"

_orders: list[dict[str, object]] = []
_lock = threading.Lock()
_ids = itertools.count(1)


def _place(request: Request) -> Reply:
    try:
        order = json.loads(request.body)
        sku, quantity = order["sku"], order["quantity"]
    except (ValueError, TypeError, KeyError):
        return json_reply(400, {"error": 'expected JSON {"sku": str, "quantity": int}'})
    if not (isinstance(sku, str) and sku and type(quantity) is int and quantity > 0):
        return json_reply(400, {"error": "sku must be a non-empty string, quantity a positive int"})
    with _lock:
        placed = {
            "id": next(_ids),
            "sku": sku,
            "quantity": quantity,
            "status": "pending",
        }
        _orders.append(placed)
    log.info("order placed", extra={"fields": {"order_id": placed["id"], "sku": sku}})
    announce(placed)
    return json_reply(201, placed)


class _Events:
    """The broker connection, once configured (None: no RABBITMQ_HOST, nothing is announced)."""

    publisher: Publisher | None = None


def order_placed(order: Mapping[str, object]) -> dict[str, object]:
    return {
        "type": "OrderPlaced",
        "order_id": order["id"],
        "sku": order["sku"],
        "quantity": order["quantity"],
    }


def announce(order: Mapping[str, object]) -> None:
    """Publish OrderPlaced for an order that is already stored (never for one that is not).

    A failure is logged, not returned to the client: the order exists, and a retried POST would
    place it twice. Closing that gap needs an outbox table (README, Operations: RabbitMQ).
    """
    publisher = _Events.publisher
    if publisher is None:
        return
    try:
        publisher.publish(ORDER_PLACED, order_placed(order))
    except BROKER_ERRORS as error:
        fields = {"order_id": order["id"], "error": type(error).__name__}
        log.error("OrderPlaced not published", extra={"fields": fields})


def route(request: Request) -> Reply | None:
    if request.path != "/api/orders":
        return None
    if request.method == "POST":
        return _place(request)
    if request.method == "GET":
        with _lock:
            return json_reply(200, {"orders": list(_orders)})
    return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET, POST"))


def main() -> None:
    ready: list[ReadinessCheck] = []
    if os.environ.get("RABBITMQ_HOST"):
        _Events.publisher = Publisher(Settings.from_env(), EXCHANGE, "orders")
        ready.append(_Events.publisher.reachable)
    serve("orders", route, ready=ready)


if __name__ == "__main__":
    main()
