"""Inventory: reports the stock available for a SKU (`GET /api/inventory/<sku>`)."""

from __future__ import annotations

import re

from micromart_runtime import Reply, Request, json_reply, serve

PREFIX = "/api/inventory/"
SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
STOCK = {"MM-1001": 42, "MM-1002": 7, "MM-1003": 0}


def route(request: Request) -> Reply | None:
    if not request.path.startswith(PREFIX):
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    sku = request.path.removeprefix(PREFIX).upper()
    if not SKU.fullmatch(sku):
        return json_reply(400, {"error": "malformed SKU"})
    if sku not in STOCK:
        return json_reply(404, {"error": "unknown SKU", "sku": sku})
    return json_reply(200, {"sku": sku, "available": STOCK[sku], "in_stock": STOCK[sku] > 0})


if __name__ == "__main__":
    serve("inventory", route)
