"""Environments stay isolated from their own tenants: every hostile request of the attack corpus
(tools/tenancy_corpus.yaml) is refused by exactly the layers it names, and every object the
program declares, with the pods its workloads create (sidecar injected), is admitted.

The layers are evaluated offline over the rendered objects: RBAC (tests/rbac.py) over the owner
stack's owners' role, the attached stack's binding and the bootstrap's deployer role; admission
(tests/admission.py, ValidatingAdmissionPolicy semantics) over the owner stack's and the
bootstrap's policies; Pod Security (tests/pod_security.py) over the pod as the injector leaves it.
"""

from __future__ import annotations

import pytest
import tenancy_world
from admission import Cluster, Request, selector_matches
from ci_identity import backend_plan
from conftest import EXAMPLES, OWNER, STACKS, of_type
from injection import inject, tags_of
from pod_security import violations
from rbac import Attributes, Rbac
from tenancy_world import ENV, MUTUAL_ENV, OTHER, corpus, kubernetes_objects, pod_of, shipped_world

from components.admission import CLIENT_TLS_LABEL, ENVIRONMENT_LABEL, POLICY_NAMES
from components.istio import proxy_image
from components.pod_security import POD_SECURITY_LEVEL
from components.stackset import StackSet
from components.tenancy import OWNER_CLUSTER_ROLE
from components.versions import ISTIO_VERSION

CASES = corpus()
LAYERS = {"rbac", "pod-security"} | {f"admission:{n}" for n in
                                      (*POLICY_NAMES, "istio-envs-managed-objects",
                                       "istio-envs-environment-deployer")}


@pytest.fixture(scope="module")
def world(plans, build_dir):
    return shipped_world(plans, build_dir)


@pytest.fixture(scope="module")
def plans(plans, tenant):
    """The shipped stacks' plans and ENV's (conftest's TENANT, the environment with owners)."""
    return {**plans, ENV: tenant.plan}


@pytest.fixture(scope="module")
def mutual_world(example_plans, build_dir):
    return tenancy_world.mutual_world(example_plans, build_dir)


def test_the_corpus_is_a_table_of_hostile_requests():
    assert len(CASES) >= 30
    assert len({c["case"] for c in CASES}) == len(CASES)
    for case in CASES:
        assert case["requester"] in ("owner", "deployer", "pod"), case["case"]
        assert case["refused_by"] and set(case["refused_by"]) <= LAYERS, case["case"]
        assert set(case) <= {"case", "requester", "operation", "object", "old", "existing", "patch",
                             "subresource", "refused_by", "live", "mutual"}, case["case"]
    # Every policy the program declares refuses something in it.
    named = {layer for c in CASES for layer in c["refused_by"]}
    assert LAYERS <= named


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_each_hostile_request_is_refused_by_what_the_corpus_names(request, case):
    world = request.getfixturevalue("mutual_world" if case.get("mutual") else "world")
    assert world.refusals(case) == set(case["refused_by"])


def _requester(plan: dict, accounts: dict) -> str:
    """Who deploys a stack: the platform identity for an owner and for an attached stack that
    writes into the gateway namespace (MUTUAL), the environments identity otherwise."""
    namespace = plan["outputs"]["namespace"]
    confined = all(o["metadata"].get("namespace") in (None, namespace) for o in kubernetes_objects(plan))
    attached = bool(of_type(plan, "pulumi:pulumi:StackReference"))
    return accounts["environments"] if attached and confined else accounts["platform"]


