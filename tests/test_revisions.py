"""Revision-based Istio (issue #23): one istiod per revision, named after its version, with the
revision tags environments select; every environment namespace selects a tag, and its pods and
outputs say which revision that is."""

from __future__ import annotations

import pytest
from conftest import DEMO_STACKS, OWNER, ROOT, SHIPPED_STACKS, STACKS, named, of_type

from components.demo import REVISION_ANNOTATION
from components.istio import LEGACY_INJECTION_LABEL, MESH_TAGS, REVISION_LABEL, revision_name
from components.versions import ISTIO_VERSIONS

RELEASE = "kubernetes:helm.sh/v3:Release"


def releases(plan: dict, chart: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == RELEASE and r["inputs"]["chart"] == chart]


def installed(plan: dict) -> dict[str, dict]:
    """revision -> its istiod release's inputs."""
    return {r["inputs"]["values"]["revision"]: r for r in releases(plan, "istiod")}


def tag_of(stack: str) -> str:
    return STACKS[stack].environment.get("meshRevision", "stable")


def test_each_revision_is_an_istiod_release_named_after_its_version(plans, configs):
    plan, mesh = plans[OWNER], configs[OWNER].platform.mesh
    found = installed(plan)
    assert set(found) == {revision_name(r.version) for r in mesh.revisions}
    for revision in mesh.revisions:
        release = found[revision.name]["inputs"]
        assert release["name"] == f"istiod-{revision.name}" and release["version"] == revision.version
        assert release["values"]["revisionTags"] == list(revision.tags)
        assert release["values"]["global"]["tag"] == revision.version
    (base,) = releases(plan, "base")
    (gateway,) = releases(plan, "gateway")
    (cni,) = releases(plan, "cni")
    # CRDs at the newest revision, the default validator and the gateway on stable, CNI at the oldest.
    assert base["inputs"]["version"] == mesh.newest.version
    assert base["inputs"]["values"]["defaultRevision"] == mesh.stable.name
    assert gateway["inputs"]["values"]["revision"] == mesh.stable.name
    assert gateway["inputs"]["version"] == mesh.stable.version
    assert cni["inputs"]["version"] == mesh.oldest.version
    for release in found.values():
        assert base["urn"] in release["dependencies"] and cni["urn"] in release["dependencies"]
        assert release["urn"] in gateway["dependencies"]


