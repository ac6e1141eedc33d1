"""Dependency depth from plan.json: environments wait on what they need and nothing else."""

from __future__ import annotations

import functools

import pytest
from conftest import ATTACHED_STACKS, OWNER, SHIPPED_STACKS, by_urn

ATTACHED = ATTACHED_STACKS


def edges(resource: dict) -> set[str]:
    """What a resource waits for: dependsOn, input (property) dependencies and its parent."""
    found = set(resource["dependencies"])
    for urns in resource["propertyDependencies"].values():
        found |= set(urns)
    return found


def longest_chain(plan: dict) -> list[str]:
    resources = by_urn(plan)

    @functools.cache
    def chain(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in edges(resources[urn]):
            if dep in resources:
                candidate = chain(dep)
                if len(candidate) > len(best):
                    best = candidate
        return best + (resources[urn]["name"],)

    return max((list(chain(urn)) for urn in resources), key=len)


def closure(plan: dict, urn: str) -> set[str]:
    """Every resource name ``urn`` waits for, transitively."""
    resources = by_urn(plan)
    seen: set[str] = set()
    todo = [urn]
    while todo:
        for dep in edges(resources[todo.pop()]):
            if dep in resources and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return {resources[u]["type"] for u in seen}


def environment_objects(plan: dict, stack: str) -> list[dict]:
    return [r for r in plan["resources"] if r["custom"] and f"istio-envs:environment:Environment::{stack}" in r["parent"]]


def test_chain_lengths(plans):
    depth = {stack: len(longest_chain(plans[stack])) for stack in SHIPPED_STACKS}
    # The owner builds cluster -> mesh -> gateway -> routes; attached stacks are flat.
    assert depth[OWNER] >= 5
    for stack in ATTACHED:
        assert depth[stack] <= 2, (stack, longest_chain(plans[stack]))


@pytest.mark.parametrize("stack", ATTACHED)
def test_attached_environment_waits_on_nothing_of_the_platform(plans, stack):
    """Nothing in an attached stack waits on a cluster: every dependency chain ends at the
    StackReference (the owner's outputs) or at the stack's own objects."""
    plan = plans[stack]
    resources = by_urn(plan)
    for resource in plan["resources"]:
        for dep in resource["dependencies"] + ([resource["provider"]] if resource["provider"] else []):
            assert dep in resources, f"{resource['name']} depends on {dep}, not in this stack"
    objects = environment_objects(plan, stack)
    assert objects
    for resource in objects:
        waits_for = closure(plan, resource["urn"])
        # Only its own namespace and the StackReference (the owner's outputs): no cluster,
        # chart, zone or certificate is created, or waited for, by an attached stack.
        assert waits_for <= {"kubernetes:core/v1:Namespace", "pulumi:pulumi:StackReference"}, \
            (resource["name"], waits_for)


def test_owner_environment_waits_only_on_namespace_istiods_and_its_gateway(plans):
    plan = plans[OWNER]
    resources = by_urn(plan)
    for resource in environment_objects(plan, OWNER):
        direct = {resources[u]["name"] for u in edges(resource) if u in resources}
        if resource["type"] == "gcp:dns/recordSet:RecordSet":
            assert direct == {"platform-dns-zone", "platform-ingress-ip"}
            continue
        istiods = {r["name"] for r in plan["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"
                   and r["inputs"]["chart"] == "istiod"}
        assert direct <= {f"{OWNER}-namespace", *istiods, "platform-gateway-gateway"}, \
            (resource["name"], direct)
        # Not the DNS zone, not the certificate: a zone or TLS change never holds up routes.
        assert not {"platform-dns-zone", "platform-tls-secret"} & direct


def test_generated_scale_stacks_preview_correctly(tmp_path):
    """What `make bench` times is also right: 300 routes all routed and all behind a token,
    and an attached stack among 50 environments is still just its own objects."""
    from preview import owner_outputs, preview_stack, render
    from preview.bench import with_environments, with_routes, write
    from preview.engine import run_program

    def plan_of(project, stack, build):  # the plan alone: no manifests or summary written
        return render.plan(run_program(project, stack, owner_outputs(build)))

    files = with_routes(300)
    # dev's demo workload, when on, is one route more (two token-guarded path patterns).
    demo = int(files["Pulumi.dev.yaml"]["config"]["istio-envs:environment"].get("demo", False))
    plan = plan_of(write(tmp_path / "routes", files), "dev", tmp_path / "b1")
    vs = next(r for r in plan["resources"] if r["type"].endswith(":VirtualService"))["inputs"]["spec"]
    assert len(vs["http"]) == 300 + demo
    policy = next(r for r in plan["resources"] if r["type"].endswith(":AuthorizationPolicy")
                  and r["inputs"]["metadata"]["name"] == "require-jwt")["inputs"]["spec"]
    assert len(policy["rules"][0]["to"][0]["operation"]["paths"]) == 600 + 2 * demo
    project = write(tmp_path / "envs", with_environments(50))
    attached = preview_stack("env49", project, tmp_path / "b2").plan  # the owner's first
    assert attached["outputs"]["host"] == "env49.api.example.com"
    assert len(attached["resources"]) == len(plan_of(project, "env1", tmp_path / "b2")["resources"])


def _attached_stacks(plans, example_plans) -> dict[str, dict]:
    every = {**plans, **example_plans}
    return {stack: plan for stack, plan in every.items() if "platformOwner" in plan["outputs"]}


def test_what_an_attached_stack_writes_and_where(plans, example_plans):
    """Exactly what the README says an attached stack writes: objects in its own namespace, its
    A record in the owner's zone, and for MUTUAL only its client CA Secret and its own Gateway in
    the gateway namespace, never anything else shared."""
    attached = _attached_stacks(plans, example_plans)
    assert set(ATTACHED) <= set(attached) and len(attached) > len(ATTACHED)  # examples too
    for stack, plan in attached.items():
        namespace = plan["outputs"]["namespace"]
        mutual = plan["outputs"]["tlsMode"] == "MUTUAL"
        shared_writes = set()
        for resource in plan["resources"]:
            if resource.get("read") or not resource["custom"] or resource["type"].startswith("pulumi:"):
                continue
            if resource["type"].startswith("gcp:"):
                assert resource["type"] == "gcp:dns/recordSet:RecordSet", (stack, resource["type"])
                assert resource["inputs"]["type"] == "A"
                assert resource["inputs"]["name"] == f"{plan['outputs']['host']}."
                continue
            kind = resource["inputs"]["kind"]
            where = resource["inputs"]["metadata"].get("namespace")
            if where is None:
                assert kind == "Namespace" and resource["inputs"]["metadata"]["name"] == namespace
            elif where != namespace:
                assert where == "istio-ingress", (stack, kind, where)
                shared_writes.add(kind)
        assert shared_writes == ({"Secret", "Gateway"} if mutual else set()), stack


def test_attached_providers_name_the_owners_cluster(plans, example_plans):
    """Every Kubernetes provider carries the same stable clusterIdentifier as its owner's: a
    kubeconfig change (CA rotation, endpoint) never replaces the provider or its objects."""
    every = {**plans, **example_plans}
    for plan in _attached_stacks(plans, example_plans).values():
        (mine,) = [r for r in plan["resources"] if r["type"] == "pulumi:providers:kubernetes"]
        owner = every[plan["outputs"]["platformOwner"]]
        (theirs,) = [r for r in owner["resources"] if r["type"] == "pulumi:providers:kubernetes"]
        cluster = next(r for r in owner["resources"] if r["type"] == "gcp:container/cluster:Cluster")
        expected = "/".join(cluster["inputs"][k] for k in ("project", "location", "name"))
        assert mine["inputs"]["clusterIdentifier"] == theirs["inputs"]["clusterIdentifier"] == expected


def test_owner_stacks_can_be_deployed_side_by_side(plans, example_plans):
    """Every owner (shipped and examples) has its own project, cluster, zone and domain: the
    Binary Authorization policy is one per project, and cluster and zone names are unique in
    one."""
    owners = [plan for plan in {**plans, **example_plans}.values() if "clusterName" in plan["outputs"]]
    assert len(owners) >= 4
    for key in ("project", "dnsZone", "url"):
        values = [plan["outputs"].get(key) for plan in owners]
        assert len(set(values)) == len(values), (key, values)
