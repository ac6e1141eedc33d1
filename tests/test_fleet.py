"""The rules across stack files live in components/fleet.py (run here, by the policy pack, by
`make preview-all` and CI), not in each stack's program: a broken stack file fails its own stack
and this check, nothing else; an attached stack takes its owner's facts from the owner's outputs."""

from __future__ import annotations

import json

import pytest
from conftest import ATTACHED_STACKS, OWNER, ROOT, TENANT, add_tenant
from stackfiles import write_project

from components import fleet
from components.config import ConfigError
from components.stackset import BOOTSTRAP_DIR, StackSet, stack_folders
from preview import preview_stack

FOLDERS = [folder for folder in stack_folders(ROOT) if folder.name != BOOTSTRAP_DIR]


@pytest.mark.parametrize("folder", FOLDERS, ids=[str(f.relative_to(ROOT)) or "." for f in FOLDERS])
def test_every_shipped_stack_set_passes_the_fleet_check(folder):
    assert [str(p) for p in fleet.check(folder)] == []


BROKEN = "config:\n  istio-envs:environment: [unclosed\n"


def test_a_broken_stack_file_blocks_nobody_but_itself(tmp_path):
    project = write_project(tmp_path, lambda files: None)
    (project / f"Pulumi.{TENANT}.yaml").write_text(BROKEN)  # one more stack file, unreadable
    build = tmp_path / "build"
    for stack in (OWNER, *ATTACHED_STACKS[:1]):  # the owner and a sibling preview as before
        assert preview_stack(stack, project, build).plan["resources"]
    with pytest.raises(ConfigError, match=f"Pulumi.{TENANT}.yaml: not valid YAML"):
        preview_stack(TENANT, project, build)
    assert [(p.stack_file, p.key) for p in fleet.check(project)] == [(f"Pulumi.{TENANT}.yaml", "")]
    assert StackSet.load(project)[TENANT].role == "unknown"
    from policy.offline import check_plan

    assert check_plan(json.loads((build / "dev" / "plan.json").read_text()), project) == []


def test_an_attached_stack_takes_its_owners_facts_from_the_owners_outputs(tmp_path):
    """Not from the owner's stack file: without it, the owner's outputs (here its offline
    plan.json, for a deployed owner the StackReference) name the host, the cluster and its range."""
    project = write_project(tmp_path, lambda files: None)
    build = tmp_path / "build"
    owner = preview_stack("dev", project, build).plan
    plan_path = build / "dev" / "plan.json"
    edited = json.loads(plan_path.read_text())
    edited["outputs"].update(apiDomain="api.elsewhere.example", clusterIdentifier="p/r/other",
                             controlPlaneCidr="172.16.32.0/28")
    plan_path.write_text(json.dumps(edited))
    (project / "Pulumi.dev.yaml").unlink()
    plan = preview_stack("test", project, build).plan
    assert plan["outputs"]["host"] == "test.api.elsewhere.example"
    provider = next(r for r in plan["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["clusterIdentifier"] == "p/r/other"
    assert "172.16.32.0/28" in json.dumps(plan["resources"])
    assert owner["outputs"]["clusterIdentifier"] != "p/r/other"


def test_the_policy_pack_and_the_fleet_read_audiences_from_one_place(tmp_path):
    from policy.rules import other_stack_audiences

    stacks = StackSet.load(ROOT)
    by_audience = fleet.audiences(stacks)
    assert other_stack_audiences(ROOT, "dev") == {
        f"Pulumi.{stack}.yaml": {a for a, names in by_audience.items() if stack in names}
        for stack in stacks.names if stack != "dev"}


def test_make_preview_all_runs_the_fleet_check(tmp_path, capsys):
    from stackfiles import set_key

    from preview.fleet import main

    def edit(files):  # TENANT (conftest's) takes the audience of another stack, a sibling's
        add_tenant(files)
        other = (ATTACHED_STACKS or [OWNER])[0]
        audiences = files[f"Pulumi.{other}.yaml"]["config"]["istio-envs:environment"]["auth"]["audiences"]
        set_key("environment.auth.audiences", audiences[:1], TENANT)(files)

    project = write_project(tmp_path, edit)
    assert main(["--project-dir", str(project), "--build-dir", str(tmp_path / "build"), "--no-schemas"]) == 1
    err = capsys.readouterr().err
    assert f"error: fleet: Pulumi.{TENANT}.yaml: istio-envs:environment.auth.audiences: " in err
    assert all((tmp_path / "build" / stack / "plan.json").exists() for stack in StackSet.names_in(project))
    assert "## Fleet check" in (tmp_path / "build" / "summary.md").read_text()
