"""The service's image: built and pushed from its folder, or an image CI already pushed.

Precedence, most specific first: the service's own `image` pin (tag or digest), the digest CI
built for this commit (`images.digests`), the shared prebuilt `images.tag` when `build` is false,
and only then a local build (a workstation's `pulumi up`).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.build_context import content_tag
from components.config.service_spec import ImagePin
from components.microservice.scope import ServiceScope


def service_image(scope: ServiceScope) -> pulumi.Output[str]:
    args = scope.args
    if args.spec.image is not None:
        return scope.reference(args.spec.image)
    digest = args.images.digests.get(scope.service)
    if digest is not None:
        return scope.reference(ImagePin(digest=digest))
    if not args.images.build:
        return scope.prebuilt(str(args.images.tag))
    # Every service image is built from services/ (the shared runtime plus the service's own
    # folder, see services/.dockerignore) with the service's Dockerfile.
    context, dockerfile = args.source_dir.parent, args.source_dir / "Dockerfile"
    tag = args.images.tag or content_tag(context, dockerfile)
    image = docker.Image(
        f"{scope.name}-image",
        args=docker.ImageArgs(
            image_name=scope.prebuilt(tag),
            build=docker.DockerBuildArgs(
                context=context.as_posix(),
                dockerfile=dockerfile.as_posix(),
                platform="linux/amd64",
            ),
            registry=docker.RegistryArgs(server=args.login_server),
        ),
        opts=pulumi.ResourceOptions(parent=scope.component),
    )
    # The digest, not the tag: a Deployment then changes exactly when the bytes change.
    return image.repo_digest
