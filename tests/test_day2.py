"""Day-2 changes: what an owner's edit of a stack file does to a running platform, as the real
engine would carry it out. What replaces a resource comes from the provider's own rules
(``ForceNew`` in the vendored provider schema, ``preview.risks``), never from this file.

Each edit below is made to a copy of the shipped owner stack, both sides are previewed, and the
revision diff's replacement risks are read: the edit an owner makes, the plan a reviewer sees.
"""

from __future__ import annotations

import pytest
from conftest import OWNER, ROOT, one
from stackfiles import set_key, write_project

from components.cluster import NODE_CONFIG_REPLACED_BY, NODE_POOL_REPLACED_BY
from preview import owner_outputs, preview_stack, render
from preview.engine import run_program
from preview.revdiff import stack_risks
from preview.risks import force_new_paths

POOL, CLUSTER, SECRET = ("gcp:container/nodePool:NodePool", "gcp:container/cluster:Cluster",
                         "kubernetes:core/v1:Secret")

# One edit of each platform key a running platform may see, with a valid new value. Every leaf key
# of istio-envs:platform has an entry (test_every_platform_key_has_an_edit): a key added later is
# tried too.
EDITS = {
    "project": "acme-nonprod-2",
    "region": None,  # with zones: below
    "zones": ["us-central1-a", "us-central1-b"],
    "domain": "example.org",
    "cluster.name": "nonprod2",
    "cluster.regional": False,
    "cluster.releaseChannel": "STABLE",
    "cluster.machineType": "e2-standard-8",
    "cluster.diskSizeGb": 100,
    "cluster.minNodesPerZone": 2,
    "cluster.maxNodesPerZone": 5,
    "cluster.spot": True,
    "cluster.authorizedNetworks": [{"name": "vpn", "cidr": "198.51.100.0/24"}],
    "cluster.privateEndpoint": True,
    "cluster.masterCidr": "172.16.0.16/28",
    "cluster.nodesCidr": "10.10.0.0/19",
    "cluster.podsCidr": "10.28.0.0/14",
    "cluster.servicesCidr": "10.24.16.0/20",
    "cluster.deletionProtection": False,
    "cluster.rbacSecurityGroup": None,  # delete: below
    "cluster.intranodeVisibility": True,
    "cluster.maintenanceWindow": {"days": ["TU", "WE"], "start": "03:00", "hours": 6},
    "dns.zoneName": "example-com-2",
    "dns.caaIssuers": ["letsencrypt.org"],
    "tls.validityDays": 120,
    "tls.earlyRenewalDays": 40,
    "binaryAuthorization": {"enforcement": "enforce", "allowlist": ["europe-docker.pkg.dev/acme/apps/*"]},
}


def _edit(key: str):
    if key == "region":
        def both(files):
            set_key("platform.region", "europe-west1")(files)
            set_key("platform.zones", ["europe-west1-b", "europe-west1-c"])(files)
        return both
    if key == "cluster.rbacSecurityGroup":
        from stackfiles import DELETE
        return set_key("platform.cluster.rbacSecurityGroup", DELETE)
    return set_key(f"platform.{key}", EDITS[key])


def owner_plan(project) -> dict:
    """The owner's plan.json as `make preview` renders it (the build files unwritten: only the
    plan is read, and the owner reads no other stack's preview)."""
    return render.plan(run_program(project, OWNER, owner_outputs(project / "build")))


@pytest.fixture(scope="module")
def before() -> dict:
    return owner_plan(ROOT)


def edited(tmp_path, key: str) -> dict:
    """The owner's plan after the edit of ``key``."""
    return owner_plan(write_project(tmp_path, _edit(key)))


def replacements(before: dict, after: dict) -> dict[str, list[str]]:
    """resource label -> the revision diff's replacement risk lines."""
    found: dict[str, list[str]] = {}
    for risk in stack_risks(OWNER, before, after):
        if risk.kind in ("replacement", "protected-replace", "node-pool-replaced", "certificate-reissued"):
            found.setdefault(risk.text.split(" is replaced")[0], []).append(risk.text)
    return found


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_the_pool_name_digest_covers_every_replace_forcing_input_the_program_sets(plans):
    """The pool is renamed exactly when the provider replaces it: its digest covers each input
    that the vendored schema marks ForceNew and the program sets (but the name itself, and
    initialNodeCount, which is ignored after creation)."""
    pool = one(plans[OWNER], POOL)
    inputs = pool["inputs"]
    forcing = {path.split(".")[0] if not path.startswith("nodeConfig.") else path.split(".")[1]
               for path in force_new_paths(POOL)}
    top = {key for key in inputs if key in forcing} - {"name", "initialNodeCount"}
    node_config = {key for key in inputs["nodeConfig"] if key in forcing}
    assert top == {_camel(key) for key in NODE_POOL_REPLACED_BY}
    assert node_config == {_camel(key) for key in NODE_CONFIG_REPLACED_BY}
    assert "initialNodeCount" in pool["ignoreChanges"]
    assert not pool["deleteBeforeReplace"] and not pool["protect"]


