"""What it costs (#22, item 6): a monthly estimate read off a plan and a vendored, dated price
table, ``schemas/prices/gcp-<region>.json`` (a missing table or price is said so, never guessed).

docs/cost.md says what is priced and how (730-hour months, the node pool's minimum to maximum, an
environment's quota share), what is left out (usage) and how to refresh the table.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config.types import quantity_value

from .risks import at

PRICES_DIR = Path(__file__).resolve().parent.parent / "schemas" / "prices"
PROVIDER = "gcp"
HOURS_PER_MONTH = 730
# A rise of the maximum case above this (USD a month) is a risk (the lead's risk class).
COST_RISE_THRESHOLD_USD = 100.0
# GKE replicates a regional cluster's node pool across three zones of its region when the pool
# names none (node_locations unset).
DEFAULT_REGIONAL_ZONES = 3
ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
# What a plan cannot know: said under every estimate.
LEFT_OUT = "usage (egress, NAT data, logging) is not included"

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
ADDRESS = "gcp:compute/address:Address"
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"
MANAGED_ZONE = "gcp:dns/managedZone:ManagedZone"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
SERVICE = "kubernetes:core/v1:Service"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
QUOTA = "kubernetes:core/v1:ResourceQuota"


@dataclass(frozen=True)
class Item:
    """One line of the estimate: monthly ``low`` (minimum case) and ``high`` (maximum case), None
    when the table has no price for it."""

    key: str  # stable across revisions (the resource's Pulumi name, not one that changes on replace)
    label: str
    quantity: str
    low: float | None
    high: float | None
    basis: dict[str, Any] = field(default_factory=dict)  # the inputs the amount follows
    group: str = ""  # shared by one resource's items (a node pool's nodes, spot discount and disks)
    note: str = ""
    confirmed: bool = True  # False: the table read the price off a copy, not the provider's page

    @property
    def priced(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class Share:
    """What an environment's ResourceQuota reserves: ``nodes`` node-equivalents (the larger of
    requests.cpu over the machine's vCPUs and requests.memory over its memory), the fraction of the
    pool at its minimum and maximum size, and what that costs a month."""

    environment: str
    quota: dict[str, str]
    machine_type: str | None = None  # None: no node pool to share
    nodes: float | None = None  # None: not estimated (the note says why)
    of_min: float | None = None
    of_max: float | None = None
    low: float | None = None
    high: float | None = None
    basis: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    stack: str
    region: str | None
    owner: str | None  # an attached stack's owner (whose nodes it shares); None for an owner
    date: str | None = None  # the price table's; None without a table
    currency: str = "USD"
    sources: tuple[str, ...] = ()
    items: tuple[Item, ...] = ()
    shares: tuple[Share, ...] = ()
    problems: tuple[str, ...] = ()  # what could not be priced, in words

    @property
    def has_table(self) -> bool:
        return self.date is not None

    @property
    def low(self) -> float | None:
        return sum(i.low for i in self.items if i.low is not None) if self.has_table else None

    @property
    def high(self) -> float | None:
        return sum(i.high for i in self.items if i.high is not None) if self.has_table else None


# --- the price table and the plan ---------------------------------------------------------------

def table_path(region: str, provider: str = PROVIDER) -> Path:
    return PRICES_DIR / f"{provider}-{region}.json"


@functools.lru_cache(maxsize=8)  # read once per process: every stack's preview and both diff sides ask
def price_table(region: str, provider: str = PROVIDER) -> dict | None:
    """The vendored table of ``region``, or None when there is none (never another region's).
    Shared between callers: read it, never change it."""
    path = table_path(region, provider)
    return json.loads(path.read_text()) if path.is_file() else None


def region_of(location: str) -> str:
    """A cluster's region: its location, or a zonal cluster's zone without the zone letter."""
    return location.rsplit("-", 1)[0] if ZONE.match(location) else location


def _price(table: dict, section: str, name: str) -> dict:
    return (table.get(section) or {}).get(name) or {}


def declared(plan: dict | None, resource_type: str) -> list[dict]:
    """Resources of a type the plan creates (a ``get`` that only reads one is not billed here)."""
    return sorted((r for r in (plan or {}).get("resources", [])
                   if r["type"] == resource_type and not r.get("read")), key=lambda r: r["name"])


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _times(price: float | None, count: float) -> float | None:
    return price * count if price is not None else None


@dataclass(frozen=True)
class _Pool:
    name: str
    machine_type: str
    spot: bool
    disk_gb: float | None
    disk_type: str
    low: int  # nodes in all zones
    high: int
    basis: dict[str, Any]
    shape: str  # "3 zones × 1–3 nodes (3–9)"


def _pools(plan: dict | None) -> list[_Pool]:
    clusters = {c["inputs"].get("name"): c["inputs"] for c in declared(plan, CLUSTER)}
    pools = []
    for resource in declared(plan, NODE_POOL):
        inputs = resource["inputs"]
        node = inputs.get("nodeConfig") or {}
        location = str(inputs.get("location") or clusters.get(inputs.get("cluster"), {}).get("location") or "")
        zones = len(inputs.get("nodeLocations") or []) or (1 if ZONE.match(location) else DEFAULT_REGIONAL_ZONES)
        scaling = inputs.get("autoscaling") or {}
        basis: dict[str, Any] = {"machineType": node.get("machineType"), "zones": zones}
        total_min, total_max = _number(scaling.get("totalMinNodeCount")), _number(scaling.get("totalMaxNodeCount"))
        if total_min is not None or total_max is not None:
            low = int(total_min or 0)
            high = int(total_max or low)
            basis |= {"totalMinNodeCount": low, "totalMaxNodeCount": high}
            shape = f"{low}–{high} nodes in total across {zones} zones"
        elif scaling:
            per_low = int(_number(scaling.get("minNodeCount")) or 0)
            per_high = int(_number(scaling.get("maxNodeCount")) or per_low)
            low, high = per_low * zones, per_high * zones
            basis |= {"minNodesPerZone": per_low, "maxNodesPerZone": per_high}
            shape = f"{zones} zones × {per_low}–{per_high} nodes ({low}–{high})"
        else:
            per_zone = int(_number(inputs.get("nodeCount")) or _number(inputs.get("initialNodeCount")) or 0)
            low = high = per_zone * zones
            basis |= {"nodesPerZone": per_zone}
            shape = f"{zones} zones × {per_zone} nodes ({low})"
        pools.append(_Pool(resource["name"], str(node.get("machineType")), bool(node.get("spot")),
                           _number(node.get("diskSizeGb")), str(node.get("diskType") or "pd-standard"),
                           low, high, basis, shape))
    return pools


def _plan_region(plan: dict | None) -> str | None:
    """The cluster's region; without a cluster, the gcp provider's region or a key ring's."""
    for cluster in declared(plan, CLUSTER):
        if cluster["inputs"].get("location"):
            return region_of(str(cluster["inputs"]["location"]))
    for resource in (plan or {}).get("resources", []):
        if resource["type"] == "pulumi:providers:gcp" and resource["inputs"].get("region"):
            return str(resource["inputs"]["region"])
    rings = [r for r in (plan or {}).get("resources", []) if r["type"] == "gcp:kms/keyRing:KeyRing"]
    return region_of(str(rings[0]["inputs"]["location"])) if rings and rings[0]["inputs"].get("location") else None


# --- the estimate -------------------------------------------------------------------------------

def _usd(price: Any, per: str) -> str:
    """`` × 0.134012 USD/hour``, or nothing for a missing price (the amount then says so)."""
    return f" × {price:g} USD/{per}" if isinstance(price, int | float) else ""


def _listed(names: list[Any]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def estimate(plan: dict, table: dict | None = None, owner_plan: dict | None = None) -> Estimate:
    """The monthly estimate of a plan.json document. ``table`` (default: the region's vendored
    one) is not used for another region. ``owner_plan``: an attached stack's owner's plan, whose
    nodes its environment's quota shares (the attached plan has no cluster)."""
    stack = str(plan.get("stack", "?"))
    own_cluster = bool(declared(plan, CLUSTER))
    owner = None if own_cluster else (plan.get("outputs") or {}).get("platformOwner")
    region = _plan_region(plan) if own_cluster or not owner else _plan_region(owner_plan)
    if region is None:
        why = (f"the owner `{owner}`'s plan is needed to price its share of the nodes" if owner
               else "no cluster, provider or key ring in the plan names a region")
        return Estimate(stack, None, owner, problems=(why,))
    if table is None or table.get("region") != region:
        table = price_table(region)
    if table is None:
        where = table_path(region).relative_to(PRICES_DIR.parent.parent)
        return Estimate(stack, region, owner, problems=(f"no price table for {region} ({where})",))
    prices: dict = table
    hours = float(prices.get("hoursPerMonth", HOURS_PER_MONTH))
    problems: list[str] = []
    sources: list[str] = []
    items: list[Item] = []

    def entry(name: str, section: str = "items") -> dict:
        """A price, its source noted for the footer."""
        found = _price(prices, section, name)
        if found.get("source") and found["source"] not in sources:
            sources.append(found["source"])
        return found

    for cluster in declared(plan, CLUSTER):
        fee = entry("clusterManagementFee")
        location = str(cluster["inputs"].get("location", ""))
        zonal = bool(ZONE.match(location))
        price = _number(fee.get("price"))
        monthly = _times(price, hours)
        if zonal:
            credit = entry("freeTierCredit").get("price")
            note = (f"0 while the billing account's free-tier credit ({credit} USD a month, zonal and "
                    "Autopilot clusters only) is not taken by another cluster")
        else:
            note = "the free-tier credit applies to zonal and Autopilot clusters only"
        items.append(Item(f"cluster-fee:{cluster['name']}",
                          f"cluster management fee ({'zonal' if zonal else 'regional'})",
                          f"1 cluster{_usd(price, 'hour')}", 0.0 if zonal and monthly is not None else monthly,
                          monthly, {"location": location}, cluster["name"], note, fee.get("confirmed", True)))

    pools = _pools(plan)
    for pool in pools:
        machine = _price(prices, "machineTypes", pool.machine_type)
        sure = (entry(str(machine.get("family")), "machineFamilies") if machine else {}).get("confirmed", True)
        od = _number(machine.get("onDemandHourly"))
        if od is None:
            problems.append(f"no price for {pool.machine_type}")
        per_node = _times(od, hours)
        basis = pool.basis | {"spot": pool.spot}
        items.append(Item(f"nodes:{pool.name}", f"nodes `{pool.machine_type}`", f"{pool.shape}{_usd(od, 'hour')}",
                          _times(per_node, pool.low), _times(per_node, pool.high), basis, pool.name, "", sure))
        if pool.spot:
            spot = entry("spotDiscount")
            spot_hourly, largest = _number(machine.get("spotHourly")), _number(spot.get("price"))
            if od is not None and spot_hourly is not None:
                delta = (spot_hourly - od) * hours
                quantity = f"{pool.low}–{pool.high} nodes at the spot rate{_usd(spot_hourly, 'hour')}"
                low, high, note, confirmed = delta * pool.low, delta * pool.high, "the table's spot rate", sure
            elif per_node is not None and largest is not None:
                quantity = f"up to {largest:.0%} off at the minimum; none assumed at the maximum"
                low, high, note = -largest * per_node * pool.low, 0.0, "the Spot VMs page publishes only the largest discount"
                confirmed = spot.get("confirmed", True)
            else:
                quantity, low, high, note, confirmed = "spot", None, None, "no spot price or discount in the table", True
            items.append(Item(f"spot:{pool.name}", "spot discount", quantity, low, high, basis, pool.name, note, confirmed))
        disk = entry(pool.disk_type, "disks")
        per_gb = _number(disk.get("price"))
        if pool.disk_gb is None:
            problems.append(f"no boot disk size in the plan for {pool.name}")
        if per_gb is None:
            problems.append(f"no price for disk type {pool.disk_type}")
        per_disk = per_gb * pool.disk_gb if per_gb is not None and pool.disk_gb is not None else None
        size = f"{pool.disk_gb:g}" if pool.disk_gb is not None else "?"
        items.append(Item(f"disks:{pool.name}", f"boot disks {pool.disk_type}",
                          f"{pool.low}–{pool.high} × {size} GB{_usd(per_gb, 'GB-month')}",
                          _times(per_disk, pool.low), _times(per_disk, pool.high),
                          pool.basis | {"diskSizeGb": pool.disk_gb, "diskType": pool.disk_type}, pool.name,
                          "", disk.get("confirmed", True)))

    def counted(key: str, label: str, name: str, count: int, basis_key: str, listed: str = "",
                note: str = "") -> None:
        """``count`` of a thing billed by the hour."""
        found = entry(name)
        price = _number(found.get("price"))
        monthly = price * hours * count if price is not None else None
        items.append(Item(key, label, f"{count}{_usd(price, 'hour')}" + (f" ({listed})" if listed else ""),
                          monthly, monthly, {basis_key: count}, key,
                          note if price is not None else found.get("note", "") or note,
                          found.get("confirmed", True) if price is not None else True))

    # GKE fronts each Service of type LoadBalancer (a Helm release's too: the Istio gateway
    # chart's service.type) with a regional external passthrough Network Load Balancer.
    services = [f"{at(r['inputs'], 'metadata.namespace')}/{at(r['inputs'], 'metadata.name')}"
                for r in declared(plan, SERVICE) if at(r["inputs"], "spec.type") == "LoadBalancer"]
    services += [f"{r['inputs'].get('namespace')}/{r['inputs'].get('name')} (chart {r['inputs'].get('chart')})"
                 for r in declared(plan, HELM_RELEASE) if at(r["inputs"], "values.service.type") == "LoadBalancer"]
    if services:
        counted("forwarding-rules", "load balancer forwarding rule", "forwardingRule", len(services),
                "loadBalancerServices", "one per Service of type LoadBalancer: " + _listed(services))
    addresses = [a for a in declared(plan, ADDRESS) if a["inputs"].get("addressType", "EXTERNAL") != "INTERNAL"]
    if addresses:
        counted("static-ips", "static external IP", "staticExternalIp", len(addresses), "addresses",
                _listed([a["inputs"].get("name", a["name"]) for a in addresses]))
    nats = declared(plan, ROUTER_NAT)
    if nats:
        gateway = entry("natGateway")
        entry("natIp")
        entry("natDataProcessing")
        price, cap, cap_vms = _number(gateway.get("price")), _number(gateway.get("capPrice")), int(gateway.get("capVms") or 0)
        vms_low, vms_high = sum(p.low for p in pools), sum(p.high for p in pools)

        def nat_month(vms: int) -> float | None:
            # Past capVms nodes a gateway is charged its flat rate.
            per_hour = None if price is None else cap if vms > cap_vms else price * vms
            return per_hour * hours * len(nats) if per_hour is not None else None

        nodes_basis = {k: v for p in pools for k, v in p.basis.items() if k != "machineType"}
        items.append(Item("nat-gateway", "Cloud NAT gateway",
                          f"{len(nats)} × {vms_low}–{vms_high} nodes{_usd(price, 'node-hour')}"
                          + (f" (capped at {cap:g} USD/hour past {cap_vms} nodes)" if cap is not None else ""),
                          nat_month(vms_low), nat_month(vms_high), nodes_basis, "nat", "",
                          gateway.get("confirmed", True)))
        ips = sum(1 if n["inputs"].get("natIpAllocateOption", "AUTO_ONLY") == "AUTO_ONLY"
                  else len(n["inputs"].get("natIps") or []) for n in nats)
        counted("nat-ips", "Cloud NAT address", "natIp", ips, "natAddresses",
                note="AUTO_ONLY: one address, more only when the nodes need more ports")
    zones = declared(plan, MANAGED_ZONE)
    if zones:
        counted("dns-zones", "DNS zone", "dnsManagedZone", len(zones), "zones",
                _listed([z["inputs"].get("dnsName") for z in zones]), "queries are usage, not included")
    keys = declared(plan, CRYPTO_KEY)
    if keys:
        version = entry("kmsKeyVersion")
        per_month = _number(version.get("price"))
        periods = [re.fullmatch(r"([0-9.]+)s", str(k["inputs"].get("rotationPeriod") or "")) for k in keys]
        # A key's versions after a year of rotation: the first and one per rotation period.
        after_year = [1 + (math.floor(365 * 86400 / float(p.group(1))) if p and float(p.group(1)) > 0 else 0)
                      for p in periods]
        items.append(Item("kms-keys", "KMS key versions",
                          f"{len(keys)} keys × 1–{max(after_year)} versions{_usd(per_month, 'month')}",
                          _times(per_month, len(keys)), _times(per_month, sum(after_year)),
                          {"keys": len(keys), "rotationPeriod": sorted({str(k['inputs'].get('rotationPeriod'))
                                                                        for k in keys})},
                          "kms", "minimum: one version each; maximum: the versions a year of rotation adds "
                                 "(each billed while enabled)", version.get("confirmed", True)))

    # Each environment's share of the first node pool: an attached stack's of its owner's.
    shares: list[Share] = []
    platform_pools = pools if declared(plan, NODE_POOL) or not owner else _pools(owner_plan)
    for quota in declared(plan, QUOTA):
        hard = at(quota["inputs"], "spec.hard") or {}
        namespace = str(at(quota["inputs"], "metadata.namespace") or quota["name"])
        cpu = hard.get("requests.cpu", hard.get("cpu"))
        memory = hard.get("requests.memory", hard.get("memory"))
        written = {k: str(v) for k, v in (("requests.cpu", cpu), ("requests.memory", memory)) if v is not None}
        basis: dict[str, Any] = dict(written)
        if not platform_pools:
            shares.append(Share(namespace, written, basis=basis, note="no node pool to share (the owner's plan is needed)"))
            continue
        pool = platform_pools[0]
        basis |= pool.basis | {"spot": pool.spot}
        machine = _price(prices, "machineTypes", pool.machine_type)
        vcpus, memory_gib = _number(machine.get("vcpus")), _number(machine.get("memoryGiB"))
        od = _number(machine.get("onDemandHourly"))
        cores = quantity_value(cpu) if cpu is not None else None
        in_bytes = quantity_value(memory) if memory is not None else None
        gib = in_bytes / 2**30 if in_bytes is not None else None
        if not vcpus or not memory_gib or (cores is None and gib is None):
            problems.append(f"no price for {pool.machine_type}")
            shares.append(Share(namespace, written, pool.machine_type, basis=basis, note="no requests.cpu or "
                                "requests.memory quota, or no size for the machine type"))
            continue
        entry(str(machine.get("family")), "machineFamilies")
        spot = entry("spotDiscount") if pool.spot else {}
        nodes = max((cores or 0) / vcpus, (gib or 0) / memory_gib)
        held = min(nodes, pool.high) if pool.high else nodes
        low = high = None
        if od is not None:
            largest = _number(spot.get("price"))
            spot_hourly = _number(machine.get("spotHourly"))
            low_hourly = (spot_hourly if spot_hourly is not None else od * (1 - largest) if largest is not None
                          else None) if pool.spot else od
            low = held * low_hourly * hours if low_hourly is not None else None
            high = held * od * hours
        shares.append(Share(namespace, written, pool.machine_type, nodes,
                            nodes / pool.low if pool.low else None, nodes / pool.high if pool.high else None,
                            low, high, basis, "more than the pool holds at its maximum: the quota cannot all "
                            "be scheduled" if pool.high and nodes > pool.high else ""))
    return Estimate(stack, region, owner, str(prices.get("date")), str(prices.get("currency", "USD")),
                    tuple(sources), tuple(items), tuple(shares), tuple(dict.fromkeys(problems)))


def estimates(plans: Mapping[str, Any]) -> dict[str, Estimate | None]:
    """stack -> its estimate, for a side of a revision diff (stack -> plan, an error message or
    None): an attached stack's owner plan is taken from the same side."""
    found: dict[str, Estimate | None] = {}
    for stack, plan in plans.items():
        owner = (plan.get("outputs") or {}).get("platformOwner") if isinstance(plan, dict) else None
        owner_plan = plans.get(owner) if owner and owner != stack else None
        found[stack] = (estimate(plan, owner_plan=owner_plan if isinstance(owner_plan, dict) else None)
                        if isinstance(plan, dict) else None)
    return found


# --- words --------------------------------------------------------------------------------------

def money(value: float) -> str:
    """``1,011.51``; a negative amount with a minus sign (``−267.07``)."""
    return ("−" if round(value, 2) < 0 else "") + f"{abs(value):,.2f}"


def _range(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "not priced"
    return money(low) if round(low, 2) == round(high, 2) else f"{money(low)}–{money(high)}"


def _percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "?"


SHARE_BASIS = ("Share: the larger of requests.cpu over the machine's vCPUs and requests.memory over "
               "its memory, in nodes. An upper bound of what the environment takes, since its pods "
               "may request less than the quota; it counts the machine's whole vCPU and memory, and "
               "GKE keeps part of each node for the system (kubelet, container runtime, eviction "
               "threshold), so a node's allocatable is smaller and the share of what pods can get "
               "somewhat larger than shown.")


def _share_line(share: Share, currency: str) -> str:
    quota = ", ".join(f"{k} {v}" for k, v in share.quota.items()) or "no cpu or memory quota"
    if share.nodes is None:
        return f"- Environment `{share.environment}` ({quota}): not estimated: {share.note}."
    worth = "node's worth" if share.nodes == 1 else "nodes' worth"
    text = (f"- Environment `{share.environment}`: its quota ({quota}) reserves {share.nodes:g} "
            f"`{share.machine_type}` {worth}, {_percent(share.of_min)} "
            f"of the nodes at the pool's minimum and {_percent(share.of_max)} at its maximum: "
            f"{_range(share.low, share.high)} {currency}/month of the nodes' cost")
    return text + (f" ({share.note})" if share.note else "") + "."


def summary_lines(found: Estimate) -> list[str]:
    """summary.md's "What it costs" section (markdown lines, ending with a blank line)."""
    lines = ["## What it costs (estimate)", ""]
    if not found.has_table:
        return lines + [f"Not estimated: {found.problems[0] if found.problems else 'no price table'}; "
                        "no numbers are guessed.", ""]
    currency = found.currency
    if found.items:
        lines += [f"| Item | Quantity | {currency}/month |", "|---|---|---|"]
        lines += [f"| {item.label}{'' if item.confirmed else ' *'} | {item.quantity} | "
                  f"{_range(item.low, item.high)} |" for item in found.items]
        lines += [f"| **Total** | | **{_range(found.low, found.high)}** |", ""]
        missing = [i for i in found.items if not i.priced]
        if missing:
            lines += [f"Not priced, and left out of the total: {', '.join(i.label for i in missing)} (the "
                      f"price table of {found.region} has no price for {'it' if len(missing) == 1 else 'them'}; "
                      "docs/cost.md says why and how to add one).", ""]
    elif found.owner:
        lines += [f"Attached to `{found.owner}`: the cluster, nodes, load balancer, NAT and zone are the "
                  "owner's (see its summary); this stack adds a DNS record (billed as the zone's "
                  "queries, usage).", ""]
    if found.problems:
        lines += ["Not estimated: " + "; ".join(found.problems) + ".", ""]
    if found.shares:
        lines += [_share_line(share, currency) for share in found.shares]
        lines += ["", SHARE_BASIS, ""]
    sources = ", ".join(s.removeprefix("https://") for s in found.sources)
    ranges = [text for prefix, text in (
        ("nodes:", "the node pool's autoscaling range"),
        ("spot:", "spot at the largest published discount to the on-demand price"),
        ("kms-keys", "one version per key to a year of rotations")) if any(i.key.startswith(prefix) for i in found.items)]
    footer = (f"Estimate from the price table of {found.date} ({sources}), not a bill: {LEFT_OUT}. "
              f"A month is {HOURS_PER_MONTH} hours" + (f"; minimum–maximum: {', '.join(ranges)}" if ranges else "")
              + "." + (" Prices marked * are not confirmed on the provider's page yet (docs/cost.md)."
                       if any(not i.confirmed for i in found.items) else ""))
    return lines + [footer, ""]


# --- the revision diff --------------------------------------------------------------------------

def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "(none)" if value is None else str(value)


def _changes(before: dict, after: dict) -> str:
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return ", ".join(f"{k} {_show(before.get(k))} → {_show(after.get(k))}" for k in keys)


def _signed(value: float) -> str:
    return ("+" if round(value, 2) >= 0 else "−") + money(abs(value))


def _delta(dl: float, dh: float, currency: str) -> str:
    if round(dl, 2) == round(dh, 2):
        return f"{_signed(dh)} {currency}/month"
    if round(dl, 2) == 0:
        return f"up to {_signed(dh)} {currency}/month (the minimum unchanged)"
    if round(dh, 2) == 0:
        return f"{_signed(dl)} {currency}/month at the minimum (the maximum unchanged)"
    return f"{_signed(dl)} at the minimum, {_signed(dh)} at the maximum {currency}/month"


def _amount(item: Item | None, case: str) -> float:
    value = getattr(item, case) if item is not None else None
    return value if value is not None else 0.0


def change_lines(old: Estimate | None, new: Estimate | None) -> list[str]:
    """One line per item (and environment share) whose amount a revision changes, with the inputs
    that changed it ("nodes `e2-standard-4` (maxNodesPerZone 3 → 10): up to +2,054.40 USD/month
    (the minimum unchanged)"), then the total's."""
    if old is None or new is None:
        side = new or old
        if side is None:
            return []
        if not side.has_table:
            return [f"not estimated: {'; '.join(side.problems)}"]
        total = side.high or 0.0
        return [f"total ({'a new stack' if old is None else 'the stack is removed'}): "
                f"{_range(side.low, side.high)} {side.currency}/month "
                f"(maximum {_signed(total if old is None else -total)})"]
    if not old.has_table or not new.has_table:
        missing = new if not new.has_table else old
        return [f"not estimated ({'head' if missing is new else 'base'}): {'; '.join(missing.problems)}"]
    currency = new.currency
    lines: list[str] = []
    before = {i.key: i for i in old.items}
    after = {i.key: i for i in new.items}
    for key in dict.fromkeys([*before, *after]):
        a, b = before.get(key), after.get(key)
        if a is not None and b is not None and (a.low, a.high, a.quantity) == (b.low, b.high, b.quantity):
            continue
        item = b or a
        assert item is not None
        if a is not None and b is not None:
            changes = _changes(a.basis, b.basis)
        else:  # on one side only (spot turned on): what changed in its resource's items
            changes = _changes(*({k: v for i in e.items if i.group == item.group for k, v in i.basis.items()}
                                 for e in (old, new)))
        label = item.label + (f" ({changes})" if changes else "")
        if (a is not None and not a.priced) or (b is not None and not b.priced):
            lines.append(f"{label}: not priced")
            continue
        dl = _amount(b, "low") - _amount(a, "low")
        dh = _amount(b, "high") - _amount(a, "high")
        if round(dl, 2) != 0 or round(dh, 2) != 0:
            lines.append(f"{label}: {_delta(dl, dh, currency)}")
    shares_before = {s.environment: s for s in old.shares}
    for share in new.shares:
        was = shares_before.get(share.environment)
        if was is None or share.high is None or was.high is None or share.low is None or was.low is None:
            continue
        dl, dh = share.low - was.low, share.high - was.high
        if round(dl, 2) != 0 or round(dh, 2) != 0:
            changes = _changes(was.basis, share.basis)
            lines.append(f"environment `{share.environment}`'s share" + (f" ({changes})" if changes else "")
                         + f": {_delta(dl, dh, currency)}")
    if lines and (old.low, old.high) != (new.low, new.high):
        lines.append(f"total: {_range(old.low, old.high)} → {_range(new.low, new.high)} {currency}/month "
                     f"(maximum {_signed((new.high or 0.0) - (old.high or 0.0))})")
    return lines


def rise(old: Estimate | None, new: Estimate | None) -> float:
    """The maximum case's monthly change (new minus old; a missing estimate or table counts 0):
    above ``COST_RISE_THRESHOLD_USD`` it is a risk."""
    return ((new.high or 0.0) if new else 0.0) - ((old.high or 0.0) if old else 0.0)