def test_every_object_the_program_declares_is_admitted(plans, example_plans, build_dir):
    backend = backend_plan(build_dir)
    accounts = backend["outputs"]["serviceAccounts"]
    bootstrap = [o for o in kubernetes_objects(backend) if o["kind"].startswith("ValidatingAdmissionPolicy")]
    every = {**plans, **example_plans}
    checked = pods = 0
    for stack, plan in every.items():
        owner = every[plan["outputs"].get("platformOwner", stack)]
        policies = [o for o in kubernetes_objects(owner) if o["kind"].startswith("ValidatingAdmissionPolicy")]
        assert {p["metadata"]["name"] for p in policies if p["kind"] == "ValidatingAdmissionPolicy"} == \
            set(POLICY_NAMES), stack
        objects = kubernetes_objects(plan)
        namespaces = [o for o in [*objects, *kubernetes_objects(owner)] if o["kind"] == "Namespace"]
        cluster = Cluster.of(bootstrap + policies + namespaces)
        user = _requester(plan, accounts)
        environment = plan["outputs"]["namespace"]
        for obj in objects:
            if obj["metadata"].get("namespace") != environment and obj["metadata"]["name"] != environment:
                continue
            for request in (Request("CREATE", user, obj), Request("UPDATE", user, obj, obj),
                            Request("DELETE", user, None, obj)):
                assert cluster.review(request) == [], (stack, request.operation, obj["kind"], obj["metadata"])
                checked += 1
            if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
                pod = inject(pod_of(obj), cluster.namespaces[environment], tags_of(owner))
                assert cluster.review(Request("CREATE", "system:serviceaccount:kube-system:replicaset-controller",
                                              pod)) == [], (stack, obj["metadata"])
                assert violations(pod, POD_SECURITY_LEVEL) == [], (stack, obj["metadata"])
                pods += 1
    assert checked > 100 and pods >= 2


# --- the evaluators' own semantics, on small objects ------------------------------------------------

def _policy(name: str, spec: dict) -> dict:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": {"failurePolicy": "Fail", **spec}}


def _binding(name: str, actions=("Deny",), **extra) -> dict:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": name, "validationActions": list(actions), **extra}}


def _namespace(name: str, **labels) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


ALL = [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "operations": ["*"]}]
IN_ENVIRONMENTS = {"matchExpressions": [{"key": ENVIRONMENT_LABEL, "operator": "Exists"}]}


def test_a_namespace_selector_reads_a_namespace_update_by_its_new_labels():
    """Why the namespace policy matches every namespace and reads oldObject: unlabelling a
    namespace takes it out of a namespaceSelector on that very update."""
    deny = _policy("deny", {"matchConstraints": {"resourceRules": ALL, "namespaceSelector": IN_ENVIRONMENTS},
                            "validations": [{"expression": "false", "message": "no"}]})
    cluster = Cluster.of([deny, _binding("deny"), _namespace("qa", **{ENVIRONMENT_LABEL: "qa"})])
    labelled, unlabelled = _namespace("qa", **{ENVIRONMENT_LABEL: "qa"}), _namespace("qa")
    assert cluster.review(Request("UPDATE", "u", unlabelled, labelled)) == []
    assert cluster.review(Request("UPDATE", "u", labelled, unlabelled))
    assert cluster.review(Request("DELETE", "u", None, unlabelled))  # DELETE: the stored labels
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "qa"}}
    assert cluster.review(Request("CREATE", "u", secret))
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}}
    assert cluster.review(Request("CREATE", "u", role))  # other cluster-scoped objects always match


def test_object_selectors_match_conditions_actions_and_failure_policy():
    spec = {"matchConstraints": {"resourceRules": ALL, "objectSelector": {"matchLabels": {"guard": "on"}}},
            "matchConditions": [{"name": "not-admin", "expression": "request.userInfo.username != 'admin'"}],
            "variables": [{"name": "broken", "expression": "object.missing.field"}],
            "validations": [{"expression": "object.metadata.name != 'bad'", "message": "bad name"},
                            {"expression": "variables.broken == 1", "message": "unreachable"}]}
    guarded = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok", "namespace": "n",
                                                                    "labels": {"guard": "on"}}}
    plain = {**guarded, "metadata": {"name": "bad", "namespace": "n"}}
    cluster = Cluster.of([_policy("p", spec), _binding("p"), _namespace("n")])
    # The object selector matches the old object too; the variable's error denies (Fail).
    assert [d.message for d in cluster.review(Request("UPDATE", "u", plain, guarded))][0] == "bad name"
    assert len(cluster.review(Request("UPDATE", "u", plain, guarded))) == 2
    assert cluster.review(Request("CREATE", "u", plain)) == []  # selector matches neither
    assert cluster.review(Request("UPDATE", "admin", plain, guarded)) == []  # match condition false
    ignore = Cluster.of([_policy("p", {**spec, "failurePolicy": "Ignore"}), _binding("p"), _namespace("n")])
    assert [d.message for d in ignore.review(Request("UPDATE", "u", plain, guarded))] == ["bad name"]
    warn = Cluster.of([_policy("p", spec), _binding("p", actions=("Warn", "Audit")), _namespace("n")])
    assert warn.review(Request("UPDATE", "u", plain, guarded)) == []


