"""Bad stack files stop the program before any resource is declared, with one message that
names the stack file, the key and what is expected."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pulumi
import pytest
import yaml
from conftest import ROOT, TENANT, add_tenant
from stackfiles import DELETE, NS, certificate, platform, provided, secrets_for, set_key, write_project

from components.config import ConfigError, load
from components.stackset import stack_files
from components.versions import ISTIO_VERSION
from preview.engine import run_program


def with_tenant(*edits):
    """TENANT's file added (conftest: a second attached stack the tests own), then ``edits``."""
    def edit(files):
        add_tenant(files)
        for more in edits:
            more(files)
    return edit


def audience_of(stack: str, other: str):
    """``other``'s audiences set to ``stack``'s own, as that project's files say it."""
    def edit(files):
        audiences = files[f"Pulumi.{stack}.yaml"]["config"][f"{NS}:environment"]["auth"]["audiences"]
        set_key("environment.auth.audiences", audiences[:1], other)(files)
    return edit


def move_key(old: str, new: str, stack: str = "dev"):
    """Rename a key under config: (to write it without its namespace)."""
    def edit(files):
        config = files[f"Pulumi.{stack}.yaml"]["config"]
        config[new] = config.pop(old)
    return edit


def at(path: str, value, expected: str, stack: str = "dev", key: str | None = None) -> tuple:
    """A case that sets ``path`` (the key blamed, unless ``key``) to ``value`` in ``stack``'s file."""
    return stack, set_key(path, value, stack), key or path, expected


# Cases whose key is not an istio-envs key: their config key is written as it is in the file.
def config_key(case: str, key: str) -> str:
    return key if case.startswith("unread: ") else f"{NS}:{key}"


# Owner-file problems found from an attached stack name the owner's file.
OWNER_FILE_CASES = ("owner file broken for an attached stack", "provided cert misses the host of an attached stack")
# Rules across stack files: the fleet check's (components/fleet.py), never one stack's program,
# so a broken sibling blocks nobody else. Each is reported on the file named, once.
FLEET_CASES = ("environment name used by another stack", "audience shared with another stack",
               "provided cert misses the host of an attached stack", "attached to a missing owner",
               "attached to a non-owner", "provided cert misses an attached environment",
               "owner file broken for an attached stack", "attached environment on a tag its owner does not install")

