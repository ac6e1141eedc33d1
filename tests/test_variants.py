"""Owner variants a stack file can choose: an existing DNS zone, a zonal cluster."""

from __future__ import annotations

import pytest
from conftest import OWNER, STACKS, a_record, of_type, one
from stackfiles import set_key, write_project

from preview import preview_stack


def _preview(tmp_path, *edits):
    def edit(files):
        for change in edits:
            change(files)
    project = write_project(tmp_path, edit)
    return preview_stack(OWNER, project, tmp_path / "build").plan


def test_existing_zone_is_looked_up_not_created(tmp_path, configs):
    plan = _preview(tmp_path, set_key("platform.dns", {"zone": "existing", "zoneName": "acme-public"}, OWNER))
    assert not of_type(plan, "dns/managedZone:ManagedZone")
    (lookup,) = [i for i in plan["invokes"] if i["token"] == "gcp:dns/getManagedZone:getManagedZone"]
    assert lookup["args"] == {"name": "acme-public", "project": configs[OWNER].platform.project}
    assert a_record(plan)["inputs"]["managedZone"] == "acme-public"
    assert plan["outputs"]["dnsZone"] == "acme-public"


@pytest.mark.parametrize("owner", [s for s in STACKS.owners
                                   if STACKS[s].config["istio-envs:platform"].get("dns", {}).get("zone", "create")
                                   == "create"])
def test_created_zone_has_dnssec(plans, configs, owner):
    zone = one(plans[owner], "dns/managedZone:ManagedZone")["inputs"]
    assert zone["dnssecConfig"] == {"state": "on"}
    # The hosts' parent only (issue "The DNS zone covers the whole domain"), tests/test_dns_zone.py:
    # api.<domain>, or the domain itself with zoneDomain: apex.
    platform = configs[owner].platform
    served = platform.api_domain if platform.dns.zone_domain == "api" else platform.domain
    assert zone["dnsName"] == f"{served}."


def test_zonal_cluster_lives_in_the_first_zone(tmp_path, configs):
    plan = _preview(tmp_path, set_key("platform.cluster.regional", False, OWNER))
    first = configs[OWNER].platform.zones[0]
    assert one(plan, "container/cluster:Cluster")["inputs"]["location"] == first
    assert one(plan, "container/nodePool:NodePool")["inputs"]["location"] == first
