"""The deploy identities' documented role rights cover every role assignment the program makes."""

from __future__ import annotations

import re
from functools import cache

from tests.synthesis import PROJECT_DIR
from tools.synth import SynthResult

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
ROLE_DEFINITION = re.compile(rf"/providers/Microsoft\.Authorization/roleDefinitions/({GUID})$")


@cache
def readme() -> str:
    return (PROJECT_DIR / "README.md").read_text(encoding="utf-8")


def assigned_roles(result: SynthResult) -> dict[str, list[str]]:
    """Role definition GUID -> URNs assigning it, found by input rather than by type token."""
    found: dict[str, list[str]] = {}
    for resource in result.resources:
        definition = resource.plain_inputs().get("roleDefinitionId")
        if definition is None:
            continue
        match = ROLE_DEFINITION.search(str(definition))
        assert match, f"{resource.urn}: role definition {definition!r} is not a built-in role ID"
        found.setdefault(match.group(1), []).append(resource.urn)
    return found


def documented_table() -> set[str]:
    """Role definition IDs in the README's "Roles the program assigns" table."""
    section = readme().split("Roles the program assigns", 1)[1].split("```", 1)[0]
    rows = [line for line in section.splitlines() if line.strip().startswith("|")]
    return {match for row in rows for match in re.findall(rf"`({GUID})`", row)}


def documented_condition() -> list[set[str]]:
    """The GUID sets of each clause (write, delete) of the documented ABAC condition."""
    block = readme().split("Roles the program assigns", 1)[1].split("```", 2)[1]
    return [
        set(re.findall(GUID, clause)) for clause in re.findall(r"GuidEquals \{([^}]*)\}", block)
    ]


def test_the_readme_allows_exactly_the_roles_both_stacks_assign(
    staging: SynthResult, production: SynthResult
) -> None:
    assigned = set(assigned_roles(staging)) | set(assigned_roles(production))
    assert assigned, "the program assigns roles; finding none means the scan is broken"
    assert documented_table() == assigned
    clauses = documented_condition()
    assert len(clauses) == 2, "the condition constrains both roleAssignments write and delete"
    assert all(clause == assigned for clause in clauses)


def test_the_identity_table_points_at_the_constraint() -> None:
    staging_row = next(line for line in readme().splitlines() if line.startswith("   | staging |"))
    assert "constrained to the roles the program assigns" in staging_row
