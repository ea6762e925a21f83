"""`./synth --preview`: the program as `pulumi preview` sees it on a new stack, and the pack on it.

At preview nothing exists yet: IDs, ARM names, the cluster's kubeconfig, image digests and
generated passwords are unknown. A rule that needs one of them is listed as undecided (never
dropped), every other rule still blocks, and at update (synth) nothing is unknown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.synthesis import PROJECT_DIR, only
from tools import cli
from tools.policy_runner import PolicyResource, Undecided, Violation, analyze
from tools.recorder import UNKNOWN
from tools.synth import SynthResult, synthesize, unknown_inputs

STACKS = ("staging", "production")
PACK_DIR = PROJECT_DIR / "policy"
PREFIX = "urn:pulumi:staging::micromart::kubernetes:apps/v1:Deployment::"


@pytest.fixture(scope="module", params=STACKS)
def preview(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("preview")
    code = cli.main(["--stack", request.param, "--preview", "--out", str(out)])
    document = json.loads((out / request.param / "preview.json").read_text(encoding="utf-8"))
    return code, document, synthesize(PROJECT_DIR, request.param, preview=True)


def has_unknown_input(result: SynthResult, urn: str) -> bool:
    return UNKNOWN in json.dumps(result.get(urn).inputs)


def test_both_stacks_preview_clean_with_undecided_listed(preview: Any) -> None:
    code, document, result = preview
    assert code == cli.EXIT_OK
    assert set(document) == {"stack", "unknown_inputs", "violations", "undecided"}
    # Honoured exemptions are advisory notices (production: the broker's KEDA port), not findings.
    notices = [v for v in document["violations"] if v["policy"] == "k8s-policy-exemptions"]
    assert all(v["message"].startswith("honoured: ") for v in notices)
    assert [v for v in document["violations"] if v not in notices] == []
    assert document["unknown_inputs"] == unknown_inputs(result) > 0
    undecided = {(u["policy"], u["urn"]) for u in document["undecided"]}
    # Each freshly built image's digest is unknown: the image rules cannot decide on them yet.
    workloads = [
        r.urn
        for r in result.resources
        if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
    ]
    assert {("k8s-image-pinned", urn) for urn in workloads} <= undecided
    # Undecided only where an input really is unknown, never a rule silently off elsewhere.
    assert all(has_unknown_input(result, urn) for _, urn in undecided)


def test_preview_makes_computed_outputs_unknown(preview: Any) -> None:
    _, _, result = preview
    provider = only(result, "pulumi:providers:kubernetes")
    assert provider.plain_inputs()["kubeconfig"] == UNKNOWN
    assert all(r.id == "" for r in result.program_resources if r.custom)
    database = only(result, "azure-native:dbforpostgresql:Configuration")
    assert database.plain_inputs()["serverName"] == UNKNOWN


def test_update_has_no_unknowns(result: SynthResult) -> None:
    assert unknown_inputs(result) == 0


def deployment(name: str, namespace: str) -> PolicyResource:
    return PolicyResource(
        urn=PREFIX + name,
        type="kubernetes:apps/v1:Deployment",
        name=name,
        properties={
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
            },
        },
    )


def pdb_rule(dry_run: bool, namespace: str) -> tuple[list[Violation], list[Undecided]]:
    # Two Deployments without a PodDisruptionBudget; the first one's namespace varies.
    analysis = analyze(
        [deployment("orders", namespace), deployment("catalog", "micromart")],
        pack_dir=Path(PACK_DIR),
        project="micromart",
        stack="staging",
        dry_run=dry_run,
    )
    violations = [v for v in analysis.violations if v.policy == "k8s-deployment-pdb"]
    undecided = [u for u in analysis.undecided if u.policy == "k8s-deployment-pdb"]
    return violations, undecided


def test_an_unknown_on_one_resource_leaves_the_stack_rule_on_for_the_others() -> None:
    violations, undecided = pdb_rule(dry_run=True, namespace=UNKNOWN)
    assert [v.urn for v in violations] == [PREFIX + "catalog"]
    assert [(u.urn, u.reason) for u in undecided] == [
        (
            PREFIX + "orders",
            f"string value at .metadata.namespace of {PREFIX}orders can't be known during preview",
        )
    ]


def test_at_update_the_same_rule_blocks_both() -> None:
    violations, undecided = pdb_rule(dry_run=False, namespace="micromart")
    assert sorted(v.urn for v in violations) == [PREFIX + "catalog", PREFIX + "orders"]
    assert {v.level for v in violations} == {"mandatory"}
    assert undecided == []
