"""The apps' own messaging code against the real broker, with the rendered settings and users.

orders publishes OrderPlaced through its HTTP API; inventory and notifications consume it on
their background threads, ack only after handling, dead-letter a poison message instead of
redelivering it forever, and come back after the broker drops their connections.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Platform
from tests.integration.messaging.conftest import Messaging
from tests.services.apprunner import SERVICES_DIR, RunningApp, fetch, fetch_json, start_app

CONSUMERS = {
    "inventory": "stock reservation requested",
    "notifications": "order confirmation sent",
}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def records(app: RunningApp, message: str) -> list[dict[str, Any]]:
    return [r for r in app.log_records() if r.get("msg") == message]


def is_ready(app: RunningApp) -> bool:
    return fetch(app.url + "/health/ready")[0] == 200


def has_depth(messaging: Messaging, queue: str, depth: int) -> bool:
    return messaging.depth(queue) == depth


def connected_twice(app: RunningApp) -> bool:
    return len(records(app, "consuming")) >= 2


def app_env(messaging: Messaging, platform: Platform, service: str) -> dict[str, str]:
    """The broker settings, plus the database for a service that has one (a migrated one)."""
    env = messaging.app_env(service)
    if service in platform.rendered.service_env:
        env |= platform.database_env(service, Path(env["SECRETS_DIR"]))
    return env


@pytest.fixture(scope="module")
def apps(
    messaging: Messaging, platform: Platform, first_migrations: dict[str, object]
) -> Iterator[dict[str, RunningApp]]:
    env = partial(app_env, messaging, platform)
    with (
        start_app(SERVICES_DIR / "inventory", env("inventory")) as inventory,
        start_app(SERVICES_DIR / "notifications", env("notifications")) as notify,
        start_app(SERVICES_DIR / "orders", env("orders")) as orders,
    ):
        running = {"inventory": inventory, "notifications": notify, "orders": orders}
        for name, app in running.items():
            wait_for(partial(is_ready, app), f"{name} ready")
        yield running


def place(apps: dict[str, RunningApp], sku: str = "MM-1002", quantity: int = 2) -> int:
    body = json.dumps({"sku": sku, "quantity": quantity}).encode()
    status, placed = fetch_json(apps["orders"].url + "/api/orders", "POST", body)
    assert status == 201, placed
    order_id = placed["id"]
    assert isinstance(order_id, int)
    return order_id


def handled(app: RunningApp, message: str, order_id: int) -> bool:
    return any(r.get("order_id") == order_id for r in records(app, message))


def wait_until_consumed(apps: dict[str, RunningApp], order_id: int, when: str) -> None:
    for name, message in CONSUMERS.items():
        app = apps[name]
        wait_for(
            partial(handled, app, message, order_id),
            f"{name} handling order {order_id} {when}",
        )


def test_order_placed_reaches_both_consumers_and_is_acked(
    messaging: Messaging, apps: dict[str, RunningApp]
) -> None:
    order_id = place(apps, "MM-1003", 3)
    wait_until_consumed(apps, order_id, "placed through the orders API")
    (event,) = [
        r for r in records(apps["inventory"], CONSUMERS["inventory"]) if r["order_id"] == order_id
    ]
    assert (event["sku"], event["quantity"]) == ("MM-1003", 3)
    # Acked: nothing left waiting, nothing dead-lettered.
    for queue in CONSUMERS:
        wait_for(partial(has_depth, messaging, queue, 0), f"{queue} drained")
        assert messaging.depth(f"{queue}.dead-letter") == 0
    assert not records(apps["orders"], "OrderPlaced not published")


def test_a_poison_message_is_dead_lettered_once_not_redelivered(
    messaging: Messaging, apps: dict[str, RunningApp]
) -> None:
    before = {q: messaging.depth(f"{q}.dead-letter") for q in CONSUMERS}
    admin = messaging.connect("admin")
    try:
        admin.channel().basic_publish("orders", "order.placed", b"{not json")
    finally:
        admin.close()
    for queue in CONSUMERS:
        wait_for(
            partial(has_depth, messaging, f"{queue}.dead-letter", before[queue] + 1),
            f"{queue} dead-lettering the poison message",
        )
    for name, app in apps.items():
        if name in CONSUMERS:
            assert len(records(app, "message dead-lettered")) == 1, name
    # Still consuming: the next good order goes through.
    order_id = place(apps)
    wait_until_consumed(apps, order_id, "after the poison message")


def test_consumers_and_publisher_come_back_after_the_broker_drops_them(
    messaging: Messaging, apps: dict[str, RunningApp]
) -> None:
    closed = messaging.broker.ctl("close_all_connections", "--global", "test: connection loss")
    assert "Closed 3 connections" in closed, closed
    for name in CONSUMERS:
        wait_for(
            partial(connected_twice, apps[name]),
            f"{name} reconnecting",
        )
    order_id = place(apps)  # the publisher's connection was dropped too: it reconnects
    wait_until_consumed(apps, order_id, "after reconnecting")
    assert not records(apps["orders"], "OrderPlaced not published")
