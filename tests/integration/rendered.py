"""What the synthesized program renders for the databases, read from its plan (never copied).

- roles: one per service database, from the stack's `Database` resources and the service that
  claims each (`<component>-<service>-db`);
- service_env: each such service's ConfigMap data (POSTGRES_DATABASE, POSTGRES_USER, ...);
- bootstrap_env: the bootstrap Job's plain environment (BOOTSTRAP_ROLES, the admin login, the
  maintenance database).
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.synthesis import kube_objects
from tools.synth import SynthResult

DATABASE = "azure-native:dbforpostgresql:Database"


@dataclass(frozen=True)
class RoleSpec:
    role: str
    database: str


@dataclass(frozen=True)
class Rendered:
    roles: tuple[RoleSpec, ...]
    service_env: dict[str, dict[str, str]]
    bootstrap_env: dict[str, str]


def database_claims(result: SynthResult) -> tuple[RoleSpec, ...]:
    claims = []
    for resource in result.by_type(DATABASE):
        service = resource.name.removesuffix("-db").split("-", 1)[1]
        claims.append(RoleSpec(service, str(resource.plain_inputs()["databaseName"])))
    return tuple(sorted(claims, key=lambda c: c.role))


def rendered_program(result: SynthResult) -> Rendered:
    roles = database_claims(result)
    config_maps = {cm["metadata"]["name"]: cm for cm in kube_objects(result, "ConfigMap")}
    service_env = {spec.role: dict(config_maps[f"{spec.role}-config"]["data"]) for spec in roles}
    (job,) = [j for j in kube_objects(result, "Job") if j["metadata"]["name"].startswith("db-")]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    bootstrap_env = {e["name"]: str(e["value"]) for e in container["env"] if "value" in e}
    return Rendered(roles, service_env, bootstrap_env)
