"""Owner variants a stack file can choose: a zonal cluster (an existing DNS zone:
tests/test_dns_zone.py)."""

from __future__ import annotations

from conftest import OWNER, one
from stackfiles import set_key, write_project

from preview import owner_outputs, render
from preview.engine import run_program


def test_zonal_cluster_lives_in_the_first_zone(tmp_path, configs):
    project = write_project(tmp_path, set_key("platform.cluster.regional", False, OWNER))
    plan = render.plan(run_program(project, OWNER, owner_outputs(tmp_path / "build")))
    first = configs[OWNER].platform.zones[0]
    assert one(plan, "container/cluster:Cluster")["inputs"]["location"] == first
    assert one(plan, "container/nodePool:NodePool")["inputs"]["location"] == first
