"""The platform's zone serves api.<domain>. only, and a deployed zone is never replaced silently.

Issue "The DNS zone covers the whole domain": a created zone served the apex <domain>., so
delegating a company's domain to it dropped the domain's other records, and the self-signed CAA
record forbade every public CA for every name of the domain. Now a created zone serves the hosts'
parent api.<domain>. A stack deployed with the apex zone is stopped before it declares anything
(Cloud DNS cannot change a zone's DNS name: `pulumi up` would replace the protected zone), and
can keep its zone (zoneDomain: apex) or move it in two `pulumi up`s (releasedZone)."""

from __future__ import annotations

import pytest
from conftest import ATTACHED_STACKS, EXAMPLES, OWNER, a_record, of_type, one
from stackfiles import set_key, write_project

from components.config import ConfigError, PlatformConfig
from components.dns import LAST_DEPLOYMENT, _check_zone_domain, zone_replacement
from preview.engine import run_program

ZONE = "gcp:dns/managedZone:ManagedZone"
APEX = set_key("platform.dns.zoneDomain", "apex")


def zone(plan: dict) -> dict:
    return one(plan, ZONE)


def caa(plan: dict) -> dict:
    (record,) = [r for r in of_type(plan, "dns/recordSet:RecordSet") if r["inputs"]["type"] == "CAA"]
    return record


# --- the zone for api.<domain>. -------------------------------------------------------------

# What each created zone's CAA record allows, by TLS source: self-signed (dev) no public CA at all,
# acme Let's Encrypt only, provided the provider's CA (examples/provided's caaIssuers).
CAA = {"dev": ";", "acme": "letsencrypt.org", "provided": "digicert.com"}


def test_a_created_zone_serves_the_hosts_parent_and_carries_its_caa_there(plans, example_plans):
    checked = set()
    for name, plan in {**plans, **example_plans}.items():
        if not of_type(plan, ZONE):
            continue  # attached
        inputs = zone(plan)["inputs"]
        # The hosts' parent, derived once (PlatformConfig.api_domain): *.api.<domain> is the
        # certificate's only name, <env>.api.<domain> each host.
        assert inputs["dnsName"] == plan["outputs"]["certificateNames"][0].replace("*.", "", 1) + ".", name
        assert inputs["dnssecConfig"] == {"state": "on"} and zone(plan)["protect"]
        assert inputs["name"] == inputs["dnsName"].rstrip(".").replace(".", "-")  # api-example-com
        assert caa(plan)["inputs"]["name"] == inputs["dnsName"]
        assert caa(plan)["inputs"]["managedZone"] == inputs["name"]
        if name in CAA:
            assert caa(plan)["inputs"]["rrdatas"] == [f'0 issue "{CAA[name]}"', f'0 issuewild "{CAA[name]}"']
            checked.add(name)
        assert plan["outputs"]["dnsName"] == inputs["dnsName"]
        assert plan["outputs"]["dnsZone"] == inputs["name"]
        # The DS record the parent zone publishes: read from the created zone's keys.
        assert plan["outputs"]["dnsDsRecord"] and plan["outputs"]["nameServers"]
        (keys,) = [i for i in plan["invokes"] if i["token"] == "gcp:dns/getKeys:getKeys"]
        assert keys["args"]["managedZone"] == inputs["name"]
    assert checked == set(CAA) & ({*plans, *example_plans})


def test_every_environment_record_is_a_name_inside_its_zone(plans, example_plans):
    """The A records (components/environment.py) take the zone from the platform's handles: each
    record's name must lie inside the zone it is written to, owner and attached stacks alike."""
    everything = {**plans, **example_plans}
    checked = 0
    for name, plan in everything.items():
        if "host" not in plan["outputs"]:
            continue
        owner = everything[plan["outputs"].get("platformOwner", name)]
        record = a_record(plan)["inputs"]
        assert record["managedZone"] == owner["outputs"]["dnsZone"], name
        assert record["name"] == plan["outputs"]["host"] + "."
        assert record["name"].endswith("." + owner["outputs"]["dnsName"]), (name, record["name"])
        checked += 1
    assert checked >= len(ATTACHED_STACKS) + len(EXAMPLES)


