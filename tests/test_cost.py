"""What it costs (#22, item 6): preview/cost.py against the vendored price table, by hand.

Every owner stack's estimate is recomputed here from its own plan's inputs and the table's
prices, the arithmetic written out; the shipped dev platform's is also pinned to its shipped
values (``shipped()``: an owner's edit of Pulumi.dev.yaml leaves that test out). Then the
changes a reviewer sees: spot lowering the minimum, maxNodesPerZone 3 → 10 producing its change
line and a rise above the threshold, an unknown region or machine type said so and never priced.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date

import pytest
from conftest import ATTACHED_STACKS, OWNER, ROOT, STACKS, of_type, one, shipped

from preview import cost

TABLE = json.loads((ROOT / "schemas" / "prices" / "gcp-us-central1.json").read_text())
HOURS = 730  # a month, as the estimate counts it
OWNERS = [stack.name for stack in STACKS if stack.is_owner]


def table_of(plan: dict) -> dict:
    location = one(plan, ":container/cluster:Cluster")["inputs"]["location"]
    found = cost.price_table(cost.region_of(location))
    assert found is not None, f"no price table for the region of {location}"
    return found


def items(found: cost.Estimate) -> dict[str, cost.Item]:
    return {item.key: item for item in found.items}


def pool_of(plan: dict) -> dict:
    return one(plan, ":container/nodePool:NodePool")


def with_pool(plan: dict, **changes) -> dict:
    """A copy of the plan with the node pool's inputs changed (``nodeConfig.spot=True`` as
    ``nodeConfig__spot=True``)."""
    changed = copy.deepcopy(plan)
    inputs = pool_of(changed)["inputs"]
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = inputs
        for part in parents:
            node = node[part]
        node[last] = value
    return changed


# --- the table ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((ROOT / "schemas" / "prices").glob("*.json")), ids=lambda p: p.name)
def test_every_price_table_is_dated_and_every_price_has_a_source_or_a_note(path):
    table = json.loads(path.read_text())
    assert path.name == f"{table['provider']}-{table['region']}.json"
    assert date.fromisoformat(table["date"]) <= date.today()
    assert table["currency"] == "USD" and table["hoursPerMonth"] == HOURS
    priced = {**{f"items.{k}": v for k, v in table["items"].items()},
              **{f"disks.{k}": v for k, v in table["disks"].items()}}
    for name, entry in priced.items():
        assert entry["source"].startswith("https://cloud.google.com/"), name
        assert entry["unit"], name
        if entry["price"] is None:
            assert entry.get("note"), f"{name}: a null price needs a note saying why"
        else:
            assert isinstance(entry["price"], int | float) and entry["price"] > 0, name
            assert entry.get("quote") or entry.get("note"), f"{name}: what the page says, or where it was read"
    for name, family in table["machineFamilies"].items():
        assert family["source"].startswith("https://cloud.google.com/") and family.get("note"), name
    for name, machine in table["machineTypes"].items():
        family = table["machineFamilies"][machine["family"]]
        # A predefined machine type is billed per vCPU and per GiB of memory.
        assert machine["onDemandHourly"] == round(
            machine["vcpus"] * family["vcpuHourly"] + machine["memoryGiB"] * family["memoryGiBHourly"], 6), name
        assert machine["spotHourly"] is None or machine["spotHourly"] < machine["onDemandHourly"], name
    if any(m["spotHourly"] is None for m in table["machineTypes"].values()):
        assert table["items"]["spotDiscount"]["price"] is not None


def test_the_shipped_region_has_a_table_with_the_machine_types_the_issue_names():
    assert TABLE["region"] == "us-central1"
    assert {"e2-standard-2", "e2-standard-4", "e2-standard-8", "n2-standard-2", "n2-standard-4",
            "n2-standard-8"} <= set(TABLE["machineTypes"])


# --- an owner's estimate, by hand -----------------------------------------------------------------

@pytest.mark.parametrize("stack", OWNERS)
def test_an_owner_estimate_is_its_plans_inputs_at_the_tables_prices(plans, stack):
    plan = plans[stack]
    table = table_of(plan)
    found = cost.estimate(plan)
    got = items(found)
    assert found.date == table["date"] and found.region == table["region"]
    pool = pool_of(plan)
    node = pool["inputs"]["nodeConfig"]
    zones = len(pool["inputs"]["nodeLocations"])
    per_zone_min = pool["inputs"]["autoscaling"]["minNodeCount"]
    per_zone_max = pool["inputs"]["autoscaling"]["maxNodeCount"]
    low_nodes, high_nodes = zones * per_zone_min, zones * per_zone_max
    hourly = table["machineTypes"][node["machineType"]]["onDemandHourly"]
    nodes = got[f"nodes:{pool['name']}"]
    assert nodes.low == pytest.approx(low_nodes * hourly * HOURS)
    assert nodes.high == pytest.approx(high_nodes * hourly * HOURS)
    disk = got[f"disks:{pool['name']}"]
    per_gb = table["disks"][node["diskType"]]["price"]
    assert disk.low == pytest.approx(low_nodes * node["diskSizeGb"] * per_gb)
    assert disk.high == pytest.approx(high_nodes * node["diskSizeGb"] * per_gb)
    if node["spot"]:
        assert got[f"spot:{pool['name']}"].low == pytest.approx(
            -table["items"]["spotDiscount"]["price"] * nodes.low)
    cluster = one(plan, ":container/cluster:Cluster")
    fee = got[f"cluster-fee:{cluster['name']}"]
    assert fee.high == pytest.approx(table["items"]["clusterManagementFee"]["price"] * HOURS)
    nat = table["items"]["natGateway"]
    assert got["nat-gateway"].low == pytest.approx(
        (nat["price"] * low_nodes if low_nodes <= nat["capVms"] else nat["capPrice"]) * HOURS)
    assert got["nat-gateway"].high == pytest.approx(
        (nat["price"] * high_nodes if high_nodes <= nat["capVms"] else nat["capPrice"]) * HOURS)
    # The Istio gateway's Service of type LoadBalancer: one regional forwarding rule.
    assert "1 (one per Service of type LoadBalancer" in got["forwarding-rules"].quantity
    assert got["forwarding-rules"].priced is (table["items"]["forwardingRule"]["price"] is not None)
    assert found.low == pytest.approx(sum(i.low for i in found.items if i.priced))


def pinned(stack: str, pins: dict) -> list[str]:
    """``[stack]`` while its file still says every pinned value as shipped."""
    return [stack] if all(shipped(stack, key, value) for key, value in pins.items()) else []


DEV_PINS = {"platform.region": "us-central1", "platform.cluster.machineType": "e2-standard-4",
            "platform.cluster.minNodesPerZone": 1, "platform.cluster.maxNodesPerZone": 3,
            "platform.zones": ["us-central1-a", "us-central1-b", "us-central1-c"],
            "platform.dns.zone": "create", "environment.quota": {"cpu": "4", "memory": "8Gi", "pods": 40}}


@pytest.mark.parametrize("stack", pinned(OWNER, DEV_PINS))
def test_the_shipped_dev_platform_estimate(plans, stack):
    plan = plans[stack]
    found = cost.estimate(plan)
    got = items(found)
    disk_gb = pool_of(plan)["inputs"]["nodeConfig"]["diskSizeGb"]  # the program's default (50)
    assert not pool_of(plan)["inputs"]["nodeConfig"]["spot"]
    # Regional: 0.10 USD per cluster-hour, no free-tier credit.
    assert got["cluster-fee:platform-gke-cluster"].low == got["cluster-fee:platform-gke-cluster"].high \
        == pytest.approx(0.10 * 730)  # 73.00
    # 3 zones × 1–3 nodes × e2-standard-4 (4 × 0.021811 + 16 × 0.002923 = 0.134012 USD/hour) × 730.
    assert got["nodes:platform-gke-pool"].low == pytest.approx(3 * 1 * 0.134012 * 730)   # 293.49
    assert got["nodes:platform-gke-pool"].high == pytest.approx(3 * 3 * 0.134012 * 730)  # 880.46
    # Their boot disks: 3–9 × 50 GB × 0.10 USD per GB-month (pd-balanced).
    assert got["disks:platform-gke-pool"].low == pytest.approx(3 * disk_gb * 0.10)   # 15.00
    assert got["disks:platform-gke-pool"].high == pytest.approx(9 * disk_gb * 0.10)  # 45.00
    # Cloud NAT: 0.0014 USD per node-hour (up to 32 nodes), and its one AUTO_ONLY address.
    assert got["nat-gateway"].low == pytest.approx(3 * 0.0014 * 730)   # 3.07
    assert got["nat-gateway"].high == pytest.approx(9 * 0.0014 * 730)  # 9.20
    assert got["nat-ips"].low == got["nat-ips"].high == pytest.approx(0.005 * 730)  # 3.65
    # The zone it creates: 0.000273973 USD per zone-hour (0.20 a month).
    assert got["dns-zones"].high == pytest.approx(0.000273973 * 730)
    # The regional forwarding rule and the reserved address: no us-central1 price was found.
    assert not got["forwarding-rules"].priced and not got["static-ips"].priced
    assert found.low == pytest.approx(73 + 293.48628 + 3 * disk_gb * 0.10 + 3.066 + 3.65 + 0.2)
    assert found.high == pytest.approx(73 + 880.45884 + 9 * disk_gb * 0.10 + 9.198 + 3.65 + 0.2)
    # Its own environment: a quota of 4 CPUs and 8Gi is max(4/4, 8/16) = 1 node's worth: a third of
    # the 3 nodes at the minimum, a ninth of the 9 at the maximum, 0.134012 × 730 a month.
    (share,) = found.shares
    assert (share.environment, share.nodes) == ("dev", 1)
    assert share.of_min == pytest.approx(1 / 3) and share.of_max == pytest.approx(1 / 9)
    assert share.low == share.high == pytest.approx(0.134012 * 730)

    lines = cost.summary_lines(found)
    assert "| nodes `e2-standard-4` * | 3 zones × 1–3 nodes (3–9) × 0.134012 USD/hour | 293.49–880.46 |" in lines
    assert "| cluster management fee (regional) | 1 cluster × 0.1 USD/hour | 73.00 |" in lines
    assert f"| **Total** | | **{cost.money(found.low)}–{cost.money(found.high)}** |" in lines
    footer = lines[-2]
    assert footer.startswith(f"Estimate from the price table of {TABLE['date']} (cloud.google.com/")
    assert "not a bill: usage (egress, NAT data, logging) is not included" in footer
    assert any(line.startswith("Not priced, and left out of the total: load balancer forwarding rule, "
                               "static external IP") for line in lines)


@pytest.mark.parametrize("stack", ATTACHED_STACKS)
def test_an_attached_stack_is_its_quotas_share_of_its_owners_nodes(plans, stack):
    plan = plans[stack]
    owner = STACKS[stack].owner
    found = cost.estimate(plan, owner_plan=plans[owner])
    assert found.owner == owner and found.items == ()
    quota = one(plan, ":core/v1:ResourceQuota")["inputs"]["spec"]["hard"]
    machine = TABLE["machineTypes"][pool_of(plans[owner])["inputs"]["nodeConfig"]["machineType"]]
    cores = float(quota["requests.cpu"].removesuffix("m")) / (1000 if quota["requests.cpu"].endswith("m") else 1)
    gib = float(re.fullmatch(r"([0-9.]+)Gi", quota["requests.memory"]).group(1))
    (share,) = found.shares
    assert share.nodes == pytest.approx(max(cores / machine["vcpus"], gib / machine["memoryGiB"]))
    assert share.high == pytest.approx(share.nodes * machine["onDemandHourly"] * HOURS)
    assert f"- Environment `{share.environment}`: its quota (" in "\n".join(cost.summary_lines(found))
    # Without the owner's plan there is nothing to share: said, not guessed.
    alone = cost.estimate(plan)
    assert not alone.has_table and "plan is needed" in alone.problems[0]
    assert cost.estimates({stack: plan, owner: plans[owner]})[stack] == found


# --- what a change does -------------------------------------------------------------------------

def test_spot_lowers_the_minimum_by_the_largest_published_discount(plans):
    plan = with_pool(plans[OWNER], nodeConfig__spot=False)  # whatever the stack file says
    before = cost.estimate(plan)
    after = cost.estimate(with_pool(plan, nodeConfig__spot=True))
    pool = pool_of(plan)["name"]
    nodes_low = items(before)[f"nodes:{pool}"].low
    discount = TABLE["items"]["spotDiscount"]["price"]  # up to 91% off; no floor published
    assert after.low == pytest.approx(before.low - discount * nodes_low)
    assert after.high == pytest.approx(before.high)
    assert after.low < before.low and cost.rise(before, after) == pytest.approx(0)
    assert (f"spot discount (spot False → True): −{cost.money(discount * nodes_low)} USD/month at the "
            "minimum (the maximum unchanged)") in cost.change_lines(before, after)


def test_max_nodes_per_zone_3_to_10_is_a_change_line_and_a_rise_above_the_threshold(plans):
    plan = plans[OWNER]
    pool = pool_of(plan)["inputs"]
    was, zones = pool["autoscaling"]["maxNodeCount"], len(pool["nodeLocations"])
    now = was + 7
    hourly = TABLE["machineTypes"][pool["nodeConfig"]["machineType"]]["onDemandHourly"]
    before = cost.estimate(plan)
    after = cost.estimate(with_pool(plan, autoscaling__maxNodeCount=now))
    # 7 more nodes per zone in each zone, at the machine's hourly price, 730 hours a month.
    nodes = (now - was) * zones * hourly * HOURS
    disks = (now - was) * zones * pool["nodeConfig"]["diskSizeGb"] * TABLE["disks"]["pd-balanced"]["price"]
    nat = TABLE["items"]["natGateway"]
    nat_delta = ((nat["price"] * now * zones if now * zones <= nat["capVms"] else nat["capPrice"])
                 - nat["price"] * was * zones) * HOURS
    lines = cost.change_lines(before, after)
    assert (f"nodes `{pool['nodeConfig']['machineType']}` (maxNodesPerZone {was} → {now}): up to "
            f"+{cost.money(nodes)} USD/month (the minimum unchanged)") in lines
    assert (f"boot disks pd-balanced (maxNodesPerZone {was} → {now}): up to +{cost.money(disks)} USD/month "
            "(the minimum unchanged)") in lines
    assert lines[-1].startswith(f"total: {cost.money(before.low)}–{cost.money(before.high)} → ")
    assert cost.rise(before, after) == pytest.approx(nodes + disks + nat_delta)
    assert cost.rise(before, after) > cost.COST_RISE_THRESHOLD_USD == 100
    assert cost.change_lines(before, before) == []


def test_past_32_nodes_cloud_nat_is_charged_its_flat_rate(plans):
    found = cost.estimate(with_pool(plans[OWNER], autoscaling__maxNodeCount=20))
    nat = TABLE["items"]["natGateway"]
    zones = len(pool_of(plans[OWNER])["inputs"]["nodeLocations"])
    assert 20 * zones > nat["capVms"]
    assert items(found)["nat-gateway"].high == pytest.approx(nat["capPrice"] * HOURS)


def test_a_zonal_cluster_may_fall_under_the_free_tier_credit(plans):
    plan = copy.deepcopy(plans[OWNER])
    cluster = one(plan, ":container/cluster:Cluster")
    cluster["inputs"]["location"] = cluster["inputs"]["location"] + "-a"
    found = cost.estimate(plan)
    fee = items(found)[f"cluster-fee:{cluster['name']}"]
    assert found.region == cost.region_of(cluster["inputs"]["location"]) == TABLE["region"]
    assert (fee.low, fee.high) == (0, pytest.approx(0.10 * HOURS))
    assert "free-tier credit" in fee.note


def test_a_region_without_a_price_table_is_said_and_never_priced(plans):
    plan = copy.deepcopy(plans[OWNER])
    for resource in of_type(plan, ":container/cluster:Cluster") + of_type(plan, ":container/nodePool:NodePool"):
        resource["inputs"]["location"] = "europe-west1"
    assert cost.price_table("europe-west1") is None
    for found in (cost.estimate(plan), cost.estimate(plan, table=TABLE)):  # another region's table is not used
        assert not found.has_table and found.low is None and found.items == ()
        assert found.problems[0].startswith("no price table for europe-west1")
        text = "\n".join(cost.summary_lines(found))
        assert "no price table for europe-west1" in text and not re.search(r"[0-9]\.[0-9]{2}", text)
    assert cost.change_lines(cost.estimate(plans[OWNER]), cost.estimate(plan))[0].startswith(
        "not estimated (head): no price table for europe-west1")
    assert cost.rise(cost.estimate(plans[OWNER]), cost.estimate(plan)) < 0  # nothing priced on the head side


def test_a_machine_type_without_a_price_is_said_and_left_out(plans):
    plan = with_pool(plans[OWNER], nodeConfig__machineType="n1-standard-4")
    assert "n1-standard-4" not in TABLE["machineTypes"]
    found = cost.estimate(plan)
    nodes = items(found)[f"nodes:{pool_of(plan)['name']}"]
    assert not nodes.priced and "no price for n1-standard-4" in found.problems
    assert found.low == pytest.approx(sum(i.low for i in found.items if i.priced))
    text = "\n".join(cost.summary_lines(found))
    assert f"| nodes `n1-standard-4` | {nodes.quantity} | not priced |" in text
    assert "not priced" in text and "no price for n1-standard-4" in text
    assert found.shares[0].nodes is None
    assert "nodes `n1-standard-4` (machineType e2-standard-4 → n1-standard-4): not priced" in \
        cost.change_lines(cost.estimate(plans[OWNER]), found)
