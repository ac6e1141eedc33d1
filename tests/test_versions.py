"""Each pinned version is stated once (components/versions.py); the README and the releases the
program declares say the same."""

from __future__ import annotations

import re

from conftest import ROOT

from components import versions


def test_readme_names_only_the_pinned_versions():
    readme = (ROOT / "README.md").read_text()
    istio = set(re.findall(r"Istio\W{0,4}(\d+\.\d+\.\d+)", readme))
    istio_minors = set(re.findall(r"Istio\W{0,4}(\d+\.\d+)(?![.\d])", readme))
    cert_manager = set(re.findall(r"cert-manager\W{0,4}(?:chart\W{0,4})?(v?\d+\.\d+(?:\.\d+)?)", readme))
    istio_minor = versions.ISTIO_VERSION.rsplit(".", 1)[0]
    assert istio == {versions.ISTIO_VERSION}
    assert istio_minors <= {istio_minor}
    assert cert_manager == {versions.CERT_MANAGER_VERSION}
    minors = versions.ISTIO_KUBERNETES_MINORS
    assert f"Istio {istio_minor} supports Kubernetes {minors[0]} to {minors[-1]}" in " ".join(readme.split())


def test_every_release_is_at_its_pin(plans, example_plans):
    pins = {"base": versions.ISTIO_VERSION, "istiod": versions.ISTIO_VERSION,
            "gateway": versions.ISTIO_VERSION, "cert-manager": versions.CERT_MANAGER_VERSION}
    releases = [r["inputs"] for plan in {**plans, **example_plans}.values() for r in plan["resources"]
                if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert {r["chart"] for r in releases} == set(pins)
    for release in releases:
        assert release["version"] == pins[release["chart"]], release["chart"]


def test_the_project_name_is_the_config_namespace():
    """Pulumi namespaces config keys by the project name: both are the one constant."""
    import yaml

    from components.errors import NAMESPACE

    assert yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"] == NAMESPACE