def test_the_legacy_apex_zone_is_declared_as_it_was(tmp_path):
    """zoneDomain: apex keeps what the program declared before: the zone `<domain dashed>` for
    `<domain>.`, its CAA record there, the same URNs."""
    plan = _plan(tmp_path, APEX)
    inputs = zone(plan)["inputs"]
    assert (inputs["name"], inputs["dnsName"]) == ("example-com", "example.com.")
    assert inputs["description"] == "Environments of example.com, managed by Pulumi"
    assert caa(plan)["inputs"]["name"] == "example.com." and zone(plan)["protect"]
    assert zone(plan)["urn"].endswith("$gcp:dns/managedZone:ManagedZone::platform-dns-zone")
    assert a_record(plan)["inputs"]["name"] == "dev.api.example.com."


@pytest.mark.parametrize("served, accepted", [
    ("api.example.com.", True), ("example.com.", True), ("API.Example.com", True),
    ("example.org.", False), ("dev.api.example.com.", False), ("other.example.com.", False)])
def test_an_existing_zone_may_serve_the_hosts_parent_or_the_apex(served, accepted):
    """A company that hosts its domain in Cloud DNS looks its apex zone up; a zone made for
    api.<domain> works too: <env>.api.<domain>. is inside either. Any other zone is refused."""
    if accepted:
        assert _check_zone_domain("z", served, "api.example.com", "example.com") == served
    else:
        with pytest.raises(Exception, match=r"serves .*, not api\.example\.com\. or example\.com\."):
            _check_zone_domain("z", served, "api.example.com", "example.com")


def test_an_existing_apex_zone_is_looked_up_exported_and_summarised(tmp_path, configs):
    """Nothing created: the zone is looked up by name (in the platform's project), the A record
    and the outputs name it, and summary.md leaves its delegation where it is managed."""
    from preview import render

    plan = _plan(tmp_path, set_key("platform.dns", {"zone": "existing", "zoneName": "acme-public"}))
    assert not of_type(plan, ZONE) and not of_type(plan, "pulumi:pulumi:StackReference")
    (lookup,) = [i for i in plan["invokes"] if i["token"] == "gcp:dns/getManagedZone:getManagedZone"]
    assert lookup["args"] == {"name": "acme-public", "project": configs[OWNER].platform.project}
    assert a_record(plan)["inputs"]["managedZone"] == "acme-public"
    assert plan["outputs"]["dnsName"] == "example.com."  # the preview's lookup answers the apex
    assert plan["outputs"]["dnsZone"] == "acme-public" and plan["outputs"]["dnsDsRecord"] is None
    assert "- Zone `acme-public` (existing, looked up) serves `example.com.`: its delegation, DNSSEC " \
           "and CAA are wherever it is managed." in render.summary(plan)


# --- a deployed zone is never replaced behind the owner's back -------------------------------

def _project(tmp_path, *edits):
    def edit(files):
        for change in edits:
            change(files)
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_project(tmp_path, edit)


def _run(project, deployed: dict, monitors: list | None = None):
    """The program as `pulumi up` runs it after a deployment that exported ``deployed``: the
    stack's reference to itself gets those outputs (nothing else is referenced by an owner)."""
    def outputs(name: str):
        assert name == "organization/istio-envs/dev", name
        return deployed, []
    return run_program(project, "dev", outputs, deployed=True,
                       on_monitor=(monitors.append if monitors is not None else None))


def _outputs(run) -> dict:
    return {name: output.value for name, output in run.outputs.items()}


def _plan(tmp_path, *edits) -> dict:
    from preview import render
    return render.plan(_run(_project(tmp_path, *edits), {}))