def test_params_resource_rules_and_subresources():
    spec = {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                    "resources": ["pods/ephemeralcontainers"],
                                                    "operations": ["UPDATE"]}]},
            "validations": [{"expression": "size(object.spec.ephemeralContainers) <= int(params.data.max)",
                             "messageExpression": "'at most ' + params.data.max"}]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"},
           "spec": {"ephemeralContainers": [{"name": "a"}, {"name": "b"}]}}
    limits = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits", "namespace": "n"},
              "data": {"max": "1"}}
    bound = _binding("p", paramRef={"name": "limits", "parameterNotFoundAction": "Deny"})
    cluster = Cluster.of([_policy("p", spec), bound, limits])
    update = Request("UPDATE", "u", pod, pod, subresource="ephemeralcontainers")
    assert [d.message for d in cluster.review(update)] == ["at most 1"]
    assert cluster.review(Request("UPDATE", "u", pod, pod)) == []  # the pod itself: not matched
    missing = Cluster.of([_policy("p", spec), bound])
    assert [d.message for d in missing.review(update)] == ["no parameter object found (parameterNotFoundAction Deny)"]
    assert selector_matches({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, {"a": "y"})


def test_rbac_escalation_checks_and_the_owners_role(plans):
    rbac = Rbac.of(kubernetes_objects(plans[OWNER]) + kubernetes_objects(plans[ENV]))
    group = tenancy_world.ENV_OWNERS[0].split(":", 1)[1]
    owner = dict(user="someone@example.com", groups=(group,), namespace=ENV)
    assert rbac.allowed(Attributes(verb="create", group="apps", resource="deployments", **owner))
    assert rbac.allowed(Attributes(verb="get", group="", resource="pods", subresource="log", **owner))
    assert not rbac.allowed(Attributes(verb="create", group="", resource="pods", subresource="ephemeralcontainers",
                                       **owner))
    assert not rbac.allowed(Attributes(verb="get", group="", resource="secrets", **{**owner, "namespace": OTHER}))
    # A binder needs `bind` on the role, or to hold every permission in it.
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "binder"},
            "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]}]}
    grant = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b"},
             "roleRef": {"kind": "ClusterRole", "name": "binder"}, "subjects": [{"kind": "User", "name": "b"}]}
    binder = Rbac.of([role, grant, *kubernetes_objects(plans[OWNER])])
    to_owner_role = {"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": OWNER_CLUSTER_ROLE}}
    create = Attributes("b", "create", "rbac.authorization.k8s.io", "rolebindings", ENV)
    assert not binder.authorize_write(create, to_owner_role)
    role["rules"].append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                          "verbs": ["bind"], "resourceNames": [OWNER_CLUSTER_ROLE]})
    assert Rbac.of([role, grant]).authorize_write(create, to_owner_role)
    self_made = {"kind": "RoleBinding", "roleRef": {"kind": "ClusterRole", "name": "binder"}}
    assert binder.authorize_write(create, self_made)  # holds every permission of its own role



# --- below Istio, outbound ----------------------------------------------------------------------

