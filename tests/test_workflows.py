"""The GitHub workflows: valid for actionlint, and doing what the README says they do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SHIPPED_STACKS, scratch_stack_name
from stackfiles import write_project

from tools.stacks import stacks

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = str(Path(sys.executable).parent / "actionlint")


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps_text(job: dict) -> str:
    """Each step's shell script as written, and its other keys as JSON."""
    return "\n".join(step.get("run", "") + json.dumps({k: v for k, v in step.items() if k != "run"})
                     for step in job["steps"])


def test_actionlint_passes():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 4
    done = subprocess.run([ACTIONLINT, "-no-color", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n")
    done = subprocess.run([ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "matrix" in done.stdout


def test_pull_request_runs_tests_and_every_stacks_offline_preview_and_policy():
    jobs = workflow("pull-request.yml")["jobs"]
    assert "make test" in steps_text(jobs["test"])
    assert "python -m tools.stacks all" in steps_text(jobs["stacks"])
    preview = jobs["offline-preview"]
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.all) }}"
    text = steps_text(preview)
    assert "make preview STACK=${{ matrix.stack }}" in text and "make policy STACK=${{ matrix.stack }}" in text
    assert "summary.md" in text and "createComment" in steps_text(jobs["comment"])
    real = jobs["pulumi-preview"]
    assert real["if"] == "vars.PULUMI_BACKEND_URL != ''"
    (pulumi,) = [s for s in real["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True


def test_deploy_rolls_out_owner_first_then_attached_in_parallel_one_run_per_stack():
    jobs = workflow("deploy.yml")["jobs"]
    assert set(jobs["attached"]["needs"]) >= {"owner"}
    for job in ("owner", "attached"):
        concurrency = jobs[job]["concurrency"]
        assert concurrency == {"group": "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": False}
        (pulumi,) = [s for s in jobs[job]["steps"] if s.get("uses", "").startswith("pulumi/actions")]
        assert pulumi["with"]["command"] == "up"
    assert jobs["owner"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.owners) }}"
    assert jobs["attached"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.attached) }}"


def test_destroy_environment_refuses_the_owner():
    job = workflow("destroy-environment.yml")["jobs"]["destroy"]
    text = steps_text(job)
    assert "tools.stacks attached" in text
    (pulumi,) = [s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions")]
    assert pulumi["with"]["command"] == "destroy" and pulumi["with"]["remove"] is True


def test_preview_environment_lifecycle():
    document = workflow("preview-environment.yml")
    assert document["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"
    up, down = document["jobs"]["up"], document["jobs"]["down"]
    assert "preview-env" in up["if"] and "closed" in down["if"]
    assert "tools.new_env \"$STACK\" --quota-cpu 1" in steps_text(up)
    assert '"command": "destroy"' in steps_text(down) and '"remove": true' in steps_text(down)


def test_rollout_matrix_comes_from_the_stack_files(tmp_path):
    found = stacks(ROOT)
    assert "dev" in found["owners"] and {"test", "uat"} <= set(found["attached"])
    assert sorted(found["owners"] + found["attached"]) == SHIPPED_STACKS
    name = scratch_stack_name(tmp_path)
    project = write_project(tmp_path, lambda files: files.update({
        f"Pulumi.{name}.yaml": {**files["Pulumi.test.yaml"]}}))
    assert stacks(project)["attached"] == sorted([*found["attached"], name])


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml", "preview-environment.yml"])
def test_no_workflow_uses_a_json_key(name):
    text = (WORKFLOWS / name).read_text()
    assert "credentials_json" not in text and "GOOGLE_CREDENTIALS" not in text
    assert "workload_identity_provider" in text
