"""What reviewers read: summary.md per environment, and `make diff` between two stacks."""

from __future__ import annotations

import json
import re

import pytest
from conftest import (
    ATTACHED_STACKS,
    DEMO_STACKS,
    OWNER,
    ROOT,
    STACKS,
    attached_document,
    one,
    preview_written,
    scratch_stack_name,
)
from stackfiles import platform, set_key, write_project

from components.versions import CERT_MANAGER_VERSION, ISTIO_VERSION
from preview import preview_stack
from preview.diff import Change, changes, diff
from preview.diffview import row


def summary(build_dir, stack):
    return (build_dir / stack / "summary.md").read_text()


def test_owner_summary_tells_host_tls_certificate_and_access(build_dir, plans):
    text = summary(build_dir, "dev")
    assert "## Environment `dev`: https://dev.api.example.com" in text
    assert "- TLS: SIMPLE, minimum TLSV1_2, HTTPS only on 443" in text
    assert "leaf valid 90 days, re-issued by the first `pulumi up` in its last 30 days" in text
    assert re.search(r"\| \d+ \| `/accounts` \| `accounts.dev.svc.cluster.local:8080` \| no timeout; Istio.s default retries \| token required "
                     r"\(aud `https://dev.api.example.com`\); `/accounts/health` public \|", text)
    assert "| `kubernetes:core/v1:Namespace` | 3 |" in text
    assert "Protected from deletion:" in text


# A stack written beside the shipped ones, as a copy of another's environment with one thing
# changed: what a diff or summary of the two may show is then known, whatever the shipped files say.
SIBLING = scratch_stack_name(ROOT, "sibling")


def sibling_of(build_dir, folder, environment: dict):
    """SIBLING's preview: ``environment`` (an edited copy of a stack's) attached to the owner."""
    return preview_written(folder, build_dir, SIBLING, attached_document(SIBLING, environment)).plan


def environment_of(stack: str, *without: str, **more) -> dict:
    environment = {k: v for k, v in STACKS[stack].environment.items() if k not in without}
    return {**environment, **more}


def test_example_summaries(build_dir, example_plans):
    assert "- TLS: MUTUAL (client certificate required), minimum TLSV1_2" in summary(build_dir, "partner")
    assert "client CA `partner-client-ca-cacert`" in summary(build_dir, "partner")
    provided = summary(build_dir, "provided")
    assert f"Certificate: provided, expires {example_plans['provided']['outputs']['certificateNotAfter']}" in provided
    acme = summary(build_dir, "acme")
    assert "Let's Encrypt through cert-manager, 90 days, renewed 30 days before expiry" in acme
    assert f"cert-manager: {CERT_MANAGER_VERSION}" in acme and f"Istio: {ISTIO_VERSION}" in acme


# Attached stacks with the demo and no owners of their own (test as shipped).
DEMO_WITHOUT_OWNERS = [s for s in ATTACHED_STACKS if s in DEMO_STACKS and not STACKS[s].environment.get("owners")]


@pytest.mark.parametrize("stack", DEMO_WITHOUT_OWNERS)
def test_diff_between_sibling_environments_is_only_what_really_differs(build_dir, plans, tmp_path, stack):
    # An attached stack with the demo, and its copy with owners instead: they differ only in the
    # copy's owners (their RoleBinding) and the stack's demo workload (its objects, its route and
    # its token-free health path), nothing else.
    copied = sibling_of(build_dir, tmp_path, environment_of(stack, "demo", owners=["group:team@example.com"]))
    lines = diff(plans[stack], copied)
    listed = [line for line in lines[1:] if line.strip()]
    assert listed[:7] == [
        f"Only in {SIBLING} (1):", "  + kubernetes:rbac.authorization.k8s.io/v1:RoleBinding <env>-owners",
        f"Only in {stack} (3):", "  - istio-envs:environment:DemoEcho <env>-demo",
        "  - kubernetes:apps/v1:Deployment <env>-demo-deployment",
        "  - kubernetes:core/v1:Service <env>-demo-service", "Changed inputs:"]
    changed = {resource: _changes(lines, resource) for resource in
               ("VirtualService <env>-routes", "AuthorizationPolicy <env>-require-jwt")}
    assert all(rows and all("/demo" in row for row in rows) for rows in changed.values()), changed
    assert [line for line in listed[7:] if line.startswith("  ~ ")] == [
        "  ~ kubernetes:networking.istio.io/v1:VirtualService <env>-routes",
        "  ~ kubernetes:security.istio.io/v1:AuthorizationPolicy <env>-require-jwt"]