def test_egress_leaves_the_cluster_only_on_the_environments_egress_ports(shipped_plans, example_plans):
    """Each environment's pods reach their own namespace, kube-dns, istiod, the API server and
    the metadata server; public addresses only on the ports of `environment.egress` (none
    without it), never the private ranges; and the Sidecar scope keeps DNS and the API server."""
    for stack, plan in {**shipped_plans, **example_plans}.items():
        namespace = plan["outputs"]["namespace"]
        (policy,) = [o for o in kubernetes_objects(plan) if o["kind"] == "NetworkPolicy"
                     and o["metadata"]["name"] == "environment-egress"]
        assert policy["spec"]["policyTypes"] == ["Egress"] and policy["spec"]["podSelector"] == {}
        public = [r for r in policy["spec"]["egress"] for peer in r["to"]
                  if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
        ports = sorted({e["port"] for e in stack_egress(stack)})
        assert [p["port"] for r in public for p in r["ports"]] == ports, stack
        for rule in public:
            assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(rule["to"][0]["ipBlock"]["except"])
        assert all(r.get("to") for r in policy["spec"]["egress"]), stack  # no rule open to every peer
        (sidecar,) = [o for o in kubernetes_objects(plan) if o["kind"] == "Sidecar" and
                      o["metadata"]["namespace"] == namespace]
        hosts = sidecar["spec"]["egress"][0]["hosts"]
        assert {"kube-system/kube-dns.kube-system.svc.cluster.local",
                "default/kubernetes.default.svc.cluster.local"} <= set(hosts), stack


def stack_egress(stack: str) -> list[dict]:


    folder = EXAMPLES.get(stack)
    stacks = StackSet.load(folder) if folder else STACKS
    return list(stacks[stack].environment.get("egress") or [])


# --- who may turn a MUTUAL environment SIMPLE, and what the injector's containers may run -------

def test_only_the_policies_administrators_take_a_mutual_namespaces_client_tls_label_off(mutual_world):
    """The namespace policy asks the authorizer: the platform identity (IAM container.admin: it may
    update the policy's binding) turns an environment SIMPLE with a plain `pulumi up`; the
    deployer, which could then bind the environment's routes to the shared SIMPLE Gateway, may
    not. Keeping the label, or giving it to a SIMPLE environment, needs nobody's say."""
    stored = mutual_world.cluster.namespaces[MUTUAL_ENV]
    assert stored["metadata"]["labels"][CLIENT_TLS_LABEL] == "mutual"
    simple = {**stored, "metadata": {**stored["metadata"], "labels": {
        k: v for k, v in stored["metadata"]["labels"].items() if k != CLIENT_TLS_LABEL}}}
    platform, _ = mutual_world.users["platform"]
    deployer, groups = mutual_world.users["deployer"]
    assert mutual_world.cluster.review(Request("UPDATE", platform, simple, stored)) == []
    (denial,) = mutual_world.cluster.review(Request("UPDATE", deployer, simple, stored, groups))
    assert denial.policy == "istio-envs-environment-namespaces" and "keeps istio-envs/client-tls" in denial.message
    assert mutual_world.cluster.review(Request("UPDATE", deployer, stored, stored, groups)) == []
    assert mutual_world.cluster.review(Request("UPDATE", deployer, stored, simple, groups)) == []
    odd = {**stored, "metadata": {**stored["metadata"], "labels": {**stored["metadata"]["labels"],
                                                                   CLIENT_TLS_LABEL: "off"}}}
    assert [d.policy for d in mutual_world.cluster.review(Request("UPDATE", platform, odd, stored))] == \
        ["istio-envs-environment-namespaces"]


def test_the_injectors_containers_run_the_proxy_images_own_entrypoint(world, plans):
    """A pod may declare a container named istio-proxy or istio-validation, which the injector
    merges over its own: another command, or a hook or probe that execs anything but pilot-agent,
    would run as the proxy's UID, outside the capture. The demo pod as injected is admitted."""
    demo = next(o for o in kubernetes_objects(plans[OWNER]) if o["kind"] == "Deployment")
    pod = inject(pod_of(demo), world.cluster.namespaces[OWNER], world.tags)
    controller = "system:serviceaccount:kube-system:replicaset-controller"

    def refusals(change) -> list[str]:
        changed = {**pod, "spec": {**pod["spec"], "initContainers": [
            change(dict(c)) if c["name"] == "istio-proxy" else c for c in pod["spec"]["initContainers"]]}}
        return [d.message for d in world.cluster.review(Request("CREATE", controller, changed))]

    assert refusals(lambda c: c) == []
    assert refusals(lambda c: {**c, "lifecycle": {"preStop": {"exec": {"command": ["pilot-agent", "request"]}}}}) == []
    for change in (lambda c: {**c, "command": ["/bin/sh", "-c", "curl http://169.254.169.254"]},
                   lambda c: {**c, "image": "docker.io/attacker/proxyv2:1"},
                   lambda c: {**c, "lifecycle": {"postStart": {"exec": {"command": ["bash", "-c", "curl x"]}}}},
                   lambda c: {**c, "readinessProbe": {"exec": {"command": ["sh"]}}},
                   lambda c: {**c, "startupProbe": {"exec": {"command": []}}}):
        found = refusals(change)
        assert any("is the injector's" in m for m in found), found
    assert proxy_image(ISTIO_VERSION) in pod["spec"]["initContainers"][0]["image"]
