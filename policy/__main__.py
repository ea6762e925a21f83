"""Entry point the Pulumi engine runs (`python -m pulumi.policy <engine> .`, cwd = this folder).

Constructing PolicyPack starts the analyzer gRPC server, prints its port and blocks, so nothing
but this file may build it; every rule lives in the importable `rules` package.
"""

from __future__ import annotations

import importlib

from pulumi_policy import EnforcementLevel, Policy, PolicyPack


def _policies() -> list[Policy]:
    # runpy executes this file as a plain script with the pack folder on sys.path, so a relative
    # import is impossible and `policy.rules` exists only inside this repository (not once the
    # pack is published); the top-level name `rules` works in both places.
    rules = importlib.import_module("rules")
    return list(rules.ALL_POLICIES)


PolicyPack(
    name="micromart-policies",
    policies=_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description=(
        "MicroMart guardrails: restricted pods, pinned images, network isolation, resilient and "
        "private Azure data services."
    ),
    provider="azure",
    tags=["kubernetes", "azure", "security"],
)