def test_diff_between_the_mutual_examples_environments(example_plans):
    lines = diff(example_plans["web"], example_plans["partner"])
    assert "  + kubernetes:networking.istio.io/v1:Gateway <env>-mtls-gateway" in lines
    assert '  tlsMode: "SIMPLE" → "MUTUAL"' in lines
    assert '      spec.gateways[0]: "istio-ingress/api-gateway" → "istio-ingress/<env>-mtls"' in lines


@pytest.mark.parametrize("stack", ATTACHED_STACKS)
def test_diff_owner_to_attached_lists_the_platform_and_never_a_secret(plans, stack):
    lines = diff(plans[OWNER], plans[stack])
    assert "  - gcp:container/cluster:Cluster platform-gke-cluster" in lines
    assert "  + pulumi:pulumi:StackReference dev" in lines
    assert not any("PRIVATE KEY" in line for line in lines)
    kubeconfig = [line for line in lines if line.startswith("  kubeconfig:")]
    assert kubeconfig == ['  kubeconfig: (secret) → (none)']


# One edited copy of the owner's stack file: every input the summary's new lines read, changed.
NETWORK = {"name": "vpn", "cidr": "198.51.100.0/24"}
EGRESS = {"host": "hooks.slack.com", "port": 443, "protocol": "TLS"}
ROUTE = {"path": "/accounts/statements", "service": "statements", "port": 8080}
EDITS = [set_key("platform.cluster.machineType", "n2-standard-8"),
         set_key("platform.cluster.minNodesPerZone", 2),
         set_key("platform.cluster.maxNodesPerZone", 7),
         set_key("platform.cluster.spot", True),
         set_key("platform.cluster.regional", False),
         set_key("platform.cluster.authorizedNetworks", [NETWORK]),
         set_key("platform.cluster.privateEndpoint", True),
         set_key("environment.quota.cpu", "32")]


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> dict:
    """The owner previewed from a copy of the stack files with every edit above, plus one more
    egress destination and one more route (appended last in the stack file)."""
    tmp = tmp_path_factory.mktemp("edited")
    zones = []

    def edit(files):
        for change in EDITS:
            change(files)
        environment = files[f"Pulumi.{OWNER}.yaml"]["config"]["istio-envs:environment"]
        environment["egress"] = [*environment.get("egress", []), EGRESS]
        environment["routes"] = [*environment["routes"], ROUTE]
        zones.extend(platform(files)["zones"])

    (tmp / "project").mkdir()
    project = write_project(tmp / "project", edit)
    result = preview_stack(OWNER, project, tmp / "build")
    return {"plan": result.plan, "summary": (tmp / "build" / OWNER / "summary.md").read_text(),
            "zones": zones}


def _route_numbers(text: str) -> dict[str, int]:
    """Path prefix -> its number in the summary's route table."""
    return {m[2]: int(m[1]) for m in re.finditer(r"^\| (\d+) \| `([^`]+)` \|", text, re.M)}


