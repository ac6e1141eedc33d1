"""What it costs (#22, item 6): a monthly estimate read off a plan and a vendored, dated price table.

``estimate(plan)`` prices what an owner stack declares: the GKE cluster management fee, the
nodes from the pool's minimum to its maximum count across its zones at the machine type's
hourly price (spot: at the largest published discount for the minimum, at the on-demand price
for the maximum), their boot disks, the forwarding rule GKE creates for each Service of type
LoadBalancer (the Istio gateway's), the reserved external address, Cloud NAT (per node using
it, and its address), the DNS zone and KMS key versions. For each environment (a namespace's
ResourceQuota, the owner's own or an attached stack's, whose plan lacks the cluster: pass the
owner's plan) it says what share of the nodes its quota reserves. Usage (egress, NAT data,
DNS queries, key operations, logging) is not in a plan and is left out, and said so.

Prices come from ``schemas/prices/gcp-<region>.json`` only (the cluster's region; a zonal
cluster's zone without its letter): a region without a table, a machine type or an item without
a price is said so and never guessed. A month is 730 hours. docs/cost.md says how it is computed
and how to refresh the table.

For the revision diff: ``change_lines(old, new)`` (one line per item that changes, naming the
inputs that changed it), ``rise(old, new)`` (the maximum case's monthly delta) and
``COST_RISE_THRESHOLD_USD``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config.types import quantity_value

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

    key: str
    """Stable across revisions (the resource's Pulumi name, not a name that changes on replace)."""
    label: str
    quantity: str
    low: float | None
    high: float | None
    basis: dict[str, Any] = field(default_factory=dict)
    """The inputs the amount follows (what a change line names)."""
    group: str = ""
    """Items of one resource (a node pool's nodes, spot discount and disks) share it."""
    note: str = ""
    confirmed: bool = True
    """False when the table read the price from a copy other than the provider's page."""

    @property
    def priced(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class Share:
    """What an environment's ResourceQuota reserves of the nodes: ``nodes`` node-equivalents (the
    larger of requests.cpu over the machine's vCPUs and requests.memory over its memory), the
    fraction of the pool at its minimum and maximum size, and what that costs a month."""

    environment: str
    quota: dict[str, str]
    machine_type: str | None
    nodes: float | None
    of_min: float | None
    of_max: float | None
    low: float | None
    high: float | None
    basis: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Estimate:
    stack: str
    region: str | None
    owner: str | None
    """An attached stack's owner (whose nodes its environment shares); None for an owner."""
    date: str | None
    """The price table's date; None without a table."""
    currency: str
    sources: tuple[str, ...]
    items: tuple[Item, ...]
    shares: tuple[Share, ...]
    problems: tuple[str, ...]
    """What could not be priced, in words: "no price table for <region>", "no price for <type>"."""

    @property
    def has_table(self) -> bool:
        return self.date is not None

    @property
    def low(self) -> float | None:
        """The priced items' total, minimum case (None without a price table)."""
        return sum(i.low for i in self.items if i.low is not None) if self.has_table else None

    @property
    def high(self) -> float | None:
        return sum(i.high for i in self.items if i.high is not None) if self.has_table else None

    @property
    def not_priced(self) -> list[Item]:
        return [i for i in self.items if not i.priced]


# --- the price table ----------------------------------------------------------------------------

def table_path(region: str, provider: str = PROVIDER) -> Path:
    return PRICES_DIR / f"{provider}-{region}.json"


def price_table(region: str, provider: str = PROVIDER) -> dict | None:
    """The vendored table of ``region``, or None when there is none (never another region's)."""
    path = table_path(region, provider)
    return json.loads(path.read_text()) if path.is_file() else None


def region_of(location: str) -> str:
    """A cluster's region: its location, or a zonal cluster's zone without the zone letter."""
    return location.rsplit("-", 1)[0] if ZONE.match(location) else location


def _price(table: dict, section: str, name: str) -> dict:
    return (table.get(section) or {}).get(name) or {}


# --- reading the plan ---------------------------------------------------------------------------

def _declared(plan: dict | None, resource_type: str) -> list[dict]:
    """Resources of a type the plan creates (a ``get`` that only reads one is not billed here)."""
    return sorted((r for r in (plan or {}).get("resources", [])
                   if r["type"] == resource_type and not r.get("read")), key=lambda r: r["name"])


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class _Pool:
    name: str
    machine_type: str
    spot: bool
    disk_gb: float | None
    disk_type: str
    zones: int
    low: int
    high: int
    basis: dict[str, Any]
    shape: str  # "3 zones × 1–3 nodes" in words


def _pools(plan: dict | None) -> list[_Pool]:
    clusters = {c["inputs"].get("name"): c["inputs"] for c in _declared(plan, CLUSTER)}
    pools = []
    for resource in _declared(plan, NODE_POOL):
        inputs = resource["inputs"]
        node = inputs.get("nodeConfig") or {}
        location = str(inputs.get("location") or clusters.get(inputs.get("cluster"), {}).get("location") or "")
        listed = inputs.get("nodeLocations") or []
        zones = len(listed) or (1 if ZONE.match(location) else DEFAULT_REGIONAL_ZONES)
        scaling = inputs.get("autoscaling") or {}
        basis: dict[str, Any] = {"machineType": node.get("machineType"), "zones": zones}
        if _number(scaling.get("totalMinNodeCount")) is not None or _number(scaling.get("totalMaxNodeCount")) is not None:
            low = int(_number(scaling.get("totalMinNodeCount")) or 0)
            high = int(_number(scaling.get("totalMaxNodeCount")) or low)
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
                           zones, low, high, basis, shape))
    return pools


