"""The service's image: built and pushed from its folder, or a tag CI already pushed."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.build_context import content_tag
from components.microservice.scope import ServiceScope


def service_image(scope: ServiceScope) -> pulumi.Output[str]:
    args = scope.args
    pinned = args.spec.image.tag if args.spec.image else None
    if pinned or not args.images.build:
        return scope.prebuilt(pinned or str(args.images.tag))
    tag = args.images.tag or content_tag(args.source_dir)
    image = docker.Image(
        f"{scope.name}-image",
        args=docker.ImageArgs(
            image_name=scope.prebuilt(tag),
            build=docker.DockerBuildArgs(
                context=args.source_dir.as_posix(), platform="linux/amd64"
            ),
            registry=docker.RegistryArgs(server=args.login_server),
        ),
        opts=pulumi.ResourceOptions(parent=scope.component),
    )
    # The digest, not the tag: a Deployment then changes exactly when the bytes change.
    return image.repo_digest
