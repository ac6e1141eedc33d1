"""Rendered objects pass the schema checks `make preview` runs: Kubernetes objects against the
Kubernetes schemas (strict), Istio and cert-manager objects against their vendored CRDs (types,
enums, required fields, no unknown fields, CEL rules; tests/test_crds.py plants more faults)."""

from __future__ import annotations

import pytest
import yaml
from conftest import EXAMPLES, ROOT, SHIPPED_STACKS

import preview
from preview.schemas import Problem, check

ISTIO_GA = {"networking.istio.io/v1", "security.istio.io/v1"}


@pytest.fixture(scope="module")
def all_manifests(build_dir, plans, example_plans) -> dict[str, str]:
    """stack/file -> YAML of every shipped and example stack, checked in one batch."""
    return {f"{stack}/{path.name}": path.read_text()
            for stack in SHIPPED_STACKS + sorted(EXAMPLES)
            for path in sorted((build_dir / stack / "manifests").glob("*.yaml"))}


def test_every_rendered_manifest_passes(all_manifests):
    kinds = {yaml.safe_load(text)["kind"] for text in all_manifests.values()}
    assert {"Gateway", "VirtualService", "AuthorizationPolicy", "RequestAuthentication",
            "PeerAuthentication", "ClusterIssuer", "Certificate", "Namespace", "Secret"} <= kinds
    assert check(all_manifests) == []


def _edited(all_manifests, name, edit) -> dict[str, str]:
    body = yaml.safe_load(all_manifests[name])
    edit(body)
    return {name: yaml.safe_dump(body)}


WRONG_FIELDS = [
    ("dev/istio-ingress.gateway.api-gateway.yaml",
     lambda b: b["spec"]["servers"][0]["tls"].update(minProtocolVersion="TLSV1_9"),
     "spec.servers[0].tls.minProtocolVersion", "allowed values"),
    ("mtls/istio-ingress.gateway.mtls-mtls.yaml",
     lambda b: b["spec"]["servers"][0]["tls"].update(credentialname="typo"),
     "spec.servers[0].tls.credentialname", "unknown field"),
    ("dev/dev.authorizationpolicy.require-jwt.yaml",
     lambda b: b["spec"]["rules"][0]["from"][0]["source"].update(requestPrincipal=["x"]),
     "spec.rules[0].from[0].source.requestPrincipal", "unknown field"),
    ("acme/_cluster.clusterissuer.letsencrypt-staging.yaml",
     lambda b: b["spec"]["acme"]["solvers"][0]["dns01"]["cloudDNS"].update(zone="x"),
     "spec.acme.solvers[0].dns01.cloudDNS.zone", "unknown field"),
    ("acme/istio-ingress.certificate.api-wildcard-tls.yaml",
     lambda b: b["spec"].pop("secretName"), "spec", "must have required property secretName"),
    ("dev/dev.resourcequota.environment-quota.yaml",
     lambda b: b["spec"].update(hardd={"pods": "1"}), "spec", "hardd"),
    ("test/test.deployment.demo-echo.yaml",
     lambda b: b["spec"]["template"]["spec"]["containers"][0].update(image=1),
     "spec.template.spec.containers[0].image", "is not of type 'string'"),
]


def test_each_wrong_field_is_named_with_its_file(all_manifests):
    files = {}
    for name, edit, _, _ in WRONG_FIELDS:
        files.update(_edited(all_manifests, name, edit))
    problems = check(files)  # one batch
    assert len(problems) == len(WRONG_FIELDS), problems
    for name, _, path, message in WRONG_FIELDS:
        assert any(p.file == name and p.path == path and message in p.message for p in problems), \
            (name, path, problems)


def test_istio_resources_use_ga_api_versions(all_manifests):
    for name, text in all_manifests.items():
        body = yaml.safe_load(text)
        if "istio.io" in body["apiVersion"]:
            # The write-ups' authentication.istio.io/v1alpha1 Policy was removed in Istio 1.6.
            assert body["apiVersion"] in ISTIO_GA, name


def test_preview_refuses_an_invalid_manifest_and_writes_nothing(tmp_path, monkeypatch):
    real = preview.render.manifests

    def broken(plan):
        files = real(plan)
        name = next(n for n in files if ".gateway." in n)
        body = yaml.safe_load(files[name])
        body["spec"]["servers"][0]["portt"] = 1
        return {**files, name: yaml.safe_dump(body)}

    monkeypatch.setattr(preview.render, "manifests", broken)
    with pytest.raises(preview.PreviewError) as caught:
        preview.preview_stack("dev", ROOT, tmp_path, check_schemas=True)
    assert str(caught.value) == ("invalid manifest istio-ingress.gateway.api-gateway.yaml: "
                                 "spec.servers[0].portt: unknown field")
    assert not (tmp_path / "dev").exists()
    assert str(Problem("f", "", "m")) == "f: (object): m"
