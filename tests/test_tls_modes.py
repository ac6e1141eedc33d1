"""Every TLS mode ends in one kubernetes.io/tls Secret the Gateway names; each example stack
under examples/ previews through the real program."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, by_urn, named, of_type, one

from components.cert_manager import DNS01_PERMISSIONS
from components.config import ACME_SERVERS

ACME, PROVIDED, MUTUAL_OWNER = "acme", "provided", "mtls"


def gateway_server(plan: dict, name: str) -> dict:
    (server,) = named(plan, ":networking.istio.io/v1:Gateway", name)["inputs"]["spec"]["servers"]
    return server


def test_every_example_previews(example_plans):
    assert set(example_plans) == set(EXAMPLES) >= {ACME, PROVIDED, MUTUAL_OWNER, "partner", "web"}
    for plan in example_plans.values():
        assert plan["resources"]


# --- acme -------------------------------------------------------------------------------------

def test_acme_installs_pinned_cert_manager_with_crds_and_workload_identity(example_plans):
    plan = example_plans[ACME]
    release = named_release(plan, "cert-manager")
    values = release["inputs"]["values"]
    assert release["inputs"]["version"].startswith("v1.")
    assert release["inputs"]["repositoryOpts"] == {"repo": "https://charts.jetstack.io"}
    assert values["crds"] == {"enabled": True, "keep": True}
    solver = next(r for r in of_type(plan, "serviceaccount/account:Account")
                  if r["inputs"]["accountId"].endswith("-dns01"))
    # Named after the cluster: two platforms' solvers never collide in one project.
    cluster = one(plan, "container/cluster:Cluster")["inputs"]["name"]
    assert solver["inputs"]["accountId"] == f"{cluster}-dns01"
    assert cluster.replace("-", "_") in one(plan, "projects/iAMCustomRole:IAMCustomRole")["inputs"]["roleId"]
    email = f"{cluster}-dns01@{solver['inputs']['project']}.iam.gserviceaccount.com"
    assert values["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": email}
    binding = one(plan, "serviceaccount/iAMMember:IAMMember")["inputs"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    project = plan["outputs"]["project"]
    assert binding["member"] == f"serviceAccount:{project}.svc.id.goog[cert-manager/cert-manager]"
    # No JSON key file anywhere: no service account key resource, no key Secret for the solver.
    assert not of_type(plan, "serviceaccount/key:Key")


def test_acme_solver_may_only_touch_dns_records(example_plans):
    plan = example_plans[ACME]
    role = one(plan, "projects/iAMCustomRole:IAMCustomRole")["inputs"]
    assert role["permissions"] == list(DNS01_PERMISSIONS)
    assert all(p.startswith("dns.") for p in role["permissions"])
    assert not any(p.startswith("dns.managedZones.") and not p.endswith(".get")
                   for p in role["permissions"])
    # The solver has no project-wide grant at all: the custom role is bound on the one managed
    # zone of the domain, so it can rewrite no other zone in the project.
    assert not [r for r in of_type(plan, "projects/iAMMember:IAMMember") if "dns01" in r["name"]]
    (grant,) = [r["inputs"] for r in of_type(plan, "dns/dnsManagedZoneIamMember:DnsManagedZoneIamMember")]
    assert grant["role"] == f"projects/{plan['outputs']['project']}/roles/{role['roleId']}"
    assert grant["managedZone"] == plan["outputs"]["dnsZone"]
    assert grant["member"].startswith(f"serviceAccount:{one(plan, 'container/cluster:Cluster')['inputs']['name']}-dns01@")


def test_acme_issuer_and_certificate_feed_the_gateway(example_plans):
    plan = example_plans[ACME]
    issuer = one(plan, "cert-manager.io/v1:ClusterIssuer")
    acme = issuer["inputs"]["spec"]["acme"]
    assert acme["server"] == ACME_SERVERS["staging"]
    assert acme["email"] == "platform-team@example.com"
    (solver,) = acme["solvers"]
    assert solver == {"dns01": {"cloudDNS": {"project": plan["outputs"]["project"],
                                             "hostedZoneName": plan["outputs"]["dnsZone"]}}}
    certificate = one(plan, "cert-manager.io/v1:Certificate")
    spec = certificate["inputs"]["spec"]
    zone = one(plan, "dns/managedZone:ManagedZone")["inputs"]["dnsName"]
    # The zone serves api.<domain>.: the wildcard is one label below its name.
    assert spec["dnsNames"] == [f"*.{zone.rstrip('.')}"] == plan["outputs"]["certificateNames"]
    assert spec["issuerRef"] == {"kind": "ClusterIssuer", "name": issuer["inputs"]["metadata"]["name"]}
    assert certificate["inputs"]["metadata"]["namespace"] == "istio-ingress"
    server = gateway_server(plan, "api-gateway")
    assert server["tls"]["credentialName"] == spec["secretName"] == plan["outputs"]["tlsCredential"]
    # cert-manager writes that Secret; the program declares none with key material.
    assert not of_type(plan, "core/v1:Secret")
    # Both wait for cert-manager's CRDs.
    release_urn = named_release(plan, "cert-manager")["urn"]
    assert release_urn in issuer["dependencies"] and release_urn in certificate["dependencies"]


# --- provided ---------------------------------------------------------------------------------

def test_provided_certificate_becomes_the_gateway_secret(example_plans):
    plan = example_plans[PROVIDED]
    secret = one(plan, "core/v1:Secret")["inputs"]
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["stringData"] == {"tls.crt": "[secret]", "tls.key": "[secret]"}
    assert gateway_server(plan, "api-gateway")["tls"]["credentialName"] == secret["metadata"]["name"]
    assert not [r for r in plan["resources"] if r["type"].startswith("tls:")]
    # The expiry date is known at load time and shown to reviewers.
    assert len(plan["outputs"]["certificateNotAfter"]) == len("2027-01-01")


# --- self-signed, rotation --------------------------------------------------------------------

def test_self_signed_leaf_renews_inside_the_window_and_the_secret_follows(plans):
    plan = plans["dev"]
    leaf = one(plan, "tls:index/locallySignedCert:LocallySignedCert")
    # (Its validity and renewal windows, and the CA's, run in tests/test_rotation.py.)
    assert "server_auth" in leaf["inputs"]["allowedUses"]
    secret = one(plan, "core/v1:Secret")
    assert leaf["urn"] in secret["propertyDependencies"]["stringData"]
    # The CA is exported for clients to trust; it is not renewed with the leaf.
    ca = next(r for r in of_type(plan, "tls:index/selfSignedCert:SelfSignedCert"))
    assert ca["inputs"]["isCaCertificate"] is True
    assert plan["outputs"]["caCertificate"].startswith("-----BEGIN CERTIFICATE-----")


# --- mutual -----------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", [MUTUAL_OWNER, "partner"])
def test_mutual_environment_has_its_own_gateway_server_and_client_ca(example_plans, stack):
    plan = example_plans[stack]
    host = plan["outputs"]["host"]
    assert host.startswith(f"{stack}.api.")
    server = gateway_server(plan, f"{stack}-mtls")
    assert server["hosts"] == [host]
    assert server["tls"]["mode"] == "MUTUAL" and server["tls"]["minProtocolVersion"] == "TLSV1_2"
    assert server["tls"]["credentialName"] == "api-wildcard-tls"
    ca_secret = named(plan, "core/v1:Secret", server["tls"]["caCertCredentialName"])
    assert ca_secret["inputs"]["metadata"]["name"].endswith("-cacert")
    assert ca_secret["inputs"]["metadata"]["namespace"] == "istio-ingress"
    assert set(ca_secret["inputs"]["stringData"]) == {"ca.crt"}
    # Its routes bind to that Gateway only: the shared SIMPLE server has no route to this host.
    vs = one(plan, ":VirtualService")["inputs"]["spec"]
    assert vs["gateways"] == [f"istio-ingress/{stack}-mtls"]
    assert plan["outputs"]["tlsMode"] == "MUTUAL"
    gateway = named(plan, ":networking.istio.io/v1:Gateway", f"{stack}-mtls")
    assert by_urn(plan)[gateway["parent"]]["type"] == "istio-envs:environment:MutualTlsHost"


def test_self_signed_client_ca_issues_one_client_certificate_as_secret_outputs(example_plans):
    plan = example_plans[MUTUAL_OWNER]
    assert {"clientCertificate", "clientPrivateKey"} <= set(plan["secretOutputs"])
    assert plan["outputs"]["clientPrivateKey"] == "[secret]"
    client = next(r for r in of_type(plan, "tls:index/locallySignedCert:LocallySignedCert")
                  if "client" in r["name"])
    assert "client_auth" in client["inputs"]["allowedUses"]
    assert "server_auth" not in client["inputs"]["allowedUses"]
    assert client["inputs"]["validityPeriodHours"] == 30 * 24
    # The partner brings its own CA: nothing issued, no key of theirs.
    partner = example_plans["partner"]
    assert not [r for r in partner["resources"] if r["type"].startswith("tls:")]
    assert "clientPrivateKey" not in partner["outputs"]


def test_simple_environment_next_to_mutual_ones_uses_the_shared_gateway(example_plans):
    plan = example_plans["web"]
    assert not of_type(plan, ":Gateway")
    assert one(plan, ":VirtualService")["inputs"]["spec"]["gateways"] == ["istio-ingress/api-gateway"]
    assert plan["outputs"]["tlsMode"] == "SIMPLE"


def named_release(plan: dict, chart: str) -> dict:
    """The one release of ``chart`` (the example owners install one istiod revision)."""
    (found,) = [r for r in of_type(plan, "helm.sh/v3:Release") if r["inputs"]["chart"] == chart]
    return found


def test_an_https_server_mode_and_its_client_ca_go_together():
    """The mode is passed explicitly; a client CA without MUTUAL (or MUTUAL without one) is a
    programming error, refused before any Gateway is declared."""
    from components.gateway import https_server

    assert https_server("https", ["a.example.com"], "cert")["tls"]["mode"] == "SIMPLE"
    mutual = https_server("https", ["a.example.com"], "cert", mode="MUTUAL", ca_credential_name="ca")
    assert mutual["tls"]["caCertCredentialName"] == "ca"
    for mode, ca in (("MUTUAL", None), ("SIMPLE", "ca")):
        with pytest.raises(ValueError):
            https_server("https", ["a.example.com"], "cert", mode=mode, ca_credential_name=ca)
