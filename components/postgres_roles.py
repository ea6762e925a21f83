"""DatabaseRoles: one PostgreSQL LOGIN role per service, rights on its own database only.

The roles are made inside the cluster, by a Job that runs `python -m micromart_runtime.db_bootstrap`
(services/micromart_runtime/db_bootstrap.py: the SQL, identifiers quoted with psycopg.sql) from
its own image, components/images/db-bootstrap: the shared runtime and the locked wheels, no
service's code. Its own image rather than a service's, so that the one container that ever holds
the server's admin password holds nothing else, and so that a service's release neither re-runs
the bootstrap nor makes every other service's migration wait for it (independent deployment).

The Job reads the admin password and each service's role password as files from Key Vault,
through its own WorkloadIdentity that may read exactly those secrets. It is the only workload
that sees the admin password: services get their own role's password only.

The bootstrap converges (creates or rotates each role, owns the public schema of its database,
PUBLIC loses CONNECT/TEMPORARY, only the owning role may connect), so running it again is safe.
It runs again whenever what it would do changes: its image, the role list, or any password (the
Job's name carries a digest of them, see components/db_jobs.py for why a name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from components import db_jobs, kube
from components.build_context import content_tag
from components.config.stack import ImagesConfig
from components.microservice.args import SecretsAccess, postgres_password_secret
from components.postgres import DatabaseClaim
from components.workload_identity import SECRETS_DIR, WorkloadIdentity, WorkloadIdentityArgs

core = k8s.core.v1

NAME = "db-bootstrap"
ADMIN_SECRET = "postgres-admin-password"
MAINTENANCE_DATABASE = "postgres"
IMAGE_CONTEXT = Path("services")
IMAGE_DOCKERFILE = Path("components/images/db-bootstrap/Dockerfile")
# A few statements per service: far below a service's own requests.
RESOURCES = kube.resources("50m", "64Mi", "250m", "128Mi")


def render_roles(claims: Sequence[DatabaseClaim]) -> str:
    """BOOTSTRAP_ROLES: `<role>=<database>,...`; each role is named after its service."""
    return ",".join(f"{c.service}={c.database}" for c in sorted(claims, key=lambda c: c.service))


@dataclass(frozen=True)
class DatabaseRolesArgs:
    claims: Sequence[DatabaseClaim]
    # The server's name; the output waits until TLS is enforced and every database exists.
    host: pulumi.Input[str]
    admin_login: str
    namespace: pulumi.Input[str]
    namespace_name: str
    postgres_subnet: str
    provider: k8s.Provider
    # Key Vault, the secrets' IDs, the cluster's OIDC issuer: for the Job's own identity.
    secrets: SecretsAccess
    # Key Vault secret name -> value, for the passwords this Job sets (its re-run trigger).
    passwords: Mapping[str, pulumi.Input[str]]
    login_server: pulumi.Input[str]
    images: ImagesConfig


class DatabaseRoles(pulumi.ComponentResource):
    # The bootstrap Job: a service's migration Job waits for it.
    job: k8s.batch.v1.Job

    def __init__(
        self, name: str, args: DatabaseRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:postgres:DatabaseRoles", name, None, opts)
        self._name, self._args = name, args
        labels = kube.labels(NAME, {db_jobs.COMPONENT_LABEL: "database-bootstrap"})
        files = {ADMIN_SECRET: ADMIN_SECRET} | {
            postgres_password_secret(c.service): postgres_password_secret(c.service)
            for c in args.claims
        }
        identity = WorkloadIdentity(
            f"{name}-{NAME}",
            WorkloadIdentityArgs(
                service_account=NAME,
                namespace=args.namespace,
                namespace_name=args.namespace_name,
                labels=labels,
                placement=args.secrets.placement,
                identity_name=f"id-micromart-{NAME}",
                oidc_issuer_url=args.secrets.oidc_issuer_url,
                vault=args.secrets.vault,
                files=files,
                secret_ids=args.secrets.secret_ids,
                provider=args.provider,
                crds=args.secrets.crds,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        policy = db_jobs.postgres_only_policy(
            f"{name}-{NAME}-netpol",
            name=NAME,
            namespace=args.namespace,
            labels=labels,
            selector={kube.NAME_LABEL: NAME},
            postgres_subnet=args.postgres_subnet,
            opts=k8s_opts,
        )
        image = self._image()
        roles = render_roles(args.claims)
        revision = _revision(image, roles, {k: args.passwords[k] for k in sorted(files)})
        pod = identity.pod
        self.job = db_jobs.job(
            f"{name}-{NAME}",
            name=revision.apply(lambda digest: f"{NAME}-{digest}"),
            namespace=args.namespace,
            labels=labels,
            image=image,
            command=["python", "-m", "micromart_runtime.db_bootstrap"],
            pod=db_jobs.JobPod(
                pod.service_account_name, pod.labels, pod.volumes, pod.volume_mounts
            ),
            resources=RESOURCES,
            env=[
                core.EnvVarArgs(name=key, value=value)
                for key, value in {  # the bootstrap's settings (db_bootstrap.py)
                    "POSTGRES_HOST": args.host,
                    "POSTGRES_PORT": str(db_jobs.POSTGRES_PORT),
                    "POSTGRES_DATABASE": MAINTENANCE_DATABASE,
                    "POSTGRES_USER": args.admin_login,
                    "POSTGRES_SSLMODE": "verify-full",
                    "BOOTSTRAP_ROLES": roles,
                    "SECRETS_DIR": SECRETS_DIR,
                }.items()
            ],
            opts=pulumi.ResourceOptions.merge(
                k8s_opts, pulumi.ResourceOptions(depends_on=[policy])
            ),
        )
        self.register_outputs({"job": self.job.metadata.apply(lambda m: m.name)})

    def _image(self) -> pulumi.Output[str]:
        args = self._args
        repository = pulumi.Output.concat(args.login_server, f"/{NAME}")
        digest = args.images.digests.get(NAME)
        if digest is not None:
            return pulumi.Output.concat(repository, f"@{digest}")
        if not args.images.build:
            return pulumi.Output.concat(repository, f":{args.images.tag}")
        tag = args.images.tag or content_tag(IMAGE_CONTEXT, IMAGE_DOCKERFILE)
        image = docker.Image(
            f"{self._name}-{NAME}-image",
            args=docker.ImageArgs(
                image_name=pulumi.Output.concat(repository, f":{tag}"),
                build=docker.DockerBuildArgs(
                    context=IMAGE_CONTEXT.as_posix(),
                    dockerfile=IMAGE_DOCKERFILE.as_posix(),
                    platform="linux/amd64",
                ),
                registry=docker.RegistryArgs(server=args.login_server),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return image.repo_digest


def _revision(
    image: pulumi.Output[str], roles: str, passwords: Mapping[str, pulumi.Input[str]]
) -> pulumi.Output[str]:
    """A digest that changes with the image, the roles or any password: the Job's name suffix.

    The passwords are 32 random characters each, so 40 bits of a SHA-256 over all of them say
    nothing about any one of them; the name is shown unmasked (not a secret) on purpose.
    """
    values = pulumi.Output.all(image, *passwords.values())

    def digest(parts: list[str]) -> str:
        secrets = hashlib.sha256("\0".join(parts[1:]).encode()).hexdigest()
        return db_jobs.short_digest(parts[0], roles, secrets)

    return pulumi.Output.unsecret(values.apply(digest))
