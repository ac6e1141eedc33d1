"""Each pinned version is stated once (components/versions.py); the README, docs/ and the releases
the program declares say the same."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from components import versions
from components.support import minor

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def unpinned(text: str) -> list[str]:
    """Every Istio or cert-manager version ``text`` names that is not the pin (or, for Istio, the
    tag its vendored definitions come from; for minors, the next one, whose wait is explained)."""
    istio = set(re.findall(r"Istio\W{0,4}(\d+\.\d+\.\d+)", text))
    istio_minors = set(re.findall(r"Istio\W{0,4}(\d+\.\d+)(?![.\d])", text))
    cert_manager = set(re.findall(r"cert-manager\W{0,4}(?:chart\W{0,4})?(v?\d+\.\d+(?:\.\d+)?)", text))
    next_minor = f"1.{int(minor(versions.ISTIO_VERSION).split('.')[1]) + 1}"
    # Every installable version and the tag of its definitions (``1.31.0-rc.0`` reads as 1.31.0).
    installable = set(versions.ISTIO_VERSIONS) | {tag.split("-")[0] for tag in versions.ISTIO_VERSIONS.values()}
    return sorted({f"Istio {v}" for v in istio - installable}
                  | {f"Istio {v}" for v in istio_minors - {minor(versions.ISTIO_VERSION), next_minor}}
                  | {f"cert-manager {v}" for v in cert_manager
                     - {versions.CERT_MANAGER_VERSION, f"v{minor(versions.CERT_MANAGER_VERSION)}"}})


@pytest.mark.parametrize("page", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_docs_name_only_the_pinned_versions(page):
    assert unpinned(page.read_text()) == []


def test_the_version_check_catches_a_stale_version():
    assert unpinned("Istio `1.29.4` and cert-manager v1.18.2 from Istio 1.28") == \
        ["Istio 1.28", "Istio 1.29.4", "cert-manager v1.18.2"]
    assert unpinned(f"Istio {versions.ISTIO_VERSION}, cert-manager {versions.CERT_MANAGER_VERSION}") == []


def test_the_design_notes_state_the_pins():
    """docs/design.md names the pin and the tag of the vendored definitions, the chart repository
    and the Kubernetes minors each component supports."""
    design = (ROOT / "docs" / "design.md").read_text()
    istio = set(re.findall(r"Istio\W{0,4}(\d+\.\d+\.\d+)", design))
    assert {versions.ISTIO_VERSION, versions.ISTIO_DEFINITIONS_VERSION} <= istio
    assert unpinned(design) == []
    platform = versions.PLATFORM_KUBERNETES_MINORS
    text = " ".join(design.split())
    assert f"The platform supports Kubernetes {platform[0]} to {platform[-1]}" in text
    istio_range, cm_range = versions.ISTIO_KUBERNETES_MINORS, versions.CERT_MANAGER_KUBERNETES_MINORS
    assert f"Istio {minor(versions.ISTIO_VERSION)}: {istio_range[0]} to {istio_range[-1]}" in text
    assert (f"cert-manager v{minor(versions.CERT_MANAGER_VERSION)}: {cm_range[0]} to {cm_range[-1]}"
            in text)
    assert versions.ISTIO_CHARTS in design


def test_the_platform_supports_the_kubernetes_minors_every_component_supports():
    platform = set(versions.PLATFORM_KUBERNETES_MINORS)
    assert platform == (set(versions.ISTIO_KUBERNETES_MINORS) & set(versions.CERT_MANAGER_KUBERNETES_MINORS)
                        & set(versions.GKE_KUBERNETES_MINORS))
    assert platform, "the pinned components share no Kubernetes minor"
    from preview.schemas import KUBERNETES_VERSION
    assert KUBERNETES_VERSION == versions.PLATFORM_KUBERNETES_MINORS[0]


def test_the_vendored_istio_definitions_are_of_the_pinned_minor():
    assert minor(versions.ISTIO_DEFINITIONS_VERSION) == minor(versions.ISTIO_VERSION)
    assert versions.ISTIO_VERSIONS[versions.ISTIO_VERSION] == versions.ISTIO_DEFINITIONS_VERSION
    for version, tag in versions.ISTIO_VERSIONS.items():  # each installable version's own minor
        assert minor(tag) == minor(version), version
        assert (ROOT / "tests" / "charts" / "istio" / tag).is_dir() and (ROOT / "schemas" / "crds" / "istio" / tag).is_dir()


def test_every_chart_repository_and_registry_is_stated_once_in_versions():
    """No module but versions.py spells a chart repository or an image registry."""
    stated = {versions.ISTIO_CHARTS, versions.CERT_MANAGER_CHARTS, versions.ISTIO_HUB,
              f"{versions.CERT_MANAGER_REGISTRY}/{versions.CERT_MANAGER_IMAGE_NAMESPACE}"}
    retired = ("istio-release.storage.googleapis.com", "gcr.io/istio-release", "registry.istio.io")
    for path in [*ROOT.glob("components/**/*.py"), *ROOT.glob("bootstrap/*.py"),
                 *ROOT.glob("preview/*.py"), *ROOT.glob("policy/*.py"), *ROOT.glob("tools/*.py")]:
        text = path.read_text()
        for retired_host in retired:
            assert path.name == "versions.py" and "retire" in text or retired_host not in text, \
                f"{path}: {retired_host} is retired (December 2026)"
        if path.name != "versions.py":
            for value in stated:
                assert f'"{value}' not in text, f"{path} spells {value}: use components/versions.py"


def test_every_release_is_at_its_pin(plans, example_plans):
    pins = {**dict.fromkeys(versions.ISTIO_CHART_NAMES, versions.ISTIO_VERSION),
            "cert-manager": versions.CERT_MANAGER_VERSION}
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


def test_the_pinned_image_names_are_the_vendored_charts_defaults():
    """The images the daily run checks the registries for (tools/ci.py upstream-findings) are
    those the pinned charts deploy: their default names in the vendored values."""
    istio = "".join(path.read_text() for path in sorted((ROOT / "tests" / "charts" / "istio" / versions.ISTIO_DEFINITIONS_VERSION).glob("*/values.yaml")))
    assert {name for name in versions.ISTIO_IMAGES if re.search(rf"^\s*image: {name}$", istio, re.M)} == \
        set(versions.ISTIO_IMAGES)
    cert_manager = (ROOT / "tests" / "charts" / "cert-manager" / "values.yaml").read_text()
    named = set(re.findall(r"^\s+name: (cert-manager-[a-z]+)$", cert_manager, re.M))
    assert set(versions.CERT_MANAGER_IMAGES) == named - {"cert-manager-acmesolver"}
