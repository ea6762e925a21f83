"""Orders: accepts and lists orders, stored in its own database (`orders`, see migrations/).

Each stored order is announced as an OrderPlaced event on the `orders` exchange (routing key
`order.placed`), which the inventory and notifications queues are bound to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime

from micromart_runtime import ReadinessCheck, Reply, Request, db, json_reply, log, serve
from micromart_runtime.broker import BROKER_ERRORS, Publisher, Settings

EXCHANGE = "orders"
ORDER_PLACED = "order.placed"
COLUMNS = ("id", "sku", "quantity", "status", "created_at")
RETURNING = "RETURNING id, sku, quantity, status, created_at"
LIST_LIMIT = 100


def _order(row: tuple[object, ...]) -> dict[str, object]:
    order = dict(zip(COLUMNS, row, strict=True))
    created = order["created_at"]
    order["created_at"] = created.isoformat() if isinstance(created, datetime) else str(created)
    return order


def store_order(sku: str, quantity: int) -> dict[str, object]:
    """Insert the order and return it as stored (committed when this returns).

    The seam for events: `announce` runs after this call, with the returned row, so it never
    announces an order the database does not hold.
    """
    with db.connect() as conn:
        row = conn.execute(
            f"INSERT INTO orders (sku, quantity) VALUES (%s, %s) {RETURNING}", (sku, quantity)
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING yields the row or raises
    return _order(row)


def list_orders() -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, sku, quantity, status, created_at FROM orders ORDER BY id DESC LIMIT %s",
            (LIST_LIMIT,),
        ).fetchall()
    return [_order(row) for row in rows]


def _place(request: Request) -> Reply:
    try:
        order = json.loads(request.body)
        sku, quantity = order["sku"], order["quantity"]
    except (ValueError, TypeError, KeyError):
        return json_reply(400, {"error": 'expected JSON {"sku": str, "quantity": int}'})
    if not (isinstance(sku, str) and sku and type(quantity) is int and 0 < quantity < 2**31):
        return json_reply(400, {"error": "sku must be a non-empty string, quantity a positive int"})
    placed = store_order(sku, quantity)
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
    try:
        if request.method == "POST":
            return _place(request)
        if request.method == "GET":
            return json_reply(200, {"orders": list_orders()})
    except db.UNAVAILABLE as error:
        return db.unavailable(error)
    return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET, POST"))


def main() -> None:
    ready: list[ReadinessCheck] = [db.reachable]
    if os.environ.get("RABBITMQ_HOST"):
        _Events.publisher = Publisher(Settings.from_env(), EXCHANGE, "orders")
        ready.append(_Events.publisher.reachable)
    serve("orders", route, routes=["/api/orders"], ready=ready)


if __name__ == "__main__":
    main()
