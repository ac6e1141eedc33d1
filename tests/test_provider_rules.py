"""The provider's own input rules (terraform-provider-google-beta's schema, which pulumi-gcp's Check
enforces) hold in every plan; each rule kind, planted, is caught; the extractor reads Go as Go;
fake outputs cover every Computed attribute; the replacement table is the schema's ForceNew."""

from __future__ import annotations

import copy
import json

import pytest
from ci_identity import backend_plan
from conftest import EXAMPLES, OWNER, one

from preview import engine, preview_stack, risks
from preview.engine import SECRET, UNKNOWN
from preview.provider_rules import SCHEMA, SOURCE, check, schemas
from tools import provider_schema

CLUSTER = "gcp:container/cluster:Cluster"
WINDOWS = ("dailyMaintenanceWindow", "recurringWindow", "recurringMaintenanceWindow")


@pytest.fixture(scope="module")
def every_plan(plans, example_plans, build_dir) -> dict[str, dict]:
    """The shipped stacks, the examples and the bootstrap project's backend stack."""
    return {**plans, **example_plans, "backend": backend_plan(build_dir)}


def gcp_types(plan: dict) -> set[str]:
    return {r["type"] for r in plan["resources"] if r["type"].startswith("gcp:")}


def test_the_vendored_schema_holds_exactly_the_declared_types(every_plan):
    declared = set().union(*map(gcp_types, every_plan.values()))
    assert declared == set(schemas()), (
        "regenerate schemas/provider/google-beta.json (schemas/provider/SOURCE says how) with "
        f"{sorted(declared - set(schemas()))}; no longer declared: {sorted(set(schemas()) - declared)}")


def test_no_plan_breaks_a_provider_rule(every_plan):
    """Also the guard for inputs built from another resource's output that the mock never faked:
    the SDK drops an input whose Output resolves to nothing (a Required rule broken here)."""
    found = [str(v) for plan in every_plan.values() for v in check(plan)]
    assert found == [], "\n".join(found)


def test_the_guard_catches_an_output_the_mock_does_not_fake(tmp_path, monkeypatch):
    """As the mock was before it faked every Computed output: an Account without ``name``, and
    acme's cert-manager workload-identity grant recorded without its serviceAccountId."""
    new_resource = engine.PreviewMocks.new_resource

    def without_account_name(self, args):
        resource_id, outputs = new_resource(self, args)
        if args.typ == "gcp:serviceaccount/account:Account":
            outputs.pop("name")
        return resource_id, outputs

    monkeypatch.setattr(engine.PreviewMocks, "new_resource", without_account_name)
    plan = preview_stack("acme", EXAMPLES["acme"], tmp_path).plan
    required = [v for v in check(plan) if v.rule == "Required"]
    assert [(v.resource, v.path) for v in required] == [
        ("gcp:serviceaccount/iAMMember:IAMMember platform-cert-manager-workload-identity", "serviceAccountId")]


def test_acme_workload_identity_names_its_service_account(example_plans):
    grant = next(r for r in example_plans["acme"]["resources"]
                 if r["name"] == "platform-cert-manager-workload-identity")
    account = next(r for r in example_plans["acme"]["resources"] if r["urn"] in grant["dependencies"]
                   and r["type"] == "gcp:serviceaccount/account:Account")
    email = f"{account['inputs']['accountId']}@{account['inputs']['project']}.iam.gserviceaccount.com"
    assert grant["inputs"]["serviceAccountId"] == f"projects/{account['inputs']['project']}/serviceAccounts/{email}"


# --- planted faults: one resource of the owner's plan, changed ----------------------------------

def planted(plans, typ: str, change) -> list[str]:
    resource = copy.deepcopy(one(plans[OWNER], typ))
    change(resource["inputs"])
    return [str(v) for v in check({"stack": OWNER, "resources": [resource]})]


def _set(path: str, value):
    def change(inputs):
        *parents, key = path.split(".")
        for parent in parents:
            inputs = inputs.setdefault(parent, {})
        inputs[key] = value
    return change


def _no_window(inputs):
    policy = inputs.setdefault("maintenancePolicy", {})
    for window in WINDOWS:
        policy.pop(window, None)
    policy.setdefault("maintenanceExclusions", [])


