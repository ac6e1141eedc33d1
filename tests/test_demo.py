"""environment.demo: the echo workload, what it takes from the quota, what admits its image, and
an environment of nothing but the demo."""

from __future__ import annotations

import pytest
import yaml
from conftest import DEMO_STACKS, EXAMPLES, ROOT, STACKS, demo_pod, named, of_type, one
from stackfiles import set_key, write_project

from components.config.types import quantity_value as quantity
from components.versions import ISTIO_SIDECAR_REQUESTS, ISTIO_VERSIONS
from preview import preview_stack


def istiod_values(tag: str):
    return ROOT / "tests" / "charts" / "istio" / tag / "istiod" / "values.yaml"


@pytest.mark.parametrize("tag", sorted(set(ISTIO_VERSIONS.values())))
def test_the_sidecar_requests_are_the_pinned_charts(tag):
    """The quota check counts the sidecar's requests: they must be what every installable istiod
    chart injects (global.proxy.resources.requests), not a number written once and left to drift."""
    values = yaml.safe_load(istiod_values(tag).read_text())
    assert values["_internal_defaults_do_not_set"]["global"]["proxy"]["resources"]["requests"] \
        == ISTIO_SIDECAR_REQUESTS


@pytest.mark.parametrize("stack", DEMO_STACKS)
def test_every_demo_pod_fits_its_namespace_quota_with_its_sidecar(plans, stack):
    plan = plans[stack]
    pod = demo_pod(plan)
    hard = one(plan, "core/v1:ResourceQuota")["inputs"]["spec"]["hard"]
    for resource in ("cpu", "memory"):
        requested = sum(quantity(c["resources"]["requests"][resource]) for c in pod["containers"])
        requested += quantity(ISTIO_SIDECAR_REQUESTS[resource])
        assert requested <= quantity(hard[f"requests.{resource}"]), (stack, resource)


@pytest.mark.parametrize("stack", DEMO_STACKS)
def test_the_demo_image_is_admitted_by_its_one_digest(plans, stack):
    policy = one(plans[STACKS[stack].owner or stack], "gcp:binaryauthorization/policy:Policy")["inputs"]
    patterns = {p["namePattern"] for p in policy["admissionWhitelistPatterns"]}
    pod = demo_pod(plans[stack])
    (image,) = {c["image"] for c in pod["containers"]}
    assert image in patterns and "@sha256:" in image
    assert not any(p.endswith("*") and image.startswith(p[:-1]) for p in patterns - {image})


@pytest.mark.parametrize("stack", STACKS.attached[:1])
def test_an_environment_of_only_the_demo_previews_with_schema_checks(tmp_path, stack):
    """A brand-new environment needs no service of its own: demo alone, no routes."""
    project = write_project(tmp_path, lambda files: (
        set_key("environment.routes", [], stack)(files),
        set_key("environment.auth.publicPaths", [], stack)(files),
        set_key("environment.demo", True, stack)(files)))
    plan = preview_stack(stack, project, tmp_path / "build", check_schemas=True).plan
    (vs,) = [r["inputs"]["spec"] for r in of_type(plan, ":VirtualService")]
    assert [h["match"][0]["uri"]["prefix"] for h in vs["http"]] == ["/demo"]
    policy = named(plan, ":AuthorizationPolicy", "require-jwt")["inputs"]["spec"]
    assert policy["rules"][0]["to"][0]["operation"] == {
        "paths": ["/demo", "/demo/*"], "notPaths": ["/demo/health", "/demo/health/*"]}
    assert plan["outputs"]["demo"]["path"] == "/demo"


def test_the_examples_show_no_demo_unless_they_say_so(example_plans):
    for name, plan in example_plans.items():
        says = (EXAMPLES[name] / f"Pulumi.{name}.yaml").read_text()
        assert bool(of_type(plan, "apps/v1:Deployment")) == ("demo: true" in says), name
