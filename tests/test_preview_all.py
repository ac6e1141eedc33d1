"""`make preview-all`: every stack in one process, each build folder as `make preview` writes it,
the policy pack over each, one failure kept to its stack (and to the stacks attached to it)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ATTACHED_STACKS, OWNER, ROOT, STACKS
from stackfiles import set_key, write_project

from policy.offline import Violation, check_plan
from preview import fleet

ATTACHED = ATTACHED_STACKS[0]


def run_fleet(*args: str) -> tuple[int, str, str]:
    """``python -m preview.fleet ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = fleet.main(list(args))
    return code, out.getvalue(), err.getvalue()


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fleet_build(tmp_path_factory) -> tuple[Path, int, str, str]:
    """The shipped project's fleet, run in this test process (after whatever previews it ran
    before: state leaking between runs would show as a difference from fresh processes)."""
    build = tmp_path_factory.mktemp("fleet") / "build"
    return (build, *run_fleet("--build-dir", str(build)))


@pytest.mark.long
def test_each_stack_is_what_a_fresh_make_preview_writes(fleet_build, tmp_path):
    build, code, _, _ = fleet_build
    assert code == 0
    # One fresh `make preview` of the attached stack, which previews its owner first.
    fresh = tmp_path / "fresh"
    done = subprocess.run([sys.executable, "-m", "preview", ATTACHED, "--build-dir", str(fresh)],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{ATTACHED} attaches to {OWNER}: previewing {OWNER} first" in done.stderr
    for stack in (OWNER, ATTACHED):
        written = files_under(build / stack)
        assert {"plan.json", "summary.md"} <= set(written) and any(n.startswith("manifests/") for n in written)
        assert written == files_under(fresh / stack), stack


def test_stdout_is_make_preview_and_make_policy_per_stack(fleet_build):
    build, _, out, err = fleet_build
    assert "Traceback" not in err
    for stack in STACKS.rollout_order():
        assert f"wrote      {build / stack}/ plan.json, summary.md" in out
        assert f"stack {stack}: " in out and "policies, 0 violation(s)" in out
    # Owners first: an attached stack reads the plan its owner wrote in this run.
    assert out.index(f"stack      {OWNER} (owner)") < out.index(f"stack      {ATTACHED} (attached)")
    assert out.splitlines()[-1].startswith(f"fleet: {len(STACKS.names)} stack(s), {len(STACKS.names)} previewed; "
                                           f"wrote {build / 'summary.md'}")


def test_the_fleet_summary_has_a_row_per_stack_and_the_path_of_its_summary(fleet_build):
    build = fleet_build[0]
    text = (build / "summary.md").read_text()
    assert text.startswith("# Offline preview of every stack: the project\n")
    assert f"{len(STACKS.names)} stack(s): {len(STACKS.names)} previewed, 0 failed;" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == STACKS.rollout_order()
    for row, stack in zip(rows, STACKS.rollout_order(), strict=True):
        resources = len(json.loads((build / stack / "plan.json").read_text())["resources"])
        owner = f"`{STACKS[stack].owner}`" if STACKS[stack].owner else ""
        assert row == (f"| `{stack}` | {STACKS[stack].role} | {owner} | {resources} | ok | "
                       f"`{stack}/summary.md` |")
    assert "## Failed" not in text and "## Policy violations" not in text


def broken_copy(tmp_path: Path, stack: str) -> Path:
    """The shipped stack files with one route port out of range in ``stack``'s."""
    project = tmp_path / "project"
    project.mkdir()
    return write_project(project, set_key("environment.routes[0].port", 70000, stack=stack))


def stale(build: Path, *stacks: str) -> None:
    """A previous run's output, which a failed stack must not leave looking current."""
    for stack in stacks:
        (build / stack).mkdir(parents=True)
        (build / stack / "plan.json").write_text('{"outputs": {}, "secretOutputs": []}\n')


def test_a_broken_stack_is_named_and_absent_and_the_others_written(tmp_path, monkeypatch):
    project = broken_copy(tmp_path, ATTACHED)
    build = tmp_path / "build"
    stale(build, ATTACHED)
    # One more stack breaks a policy: reported for that stack alone, the run goes on.
    flagged = next(s for s in STACKS.attached if s != ATTACHED) if len(STACKS.attached) > 1 else OWNER
    monkeypatch.setattr(fleet, "check_plan", lambda plan, folder: check_plan(plan, folder) + (
        [Violation("gateway-https-only", "x", "planted")] if plan["stack"] == flagged else []))
    code, out, err = run_fleet("--project-dir", str(project), "--build-dir", str(build))
    assert code == 1
    assert "Traceback" not in err
    assert (f"error: {ATTACHED}: Pulumi.{ATTACHED}.yaml: istio-envs:environment.routes[0].port: got 70000; "
            "expected an integer from 1 to 65535") in err.splitlines()
    assert not (build / ATTACHED).exists()
    for stack in STACKS.names:
        assert (build / stack / "summary.md").exists() == (stack != ATTACHED), stack
    assert f"[mandatory] gateway-https-only: planted\nstack {flagged}: " in out
    text = (build / "summary.md").read_text()
    assert f"| `{ATTACHED}` | attached | `{OWNER}` |  | **failed** | not written |" in text
    assert f"| `{flagged}` |" in text and "**1 policy violation(s)**" in text
    assert f"## Failed\n\n`{ATTACHED}`:\n\n```\nPulumi.{ATTACHED}.yaml: istio-envs:environment.routes[0].port" in text
    assert f"## Policy violations\n\n`{flagged}`:\n\n- `gateway-https-only`: planted" in text
    assert out.splitlines()[-1].startswith(f"fleet: {len(STACKS.names)} stack(s), {len(STACKS.names) - 1} previewed, "
                                           f"failed: {ATTACHED}, policy violations: {flagged}; ")


def test_an_owner_failing_fails_its_attached_stacks_without_previewing_them(tmp_path):
    project = broken_copy(tmp_path, OWNER)
    build = tmp_path / "build"
    stale(build, OWNER, *ATTACHED_STACKS)  # an older owner plan an attached stack could have read
    code, out, err = run_fleet("--project-dir", str(project), "--build-dir", str(build))
    assert code == 1 and "Traceback" not in err
    assert f"error: {OWNER}: Pulumi.{OWNER}.yaml: istio-envs:environment.routes[0].port: got 70000" in err
    for stack in ATTACHED_STACKS:
        assert f"error: {stack}: not previewed: its owner {OWNER} failed" in err.splitlines()
        assert f"running the program for stack {stack}" not in err
        assert f"| `{stack}` | attached | `{OWNER}` |  | **failed** (its owner failed) | not written |" \
            in (build / "summary.md").read_text()
    assert sorted(p.name for p in build.iterdir()) == ["summary.md"]


@pytest.mark.parametrize("args, says", [
    (["--stack-flags", "provided"], "error: --stack-flags 'provided': expected STACK=FLAGS"),
    (["--stack-flags", "provided=--secret tlsPrivateKey=@/no/such/key.pem"],
     "error: --secret tlsPrivateKey: cannot read /no/such/key.pem"),
    (["--stack-flags", "provided=--bogus"], "error: unrecognized arguments: --bogus"),
    (["--project-dir", "{empty}"], "error: no stack files (Pulumi.<stack>.yaml) in {empty}"),
])
def test_bad_arguments_stop_before_any_work(tmp_path, capsys, args, says):
    build = tmp_path / "build"
    args = [a.replace("{empty}", str(tmp_path)) for a in args]
    try:
        code = fleet.main([*args, "--build-dir", str(build)])
    except SystemExit as exited:  # argparse's own refusal
        code = exited.code
    err = capsys.readouterr().err
    assert code == 2
    assert says.replace("{empty}", str(tmp_path)) in err and "Traceback" not in err
    assert not build.exists()


def test_make_passes_each_stacks_preview_flags_and_the_folder():
    done = subprocess.run(["make", "-n", "preview-all", "DIR=examples/provided"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    (command,) = [line for line in done.stdout.splitlines() if "preview.fleet" in line]
    assert command.split("preview.fleet", 1)[1].split() == [
        "--project-dir", "examples/provided", "--stack-flags", "'provided=--demo-certificate'"]