def _load_balancer_services(plan: dict) -> list[str]:
    """Each Service of type LoadBalancer, which GKE fronts with a regional external passthrough
    Network Load Balancer (one forwarding rule): declared ones, and a Helm release's (the Istio
    gateway chart's ``service.type``)."""
    found = [f"{_at(r['inputs'], 'metadata.namespace')}/{_at(r['inputs'], 'metadata.name')}"
             for r in _declared(plan, SERVICE) if _at(r["inputs"], "spec.type") == "LoadBalancer"]
    found += [f"{r['inputs'].get('namespace')}/{r['inputs'].get('name')} (chart {r['inputs'].get('chart')})"
              for r in _declared(plan, HELM_RELEASE) if _at(r["inputs"], "values.service.type") == "LoadBalancer"]
    return found


def _plan_region(plan: dict | None) -> str | None:
    """The cluster's region; without a cluster, the gcp provider's region or a key ring's."""
    for cluster in _declared(plan, CLUSTER):
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


def estimate(plan: dict, table: dict | None = None, owner_plan: dict | None = None) -> Estimate:
    """The monthly estimate of ``plan`` (a plan.json document). ``table``: the price table to use
    (default: ``schemas/prices/gcp-<the cluster's region>.json``); one of another region is not
    used. ``owner_plan``: an attached stack's owner's plan, for the nodes its environment's quota
    shares (the attached plan has no cluster)."""
    stack = str(plan.get("stack", "?"))
    owner = (plan.get("outputs") or {}).get("platformOwner") if not _declared(plan, CLUSTER) else None
    platform = plan if _declared(plan, NODE_POOL) or not owner else owner_plan
    region = _plan_region(plan) if _declared(plan, CLUSTER) or not owner else _plan_region(owner_plan)
    if region is None:
        why = (f"the owner `{owner}`'s plan is needed to price its share of the nodes" if owner
               else "no cluster, provider or key ring in the plan names a region")
        return Estimate(stack, None, owner, None, "USD", (), (), (), (why,))
    if table is not None and table.get("region") != region:
        table = None
    table = table if table is not None else price_table(region)
    if table is None:
        return Estimate(stack, region, owner, None, "USD", (), (), (),
                        (f"no price table for {region} ({table_path(region).relative_to(PRICES_DIR.parent.parent)})",))
    hours = float(table.get("hoursPerMonth", HOURS_PER_MONTH))
    items_table = table.get("items") or {}
    problems: list[str] = []
    sources: list[str] = []
    items: list[Item] = []

    def entry(name: str, section: str = "items") -> dict:
        found = _price(table, section, name) if section != "items" else items_table.get(name) or {}
        if found.get("source") and found["source"] not in sources:
            sources.append(found["source"])
        return found

    def hourly(found: dict) -> float | None:
        return _number(found.get("price"))

    for cluster in _declared(plan, CLUSTER):
        fee = entry("clusterManagementFee")
        location = str(cluster["inputs"].get("location", ""))
        zonal = bool(ZONE.match(location))
        price = hourly(fee)
        monthly = price * hours if price is not None else None
        if zonal:
            credit = entry("freeTierCredit")
            note = (f"0 while the billing account's free-tier credit ({credit.get('price')} USD a month, "
                    "zonal and Autopilot clusters only) is not taken by another cluster")
        else:
            note = "the free-tier credit applies to zonal and Autopilot clusters only"
        items.append(Item(f"cluster-fee:{cluster['name']}",
                          f"cluster management fee ({'zonal' if zonal else 'regional'})",
                          f"1 cluster{_usd(price, 'hour')}", 0.0 if zonal and monthly is not None else monthly,
                          monthly, {"location": location}, cluster["name"], note, fee.get("confirmed", True)))

    pools = _pools(plan)
    spot = items_table.get("spotDiscount") or {}
    for pool in pools:
        machine = _price(table, "machineTypes", pool.machine_type)
        family = entry(str(machine.get("family")), "machineFamilies") if machine else {}
        od = _number(machine.get("onDemandHourly"))
        basis = pool.basis | {"spot": pool.spot}
        if od is None:
            problems.append(f"no price for {pool.machine_type}")
        per_node = od * hours if od is not None else None
        items.append(Item(f"nodes:{pool.name}", f"nodes `{pool.machine_type}`",
                          f"{pool.shape}{_usd(od, 'hour')}",
                          per_node * pool.low if per_node is not None else None,
                          per_node * pool.high if per_node is not None else None,
                          basis, pool.name, "", family.get("confirmed", True)))
        if pool.spot:
            entry("spotDiscount")
            spot_hourly = _number(machine.get("spotHourly"))
            largest = _number(spot.get("price"))
            if per_node is not None and spot_hourly is not None and od is not None:
                delta = (spot_hourly - od) * hours
                items.append(Item(f"spot:{pool.name}", "spot discount", f"{pool.low}–{pool.high} nodes at "
                                  f"the spot rate{_usd(spot_hourly, 'hour')}", delta * pool.low, delta * pool.high, basis,
                                  pool.name, "the table's spot rate", family.get("confirmed", True)))
            elif per_node is not None and largest is not None:
                items.append(Item(f"spot:{pool.name}", "spot discount",
                                  f"up to {largest:.0%} off at the minimum; none assumed at the maximum",
                                  -largest * per_node * pool.low, 0.0, basis, pool.name,
                                  "the Spot VMs page publishes only the largest discount",
                                  spot.get("confirmed", True)))
            else:
                items.append(Item(f"spot:{pool.name}", "spot discount", "spot", None, None, basis, pool.name,
                                  "no spot price or discount in the table"))
        disk = entry(pool.disk_type, "disks")
        per_gb = _number(disk.get("price"))
        if pool.disk_gb is None:
            problems.append(f"no boot disk size in the plan for {pool.name}")
        if per_gb is None:
            problems.append(f"no price for disk type {pool.disk_type}")
        disk_month = per_gb * pool.disk_gb if per_gb is not None and pool.disk_gb is not None else None
        disk_gb = f"{pool.disk_gb:g}" if pool.disk_gb is not None else "?"
        items.append(Item(f"disks:{pool.name}", f"boot disks {pool.disk_type}",
                          f"{pool.low}–{pool.high} × {disk_gb} GB{_usd(per_gb, 'GB-month')}",
                          disk_month * pool.low if disk_month is not None else None,
                          disk_month * pool.high if disk_month is not None else None,
                          pool.basis | {"diskSizeGb": pool.disk_gb, "diskType": pool.disk_type}, pool.name,
                          "", disk.get("confirmed", True)))

    def counted(key: str, label: str, count: int, found: dict, quantity: str, basis: dict, note: str = "",
                per: float = 1.0) -> None:
        price = hourly(found)
        monthly = price * hours * count * per if price is not None else None
        why = note if price is not None else found.get("note", "") or note
        items.append(Item(key, label, quantity, monthly, monthly, basis, key, why,
                          found.get("confirmed", True) if price is not None else True))

    services = _load_balancer_services(plan)
    if services:
        rule = entry("forwardingRule")
        counted("forwarding-rules", "load balancer forwarding rule", len(services), rule,
                f"{len(services)}{_usd(hourly(rule), 'hour')} (one per Service of type LoadBalancer: "
                + ", ".join(f"`{s}`" for s in services) + ")", {"loadBalancerServices": len(services)})
    addresses = [a for a in _declared(plan, ADDRESS) if a["inputs"].get("addressType", "EXTERNAL") != "INTERNAL"]
    if addresses:
        ip = entry("staticExternalIp")
        counted("static-ips", "static external IP", len(addresses), ip,
                f"{len(addresses)}{_usd(hourly(ip), 'hour')} (" + ", ".join(
                    f"`{a['inputs'].get('name', a['name'])}`" for a in addresses) + ")",
                {"addresses": len(addresses)})
    nats = _declared(plan, ROUTER_NAT)
    if nats:
        gateway = entry("natGateway")
        nat_ip = entry("natIp")
        entry("natDataProcessing")
        price, cap, cap_vms = hourly(gateway), _number(gateway.get("capPrice")), int(gateway.get("capVms") or 0)
        vms_low, vms_high = sum(p.low for p in pools), sum(p.high for p in pools)

        def nat_month(vms: int) -> float | None:
            if price is None or (vms > cap_vms and cap is None):
                return None
            return (cap if vms > cap_vms and cap is not None else price * vms) * hours * len(nats)

        nodes_basis = {k: v for p in pools for k, v in p.basis.items() if k != "machineType"}
        items.append(Item("nat-gateway", "Cloud NAT gateway",
                          f"{len(nats)} × {vms_low}–{vms_high} nodes{_usd(price, 'node-hour')}"
                          + (f" (capped at {cap:g} USD/hour past {cap_vms} nodes)" if cap is not None else ""),
                          nat_month(vms_low), nat_month(vms_high), nodes_basis, "nat", "",
                          gateway.get("confirmed", True)))
        ips = sum(1 if n["inputs"].get("natIpAllocateOption", "AUTO_ONLY") == "AUTO_ONLY"
                  else len(n["inputs"].get("natIps") or []) for n in nats)
        counted("nat-ips", "Cloud NAT address", ips, nat_ip, f"{ips}{_usd(hourly(nat_ip), 'hour')}",
                {"natAddresses": ips}, "AUTO_ONLY: one address, more only when the nodes need more ports")
    zones = _declared(plan, MANAGED_ZONE)
    if zones:
        zone = entry("dnsManagedZone")
        counted("dns-zones", "DNS zone", len(zones), zone,
                f"{len(zones)}{_usd(hourly(zone), 'hour')} (" + ", ".join(
                    f"`{z['inputs'].get('dnsName')}`" for z in zones) + ")", {"zones": len(zones)},
                "queries are usage, not included")
    keys = _declared(plan, CRYPTO_KEY)
    if keys:
        version = entry("kmsKeyVersion")
        per_month = _number(version.get("price"))
        periods = [_seconds(k["inputs"].get("rotationPeriod")) for k in keys]
        # A key's versions after a year of rotation: the first and one per rotation period.
        after_year = [1 + (math.floor(365 * 86400 / p) if p else 0) for p in periods]
        items.append(Item("kms-keys", "KMS key versions",
                          f"{len(keys)} keys × 1–{max(after_year)} versions{_usd(per_month, 'month')}",
                          per_month * len(keys) if per_month is not None else None,
                          per_month * sum(after_year) if per_month is not None else None,
                          {"keys": len(keys), "rotationPeriod": sorted({str(k['inputs'].get('rotationPeriod'))
                                                                        for k in keys})},
                          "kms", "minimum: one version each; maximum: the versions a year of rotation adds "
                                 "(each billed while enabled)", version.get("confirmed", True)))

    shares = tuple(_shares(plan, _pools(platform) if platform is not plan else pools, table, hours, spot))
    for share in shares:
        machine = _price(table, "machineTypes", share.machine_type or "")
        if share.nodes is not None and machine:
            entry(str(machine.get("family")), "machineFamilies")
            if share.basis.get("spot"):
                entry("spotDiscount")
    for share in shares:
        if share.machine_type and share.nodes is None and f"no price for {share.machine_type}" not in problems:
            problems.append(f"no price for {share.machine_type}")
    return Estimate(stack, region, owner, str(table.get("date")), str(table.get("currency", "USD")),
                    tuple(sources), tuple(items), shares, tuple(dict.fromkeys(problems)))


