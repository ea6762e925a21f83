"""Notifications: a queue consumer; its one route reports how it is configured."""

from __future__ import annotations

import os

from micromart_runtime import Reply, Request, json_reply, serve


def _status() -> dict[str, object]:
    # Only where the broker is: the password is a file and never leaves.
    host = os.environ.get("RABBITMQ_HOST", "")
    return {
        "queue": os.environ.get("NOTIFICATIONS_QUEUE", "notifications"),
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


if __name__ == "__main__":
    serve("notifications", route)
