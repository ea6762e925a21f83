"""Resources the program reads (`.get`) reach the stack policies only, as in the engine."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tools.policy_runner import PolicyResource, analyze

# A pack that names every resource each kind of policy was shown.
SEEN_PACK = """
    from pulumi_policy import (
        EnforcementLevel, PolicyPack, ResourceValidationPolicy, StackValidationPolicy,
    )

    def each(args, report):
        report(f"analyze {args.urn}")

    def stack(args, report):
        for resource in args.resources:
            report(f"stack {resource.urn} {sorted(resource.props)}")

    PolicyPack(
        name="seen",
        enforcement_level=EnforcementLevel.ADVISORY,
        policies=[
            ResourceValidationPolicy(name="each", description="d", validate=each),
            StackValidationPolicy(name="stack", description="d", validate=stack),
        ],
    )
"""
PREFIX = "urn:pulumi:staging::micromart::"


def test_reads_are_in_the_stack_analysis_with_their_state_and_not_analyzed_alone(
    tmp_path: Path,
) -> None:
    pack = tmp_path / "seen"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text("runtime: python\n", encoding="utf-8")
    (pack / "__main__.py").write_text(textwrap.dedent(SEEN_PACK), encoding="utf-8")
    created = PolicyResource(
        urn=f"{PREFIX}kubernetes:core/v1:Namespace::ns",
        type="kubernetes:core/v1:Namespace",
        name="ns",
        properties={"kind": "Namespace"},
    )
    read = PolicyResource(
        urn=f"{PREFIX}kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition::crd",
        type="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        name="crd",
        properties={"spec": {"group": "networking.istio.io"}, "status": {}},
    )
    analysis = analyze([created], pack_dir=pack, project="micromart", stack="staging", reads=[read])
    assert {v.message for v in analysis.violations} == {
        f"analyze {created.urn}",
        f"stack {created.urn} ['kind']",
        f"stack {read.urn} ['spec', 'status']",
    }
