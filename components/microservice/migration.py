"""The service's schema migration: a Job that runs `python -m app.migrate` from the service's own
image, as the service (its ServiceAccount, identity and ConfigMap), before its pods roll.

The Deployments depend on the Job, and pulumi-kubernetes waits for a Job to complete (see
components/db_jobs.py), so new pods start only on a migrated schema; a failed migration fails the
`up` and the running pods keep serving. The Job's name carries a digest of the image reference:
a new image digest is a new Job (the old one is deleted after), the same image runs nothing.
The Job waits for the database bootstrap, which creates the role it connects as.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import db_jobs, kube
from components.microservice.scope import ServiceScope
from components.workload_identity import PodIdentity

core = k8s.core.v1
batch = k8s.batch.v1


def migration(
    scope: ServiceScope,
    image: pulumi.Input[str],
    config: core.ConfigMap,
    identity: PodIdentity,
) -> batch.Job | None:
    spec = scope.args.spec
    if spec.postgres is None:
        return None
    job_name = f"{scope.service}-migrate"
    labels = kube.labels(job_name, {db_jobs.COMPONENT_LABEL: "migration"})
    policy = db_jobs.postgres_only_policy(
        f"{scope.name}-migrate-netpol",
        name=job_name,
        namespace=scope.args.namespace,
        labels=labels,
        selector={kube.NAME_LABEL: job_name},
        postgres_subnet=scope.args.platform.postgres_subnet,
        opts=scope.k8s_opts(),
    )
    after: Sequence[pulumi.Resource] = (
        [scope.args.database_roles] if scope.args.database_roles is not None else []
    )
    return db_jobs.job(
        f"{scope.name}-migrate",
        name=pulumi.Output.from_input(image).apply(
            lambda ref: f"{job_name}-{db_jobs.short_digest(ref)}"
        ),
        namespace=scope.args.namespace,
        labels=labels,
        image=image,
        command=["python", "-m", "app.migrate"],
        # The service's own ServiceAccount and secret files: it signs in as the service's role.
        pod=db_jobs.JobPod(
            identity.service_account_name, identity.labels, identity.volumes, identity.volume_mounts
        ),
        resources=kube.resources(
            spec.resources.requests.cpu,
            spec.resources.requests.memory,
            spec.resources.limits.cpu,
            spec.resources.limits.memory,
        ),
        # The app's own settings (POSTGRES_*, SECRETS_DIR, LOG_LEVEL): the same connection.
        env_from=[
            core.EnvFromSourceArgs(
                config_map_ref=core.ConfigMapEnvSourceArgs(name=kube.name_of(config))
            )
        ],
        opts=pulumi.ResourceOptions.merge(
            scope.k8s_opts(), pulumi.ResourceOptions(depends_on=[policy, *after])
        ),
    )
