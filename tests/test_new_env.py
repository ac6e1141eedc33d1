"""`make new-env`: a new attached stack from a template, previewed, with no platform resource.

Each test reads its own input: a project of the owner's stack file as it is here and the
templates below, written as this module's own stack files; what a test expects of the new stack
is derived from those and from the owner's config, never from the shipped attached stack files
(an owner may edit or delete them).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import OWNER, ROOT, scratch_stack_name
from stackfiles import NS

from tools.new_env import DEFAULT_TEMPLATE, PLATFORM_TYPES, main

# The default template (written as Pulumi.test.yaml): comments to keep, owners and egress not to.
TEMPLATE = """\
# The template's own header: it describes the template, not the new stack.
config:
  istio-envs:attachTo: {owner}
  istio-envs:environment:
    routes:
      - {{path: /catalog, service: catalog, port: 8080}}
      - {{path: /cart, service: cart, port: 9090}}
    auth:
      issuer: https://issuer.example.net/
      jwksUri: https://issuer.example.net/.well-known/jwks.json
      # The template's comment on its audience line.
      audiences: [https://{name}.api.{domain}]
    quota: {{cpu: "2", memory: 4Gi, pods: 20}}
    owners: [user:alice@example.com]
    egress:
      - {{host: api.example.net}}
    demo: true
"""
# Another template (FROM=), as different from the default one as an environment can be.
OTHER = """\
config:
  istio-envs:attachTo: {owner}
  istio-envs:environment:
    routes:
      - {{path: /ledger, service: ledger, port: 7070}}
    auth:
      issuer: https://other-issuer.example.net/
      jwksUri: https://other-issuer.example.net/jwks.json
      audiences: [https://{name}.api.{domain}]
    demo: false
"""


@pytest.fixture
def domain(configs) -> str:
    return configs[OWNER].platform.domain


@pytest.fixture
def owner_plan(plans, build_dir) -> Path:
    """The owner's preview of this session: the owner's stack file below is the same file."""
    return build_dir / OWNER


def project(tmp_path: Path, domain: str, templates: dict[str, str] | None = None, owner_plan: Path | None = None):
    """The owner's stack file as it is here and this module's templates (``name -> text``;
    default: TEMPLATE as the default template), nothing else; with ``owner_plan``, the owner's
    preview in the build folder (else `make new-env` previews the owner first)."""
    (tmp_path / f"Pulumi.{OWNER}.yaml").write_text((ROOT / f"Pulumi.{OWNER}.yaml").read_text())
    for name, text in (templates or {DEFAULT_TEMPLATE: TEMPLATE}).items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text.format(owner=OWNER, name=name, domain=domain))
    if owner_plan:
        shutil.copytree(owner_plan, tmp_path / "build" / OWNER)
    return tmp_path


def edit(path: Path, change) -> None:
    """Change a stack file's ``istio-envs:environment`` (a re-dump: its comments go)."""
    document = yaml.safe_load(path.read_text())
    change(document["config"][f"{NS}:environment"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def environment(project_dir: Path, name: str) -> dict:
    return yaml.safe_load((project_dir / f"Pulumi.{name}.yaml").read_text())["config"][f"{NS}:environment"]


def run(tmp_path, capsys, *args):
    code = main([*args, "--project-dir", str(tmp_path), "--build-dir", str(tmp_path / "build")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_new_environment_is_attached_previewed_and_platform_free(tmp_path, capsys, domain, owner_plan):
    """From a template created with the team's provider (its own wrapped data key, which the new
    stack must not share), two of the three quota options given."""
    template_file = project(tmp_path, domain, owner_plan=owner_plan) / f"Pulumi.{DEFAULT_TEMPLATE}.yaml"
    template_file.write_text(template_file.read_text() + (
        "secretsprovider: gcpkms://projects/p/locations/l/keyRings/pulumi/cryptoKeys/stack-secrets\n"
        "encryptedkey: CiQAtest-wrapped-data-key\n"))
    name = scratch_stack_name(tmp_path)
    code, out, err = run(tmp_path, capsys, name, "--quota-cpu", "1", "--quota-pods", "10")
    assert code == 0, err
    text = (tmp_path / f"Pulumi.{name}.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    assert config[f"{NS}:attachTo"] == OWNER
    mine, template = config[f"{NS}:environment"], environment(tmp_path, DEFAULT_TEMPLATE)
    assert mine["auth"]["audiences"] == [f"https://{name}.api.{domain}"]
    assert mine["auth"]["issuer"] == template["auth"]["issuer"]
    assert (mine["routes"], mine["demo"]) == (template["routes"], True)
    assert mine["quota"] == {**template["quota"], "cpu": "1", "pods": 10}
    plan = yaml.safe_load((tmp_path / "build" / name / "plan.json").read_text())
    assert plan["outputs"]["host"] == f"{name}.api.{domain}"
    quota = next(r for r in plan["resources"] if r["type"] == "kubernetes:core/v1:ResourceQuota")
    hard = quota["inputs"]["spec"]["hard"]
    assert (hard["requests.cpu"], hard["requests.memory"], hard["pods"]) == ("1", template["quota"]["memory"], "10")
    assert not [r for r in plan["resources"] if r["type"].startswith(PLATFORM_TYPES)]
    assert "no cluster-level resource" in out
    # Who deploys into it and what it calls out to are its own choices: the template's owners
    # get no rights in the new namespace, its egress is not opened.
    assert "owners" not in mine and "egress" not in mine
    assert not [r for r in plan["resources"] if r["type"].endswith((":RoleBinding", ":ServiceEntry"))]
    # The template's comment on its audience line is kept (a round-trip edit, not a re-dump);
    # its own header, which describes the template, is replaced by this stack's.
    assert "# The template's comment on its audience line." in text
    assert "The template's own header" not in text and text.startswith(f"# Environment {name}:")
    assert "secretsprovider" not in text and "encryptedkey" not in text
    assert "secretsprovider" in template_file.read_text()
    steps = out.split("next:", 1)[1]
    assert f"edit Pulumi.{name}.yaml" in steps and f"make preview STACK={name}" in steps
    assert "pull request" in steps and "--secrets-provider" in steps
    assert "pulumi stack init qa && pulumi up" not in out


def test_the_default_template_is_test_whatever_stack_files_sort_before_it(tmp_path, capsys, domain, owner_plan):
    """After `make new-env ENV=alpha FROM=uat`, `make new-env ENV=beta` still copies test (it used
    to copy the alphabetically first attached stack: alpha, with uat's routes and no demo);
    FROM= names any other."""
    project(tmp_path, domain, {DEFAULT_TEMPLATE: TEMPLATE, "uat": OTHER}, owner_plan)
    alpha, beta, gamma = (scratch_stack_name(tmp_path, wanted) for wanted in ("alpha", "beta", "gamma"))
    assert sorted([alpha, DEFAULT_TEMPLATE]) == [alpha, DEFAULT_TEMPLATE]
    code, _, err = run(tmp_path, capsys, alpha, "--from", "uat")
    assert code == 0, err
    assert environment(tmp_path, alpha)["routes"] == environment(tmp_path, "uat")["routes"]

    code, _, err = run(tmp_path, capsys, beta)
    assert code == 0, err
    template = environment(tmp_path, DEFAULT_TEMPLATE)
    mine = environment(tmp_path, beta)
    assert (mine["routes"], mine["demo"]) == (template["routes"], True)
    text = (tmp_path / f"Pulumi.{beta}.yaml").read_text()
    assert f"from Pulumi.{DEFAULT_TEMPLATE}.yaml" in text and alpha not in text

    code, _, err = run(tmp_path, capsys, gamma, "--from", alpha)
    assert code == 0, err
    assert environment(tmp_path, gamma)["routes"] == environment(tmp_path, alpha)["routes"]
    assert f"from Pulumi.{alpha}.yaml" in (tmp_path / f"Pulumi.{gamma}.yaml").read_text()


def test_without_a_test_stack_from_is_required(tmp_path, capsys, domain):
    project(tmp_path, domain, {"uat": OTHER})
    name = scratch_stack_name(tmp_path)
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and "Traceback" not in err
    assert f"no Pulumi.{DEFAULT_TEMPLATE}.yaml, the default template; name one with FROM=<stack>: uat" in err
    assert not (tmp_path / f"Pulumi.{name}.yaml").exists()


@pytest.mark.parametrize("name, expected", [
    ("QA_1", "not a DNS label"),
    ("1qa", "not a DNS label"),
    ("kube-system", "reserved namespace"),
    ("istio-system", "reserved namespace"),
    (DEFAULT_TEMPLATE, f"Pulumi.{DEFAULT_TEMPLATE}.yaml already exists"),
    (OWNER, f"Pulumi.{OWNER}.yaml already exists"),
])
def test_refused_names(tmp_path, capsys, domain, name, expected):
    project(tmp_path, domain)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and expected in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_name_taken_by_another_stacks_environment(tmp_path, capsys, domain):
    project(tmp_path, domain)
    name = scratch_stack_name(tmp_path, "perf")
    edit(tmp_path / f"Pulumi.{DEFAULT_TEMPLATE}.yaml", lambda env: env.update(name=name))
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and f"already the environment of Pulumi.{DEFAULT_TEMPLATE}.yaml" in err


def test_a_stack_the_program_refuses_is_not_kept(tmp_path, capsys, domain):
    # Another stack already accepts the audience the new one would get.
    project(tmp_path, domain)
    name = scratch_stack_name(tmp_path)
    edit(tmp_path / f"Pulumi.{DEFAULT_TEMPLATE}.yaml",
         lambda env: env["auth"].update(audiences=[f"https://{name}.api.{domain}"]))
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and "istio-envs:environment.auth.audiences" in err and "not kept" in err
    assert not (tmp_path / f"Pulumi.{name}.yaml").exists()


def test_make_passes_every_option_through(capsys):
    """`make new-env` hands each variable its usage text names to tools.new_env."""
    done = subprocess.run(["make", "-n", "new-env", "ENV=qa", "FROM=uat", "QUOTA_CPU=1",
                           "QUOTA_MEMORY=2Gi", "QUOTA_PODS=10"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    (command,) = [line for line in done.stdout.splitlines() if "tools.new_env" in line]
    assert command.split("tools.new_env", 1)[1].split() == [
        "qa", "--from", "uat", "--quota-cpu", "1", "--quota-memory", "2Gi", "--quota-pods", "10"]
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    for variable in ("ENV=", "FROM=", "QUOTA_CPU=", "QUOTA_MEMORY=", "QUOTA_PODS="):
        assert variable in usage
    assert f"(default: {DEFAULT_TEMPLATE})" in usage
