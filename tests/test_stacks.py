"""Every stack file, previewed through the real program: what it declares and how it hangs
together.

What a test expects of a stack is derived from that stack's own validated config
(``conftest.configs``: the program's loader over its file), never written here, so an owner's
edit (a new environment, a route, a port, a second audience, a deleted stack file) keeps these
tests green. Values pinned by name belong to the shipped files only: the tests at the end are
parametrized over ``conftest.shipped``, which leaves a file out once it is deleted or no longer
says what it shipped with.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml
from conftest import (
    ATTACHED_STACKS,
    EXAMPLES,
    OWNER,
    ROOT,
    SHIPPED_STACKS,
    STACKS,
    a_record,
    by_urn,
    host_of,
    named,
    of_type,
    one,
    shipped,
)

from components.config import host_covered
from components.gateway import GATEWAY_NAME
from components.istio import GATEWAY_NAMESPACE, GATEWAY_PRINCIPAL, GATEWAY_SELECTOR
from components.stackset import StackSet
from components.versions import ISTIO_VERSION
from preview import owner_outputs, preview_stack
from preview.engine import run_program

ATTACHED = ATTACHED_STACKS
OWNERS = STACKS.owners
EXAMPLE_OWNERS = sorted(name for name, folder in EXAMPLES.items() if StackSet.load(folder)[name].is_owner)
PLATFORM_TYPES = (
    "gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool",
    "gcp:compute/address:Address", "gcp:dns/managedZone:ManagedZone",
    "kubernetes:helm.sh/v3:Release", "kubernetes:networking.istio.io/v1:Gateway",
)


def owner_of(stack: str) -> str:
    """The stack that owns the platform ``stack`` runs on (itself for an owner)."""
    return STACKS[stack].owner or stack


def in_istio_order(routes) -> list:
    """What a VirtualService must list: Istio takes the first match, so longest prefix first."""
    return sorted(routes, key=lambda route: (-len(route.path), route.path))


def path_patterns(path: str) -> list[str]:
    """An AuthorizationPolicy's paths for a prefix: itself and everything below it."""
    return ["/*"] if path == "/" else [path, f"{path}/*"]


def test_every_stack_file_is_previewed_and_attached_to_an_owner_in_the_set(plans, configs):
    """The set is whatever stack files are present: dev owns the platform and every other stack
    file attaches to an owner in the set (make new-env adds one, an owner may delete one)."""
    assert set(plans) == set(SHIPPED_STACKS) == set(configs)
    assert OWNER in OWNERS
    for stack in STACKS:
        assert stack.is_owner == configs[stack.name].owns_platform, stack.name
        assert stack.is_owner or stack.owner in OWNERS, stack.name


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_kubernetes_and_gcp_resource_uses_the_explicit_provider(plans, stack):
    plan = plans[stack]
    resources = by_urn(plan)
    k8s = [r for r in plan["resources"] if r["custom"] and r["type"].startswith("kubernetes:")]
    assert k8s
    for resource in plan["resources"]:
        package = resource["type"].split(":")[0]
        if resource["custom"] and package in ("kubernetes", "gcp"):
            provider = resources.get(resource["provider"])
            assert provider is not None, f"{resource['name']} uses a default provider"
            assert provider["type"] == f"pulumi:providers:{package}", resource["name"]


def test_istio_charts_install_in_order_at_the_pinned_version(plans):
    plan = plans[OWNER]
    releases = {r["inputs"]["chart"]: r for r in of_type(plan, ":helm.sh/v3:Release")}
    assert set(releases) == {"base", "cni", "istiod", "gateway"}
    for release in releases.values():
        assert release["inputs"]["version"] == ISTIO_VERSION
        # Where Istio publishes every version's charts (the old GCS repository retires them).
        assert release["inputs"]["repositoryOpts"]["repo"] == "https://blob.istio.io/istio-release/charts"
    assert releases["base"]["urn"] in releases["istiod"]["dependencies"]
    assert releases["base"]["urn"] in releases["cni"]["dependencies"]
    assert releases["cni"]["urn"] in releases["istiod"]["dependencies"]
    assert releases["istiod"]["urn"] in releases["gateway"]["dependencies"]
    # The webhook policy the istiod controller would otherwise flip at runtime (drift).
    for chart in ("base", "istiod"):
        assert releases[chart]["inputs"]["values"]["base"]["validationFailurePolicy"] == "Fail"