def test_raising_the_minimum_nodes_updates_the_pool_in_place(tmp_path, before):
    """minNodesPerZone 1 -> 2: autoscaling bounds change, nothing is replaced (the initial count
    is a creation-time value, ignored afterwards)."""
    after = edited(tmp_path, "cluster.minNodesPerZone")
    assert one(after, POOL)["inputs"]["initialNodeCount"] != one(before, POOL)["inputs"]["initialNodeCount"]
    assert replacements(before, after) == {}


def test_a_pool_replacement_creates_the_new_pool_before_the_old_one_goes(tmp_path, before):
    """spot true: the provider replaces the pool (nodeConfig.spot ForceNew). The plan a real
    engine can carry out without an outage: a new name (create-before-delete cannot reuse a
    name: 409 ALREADY_EXISTS) and no deleteBeforeReplace."""
    after = edited(tmp_path, "cluster.spot")
    old, new = one(before, POOL), one(after, POOL)
    replaced = replacements(before, after)
    # Only the pool: the cluster, its network and everything in it stay.
    assert list(replaced) == [f"{POOL} {old['name']}"]
    assert any("nodeConfig.spot" in text for text in replaced[f"{POOL} {old['name']}"])
    assert new["inputs"]["name"] != old["inputs"]["name"]
    assert new["inputs"]["name"].startswith(f"{old['inputs']['cluster']}-pool-")
    assert len(new["inputs"]["name"]) <= 40
    assert not new["deleteBeforeReplace"]


# What a key's description calls each replaced type.
NOUNS = {"Cluster": "cluster", "NodePool": "node pool", "Subnetwork": "subnetwork",
         "Network": "network", "Router": "router", "RouterNat": "nat", "Firewall": "firewall",
         "Address": "address", "Account": "service account", "IAMMember": "grant",
         "ManagedZone": "zone", "RecordSet": "record", "Policy": "binary authorization policy",
         # pulumi-tls: a certificate is issued once, every input that shapes it reissues it.
         "CertRequest": "certificate", "SelfSignedCert": "certificate", "LocallySignedCert": "certificate"}


def _meaning(model, key: str) -> str:
    """What the model says ``key`` means (docs/configuration.md's Meaning column): its description,
    and for a section those of its keys too; whitespace as one space."""
    from tools.config_reference import rows

    found = [doc for path, _, doc in rows(model) if path.removesuffix("[]") == key
             or path.startswith((f"{key}.", f"{key}[]."))]
    assert found, f"no key {key} in {model.__name__}"
    return " ".join(" ".join(found).split())


@pytest.mark.parametrize("key", list(EDITS))
def test_what_an_edit_replaces_is_what_its_description_says(tmp_path, before, key):
    """Each edit, previewed: the pool is renamed whenever it is replaced (or the create fails
    409); every type it replaces is named in the key's description (the one statement of what it
    means: the models', in docs/configuration.md and the JSON Schema), and a change that a plain
    `pulumi up` cannot carry out (cluster-rebuild) says so there."""
    from components.config import PlatformConfig

    after = edited(tmp_path, key)
    replaced = replacements(before, after)
    old = one(before, POOL)
    if f"{POOL} {old['name']}" in replaced:
        assert one(after, POOL)["inputs"]["name"] != old["inputs"]["name"], key
    row = _meaning(PlatformConfig, key).lower()
    kinds = {label.split()[0].rsplit(":", 1)[1] for label in replaced}
    cloud = {label.split()[0].rsplit(":", 1)[1] for label in replaced if label.startswith("gcp:")}
    every = {r["type"].rsplit(":", 1)[1] for r in before["resources"] if r["type"].startswith("gcp:")}
    if cloud == every:
        assert "replaces every resource" in row, (key, sorted(kinds))
    else:
        missing = sorted(kind for kind in kinds if NOUNS[kind] not in row)
        assert not missing, f"the description of {key} does not say that it replaces {missing}"
    if kinds:
        assert "replaces" in row, key
    if any(risk.kind == "cluster-rebuild" for risk in stack_risks(OWNER, before, after)):
        assert "a plain `pulumi up` cannot" in row, key


def test_shrinking_the_node_range_replaces_the_subnetwork_the_cluster_runs_in(tmp_path, before):
    """The provider replaces a subnetwork whose range does not only expand (IsShrinkageIpCidr);
    the cluster runs in it, so the revision diff says a plain `pulumi up` cannot do it."""
    after = owner_plan(write_project(tmp_path, set_key("platform.cluster.nodesCidr", "10.10.0.0/21")))
    assert any(label.startswith("gcp:compute/subnetwork:Subnetwork") for label in replacements(before, after))
    assert [risk.kind for risk in stack_risks(OWNER, before, after)].count("cluster-rebuild") == 1


def test_renaming_an_environment_replaces_its_namespace_and_record_as_its_description_says(plans, tmp_path):
    """environment.name: the old namespace (every workload in it) and the old A record go, new
    ones come; the revision diff says so, and so does the description of environment.name."""
    from components.config import EnvironmentConfig

    project = write_project(tmp_path, set_key("environment.name", "qa-renamed", "test"))
    after = preview_stack("test", project, project / "build").plan  # its owner's first
    kinds = {risk.kind for risk in stack_risks("test", plans["test"], after)}
    assert {"namespace-deleted", "dns-removed"} <= kinds
    row = _meaning(EnvironmentConfig, "name")
    assert "replaces the namespace" in row and "dns record" in row.lower()
