"""The pull requests of issue #22, made on a copy of the project as a reviewer would meet them:
each must be flagged by the revision diff with one clear line, in text, markdown and JSON.

Each case edits the stack files present (derived from their own values, never the shipped ones)
and previews the stacks it touches with the real program; the base is the project as it is.
The command itself (git worktrees, exit codes, an unknown stack) is tested at the end."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
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


# --- the command ----------------------------------------------------------------------------------

def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, list[str]]:
    """The project in git: then the Istio pin moved a patch release (the program itself changes,
    so the head is previewed by its own program in a process of its own)."""
    root = tmp_path_factory.mktemp("repo")
    for name in _git(ROOT, "ls-files").split():
        if (ROOT / name).is_file() and not name.startswith(("tests/", ".github/", "docs/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    versions = root / "components" / "versions.py"
    text = versions.read_text()
    from components.versions import ISTIO_VERSION
    major, minor, patch = ISTIO_VERSION.split(".")
    versions.write_text(text.replace(f'ISTIO_VERSION = "{ISTIO_VERSION}"', f'ISTIO_VERSION = "{major}.{minor}.{int(patch) + 1}"', 1))
    _git(root, "commit", "-qam", "istio bump")
    return root, [_git(root, "rev-parse", "HEAD~1"), _git(root, "rev-parse", "HEAD")]


@pytest.mark.long  # each head is previewed by its own program, in a process of its own
def test_an_istio_bump_is_a_mesh_upgrade_in_valid_json(repo, capsys):
    root, (before, after) = repo
    code = revdiff.main(["--repo", str(root), "--base", before, "--head", after, "--stack", OWNER, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["risks"]
    upgraded = {r["text"].split()[2] for r in data["risks"] if r["kind"] == "mesh-upgrade"}
    assert upgraded == {"base", "cni", "gateway"}, data["risks"]
    moves = [r["text"] for r in data["risks"] if r["kind"] == "mesh-move"]
    assert any("its pods restart" in line for line in moves), moves  # the environment's sidecars


def test_an_unknown_stack_is_refused_before_any_preview(repo, capsys):
    root, (before, after) = repo
    assert revdiff.main(["--repo", str(root), "--base", before, "--head", after, "--stack", "no-such"]) == 2
    assert "no stack file Pulumi.no-such.yaml" in capsys.readouterr().err


def test_every_risk_class_is_in_the_reviewers_table():
    """docs/reviewing.md's table names each class preview/risks.py reports, and no other."""
    from preview.risks import CLASSES

    table = (ROOT / "docs" / "reviewing.md").read_text().split("| Class | When |")[1].split("\n\n")[0]
    documented = set(re.findall(r"`([a-z-]+)`", "".join(line.split(" | ")[0] for line in table.splitlines())))
    assert documented == set(CLASSES), (set(CLASSES) ^ documented)


def test_make_diff_rev_json_on_a_fresh_machine_prints_the_json_alone(tmp_path):
    """The first `make diff-rev` of a runner makes the venv: whatever the install prints goes to
    stderr, and make echoes no recipe line, so `> f.json` (and the pull request's markdown) holds
    the report alone."""
    import os
    import sys

    fake = tmp_path / "python"  # a stand-in interpreter: noisy installs, the report as JSON
    fake.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "venv"]:
    os.makedirs(args[2] + "/bin")
    for tool in ("python", "uv"):
        os.symlink({str(fake)!r}, args[2] + "/bin/" + tool)
    print("created virtual environment")
elif args[:2] == ["-m", "preview.revdiff"]:
    print(json.dumps({{"risks": [], "argv": args}}))
elif args[:1] != ["-c"]:
    print("Collecting and installing", args)
""")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", "--no-print-directory", "diff-rev", "FORMAT=--json", "BASE=HEAD~1",
                           f"VENV={tmp_path / 'venv'}", f"PYTHON={fake}"], cwd=ROOT, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["argv"] == ["-m", "preview.revdiff", "--base", "HEAD~1", "--json"]
    assert "Collecting and installing" in done.stderr and "created virtual environment" in done.stderr


def test_make_refuses_an_unknown_stack_with_the_documented_exit_code():
    """Through make every failure exits 2 (docs/commands.md, "Exit codes"); the refusal says why."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", "--no-print-directory", "diff-rev", "STACK=no-such-stack"], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert "no stack file Pulumi.no-such-stack.yaml on either side" in done.stderr


def test_a_revision_whose_program_fails_says_its_error(repo, capsys):
    """A head whose program cannot even be imported: the stack is unpreviewable with the error's
    own words (not the last line of a traceback), and the command exits 1."""
    root, (_, after) = repo
    _git(root, "checkout", "-q", "-b", "broken", after)
    versions = root / "components" / "versions.py"
    versions.write_text(versions.read_text() + "\nraise RuntimeError('a pin nobody can read')\n")
    _git(root, "commit", "-qam", "broken")
    broken = _git(root, "rev-parse", "HEAD")
    # The base: a revision without the stack (nothing to preview on that side).
    _git(root, "checkout", "-q", "--orphan", "empty")
    _git(root, "rm", "-rqf", ".")
    _git(root, "commit", "-q", "--allow-empty", "-m", "empty")
    empty = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "-q", "-f", "main")
    code = revdiff.main(["--repo", str(root), "--base", empty, "--head", broken, "--stack", OWNER, "--json"])
    (risk,) = json.loads(capsys.readouterr().out)["risks"]
    assert code == 1 and risk["kind"] == "unpreviewable"
    assert "its program fails: " in risk["text"] and "RuntimeError: a pin nobody can read" in risk["text"]