@pytest.fixture(scope="module")
def apex_deployment(tmp_path_factory) -> dict:
    """The outputs of a platform deployed with the apex zone by the program before this change:
    what it exports under zoneDomain apex, without the `dnsName` output it did not have (only
    read by the tests)."""
    outputs = _outputs(_run(_project(tmp_path_factory.mktemp("apex"), APEX), {}))
    del outputs["dnsName"]
    assert outputs["dnsZone"] == "example-com" and outputs["dnsDsRecord"]
    return outputs


def test_a_platform_deployed_with_the_apex_zone_is_refused_before_anything_is_declared(
        tmp_path, apex_deployment):
    """The old stack file, unchanged: by default it asks for the zone of api.example.com. The
    program reads its stack's last deployment and stops, naming the file, the key, what would
    happen and both ways out; nothing but the reference to itself was registered."""
    monitors: list = []
    with pytest.raises(ConfigError) as caught:
        _run(_project(tmp_path), apex_deployment, monitors)
    message = str(caught.value)
    assert message.startswith("Pulumi.dev.yaml: istio-envs:platform.dns.zoneDomain: got 'api' "
                              "(the default), a zone for api.example.com.; but stack dev's last "
                              "deployment created zone example-com for example.com.")
    assert "would replace the protected zone" in message
    assert "expected apex (keeps the deployed zone as it is)" in message
    assert "zoneDomain: apex with releasedZone: example-com, `pulumi up`, then zoneDomain: api" in message
    registered = monitors[0].registrations
    assert [(r.type, r.name, r.read) for r in registered] == [
        ("pulumi:pulumi:StackReference", LAST_DEPLOYMENT, True)]


def test_keeping_the_apex_zone_changes_nothing_that_was_deployed(tmp_path, apex_deployment):
    run = _run(_project(tmp_path, APEX), apex_deployment)
    outputs = _outputs(run)
    assert {k: v for k, v in outputs.items() if k != "dnsName"} == apex_deployment
    assert outputs["dnsName"] == "example.com."


def test_a_new_stack_and_an_unchanged_one_are_not_refused(tmp_path):
    fresh = _run(_project(tmp_path / "fresh"), {})
    again = _run(_project(tmp_path / "again"), _outputs(fresh))
    assert _outputs(again) == _outputs(fresh)
    # A stack that looked its zone up created none: nothing to replace.
    looked_up = _outputs(_run(_project(tmp_path / "lookup", set_key("platform.dns", {"zone": "existing"})), {}))
    _run(_project(tmp_path / "now-created"), looked_up)


def test_moving_the_apex_zone_takes_two_pulumi_ups(tmp_path, apex_deployment):
    """Step 1 (zoneDomain apex, releasedZone: the zone's name): the same zone, no longer protected
    and kept in Cloud DNS when it leaves the stack; the outputs say so. Step 2 (zoneDomain api):
    the zone for api.example.com. replaces it (the engine retains the old one: its state says
    retainOnDelete) and is protected again. Step 2 before step 1 is refused."""
    from preview import render

    released = set_key("platform.dns.releasedZone", "example-com")
    with pytest.raises(ConfigError) as caught:
        _run(_project(tmp_path / "early", released), apex_deployment)
    assert caught.value.problems[0].config_key == "istio-envs:platform.dns.releasedZone"
    assert "still protects that zone" in str(caught.value)

    step1 = _run(_project(tmp_path / "step1", APEX, released), apex_deployment)
    old = one(render.plan(step1), ZONE)
    assert (old["inputs"]["name"], old["inputs"]["dnsName"]) == ("example-com", "example.com.")
    assert old["protect"] is False and old["retainOnDelete"] is True
    assert _outputs(step1)["dnsReleasedZone"] == "example-com"

    step2 = _run(_project(tmp_path / "step2", released), _outputs(step1))
    new = one(render.plan(step2), ZONE)
    assert (new["inputs"]["name"], new["inputs"]["dnsName"]) == ("api-example-com", "api.example.com.")
    assert new["urn"] == old["urn"] and new["protect"] is True and not new["retainOnDelete"]
    assert "dnsReleasedZone" not in _outputs(step2)
    # After the move the key is inert: the deployed zone is the declared one.
    _run(_project(tmp_path / "after", released), _outputs(step2))


