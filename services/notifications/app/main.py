"""Notifications: a queue consumer; its one route reports how it is configured."""

from __future__ import annotations

import os
from collections.abc import Mapping

from micromart_runtime import ReadinessCheck, Reply, Request, json_reply, log, serve
from micromart_runtime.broker import Consumer, PoisonMessageError, Settings

QUEUE = "notifications"


def _status() -> dict[str, object]:
    # Only where the broker is: the password is a file and never leaves.
    host = os.environ.get("RABBITMQ_HOST", "")
    return {
        "queue": QUEUE,
        "broker_configured": bool(host),
        "broker_host": host or None,
        "broker_port": int(os.environ.get("RABBITMQ_PORT") or 5672),
        "broker_vhost": os.environ.get("RABBITMQ_VHOST") or None,
    }


def route(request: Request) -> Reply | None:
    if request.path != "/api/notifications/status":
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    return json_reply(200, _status())


def on_order_placed(event: Mapping[str, object]) -> None:
    """Tell the customer their order was placed (the delivery channel is not wired yet: a log)."""
    order_id = event.get("order_id")
    if type(order_id) is not int:
        raise PoisonMessageError("OrderPlaced needs an int order_id")
    log.info("order confirmation sent", extra={"fields": {"order_id": order_id}})


def main() -> None:
    ready: list[ReadinessCheck] = []
    if os.environ.get("RABBITMQ_HOST"):
        consumer = Consumer(Settings.from_env(), QUEUE, on_order_placed, "notifications").start()
        ready.append(consumer.reachable)
    serve("notifications", route, routes=["/api/notifications/status"], ready=ready)


if __name__ == "__main__":
    main()
