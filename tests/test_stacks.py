"""The shipped stacks, previewed through the real program: what they declare and how it hangs
together."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml
from conftest import (
    ATTACHED_STACKS,
    DEMO_STACKS,
    OWNER,
    ROOT,
    SHIPPED_STACKS,
    STACKS,
    a_record,
    by_urn,
    named,
    of_type,
    one,
)

from components.config import host_covered
from components.istio import GATEWAY_SELECTOR
from components.versions import ISTIO_VERSION
from preview import owner_outputs, preview_stack
from preview.engine import run_program

ATTACHED = ATTACHED_STACKS
PLATFORM_TYPES = (
    "gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool",
    "gcp:compute/address:Address", "gcp:dns/managedZone:ManagedZone",
    "kubernetes:helm.sh/v3:Release", "kubernetes:networking.istio.io/v1:Gateway",
)


def test_every_stack_file_is_previewed_and_attached_to_a_shipped_owner(plans):
    """The shipped set is whatever stack files are present: dev owns the platform and every
    other stack file attaches to an owner in the set (test and uat ship; make new-env adds)."""
    assert set(plans) == set(SHIPPED_STACKS)
    assert OWNER in STACKS.owners and {"test", "uat"} <= set(ATTACHED)
    for stack in STACKS:
        assert stack.is_owner or stack.owner in STACKS.owners, stack.name


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_kubernetes_object_uses_the_explicit_provider(plans, stack):
    plan = plans[stack]
    resources = by_urn(plan)
    k8s = [r for r in plan["resources"] if r["custom"] and r["type"].startswith("kubernetes:")]
    assert k8s
    for resource in k8s:
        provider = resources.get(resource["provider"])
        assert provider is not None, f"{resource['name']} uses a default provider"
        assert provider["type"] == "pulumi:providers:kubernetes"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_gcp_resource_uses_the_explicit_provider(plans, stack):
    plan = plans[stack]
    resources = by_urn(plan)
    for resource in plan["resources"]:
        if resource["custom"] and resource["type"].startswith("gcp:"):
            assert resources[resource["provider"]]["type"] == "pulumi:providers:gcp", resource["name"]


def test_owner_gcp_provider_targets_the_configured_project(plans):
    provider = one(plans[OWNER], "pulumi:providers:gcp")
    assert provider["inputs"]["project"] == "acme-nonprod"
    assert provider["inputs"]["region"] == "us-central1"


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


def test_istio_custom_resources_depend_on_istiod(plans):
    plan = plans[OWNER]
    istiod = next(r for r in of_type(plan, ":helm.sh/v3:Release") if r["inputs"]["chart"] == "istiod")
    istio_crs = [r for r in plan["resources"] if ".istio.io/" in r["type"]]
    assert len(istio_crs) >= 5
    for resource in istio_crs:
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


def test_gateway_service_takes_the_reserved_ip_and_only_https(plans):
    plan = plans[OWNER]
    gateway = next(r for r in of_type(plan, ":helm.sh/v3:Release") if r["inputs"]["chart"] == "gateway")
    address = one(plan, "gcp:compute/address:Address")
    service = gateway["inputs"]["values"]["service"]
    assert service["loadBalancerIP"] == plan["outputs"]["ingressIp"]
    assert address["urn"] in gateway["propertyDependencies"]["values"]
    assert [p["port"] for p in service["ports"]] == [443]
    assert address["protect"] and address["inputs"]["addressType"] == "EXTERNAL"
    assert address["inputs"]["region"] == "us-central1"


def test_dns_record_points_every_host_at_the_reserved_ip(plans):
    ingress_ip = plans[OWNER]["outputs"]["ingressIp"]
    ipaddress.ip_address(ingress_ip)
    for stack in SHIPPED_STACKS:
        record = a_record(plans[stack])["inputs"]
        assert record["name"] == f"{stack}.api.example.com."
        assert record["type"] == "A"
        assert record["rrdatas"] == [ingress_ip]
        assert record["managedZone"] == plans[OWNER]["outputs"]["dnsZone"]
        assert record["ttl"] == 300 and isinstance(record["ttl"], int)
    owner_record = a_record(plans[OWNER])
    address = one(plans[OWNER], "gcp:compute/address:Address")
    assert address["urn"] in owner_record["propertyDependencies"]["rrdatas"]


def test_one_gateway_https_only_tls12_with_the_certificate_secret(plans):
    plan = plans[OWNER]
    gateway = one(plan, ":networking.istio.io/v1:Gateway")["inputs"]
    secret = one(plan, "kubernetes:core/v1:Secret")["inputs"]
    assert gateway["spec"]["selector"] == GATEWAY_SELECTOR
    (server,) = gateway["spec"]["servers"]
    assert server["port"] == {"number": 443, "name": "https", "protocol": "HTTPS"}
    assert server["tls"]["mode"] == "SIMPLE"
    assert server["tls"]["minProtocolVersion"] == "TLSV1_2"
    assert server["tls"]["credentialName"] == secret["metadata"]["name"]
    # Istio looks the credential up in the gateway workload's namespace.
    assert secret["metadata"]["namespace"] == gateway["metadata"]["namespace"] == "istio-ingress"
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"] == {"tls.crt": "[secret]", "tls.key": "[secret]"}
    assert server["hosts"] == ["*.api.example.com"]


def test_no_other_stack_declares_a_gateway(plans):
    for stack in ATTACHED:
        assert not of_type(plans[stack], ":Gateway")


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_environment_namespace_routes_and_jwt(plans, stack):
    plan = plans[stack]
    namespace = next(r for r in of_type(plan, "core/v1:Namespace")
                     if r["inputs"]["metadata"]["name"] == stack)
    assert namespace["inputs"]["metadata"]["labels"]["istio-injection"] == "enabled"

    vs = one(plan, ":VirtualService")["inputs"]
    assert vs["metadata"]["namespace"] == stack
    assert vs["spec"]["hosts"] == [f"{stack}.api.example.com"]
    assert vs["spec"]["gateways"] == ["istio-ingress/api-gateway"]
    routes = {h["match"][0]["uri"]["prefix"]: h["route"][0]["destination"] for h in vs["spec"]["http"]}
    expected = {f"/{svc}": {"host": f"{svc}.{stack}.svc.cluster.local", "port": {"number": 8080}}
                for svc in ("accounts", "orders", "fulfillment")}
    if stack in DEMO_STACKS:
        # The demo workload's route (README: environment.demo): its Service, port 80.
        expected["/demo"] = {"host": f"demo-echo.{stack}.svc.cluster.local", "port": {"number": 80}}
    assert routes == expected

    audience = f"https://{stack}.api.example.com"
    (rule,) = one(plan, ":RequestAuthentication")["inputs"]["spec"]["jwtRules"]
    assert rule["issuer"].startswith("https://") and rule["jwksUri"].startswith("https://")
    assert rule["audiences"] == [audience]

    policy = named(plan, ":AuthorizationPolicy", "require-jwt")["inputs"]
    assert policy["metadata"]["namespace"] == stack
    assert policy["spec"]["action"] == "ALLOW"
    token_rule = policy["spec"]["rules"][0]
    assert token_rule["when"] == [{"key": "request.auth.audiences", "values": [audience]}]
    source = token_rule["from"][0]["source"]
    assert source["requestPrincipals"] == [f"{rule['issuer']}/*"]
    assert source["principals"] == ["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]
    # Every routed prefix is covered by the token rule: nothing routed is open by accident.
    for prefix in routes:
        assert prefix in token_rule["to"][0]["operation"]["paths"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_environment_namespace_denies_by_default(plans, stack):
    deny = named(plans[stack], ":AuthorizationPolicy", "allow-nothing")["inputs"]
    # An ALLOW policy that matches nothing: what require-jwt does not open stays shut.
    assert deny["metadata"]["namespace"] == stack
    assert deny["spec"] == {}
    policies = {r["inputs"]["metadata"]["name"] for r in of_type(plans[stack], ":AuthorizationPolicy")}
    assert policies == {"allow-nothing", "require-jwt"}


def test_public_path_is_the_only_exception_to_the_token_rule(plans):
    policy = named(plans[OWNER], ":AuthorizationPolicy", "require-jwt")["inputs"]["spec"]
    token_rule, public_rule, internal_rule = policy["rules"]
    public = ["/accounts/health", "/accounts/health/*"]
    if OWNER in DEMO_STACKS:
        public += ["/demo/health", "/demo/health/*"]  # the demo's health path, nothing else of it
    assert token_rule["to"][0]["operation"]["notPaths"] == public
    assert public_rule["to"][0]["operation"]["paths"] == public
    assert "requestPrincipals" not in public_rule["from"][0]["source"]
    assert internal_rule == {"from": [{"source": {"namespaces": ["dev"]}}]}


def test_audiences_differ_between_environments(plans):
    audiences = [tuple(plans[s]["outputs"]["audiences"]) for s in SHIPPED_STACKS]
    assert len(set(audiences)) == len(audiences)


def test_virtual_service_hosts_are_covered_by_the_certificate(plans):
    names = plans[OWNER]["outputs"]["certificateNames"]
    for stack in SHIPPED_STACKS:
        for host in one(plans[stack], ":VirtualService")["inputs"]["spec"]["hosts"]:
            assert host_covered(host, names)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_quota_and_limits(plans, stack):
    quota = one(plans[stack], "core/v1:ResourceQuota")["inputs"]["spec"]["hard"]
    assert quota["requests.cpu"] == "4" and quota["requests.memory"] == "8Gi" and quota["pods"] == "40"
    assert quota["services.loadbalancers"] == "0"
    limits = one(plans[stack], "core/v1:LimitRange")["inputs"]["spec"]["limits"][0]
    assert limits["type"] == "Container" and limits["defaultRequest"]["cpu"] == "100m"


@pytest.mark.parametrize("stack", ATTACHED)
def test_attached_stacks_declare_no_platform_resource(plans, stack):
    plan = plans[stack]
    types = {r["type"] for r in plan["resources"]}
    assert not types & set(PLATFORM_TYPES)
    assert not any(t.startswith("tls:") for t in types)
    reference = one(plan, "pulumi:pulumi:StackReference")
    assert reference["read"] and reference["inputs"]["name"] == OWNER


@pytest.mark.parametrize("stack", ATTACHED)
def test_attached_environment_waits_only_on_the_owner_outputs(plans, stack):
    """Nothing in an attached stack waits on a cluster: every dependency chain ends at the
    StackReference (the owner's outputs) or at the stack's own objects."""
    plan = plans[stack]
    resources = by_urn(plan)
    for resource in plan["resources"]:
        for dep in resource["dependencies"] + ([resource["provider"]] if resource["provider"] else []):
            assert dep in resources, f"{resource['name']} depends on {dep}, not in this stack"
    provider = one(plan, "pulumi:providers:kubernetes")
    reference = one(plan, "pulumi:pulumi:StackReference")
    assert provider["dependencies"] == [reference["urn"]]
    assert provider["inputs"]["kubeconfig"] == "[secret]"


def test_attached_stack_reads_the_owner_values(plans):
    for stack in ATTACHED:
        assert plans[stack]["outputs"]["ingressIp"] == plans[OWNER]["outputs"]["ingressIp"]
        assert plans[stack]["outputs"]["platformOwner"] == OWNER


def test_owner_protects_stateful_resources(plans):
    protected = {r["type"] for r in plans[OWNER]["resources"] if r["protect"]}
    assert protected == {"gcp:container/cluster:Cluster", "gcp:dns/managedZone:ManagedZone",
                         "gcp:compute/address:Address"}


def test_cluster_is_hardened_with_a_separate_autoscaling_pool(plans):
    cluster = one(plans[OWNER], "container/cluster:Cluster")["inputs"]
    pool = one(plans[OWNER], "container/nodePool:NodePool")["inputs"]
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["workloadIdentityConfig"] == {"workloadPool": "acme-nonprod.svc.id.goog"}
    assert cluster["releaseChannel"] == {"channel": "REGULAR"}
    assert cluster["privateClusterConfig"]["enablePrivateNodes"] is True
    assert cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "203.0.113.0/24", "displayName": "office"}]
    assert cluster["enableShieldedNodes"] is True and cluster["enableLegacyAbac"] is False
    assert cluster["deletionProtection"] is True
    assert cluster["datapathProvider"] == "ADVANCED_DATAPATH"
    assert cluster["location"] == "us-central1"
    assert pool["autoscaling"] == {"maxNodeCount": 3, "minNodeCount": 1}
    assert pool["nodeLocations"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
    node = pool["nodeConfig"]
    assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert node["shieldedInstanceConfig"] == {"enableIntegrityMonitoring": True, "enableSecureBoot": True}
    assert "compute@developer" not in node["serviceAccount"]


def test_kubeconfig_is_secret_and_uses_the_gke_auth_plugin(build_dir, plans):
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
    assert cluster["cluster"]["server"].startswith("https://gke-preview")
    assert cluster["cluster"]["server"].endswith(".us-central1.gke.goog")
    assert "certificate-authority-data" not in cluster["cluster"]


def test_owner_outputs_carry_what_an_attached_stack_reads(plans):
    from components.contract import PlatformContract

    outputs = plans[OWNER]["outputs"]
    for key in PlatformContract.output_names():
        assert key in outputs
    assert set(plans[OWNER]["secretOutputs"]) >= set(PlatformContract.secret_output_names())
    assert plans[OWNER]["secretOutputs"] == ["kubeconfig"]
    assert outputs["url"] == "https://dev.api.example.com"
    assert outputs["nameServers"] and outputs["clusterName"] == "nonprod"


def test_numbers_stay_integers_in_plan_and_manifests(build_dir, plans):
    text = (build_dir / OWNER / "plan.json").read_text()
    assert "8080.0" not in text and "443.0" not in text
    vs = yaml.safe_load((build_dir / OWNER / "manifests" / "dev.virtualservice.dev-api.yaml").read_text())
    port = vs["spec"]["http"][0]["route"][0]["destination"]["port"]["number"]
    assert port == 8080 and isinstance(port, int)


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


def test_no_key_material_anywhere_in_the_build(build_dir, plans):
    for path in build_dir.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY" not in text, path
            assert "preview: private key" not in text, path


def test_summary_tells_a_reviewer_hosts_routes_and_auth(build_dir, plans):
    summary = (build_dir / OWNER / "summary.md").read_text()
    assert "https://dev.api.example.com" in summary
    assert "HTTPS on 443" in summary and "TLSV1_2" in summary
    assert ("| `/orders` | `orders.dev.svc.cluster.local:8080` | `15s`; 2 retries of `5s` on "
            "connect-failure,unavailable | token required (aud `https://dev.api.example.com`) |") in summary
    assert "`/accounts/health` public" in summary
    attached = (build_dir / "uat" / "summary.md").read_text()
    assert "Attached" in attached and "gcp:container" not in attached


def test_program_also_runs_in_preview_mode_with_unknowns(build_dir):
    """`pulumi preview` sees unknown outputs: the program must not depend on them at declare time."""
    run = run_program(ROOT, OWNER, owner_outputs(build_dir), dry_run=True)
    assert len(run.registrations) == len(json.loads((build_dir / OWNER / "plan.json").read_text())["resources"])


def test_attached_preview_runs_the_owner_first_when_missing(tmp_path):
    result = preview_stack("test", ROOT, tmp_path)
    assert (tmp_path / "dev" / "plan.json").exists()
    assert result.plan["outputs"]["ingressIp"] == json.loads(
        (tmp_path / "dev" / "plan.json").read_text())["outputs"]["ingressIp"]


def test_environment_egress_is_its_own_and_the_metadata_server_is_everyones(plans, tmp_path):
    """REGISTRY_ONLY egress: the owner registers only the GKE metadata server (workload identity
    tokens), mesh-wide; an environment's allow-list becomes ServiceEntries visible to its own
    namespace only."""
    plan = plans[OWNER]
    entries = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in of_type(plan, ":ServiceEntry")}
    metadata = entries.pop("gke-metadata-server")
    assert metadata["metadata"]["namespace"] == "istio-system"
    assert metadata["spec"]["addresses"] == ["169.254.169.254/32"]
    assert metadata["spec"]["exportTo"] == ["*"]
    istiod = next(r for r in of_type(plan, "helm.sh/v3:Release") if r["inputs"]["chart"] == "istiod")
    assert istiod["inputs"]["values"]["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    (stripe,) = entries.values()
    assert stripe["metadata"]["namespace"] == OWNER
    assert stripe["spec"] == {"hosts": ["api.stripe.com"], "exportTo": ["."],
                              "location": "MESH_EXTERNAL", "resolution": "DNS",
                              "ports": [{"name": "tls-443", "number": 443, "protocol": "TLS"}]}
    for stack in ATTACHED:
        if not STACKS[stack].environment.get("egress"):
            assert not of_type(plans[stack], ":ServiceEntry")  # no egress listed, none opened

    # A wildcard cannot be resolved by DNS; two ports of one host are one entry.
    from stackfiles import set_key, write_project

    project = write_project(tmp_path, set_key("environment.egress", [
        {"host": "*.googleapis.com"}, {"host": "db.example.net", "port": 5432, "protocol": "TCP"},
        {"host": "db.example.net", "port": 443}], stack="uat"))
    uat = preview_stack("uat", project, tmp_path / "build").plan
    specs = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"] for r in of_type(uat, ":ServiceEntry")}
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


def test_a_route_carries_its_timeout_and_retries_to_istio_and_the_summary(plans, build_dir):
    """dev's /orders route sets a time budget and a retry policy; the others keep Istio's."""
    vs = one(plans[OWNER], ":networking.istio.io/v1:VirtualService")["inputs"]["spec"]
    routes = {http["match"][0]["uri"]["prefix"]: http for http in vs["http"]}
    assert routes["/orders"]["timeout"] == "15s"
    assert routes["/orders"]["retries"] == {"attempts": 2, "perTryTimeout": "5s",
                                            "retryOn": "connect-failure,unavailable"}
    assert "timeout" not in routes["/accounts"] and "retries" not in routes["/accounts"]
    summary = (build_dir / OWNER / "summary.md").read_text()
    assert "`15s`; 2 retries of `5s` on connect-failure,unavailable" in summary


def test_environment_owners_get_their_role_in_their_namespace_and_credentials_from_the_owner(plans):
    """uat's owners: a RoleBinding to the owner stack's owners' role in uat only, made by uat;
    their IAM grant (cluster credentials) made by the owner stack, which reads every attached
    stack file."""
    from components.tenancy import OWNER_CLUSTER_ROLE

    (binding,) = [r["inputs"] for r in of_type(plans["uat"], "rbac.authorization.k8s.io/v1:RoleBinding")]
    assert binding["metadata"]["namespace"] == "uat"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": OWNER_CLUSTER_ROLE}
    assert named(plans[OWNER], "rbac.authorization.k8s.io/v1:ClusterRole", OWNER_CLUSTER_ROLE)
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                    "name": "uat-team@example.com"}]
    assert not of_type(plans["uat"], "gcp:projects/iAMMember:IAMMember")  # attached: no project IAM
    grants = [r["inputs"] for r in of_type(plans[OWNER], "gcp:projects/iAMMember:IAMMember")
              if r["inputs"]["member"] == "group:uat-team@example.com"]
    assert grants == [{"member": "group:uat-team@example.com", "project": "acme-nonprod",
                       "role": "roles/container.clusterViewer"}]


def test_the_shipped_set_shows_every_self_service_feature(plans):
    """The stack files a team copies from show each environment option in use (and each passes
    the schema and CEL checks: test_manifests.py): owners, the isolation every environment gets,
    the demo workload and per-route timeout and retries."""
    every = [r for plan in plans.values() for r in plan["resources"]]
    assert [r for r in every if r["type"].endswith(":RoleBinding")
            and r["inputs"]["metadata"]["name"] == "environment-owners"]
    for stack, plan in plans.items():
        assert named(plan, "networking.k8s.io/v1:NetworkPolicy", "environment-ingress"), stack
        assert named(plan, ":Sidecar", "default"), stack
    assert [r for r in every if r["type"].endswith("apps/v1:Deployment")
            and r["inputs"]["metadata"]["name"] == "demo-echo"]
    routes = [h for r in every if r["type"].endswith(":VirtualService") for h in r["inputs"]["spec"]["http"]]
    assert [h for h in routes if "timeout" in h and "retries" in h]
