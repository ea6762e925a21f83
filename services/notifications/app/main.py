"""Notifications: a queue consumer; its one route reports how it is configured."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from micromart_runtime import Reply, Request, json_reply, serve


def _status() -> dict[str, object]:
    # Only host, port and scheme are reported: the URL's credentials never leave.
    broker = urlsplit(os.environ.get("RABBITMQ_URL", ""))
    return {
        "queue": os.environ.get("NOTIFICATIONS_QUEUE", "notifications"),
        "broker_configured": bool(broker.hostname),
        "broker_host": broker.hostname,
        "broker_port": broker.port or {"amqp": 5672, "amqps": 5671}.get(broker.scheme),
        "broker_tls": broker.scheme == "amqps",
    }


def route(request: Request) -> Reply | None:
    if request.path != "/api/notifications/status":
        return None
    if request.method != "GET":
        return json_reply(405, {"error": "method not allowed"}, ("Allow", "GET"))
    return json_reply(200, _status())


if __name__ == "__main__":
    serve("notifications", route)
