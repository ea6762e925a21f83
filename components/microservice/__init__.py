"""One MicroMart service: its image, workload, scaling, network and mesh policy, and routing.

Everything here is derived from the service's own spec plus the names of its peers, never from
another service's resources, so changing one service never touches another's objects.

Modules by concern: `args` (inputs and naming), `scope` (what every child shares), `image`,
`workload` (pods, scaling, disruption), `security` (identity, NetworkPolicy, mesh authorization),
`traffic` (mesh routing and the public edge), `component` (the ComponentResource that wires them).
"""

from components.microservice.args import (
    Broker,
    MicroserviceArgs,
    PlatformEndpoints,
    SecretsAccess,
    env_secrets,
    postgres_password_secret,
    rabbitmq_password_secret,
    service_host,
    upstream_env,
)
from components.microservice.component import Microservice

__all__ = [
    "Broker",
    "Microservice",
    "MicroserviceArgs",
    "PlatformEndpoints",
    "SecretsAccess",
    "env_secrets",
    "postgres_password_secret",
    "rabbitmq_password_secret",
    "service_host",
    "upstream_env",
]