def test_a_changed_domain_or_zone_name_is_refused_too(tmp_path):
    deployed = _outputs(_run(_project(tmp_path / "before"), {}))
    for key, edit in (("platform.domain", set_key("platform.domain", "example.org")),
                      ("platform.dns.zoneName", set_key("platform.dns.zoneName", "platform-zone"))):
        with pytest.raises(ConfigError) as caught:
            _run(_project(tmp_path / key, edit), deployed)
        assert caught.value.problems[0].config_key == f"istio-envs:{key}", str(caught.value)
        assert "cannot rename a zone or change the name it serves" in str(caught.value)


def test_zone_replacement_reads_outputs_of_either_program():
    """Before `dnsName` existed every created zone served the apex, the domain of `host`."""
    config = PlatformConfig.model_validate({
        "project": "acme-nonprod", "region": "us-central1", "zones": ["us-central1-a"], "domain": "example.com",
        "cluster": {"authorizedNetworks": [{"name": "n", "cidr": "203.0.113.0/24"}]},
        "dns": {"zone": "create", "zoneName": "api-example-com"}, "tls": {"source": "self-signed"}})
    old = {"dnsZone": "example-com", "dnsDsRecord": "ds", "host": "dev.api.example.com"}
    assert zone_replacement(old, config, "dev")[0] == "platform.dns.zoneDomain"
    assert zone_replacement({**old, "dnsDsRecord": None}, config, "dev") is None  # looked up
    new = {"dnsZone": "api-example-com", "dnsName": "api.example.com.", "dnsDsRecord": "ds"}
    assert zone_replacement(new, config, "dev") is None
    assert zone_replacement({}, config, "dev") is None


def test_the_offline_preview_takes_no_previous_preview_for_a_deployment(tmp_path):
    """Offline nothing is deployed: an owner's reference to itself reads no outputs, so a stale
    build/dev/plan.json (here one of the apex zone) never refuses an edit. The refusal of a real
    deployment is tested above, with its outputs served as the real engine serves them."""
    import json

    from preview import preview_stack

    project, build = _project(tmp_path), tmp_path / "build"
    first = preview_stack("dev", project, build).plan
    plan_path = build / "dev" / "plan.json"
    before = json.loads(plan_path.read_text())
    before["outputs"].update(dnsZone="example-com", dnsName="example.com.")
    plan_path.write_text(json.dumps(before))
    assert preview_stack("dev", project, build).plan == first


# --- what the owner is told to publish ---------------------------------------------------------

def test_the_owner_summary_says_what_the_parent_zone_publishes(build_dir, plans):
    """summary.md: the NS and DS record sets named api.<domain>. for the zone of <domain>, with
    the stack outputs that carry them; attached stacks leave it to their owner's summary."""
    out = plans[OWNER]["outputs"]
    text = (build_dir / OWNER / "summary.md").read_text()
    assert "- Zone `api-example-com` serves `api.example.com.`, DNSSEC on; CAA at `api.example.com.`: " \
           "`0 issue \";\"`, `0 issuewild \";\"`." in text
    assert "- **The zone of `example.com.` delegates it**" in text
    servers = ", ".join(f"`{ns}`" for ns in out["nameServers"])
    assert f"| `api.example.com.` | NS | {servers} (`pulumi stack output nameServers`) |" in text
    assert f"| `api.example.com.` | DS | `{out['dnsDsRecord']}` (`pulumi stack output dnsDsRecord`) |" in text
    for stack in ATTACHED_STACKS:
        assert "## DNS zone" not in (build_dir / stack / "summary.md").read_text()