@pytest.mark.parametrize("owner", OWNERS + EXAMPLE_OWNERS)
def test_istio_objects_and_workloads_wait_for_istiod(plans, example_plans, owner):
    """An Istio object needs istiod's CRDs and webhooks; a pod created before istiod's webhook has
    no sidecar, and STRICT mTLS then refuses the gateway's requests to it."""
    from policy.rules import POD_SPEC_PATHS

    plan = {**plans, **example_plans}[owner]
    istiod = next(r for r in of_type(plan, ":helm.sh/v3:Release") if r["inputs"]["chart"] == "istiod")
    istio_crs = [r for r in plan["resources"] if ".istio.io/" in r["type"]]
    assert len(istio_crs) >= 5
    for resource in istio_crs + [r for r in plan["resources"] if r["type"] in POD_SPEC_PATHS]:
        assert istiod["urn"] in resource["dependencies"], resource["name"]


def test_gateway_replicas_spread_over_nodes_and_zones_with_a_budget(plans):
    values = next(r for r in of_type(plans[OWNER], ":helm.sh/v3:Release")
                  if r["inputs"]["chart"] == "gateway")["inputs"]["values"]
    assert values["autoscaling"]["minReplicas"] >= 2
    assert values["podDisruptionBudget"] == {"minAvailable": 1}
    terms = values["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert {t["podAffinityTerm"]["topologyKey"] for t in terms} == {
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert all(t["podAffinityTerm"]["labelSelector"]["matchLabels"] == GATEWAY_SELECTOR for t in terms)


@pytest.mark.parametrize("owner", OWNERS)
def test_gateway_service_takes_the_reserved_ip_and_only_https(plans, configs, owner):
    plan = plans[owner]
    gateway = next(r for r in of_type(plan, ":helm.sh/v3:Release") if r["inputs"]["chart"] == "gateway")
    address = one(plan, "gcp:compute/address:Address")
    service = gateway["inputs"]["values"]["service"]
    assert service["loadBalancerIP"] == plan["outputs"]["ingressIp"]
    assert address["urn"] in gateway["propertyDependencies"]["values"]
    assert [p["port"] for p in service["ports"]] == [443]
    assert address["protect"] and address["inputs"]["addressType"] == "EXTERNAL"
    assert address["inputs"]["region"] == configs[owner].platform.region


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_dns_record_points_the_host_at_the_reserved_ip(plans, configs, stack):
    owner = plans[owner_of(stack)]
    ipaddress.ip_address(owner["outputs"]["ingressIp"])
    record = a_record(plans[stack])
    assert record["inputs"]["name"] == f"{host_of(configs, stack)}."
    assert record["inputs"]["type"] == "A"
    assert record["inputs"]["rrdatas"] == [owner["outputs"]["ingressIp"]]
    assert record["inputs"]["managedZone"] == owner["outputs"]["dnsZone"]
    assert record["inputs"]["ttl"] == 300 and isinstance(record["inputs"]["ttl"], int)
    if configs[stack].owns_platform:
        address = one(plans[stack], "gcp:compute/address:Address")
        assert address["urn"] in record["propertyDependencies"]["rrdatas"]


@pytest.mark.parametrize("owner", OWNERS)
def test_one_gateway_https_only_tls12_with_the_certificate_secret(plans, configs, owner):
    plan = plans[owner]
    gateway = named(plan, ":networking.istio.io/v1:Gateway", GATEWAY_NAME)["inputs"]
    assert gateway["spec"]["selector"] == GATEWAY_SELECTOR
    (server,) = gateway["spec"]["servers"]
    assert server["port"] == {"number": 443, "name": "https", "protocol": "HTTPS"}
    assert server["tls"]["mode"] == "SIMPLE"
    assert server["tls"]["minProtocolVersion"] == "TLSV1_2"
    secret = named(plan, "kubernetes:core/v1:Secret", server["tls"]["credentialName"])["inputs"]
    # Istio looks the credential up in the gateway workload's namespace.
    assert secret["metadata"]["namespace"] == gateway["metadata"]["namespace"] == GATEWAY_NAMESPACE
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"] == {"tls.crt": "[secret]", "tls.key": "[secret]"}
    # The certificate's names: *.api.<domain> of the owner's config (or a provided certificate's).
    assert server["hosts"] == list(configs[owner].platform.tls.dns_names)
    assert f"*.{configs[owner].platform.api_domain}" in server["hosts"] or \
        configs[owner].platform.tls.source == "provided"


@pytest.mark.parametrize("stack", ATTACHED)
def test_an_attached_stack_declares_no_shared_gateway(plans, configs, stack):
    """Only a MUTUAL environment has a Gateway of its own (``<env>-mtls``); none has the shared one."""
    environment = configs[stack].environment
    gateways = [r["inputs"]["metadata"]["name"] for r in of_type(plans[stack], ":Gateway")]
    assert gateways == ([f"{environment.name}-mtls"] if environment.tls.mutual else [])


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_environment_namespace_routes_and_jwt(plans, configs, stack):
    """The namespace, the VirtualService and the JWT policy are the stack's own routes, host and
    auth, as its config says (make new-env, a route added, a port changed, a second audience)."""
    plan, environment = plans[stack], configs[stack].environment
    # (Its namespace's injection label: tests/test_revisions.py.)
    vs = one(plan, ":VirtualService")["inputs"]
    assert vs["metadata"]["namespace"] == environment.namespace
    assert vs["spec"]["hosts"] == [host_of(configs, stack)]
    gateway = f"{environment.name}-mtls" if environment.tls.mutual else GATEWAY_NAME
    assert vs["spec"]["gateways"] == [f"{GATEWAY_NAMESPACE}/{gateway}"]
    # Every route of the config (the demo's too with demo: true), longest prefix first, to its
    # Service in the environment's namespace, with the route's own timeout and retries.
    served = in_istio_order(environment.served_routes)
    assert [h["match"] for h in vs["spec"]["http"]] == [[{"uri": {"prefix": r.path}}] for r in served]
    for http, route in zip(vs["spec"]["http"], served, strict=True):
        assert http["route"] == [{"destination": {
            "host": f"{route.service}.{environment.namespace}.svc.cluster.local",
            "port": {"number": route.port}}}], route.path
        assert http.get("timeout") == route.timeout, route.path
        retries = route.retries and {
            "attempts": route.retries.attempts, "retryOn": ",".join(route.retries.retry_on),
            **({"perTryTimeout": route.retries.per_try_timeout} if route.retries.per_try_timeout else {})}
        assert http.get("retries") == retries, route.path

    # Who may call which path with which token: the access matrix (tests/test_access.py, every
    # route of each stack's config) and the pack's hosts-require-a-token; here what it cannot see.
    (rule,) = one(plan, ":RequestAuthentication")["inputs"]["spec"]["jwtRules"]
    assert (rule["issuer"], rule["jwksUri"]) == (environment.auth.issuer, environment.auth.jwks_uri)
    token_rule = named(plan, ":AuthorizationPolicy", "require-jwt")["inputs"]["spec"]["rules"][0]
    assert token_rule["from"][0]["source"]["principals"] == [GATEWAY_PRINCIPAL]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_environment_namespace_denies_by_default_but_its_public_paths(plans, configs, stack):
    """An ALLOW policy that matches nothing: what require-jwt does not open stays shut."""
    environment = configs[stack].environment
    deny = named(plans[stack], ":AuthorizationPolicy", "allow-nothing")["inputs"]
    assert deny["metadata"]["namespace"] == environment.namespace
    assert deny["spec"] == {}
    policies = {r["inputs"]["metadata"]["name"] for r in of_type(plans[stack], ":AuthorizationPolicy")}
    assert policies == {"allow-nothing", "require-jwt"}
    # (What public paths answer without a token, and nothing else: tests/test_access.py.)
    internal_rule = named(plans[stack], ":AuthorizationPolicy", "require-jwt")["inputs"]["spec"]["rules"][-1]
    # Calls between the environment's own services (mTLS proves the namespace).
    assert internal_rule == {"from": [{"source": {"namespaces": [environment.namespace]}}]}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_stack_outputs_say_its_host_and_audiences(plans, configs, stack):
    outputs = plans[stack]["outputs"]
    assert outputs["host"] == host_of(configs, stack)
    assert outputs["url"] == f"https://{host_of(configs, stack)}"
    assert outputs["audiences"] == list(configs[stack].environment.auth.audiences)
    assert outputs["namespace"] == configs[stack].environment.namespace
    # (Audiences unique across stack files: the fleet check, tests/test_fleet.py.)
    names = plans[owner_of(stack)]["outputs"]["certificateNames"]
    for host in one(plans[stack], ":VirtualService")["inputs"]["spec"]["hosts"]:
        assert host_covered(host, names), "the owner's certificate does not cover the host"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_quota_and_limits(plans, configs, stack):
    """The namespace's ResourceQuota is the config's quota (make new-env QUOTA_CPU=1 ...)."""
    quota = configs[stack].environment.quota
    hard = one(plans[stack], "core/v1:ResourceQuota")["inputs"]["spec"]["hard"]
    assert hard == {"requests.cpu": quota.cpu, "requests.memory": quota.memory, "pods": str(quota.pods),
                    "services.loadbalancers": "0", "services.nodeports": "0"}
    limits = one(plans[stack], "core/v1:LimitRange")["inputs"]["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["defaultRequest"]["cpu"] == "100m"


@pytest.mark.parametrize("stack", ATTACHED)
def test_attached_stacks_declare_no_platform_resource(plans, configs, stack):
    plan = plans[stack]
    types = {r["type"] for r in plan["resources"]}
    platform = set(PLATFORM_TYPES) - ({"kubernetes:networking.istio.io/v1:Gateway"}
                                      if configs[stack].environment.tls.mutual else set())
    assert not types & platform
    assert not any(t.startswith("tls:") for t in types) or configs[stack].environment.tls.mutual
    reference = one(plan, "pulumi:pulumi:StackReference")
    assert reference["read"] and reference["inputs"]["name"] == configs[stack].owner_stack
    assert not [r for r in plan["resources"] if r["protect"]]  # the owner protects what is stateful


@pytest.mark.parametrize("stack", ATTACHED)
def test_attached_stack_reaches_the_cluster_through_the_owner_outputs(plans, stack):
    """Its provider's kubeconfig (secret) is the owner's output, read through the StackReference
    (what else waits for what: tests/test_dependencies.py)."""
    plan = plans[stack]
    provider = one(plan, "pulumi:providers:kubernetes")
    reference = one(plan, "pulumi:pulumi:StackReference")
    assert provider["dependencies"] == [reference["urn"]]
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert plan["outputs"]["ingressIp"] == plans[owner_of(stack)]["outputs"]["ingressIp"]
    assert plan["outputs"]["platformOwner"] == owner_of(stack)


@pytest.mark.parametrize("owner", OWNERS)
def test_owner_protects_stateful_resources(plans, configs, owner):
    dns = configs[owner].platform.dns
    protected = {r["type"] for r in plans[owner]["resources"] if r["protect"]}
    # The zone, when created here and not being released (README "Moving a deployed zone").
    zone = dns.zone == "create" and dns.released_zone != dns.zone_name
    assert protected == {"gcp:container/cluster:Cluster", "gcp:compute/address:Address",
                         *(["gcp:dns/managedZone:ManagedZone"] if zone else [])}


@pytest.mark.parametrize("owner", OWNERS)
def test_cluster_and_its_separate_autoscaling_pool_follow_the_config(plans, configs, owner):
    """What the config tunes (the hardening it may not: tests/test_hardening.py)."""
    platform = configs[owner].platform
    settings = platform.cluster
    location = platform.region if settings.regional else platform.zones[0]
    cluster = one(plans[owner], "container/cluster:Cluster")["inputs"]
    pool = one(plans[owner], "container/nodePool:NodePool")["inputs"]
    assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{platform.project}.svc.id.goog"}
    assert cluster["releaseChannel"] == {"channel": settings.release_channel}
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": network.cidr, "displayName": network.name} for network in settings.authorized_networks]
    assert cluster["deletionProtection"] is settings.deletion_protection
    assert cluster["location"] == pool["location"] == location
    assert pool["autoscaling"] == {"maxNodeCount": settings.max_nodes_per_zone,
                                   "minNodeCount": settings.min_nodes_per_zone}
    assert pool["nodeLocations"] == list(platform.zones)
    assert pool["nodeConfig"]["machineType"] == settings.machine_type


def test_kubeconfig_is_secret_and_uses_the_gke_auth_plugin(build_dir, plans, configs):
    run = run_program(ROOT, OWNER, owner_outputs(build_dir))
    kubeconfig = run.outputs["kubeconfig"]
    assert kubeconfig.secret
    document = yaml.safe_load(kubeconfig.value)
    (user,) = document["users"]
    assert user["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["user"]["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert user["user"]["exec"]["provideClusterInfo"] is True
    # The DNS-based endpoint (access decided by IAM, not by the caller's IP), with no cluster
    # CA: it serves a publicly trusted certificate, and a CA rotation leaves the file as it is.
    (cluster,) = document["clusters"]
    endpoints = one(plans[OWNER], "gcp:container/cluster:Cluster")["inputs"][
        "controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"]["allowExternalTraffic"] is True
    # The mock fills the endpoint GKE assigns: gke-<uid>-<project number>.<location>.gke.goog.
    platform = configs[OWNER].platform
    location = platform.region if platform.cluster.regional else platform.zones[0]
    assert cluster["cluster"]["server"].startswith("https://gke-preview")
    assert cluster["cluster"]["server"].endswith(f".{location}.gke.goog")
    assert "certificate-authority-data" not in cluster["cluster"]


@pytest.mark.parametrize("owner", OWNERS)
def test_owner_outputs_carry_what_an_attached_stack_reads(plans, configs, owner):
    from components.contract import PlatformContract

    outputs = plans[owner]["outputs"]
    for key in PlatformContract.output_names():
        assert key in outputs
    assert set(plans[owner]["secretOutputs"]) >= set(PlatformContract.secret_output_names())
    assert plans[owner]["secretOutputs"] == ["kubeconfig"]
    assert outputs["url"] == f"https://{host_of(configs, owner)}"
    assert outputs["nameServers"] and outputs["clusterName"] == configs[owner].platform.cluster.name
    provider = one(plans[owner], "pulumi:providers:gcp")
    assert provider["inputs"]["project"] == configs[owner].platform.project
    assert provider["inputs"]["region"] == configs[owner].platform.region


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_numbers_stay_integers_in_plan_and_manifests(build_dir, plans, configs, stack):  # noqa: ARG001 (plans writes build_dir)
    """Ports reach the plan and the manifests as the integers the config says, not floats."""
    environment = configs[stack].environment
    expected = {route.path: route.port for route in environment.served_routes}
    plan = json.loads((build_dir / stack / "plan.json").read_text())
    (vs,) = [r["inputs"] for r in of_type(plan, ":VirtualService")]
    manifest = yaml.safe_load((build_dir / stack / "manifests" /
                               f"{environment.namespace}.virtualservice.{environment.name}-api.yaml").read_text())
    for spec in (vs["spec"], manifest["spec"]):
        ports = {h["match"][0]["uri"]["prefix"]: h["route"][0]["destination"]["port"]["number"]
                 for h in spec["http"]}
        assert ports == expected and all(type(port) is int for port in ports.values())


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_build_has_one_manifest_per_kubernetes_object(build_dir, plans, stack):
    files = sorted((build_dir / stack / "manifests").iterdir())
    objects = [r for r in plans[stack]["resources"]
               if r["type"].startswith("kubernetes:") and r["custom"]
               and r["type"] != "kubernetes:helm.sh/v3:Release"]
    assert len(files) == len(objects)
    for path in files:
        body = yaml.safe_load(path.read_text())
        assert body["apiVersion"] and body["kind"] and body["metadata"]["name"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_summary_tells_a_reviewer_hosts_routes_and_auth(build_dir, plans, configs, stack):
    """Each route of the config, in the order Istio matches them, with its Service and port, and
    each public path."""
    environment = configs[stack].environment
    summary = (build_dir / stack / "summary.md").read_text()
    assert f"https://{host_of(configs, stack)}" in summary
    assert "HTTPS only on 443" in summary and "TLSV1_2" in summary
    for i, route in enumerate(in_istio_order(environment.served_routes), 1):
        assert (f"| {i} | `{route.path}` | `{route.service}.{environment.namespace}.svc.cluster.local:"
                f"{route.port}` |") in summary, route.path
    for path in environment.served_public_paths:
        assert f"`{path}` public" in summary
    if configs[stack].owns_platform:
        assert "HTTPS on 443" in summary  # the shared Gateway
    else:
        assert "Attached" in summary and "gcp:container" not in summary


def test_program_also_runs_in_preview_mode_with_unknowns(build_dir):
    """`pulumi preview` sees unknown outputs: the program must not depend on them at declare time."""
    run = run_program(ROOT, OWNER, owner_outputs(build_dir), dry_run=True)
    assert len(run.registrations) == len(json.loads((build_dir / OWNER / "plan.json").read_text())["resources"])


@pytest.mark.parametrize("stack", ATTACHED[:1])
def test_attached_preview_runs_the_owner_first_when_missing(tmp_path, stack):
    result = preview_stack(stack, ROOT, tmp_path)
    owner = owner_of(stack)
    assert (tmp_path / owner / "plan.json").exists()
    assert result.plan["outputs"]["ingressIp"] == json.loads(
        (tmp_path / owner / "plan.json").read_text())["outputs"]["ingressIp"]


def test_the_metadata_server_is_every_namespace_s_and_nothing_else_is(plans):
    """REGISTRY_ONLY egress: the owner registers only the GKE metadata server (workload identity
    tokens), mesh-wide."""
    plan = plans[OWNER]
    metadata = named(plan, ":ServiceEntry", "gke-metadata-server")["inputs"]
    assert metadata["metadata"]["namespace"] == "istio-system"
    assert metadata["spec"]["addresses"] == ["169.254.169.254/32"]
    assert metadata["spec"]["exportTo"] == ["*"]
    istiod = next(r for r in of_type(plan, "helm.sh/v3:Release") if r["inputs"]["chart"] == "istiod")
    assert istiod["inputs"]["values"]["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_environment_egress_is_its_own(plans, configs, stack):
    """An environment's egress allow-list becomes ServiceEntries visible to its own namespace
    only, one per host with each of its ports; no egress listed, none opened."""
    environment = configs[stack].environment
    entries = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in of_type(plans[stack], ":ServiceEntry")
               if r["inputs"]["metadata"]["namespace"] == environment.namespace}
    hosts = sorted({destination.host for destination in environment.egress})
    assert sorted(entry["spec"]["hosts"][0] for entry in entries.values()) == hosts
    for entry in entries.values():
        (host,) = entry["spec"]["hosts"]
        ports = sorted((d.port, d.protocol) for d in environment.egress if d.host == host)
        assert entry["spec"] == {
            "hosts": [host], "exportTo": ["."], "location": "MESH_EXTERNAL",
            "resolution": "NONE" if host.startswith("*.") else "DNS",
            "ports": [{"name": f"{protocol.lower()}-{port}", "number": port, "protocol": protocol}
                      for port, protocol in ports]}
    others = [r for r in of_type(plans[stack], ":ServiceEntry")
              if r["inputs"]["metadata"]["namespace"] not in (environment.namespace, "istio-system")]
    assert not others


@pytest.mark.parametrize("stack", ATTACHED[:1])
def test_egress_to_a_wildcard_and_to_two_ports_of_one_host(build_dir, plans, tmp_path, stack):  # noqa: ARG001
    """A wildcard cannot be resolved by DNS; two ports of one host are one entry."""
    from stackfiles import set_key, write_project

    from preview import render

    project = write_project(tmp_path, set_key("environment.egress", [
        {"host": "*.googleapis.com"}, {"host": "db.example.net", "port": 5432, "protocol": "TCP"},
        {"host": "db.example.net", "port": 443}], stack=stack))
    # The plan alone, against the shipped owner's preview (plans writes build_dir).
    plan = render.plan(run_program(project, stack, owner_outputs(build_dir)))
    specs = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in of_type(plan, ":ServiceEntry")}
    assert specs["egress-wildcard-googleapis-com"]["resolution"] == "NONE"
    assert [p["number"] for p in specs["egress-db-example-net"]["ports"]] == [443, 5432]


def test_gke_minor_upgrades_wait_for_the_pinned_istio(plans):
    """The release channel cannot move the cluster past the Kubernetes minors the pinned Istio
    supports: minor upgrades wait until the minor's end of support (patches still roll)."""
    from components.versions import MINOR_UPGRADE_HOLD_SINCE, PLATFORM_KUBERNETES_MINORS
    from preview.schemas import KUBERNETES_VERSION

    cluster = one(plans[OWNER], "gcp:container/cluster:Cluster")["inputs"]
    (exclusion,) = cluster["maintenancePolicy"]["maintenanceExclusions"]
    assert exclusion["exclusionOptions"] == {"scope": "NO_MINOR_UPGRADES",
                                             "endTimeBehavior": "UNTIL_END_OF_SUPPORT"}
    assert exclusion["startTime"] == MINOR_UPGRADE_HOLD_SINCE and "endTime" not in exclusion
    assert ISTIO_VERSION.rsplit(".", 1)[0] in exclusion["exclusionName"]
    assert exclusion["exclusionName"].endswith(
        f"kubernetes-{PLATFORM_KUBERNETES_MINORS[0]}-to-{PLATFORM_KUBERNETES_MINORS[-1]}")
    # The manifests are validated against a Kubernetes minor every component supports.
    assert KUBERNETES_VERSION in PLATFORM_KUBERNETES_MINORS


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_each_environment_is_isolated_below_istio_and_its_proxies_scoped(plans, stack):
    """Ingress at L3/L4 only from the ingress gateway pods and the namespace's own pods
    (Dataplane V2 enforces it when a sidecar is bypassed), and a Sidecar that keeps each proxy's
    configuration to its own namespace and istio-system."""
    plan = plans[stack]
    namespace = plan["outputs"]["namespace"]
    policy = named(plan, "networking.k8s.io/v1:NetworkPolicy", "environment-ingress")["inputs"]
    assert policy["metadata"]["namespace"] == namespace
    spec = policy["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Ingress"]
    sources = [peer for rule in spec["ingress"] for peer in rule["from"]]
    assert {"podSelector": {}} in sources
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}},
            "podSelector": {"matchLabels": GATEWAY_SELECTOR}} in sources
    assert len(sources) == 2  # nothing else gets in
    (sidecar,) = [r["inputs"] for r in of_type(plan, ":networking.istio.io/v1:Sidecar")]
    assert sidecar["metadata"]["namespace"] == namespace
    assert sidecar["spec"] == {"egress": [{"hosts": [
        "./*", "istio-system/*", "kube-system/kube-dns.kube-system.svc.cluster.local",
        "default/kubernetes.default.svc.cluster.local"]}]}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_environment_owners_get_their_role_in_their_namespace_and_credentials_from_the_owner(
        plans, configs, stack):
    """The config's owners: a RoleBinding to the owner stack's owners' role in the environment's
    namespace only, made by this stack; their IAM grant (cluster credentials) made by the owner
    stack, which reads every attached stack file. No owners, no binding."""
    from components.platform import OWNER_IAM_ROLE
    from components.tenancy import OWNER_CLUSTER_ROLE

    environment = configs[stack].environment
    bindings = [r["inputs"] for r in of_type(plans[stack], "rbac.authorization.k8s.io/v1:RoleBinding")]
    if not environment.owners:
        assert not bindings
    else:
        (binding,) = bindings
        assert binding["metadata"]["namespace"] == environment.namespace
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": OWNER_CLUSTER_ROLE}
        assert binding["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group" if owner.startswith("group:") else "User",
             "name": owner.split(":", 1)[1]} for owner in environment.owners]
    owner = owner_of(stack)
    assert named(plans[owner], "rbac.authorization.k8s.io/v1:ClusterRole", OWNER_CLUSTER_ROLE)
    if not configs[stack].owns_platform:
        assert not of_type(plans[stack], "gcp:projects/iAMMember:IAMMember")  # attached: no project IAM
    grants = [r["inputs"] for r in of_type(plans[owner], "gcp:projects/iAMMember:IAMMember")
              if r["inputs"]["role"] == OWNER_IAM_ROLE]
    for member in environment.owners:
        assert {"member": member, "project": configs[owner].platform.project,
                "role": OWNER_IAM_ROLE} in grants, member