def _two_windows(inputs):
    policy = inputs.setdefault("maintenancePolicy", {})
    policy["dailyMaintenanceWindow"] = {"startTime": "03:00"}
    policy["recurringWindow"] = {"startTime": UNKNOWN, "endTime": SECRET, "recurrence": "FREQ=DAILY"}


def _extra_network(inputs):
    inputs["masterAuthorizedNetworksConfig"]["cidrBlocks"].append({"displayName": "no range"})


FIREWALL, POOL = "gcp:compute/firewall:Firewall", "gcp:container/nodePool:NodePool"
WINDOW_RULE = "maintenancePolicy: ExactlyOneOf(dailyMaintenanceWindow, recurringWindow, recurringMaintenanceWindow)"
# id -> (type, edit of its inputs in the owner's plan, the problems: "<resource>: ..." each, where a
# "…" stands for what the vendored schema lists; "{blocks}" is the number of authorized networks).
PLANTED = {
    "no maintenance window": (CLUSTER, _no_window, [f"{WINDOW_RULE} — none set"]),
    "two maintenance windows": (CLUSTER, _two_windows,
                                [f"{WINDOW_RULE} — 2 set: dailyMaintenanceWindow, recurringWindow"]),
    "a window unknown until deployed counts as set": (CLUSTER, _set("maintenancePolicy", {
        "recurringWindow": UNKNOWN}), []),
    "ConflictsWith": (FIREWALL, lambda i: i.update(sourceTags=["web"], sourceServiceAccounts=["a@p.iam.gserviceaccount.com"]),
                      ["sourceServiceAccounts: ConflictsWith(sourceTags) — both set",
                       "sourceTags: ConflictsWith(sourceServiceAccounts) — both set"]),
    # Unknown until deployed, a value conflicts with nothing (terraform-plugin-sdk skips it either
    # way); a secret one is known to the provider, so it does.
    "an unknown value conflicts with nothing": (
        FIREWALL, lambda i: i.update(sourceTags=UNKNOWN, sourceServiceAccounts=["a"]), []),
    "a secret value conflicts": (FIREWALL, lambda i: i.update(sourceTags=SECRET, sourceServiceAccounts=["a"]),
                                 ["sourceServiceAccounts: ConflictsWith(sourceTags) — both set",
                                  "sourceTags: ConflictsWith(sourceServiceAccounts) — both set"]),
    "enum": (CLUSTER, _set("releaseChannel.channel", "WEEKLY"),
             ["releaseChannel.channel: enum(…) — 'WEEKLY' is not one of them"]),
    "another enum": (CLUSTER, _set("datapathProvider", "CILIUM"),
                     ["datapathProvider: enum(…) — 'CILIUM' is not one of them"]),
    "a secret is not compared with an enum": (CLUSTER, _set("datapathProvider", SECRET), []),
    "unknown attribute": (POOL, lambda i: i["nodeConfig"].update(machineTypo="e2-small"),
                          ["nodeConfig.machineTypo: unknown attribute — not in the provider schema"]),
    "Required": (POOL, lambda i: i.pop("cluster"), ["cluster: Required — not set"]),
    "Required in a block": (CLUSTER, _extra_network,
                            ["masterAuthorizedNetworksConfig.cidrBlocks[{blocks}].cidrBlock: Required — not set"]),
    "MaxItems": (FIREWALL, lambda i: i.update(targetServiceAccounts=[f"sa{n}@p.iam.gserviceaccount.com" for n in range(11)]),
                 ["targetServiceAccounts: MaxItems(10) — 11 given"]),
    "AtLeastOneOf": (CLUSTER, _set("addonsConfig", {}),
                     ["addonsConfig: AtLeastOneOf(httpLoadBalancing, horizontalPodAutoscaling, … — none set"]),
    "Computed": (CLUSTER, _set("selfLink", "x"), ["selfLink: Computed — set, but only the provider sets it"]),
}


@pytest.mark.parametrize("case", PLANTED)
def test_a_planted_rule_break_is_caught(plans, case):
    typ, edit, expected = PLANTED[case]
    blocks = len(one(plans[OWNER], CLUSTER)["inputs"]["masterAuthorizedNetworksConfig"]["cidrBlocks"])
    found = planted(plans, typ, edit)
    assert len(found) == len(expected), found
    for got, want in zip(found, expected, strict=True):
        full = f"{OWNER}: {typ} {one(plans[OWNER], typ)['name']}: {want.format(blocks=blocks)}"
        head, dots, tail = full.partition("…")
        assert (got.startswith(head) and got.endswith(tail)) if dots else got == full, (got, want)


