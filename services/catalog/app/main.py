"""Catalog: serves the product list (a fixed assortment; readiness gates its config)."""

from __future__ import annotations

from micromart_runtime import Reply, Request, json_reply, serve

ITEMS = (
    {
        "sku": "MM-1001",
        "name": "Espresso beans, 1 kg",
        "price_cents": 2490,
        "currency": "EUR",
    },
    {
        "sku": "MM-1002",
        "name": "Ceramic pour-over dripper",
        "price_cents": 3200,
        "currency": "EUR",
    },
    {"sku": "MM-1003", "name": "Burr grinder", "price_cents": 12900, "currency": "EUR"},
)


def route(request: Request) -> Reply | None:
    if request.path != "/api/catalog/items":
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    return json_reply(200, {"items": ITEMS})


if __name__ == "__main__":
    serve("catalog", route)