@pytest.mark.parametrize("owner", OWNERS)
def test_the_owner_grants_credentials_to_its_environments_owners_only(plans, configs, owner):
    from components.platform import OWNER_IAM_ROLE

    members = {m for stack in [owner, *(s.name for s in STACKS.attached_to(owner))]
               for m in configs[stack].environment.owners}
    grants = [r["inputs"]["member"] for r in of_type(plans[owner], "gcp:projects/iAMMember:IAMMember")
              if r["inputs"]["role"] == OWNER_IAM_ROLE]
    assert sorted(grants) == sorted(members)


# ---------------------------------------------------------------------------------------------
# The shipped files, by name: the stack files a team copies from show each self-service option
# in use, with literal values a reviewer can read. Each test runs while its file exists and still
# says what it shipped with (conftest.shipped); the tests above cover any stack file as it is.

DEV_ORDERS = {"path": "/orders", "service": "orders", "port": 8080, "timeout": "15s",
              "retries": {"attempts": 2, "perTryTimeout": "5s", "retryOn": ["connect-failure", "unavailable"]}}
DEV_AUDIENCES = ["https://dev.api.example.com"]


@pytest.mark.parametrize("stack", [s for s in shipped("dev", "environment.routes[1]", DEV_ORDERS)
                                   if shipped(s, "environment.auth.audiences", DEV_AUDIENCES)
                                   and shipped(s, "platform.domain", "example.com")])
