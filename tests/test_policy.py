"""The policy pack: every shipped and example plan passes; a plan edited to break exactly one
rule is reported by that rule, with a message a reviewer understands."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
from conftest import ATTACHED_STACKS, EXAMPLES, OWNER, ROOT, SHIPPED_STACKS, STACKS, demo_pod, named, one

from policy.offline import check_plan
from policy.pack import policies
from policy.rules import OPTIONS_RULES, OWNER_ROLE, RESOURCE_RULES, STACK_RULES, TENANCY_POLICIES


@pytest.mark.parametrize("stack", SHIPPED_STACKS + sorted(EXAMPLES))
def test_every_plan_passes_the_pack(plans, example_plans, stack):
    plan = {**plans, **example_plans}[stack]
    assert check_plan(plan, EXAMPLES.get(stack, ROOT)) == []


def test_the_crossguard_pack_has_every_rule_mandatory():
    pack = policies()
    assert {p.name for p in pack} == set(RESOURCE_RULES) | set(OPTIONS_RULES) | set(STACK_RULES)
    assert all(p.enforcement_level.value == "mandatory" for p in pack)


def _gateway(plan):
    return named(plan, ":networking.istio.io/v1:Gateway", "api-gateway")["inputs"]["spec"]["servers"][0]


def _edit_namespace(plan):
    namespace = named(plan, "core/v1:Namespace", "dev")["inputs"]["metadata"]["labels"]
    namespace["istio-injection"] = "disabled"


def _drop(plan, kind, name=None):
    plan["resources"] = [r for r in plan["resources"] if not (
        r["type"].endswith(kind) and (name is None or r["inputs"]["metadata"]["name"] == name))]


def _add(plan, kind: str, name: str, inputs: dict) -> dict:
    """A resource of ``kind`` added to the plan, under the provider and parent of its LimitRange."""
    resource = {**copy.deepcopy(one(plan, "core/v1:LimitRange")), "type": f"kubernetes:{kind}", "name": name,
                "inputs": inputs}
    plan["resources"].append(resource)
    return resource


def _binding(plan, kind: str, name: str, metadata: dict) -> dict:
    return _add(plan, f"rbac.authorization.k8s.io/v1:{kind}", name, {
        "metadata": metadata, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": OWNER_ROLE},
        "subjects": [{"kind": "Group", "name": f"{metadata['name'].split('-')[0]}-team@example.com"}]})


def _leak_key(plan):
    _add(plan, "core/v1:ConfigMap", "leaky", {"metadata": {"name": "keys", "namespace": "dev"}, "data": {
        "tls.key": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"}})


# Another stack file whose audience dev's plan takes (the rule reads the stack files present).
OTHER = next((stack for stack in STACKS.others(OWNER) if stack.audiences), None)


def _share_audience(plan):
    (rule,) = named(plan, ":RequestAuthentication", "jwt")["inputs"]["spec"]["jwtRules"]
    rule["audiences"].append(sorted(OTHER.audiences)[0] if OTHER else "https://no-other-stack.invalid")


def _owner_binding(plan):
    """dev lists no owners: give it an owners RoleBinding like uat's, in its namespace."""
    return _binding(plan, "RoleBinding", "dev-owners", {"name": "dev-owners", "namespace": "dev"})


def _demo_container(plan):
    return demo_pod(plan)["containers"][0]


