"""The Microservice ComponentResource: wires the image, workload, security and traffic children."""

from __future__ import annotations

import pulumi

from components import kube
from components.microservice import security, traffic, workload
from components.microservice.args import MicroserviceArgs
from components.microservice.image import service_image
from components.microservice.scope import ServiceScope


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
        account = security.service_account(scope)
        config = workload.config_map(scope)
        stable = workload.deployment(scope, "stable", self.image, account, config)
        canary = spec.canary
        if canary is not None and canary.weight > 0:
            workload.deployment(scope, "canary", scope.prebuilt(canary.tag), account, config)
        workload.cluster_service(scope)
        if spec.autoscaling.enabled:
            workload.autoscaler(scope, stable)
        workload.disruption_budget(scope)
        security.network_policy(scope)
        traffic.destination_rule(scope)
        traffic.mesh_routes(scope)
        security.authorization_policy(scope)
        if spec.public and args.ingress is not None:
            traffic.public_edge(scope, args.ingress)
        self.register_outputs({"image": self.image})