def test_dev_routes_orders_with_a_timeout_and_retries(plans, build_dir, stack):
    """dev's /orders route sets a time budget and a retry policy: in Istio and the summary."""
    vs = one(plans[stack], ":networking.istio.io/v1:VirtualService")["inputs"]["spec"]
    routes = {http["match"][0]["uri"]["prefix"]: http for http in vs["http"]}
    assert routes["/orders"]["timeout"] == "15s"
    assert routes["/orders"]["retries"] == {"attempts": 2, "perTryTimeout": "5s",
                                            "retryOn": "connect-failure,unavailable"}
    summary = (build_dir / stack / "summary.md").read_text()
    assert ("| `/orders` | `orders.dev.svc.cluster.local:8080` | `15s`; 2 retries of `5s` on "
            "connect-failure,unavailable | token required (aud `https://dev.api.example.com`) |") in summary


@pytest.mark.parametrize("stack", shipped("dev", "environment.egress", [
    {"host": "api.stripe.com", "port": 443, "protocol": "TLS"}]))
def test_dev_calls_out_to_stripe_only(plans, stack):
    (stripe,) = [r["inputs"] for r in of_type(plans[stack], ":ServiceEntry")
                 if r["inputs"]["metadata"]["namespace"] == "dev"]
    assert stripe["spec"] == {"hosts": ["api.stripe.com"], "exportTo": ["."],
                              "location": "MESH_EXTERNAL", "resolution": "DNS",
                              "ports": [{"name": "tls-443", "number": 443, "protocol": "TLS"}]}


