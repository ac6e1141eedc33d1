"""Bad stack files stop the program before any resource is declared, with one message that
names the stack file, the key and what is expected."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT
from stackfiles import DELETE, NS, certificate, platform, provided, secrets_for, set_key, write_project

from components.config import ConfigError
from preview.engine import run_program

CASES = {
    "missing environment": ("dev", set_key("environment", DELETE), "environment", "missing"),
    "missing required key": ("dev", set_key("environment.auth", DELETE), "environment.auth", "required"),
    "missing platform key": ("dev", set_key("platform.domain", DELETE), "platform.domain", "required"),
    "wrong type: port as string": ("dev", set_key("environment.routes[0].port", "8080"),
                                   "environment.routes[0].port", "expected an integer from 1 to 65535"),
    "wrong type: routes as mapping": ("dev", set_key("environment.routes", {"path": "/a"}),
                                      "environment.routes", "expected a list"),
    "wrong type: bool as count": ("dev", set_key("platform.cluster.maxNodesPerZone", True),
                                  "platform.cluster.maxNodesPerZone", "expected an integer"),
    "unknown nested key (typo)": ("dev", set_key("environment.rotues", []), "environment.rotues", "unknown key"),
    "unknown top-level key (typo)": ("dev", set_key("enviroment", {}), "enviroment", "unknown key"),
    "environment name not a DNS label": ("dev", set_key("environment.name", "Dev_1"),
                                         "environment.name", "DNS label"),
    "environment name reserved": ("dev", set_key("environment.name", "kube-system"),
                                  "environment.name", "belongs to the cluster"),
    "environment name used by another stack": ("test", set_key("environment.name", "uat", "test"),
                                               "environment.name", "Pulumi.uat.yaml"),
    "domain not a DNS name": ("dev", set_key("platform.domain", "example..com"),
                              "platform.domain", "DNS domain"),
    "domain with wildcard": ("dev", set_key("platform.domain", "*.example.com"),
                             "platform.domain", "DNS domain"),
    "issuer not https": ("dev", set_key("environment.auth.issuer", "http://acme.auth0.com/"),
                         "environment.auth.issuer", "https://"),
    "jwks not https": ("dev", set_key("environment.auth.jwksUri", "ftp://acme/jwks.json"),
                       "environment.auth.jwksUri", "https://"),
    "empty audience list": ("dev", set_key("environment.auth.audiences", []),
                            "environment.auth.audiences", "at least 1"),
    "empty audience": ("dev", set_key("environment.auth.audiences", [""]),
                       "environment.auth.audiences[0]", "non-empty"),
    "audience shared with another stack": ("uat", set_key("environment.auth.audiences",
                                                          ["https://test.api.example.com"], "uat"),
                                           "environment.auth.audiences", "Pulumi.test.yaml"),
    "unknown TLS source": ("dev", set_key("platform.tls.source", "letsencrypt"),
                           "platform.tls.source", "self-signed, provided, acme"),
    "provided without certificate": ("dev", set_key("platform.tls", {"source": "provided"}),
                                     "tlsCertificate", "missing"),
    "provided without key": ("dev", provided(["*.api.example.com"], with_key=False),
                             "tlsPrivateKey", "missing"),
    "provided cert misses the host": ("dev", provided(["*.example.org"]), "environment.name",
                                      "not covered by the certificate"),
    "provided cert wildcard one level too high": ("dev", provided(["*.example.com"]), "environment.name",
                                                  "not covered"),
    "provided cert expired": ("dev", provided(["*.api.example.com"], expired=True), "tlsCertificate",
                              "expired"),
    "route path without slash": ("dev", set_key("environment.routes[0].path", "accounts"),
                                 "environment.routes[0].path", "starting with '/'"),
    "duplicate route": ("dev", set_key("environment.routes[1].path", "/accounts"),
                        "environment.routes[1].path", "routes[0]"),
    "port out of range": ("dev", set_key("environment.routes[0].port", 70000),
                          "environment.routes[0].port", "1 to 65535"),
    "service not a DNS label": ("dev", set_key("environment.routes[0].service", "Accounts"),
                                "environment.routes[0].service", "DNS label"),
    "public path under no route": ("dev", set_key("environment.auth.publicPaths", ["/healthz"]),
                                   "environment.auth.publicPaths[0]", "under no route"),
    "quota memory malformed": ("dev", set_key("environment.quota.memory", "8 GB"),
                               "environment.quota.memory", "quantity"),
    "attached stack names itself": ("test", set_key("attachTo", "test", "test"), "attachTo", "itself"),
    "attached to a missing owner": ("test", set_key("attachTo", "perf", "test"), "attachTo",
                                    "Pulumi.perf.yaml does not exist"),
    "attached to a non-owner": ("test", set_key("attachTo", "uat", "test"), "attachTo",
                                "no istio-envs:platform"),
    "both platform and attachTo": ("dev", set_key("attachTo", "test"), "platform", "exactly one"),
    "neither platform nor attachTo": ("test", set_key("attachTo", DELETE, "test"), "attachTo", "exactly one"),
    "autoscaling min > max": ("dev", set_key("platform.cluster.minNodesPerZone", 5),
                              "platform.cluster.minNodesPerZone", "min <= max"),
    "control plane open to the internet": ("dev", set_key("platform.cluster.authorizedNetworks[0].cidr",
                                                          "0.0.0.0/0"),
                                           "platform.cluster.authorizedNetworks[0].cidr", "whole internet"),
    "malformed CIDR": ("dev", set_key("platform.cluster.authorizedNetworks[0].cidr", "203.0.113.0/33"),
                       "platform.cluster.authorizedNetworks[0].cidr", "CIDR"),
    "no authorized network and public endpoint": ("dev", set_key("platform.cluster.authorizedNetworks", []),
                                                  "platform.cluster.authorizedNetworks", "privateEndpoint"),
    "overlapping ranges": ("dev", set_key("platform.cluster.podsCidr", "10.8.0.0/14"),
                           "platform.cluster.podsCidr", "overlaps"),
    "zone outside the region": ("dev", set_key("platform.zones", ["europe-west1-b"]),
                                "platform.zones[0]", "a zone of region us-central1"),
    "renewal window longer than validity": ("dev", set_key("platform.tls.earlyRenewalDays", 90),
                                            "platform.tls.earlyRenewalDays", "fewer days than validityDays"),
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
    "self-signed with expiryWarningDays": ("dev", set_key("platform.tls.expiryWarningDays", 10),
                                           "platform.tls.expiryWarningDays", "applies to tls.source provided"),
    "acme without settings": ("dev", set_key("platform.tls", {"source": "acme"}), "platform.tls.acme",
                              "missing"),
    "acme email malformed": ("dev", set_key("platform.tls", {"source": "acme", "acme": {"email": "ops"}}),
                             "platform.tls.acme.email", "email address"),
    "acme unknown server": ("dev", set_key("platform.tls", {"source": "acme", "acme": {
        "email": "ops@example.com", "server": "prod"}}), "platform.tls.acme.server", "staging, production"),
    "acme CAA without letsencrypt": ("dev", lambda f: (set_key("platform.tls", {"source": "acme", "acme": {
        "email": "ops@example.com"}})(f), platform(f).update(dns={"caaIssuers": ["digicert.com"]})),
        "platform.dns.caaIssuers", "letsencrypt.org"),
    "CAA issuers on an existing zone": ("dev", set_key("platform.dns", {"zone": "existing",
                                                                        "caaIssuers": ["letsencrypt.org"]}),
                                        "platform.dns.caaIssuers", "existing"),
    "MUTUAL without a client CA": ("dev", set_key("environment.tls", {"mode": "MUTUAL"}),
                                   "environment.tls.clientCa", "needs a client CA"),
    "client CA with SIMPLE": ("dev", set_key("environment.tls", {"mode": "SIMPLE", "clientCa": "self-signed"}),
                              "environment.tls.clientCa", "tls.mode is SIMPLE"),
    "unknown TLS mode": ("dev", set_key("environment.tls", {"mode": "STRICT"}), "environment.tls.mode",
                         "SIMPLE, MUTUAL"),
    "provided client CA missing": ("dev", set_key("environment.tls", {"mode": "MUTUAL", "clientCa": "provided"}),
                                   "clientCaCertificate", "missing"),
    "provided client CA is not a CA": ("dev", lambda f: (
        set_key("environment.tls", {"mode": "MUTUAL", "clientCa": "provided"})(f),
        f["Pulumi.dev.yaml"]["config"].update({f"{NS}:clientCaCertificate": certificate(["leaf.example.com"])[0]})),
        "clientCaCertificate", "not a CA certificate"),
    "RBAC group with the wrong name": ("dev", set_key("platform.cluster.rbacSecurityGroup", "admins@example.com"),
                                       "platform.cluster.rbacSecurityGroup", "gke-security-groups@"),
    "unicode environment name": ("dev", set_key("environment.name", "dév"), "environment.name", "DNS label"),
    "unicode route path": ("dev", set_key("environment.routes[0].path", "/comptes/é"),
                           "environment.routes[0].path", "starting with '/'"),
    "oversized audience": ("dev", set_key("environment.auth.audiences", ["https://" + "a" * 3000]),
                           "environment.auth.audiences[0]", "at most 2048"),
    "oversized environment name": ("dev", set_key("environment.name", "e" * 64), "environment.name",
                                   "at most 63 characters"),
    "malformed PEM certificate": ("dev", lambda f: (provided(["*.api.example.com"])(f), f["Pulumi.dev.yaml"][
        "config"].update({f"{NS}:tlsCertificate": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"})),
        "tlsCertificate", "not a readable PEM certificate"),
    "private key pasted into the certificate": ("dev", lambda f: (provided(["*.api.example.com"])(f), f[
        "Pulumi.dev.yaml"]["config"].update({f"{NS}:tlsCertificate": "\n".join(certificate(["*.api.example.com"]))})),
        "tlsCertificate", "contains a private key"),
    "zones empty": ("dev", set_key("platform.zones", []), "platform.zones", "at least 1"),
    "duplicate zones": ("dev", set_key("platform.zones", ["us-central1-a", "us-central1-a"]), "platform.zones",
                        "unique"),
    "project id malformed": ("dev", set_key("platform.project", "Acme_NonProd"), "platform.project",
                             "GCP project id"),
    "release channel unknown": ("dev", set_key("platform.cluster.releaseChannel", "BETA"),
                                "platform.cluster.releaseChannel", "RAPID, REGULAR, STABLE"),
    "pods quota out of range": ("dev", set_key("environment.quota.pods", 0), "environment.quota.pods",
                                "1 to 10000"),
    "master CIDR not a /28": ("dev", set_key("platform.cluster.masterCidr", "172.16.0.0/24"),
                              "platform.cluster.masterCidr", "/28"),
    "public nodes range": ("dev", set_key("platform.cluster.nodesCidr", "8.8.0.0/20"),
                           "platform.cluster.nodesCidr", "private"),
    "owner file broken for an attached stack": ("test", set_key("platform.domain", "bad domain"),
                                                "platform.domain", "Pulumi.dev.yaml"),
    "egress to every host": ("dev", set_key("environment.egress", [{"host": "*"}]),
                             "environment.egress[0].host", "bare wildcard"),
    "egress wildcard not a label": ("dev", set_key("environment.egress", [{"host": "*stripe.com"}]),
                                    "environment.egress[0].host", "bare wildcard"),
    "egress to an IP address": ("dev", set_key("environment.egress", [{"host": "10.1.2.3"}]),
                                "environment.egress[0].host", "an IP address"),
    "egress to an IPv6 address": ("dev", set_key("environment.egress", [{"host": "[2001:db8::1]"}]),
                                  "environment.egress[0].host", "an IP address"),
    "egress port out of range": ("dev", set_key("environment.egress",
                                                [{"host": "api.stripe.com", "port": 0}]),
                                 "environment.egress[0].port", "1 to 65535"),
    "egress port as string": ("dev", set_key("environment.egress",
                                             [{"host": "api.stripe.com", "port": "443"}]),
                              "environment.egress[0].port", "expected an integer"),
    "egress protocol unknown": ("dev", set_key("environment.egress",
                                               [{"host": "api.stripe.com", "protocol": "UDP"}]),
                                "environment.egress[0].protocol", "TLS, HTTPS"),
    "egress listed twice": ("dev", set_key("environment.egress", [{"host": "api.stripe.com"},
                                                                  {"host": "api.stripe.com", "port": 443}]),
                            "environment.egress[1]", "again"),
    "egress key typo": ("dev", set_key("environment.egress", [{"hots": "api.stripe.com"}]),
                        "environment.egress[0].hots", "unknown key"),
    "binary authorization enforcement unknown": (
        "dev", set_key("platform.binaryAuthorization", {"enforcement": "strict"}),
        "platform.binaryAuthorization.enforcement", "dry-run, enforce"),
    "binary authorization attestor malformed": (
        "dev", set_key("platform.binaryAuthorization", {"attestors": ["built-by-ci"]}),
        "platform.binaryAuthorization.attestors[0]", "projects/<project>/attestors/<name>"),
    "binary authorization allowlist without registry": (
        "dev", set_key("platform.binaryAuthorization", {"allowlist": ["*"]}),
        "platform.binaryAuthorization.allowlist[0]", "registry/path"),
}


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_bad_config_is_refused_before_any_resource(tmp_path, case):
    stack, edit, key, expected = CASES[case]
    project = write_project(tmp_path, edit)
    monitors = []
    secrets = secrets_for(project) if stack == "dev" else {}
    with pytest.raises(ConfigError) as caught:
        run_program(project, stack, lambda name: ({}, []), secrets=secrets, on_monitor=monitors.append)
    error = caught.value
    # Owner-file problems found from an attached stack name the owner's file.
    expected_file = "Pulumi.dev.yaml" if case == "owner file broken for an attached stack" else f"Pulumi.{stack}.yaml"
    assert error.stack_file == expected_file
    assert error.key == key
    message = str(error)
    assert message.startswith(f"{expected_file}: {NS}:{key}: ")
    assert expected in message
    assert monitors[0].registrations == []
    # A secret value is never quoted back, even when it is what is wrong.
    assert not any(value in message for value in secrets.values())


@pytest.mark.parametrize("case", sorted(CASES), ids=sorted(CASES))
def test_bad_config_through_the_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, case, capsys):
    """The same corpus as a user runs it (`make preview`): exit 2, one `error:` line naming the
    key, no traceback, and no build/<stack> folder."""
    from preview.__main__ import main

    stack, edit, key, _ = CASES[case]
    project = write_project(tmp_path, edit)
    build = tmp_path / "build"
    args = [stack, "--project-dir", str(project), "--build-dir", str(build)]
    for name, value in (secrets_for(project) if stack == "dev" else {}).items():
        path = tmp_path / f"{name.split(':')[-1]}.pem"
        path.write_text(value)
        args += ["--secret", f"{name}=@{path}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err
    assert f"{NS}:{key}: " in errors[0]
    assert not (build / stack).exists()


def test_corpus_covers_the_listed_rules():
    assert len(CASES) >= 70


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


def test_cli_refuses_yaml_that_does_not_parse(tmp_path):
    project = write_project(tmp_path, lambda files: None)
    (project / "Pulumi.uat.yaml").write_text("config:\n  istio-envs:environment: [unclosed\n")
    done = subprocess.run([sys.executable, "-m", "preview", "uat", "--project-dir", str(project),
                           "--build-dir", str(tmp_path / "build")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Pulumi.uat.yaml: not valid YAML" in done.stderr


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