def test_required_with_is_caught():
    bucket = {"type": "gcp:storage/bucket:Bucket", "name": "state", "inputs": {
        "name": "state", "location": "EU", "ipFilter": {"mode": "Enabled", "allowCrossOrgVpcs": True}}}
    assert [str(v) for v in check({"stack": "backend", "resources": [bucket]})] == [
        "backend: gcp:storage/bucket:Bucket state: ipFilter.allowCrossOrgVpcs: RequiredWith(vpcNetworkSources) "
        "— vpcNetworkSources not set"]


# --- the extractor, on a Go fixture -------------------------------------------------------------

GO_RESOURCE = '''package demo

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/validation"

	"github.com/hashicorp/terraform-provider-google-beta/google-beta/registry"
	"github.com/hashicorp/terraform-provider-google-beta/google-beta/services/shared"
)

var windowKeys = []string{"policy.0.daily", "policy.0.weekly"}

func ResourceDemo() *schema.Resource {
	return &schema.Resource{
		Schema: map[string]*schema.Schema{
			"name": {Type: schema.TypeString, Required: true, ForceNew: true},
			"tier": {
				Type:         schema.TypeString,
				Optional:     true,
				ValidateFunc: validation.StringInSlice([]string{"BASIC", "PREMIUM"}, false),
			},
			"policy": {
				Type:     schema.TypeList,
				Optional: true,
				MaxItems: 1,
				Elem: &schema.Resource{Schema: map[string]*schema.Schema{
					"daily":  window(windowKeys),
					"weekly": window(windowKeys),
				}},
			},
			"rule":  {Type: schema.TypeList, Optional: true, Elem: &schema.Resource{Schema: shared.RuleSchema}},
			"email": {Type: schema.TypeString, Computed: true},
		},
	}
}

// A helper: its parameter bound to the caller's argument.
func window(keys []string) *schema.Schema {
	s := &schema.Schema{Type: schema.TypeList, Optional: true, MaxItems: 1, ExactlyOneOf: keys,
		Elem: &schema.Resource{Schema: map[string]*schema.Schema{"start": {Type: schema.TypeString, Required: true}}}}
	return s
}

func init() {
	registry.Schema{Name: "google_demo", Type: registry.SchemaTypeResource, Schema: ResourceDemo()}.Register()
	registry.Schema{Name: "google_demo", Type: registry.SchemaTypeDataSource, Schema: nil}.Register()
}
'''
GO_SHARED = '''package shared

import "github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"

var RuleSchema = map[string]*schema.Schema{
	"action": {Type: schema.TypeString, Required: true, ConflictsWith: []string{"tier"}},
}
'''


def test_the_extractor_follows_helpers_and_keeps_rule_paths(tmp_path):
    services = tmp_path / "google-beta/services"
    (services / "demo").mkdir(parents=True)
    (services / "shared").mkdir()
    (services / "demo/resource_demo.go").write_text(GO_RESOURCE)
    (services / "shared/rules.go").write_text(GO_SHARED)
    go = provider_schema.Go(tmp_path)
    resource, file = provider_schema.registrations(go, {"google_demo"})["google_demo"]
    tf = provider_schema.attributes(resource.get("Schema"), file)
    daily = tf["policy"]["attributes"]["daily"]
    assert daily["exactlyOneOf"] == ["policy.0.daily", "policy.0.weekly"] and daily["maxItems"] == 1
    assert daily["attributes"]["start"] == {"type": "String", "required": True}
    assert tf["name"] == {"type": "String", "required": True, "forceNew": True}
    assert tf["tier"]["enum"] == ["BASIC", "PREMIUM"]
    assert tf["rule"]["attributes"]["action"] == {"type": "String", "required": True, "conflictsWith": ["tier"],
                                                  "file": "google-beta/services/shared/rules.go"}
    # Pulumi names: camelCase, a MaxItems 1 block flattened, other lists plural.
    gaps: list[str] = []
    tree = provider_schema.pulumi_tree(tf, None, gaps, "")
    assert sorted(tree) == ["email", "name", "policy", "rules", "tier"]
    assert tree["policy"]["flat"] and "flat" not in tree["rules"]
    assert tree["rules"]["tf"] == "rule"
    assert len(gaps) == 10 and all(g.endswith("not in the installed SDK") for g in gaps)  # no SDK type given


