"""What a Microservice is given, and the names it derives from that alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.azure import Placement
from components.config.service_spec import ServiceSpec
from components.config.stack import ImagesConfig, IngressConfig
from components.istio import IstioCrds
from components.keda import KedaCrds
from components.keyvault import VaultRef
from components.registry_cleanup import PurgeTarget
from components.secrets_store import SecretsStoreCrds

SERVICE_PORT = 80
HTTP_PORT_NAME = "http"
CONFIG_HASH_ANNOTATION = "micromart.io/config-hash"
POSTGRES_PORT = 5432
AMQP_PORT = 5672
TRACK_LABEL = "track"
BLUE_GREEN_TRACKS = ("blue", "green")
INGRESS_GATEWAY_PRINCIPAL = (
    f"cluster.local/ns/{kube.ISTIO_INGRESS_NAMESPACE}/sa/aks-istio-ingressgateway-external"
)


@dataclass(frozen=True)
class Broker:
    """Where a messaging service connects; its user is named after the service, its password
    reaches the pod as the file `rabbitmq-password`, never as env."""

    host: str
    port: int
    vhost: str
    # The monitoring user's AMQP URL (key `host`), for KEDA's TriggerAuthentication only.
    monitoring_secret: pulumi.Input[str]


@dataclass(frozen=True)
class PlatformEndpoints:
    """What a service may reach on the platform, by name only."""

    postgres_subnet: str
    # The server's FQDN (an output: the ConfigMap waits for TLS and every database).
    postgres_host: pulumi.Input[str] | None
    rabbitmq: Broker | None
    rabbitmq_namespace: str


@dataclass(frozen=True)
class SecretsAccess:
    """Where the service's Key Vault secrets are and how its identity is federated."""

    placement: Placement
    oidc_issuer_url: pulumi.Input[str]
    vault: VaultRef
    # Key Vault secret name -> ARM ID, for every secret of the stack (KeyVault.secret_ids).
    secret_ids: Mapping[str, pulumi.Output[str]]
    crds: SecretsStoreCrds


@dataclass(frozen=True)
class MicroserviceArgs:
    spec: ServiceSpec
    callers: tuple[str, ...]
    namespace: pulumi.Input[str]
    namespace_name: str
    source_dir: Path
    login_server: pulumi.Input[str]
    images: ImagesConfig
    log_level: str
    platform: PlatformEndpoints
    provider: k8s.Provider
    # Istio objects are sent only after the add-on's CRDs were read from the cluster.
    istio: IstioCrds
    # The service's Key Vault secrets, read as files through its own workload identity.
    secrets: SecretsAccess
    # The KEDA add-on's CRDs, for a service that scales on its queue.
    keda: KedaCrds | None = None
    ingress: IngressConfig | None = None
    # Names in spec.env whose values are Pulumi secrets: they are Key Vault secrets, mounted as
    # files named by the key, never env.
    secret_env: frozenset[str] = frozenset()
    # The scheduled purge of this service's repository (components/registry_cleanup.py).
    registry_cleanup: PurgeTarget | None = None
    # The database bootstrap Job (DatabaseRoles.job): the service's migration waits for it.
    database_roles: pulumi.Resource | None = None


def service_host(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def upstream_env(service: str) -> str:
    return f"UPSTREAM_{service.upper().replace('-', '_')}_URL"


# Key Vault secret names (the stack's naming contract) and the files they become in the pod.
POSTGRES_PASSWORD_FILE = "postgres-password"
RABBITMQ_PASSWORD_FILE = "rabbitmq-password"


def postgres_password_secret(service: str) -> str:
    return f"{service}-postgres-password"


def rabbitmq_password_secret(service: str) -> str:
    return f"{service}-rabbitmq-password"


def env_secret_name(service: str, key: str) -> str:
    """A `secure:` env value's Key Vault secret (names allow letters, digits and hyphens)."""
    return f"{service}-env-{key.lower().replace('_', '-')}"


def env_secrets(spec: ServiceSpec, secret_env: frozenset[str]) -> dict[str, pulumi.Output[str]]:
    """Key Vault secret name -> value, for each of the spec's secret env values."""
    return {
        env_secret_name(spec.name, key): pulumi.Output.secret(spec.env[key])
        for key in sorted(secret_env)
        if key in spec.env
    }