def _seconds(period: Any) -> float | None:
    found = re.fullmatch(r"([0-9.]+)s", str(period or ""))
    return float(found.group(1)) if found and float(found.group(1)) > 0 else None


def _shares(plan: dict, pools: list[_Pool], table: dict, hours: float, spot: dict) -> list[Share]:
    shares = []
    for quota in _declared(plan, QUOTA):
        hard = _at(quota["inputs"], "spec.hard") or {}
        namespace = str(_at(quota["inputs"], "metadata.namespace") or quota["name"])
        cpu = hard.get("requests.cpu", hard.get("cpu"))
        memory = hard.get("requests.memory", hard.get("memory"))
        written = {k: str(v) for k, v in (("requests.cpu", cpu), ("requests.memory", memory)) if v is not None}
        basis: dict[str, Any] = dict(written)
        if not pools:
            shares.append(Share(namespace, written, None, None, None, None, None, None, basis,
                                "no node pool to share (the owner's plan is needed)"))
            continue
        pool = pools[0]
        basis |= pool.basis | {"spot": pool.spot}
        machine = _price(table, "machineTypes", pool.machine_type)
        vcpus, memory_gib = _number(machine.get("vcpus")), _number(machine.get("memoryGiB"))
        od = _number(machine.get("onDemandHourly"))
        cores = quantity_value(cpu) if cpu is not None else None
        in_bytes = quantity_value(memory) if memory is not None else None
        gib = in_bytes / 2**30 if in_bytes is not None else None
        if not vcpus or not memory_gib or (cores is None and gib is None):
            shares.append(Share(namespace, written, pool.machine_type, None, None, None, None, None, basis,
                                "no requests.cpu or requests.memory quota, or no size for the machine type"))
            continue
        nodes = max((cores or 0) / vcpus, (gib or 0) / memory_gib)
        held = min(nodes, pool.high) if pool.high else nodes
        note = ("more than the pool holds at its maximum: the quota cannot all be scheduled"
                if pool.high and nodes > pool.high else "")
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
                            low, high, basis, note))
    return shares