def test_the_vendored_schema_is_as_the_extractor_writes_it():
    text = SCHEMA.read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"
    source = SOURCE.read_text()
    assert "ref: v7.45.0" in source and "license: MPL-2.0" in source and "tools.provider_schema" in source
    cluster = schemas()[CLUSTER]
    assert cluster["tf"] == "google_container_cluster"
    assert cluster["file"] == "google-beta/services/container/resource_container_cluster.go"


# --- fake outputs and the replacement table ----------------------------------------------------

def test_fake_outputs_cover_every_computed_attribute():
    mocks = engine.PreviewMocks("s", lambda name: ({}, []))
    for token, schema in schemas().items():
        inputs = {"project": "p", "accountId": "a", "name": "n"}
        _, outputs = mocks.new_resource(engine.sdk.MockResourceArgs(
            typ=token, name="r", inputs=inputs, provider="", resource_id="", custom=True))
        computed = {key for key, node in schema["attributes"].items()
                    if node.get("computed") and not node.get("optional") and not node.get("required")}
        assert computed <= set(outputs), (token, computed - set(outputs))
    _, account = mocks.new_resource(engine.sdk.MockResourceArgs(
        typ="gcp:serviceaccount/account:Account", name="r", inputs={"project": "p", "accountId": "a"},
        provider="", resource_id="", custom=True))
    assert account["name"] == "projects/p/serviceAccounts/a@p.iam.gserviceaccount.com"
    assert account["member"] == "serviceAccount:a@p.iam.gserviceaccount.com"


def test_replacements_are_the_schemas_force_new_inputs():
    for token in schemas():
        assert token in risks.REPLACES, token
        for path, why in risks.REPLACES[token]:
            assert "ForceNew" in why and "@ v7.45.0 (3dc173a)" in why and "google-beta/" in why, (path, why)
    pool = risks.force_new_paths("gcp:container/nodePool:NodePool")
    assert {"name", "cluster", "nodeConfig.serviceAccount", "nodeConfig.spot", "nodeConfig.oauthScopes"} <= set(pool)
    assert "autoscaling.maxNodeCount" not in pool and "nodeConfig.machineType" not in pool
    cluster = risks.force_new_paths(CLUSTER)
    assert "privateClusterConfig.masterIpv4CidrBlock" in cluster and "maintenancePolicy" not in cluster
    # A ForceNew block counts (terraform-plugin-sdk diffList): added or removed, it replaces.
    member = risks.force_new_paths("gcp:projects/iAMMember:IAMMember")
    assert {"condition.#", "condition.expression", "condition.title", "condition.description",
            "member", "role", "project"} == set(member)
    assert risks.at({"a": {"b": 1}}, "a.#") == 1 and risks.at({}, "a.#") == 0
    assert risks.at({"a": [{"b": 1}, {"b": 2}]}, "a.b") == [1, 2]
    assert risks.force_new_paths("tls:index/privateKey:PrivateKey") == ["algorithm", "ecdsaCurve", "rsaBits"]
    subnet = dict(risks.REPLACES["gcp:compute/subnetwork:Subnetwork"])
    assert "IsShrinkageIpCidr" in subnet["ipCidrRange"]



def test_make_preview_stops_at_what_the_provider_would_refuse(tmp_path, monkeypatch):
    """The preview runs the provider's rules over the plan it made, as the real first
    `pulumi preview` would: the program with its maintenance window planted out stops there, with
    the rule, and writes nothing."""
    import shutil

    from conftest import ROOT

    import components.cluster
    from preview import preview_stack
    from preview.engine import PreviewError

    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, tmp_path)
    monkeypatch.setattr(components.cluster, "maintenance_window", lambda window: None)
    with pytest.raises(PreviewError, match=r"the provider would refuse dev: gcp:container/cluster:Cluster "
                                           r"platform-gke-cluster: maintenancePolicy: ExactlyOneOf"):
        preview_stack("dev", tmp_path, tmp_path / "build", check_schemas=True)
    assert not (tmp_path / "build" / "dev").exists()
