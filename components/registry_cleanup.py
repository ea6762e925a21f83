"""Scheduled registry cleanup: an ACR Task whose timer runs `acr purge` on every repository.

One task per repository owner: each Microservice purges its own repository (so a tag pinned
by one service's config changes only that service), RegistryCleanupTask the platform's (RabbitMQ).
Each repository the stack deploys from keeps its newest `keep` tags and everything updated in
the last `agoDays` days; older tags go, then (with `untagged`) the manifests no tag holds any
more. Three things are never deleted:
- tags the stack pins by name (a canary's or a blue-green track's `tag`, `image.tag`,
  `images.tag`, the RabbitMQ `imageTag`): the tag filter excludes them by negative lookahead
  (acr purge matches with dlclark/regexp2, which supports it: Azure/acr-cli
  cmd/repository/image_functions.go, BuildRegexFilter);
- Cosign's signature and attestation tags (`sha256-<digest>.sig`/`.att`): excluded the same way;
- digests a stack deploys: CI locks each one (`az acr repository update --delete-enabled false`)
  before any stack runs it, and acr purge skips locked tags and manifests unless it is given
  `--include-locked`, which this task never passes (Azure/acr-cli cmd/acr/purge.go,
  getTagsToDelete; cmd/repository/image_functions.go, GetUntaggedManifests). Manifests an index
  or a tag still references (a multi-arch image, its SBOM and provenance) stay as well.

The task runs in the registry it cleans and authenticates there by itself (Microsoft Learn,
"Automatically purge images from an Azure container registry"); it needs no identity and no
role assignment. azure-native `containerregistry.Task` (REST API 2019-06-01-preview, the SDK's
default for tasks) with an EncodedTask step: the YAML `az acr task create --cmd` would write.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native.containerregistry as acr
import yaml

from components.azure import Placement
from components.config.service_spec import ServiceSpec
from components.config.stack import ImagesConfig, RabbitMqConfig, RegistryCleanup

# What `acr purge` resolves to inside an ACR Task (the `acr` command alias).
TASK_VERSION = "v1.1.0"
TIMEOUT_SECONDS = 3600
# Cosign stores signatures/attestations under tags named after the digest they sign.
SIGNATURE_TAGS = "sha256-"


@dataclass(frozen=True)
class PurgeTarget:
    """Where purge tasks run and how: the registry the stack deploys from, and its settings."""

    config: RegistryCleanup
    registry_name: pulumi.Input[str]
    placement: Placement


@dataclass(frozen=True)
class RegistryCleanupArgs:
    target: PurgeTarget
    # Platform repository -> tags it must keep whatever their age. Each service's repository
    # is purged by a task inside its own Microservice (service_pinned_tags), so pinning a tag
    # of one service changes nothing outside that service.
    repositories: Mapping[str, frozenset[str]] = field(default_factory=dict)


def service_pinned_tags(spec: ServiceSpec, images: ImagesConfig) -> frozenset[str]:
    """The tags a service's config names: its canary, blue-green tracks, `image` and `images`."""
    tags = {images.tag} if images.tag else set()
    pins = [spec.image]
    if spec.blue_green is not None:
        pins += [spec.blue_green.blue, spec.blue_green.green]
    tags |= {pin.tag for pin in pins if pin is not None and pin.tag is not None}
    # A canary at weight 0 declares nothing (README, Progressive delivery): nothing pulls its tag.
    if spec.canary is not None and spec.has_canary:
        tags.add(spec.canary.tag)
    return frozenset(tags)


def rabbitmq_pinned_tags(config: RabbitMqConfig, images: ImagesConfig) -> frozenset[str]:
    """The broker image's tag from stack config (local builds push it), and `images.tag`."""
    return frozenset({config.image_tag, *([images.tag] if images.tag else [])})


def tag_filter(repository: str, keep: frozenset[str]) -> str:
    """`<repository>:<regex>` matching every tag except signatures and the pinned ones."""
    # Tags are [A-Za-z0-9_.-]: only the dot means something in a regex.
    excluded = "|".join(tag.replace(".", r"\.") for tag in sorted(keep))
    pinned = f"(?!(?:{excluded})$)" if excluded else ""
    return f"{repository}:^(?!{SIGNATURE_TAGS}){pinned}.+$"


def purge_command(config: RegistryCleanup, repositories: Mapping[str, frozenset[str]]) -> str:
    filters = " ".join(
        f"--filter '{tag_filter(name, keep)}'" for name, keep in sorted(repositories.items())
    )
    untagged = " --untagged" if config.untagged else ""
    return f"acr purge {filters} --ago {config.ago_days}d --keep {config.keep}{untagged}"


def task_yaml(config: RegistryCleanup, repositories: Mapping[str, frozenset[str]]) -> str:
    step = {
        "cmd": purge_command(config, repositories),
        # As `az acr task create --cmd ... /dev/null` writes it: no source context to work in.
        "disableWorkingDirectoryOverride": True,
        "timeout": TIMEOUT_SECONDS,
    }
    return yaml.safe_dump({"version": TASK_VERSION, "steps": [step]}, sort_keys=False)


def purge_task(
    name: str,
    parent: pulumi.Resource,
    target: PurgeTarget,
    repositories: Mapping[str, frozenset[str]],
) -> acr.Task:
    """The timer-triggered task `<name>-purge` purging `repositories`, a child of `parent`."""
    config = target.config
    if not repositories:
        raise ValueError(f"{name}: no repository to purge")
    encoded = base64.b64encode(task_yaml(config, repositories).encode()).decode()
    status = "Enabled" if config.enabled else "Disabled"
    return acr.Task(
        f"{name}-purge",
        args=acr.TaskArgs(
            task_name=f"{name}-purge",
            registry_name=target.registry_name,
            resource_group_name=target.placement.resource_group_name,
            location=target.placement.location,
            tags=target.placement.tags,
            platform=acr.PlatformPropertiesArgs(os="Linux", architecture="amd64"),
            status=status,
            timeout=TIMEOUT_SECONDS,
            step=acr.EncodedTaskStepArgs(type="EncodedTask", encoded_task_content=encoded),
            trigger=acr.TriggerPropertiesArgs(
                timer_triggers=[
                    acr.TimerTriggerArgs(name="schedule", schedule=config.schedule, status=status)
                ]
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


class RegistryCleanupTask(pulumi.ComponentResource):
    """The purge of the platform's own repositories (the RabbitMQ image)."""

    def __init__(
        self, name: str, args: RegistryCleanupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("micromart:registry:RegistryCleanupTask", name, None, opts)
        task = purge_task(name, self, args.target, args.repositories)
        self.task_name = task.name
        self.register_outputs({"task_name": self.task_name})