def test_the_stable_revision_takes_the_unrevisioned_istiods_place_in_state(plans, configs):
    """Before revisions there was one release, `platform-mesh-istiod`: the stable revision's
    release names it as an alias, so `pulumi up` replaces it rather than leaving it behind."""
    mesh = configs[OWNER].platform.mesh
    for revision, release in installed(plans[OWNER]).items():
        expected = ["name=platform-mesh-istiod"] if revision == mesh.stable.name else []
        assert release["aliases"] == expected, revision


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_environment_namespace_selects_a_revision_tag(plans, configs, stack):
    """By the tag (the owner installs it); no namespace of any stack has the legacy label."""
    labels = named(plans[stack], "core/v1:Namespace", configs[stack].environment.namespace)["inputs"]["metadata"]["labels"]
    assert labels[REVISION_LABEL] == tag_of(stack) and labels[REVISION_LABEL] in MESH_TAGS
    for resource in of_type(plans[stack], "core/v1:Namespace"):
        assert LEGACY_INJECTION_LABEL not in (resource["inputs"]["metadata"].get("labels") or {})


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_environment_says_which_revision_its_pods_run_and_how_to_restart_them(
        build_dir, plans, configs, stack):
    """In its outputs and its summary; the demo names it on its pod template, so a move to another
    revision restarts the demo onto that proxy."""
    owner = STACKS[stack].owner or stack
    mesh = configs[owner].platform.mesh
    revision = mesh.tagged(tag_of(stack))
    out = plans[stack]["outputs"]["meshRevision"]
    namespace = configs[stack].environment.namespace
    assert {k: out[k] for k in ("tag", "revision", "version")} == {
        "tag": tag_of(stack), "revision": revision.name, "version": revision.version}
    assert out["restart"] == [
        f"kubectl rollout restart {kind} --namespace {namespace} --selector "
        "'app.kubernetes.io/managed-by!=istio-envs'" for kind in ("deployment", "statefulset")]
    summary = (build_dir / stack / "summary.md").read_text()
    assert (f"- Mesh: revision tag `{out['tag']}` → Istio {out['version']} (revision "
            f"`{out['revision']}`)") in summary
    if stack in DEMO_STACKS:
        deployment = named(plans[stack], "apps/v1:Deployment", "demo-echo")["inputs"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {REVISION_ANNOTATION: out["revision"]}


def test_the_owner_exports_every_revision(plans, configs):
    assert plans[OWNER]["outputs"]["meshRevisions"] == configs[OWNER].platform.mesh.outputs()


# --- during an upgrade (tests/upgrade.py): two revisions ---------------------------------------

def test_removing_the_revision_environments_use_is_refused(upgrade_projects, tmp_path):
    """After test and uat moved to canary, the owner drops the canary revision: the fleet check
    refuses each file on it, and so does the owner's policy rule, naming them (the negative case
    of `mesh-revisions-in-use-installed`)."""
    import shutil

    from upgrade import NEW, OLD, OWNER, mesh

    from components import fleet
    from policy.offline import check_plan
    from preview import owner_outputs, render
    from preview.engine import run_program

    project = shutil.copytree(upgrade_projects[2], tmp_path / "dropped")  # test, uat on canary
    owner_file = project / f"Pulumi.{OWNER}.yaml"
    plan = render.plan(run_program(project, OWNER, owner_outputs(tmp_path / "build")))
    assert check_plan(plan, project) == []
    owner_file.write_text(mesh((OLD, ("stable",)))(owner_file.read_text()))
    problems = {(p.stack_file, p.config_key) for p in fleet.check(project)}
    assert problems == {("Pulumi.test.yaml", "istio-envs:environment.meshRevision"),
                        ("Pulumi.uat.yaml", "istio-envs:environment.meshRevision")}, problems
    # The plan as it stood, its canary release's tag dropped (what the owner's next plan installs).
    for release in plan["resources"]:
        if release["type"] == RELEASE and release["inputs"]["values"].get("revision") == revision_name(NEW):
            release["inputs"]["values"]["revisionTags"] = []
    found = [v for v in check_plan(plan, project) if v.policy == "mesh-revisions-in-use-installed"]
    assert sorted(v.message.split(", selected by ")[1].split(",")[0] for v in found) == [
        "the environment of Pulumi.test.yaml", "the environment of Pulumi.uat.yaml"], found


@pytest.mark.parametrize("tag", sorted(set(ISTIO_VERSIONS.values())))
def test_what_the_revisions_rely_on_is_in_each_vendored_chart(tag):
    """components/mesh.py's reading of the charts, held to each installable version's templates."""
    charts = ROOT / "tests" / "charts" / "istio" / tag
    tags = (charts / "istiod" / "templates" / "revision-tags-mwc.yaml").read_text()
    # A tag's webhook: namespaces labelled istio.io/rev=<tag>, and only without istio-injection.
    assert "{{- range $tagName := $.Values.revisionTags }}" in tags
    assert "  name: istio-revision-tag-{{ $tagName }}" in tags
    assert ("    - key: istio.io/rev\n      operator: In\n      values:\n      - \"{{ $tagName }}\"\n"
            "    - key: istio-injection\n      operator: DoesNotExist") in tags
    # The default validator calls the defaultRevision's istiod (no unrevisioned Service exists).
    base = (charts / "base" / "templates" / "defaultrevision-validatingwebhookconfiguration.yaml").read_text()
    assert "        name: istiod-{{ .Values.defaultRevision }}" in base
    # The gateway's pods carry its revision: changing it changes the pod template.
    helpers = (charts / "gateway" / "templates" / "_helpers.tpl").read_text()
    assert "{{- with .Values.revision }}\nistio.io/rev: {{ . | quote }}" in helpers
    # The injector stamps the revision on the pod (what make verify reads).
    template = (charts / "istiod" / "files" / "injection-template.yaml").read_text()
    assert 'istio.io/rev: {{ .Revision | default "default" | quote }},' in template


def test_the_config_schema_offers_exactly_the_installable_versions():
    """The editor's enum and the validator both read components/versions.py ISTIO_VERSIONS."""
    from pydantic import ValidationError

    from components.config.mesh import MeshRevision
    from tools.config_reference import stack_file_schema

    assert stack_file_schema()["$defs"]["MeshRevision"]["properties"]["version"]["enum"] == list(ISTIO_VERSIONS)
    for version in ISTIO_VERSIONS:
        assert MeshRevision(version=version).version == version
    with pytest.raises(ValidationError, match="expected one of .*the Istio versions with vendored definitions"):
        MeshRevision(version="1.29.0")


def test_an_attached_stack_previews_against_an_owner_deployed_before_revisions(plans, tmp_path):
    """An owner that exports no meshRevisions yet (deployed before revisions): an attached stack's
    preview does not fail, and counts the pin, tagged stable (the owner deploys first)."""
    import json

    from components.versions import ISTIO_VERSION
    from preview import preview_stack

    stack = next(s for s in SHIPPED_STACKS if STACKS[s].owner == OWNER and tag_of(s) == "stable")
    older = json.loads(json.dumps(plans[OWNER]))
    older["outputs"].pop("meshRevisions")
    (tmp_path / OWNER).mkdir()
    (tmp_path / OWNER / "plan.json").write_text(json.dumps(older))
    out = preview_stack(stack, ROOT, tmp_path).plan["outputs"]["meshRevision"]
    assert (out["tag"], out["version"], out["revision"]) == ("stable", ISTIO_VERSION, revision_name(ISTIO_VERSION))
