"""Owner variants a stack file can choose: an existing DNS zone, a zonal cluster."""

from __future__ import annotations

from conftest import a_record, of_type, one
from stackfiles import set_key, write_project

from preview import preview_stack


def _preview(tmp_path, *edits):
    def edit(files):
        for change in edits:
            change(files)
    project = write_project(tmp_path, edit)
    return preview_stack("dev", project, tmp_path / "build").plan


def test_existing_zone_is_looked_up_not_created(tmp_path):
    plan = _preview(tmp_path, set_key("platform.dns", {"zone": "existing", "zoneName": "acme-public"}))
    assert not of_type(plan, "dns/managedZone:ManagedZone")
    (lookup,) = [i for i in plan["invokes"] if i["token"] == "gcp:dns/getManagedZone:getManagedZone"]
    assert lookup["args"] == {"name": "acme-public", "project": "acme-nonprod"}
    assert a_record(plan)["inputs"]["managedZone"] == "acme-public"
    assert plan["outputs"]["dnsZone"] == "acme-public"


def test_created_zone_has_dnssec(tmp_path, plans):
    zone = one(plans["dev"], "dns/managedZone:ManagedZone")["inputs"]
    assert zone["dnssecConfig"] == {"state": "on"}
    # The hosts' parent only (issue "The DNS zone covers the whole domain"), tests/test_dns_zone.py.
    assert zone["dnsName"] == "api.example.com."


def test_zonal_cluster_lives_in_the_first_zone(tmp_path):
    plan = _preview(tmp_path, set_key("platform.cluster.regional", False))
    assert one(plan, "container/cluster:Cluster")["inputs"]["location"] == "us-central1-a"
    assert one(plan, "container/nodePool:NodePool")["inputs"]["location"] == "us-central1-a"