CASES = {
    "missing environment": at("environment", DELETE, "missing"),
    "missing required key": at("environment.auth", DELETE, "required"),
    "missing platform key": at("platform.domain", DELETE, "required"),
    "wrong type: port as string": at("environment.routes[0].port", "8080",
                                     "expected an integer from 1 to 65535"),
    "wrong type: routes as mapping": at("environment.routes", {"path": "/a"}, "expected a list"),
    "wrong type: bool as count": at("platform.cluster.maxNodesPerZone", True, "expected an integer"),
    "unknown nested key (typo)": at("environment.rotues", [], "unknown key"),
    "unknown top-level key (typo)": at("enviroment", {}, "unknown key"),
    "environment name not a DNS label": at("environment.name", "Dev_1", "DNS label"),
    "environment name reserved": at("environment.name", "kube-system", "belongs to the cluster"),
    "environment name used by another stack": ("test", with_tenant(set_key("environment.name", TENANT, "test")),
                                               "environment.name", f"Pulumi.{TENANT}.yaml"),
    "domain not a DNS name": at("platform.domain", "example..com", "DNS domain"),
    "domain with wildcard": at("platform.domain", "*.example.com", "DNS domain"),
    "issuer not https": at("environment.auth.issuer", "http://acme.auth0.com/", "https://"),
    "jwks not https": at("environment.auth.jwksUri", "ftp://acme/jwks.json", "https://"),
    "empty audience list": at("environment.auth.audiences", [], "at least 1"),
    "empty audience": at("environment.auth.audiences", [""], "non-empty", key="environment.auth.audiences[0]"),
    "audience shared with another stack": (TENANT, with_tenant(audience_of("test", TENANT)),
                                           "environment.auth.audiences", "Pulumi.test.yaml"),
    "unknown TLS source": at("platform.tls.source", "letsencrypt", "self-signed, provided, acme"),
    "provided without certificate": ("dev", lambda f: (set_key("platform.tls", {"source": "provided"})(f),
                                                       platform(f).update(dns={"caaIssuers": ["digicert.com"]})),
                                     "tlsCertificate", "missing"),
    "provided without key": ("dev", provided(["*.api.example.com"], with_key=False),
                             "tlsPrivateKey", "missing"),
    # The certificate is what is wrong, not the environment's name (it names every host it misses).
    "provided cert misses the host": ("dev", provided(["*.example.org"]), "tlsCertificate",
                                      "does not cover dev.api.example.com (the host of Pulumi.dev.yaml)"),
    "provided cert wildcard one level too high": ("dev", provided(["*.example.com"]), "tlsCertificate",
                                                  "does not cover dev.api.example.com"),
    "provided cert misses the host of an attached stack": (
        # Every attached host it misses is named; another environment's may come first.
        "test", provided(["dev.api.example.com"]), "tlsCertificate",
        "test.api.example.com (the host of Pulumi.test.yaml)"),
    "provided cert expired": ("dev", provided(["*.api.example.com"], expired=True), "tlsCertificate",
                              "expired"),
    "route path without slash": at("environment.routes[0].path", "accounts", "starting with '/'"),
    "duplicate route": at("environment.routes[1].path", "/accounts", "routes[0]"),
    "port out of range": at("environment.routes[0].port", 70000, "1 to 65535"),
    "service not a DNS label": at("environment.routes[0].service", "Accounts", "DNS label"),
    "public path under no route": at("environment.auth.publicPaths", ["/healthz"], "under no route",
                                     key="environment.auth.publicPaths[0]"),
    "quota memory malformed": at("environment.quota.memory", "8 GB", "quantity"),
    "owner without a kind": at("environment.owners", ["ops@example.com"], "user:<email> or group:<email>",
                               key="environment.owners[0]"),
    "owner email malformed": at("environment.owners", ["user:ops"], "user:<email> or group:<email>",
                                key="environment.owners[0]"),
    "owner group without Google Groups for RBAC": (
        "dev", lambda f: (set_key("platform.cluster.rbacSecurityGroup", DELETE)(f),
                          set_key("environment.owners", ["group:ops@example.com"])(f)),
        "environment.owners[0]", "no Google Groups for RBAC"),
    "route timeout malformed": at("environment.routes[0].timeout", "15 seconds", "500ms, 15s or 2m"),
    "route timeout too long": at("environment.routes[0].timeout", "11m", "from 1ms to 10m"),
    "route timeout zero": at("environment.routes[0].timeout", "0s", "from 1ms to 10m"),
    "route retries out of range": at("environment.routes[0].retries", {"attempts": 11}, "0 to 10",
                                     key="environment.routes[0].retries.attempts"),
    "route retry condition unknown": at("environment.routes[0].retries", {"attempts": 2, "retryOn": ["5XX"]},
                                        "gateway-error", key="environment.routes[0].retries.retryOn[0]"),
    "route retries without attempts": at("environment.routes[0].retries", {"perTryTimeout": "2s"}, "missing",
                                         key="environment.routes[0].retries.attempts"),
    "route per-try timeout beyond the timeout": (
        "dev", lambda f: (set_key("environment.routes[0].timeout", "2s")(f),
                          set_key("environment.routes[0].retries", {"attempts": 1, "perTryTimeout": "5s"})(f)),
        "environment.routes[0].retries.perTryTimeout", "longer than the route's timeout"),
    "demo not a boolean": at("environment.demo", "yes", "expected true or false", stack="test"),
    "demo route path taken": at("environment.routes[0].path", "/demo", "the demo workload serves /demo",
                                stack="test"),
    "demo service name taken": at("environment.routes[1].service", "demo-echo", "from Service demo-echo",
                                  stack="test"),
    "demo pod beyond the cpu quota": at("environment.quota.cpu", "100m",
                                        "requests 10m plus its sidecar's 100m", stack="test"),
    "demo pod beyond the memory quota": at("environment.quota.memory", "128Mi",
                                           "requests 16Mi plus its sidecar's 128Mi", stack="test"),
    "no routes and no demo": (TENANT, with_tenant(set_key("environment.routes", [], TENANT)), "environment.routes",
                              "or demo: true"),
    "attached to another project's stack": at("attachTo", "acme/other-project/dev",
                                              "organization/istio-envs/dev", stack="test"),
    "attached stack names itself": at("attachTo", "test", "itself", stack="test"),
    "attached to a missing owner": at("attachTo", "perf", "Pulumi.perf.yaml does not exist", stack="test"),
    "attached to a non-owner": ("test", with_tenant(set_key("attachTo", TENANT, "test")), "attachTo",
                                "no istio-envs:platform"),
    "both platform and attachTo": at("attachTo", "test", "exactly one", key="platform"),
    "neither platform nor attachTo": at("attachTo", DELETE, "exactly one", stack="test"),
    "autoscaling min > max": at("platform.cluster.minNodesPerZone", 5, "min <= max"),
    "control plane open to the internet": at("platform.cluster.authorizedNetworks[0].cidr", "0.0.0.0/0",
                                             "whole internet"),
    "malformed CIDR": at("platform.cluster.authorizedNetworks[0].cidr", "203.0.113.0/33", "CIDR"),
    "no authorized network and public endpoint": at("platform.cluster.authorizedNetworks", [],
                                                    "privateEndpoint"),
    "overlapping ranges": at("platform.cluster.podsCidr", "10.8.0.0/14", "overlaps"),
    "zone outside the region": at("platform.zones", ["europe-west1-b"], "a zone of region us-central1",
                                  key="platform.zones[0]"),
    "renewal window longer than validity": at("platform.tls.earlyRenewalDays", 90,
                                              "fewer days than validityDays"),
    "provided key does not match the certificate": ("dev", provided(["*.api.example.com"], wrong_key=True),
                                                    "tlsPrivateKey", "does not match tlsCertificate"),
    "provided key is not PEM": ("dev", provided(["*.api.example.com"], key_text="hunter2"),
                                "tlsPrivateKey", "not a PEM private key"),
    "provided cert expires inside the warning window": ("dev", provided(["*.api.example.com"], days=10),
                                                        "tlsCertificate", "within expiryWarningDays (30)"),
    "provided cert misses an attached environment": ("dev", provided(["dev.api.example.com"]),
                                                     "tlsCertificate", "the host of Pulumi.test.yaml"),
    "provided without CAA issuers": ("dev", lambda f: (provided(["*.api.example.com"])(f),
                                                       platform(f).update(dns={"zone": "create"})),
                                     "platform.dns.caaIssuers", "CA domain(s)"),
    "self-signed with expiryWarningDays": at("platform.tls.expiryWarningDays", 10,
                                             "applies to tls.source provided"),
    "acme without settings": at("platform.tls", {"source": "acme"}, "missing", key="platform.tls.acme"),
    "acme email malformed": at("platform.tls", {"source": "acme", "acme": {"email": "ops"}}, "email address",
                               key="platform.tls.acme.email"),
    "acme unknown server": at("platform.tls",
                              {"source": "acme", "acme": {
        "email": "ops@example.com", "server": "prod"}},
                              "staging, production", key="platform.tls.acme.server"),
    "acme CAA without letsencrypt": ("dev", lambda f: (set_key("platform.tls", {"source": "acme", "acme": {
        "email": "ops@example.com"}})(f), platform(f).update(dns={"caaIssuers": ["digicert.com"]})),
        "platform.dns.caaIssuers", "letsencrypt.org"),
    "CAA issuers on an existing zone": at("platform.dns", {"zone": "existing", "caaIssuers": ["letsencrypt.org"]},
                                          "existing", key="platform.dns.caaIssuers"),
    # The zone's name (tests/test_dns_zone.py): api.<domain>. or, deployed so before, the apex.
    "zone domain neither api nor apex": at("platform.dns.zoneDomain", "root",
                                           "got 'root'; expected one of api, apex"),
    "zone domain on an existing zone": at("platform.dns", {"zone": "existing", "zoneDomain": "apex"},
                                          "set, but dns.zone is existing (the looked-up zone may serve "
                                          "api.example.com or example.com)",
                                          key="platform.dns.zoneDomain"),
    "released zone on an existing zone": at("platform.dns", {"zone": "existing", "releasedZone": "example-com"},
                                            "expected no releasedZone", key="platform.dns.releasedZone"),
    "released zone other than the apex zone": at("platform.dns",
                                                 {"zone": "create", "zoneDomain": "apex", "releasedZone": "old-zone"},
                                                 "got 'old-zone', but this stack's zone is 'example-com' "
                                                 "(zoneDomain apex); expected 'example-com' to release it",
                                                 key="platform.dns.releasedZone"),
    "released zone named like the new zone": at("platform.dns",
                                                {"zone": "create", "releasedZone": "api-example-com"},
                                                "expected the deployed zone's name, and a zoneName other than it",
                                                key="platform.dns.releasedZone"),
    "MUTUAL without a client CA": at("environment.tls", {"mode": "MUTUAL"}, "needs a client CA",
                                     key="environment.tls.clientCa"),
    "client CA with SIMPLE": at("environment.tls", {"mode": "SIMPLE", "clientCa": "self-signed"},
                                "tls.mode is SIMPLE", key="environment.tls.clientCa"),
    "unknown TLS mode": at("environment.tls", {"mode": "STRICT"}, "SIMPLE, MUTUAL",
                           key="environment.tls.mode"),
    "provided client CA missing": at("environment.tls", {"mode": "MUTUAL", "clientCa": "provided"}, "missing",
                                     key="clientCaCertificate"),
    "provided client CA is not a CA": ("dev", lambda f: (
        set_key("environment.tls", {"mode": "MUTUAL", "clientCa": "provided"})(f),
        f["Pulumi.dev.yaml"]["config"].update({f"{NS}:clientCaCertificate": certificate(["leaf.example.com"])[0]})),
        "clientCaCertificate", "not a CA certificate"),
    "RBAC group with the wrong name": at("platform.cluster.rbacSecurityGroup", "admins@example.com",
                                         "gke-security-groups@"),
    "unicode environment name": at("environment.name", "dév", "DNS label"),
    "unicode route path": at("environment.routes[0].path", "/comptes/é", "starting with '/'"),
    "oversized audience": at("environment.auth.audiences", ["https://" + "a" * 3000], "at most 2048",
                             key="environment.auth.audiences[0]"),
    "oversized environment name": at("environment.name", "e" * 64, "at most 63 characters"),
    "malformed PEM certificate": ("dev", lambda f: (provided(["*.api.example.com"])(f), f["Pulumi.dev.yaml"][
        "config"].update({f"{NS}:tlsCertificate": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"})),
        "tlsCertificate", "not a readable PEM certificate"),
    "private key pasted into the certificate": ("dev", lambda f: (provided(["*.api.example.com"])(f), f[
        "Pulumi.dev.yaml"]["config"].update({f"{NS}:tlsCertificate": "\n".join(certificate(["*.api.example.com"]))})),
        "tlsCertificate", "contains a private key"),
    "zones empty": at("platform.zones", [], "at least 1"),
    "duplicate zones": at("platform.zones", ["us-central1-a", "us-central1-a"], "unique"),
    "project id malformed": at("platform.project", "Acme_NonProd", "GCP project id"),
    "release channel unknown": at("platform.cluster.releaseChannel", "BETA", "RAPID, REGULAR, STABLE"),
    "pods quota out of range": at("environment.quota.pods", 0, "1 to 10000"),
    "maintenance window too short for GKE": at("platform.cluster.maintenanceWindow",
                                               {"days": ["SA"], "hours": 8}, "at least 48 h in any 32 days"),
    "maintenance window day unknown": at("platform.cluster.maintenanceWindow", {"days": ["SAT"]},
                                         "expected one of MO, TU, WE, TH, FR, SA, SU",
                                         key="platform.cluster.maintenanceWindow.days[0]"),
    "maintenance window day twice": at("platform.cluster.maintenanceWindow", {"days": ["SA", "SA", "SU"]},
                                       "unique", key="platform.cluster.maintenanceWindow.days"),
    "maintenance window start not HH:MM": at("platform.cluster.maintenanceWindow", {"start": "2am"}, "HH:MM",
                                             key="platform.cluster.maintenanceWindow.start"),
    "maintenance window under 4 hours": at("platform.cluster.maintenanceWindow",
                                           {"days": ["MO", "TU", "WE", "TH", "FR"], "hours": 3},
                                           "from 4 to 24", key="platform.cluster.maintenanceWindow.hours"),
    "master CIDR not a /28": at("platform.cluster.masterCidr", "172.16.0.0/24", "/28"),
    "public nodes range": at("platform.cluster.nodesCidr", "8.8.0.0/20", "private"),
    "owner file broken for an attached stack": ("test", set_key("platform.domain", "bad domain"),
                                                "platform.domain", "Pulumi.dev.yaml"),
    "egress to every host": at("environment.egress", [{"host": "*"}], "bare wildcard",
                               key="environment.egress[0].host"),
    "egress wildcard not a label": at("environment.egress", [{"host": "*stripe.com"}], "bare wildcard",
                                      key="environment.egress[0].host"),
    "egress to an IP address": at("environment.egress", [{"host": "10.1.2.3"}], "an IP address",
                                  key="environment.egress[0].host"),
    "egress to an IPv6 address": at("environment.egress", [{"host": "[2001:db8::1]"}], "an IP address",
                                    key="environment.egress[0].host"),
    "egress port out of range": at("environment.egress", [{"host": "api.stripe.com", "port": 0}],
                                   "1 to 65535", key="environment.egress[0].port"),
    "egress port as string": at("environment.egress", [{"host": "api.stripe.com", "port": "443"}],
                                "expected an integer", key="environment.egress[0].port"),
    "egress protocol unknown": at("environment.egress", [{"host": "api.stripe.com", "protocol": "UDP"}],
                                  "TLS, HTTPS", key="environment.egress[0].protocol"),
    "egress listed twice": at("environment.egress", [{"host": "api.stripe.com"},
                                                     {"host": "api.stripe.com", "port": 443}],
                              "again", key="environment.egress[1]"),
    "egress key typo": at("environment.egress", [{"hots": "api.stripe.com"}], "unknown key",
                          key="environment.egress[0].hots"),
    "binary authorization enforcement unknown": at("platform.binaryAuthorization", {"enforcement": "strict"},
                                                   "dry-run, enforce",
                                                   key="platform.binaryAuthorization.enforcement"),
    "binary authorization attestor malformed": at("platform.binaryAuthorization",
                                                  {"attestors": ["built-by-ci"]},
                                                  "projects/<project>/attestors/<name>",
                                                  key="platform.binaryAuthorization.attestors[0]"),
    "binary authorization allowlist without registry": at("platform.binaryAuthorization",
                                                          {"allowlist": ["*"]}, "registry/path",
                                                          key="platform.binaryAuthorization.allowlist[0]"),
    "misspelt key named with the key meant": at("environment.egress", [{"hots": "api.stripe.com"}],
                                                "(did you mean host?)", key="environment.egress[0].hots"),
    "Python name instead of the key": at("environment.auth.jwks_uri", "https://x.example.com/",
                                         "(did you mean jwksUri?)"),
    "key of another tls.source": at("platform.tls.acme", {"email": "ops@example.com"},
                                    "applies to tls.source acme only, expected no acme"),
    "default zone name not a zone name": at("platform.domain", "9" * 60 + ".example.com", "the default",
                                            key="platform.dns.zoneName"),
    # Keys the program would not read (issue: no config silently ignored).
    "flattened key": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(
        {f"{NS}:environment.routes[0].path": "/v2"}), "environment.routes[0].path",
        "config keys are not paths; nest the value under istio-envs:environment"),
    "sub-key at the top level": at("quota", {"pods": 10}, "did you mean istio-envs:environment.quota?"),
    "certificate with tls.source self-signed": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(
        {f"{NS}:tlsCertificate": certificate(["*.api.example.com"])[0]}), "tlsCertificate",
        "set, but platform.tls.source is self-signed"),
    "certificate on an attached stack": ("test", lambda f: f["Pulumi.test.yaml"]["config"].update(
        {f"{NS}:tlsCertificate": certificate(["*.api.example.com"])[0]}), "tlsCertificate",
        "this stack is attached"),
    # Istio revisions (platform.mesh) and the tag an environment selects.
    "mesh tag unknown": at("environment.meshRevision", "beta", "expected one of stable, canary"),
    "mesh tag the owner does not install": at("environment.meshRevision", "canary",
                                              "installs no revision tagged canary"),
    "mesh without a stable revision": at("platform.mesh", {"revisions": [{"version": ISTIO_VERSION}]},
                                         "no revision is tagged stable", key="platform.mesh.revisions"),
    "mesh version without vendored definitions": at("platform.mesh",
                                                    {"revisions": [{"version": "1.29.0", "tags": ["stable"]}]},
                                                    "expected one of",
                                                    key="platform.mesh.revisions[0].version"),
    "attached environment on a tag its owner does not install": at("environment.meshRevision", "canary",
                                                                   "installs no Istio revision tagged canary",
                                                                   stack="test"),
    **{f"unread: {name}": case for name, case in {
        "environment without the namespace": ("dev", move_key(f"{NS}:environment", "environment"),
                                              "environment", "expected istio-envs:environment"),
        "attachTo without the namespace": ("test", move_key(f"{NS}:attachTo", "attachTo", "test"),
                                           "attachTo", "expected istio-envs:attachTo"),
        "quota indented one level too shallow": (
            "dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(
                quota=f["Pulumi.dev.yaml"]["config"][f"{NS}:environment"].pop("quota")),
            "quota", "did you mean istio-envs:environment.quota? (it is indented one level too shallow)"),
        "cluster indented one level too shallow": (
            "dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(
                cluster=f["Pulumi.dev.yaml"]["config"][f"{NS}:platform"].pop("cluster")),
            "cluster", "did you mean istio-envs:platform.cluster?"),
        "tls at the top level": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(tls={"mode": "SIMPLE"}),
                                 "tls", "istio-envs:environment.tls or istio-envs:platform.tls"),
        "nested istio-envs mapping": ("dev", lambda f: f["Pulumi.dev.yaml"].update(config={NS: {
            key.split(":", 1)[1]: value for key, value in f["Pulumi.dev.yaml"]["config"].items()}}),
            "istio-envs", "write each key as istio-envs:<key> at the config level"),
        "gcp:project": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update({"gcp:project": "acme-other"}),
                        "gcp:project", "ignores gcp:* keys (its GCP provider is explicit, configured from "
                        "istio-envs:platform); set istio-envs:platform.project instead"),
        "gcp:region": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update({"gcp:region": "us-east1"}),
                       "gcp:region", "set istio-envs:platform.region instead"),
        "kubernetes:context": ("test", lambda f: f["Pulumi.test.yaml"]["config"].update(
            {"kubernetes:context": "gke_acme"}), "kubernetes:context", "ignores kubernetes:* keys"),
        "another project's namespace": ("dev", lambda f: f["Pulumi.dev.yaml"]["config"].update(
            {"istio-envs-bootstrap:project": "acme"}), "istio-envs-bootstrap:project",
            "this program reads istio-envs:* keys"),
    }.items()},
}


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_bad_config_is_refused_before_any_resource_with_one_line(tmp_path, case, capsys, monkeypatch):
    """The corpus as a user runs it (`make preview`): exit 2, one `error:` line naming the file, the
    key and what is expected, no traceback, no build/<stack> folder, and the program stopped
    before declaring any resource. A rule across stack files is the fleet check's (exit 1)."""
    import preview
    from preview.__main__ import main

    stack, edit, key, expected = CASES[case]
    project = write_project(tmp_path, edit)
    expected_file = "Pulumi.dev.yaml" if case in OWNER_FILE_CASES else f"Pulumi.{stack}.yaml"
    if case in FLEET_CASES:  # `python -m components.fleet` (CI, make preview-all): exit 1
        from components.fleet import main as fleet_main

        assert fleet_main(["--project-dir", str(project)]) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if f"{config_key(case, key)}: " in line]
        assert errors and all(line.startswith("error: Pulumi.") for line in errors)
        # Reported once, on the file it names, with what is expected.
        (line,) = [line for line in errors if line.startswith(f"error: {expected_file}: ")]
        assert expected in line, errors
        return
    # Every resource the program constructs, when it constructs it, per program run (an attached
    # stack's owner runs first): a registration still in flight when the config error is raised
    # never reaches the mock monitor, so the monitor alone would miss it.
    runs: list[list[str]] = []
    run = preview.run_program
    monkeypatch.setattr(preview, "run_program", lambda *a, **k: (runs.append([]), run(*a, **k))[1])
    def recording(sdk_function):
        def record(res, t, resource_name, *rest, **kwargs):
            if t != "pulumi:pulumi:Stack":
                runs[-1].append(f"{t}::{resource_name}")
            return sdk_function(res, t, resource_name, *rest, **kwargs)
        return record
    for name in ("register_resource", "read_resource"):
        monkeypatch.setattr(pulumi.resource, name, recording(getattr(pulumi.resource, name)))
    build = tmp_path / "build"
    # An attached stack's owner is previewed first (its manifests' schemas are not this test's), with
    # the same stand-ins.
    args = [stack, "--project-dir", str(project), "--build-dir", str(build), "--no-schemas"]
    secrets = secrets_for(project) if stack == "dev" or case in OWNER_FILE_CASES else {}
    for name, value in secrets.items():
        path = tmp_path / f"{name.split(':')[-1]}.pem"
        path.write_text(value)
        args += ["--secret", f"{name}=@{path}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert errors[0].startswith(f"error: {expected_file}: {config_key(case, key)}: ") and expected in errors[0]
    assert runs and runs[-1] == []  # the program ran, and stopped before its first resource
    assert not (build / stack).exists()
    # A secret value is never quoted back, even when it is what is wrong.
    assert not any(value in err for value in secrets.values())


def test_corpus_covers_the_listed_rules():
    assert len(CASES) >= 100


def test_a_valid_provided_certificate_is_used_and_stays_secret(tmp_path):
    project = write_project(tmp_path, provided(["*.api.example.com", "api.example.com"]))
    key = secrets_for(project)[f"{NS}:tlsPrivateKey"]
    from preview import preview_stack

    result = preview_stack("dev", project, tmp_path / "build", secrets=secrets_for(project))
    secret = next(r for r in result.plan["resources"] if r["type"] == "kubernetes:core/v1:Secret")
    assert secret["inputs"]["stringData"] == {"tls.crt": "[secret]", "tls.key": "[secret]"}
    assert not [r for r in result.plan["resources"] if r["type"].startswith("tls:")]
    gateway = next(r for r in result.plan["resources"] if r["type"].endswith(":Gateway"))
    assert gateway["inputs"]["spec"]["servers"][0]["hosts"] == ["*.api.example.com", "api.example.com"]
    key_body = key.splitlines()[1]
    for path in (tmp_path / "build").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "PRIVATE KEY" not in text and key_body not in text


def test_cli_reports_one_line_and_writes_nothing(tmp_path):
    project = write_project(tmp_path, set_key("environment.routes[0].port", 0))
    build = tmp_path / "build"
    done = subprocess.run([sys.executable, "-m", "preview", "dev", "--project-dir", str(project),
                           "--build-dir", str(build)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: Pulumi.dev.yaml: istio-envs:environment.routes[0].port: got 0; "
                      "expected an integer from 1 to 65535"]
    assert not (build / "dev").exists()


def test_cli_refuses_yaml_that_does_not_parse(tmp_path, capsys):
    """By make preview's entry point in this process (its exit code and terminal from a fresh
    process: the test above)."""
    from preview.__main__ import main

    project = write_project(tmp_path, lambda files: None)
    (project / f"Pulumi.{TENANT}.yaml").write_text("config:\n  istio-envs:environment: [unclosed\n")
    assert main([TENANT, "--project-dir", str(project), "--build-dir", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"error: Pulumi.{TENANT}.yaml: not valid YAML" in err
    assert not (tmp_path / "build" / TENANT).exists()


def test_a_failed_preview_keeps_the_previous_build(tmp_path):
    from preview import preview_stack

    good = tmp_path / "good"
    good.mkdir()
    write_project(good, lambda files: None)
    build = tmp_path / "build"
    preview_stack("dev", good, build)
    before = (build / "dev" / "plan.json").read_text()
    bad = tmp_path / "bad"
    bad.mkdir()
    write_project(bad, set_key("environment.auth.issuer", "http://x"))
    with pytest.raises(ConfigError):
        preview_stack("dev", bad, build)
    assert (build / "dev" / "plan.json").read_text() == before


# ---------------------------------------------------------------------------------------------
# YAML 1.1-only booleans and numbers: the Pulumi CLI reads `no` as the string "no" and `0755` as
# 493 (YAML 1.1 readers: false and 493; YAML 1.2: "no" and 755). Refused with the readings.

def written_as(path: str, text: str):
    """Set ``path`` to a plain scalar written exactly as ``text`` in the stack file."""
    return set_key(path, f"YAML11({text})")


def write_raw(tmp_path, edit):
    project = write_project(tmp_path, edit)
    for stack_file in stack_files(project):
        stack_file.write_text(re.sub(r"YAML11\((.*?)\)", r"\1", stack_file.read_text()))
    return project


BOOL_HINT = "expected true or false (YAML 1.1 reads {0} as {1}, the Pulumi CLI as the string \"{0}\": write {1})"
YAML11_CASES = {
    **{("mixed case " if word == "yEs" else "") + word: (f"platform.cluster.{key}", word, BOOL_HINT.format(
        word, meant)) for word, key, meant in (
        ("no", "regional", "false"), ("No", "regional", "false"), ("NO", "deletionProtection", "false"),
        ("yes", "spot", "true"), ("Yes", "privateEndpoint", "true"), ("on", "spot", "true"),
        ("On", "intranodeVisibility", "true"), ("OFF", "regional", "false"), ("off", "spot", "false"),
        ("y", "spot", "true"), ("N", "spot", "false"), ("yEs", "spot", "true"))},
    "sexagesimal port": ("environment.routes[0].port", "1:30",
                         "got '1:30'; expected an integer from 1 to 65535 (YAML 1.1 reads 1:30 as 90 "
                         "(base 60), the Pulumi CLI as the string \"1:30\": write 90)"),
    "sexagesimal count": ("environment.quota.pods", "1:00", "(YAML 1.1 reads 1:00 as 60 (base 60)"),
    "leading-zero octal port": ("environment.routes[0].port", "0755",
                                "got 0755; expected an integer from 1 to 65535 (YAML 1.1 and the Pulumi "
                                "CLI read 0755 as the octal 493, YAML 1.2 as 755: write 493, or 755 if "
                                "you meant decimal)"),
    "leading-zero octal count": ("platform.cluster.diskSizeGb", "0100", "read 0100 as the octal 64"),
    "leading-zero octal quota": ("environment.quota.cpu", "010", "read 010 as the octal 8"),
}


@pytest.mark.parametrize("case", sorted(YAML11_CASES), ids=sorted(YAML11_CASES))
def test_yaml11_only_scalars_are_refused_with_both_readings(tmp_path, case):
    path, text, expected = YAML11_CASES[case]
    project = write_raw(tmp_path, written_as(path, text))
    with pytest.raises(ConfigError) as caught:
        run_program(project, "dev", lambda name: ({}, []))
    assert [(p.key, p.stack_file) for p in caught.value.problems] == [(path, "Pulumi.dev.yaml")]
    assert expected in str(caught.value)


def test_yaml11_words_are_refused_as_the_engine_passes_them(tmp_path):
    """Through `pulumi up` the values come from the engine's JSON, where `no` is the string
    "no" and `1:30` the string "1:30": recognized by their text alone (no stack file marks)."""
    project = write_project(tmp_path, lambda files: None)
    raw = yaml.safe_load((project / "Pulumi.dev.yaml").read_text())["config"]
    values = {name.split(":", 1)[1]: value for name, value in raw.items()}
    values["platform"]["cluster"]["regional"] = "no"
    values["environment"]["routes"][0]["port"] = "1:30"
    (project / "Pulumi.dev.yaml").unlink()  # only the engine's values
    with pytest.raises(ConfigError) as caught:
        load("dev", project, read=json.loads(json.dumps(values)).get,
             known_keys=[f"{NS}:{k}" for k in values])
    assert str(caught.value).splitlines() == [
        "Pulumi.dev.yaml: istio-envs:environment.routes[0].port: got '1:30'; expected an integer from "
        "1 to 65535 (YAML 1.1 reads 1:30 as 90 (base 60), the Pulumi CLI as the string \"1:30\": write 90)",
        "Pulumi.dev.yaml: istio-envs:platform.cluster.regional: got 'no'; expected true or false "
        "(YAML 1.1 reads no as false, the Pulumi CLI as the string \"no\": write false)",
    ]


def test_quoted_words_are_strings_where_strings_are_expected(tmp_path):
    """Only booleans and numbers are held to it: a Service named `on` is a Service name."""
    project = write_raw(tmp_path, set_key("environment.routes[0].service", "YAML11(on)"))
    run_program(project, "dev", lambda name: ({}, []))


# ---------------------------------------------------------------------------------------------
# Every problem of a file, one line each, at most 10


def test_three_independent_faults_are_reported_together(tmp_path, capsys):
    """A wrong port, a wrong domain and autoscaling bounds the wrong way round: the domain stops
    the platform from building, and still the cluster's rule is checked."""
    from preview.__main__ import main

    def edit(files):
        set_key("environment.routes[0].port", 70000)(files)
        set_key("platform.domain", "example..com")(files)
        set_key("platform.cluster.minNodesPerZone", 5)(files)
    project = write_project(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        run_program(project, "dev", lambda name: ({}, []))
    error = caught.value
    assert [p.key for p in error.problems] == ["environment.routes[0].port", "platform.domain",
                                               "platform.cluster.minNodesPerZone"]
    assert (error.stack_file, error.key) == ("Pulumi.dev.yaml", "environment.routes[0].port")
    lines = str(error).splitlines()
    assert len(lines) == 3 and all(line.startswith("Pulumi.dev.yaml: istio-envs:") for line in lines)

    assert main(["dev", "--project-dir", str(project), "--build-dir", str(tmp_path / "build")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {line}" for line in lines]
    assert "got 70000" in errors[0] and "DNS domain" in errors[1] and "min <= max" in errors[2]


def test_fifteen_faults_show_ten_and_how_many_more(tmp_path, capsys):
    from preview.__main__ import main

    routes = [{"path": f"/r{i}", "service": "svc", "port": 0} for i in range(15)]
    project = write_project(tmp_path, set_key("environment.routes", routes))
    with pytest.raises(ConfigError) as caught:
        run_program(project, "dev", lambda name: ({}, []))
    assert len(caught.value.problems) == 15
    lines = str(caught.value).splitlines()
    assert lines[:10] == [f"Pulumi.dev.yaml: istio-envs:environment.routes[{i}].port: got 0; expected an "
                          "integer from 1 to 65535" for i in range(10)]
    assert lines[10:] == ["(and 5 more)"]
    assert main(["dev", "--project-dir", str(project), "--build-dir", str(tmp_path / "build")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 11 and errors[-1] == "error: (and 5 more)"


# ---------------------------------------------------------------------------------------------
# Messages that point at the right place


def test_a_stack_name_that_is_no_environment_name_says_to_rename_the_file(tmp_path):
    """Pulumi.Staging.yaml without environment.name: the file name is what is wrong (there is
    no `name` key to blame)."""
    project = write_project(tmp_path, with_tenant(set_key("environment.auth.audiences",
                                                          ["https://staging.api.example.com"], TENANT)))
    (project / f"Pulumi.{TENANT}.yaml").rename(project / "Pulumi.Staging.yaml")
    with pytest.raises(ConfigError) as caught:
        run_program(project, "Staging", lambda name: ({}, []))
    assert (caught.value.stack_file, caught.value.key) == ("Pulumi.Staging.yaml", "")
    assert str(caught.value) == (
        "Pulumi.Staging.yaml: the stack name 'Staging', from the file name, is the environment name "
        "(istio-envs:environment.name is not set), and it is not a DNS label (lowercase letters, digits "
        "and '-', starting with a letter, at most 63 characters); expected: rename the file to "
        "Pulumi.staging.yaml, or set istio-envs:environment.name")
    # With a name of its own, the stack's file name is no longer the environment's.
    values = {key.split(":", 1)[1]: value for key, value in yaml.safe_load(
        (project / "Pulumi.Staging.yaml").read_text())["config"].items()}
    values["environment"]["name"] = "staging"
    (project / "Pulumi.Staging.yaml").write_text(yaml.safe_dump({"config": {
        f"{NS}:{key}": value for key, value in values.items()}}))
    config = load("Staging", project, read=values.get, known_keys=[f"{NS}:{k}" for k in values])
    assert config.platform is None and config.environment.name == "staging"


@pytest.mark.parametrize("text, where", [
    ("config:\n  istio-envs:environment: [unclosed\n",
     "line 3, column 1: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 27)"),
    ("config:\n  istio-envs:attachTo: dev\n   oops: 1\n", "line 3, column 8: mapping values are not allowed"),
    ("config:\n  istio-envs:attachTo: dev\n  istio-envs:attachTo: test\n",
     'line 3, column 3: mapping key "istio-envs:attachTo" already defined at line 2'),
])
def test_yaml_that_does_not_parse_names_line_column_and_reason(tmp_path, text, where):
    project = write_project(tmp_path, lambda files: None)
    (project / f"Pulumi.{TENANT}.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        run_program(project, TENANT, lambda name: ({}, []))
    assert str(caught.value).startswith(f"Pulumi.{TENANT}.yaml: not valid YAML at {where}")


def test_config_error_keeps_the_single_problem_form():
    error = ConfigError("Pulumi.dev.yaml", "environment.name", "got 'X'; expected a DNS label")
    assert (error.stack_file, error.key, len(error.problems)) == ("Pulumi.dev.yaml", "environment.name", 1)
    assert str(error) == "Pulumi.dev.yaml: istio-envs:environment.name: got 'X'; expected a DNS label"
    assert isinstance(error, pulumi.RunError)


# ---------------------------------------------------------------------------------------------
# Messages that point at the cause (issue #25, item 9)

DEV_TEXT = {
    "empty file": ("", "Pulumi.dev.yaml: is empty; expected a `config:` mapping"),
    "comments only": ("# the owner\n# nothing yet\n", "Pulumi.dev.yaml: has only comments; expected a `config:`"),
    "config misspelt": ("confg:\n  istio-envs:attachTo: dev\n",
                        "Pulumi.dev.yaml: confg: not a key of a stack file (did you mean config?)"),
    "keys outside config": ("istio-envs:attachTo: dev\nconfig: {}\n",
                            "Pulumi.dev.yaml: istio-envs:attachTo: outside `config:`; indent it under config:"),
    "shallow indent": ("config:\n  istio-envs:environment:\n    routes: []\n   demo: true\n    name: x\n",
                       "Pulumi.dev.yaml: not valid YAML at line 4, column 4: did not find expected key"),
    "unquoted wildcard": ("config:\n  istio-envs:environment:\n    egress:\n      - host: *.example.com\n",
                          "Pulumi.dev.yaml: not valid YAML at line 4, column 16: did not find expected "
                          "alphabetic or numeric character (while scanning an alias at line 4, column 15); "
                          "an unquoted value starting with * is a YAML alias; quote it, e.g. host: "
                          "'*.example.com'"),
}


@pytest.mark.parametrize("case", sorted(DEV_TEXT), ids=sorted(DEV_TEXT))
def test_a_file_that_says_nothing_says_why(tmp_path, case):
    """Not "istio-envs:environment: missing": the file, its first key or its line is the cause."""
    text, expected = DEV_TEXT[case]
    project = write_project(tmp_path, lambda files: None)
    (project / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        run_program(project, "dev", lambda name: ({}, []))
    assert str(caught.value).startswith(expected)
    assert "missing" not in str(caught.value)


ACCEPTED = {  # what Istio and its CRD take, and the config took only in part
    "durations the CRD takes": set_key("environment.routes[0]", {
        "path": "/accounts", "service": "accounts", "port": 8080, "timeout": "1m30s",
        "retries": {"attempts": 2, "perTryTimeout": "1.5s"}}),
    "retryOn status codes": set_key("environment.routes[0].retries", {"attempts": 2, "retryOn": ["503", "reset"]}),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED), ids=sorted(ACCEPTED))
def test_what_istio_accepts_is_accepted(tmp_path, case):
    project = write_project(tmp_path, ACCEPTED[case])
    run_program(project, "dev", lambda name: ({}, []))


REFUSED = {  # (edit, key, message)
    "a quota that holds no pod": (lambda f: (set_key("environment.demo", False, "test")(f),
                                             set_key("environment.quota.cpu", "0", "test")(f)),
                                  "environment.quota.cpu", "got '0', which holds no pod: each pod's sidecar "
                                  "alone requests 100m; expected more than that"),
    "egress to another environment's Service": (
        set_key("environment.egress", [{"host": "accounts.test.svc.cluster.local"}], "test"),
        "environment.egress[0].host", "a name inside the cluster; egress is for destinations outside the mesh"),
    "duplicate owners": (set_key("environment.owners", ["user:a@example.com", "user:a@example.com"], "test"),
                         "environment.owners[1]", "got 'user:a@example.com' again (also owners[0]); "
                         "expected each owner once"),
    "a duration too long, not misspelt": (set_key("environment.routes[0].timeout", "1h", "test"),
                                          "environment.routes[0].timeout", "got '1h'; expected a duration from 1ms to 10m"),
}


@pytest.mark.parametrize("case", sorted(REFUSED), ids=sorted(REFUSED))
def test_what_the_cluster_would_not_do_is_refused(tmp_path, case):
    edit, key, expected = REFUSED[case]
    project = write_project(tmp_path, edit)
    with pytest.raises(ConfigError) as caught:
        run_program(project, "test", lambda name: ({}, []))
    assert [p.key for p in caught.value.problems] == [key] and expected in str(caught.value)


def _fields(model, path=""):
    """Every key path of a model (list items as [0]), and the model holding it."""
    from pydantic import BaseModel

    from components.config.messages import _strip

    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        key, (kind, _) = f"{path}{info.alias or name}", _strip(info.annotation)
        yield key
        args = [a for a in getattr(kind, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        for inner in ([kind] if isinstance(kind, type) and issubclass(kind, BaseModel) else args[:1]):
            yield from _fields(inner, key + ("[0]." if inner is not kind else "."))


@pytest.mark.parametrize("wrong", [{"a mapping": 1}, 7, ["a list"]], ids=["mapping", "number", "list"])
def test_every_key_of_every_shape_reads_in_our_words(wrong):
    """A new value shape cannot degrade the messages silently: every key of the schema, given a
    value of the wrong shape, is named as written and told what it takes, in our wording."""
    from components.config import EnvironmentConfig, PlatformConfig, validate

    raw = {key.split(":", 1)[1]: value for key, value in yaml.safe_load(
        (ROOT / "Pulumi.dev.yaml").read_text())["config"].items()}
    for section, model in (("environment", EnvironmentConfig), ("platform", PlatformConfig)):
        for key in _fields(model):
            edited = json.loads(json.dumps(raw))
            node, parts = edited[section], re.findall(r"[^.\[\]]+", key)
            for part in parts[:-1]:
                if part.isdigit():
                    node = node[int(part)] if isinstance(node, list) and node else None
                elif isinstance(node, dict):
                    node = node.setdefault(part, {})
                if not isinstance(node, dict | list):
                    break
            if not isinstance(node, dict):
                continue
            node[parts[-1]] = wrong
            _, problems = validate("dev", edited)
            for problem in problems:
                text = str(problem)
                assert problem.key and not re.search(r"Input should|\[key\]|another kind|function-|"
                                                     r"tagged-union|Value error", text), text
                assert re.search(r": (got|missing|unknown key|set, but|expected)", text), text


def test_every_value_shape_names_its_key_and_what_it_expects():
    """The class of defect behind a mapping's `requestHeaders.X Bad.[key]` message: for each shape
    a field may take (a scalar, a list item, a mapping's key, a mapping's value, a model inside a
    mapping), a fault is reported at the key as written, with what that type expects, never
    pydantic's own location parts or "a value of another kind"."""
    from typing import Annotated

    from pydantic import ValidationError

    from components.config import types as t
    from components.config.messages import problems

    header = Annotated[t.Text, t.pattern(r"^[a-z0-9-]+$", "a lowercase HTTP header name")]

    class Inner(t.Model):
        port: t.Port

    class Shapes(t.Model):
        name: t.DnsLabel = "a"
        items: tuple[t.Port, ...] = ()
        headers: dict[header, t.Text] = {}
        backends: dict[header, Inner] = {}

    def said(value: dict) -> list[str]:
        with pytest.raises(ValidationError) as caught:
            Shapes.model_validate(value)
        return [f"{p.key}: {p.message}" for p in problems(caught.value, Shapes, "f.yaml")]

    assert said({"name": "A!"}) == ["name: got 'A!'; expected " + t.DNS_LABEL_RULE]
    assert said({"items": [1, 70000]}) == ["items[1]: got 70000; expected an integer from 1 to 65535"]
    assert said({"headers": {"X Bad": "v"}}) == ["headers['X Bad']: got 'X Bad'; expected a lowercase HTTP header name"]
    assert said({"headers": {"x-a": 5}}) == ["headers.x-a: got an integer 5; expected a string"]
    assert said({"headers": "no"}) == ["headers: got a string 'no'; expected a mapping"]
    assert said({"backends": {"b": {"port": 0}}}) == ["backends.b.port: got 0; expected an integer from 1 to 65535"]
    assert said({"backends": {"b": {"prot": 1}}})[0].startswith("backends.b.prot: unknown key; expected one of port")