@pytest.mark.parametrize("stack", shipped("dev", "environment.auth.publicPaths", ["/accounts/health"]))
def test_dev_serves_accounts_health_without_a_token(plans, build_dir, stack):
    policy = named(plans[stack], ":AuthorizationPolicy", "require-jwt")["inputs"]["spec"]
    assert policy["rules"][1]["to"][0]["operation"]["paths"][:2] == ["/accounts/health", "/accounts/health/*"]
    assert "`/accounts/health` public" in (build_dir / stack / "summary.md").read_text()


@pytest.mark.parametrize("stack", [*shipped("dev", "environment.demo", True),
                                   *shipped("test", "environment.demo", True)])
def test_dev_and_test_ship_with_the_demo(plans, stack):
    """README: dev ships with the demo (a fresh platform is verifiable at once), and so does test,
    the template of make new-env."""
    assert named(plans[stack], "apps/v1:Deployment", "demo-echo")
    vs = one(plans[stack], ":VirtualService")["inputs"]["spec"]
    assert "/demo" in [h["match"][0]["uri"]["prefix"] for h in vs["http"]]


@pytest.mark.parametrize("stack", shipped("uat", "environment.owners", ["group:uat-team@example.com"]))
def test_uat_ships_with_an_owners_group(plans, stack):
    (binding,) = [r["inputs"] for r in of_type(plans[stack], "rbac.authorization.k8s.io/v1:RoleBinding")]
    assert binding["metadata"]["namespace"] == "uat"
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "uat-team@example.com"}]
    grants = [r["inputs"] for r in of_type(plans[OWNER], "gcp:projects/iAMMember:IAMMember")
              if r["inputs"]["member"] == "group:uat-team@example.com"]
    assert [g["role"] for g in grants] == ["roles/container.clusterViewer"]
