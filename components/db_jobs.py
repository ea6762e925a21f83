"""Run-to-completion database Jobs (the roles bootstrap, each service's migration) and the
NetworkPolicy that lets their pods reach PostgreSQL and nothing else.

How `pulumi up` treats a Job (pulumi/pulumi-kubernetes, provider/pkg/await/job.go,
jobInitAwaiter.Await, and await/states/job.go, jobComplete): creating one waits until its
`Complete` condition is True and fails the update when the `Failed` condition is True with reason
BackoffLimitExceeded or DeadlineExceeded (default wait 10 minutes). So whatever depends on a Job
(a Deployment on its migration) is sent only after the Job succeeded, and a failing migration
stops the rollout with the old pods still serving.

A Job's pod template is immutable, so each Job's name carries a digest of what it runs: new
inputs give a new name, and pulumi-kubernetes replaces a resource whose metadata.name changed
(create the new one, then delete the old one; provider/pkg/provider/provider.go, Diff: the name is
a force-new field, and delete-before-replace happens only when the name stays the same). With
`pulumi.com/replaceUnready` a Job that failed in an earlier update is replaced on the next one
instead of being waited on again (same function). No ttlSecondsAfterFinished: a Job the cluster
deleted reads back as gone (job.go, Read: a 404 marks the resource deleted), so the next `up`
would run it again for no reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube

core = k8s.core.v1
batch = k8s.batch.v1
meta = k8s.meta.v1
netv1 = k8s.networking.v1

POSTGRES_PORT = 5432
COMPONENT_LABEL = "app.kubernetes.io/component"
REPLACE_UNREADY = "pulumi.com/replaceUnready"
# A Job pod with a classic Istio sidecar never completes (the proxy keeps running after the
# container exits). These pods talk only to PostgreSQL, which is outside the mesh, so they run
# without one; the label wins over the namespace's injection label (Istio docs, "Installing the
# sidecar": the sidecar.istio.io/inject label on the pod).
NO_SIDECAR = {"sidecar.istio.io/inject": "false"}
# Retries of a failed pod: a migration or bootstrap is idempotent, and a first pod can lose the
# race against its secrets volume or DNS; more would only delay the failed `up`.
BACKOFF_LIMIT = 2
DEADLINE_SECONDS = 600  # the provider's default wait: the Job fails no later than it gives up


@dataclass(frozen=True)
class JobPod:
    """Who the pod runs as and which secrets it sees (WorkloadIdentity.pod or a plain account)."""

    service_account_name: pulumi.Input[str]
    labels: Mapping[str, str]
    volumes: Sequence[core.VolumeArgs]
    volume_mounts: Sequence[core.VolumeMountArgs]


def short_digest(*parts: str) -> str:
    """10 hex characters naming one version of a Job's inputs (not a secret: see callers)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def job(
    resource_name: str,
    *,
    name: pulumi.Input[str],
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    image: pulumi.Input[str],
    command: Sequence[str],
    pod: JobPod,
    resources: core.ResourceRequirementsArgs,
    env: Sequence[core.EnvVarArgs] = (),
    env_from: Sequence[core.EnvFromSourceArgs] = (),
    opts: pulumi.ResourceOptions,
) -> batch.Job:
    tmp_volume, tmp_mount = kube.tmp_volume()
    container_name = str(labels[kube.NAME_LABEL])
    return batch.Job(
        resource_name,
        metadata=meta.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels=dict(labels),
            annotations={REPLACE_UNREADY: "true"},
        ),
        spec=batch.JobSpecArgs(
            backoff_limit=BACKOFF_LIMIT,
            active_deadline_seconds=DEADLINE_SECONDS,
            template=core.PodTemplateSpecArgs(
                metadata=meta.ObjectMetaArgs(
                    labels={**labels, **pod.labels, **NO_SIDECAR},
                    annotations={"kubectl.kubernetes.io/default-container": container_name},
                ),
                spec=core.PodSpecArgs(
                    restart_policy="Never",
                    service_account_name=pod.service_account_name,
                    automount_service_account_token=False,
                    security_context=kube.pod_security_context(),
                    containers=[
                        core.ContainerArgs(
                            name=container_name,
                            image=image,
                            image_pull_policy="IfNotPresent",
                            command=list(command),
                            env=list(env) or None,
                            env_from=list(env_from) or None,
                            resources=resources,
                            security_context=kube.container_security_context(),
                            volume_mounts=[tmp_mount, *pod.volume_mounts],
                        )
                    ],
                    volumes=[tmp_volume, *pod.volumes],
                ),
            ),
        ),
        opts=opts,
    )


def postgres_only_policy(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    postgres_subnet: str,
    opts: pulumi.ResourceOptions,
) -> netv1.NetworkPolicy:
    """No ingress; egress to PostgreSQL's subnet on 5432 only (DNS: the namespace's policy)."""
    return netv1.NetworkPolicy(
        resource_name,
        metadata=kube.metadata(name, namespace, labels),
        spec=netv1.NetworkPolicySpecArgs(
            pod_selector=meta.LabelSelectorArgs(match_labels=dict(selector)),
            policy_types=["Ingress", "Egress"],
            ingress=[],
            egress=[
                netv1.NetworkPolicyEgressRuleArgs(
                    to=[
                        netv1.NetworkPolicyPeerArgs(
                            ip_block=netv1.IPBlockArgs(cidr=postgres_subnet)
                        )
                    ],
                    ports=kube.tcp_ports(POSTGRES_PORT),
                ),
            ],
        ),
        opts=opts,
    )
