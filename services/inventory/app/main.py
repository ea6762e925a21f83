"""Inventory: reports the stock available for a SKU (`GET /api/inventory/<sku>`) from its DB.

It consumes OrderPlaced events from its own queue (`inventory`) on a background thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from micromart_runtime import ReadinessCheck, Reply, Request, db, json_reply, log, serve
from micromart_runtime.broker import Consumer, PoisonMessageError, Settings

QUEUE = "inventory"

PREFIX = "/api/inventory/"
SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")


def available(sku: str) -> int | None:
    """Units in stock, or None for a SKU the inventory does not know."""
    with db.connect() as conn:
        row = conn.execute("SELECT available FROM stock WHERE sku = %s", (sku,)).fetchone()
    return None if row is None else int(str(row[0]))


def route(request: Request) -> Reply | None:
    if not request.path.startswith(PREFIX):
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    sku = request.path.removeprefix(PREFIX).upper()
    if not SKU.fullmatch(sku):
        return json_reply(400, {"error": "malformed SKU"})
    try:
        units = available(sku)
    except db.UNAVAILABLE as error:
        return db.unavailable(error)
    if units is None:
        return json_reply(404, {"error": "unknown SKU", "sku": sku})
    return json_reply(200, {"sku": sku, "available": units, "in_stock": units > 0})


def on_order_placed(event: Mapping[str, object]) -> None:
    """Stock reservation for a placed order (logged; the stock table is not changed yet)."""
    order_id, sku, quantity = event.get("order_id"), event.get("sku"), event.get("quantity")
    if not (type(order_id) is int and isinstance(sku, str) and type(quantity) is int):
        raise PoisonMessageError("OrderPlaced needs int order_id, str sku, int quantity")
    fields = {"order_id": order_id, "sku": sku, "quantity": quantity}
    log.info("stock reservation requested", extra={"fields": fields})


def main() -> None:
    ready: list[ReadinessCheck] = [db.reachable]
    if os.environ.get("RABBITMQ_HOST"):
        consumer = Consumer(Settings.from_env(), QUEUE, on_order_placed, "inventory").start()
        ready.append(consumer.reachable)
    serve("inventory", route, routes=[PREFIX + "{sku}"], ready=ready)


if __name__ == "__main__":
    main()