BREAKS = {
    "workloads-hardened": (lambda p: _demo_container(p).update(image="docker.io/hashicorp/http-echo:1.0"),
                           "is not pinned by digest"),
    "gateway-https-only": (lambda p: _gateway(p)["port"].update(protocol="HTTP", number=80),
                           "speaks HTTP; expected HTTPS"),
    "gateway-min-tls-1-2": (lambda p: _gateway(p)["tls"].update(minProtocolVersion="TLSV1_0"),
                            "accepts TLS from TLSV1_0; expected minProtocolVersion TLSV1_2"),
    "no-wildcard-hosts": (lambda p: one(p, ":VirtualService")["inputs"]["spec"].update(hosts=["*"]),
                          "host '*' matches every name"),
    "environment-namespaces-injected": (_edit_namespace, "without sidecar injection"),
    "gke-cluster-hardened": (lambda p: one(p, "container/cluster:Cluster")["inputs"]["privateClusterConfig"]
                             .update(enablePrivateNodes=False), "lacks private nodes"),
    "dnssec-on-created-zones": (lambda p: one(p, "dns/managedZone:ManagedZone")["inputs"].update(
        dnssecConfig={"state": "off"}), "is unsigned; expected dnssecConfig.state: on"),
    "private-keys-only-in-secrets": (_leak_key, "data.tls.key holds a PEM private key"),
    "hosts-require-a-token": (lambda p: _drop(p, ":AuthorizationPolicy", "require-jwt"),
                              "requires a token (requestPrincipals)"),
    "audiences-unique-across-stacks": (_share_audience, f"also accepted by {OTHER and OTHER.file_name}"),
    "no-removed-gke-features": (
        lambda p: one(p, "container/cluster:Cluster")["inputs"]["securityPostureConfig"].update(
            vulnerabilityMode="VULNERABILITY_BASIC"), "requests a feature GKE removed (2025-07-31"),
    "kubernetes-provider-cluster-identifier": (
        lambda p: one(p, "pulumi:providers:kubernetes")["inputs"].pop("clusterIdentifier"),
        "without clusterIdentifier"),
    "egress-confined-to-its-namespace": (
        lambda p: named(p, ":ServiceEntry", "egress-api-stripe-com")["inputs"]["spec"].update(
            exportTo=["*"]), "expected ['.']"),
    "environments-isolated": (lambda p: _drop(p, ":Sidecar"), "dev has no Sidecar"),
    "owners-confined": (lambda p: _owner_binding(p)["inputs"]["roleRef"].update(name="admin"),
                        f"expected at most the ClusterRole {OWNER_ROLE}"),
    "environment-namespaces-pod-security": (
        lambda p: named(p, "core/v1:Namespace", "dev")["inputs"]["metadata"]["labels"].update(
            {"pod-security.kubernetes.io/enforce": "privileged"}), "'pod-security.kubernetes.io/enforce': 'privileged'"),
    "owners-role-confined": (
        lambda p: named(p, "rbac.authorization.k8s.io/v1:ClusterRole", OWNER_ROLE)["inputs"]["rules"].append(
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create"]}),
        "may create networking.k8s.io/networkpolicies"),
    "tenancy-admission-bound": (
        lambda p: _drop(p, "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
                        "istio-envs-environment-routes"),
        "istio-envs-environment-routes has no binding with validationActions Deny"),
    # The stable revision's release no longer carries the tag dev's namespace (and test's and
    # uat's files) select: the revision they use, removed.
    "mesh-revisions-in-use-installed": (
        lambda p: next(r for r in p["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"
                       and r["inputs"]["chart"] == "istiod")["inputs"]["values"].update(revisionTags=[]),
        "revision tag 'stable', selected by namespace dev, is on no istiod release"),
    "server-rewritten-inputs-ignored": (
        lambda p: one(p, "container/cluster:Cluster").update(ignoreChanges=[]),
        "nodeConfig is set and not in ignoreChanges"),
}


def test_every_policy_has_a_negative_case():
    assert set(BREAKS) == set(RESOURCE_RULES) | set(OPTIONS_RULES) | set(STACK_RULES)


@pytest.mark.parametrize("policy", sorted(BREAKS))
def test_a_plan_broken_for_one_rule_is_reported_by_that_rule(plans, policy):
    broken = copy.deepcopy(plans["dev"])
    edit, expected = BREAKS[policy]
    edit(broken)
    violations = check_plan(broken, ROOT)
    assert {v.policy for v in violations} == {policy}, violations
    assert any(expected in v.message for v in violations), [v.message for v in violations]


def test_a_key_in_clear_inside_a_secret_is_reported_offline(plans):
    broken = copy.deepcopy(plans["dev"])
    one(broken, "core/v1:Secret")["inputs"]["stringData"]["tls.key"] = \
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
    (violation,) = check_plan(broken, ROOT)
    assert violation.policy == "private-keys-only-in-secrets"
    assert "in clear; expected a Pulumi secret" in violation.message


def test_make_policy_cli(plans, build_dir, capsys):
    from policy.offline import main

    done = subprocess.run([sys.executable, "-m", "policy.offline", "dev", "--build-dir", str(build_dir)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 violation(s)" in done.stdout
    assert main(["nope", "--build-dir", str(build_dir)]) == 2
    assert capsys.readouterr().err.startswith("error: no offline preview")


@pytest.mark.parametrize("stack", ATTACHED_STACKS[:1])
def test_an_environment_without_its_network_policy_is_reported(plans, stack):
    broken = copy.deepcopy(plans[stack])
    _drop(broken, "networking.k8s.io/v1:NetworkPolicy", "environment-ingress")
    (violation,) = check_plan(broken, ROOT)
    assert violation.policy == "environments-isolated" and "no ingress NetworkPolicy" in violation.message
    _drop(broken, "networking.k8s.io/v1:NetworkPolicy", "environment-egress")
    assert any("no egress NetworkPolicy" in v.message for v in check_plan(broken, ROOT))


@pytest.mark.parametrize("stack", ATTACHED_STACKS[:1])
def test_an_attached_stack_binding_a_cluster_role_is_reported(plans, stack):
    broken = copy.deepcopy(plans[stack])
    _binding(broken, "ClusterRoleBinding", "wide", {"name": f"{stack}-admins"})
    (violation,) = check_plan(broken, ROOT)
    assert violation.policy == "owners-confined" and "in an attached stack" in violation.message


# Each hardening the demo workload has, taken away alone, is reported alone.
UNHARDENED = {
    "may run as root": lambda pod, c: pod["securityContext"].pop("runAsNonRoot"),
    "writable root filesystem": lambda pod, c: c["securityContext"].update(readOnlyRootFilesystem=False),
    "may escalate privileges": lambda pod, c: c["securityContext"].pop("allowPrivilegeEscalation"),
    "keeps Linux capabilities": lambda pod, c: c["securityContext"]["capabilities"].update(drop=[]),
    "expected cpu and memory requests": lambda pod, c: c["resources"].pop("requests"),
    "init: is not pinned by digest": lambda pod, c: pod.update(initContainers=[{**c, "name": "init", "image": "busybox"}]),
}


@pytest.mark.parametrize("problem", sorted(UNHARDENED))
def test_a_workload_losing_one_hardening_is_reported(plans, problem):
    broken = copy.deepcopy(plans["dev"])
    pod = demo_pod(broken)
    UNHARDENED[problem](pod, pod["containers"][0])
    (violation,) = check_plan(broken, ROOT)
    assert violation.policy == "workloads-hardened"
    assert problem.removeprefix("init: ") in violation.message, violation.message


def test_the_packs_tenancy_and_mesh_facts_are_the_programs():
    """The pack's virtualenv cannot import the Kubernetes SDK: its copies are held here."""
    from components import istio
    from components.admission import POLICY_NAMES
    from components.tenancy import OWNER_CLUSTER_ROLE
    from policy import rules

    assert set(TENANCY_POLICIES) == set(POLICY_NAMES) and OWNER_ROLE == OWNER_CLUSTER_ROLE
    assert (rules.REVISION_LABEL, rules.LEGACY_INJECTION_LABEL, rules.MESH_TAGS) == (
        istio.REVISION_LABEL, istio.LEGACY_INJECTION_LABEL, istio.MESH_TAGS)


@pytest.mark.parametrize("labels", [{"istio.io/rev": "1-30-5"}, {"istio.io/rev": "default"}, {},
                                    {"istio.io/rev": "stable", "istio-injection": "enabled"}],
                         ids=["a-revision-by-name", "not-a-tag", "no-tag", "legacy-label-too"])
def test_a_namespace_not_injected_by_a_tag_is_reported(plans, labels):
    broken = copy.deepcopy(plans["dev"])
    namespace = named(broken, "core/v1:Namespace", "dev")["inputs"]["metadata"]["labels"]
    namespace.pop("istio.io/rev")
    namespace.update(labels)
    found = {v.policy for v in check_plan(broken, ROOT)}
    # A label that is no installed tag is also a revision the namespace would use and none installs.
    assert found == {"environment-namespaces-injected"} | (
        {"mesh-revisions-in-use-installed"} if labels.get("istio.io/rev") != "stable" else set()), found


def test_an_owner_stack_without_a_tenancy_policy_is_reported(plans):
    broken = copy.deepcopy(plans["dev"])
    _drop(broken, "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", "istio-envs-environment-pods")
    _drop(broken, "admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", "istio-envs-environment-pods")
    (violation,) = check_plan(broken, ROOT)
    assert violation.policy == "tenancy-admission-bound" and "istio-envs-environment-pods" in violation.message
