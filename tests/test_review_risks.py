"""The pull requests of issue #22, made on a copy of the project as a reviewer would meet them:
each must be flagged by the revision diff with one clear line, in text, markdown and JSON.

Each case edits the stack files present (derived from their own values, never the shipped ones)
and previews the stacks it touches with the real program; the base is the project as it is.
The command itself (git worktrees, exit codes, an unknown stack): tests/test_revdiff.py."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import OWNER, ROOT, STACKS, scratch_stack_name
from stackfiles import write_project

from preview import diffview, revdiff

NS = "istio-envs"
ATTACHED = next(iter(s.name for s in STACKS.attached_to(OWNER)), None)


Files = dict[str, dict]  # stack file name -> its document (tests/stackfiles.py)


def _config(files: Files, stack: str) -> dict:
    return files[f"Pulumi.{stack}.yaml"]["config"]


def _plans(project: Path, stacks: list[str], build_dir: Path) -> dict:
    """What the revision diff previews of a side: each stack present, by revdiff's own loop (a
    stack that fails is its error message), None for a stack without a file. The owner, unless
    among ``stacks``, is the session's preview of it (its stack file is unchanged)."""
    present = [s for s in stacks if (project / f"Pulumi.{s}.yaml").exists()]
    if OWNER not in stacks:
        shutil.copytree(build_dir / OWNER, project / "build" / OWNER)
    return {**dict.fromkeys(stacks), **revdiff._finish(project, present, project / "build", None)}


@pytest.fixture(scope="module")
def base(shipped_plans, build_dir) -> dict:
    """The project as it is: the session's previews, and where to find them."""
    return {"plans": {s: shipped_plans[s] for s in [OWNER, *([ATTACHED] if ATTACHED else [])]},
            "build": build_dir}


def _review(base: dict, tmp_path: Path, edit: Callable[[Files], None], stacks: list[str],
            after: Callable[[Path], None] = lambda project: None) -> revdiff.Report:
    """The stack files present with ``edit`` (``after`` then changes the written files, for what
    a document cannot say, such as a tab), previewed and compared with the base."""
    project = write_project(tmp_path, edit)
    after(project)
    report = revdiff.compare({s: base["plans"].get(s) for s in stacks}, _plans(project, stacks, base["build"]))
    # Every form a reviewer or a program reads carries each risk line.
    text, markdown, data = diffview.text(report), diffview.markdown(report), json.loads(diffview.as_json(report))
    for risk in report.risks:
        assert f"[{risk.kind}] {risk.stack}: {risk.text}" in text
        assert f"**{risk.kind}** `{risk.stack}`: {risk.text}" in markdown
    assert [r["kind"] for r in data["risks"]] == [r.kind for r in report.risks]
    return report


def _lines(report: revdiff.Report, kind: str) -> list[str]:
    return [r.text for r in report.risks if r.kind == kind]


def _environment(config: dict) -> dict:
    return config[f"{NS}:environment"]


def _platform(config: dict) -> dict:
    return config[f"{NS}:platform"]


def test_a_public_path_ending_in_star_is_flagged(base, tmp_path):
    def edit(files: Files) -> None:
        environment = _environment(_config(files, OWNER))
        environment["auth"]["publicPaths"] = [*environment["auth"].get("publicPaths", []),
                                              environment["routes"][0]["path"].rstrip("/") + "/*"]

    report = _review(base, tmp_path, edit, [OWNER])
    opened = _lines(report, "access-opened")
    assert opened and all("with no token: 403 → reaches" in line for line in opened), opened


