"""What reviewers read: summary.md per environment, and `make diff` between two stacks."""

from __future__ import annotations

from preview.diff import diff


def summary(build_dir, stack):
    return (build_dir / stack / "summary.md").read_text()


def test_owner_summary_tells_host_tls_certificate_and_access(build_dir, plans):
    text = summary(build_dir, "dev")
    assert "## Environment `dev`: https://dev.api.example.com" in text
    assert "- TLS: SIMPLE, minimum TLSV1_2, HTTPS only on 443" in text
    assert "leaf valid 90 days, re-issued by the first `pulumi up` in its last 30 days" in text
    assert ("| `/accounts` | `accounts.dev.svc.cluster.local:8080` | token required "
            "(aud `https://dev.api.example.com`); `/accounts/health` public |") in text
    assert "| `kubernetes:core/v1:Namespace` | 3 |" in text
    assert "Protected from deletion:" in text


def test_attached_summary_shows_the_owners_tls_facts(build_dir, plans):
    text = summary(build_dir, "uat")
    assert "Attached to `dev`" in text
    assert "- TLS: SIMPLE, minimum TLSV1_2" in text
    assert "Certificate: self-signed" in text


def test_mutual_and_provided_summaries(build_dir, example_plans):
    assert "- TLS: MUTUAL (client certificate required), minimum TLSV1_2" in summary(build_dir, "partner")
    assert "client CA `partner-client-ca-cacert`" in summary(build_dir, "partner")
    provided = summary(build_dir, "provided")
    assert f"Certificate: provided, expires {example_plans['provided']['outputs']['certificateNotAfter']}" in provided
    assert "Let's Encrypt through cert-manager, 90 days, renewed 30 days before expiry" in summary(build_dir, "acme")


def test_diff_between_sibling_environments_is_only_what_really_differs(plans, example_plans):
    assert diff(plans["test"], plans["uat"])[-1] == "No differences."
    lines = diff(example_plans["web"], example_plans["partner"])
    assert "  + kubernetes:networking.istio.io/v1:Gateway <env>-mtls-gateway" in lines
    assert '  tlsMode: "SIMPLE" → "MUTUAL"' in lines
    assert '      spec.gateways[0]: "istio-ingress/api-gateway" → "istio-ingress/<env>-mtls"' in lines


def test_diff_owner_to_attached_lists_the_platform_and_never_a_secret(plans):
    lines = diff(plans["dev"], plans["uat"])
    assert "  - gcp:container/cluster:Cluster platform-gke-cluster" in lines
    assert "  + pulumi:pulumi:StackReference dev" in lines
    assert not any("PRIVATE KEY" in line for line in lines)
    kubeconfig = [line for line in lines if line.startswith("  kubeconfig:")]
    assert kubeconfig == ['  kubeconfig: (secret) → (none)']
