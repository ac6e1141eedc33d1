"""Rendered Kubernetes objects validate against the real Kubernetes schemas (strict: no unknown
fields). Istio custom resources are checked for the GA API versions the program must use."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from conftest import EXAMPLES, SHIPPED_STACKS

# GKE's REGULAR channel runs 1.33-1.35 during 2026; validate against the oldest we target.
KUBERNETES_VERSION = "1.33"
ISTIO_GA = {"networking.istio.io/v1", "security.istio.io/v1"}
CUSTOM_GROUPS = ("istio.io/", "cert-manager.io/")


@pytest.mark.parametrize("stack", SHIPPED_STACKS + sorted(EXAMPLES))
def test_core_manifests_match_the_kubernetes_schema(build_dir, plans, example_plans, stack):
    checked = 0
    for path in sorted((build_dir / stack / "manifests").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        if any(group in body["apiVersion"] for group in CUSTOM_GROUPS):
            continue
        kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 3


def test_a_wrong_field_is_caught_by_the_schema_check():
    bad = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
           "spec": {"hardd": {"pods": "1"}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_istio_resources_use_ga_api_versions(build_dir, plans, stack):
    kinds = {}
    for path in (build_dir / stack / "manifests").glob("*.yaml"):
        body = yaml.safe_load(path.read_text())
        if "istio.io" in body["apiVersion"]:
            assert body["apiVersion"] in ISTIO_GA, path.name
            kinds[body["kind"]] = body["apiVersion"]
    # The write-ups' authentication.istio.io/v1alpha1 Policy was removed in Istio 1.6.
    assert {"VirtualService", "RequestAuthentication", "AuthorizationPolicy"} <= set(kinds)