def estimates(plans: Mapping[str, Any]) -> dict[str, Estimate | None]:
    """stack -> its estimate, for a side of a revision diff (stack -> plan, an error message or
    None): an attached stack's owner plan is taken from the same side."""
    found: dict[str, Estimate | None] = {}
    for stack, plan in plans.items():
        if not isinstance(plan, dict):
            found[stack] = None
            continue
        owner = (plan.get("outputs") or {}).get("platformOwner")
        owner_plan = plans.get(owner) if owner and owner != stack else None
        found[stack] = estimate(plan, owner_plan=owner_plan if isinstance(owner_plan, dict) else None)
    return found


def as_dict(found: Estimate) -> dict:
    """Plain JSON (plan.json, ``--json``): every field, and the totals."""
    return dataclasses.asdict(found) | {"low": found.low, "high": found.high}


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


SHARE_BASIS = ("Share: the larger of requests.cpu over the machine's vCPUs and requests.memory over "
               "its memory, in nodes. An upper bound of what the environment takes, since its pods "
               "may request less than the quota; it counts the machine's whole vCPU and memory, and "
               "GKE keeps part of each node for the system (kubelet, container runtime, eviction "
               "threshold), so a node's allocatable is smaller and the share of what pods can get "
               "somewhat larger than shown.")


