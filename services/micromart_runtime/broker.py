"""RabbitMQ for the services: publish with confirms, consume with manual acks, reconnect.

Settings come from the ConfigMap (RABBITMQ_HOST, RABBITMQ_PORT, RABBITMQ_VHOST, RABBITMQ_USER)
and the password from the file `rabbitmq-password` (`secret()`), read again on every connect so
a rotated password is picked up without a restart.

pika ships no type hints: it is imported once here and its objects are seen through the small
Protocols below (only the calls this module makes), so the services' code stays strictly typed.
pika's BlockingConnection is not thread-safe: a Publisher serialises its callers with a lock and
each Consumer owns its connection on its own thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from micromart_runtime import log, secret

# pika narrates every connect at INFO; the services log what matters themselves.
logging.getLogger("pika").setLevel(logging.WARNING)

PASSWORD_FILE = "rabbitmq-password"
# Every failure that a new connection may cure: the broker is down or restarting, the network
# dropped, the password file is missing or was rotated, the broker closed the channel.
BROKER_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)
HEARTBEAT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5.0
RECONNECT_MAX_SECONDS = 30.0
PREFETCH = 10  # unacked messages a consumer holds at once


class PoisonMessageError(ValueError):
    """The message can never be handled (malformed): dead-letter it, do not redeliver it."""


class _Method(Protocol):
    delivery_tag: int
    redelivered: bool


class _Channel(Protocol):
    def confirm_delivery(self) -> None: ...

    def basic_publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Any = None,
        mandatory: bool = False,
    ) -> None: ...

    def basic_qos(self, *, prefetch_count: int) -> None: ...

    def basic_consume(
        self, queue: str, on_message_callback: Callable[..., None], auto_ack: bool = False
    ) -> str: ...

    def basic_ack(self, delivery_tag: int) -> None: ...

    def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True
    ) -> None: ...


class _Connection(Protocol):
    @property
    def is_open(self) -> bool: ...

    def channel(self) -> _Channel: ...

    def process_data_events(self, time_limit: float = 0) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    vhost: str
    user: str

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return Settings(
            host=env.get("RABBITMQ_HOST", ""),
            port=int(env.get("RABBITMQ_PORT") or 5672),
            vhost=env.get("RABBITMQ_VHOST", ""),
            user=env.get("RABBITMQ_USER", ""),
        )


def connect(settings: Settings, name: str) -> _Connection:
    """A new blocking connection; raises one of BROKER_ERRORS when the broker cannot be had."""
    parameters = pika.ConnectionParameters(
        host=settings.host,
        port=settings.port,
        virtual_host=settings.vhost,
        credentials=pika.PlainCredentials(settings.user, secret(PASSWORD_FILE)),
        heartbeat=HEARTBEAT_SECONDS,
        blocked_connection_timeout=30,
        connection_attempts=1,
        socket_timeout=CONNECT_TIMEOUT_SECONDS,
        stack_timeout=CONNECT_TIMEOUT_SECONDS * 2,
        client_properties={"connection_name": f"{name}@{socket.gethostname()}"},
    )
    return cast(_Connection, pika.BlockingConnection(parameters))


def _close(connection: _Connection | None) -> None:
    if connection is not None and connection.is_open:
        with contextlib.suppress(*BROKER_ERRORS):
            connection.close()


class Publisher:
    """Publishes JSON events to one exchange: persistent, mandatory, confirmed by the broker.

    `publish` returns only once the broker has confirmed the message (it is then on a quorum of
    the queue's replicas) and raises if it was refused, unroutable or the broker is unreachable.
    """

    def __init__(self, settings: Settings, exchange: str, name: str) -> None:
        self._settings = settings
        self._exchange = exchange
        self._name = name
        self._lock = threading.Lock()
        self._connection: _Connection | None = None
        self._channel: _Channel | None = None

    def _ensure_channel(self) -> _Channel:
        if self._connection is None or not self._connection.is_open or self._channel is None:
            _close(self._connection)
            self._connection = None
            connection = connect(self._settings, self._name)
            channel = connection.channel()
            channel.confirm_delivery()
            self._connection, self._channel = connection, channel
        return self._channel

    def _drop(self) -> None:
        _close(self._connection)
        self._connection = self._channel = None

    def publish(self, routing_key: str, event: Mapping[str, object]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            type=routing_key,
        )
        with self._lock:
            # One retry on a fresh connection: an idle connection may have been dropped by the
            # broker or the network since the last publish.
            for attempt in (1, 2):
                try:
                    self._ensure_channel().basic_publish(
                        self._exchange, routing_key, body, properties, mandatory=True
                    )
                    return
                except (pika.exceptions.UnroutableError, pika.exceptions.NackError):
                    raise  # the broker answered: retrying would not change its mind
                except BROKER_ERRORS:
                    self._drop()
                    if attempt == 2:
                        raise

    def reachable(self) -> str | None:
        """Readiness: None when connected (heartbeats serviced), else a reason (no secret)."""
        with self._lock:
            try:
                self._ensure_channel()
                assert self._connection is not None
                self._connection.process_data_events(0)
                return None
            except BROKER_ERRORS as error:
                self._drop()
                return f"rabbitmq: {type(error).__name__}"

    def close(self) -> None:
        with self._lock:
            self._drop()


Handler = Callable[[Mapping[str, object]], None]


class Consumer:
    """Consumes one queue on a background thread; acks a message only once it is handled.

    The handler gets the decoded JSON event. A message that is not a JSON object, or for which
    the handler raises PoisonMessageError (any ValueError), is rejected without requeue: the
    queue's policy dead-letters it. Any other exception requeues it; the queue's delivery limit
    dead-letters it if that repeats.
    A lost connection is re-established with capped exponential backoff.
    """

    def __init__(self, settings: Settings, queue: str, handle: Handler, name: str) -> None:
        self._settings = settings
        self._queue = queue
        self._handle = handle
        self._name = name
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"consume-{queue}", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def reachable(self) -> str | None:
        """Readiness: None while consuming, else why not."""
        return None if self._connected.is_set() else f"rabbitmq: not consuming {self._queue}"

    def _on_message(
        self, channel: _Channel, method: _Method, _properties: Any, body: bytes
    ) -> None:
        tag = method.delivery_tag
        try:
            event = json.loads(body)
            if not isinstance(event, dict):
                raise PoisonMessageError("not a JSON object")
            self._handle(event)
        except ValueError as error:  # PoisonMessageError and JSONDecodeError are ValueErrors
            log.error(
                "message dead-lettered",
                extra={"fields": {"queue": self._queue, "error": str(error)}},
            )
            channel.basic_nack(tag, requeue=False)
            return
        except Exception:  # noqa: BLE001 - whatever the handler raised, requeue, keep consuming
            log.exception(
                "message handling failed, requeued", extra={"fields": {"queue": self._queue}}
            )
            channel.basic_nack(tag, requeue=True)
            return
        channel.basic_ack(tag)

    def _consume_once(self) -> None:
        connection = connect(self._settings, self._name)
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(self._queue, self._on_message, auto_ack=False)
            self._connected.set()
            log.info("consuming", extra={"fields": {"queue": self._queue}})
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self._connected.clear()
            _close(connection)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._consume_once()
                delay = 0.5
            except BROKER_ERRORS as error:
                log.warning(
                    "rabbitmq connection lost, reconnecting",
                    extra={"fields": {"queue": self._queue, "error": type(error).__name__}},
                )
            self._stop.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
