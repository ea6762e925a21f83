"""What every child of one Microservice shares: its component, names, labels and provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import kube
from components.config.service_spec import ImagePin
from components.istio import istio_resource
from components.microservice.args import TRACK_LABEL, MicroserviceArgs, service_host

meta = k8s.meta.v1


@dataclass(frozen=True)
class ServiceScope:
    """Children are named `<name>-<suffix>` and parented to `component`."""

    component: pulumi.ComponentResource
    name: str
    args: MicroserviceArgs
    labels: dict[str, str]

    @property
    def service(self) -> str:
        return self.args.spec.name

    def k8s_opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.component, provider=self.args.provider)

    def meta(self, object_name: str | None = None) -> meta.ObjectMetaArgs:
        return kube.metadata(object_name or self.service, self.args.namespace, self.labels)

    def selector(self, track: str | None = None) -> dict[str, str]:
        selector = {kube.NAME_LABEL: self.service}
        return selector | {TRACK_LABEL: track} if track else selector

    def host(self) -> str:
        return service_host(self.service, self.args.namespace_name)

    def prebuilt(self, tag: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(self.args.login_server, f"/{self.service}:{tag}")

    def reference(self, pin: ImagePin) -> pulumi.Output[str]:
        if pin.digest is not None:
            return pulumi.Output.concat(self.args.login_server, f"/{self.service}@{pin.digest}")
        return self.prebuilt(str(pin.tag))

    def custom_resource(
        self,
        suffix: str,
        api_version: str,
        kind: str,
        spec: dict[str, object],
        name: str | None = None,
        *,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        istio_resource(
            f"{self.name}-{suffix}",
            self.args.istio,
            api_version=api_version,
            kind=kind,
            metadata=self.meta(name),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                self.k8s_opts(), pulumi.ResourceOptions(depends_on=list(depends_on))
            ),
        )