def test_summary_shows_the_platform_quota_egress_and_route_order_and_follows_each_change(
        build_dir, plans, edited):
    """Item 5: after changing the machine type, the autoscaling bounds, spot, regional, the
    authorized networks, the private endpoint, a quota (4 -> 32 CPU), an egress destination and
    a route, summary.md changes and shows each new value (it used to be byte-identical)."""
    before, after = summary(build_dir, OWNER), edited["summary"]
    assert before != after
    shown_now = {
        "machine type": "`n2-standard-8`",
        "autoscaling bounds": "2–7 per zone",
        "spot": "**spot**",
        "zonal": f"**zonal**, location `{edited['zones'][0]}`",
        "authorized network": f"`{NETWORK['name']}` {NETWORK['cidr']}",
        "private endpoint": "IP endpoint: **private**",
        "quota": "`requests.cpu` 32",
        "egress": f"`{EGRESS['host']}:{EGRESS['port']}` {EGRESS['protocol']}",
        "route": f"`{ROUTE['path']}`",
    }
    for what, text in shown_now.items():
        assert text in after, (what, text)
        assert text not in before, (what, text)
    # And what the shipped owner says instead (the values of Pulumi.dev.yaml).
    shipped = plans[OWNER]
    pool = one(shipped, ":container/nodePool:NodePool")["inputs"]
    assert f"`{pool['nodeConfig']['machineType']}`" in before
    assert (f"{pool['autoscaling']['minNodeCount']}–{pool['autoscaling']['maxNodeCount']} per zone"
            in before)
    assert "standard (not spot)" in before and "IP endpoint: public" in before
    config = STACKS[OWNER].config
    assert f"**regional**, location `{config['istio-envs:platform']['region']}`" in before
    for network in config["istio-envs:platform"]["cluster"]["authorizedNetworks"]:
        assert f"`{network['name']}` {network['cidr']}" in before
    environment = config["istio-envs:environment"]
    assert f"`requests.cpu` {environment['quota']['cpu']}" in before
    for egress in environment["egress"]:
        assert f"`{egress['host']}:{egress['port']}` {egress['protocol']}" in before
    for text in (before, after):
        assert "DNS-based endpoint: on" in text
        assert f"Istio: {ISTIO_VERSION}" in text
        assert "cert-manager: not installed" in text
    # Container defaults from the LimitRange, as the program declares them.
    limits = one(shipped, ":core/v1:LimitRange")["inputs"]["spec"]["limits"][0]
    for key, label in (("defaultRequest", "requests"), ("default", "limits")):
        assert label + " " + ", ".join(f"{k} {v}" for k, v in sorted(limits[key].items())) in before


def test_summary_lists_routes_in_istios_order_longest_prefix_first(build_dir, edited):
    """The new route is longer than `/accounts`, which it starts with: Istio takes the first
    match, so it must come before it, and the summary says so and why."""
    numbers = _route_numbers(edited["summary"])
    assert numbers[ROUTE["path"]] < numbers["/accounts"]
    vs = one(edited["plan"], ":networking.istio.io/v1:VirtualService")["inputs"]["spec"]
    order = [http["match"][0]["uri"]["prefix"] for http in vs["http"]]
    assert sorted(numbers, key=numbers.get) == order
    assert "Istio takes the first route that matches" in edited["summary"]
    assert "**Warning**" not in edited["summary"]


@pytest.mark.parametrize("stack", ATTACHED_STACKS)
def test_attached_summary_names_the_owner_and_its_tls_facts(build_dir, plans, stack):
    attached = summary(build_dir, stack)
    assert f"Attached to `{OWNER}`" in attached
    assert "- TLS: SIMPLE, minimum TLSV1_2" in attached and "Certificate: self-signed" in attached
    assert f"the owner `{OWNER}`'s" in attached and "## Platform" in attached
    assert "- Quota: " in attached and "- Egress (outside the mesh): " in attached
    if not STACKS[stack].environment.get("egress"):
        assert "- Egress (outside the mesh): none of its own" in attached


@pytest.mark.parametrize("stack", [OWNER] if STACKS[OWNER].environment["auth"].get("publicPaths") else [])
def test_diff_matches_list_items_by_identity_not_position(build_dir, plans, tmp_path, stack):
    """Item 5: the owner has one more policy rule (its public paths) than an attached copy of its
    environment without them (nor the demo's, nor egress). Compared by position, the copy seemed
    to drop the gateway principal from the rule after it; by identity, only the owner's
    public-path rule differs, as one whole rule, and the rest is unchanged."""
    environment = environment_of(stack, "demo", "egress")
    public = environment["auth"]["publicPaths"][0]
    environment["auth"] = {k: v for k, v in environment["auth"].items() if k != "publicPaths"}
    copied = sibling_of(build_dir, tmp_path, environment)
    lines = diff(plans[stack], copied)
    policy = _changes(lines, "AuthorizationPolicy <env>-require-jwt")
    principal = plans[stack]["outputs"]["gatewayPrincipal"]
    assert not [line for line in policy if "source." in line], policy
    (rule,) = [line for line in policy if principal in line]
    assert re.fullmatch(r"spec\.rules\[\d+\]: removed \(was \{.*\)", rule) and public in rule
    # The other way round, the same rule is added.
    back = _changes(diff(copied, plans[stack]), "AuthorizationPolicy <env>-require-jwt")
    (rule,) = [line for line in back if principal in line]
    assert re.fullmatch(r"spec\.rules\[\d+\]: added \{.*", rule) and public in rule
    assert not [line for line in back if "source." in line or "removed" in line], back