@pytest.mark.skipif(ATTACHED is None, reason="no attached stack to copy an environment from")
def test_a_new_environment_is_reviewed_as_a_whole(base, tmp_path):
    """Every route public, a 64 CPU / 512Gi / 1000 pod quota and an outside owner."""
    name = scratch_stack_name(ROOT, "wide")

    def edit(files: Files) -> None:
        document = copy.deepcopy(files[f"Pulumi.{ATTACHED}.yaml"])
        environment = _environment(document["config"])
        environment["auth"]["audiences"] = [f"https://{name}.api.invalid"]
        environment["auth"]["publicPaths"] = [r["path"] for r in environment["routes"]]
        environment["quota"] = {"cpu": "64", "memory": "512Gi", "pods": 1000}
        environment["owners"] = ["user:contractor@outside.example"]
        environment.pop("name", None)
        files[f"Pulumi.{name}.yaml"] = document

    report = _review(base, tmp_path, edit, [OWNER, name])
    assert report.stacks[[c.stack for c in report.stacks].index(name)].status == "created"
    assert any(line.endswith(("(threshold 8)", "(threshold 32Gi)", "(threshold 100)"))
               for line in _lines(report, "quota-raised"))
    assert len(_lines(report, "quota-raised")) == 3
    assert "quota requests.cpu (none) → 64 (threshold 8)" in _lines(report, "quota-raised")
    demo_on = bool(yaml.safe_load((ROOT / f"Pulumi.{ATTACHED}.yaml").read_text())["config"][f"{NS}:environment"].get("demo"))
    assert bool(_lines(report, "demo-on")) == demo_on  # the template's demo comes along
    owners = _lines(report, "owners-granted")
    assert any("user:contractor@outside.example may deploy into namespace" in line for line in owners), owners
    assert any("contractor@outside.example gets roles/container.clusterViewer" in line for line in owners), owners
    assert any(" with no token: new → reaches" in line for line in _lines(report, "access-opened"))
    summary = (tmp_path / "build" / name / "summary.md").read_text()
    assert "- Owners (deploy into the namespace, cluster credentials from the owner stack): " \
           "`user:contractor@outside.example`" in summary


@pytest.mark.skipif(ATTACHED is None, reason="no attached stack")
@pytest.mark.parametrize("breakage", ["key typo", "tab"])
def test_a_change_that_cannot_be_previewed_is_the_first_risk(base, tmp_path, breakage):
    def typo(files: Files) -> None:
        if breakage == "key typo":
            _environment(_config(files, ATTACHED))["routse"] = []

    def tab(project: Path) -> None:
        if breakage == "tab":
            path = project / f"Pulumi.{ATTACHED}.yaml"
            path.write_text(path.read_text().replace("  ", "\t", 1))

    report = _review(base, tmp_path, typo, [ATTACHED], after=tab)
    assert report.risks[0].kind == "unpreviewable" and report.risks[0].stack == ATTACHED
    assert f"Pulumi.{ATTACHED}.yaml" in report.risks[0].text


@pytest.mark.skipif(ATTACHED is None, reason="no attached stack")
def test_removing_a_stack_file_says_merging_destroys_nothing(base, tmp_path):
    report = _review(base, tmp_path, lambda files: files.pop(f"Pulumi.{ATTACHED}.yaml"), [ATTACHED])
    (line,) = _lines(report, "stack-removed")
    assert "merging destroys nothing" in line and f"pulumi destroy -s {ATTACHED}" in line


@pytest.mark.parametrize(("change", "kind", "fragment"), [
    (lambda p: p["cluster"].__setitem__("machineType", "n2-standard-8" if p["cluster"].get("machineType") != "n2-standard-8" else "e2-standard-8"),
     "nodes-recreated", "recreating every node"),
    (lambda p: p["cluster"].__setitem__("spot", not p["cluster"].get("spot", False)),
     "node-pool-replaced", "no outage for workloads with two replicas or more"),
    (lambda p: p["cluster"].__setitem__("podsCidr", "10.64.0.0/14" if p["cluster"].get("podsCidr") != "10.64.0.0/14" else "10.68.0.0/14"),
     "cluster-rebuild", "a plain `pulumi up` cannot carry this out"),
    (lambda p: p["cluster"].__setitem__("maxNodesPerZone", p["cluster"].get("maxNodesPerZone", 3) + 7),
     "cost-rise", "maxNodesPerZone"),
], ids=["machine type", "spot", "podsCidr", "maxNodesPerZone"])
def test_what_a_platform_change_does_to_running_systems(base, tmp_path, change, kind, fragment):
    report = _review(base, tmp_path, lambda files: change(_platform(_config(files, OWNER))), [OWNER])
    assert any(fragment in line for line in _lines(report, kind)), revdiff.text(report)
