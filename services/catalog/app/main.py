"""Catalog: serves the product list from its own database (`products`, see migrations/)."""

from __future__ import annotations

from micromart_runtime import Reply, Request, db, json_reply, serve

COLUMNS = ("sku", "name", "price_cents", "currency")


def list_products() -> list[dict[str, object]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT sku, name, price_cents, currency FROM products ORDER BY sku"
        ).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def route(request: Request) -> Reply | None:
    if request.path != "/api/catalog/items":
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    try:
        return json_reply(200, {"items": list_products()})
    except db.UNAVAILABLE as error:
        return db.unavailable(error)


if __name__ == "__main__":
    serve("catalog", route, routes=["/api/catalog/items"], ready=[db.reachable])