def test_diff_reports_an_inserted_route_as_added_and_the_others_unchanged(plans, edited):
    lines = diff(plans[OWNER], edited["plan"])
    routes = _changes(lines, "VirtualService <env>-routes")
    assert routes == [f"spec.http[prefix={ROUTE['path']}]: added " + routes[0].split(" added ", 1)[1]]
    assert f'"prefix": "{ROUTE["path"]}"' in routes[0]
    pool = _changes(lines, "NodePool platform-gke-pool")
    shipped = one(plans[OWNER], ":container/nodePool:NodePool")["inputs"]["nodeConfig"]["machineType"]
    assert f'nodeConfig.machineType: "{shipped}" → "n2-standard-8"' in pool


def _changes(lines: list[str], resource: str) -> list[str]:
    """The changed-input lines listed under one resource of a diff."""
    at = next(i for i, line in enumerate(lines) if line.startswith("  ~ ") and line.endswith(resource))
    rows = []
    for line in lines[at + 1:]:
        if not line.startswith("      "):
            break
        rows.append(line.strip())
    return rows


def _route(prefix: str, **more) -> dict:
    return {"match": [{"uri": {"prefix": prefix}}], "route": [{"destination": {"host": "svc"}}], **more}


def _rows(old, new) -> list[str]:
    return [row(change) for change in changes(old, new)]


def test_named_items_are_matched_by_name_and_their_order_is_reported():
    a, b, c = _route("/a"), _route("/b"), _route("/c")
    assert _rows({"http": [a, b]}, {"http": [c, a, b]}) == [f"http[prefix=/c]: added {json.dumps(c)}"]
    assert _rows({"http": [a, b, c]}, {"http": [c, a, _route("/b", timeout="5s")]}) == [
        'http[prefix=/b].timeout: added "5s"', "http: order prefix=/a, prefix=/b, prefix=/c → "
        "prefix=/c, prefix=/a, prefix=/b"]
    # One route in place of another at the same index is two routes, not one changed.
    assert changes({"http": [a]}, {"http": [b]}) == [Change("http[prefix=/b]", "added", new=b),
                                                      Change("http[prefix=/a]", "removed", old=a)]


def test_unnamed_items_are_matched_by_content_and_the_most_alike_paired():
    rule = {"from": [{"source": {"principals": ["gw"]}}], "to": [{"operation": {"paths": ["/h"]}}]}
    token = {"from": [{"source": {"requestPrincipals": ["*"]}}], "to": [{"operation": {"paths": ["/a"]}}]}
    wider = {**token, "to": [{"operation": {"paths": ["/a", "/b"]}}]}
    assert _rows({"rules": [rule, token]}, {"rules": [token, rule]}) == []  # an order of no meaning
    assert _rows({"rules": [rule, token]}, {"rules": [wider]}) == [
        'rules[1→0].to[0].operation.paths[1]: added "/b"', f"rules[0]: removed (was {json.dumps(rule)})"]
    assert _rows({"hosts": ["a.example.com"]}, {"hosts": ["b.example.com"]}) == [
        'hosts[0]: "a.example.com" → "b.example.com"']
    assert _rows({"hosts": ["a", "b", "c"]}, {"hosts": ["c", "a"]}) == ['hosts[1]: removed (was "b")']


def test_a_repeated_item_is_compared_by_position_and_never_lost():
    assert _rows({"v": ["a", "a"]}, {"v": ["a"]}) == ['v[1]: removed (was "a")']
    assert _rows({"v": ["a", "a", "b"]}, {"v": ["a", "b", "b"]}) == ['v[1]: "a" → "b"']


def test_keys_types_and_secrets():
    assert _rows({"a": 1, "b": {"c": 1}, "s": "[secret]"}, {"a": "1", "d": True, "s": "x"}) == [
        'a: 1 → "1"', 'b: removed (was {"c": 1})', 'd: added true', 's: (secret) → "x"']
