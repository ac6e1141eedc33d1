"""The upgrade of the shipped platform from the pinned Istio to the next one, walked offline
(tests/upgrade.py: the stack-file edits of each step, applied one after another in a copy of the
project): every state previews with the schema checks against both versions' definitions,
passes the policy pack, the fleet check and admission, and each step's `make diff-rev` reports
exactly the moves it makes; a rollback of one environment is the same move backwards."""

from __future__ import annotations

import pytest
from admission import Cluster, Request
from injection import inject, tags_of
from tenancy_world import kubernetes_objects, pod_of
from upgrade import NEW, OLD, OWNER, ROLLBACK, ROLLBACK_AFTER, STEPS

from components import fleet
from components.istio import revision_name
from policy.offline import check_plan
from preview import revdiff

STATES = ["shipped", *(f"step-{i + 1}" for i in range(len(STEPS)))]
CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"


def mesh_lines(report: revdiff.Report) -> list[str]:
    return [f"{r.stack}: {r.text}" for r in report.risks if r.kind == "mesh-move"]


@pytest.mark.long  # its fixture previews every state of the upgrade
@pytest.mark.parametrize("index", range(len(STEPS)), ids=[s.name for s in STEPS])
def test_each_step_reports_the_moves_it_makes_and_nothing_else(upgrade_plans, index):
    before, after = upgrade_plans[STATES[index]], upgrade_plans[STATES[index + 1]]
    report = revdiff.compare(before, after)
    assert mesh_lines(report) == list(STEPS[index].risks), revdiff.text(report)
    # Besides the moves: the Istio charts that move in place (base first, CNI last), each said.
    assert {r.kind for r in report.risks} <= {"mesh-move", "mesh-upgrade"}, revdiff.text(report)
    moved = [r.text for r in report.risks if r.kind == "mesh-upgrade"]
    charts = {c: {s: {r["inputs"]["chart"]: r["inputs"]["version"] for r in p["resources"]
                      if r["type"] == "kubernetes:helm.sh/v3:Release"} for s, p in side.items() if p}
              for c, side in (("before", before), ("after", after))}
    assert len(moved) == sum(1 for s, had in charts["before"].items() for chart in ("base", "cni", "gateway")
                             if chart in had and had[chart] != charts["after"].get(s, {}).get(chart)), moved
    changed = {c.stack for c in report.stacks if c.status == "changed"}
    assert changed == {r.split(":")[0] for r in STEPS[index].risks} | set(STEPS[index].edits)


def test_a_rollback_is_the_same_move_backwards(upgrade_plans):
    report = revdiff.compare(upgrade_plans[STATES[ROLLBACK_AFTER + 1]], upgrade_plans["rollback"])
    assert mesh_lines(report) == list(ROLLBACK.risks)
    assert {r.kind for r in report.risks} == {"mesh-move"}
    # ... back to exactly the state before it moved.
    same = revdiff.compare(upgrade_plans[STATES[ROLLBACK_AFTER]], upgrade_plans["rollback"])
    assert same.risks == [] and {c.status for c in same.stacks} == {"unchanged"}


@pytest.mark.parametrize("state", [*STATES, "rollback"])
def test_every_state_passes_the_policy_pack_and_the_fleet_check(upgrade_plans, upgrade_projects, state):
    folder = next(f for f in [upgrade_projects[0].parent / "shipped", *upgrade_projects] if f.name == state)
    assert fleet.check(folder) == []
    for stack, plan in upgrade_plans[state].items():
        assert check_plan(plan, folder) == [], (state, stack)


@pytest.mark.parametrize("state", [*STATES, "rollback"])
def test_every_environment_runs_the_revision_its_tag_points_at(upgrade_plans, state):
    """Each environment's outputs, namespace and demo agree with the owner's tags; its demo's pod,
    injected by that revision, is admitted by the owner's policies in that state."""
    plans = upgrade_plans[state]
    owner = plans[OWNER]
    tags = tags_of(owner)
    policies = [o for o in kubernetes_objects(owner) if o["kind"].startswith("ValidatingAdmissionPolicy")]
    for stack, plan in plans.items():
        out = plan["outputs"]["meshRevision"]
        assert tags[out["tag"]] == out["version"] and out["revision"] == revision_name(out["version"]), stack
        objects = kubernetes_objects(plan)
        namespace = next(o for o in objects if o["kind"] == "Namespace")
        assert namespace["metadata"]["labels"]["istio.io/rev"] == out["tag"]
        cluster = Cluster.of(policies + [namespace])
        for obj in objects:
            if obj["kind"] == "Deployment":
                pod = inject(pod_of(obj), namespace, tags)
                assert f"proxyv2:{out['version']}" in pod["spec"]["initContainers"][1]["image"]
                assert pod["metadata"]["annotations"]["istio.io/rev"] == out["revision"]
                assert cluster.review(Request("CREATE", CONTROLLER, pod)) == [], (state, stack)


def test_the_walk_is_the_upgrade_the_issue_describes():
    """Owner installs canary; test, uat, dev move; stable promoted; old revision removed."""
    assert [sorted(s.edits) for s in STEPS] == [[OWNER], ["test"], ["uat"], [OWNER], [OWNER], [OWNER]]
    assert f"{NEW}" in STEPS[0].name and f"{OLD}" in STEPS[-1].name


def _istiods(plan: dict) -> dict[str, dict]:
    return {r["inputs"]["values"]["revision"]: r for r in plan["resources"]
            if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == "istiod"}


def test_a_tag_leaves_its_old_release_before_its_new_one_takes_it(upgrade_plans, upgrade_projects, tmp_path):
    """Helm refuses to render istio-revision-tag-<tag> while another release owns it: the release
    that takes `stable` waits for the one giving it up, in a promotion and in its rollback."""
    import shutil

    from upgrade import mesh

    from preview import preview_stack

    old, new = revision_name(OLD), revision_name(NEW)
    promoted = _istiods(upgrade_plans["step-5"][OWNER])
    assert promoted[old]["urn"] in promoted[new]["dependencies"]
    assert promoted[new]["urn"] not in promoted[old]["dependencies"]
    back = shutil.copytree(upgrade_projects[4], tmp_path / "unpromoted")
    path = back / f"Pulumi.{OWNER}.yaml"
    path.write_text(mesh((OLD, ("stable",)), (NEW, ("canary",)))(path.read_text()))
    unpromoted = _istiods(preview_stack(OWNER, back, tmp_path / "build", check_schemas=True).plan)
    assert unpromoted[new]["urn"] in unpromoted[old]["dependencies"]
    assert unpromoted[old]["urn"] not in unpromoted[new]["dependencies"]


def test_pull_request_environments_follow_test(upgrade_projects, tmp_path):
    """`make new-env` (and the pull-request environments, written by it from Pulumi.test.yaml)
    copies the template's meshRevision: once test has moved, a new environment starts there."""
    import shutil

    from tools.new_env import new_environment

    project = shutil.copytree(upgrade_projects[1], tmp_path / "moved")  # test on canary
    written = new_environment("pr-7", project).read_text()
    assert "meshRevision: canary" in written
