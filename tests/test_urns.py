"""Refactoring never makes a real `pulumi up` delete and recreate what it already manages.

A resource's URN (type token, name and parent chain) is its identity in state: rename a
component type or move a child under another parent and the engine plans a delete and a create,
the protected cluster included. Each list in tests/urns/ was recorded from the previews before
the structural refactor (issue "One home for each fact"); every URN in it must still be
declared, or be named by the ``aliases`` of the resource that replaces it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

from components.stackset import every_stack_name

URNS = Path(__file__).parent / "urns"
# A recorded stack whose stack file an owner deleted has no URNs left to keep.
RECORDED = sorted(p.stem for p in URNS.glob("*.txt") if p.stem in every_stack_name(ROOT))


@pytest.fixture(scope="module")
def every_plan(plans, example_plans, build_dir) -> dict[str, dict]:
    from preview import preview_stack

    backend = preview_stack("backend", ROOT / "bootstrap", build_dir).plan
    return {**plans, **example_plans, "backend": backend}


def _alias_urn(urn: str, alias: str) -> str:
    """An alias as plan.json records it (preview/engine.py ``_alias_text``): a URN, or
    ``name=<old name>`` alone, which names the same type under the same parent."""
    if alias.startswith("urn:"):
        return alias
    parts = dict(part.split("=", 1) for part in alias.split(", ") if "=" in part)
    if set(parts) != {"name"}:
        return alias  # another form: no URN of this stack to compare
    return f"{urn.rsplit('::', 1)[0]}::{parts['name']}"


@pytest.mark.parametrize("stack", RECORDED)
def test_every_recorded_urn_is_still_declared_or_aliased(every_plan, stack):
    assert stack in every_plan, f"{stack}: recorded, but no such stack is previewed any more"
    plan = every_plan[stack]
    declared = {r["urn"] for r in plan["resources"]}
    aliased = {_alias_urn(r["urn"], alias) for r in plan["resources"] for alias in r.get("aliases", [])}
    recorded = set((URNS / f"{stack}.txt").read_text().split())
    lost = sorted(recorded - declared - aliased)
    assert not lost, (f"{stack}: these URNs are gone without an alias, so `pulumi up` would "
                      f"delete and recreate them: {lost}")


def test_the_record_covers_every_shipped_owner_and_example():
    recorded = {p.stem for p in URNS.glob("*.txt")}
    assert {"dev", "test", "uat", "backend"} | set(EXAMPLES) <= recorded
