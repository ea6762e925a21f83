"""One real RabbitMQ node per test session, loaded with exactly what the staging stack renders.

The definitions file is the one in the synthesized Secret `rabbitmq-credentials` (so the users'
password hashes are the program's own), the `definitions.*` settings are the rendered
rabbitmq.conf's, and each user's password is the value the program stores in Key Vault under
the contract's name (`<service>-rabbitmq-password`, `rabbitmq-admin-password`,
`rabbitmq-monitoring-password`) with the mock runtime's generated passwords, i.e. what the
pods' `/mnt/secrets/rabbitmq-password` files would hold. The services' connection settings are
their rendered ConfigMaps' RABBITMQ_* values, with only host and port pointed at this node.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika  # type: ignore[import-untyped]
import pytest

from tests.integration.messaging.rabbitmq_server import (
    MissingBrokerError,
    RunningBroker,
    running_broker,
    server_script,
)
from tests.synthesis import kube_object, kube_objects
from tools.synth import SynthResult

MESSAGING_NS, APP_NS = "micromart-messaging", "micromart"
KEY_VAULT_SECRET = "azure-native:keyvault:Secret"


@dataclass(frozen=True)
class Messaging:
    broker: RunningBroker
    vhost: str
    passwords: dict[str, str]  # broker user -> password, as Key Vault holds it
    service_env: dict[str, dict[str, str]]  # service -> its RABBITMQ_* env, pointed here
    root: Path

    def connect(self, user: str, password: str | None = None) -> Any:
        parameters = pika.ConnectionParameters(
            host="127.0.0.1",
            port=self.broker.amqp_port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(user, password or self.passwords[user]),
            connection_attempts=1,
            socket_timeout=5,
        )
        return pika.BlockingConnection(parameters)

    def secrets_dir(self, service: str) -> Path:
        """A folder laid out as the pod's /mnt/secrets, holding the service's password file."""
        folder = self.root / "secrets" / service
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rabbitmq-password").write_text(self.passwords[service] + "\n")
        return folder

    def app_env(self, service: str) -> dict[str, str]:
        return {
            **self.service_env[service],
            "SECRETS_DIR": str(self.secrets_dir(service)),
            "LOG_LEVEL": "INFO",
        }

    def depth(self, queue: str) -> int:
        """Ready messages in a queue, as KEDA's AMQP scaler reads it (passive declare)."""
        connection = self.connect("admin")
        try:
            return int(connection.channel().queue_declare(queue, passive=True).method.message_count)
        finally:
            connection.close()


def key_vault_values(result: SynthResult) -> dict[str, str]:
    values = {}
    for resource in result.by_type(KEY_VAULT_SECRET):
        inputs = resource.plain_inputs()
        values[str(inputs["secretName"])] = str(inputs["properties"]["value"])
    return values


def rendered_passwords(result: SynthResult, users: list[str]) -> dict[str, str]:
    vault = key_vault_values(result)
    names = {
        user: (
            f"rabbitmq-{user}-password"
            if user in ("admin", "monitoring")
            else f"{user}-rabbitmq-password"
        )
        for user in users
    }
    missing = sorted(name for name in names.values() if name not in vault)
    assert not missing, f"no Key Vault secret for {missing}"
    return {user: vault[name] for user, name in names.items()}


def definitions_settings(result: SynthResult) -> dict[str, str]:
    conf = kube_object(result, "ConfigMap", "rabbitmq-config", MESSAGING_NS)["data"]
    pairs = (line.split("=", 1) for line in conf["rabbitmq.conf"].splitlines() if "=" in line)
    settings = {key.strip(): value.strip() for key, value in pairs}
    return {k: v for k, v in settings.items() if k.startswith("definitions.")}


def service_env(result: SynthResult, port: int) -> dict[str, dict[str, str]]:
    envs = {}
    for config_map in kube_objects(result, "ConfigMap"):
        data = config_map.get("data") or {}
        if config_map["metadata"].get("namespace") == APP_NS and "RABBITMQ_USER" in data:
            env = {k: v for k, v in data.items() if k.startswith("RABBITMQ_")}
            envs[data["SERVICE_NAME"]] = env | {
                "RABBITMQ_HOST": "127.0.0.1",
                "RABBITMQ_PORT": str(port),
            }
    return envs


@pytest.fixture(scope="session")
def messaging(staging: SynthResult) -> Iterator[Messaging]:
    try:
        server_script()
    except MissingBrokerError as error:
        pytest.fail(str(error), pytrace=False)
    text = kube_object(staging, "Secret", "rabbitmq-credentials", MESSAGING_NS)["stringData"][
        "definitions.json"
    ]
    document = json.loads(text)
    users = [user["name"] for user in document["users"]]
    (vhost,) = [v["name"] for v in document["vhosts"]]
    with tempfile.TemporaryDirectory(prefix="micromart-rabbitmq-") as folder:
        root = Path(folder)
        definitions = root / "definitions.json"
        definitions.write_text(text)
        settings = definitions_settings(staging)
        with running_broker(root / "node", definitions, settings) as broker:
            yield Messaging(
                broker=broker,
                vhost=vhost,
                passwords=rendered_passwords(staging, users),
                service_env=service_env(staging, broker.amqp_port),
                root=root,
            )