def _footer(found: Estimate) -> str:
    sources = ", ".join(s.removeprefix("https://") for s in found.sources)
    unconfirmed = any(not i.confirmed for i in found.items)
    ranges = [text for prefix, text in (
        ("nodes:", "the node pool's autoscaling range"),
        ("spot:", "spot at the largest published discount to the on-demand price"),
        ("kms-keys", "one version per key to a year of rotations")) if any(i.key.startswith(prefix) for i in found.items)]
    return (f"Estimate from the price table of {found.date} ({sources}), not a bill: {LEFT_OUT}. "
            f"A month is {HOURS_PER_MONTH} hours" + (f"; minimum–maximum: {', '.join(ranges)}" if ranges else "")
            + "." + (" Prices marked * are not confirmed on the provider's page yet (docs/cost.md)."
                     if unconfirmed else ""))


def summary_lines(found: Estimate) -> list[str]:
    """summary.md's "What it costs" section (markdown lines, ending with a blank line)."""
    lines = ["## What it costs (estimate)", ""]
    if not found.has_table:
        return lines + [f"Not estimated: {found.problems[0] if found.problems else 'no price table'}; "
                        "no numbers are guessed.", ""]
    currency = found.currency
    if found.items:
        lines += [f"| Item | Quantity | {currency}/month |", "|---|---|---|"]
        for item in found.items:
            lines.append(f"| {item.label}{'' if item.confirmed else ' *'} | {item.quantity} | "
                         f"{_range(item.low, item.high)} |")
        lines.append(f"| **Total** | | **{_range(found.low, found.high)}** |")
        lines.append("")
        missing = found.not_priced
        if missing:
            lines.append(f"Not priced, and left out of the total: {', '.join(i.label for i in missing)} (the "
                         f"price table of {found.region} has no price for {'it' if len(missing) == 1 else 'them'}; "
                         "docs/cost.md says why and how to add one).")
            lines.append("")
    elif found.owner:
        lines += [f"Attached to `{found.owner}`: the cluster, nodes, load balancer, NAT and zone are the "
                  "owner's (see its summary); this stack adds a DNS record (billed as the zone's "
                  "queries, usage).", ""]
    if found.problems:
        lines += ["Not estimated: " + "; ".join(found.problems) + ".", ""]
    if found.shares:
        lines += [_share_line(share, currency) for share in found.shares]
        lines += ["", SHARE_BASIS, ""]
    lines += [_footer(found), ""]
    return lines


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


