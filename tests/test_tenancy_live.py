"""`make verify`'s live tenancy check (tools/tenancy.py), run against a `kubectl` on PATH that
answers from the offline evaluators (tests/kubectl_double.py): our orchestration and parsing,
with the verdicts tests/test_tenancy.py holds. And the corpus's live cases are ones a live
cluster can answer: the deployer's, in a form kubectl sends, with objects the CRDs admit."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import pytest
import tenancy_world
from admission import Cluster
from conftest import ROOT
from https_double import Mesh, running
from kubectl_double import FakeCluster, kubectl_on_path
from tenancy_world import ENV, MUTUAL_ENV, MUTUAL_OTHER, OTHER

from components.environment import MANAGED_BY
from preview import crds
from tools.tenancy import (
    ADMITTED_SAMPLE,
    LiveTarget,
    Ran,
    live_cases,
    live_checks,
    probe_for,
    refusing_layer,
)

LIVE = live_cases()


@pytest.fixture(scope="module")
def world(plans, build_dir):
    return tenancy_world.shipped_world(plans, build_dir)


@pytest.fixture(scope="module")
def plans(plans, tenant):
    """The shipped stacks' plans and ENV's (conftest's TENANT, the environment with owners)."""
    return {**plans, ENV: tenant.plan}


@pytest.fixture(scope="module")
def mutual_world(example_plans, build_dir):
    return tenancy_world.mutual_world(example_plans, build_dir)


def _target(world, mutual: bool = False) -> LiveTarget:
    env = world.names["env"]
    return LiveTarget(namespace=env, environment=env, domain=world.names["domain"], other=world.names["other"],
                      mutual=mutual)


def _run(tmp_path, fake: FakeCluster, target: LiveTarget, monkeypatch, context: str | None = None):
    """The check with the kubectl double on PATH: a process per request."""
    with kubectl_on_path(tmp_path, fake) as folder:
        monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
        return live_checks(target, context=context)


def _ask(fake: FakeCluster, target: LiveTarget, context: str | None = None):
    """The same, the double answering in this process (the process boundary left out)."""
    return live_checks(target, context=context, run=lambda argv, stdin: Ran(*fake.answer(list(argv[1:]), stdin)))


def _statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def _without_binding(world, policy: str):
    """The world with one policy left unbound, as a cluster it was never applied to."""
    cluster = world.cluster
    unbound = Cluster(policies=cluster.policies, namespaces=cluster.namespaces, params=cluster.params,
                      authorize=cluster.authorize,
                      bindings=[b for b in cluster.bindings if b["spec"]["policyName"] != policy])
    return dataclasses.replace(world, cluster=unbound)


# --- the corpus's live cases -------------------------------------------------------------------

def test_live_cases_are_the_deployers_in_forms_kubectl_sends():
    assert len(LIVE) >= 15
    names = {"env": "qa", "other": "dev", "domain": "api.example.com", "image": "i", "owners": "g"}
    for case in LIVE:
        assert case["requester"] == "deployer", case["case"]  # only its credentials run them
        probe = probe_for(case, names)
        assert probe.argv[0] in ("auth", "create", "patch"), case["case"]
    assert {probe_for(c, names).kind for c in LIVE} == {"can-i", "dry-run"}


def test_every_deployer_case_that_a_cluster_can_answer_is_live():
    """A deployer case stays offline only for a reason: the CRD schema refuses its object first
    (it would prove nothing live), or it needs a stored object given inline."""
    from tenancy_world import corpus

    offline = {c["case"] for c in corpus() if c["requester"] == "deployer" and not c.get("live")}
    assert offline == {"egress-to-every-name"}


@pytest.mark.parametrize("case", [c for c in LIVE if c["operation"] == "CREATE"], ids=lambda c: c["case"])
def test_live_objects_pass_the_crd_schema(case):
    """What refuses a live case must be the layer it names, not the CRD's schema (which the API
    server applies before the admission policies)."""
    names = {"env": "qa", "other": "dev", "domain": "api.example.com", "image": "i", "owners": "g"}
    obj = json.loads(probe_for(case, names).stdin or "{}") if probe_for(case, names).kind == "dry-run" else None
    if obj is None or "istio.io" not in obj["apiVersion"]:
        return
    assert crds.check(case["case"], obj) == []


def test_the_offline_only_case_is_refused_by_the_schema_live():
    from tenancy_world import corpus, fill

    (case,) = [c for c in corpus() if c["case"] == "egress-to-every-name"]
    obj = fill(case["object"], {"env": "qa"})
    assert [p.message for p in crds.check("x", obj)] == ["hostname cannot be wildcard"]


# --- parsing what the API server says ------------------------------------------------------------

@pytest.mark.parametrize("said, layer", [
    ('The virtualservices "steal" is invalid: : ValidatingAdmissionPolicy \'istio-envs-environment-routes\' '
     "with binding 'istio-envs-environment-routes' denied request: a VirtualService ...", "admission:istio-envs-environment-routes"),
    ('Error from server (Forbidden): error when creating "STDIN": envoyfilters.networking.istio.io "patch" is '
     'forbidden: User "environments@p.iam.gserviceaccount.com" cannot create resource "envoyfilters" in API group '
     '"networking.istio.io" in the namespace "qa": requires one of ["container.envoyFilters.create"] permission(s).',
     "rbac"),
    ('Error from server (Forbidden): error when creating "STDIN": rolebindings.rbac.authorization.k8s.io "wider" is '
     'forbidden: user "e@p.iam.gserviceaccount.com" (groups=["system:authenticated"]) is attempting to grant RBAC '
     "permissions not currently held:", "rbac"),
    ('Error from server (Forbidden): error when creating "STDIN": pods "attack" is forbidden: violates PodSecurity '
     '"restricted:v1.35": privileged (container "app" must not set securityContext.privileged=true)', "pod-security"),
    ('The ServiceEntry "out" is invalid: spec.hosts[0]: Invalid value: "string": hostname cannot be wildcard', None),
    ('error: resource mapping not found for name: "patch" namespace: "qa" from "STDIN": no matches for kind '
     '"EnvoyFilter" in version "networking.istio.io/v1alpha3"', None),
    # The per-pull-request deployer's copy of the confinement counts as the deployer's.
    ("The authorizationpolicies \"allow-all\" is invalid: : ValidatingAdmissionPolicy "
     "'istio-envs-preview-environment-deployer' with binding 'istio-envs-preview-environment-deployer' denied "
     "request: ...", "admission:istio-envs-environment-deployer"),
])
def test_refusals_are_attributed_to_the_layer_the_api_server_names(said, layer):
    assert refusing_layer(said) == layer


# --- the check, against the double -----------------------------------------------------------------

def test_every_live_case_is_refused_and_the_platforms_objects_admitted(tmp_path, monkeypatch, world):
    fake = FakeCluster(world)
    checks = _run(tmp_path, fake, _target(world), monkeypatch, context="gke_acme_us-central1_nonprod")
    statuses = _statuses(checks)
    assert set(statuses.values()) == {"PASS"}, [c for c in checks if c.status != "PASS"]
    expected = {f"tenancy:{c['case']}" for c in LIVE if not c.get("mutual")}
    assert expected <= set(statuses) and not any("mutual" in name for name in statuses)
    details = {c.name: c.detail for c in checks}
    assert details["tenancy:route-on-mesh"].startswith("refused by admission:istio-envs-environment-routes: ")
    assert details["tenancy:envoy-filter"].startswith("refused by rbac: can-i create envoyfilters")
    assert details["tenancy:deployer-binds-cluster-admin"].startswith("refused by rbac: ")
    assert "attempting to grant RBAC permissions" in details["tenancy:deployer-binds-cluster-admin"]
    assert details["tenancy:deployer-into-the-gateway-namespace"].startswith(
        "refused by admission:istio-envs-environment-deployer")
    assert details["tenancy"].startswith(f"context gke_acme_us-central1_nonprod as {world.users['deployer'][0]}")
    # The sample: every platform object of the environment, its owners' binding too (ENV has owners).
    admitted = {name for name in statuses if name.startswith("admitted:")}
    assert f"admitted:Namespace/{ENV}" in admitted and "admitted:RoleBinding/environment-owners" in admitted
    assert len(admitted) == len([s for s in ADMITTED_SAMPLE if not s[2]]) + 1
    # Nothing was written: every write was a server-side dry run.
    writes = [call for call in fake.calls if call[2] in ("create", "patch", "replace")]
    assert writes and all("--dry-run=server" in call for call in writes)
    assert all(call[:2] == ["--context", "gke_acme_us-central1_nonprod"] for call in fake.calls)


def test_the_sampled_objects_are_the_ones_the_program_declares(plans):
    """Each object sampled is one every attached environment declares (the optional ones: where
    configured), and every kind an environment declares in its namespace is sampled (its egress
    ServiceEntries vary with `egress`, and the mesh-scope policy holds them in the corpus)."""
    from tenancy_world import kubernetes_objects

    for stack in (ENV, OTHER):
        outputs = plans[stack]["outputs"]
        objects = [o for o in kubernetes_objects(plans[stack])
                   if outputs["namespace"] in (o["metadata"].get("namespace"), o["metadata"]["name"])]
        declared = {(o["kind"], o["metadata"]["name"]) for o in objects}
        sampled = {(kind, name.format(namespace=outputs["namespace"], environment=outputs["environment"])): optional
                   for kind, name, optional in ADMITTED_SAMPLE}
        assert {s for s, optional in sampled.items() if not optional} <= declared, stack
        assert {kind for kind, _ in declared} - {"ServiceEntry"} <= {kind for kind, _ in sampled}, stack
        assert all(o["metadata"]["labels"].items() >= MANAGED_BY.items() for o in objects), stack


def test_a_policy_missing_from_the_cluster_fails_the_case_it_alone_refuses(tmp_path, monkeypatch, world):
    """The deployer's confinement unbound: writing into the gateway namespace is admitted, and
    that case alone fails, named; the other cases are still refused by their other layers."""
    fake = FakeCluster(_without_binding(world, "istio-envs-environment-deployer"))
    checks = _run(tmp_path, fake, _target(world), monkeypatch)
    (failed,) = [c for c in checks if c.status == "FAIL"]
    assert failed.name == "tenancy:deployer-into-the-gateway-namespace"
    assert failed.detail.startswith("ADMITTED by a server-side dry run (authorizationpolicy.security.istio.io/allow-all)")
    assert failed.detail.endswith("expected refused by admission:istio-envs-environment-deployer")


def test_a_refusal_by_a_layer_the_case_does_not_name_fails(tmp_path, monkeypatch, world):
    """The routes policy unbound, a case the mesh-scope policy also refuses still passes; a
    route refused only by something else would prove nothing, and fails."""
    fake = FakeCluster(_without_binding(world, "istio-envs-environment-routes"))
    statuses = _statuses(_ask(fake, _target(world)))
    routes = [c["case"] for c in LIVE if c["refused_by"] == ["admission:istio-envs-environment-routes"]
              and not c.get("mutual")]
    assert routes and all(statuses[f"tenancy:{r}"] == "FAIL" for r in routes)
    assert statuses["tenancy:sidecar-allow-any"] == "PASS"

    class Schema(FakeCluster):
        def answer(self, argv, stdin):
            if argv[0] == "create":
                return 1, "", 'The Sidecar "open" is invalid: spec: Invalid value: "object": unknown field\n'
            return super().answer(argv, stdin)

    (tmp_path / "schema").mkdir()
    checks = _ask(Schema(world), _target(world))
    check = next(c for c in checks if c.name == "tenancy:sidecar-allow-any")
    assert check.status == "FAIL" and "(no tenancy layer named)" in check.detail


def test_a_policy_that_refuses_the_platforms_own_object_fails_the_sample(tmp_path, monkeypatch, world):
    broken = copy.deepcopy(world.cluster.policies["istio-envs-environment-mesh-scope"])
    broken["metadata"]["name"] = "too-strict"
    broken["spec"]["validations"] = [{"expression": "request.resource.resource != 'sidecars'",
                                      "message": "no Sidecar at all"}]
    cluster = world.cluster
    strict = Cluster(policies={**cluster.policies, "too-strict": broken}, namespaces=cluster.namespaces,
                     authorize=cluster.authorize, bindings=[*cluster.bindings, {
                         "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "too-strict"},
                         "spec": {"policyName": "too-strict", "validationActions": ["Deny"]}}])
    checks = _ask(FakeCluster(dataclasses.replace(world, cluster=strict)), _target(world))
    failed = {c.name: c.detail for c in checks if c.status == "FAIL"}
    assert set(failed) == {"admitted:Sidecar/default"}
    assert failed["admitted:Sidecar/default"].startswith("the platform's own object is REFUSED by admission:too-strict")


def test_a_mutual_environment_also_gets_its_own_cases(tmp_path, monkeypatch, mutual_world):
    checks = _ask(FakeCluster(mutual_world), _target(mutual_world, mutual=True))
    statuses = _statuses(checks)
    assert set(statuses.values()) == {"PASS"}, [c for c in checks if c.status != "PASS"]
    assert statuses["tenancy:mutual-namespace-client-tls-removed"] == "PASS"
    assert statuses["tenancy:mutual-route-on-the-shared-gateway"] == "PASS"
    assert MUTUAL_ENV == mutual_world.names["env"] and MUTUAL_OTHER == mutual_world.names["other"]


def test_a_mutual_namespace_without_its_label_fails(tmp_path, monkeypatch, world):
    checks = _ask(FakeCluster(world), _target(world, mutual=True))
    failed = [c for c in checks if c.status == "FAIL"]
    assert [c.name for c in failed] == ["tenancy:mutual-namespace-label"]


# --- when it cannot run -----------------------------------------------------------------------------

def test_without_kubectl_it_is_skipped_and_says_why(monkeypatch, world, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    (check,) = live_checks(_target(world))
    assert check.status == "SKIP" and check.detail.startswith("`kubectl` is not on PATH")
    assert "deployer" in check.detail


def test_without_cluster_access_it_is_skipped_and_says_why(tmp_path, monkeypatch, world):
    (check,) = _run(tmp_path, FakeCluster(world, reachable=False), _target(world), monkeypatch)
    assert check.status == "SKIP"
    assert check.detail.startswith("no cluster access through the current kubectl context (")
    assert "The connection to the server 127.0.0.1:6443 was refused" in check.detail


@pytest.mark.parametrize("requester, binds, writes", [("platform", "yes", "yes"), ("owner", "no", "no")])
def test_anyone_but_the_deployer_is_skipped_with_who_they_are(tmp_path, monkeypatch, world, requester, binds, writes):
    admins = (world.users["platform"][0],)
    (check,) = _ask(FakeCluster(world, requester=requester, iam_admins=admins), _target(world))
    assert check.status == "SKIP"
    assert f"runs as {world.users[requester][0]}, who is not the environments deployer" in check.detail
    assert f"may bind istio-envs:environment-owner: {binds}; may write admission policies: {writes}" in check.detail


def test_an_owner_stack_or_another_cluster_is_skipped(tmp_path, monkeypatch, world):
    (check,) = live_checks(dataclasses.replace(_target(world), owner=True))
    assert check.status == "SKIP" and "the owner's own environment" in check.detail
    (check,) = _ask(FakeCluster(world), dataclasses.replace(_target(world), namespace="elsewhere"))
    assert check.status == "SKIP" and "has no environment namespace elsewhere" in check.detail
    assert "KUBE_CONTEXT" in check.detail


def test_the_live_target_comes_from_the_stack_outputs(plans):
    attached = plans[ENV]["outputs"]
    owner = plans[attached["platformOwner"]]["outputs"]
    target = LiveTarget.from_outputs(attached, owner)
    assert target == LiveTarget(namespace=attached["namespace"], environment=attached["environment"],
                                domain=attached["host"].split(".", 1)[1], other=owner["environment"])
    assert LiveTarget.from_outputs(owner, owner).owner
    assert LiveTarget.from_outputs({}, owner) is None


def test_kubectl_output_is_read_on_one_line():
    assert Ran(1, "", "error: one\n  two\n").said == "error: one two"
    assert Ran(3, "", "").said == "(exit 3, no message)"


# --- through make verify's command --------------------------------------------------------------

def test_make_verify_runs_the_live_check_for_an_attached_stack(tmp_path, plans, tenant, world):
    """`python -m tools.verify --stack <attached>` with a fake `pulumi`, the HTTPS double and the
    kubectl double: the tenancy lines follow the HTTP checks, and their failure is exit code 1."""
    from test_verify import _fake_pulumi

    outputs = plans[ENV]["outputs"]
    owner = outputs["platformOwner"]
    fake = FakeCluster(_without_binding(world, "istio-envs-environment-deployer"))
    with running(tmp_path, host=outputs["host"], audience=outputs["audiences"][0],
                 mesh=Mesh.from_plan(plans[ENV])) as double, kubectl_on_path(tmp_path, fake) as folder:
        served = {ENV: {**outputs, "ingressIp": "127.0.0.1"},
                  owner: {**plans[owner]["outputs"], "caCertificate": (tmp_path / "ca.pem").read_text()}}
        done = subprocess.run(
            [sys.executable, "-m", "tools.verify", "--stack", ENV, "--resolve", f"{double.host}:127.0.0.1",
             "--https-port", str(double.https_port), "--http-port", str(double.http_port),
             "--path", next(iter(Mesh.from_plan(plans[ENV]).routes)), "--kube-context", "ctx",
             "--matrix", str(tenant.out_dir / "plan.json")],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
            env={"PATH": f"{folder}:{_fake_pulumi(tmp_path, served)}"})
    lines = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()[:-1]}
    assert lines.pop("delegation") == "SKIP" and lines.pop("token-accepted") == "SKIP", done.stdout
    assert lines.pop("foreign-audience-refused") == "SKIP"
    assert lines.pop("tenancy:deployer-into-the-gateway-namespace") == "FAIL"
    # The deployer may not list pods: which revision they run is the owners' (or an admin's) check.
    assert lines.pop("mesh-revision") == "SKIP" and "cannot list resource \"pods\"" in done.stdout
    assert set(lines.values()) == {"PASS"} and "tenancy" in lines, done.stdout + done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    assert all(call[:2] == ["--context", "ctx"] for call in fake.calls)


def test_the_isolation_page_counts_the_corpus_as_it_is():
    """docs/isolation.md (the README's "Isolation from an environment's own tenants") says how
    many hostile requests the corpus holds and how many of them make verify sends."""
    from tenancy_world import corpus

    text = " ".join((ROOT / "docs" / "isolation.md").read_text().split())
    assert f"`tools/tenancy_corpus.yaml` holds {len(corpus())} hostile requests" in text
    assert f"sends the corpus's `live: true` cases ({len(LIVE)}:" in text
