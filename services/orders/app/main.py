"""Orders: accepts and lists orders (kept in memory per replica; readiness gates config)."""

from __future__ import annotations

import itertools
import json
import threading

from micromart_runtime import Reply, Request, json_reply, log, serve

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
    return json_reply(201, placed)


def route(request: Request) -> Reply | None:
    if request.path != "/api/orders":
        return None
    if request.method == "POST":
        return _place(request)
    if request.method == "GET":
        with _lock:
            return json_reply(200, {"orders": list(_orders)})
    return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET, POST"))


if __name__ == "__main__":
    serve("orders", route)
