"""The Microservice ComponentResource: wires the image, workload, security and traffic children."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.gateway_tls import GatewayTls, GatewayTlsArgs
from components.microservice import scaling, security, traffic, workload
from components.microservice.args import BLUE_GREEN_TRACKS, MicroserviceArgs
from components.microservice.image import service_image
from components.microservice.migration import migration
from components.microservice.scope import ServiceScope
from components.registry_cleanup import purge_task, service_pinned_tags
from components.workload_identity import PodIdentity


class Microservice(pulumi.ComponentResource):
    image: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: MicroserviceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("micromart:service:Microservice", name, None, opts)
        spec = args.spec
        scope = ServiceScope(
            component=self,
            name=name,
            args=args,
            labels=kube.labels(
                spec.name,
                {kube.MESSAGING_CLIENT_LABEL: "true"} if spec.rabbitmq else None,
            ),
        )
        self.image = service_image(scope)
        if args.registry_cleanup is not None:
            purge_task(
                name,
                self,
                args.registry_cleanup,
                {spec.name: service_pinned_tags(spec, args.images)},
            )
        identity = security.workload_identity(scope).pod
        env = workload.env_sources(scope)
        # Pods roll only once the schema is migrated for this image (no Job: no database).
        schema = migration(scope, self.image, env.config, identity)
        tracks = self._tracks(scope, identity, env, [schema] if schema is not None else [])
        workload.cluster_service(scope)
        scaling.trigger_authentication(scope)
        workload.disruption_budget(scope)
        security.network_policy(scope)
        traffic.destination_rule(scope)
        # Routes change only once the Deployments they point at are rolled out (the provider
        # waits for a Deployment to be Available): a blue-green flip never routes to a track
        # that is not ready.
        traffic.mesh_routes(scope, tracks)
        security.authorization_policy(scope)
        if spec.public and args.ingress is not None:
            # A child of the public service: its sync pods run this service's image, so a
            # change to the service stays inside its own resources (tools/affected.py).
            access = args.secrets
            certificate = GatewayTls(
                f"{name}-tls",
                GatewayTlsArgs(
                    certificate_name=args.ingress.certificate_name,
                    tls_secret_name=args.ingress.tls_secret_name,
                    image=self.image,
                    placement=access.placement,
                    oidc_issuer_url=access.oidc_issuer_url,
                    vault=access.vault,
                    provider=args.provider,
                    crds=access.crds,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            traffic.public_edge(scope, args.ingress, tracks, certificate)
        self.register_outputs({"image": self.image})

    def _tracks(
        self,
        scope: ServiceScope,
        identity: PodIdentity,
        env: workload.EnvSources,
        after: list[pulumi.Resource],
    ) -> list[k8s.apps.v1.Deployment]:
        """The Deployments traffic is split between, each with its autoscaler."""
        spec = scope.args.spec
        if spec.blue_green is not None:
            deployments = []
            for track in BLUE_GREEN_TRACKS:
                pin = spec.blue_green.image(track)
                image = scope.reference(pin) if pin is not None else self.image
                deployment = workload.deployment(scope, track, image, identity, env, after=after)
                if spec.autoscaling.enabled:
                    scaling.autoscaler(scope, deployment, track)
                deployments.append(deployment)
            return deployments
        stable = workload.deployment(scope, "stable", self.image, identity, env, after=after)
        if spec.autoscaling.enabled:
            scaling.autoscaler(scope, stable)
        deployments = [stable]
        if spec.canary is not None and spec.canary.weight > 0:
            canary = scope.prebuilt(spec.canary.tag)
            deployments.append(
                workload.deployment(scope, "canary", canary, identity, env, after=after)
            )
        return deployments