def _group_basis(found: Estimate, group: str) -> dict:
    merged: dict = {}
    for item in found.items:
        if item.group == group:
            merged |= item.basis
    return merged


def _amount(item: Item | None, case: str) -> float:
    value = getattr(item, case) if item is not None else None
    return value if value is not None else 0.0


def change_lines(old: Estimate | None, new: Estimate | None) -> list[str]:
    """What a revision does to the estimate: one line per item (and environment share) whose
    amount changes, with the inputs that changed it ("nodes `e2-standard-4` (maxNodesPerZone 3 →
    10): up to +2,054.40 USD/month (the minimum unchanged)"), then the total's."""
    if old is None and new is None:
        return []
    if new is None or old is None:
        side = new if old is None else old
        assert side is not None
        if not side.has_table:
            return [f"not estimated: {'; '.join(side.problems)}"]
        what = "a new stack" if old is None else "the stack is removed"
        total = side.high or 0.0
        return [f"total ({what}): {_range(side.low, side.high)} {side.currency}/month "
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
        # An item on one side only (spot turned on): what changed in its resource's items.
        changes = (_changes(a.basis, b.basis) if a is not None and b is not None
                   else _changes(_group_basis(old, item.group), _group_basis(new, item.group)))
        label = item.label + (f" ({changes})" if changes else "")
        if (a is not None and not a.priced) or (b is not None and not b.priced):
            lines.append(f"{label}: not priced")
            continue
        dl = _amount(b, "low") - _amount(a, "low")
        dh = _amount(b, "high") - _amount(a, "high")
        if round(dl, 2) == 0 and round(dh, 2) == 0:
            continue
        lines.append(f"{label}: {_delta(dl, dh, currency)}")
    shares_before = {s.environment: s for s in old.shares}
    for share in new.shares:
        was = shares_before.get(share.environment)
        if was is None or share.high is None or was.high is None or share.low is None or was.low is None:
            continue
        dl, dh = share.low - was.low, share.high - was.high
        if round(dl, 2) == 0 and round(dh, 2) == 0:
            continue
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
