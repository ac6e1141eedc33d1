"""`make new-env`: a new attached stack from a template, previewed, with no platform resource."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, scratch_stack_name
from stackfiles import NS, set_key, write_project

from tools.new_env import PLATFORM_TYPES, main


def run(tmp_path, capsys, *args):
    code = main([*args, "--project-dir", str(tmp_path), "--build-dir", str(tmp_path / "build")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_new_environment_is_attached_previewed_and_platform_free(tmp_path, capsys):
    write_project(tmp_path, lambda files: None)
    name = scratch_stack_name(tmp_path)
    code, out, err = run(tmp_path, capsys, name, "--from", "uat")
    assert code == 0, err
    config = yaml.safe_load((tmp_path / f"Pulumi.{name}.yaml").read_text())["config"]
    assert config[f"{NS}:attachTo"] == "dev"
    environment = config[f"{NS}:environment"]
    assert environment["auth"]["audiences"] == [f"https://{name}.api.example.com"]
    uat = yaml.safe_load((tmp_path / "Pulumi.uat.yaml").read_text())["config"][f"{NS}:environment"]
    assert environment["routes"] == uat["routes"]
    plan = yaml.safe_load((tmp_path / "build" / name / "plan.json").read_text())
    assert not [r for r in plan["resources"] if r["type"].startswith(PLATFORM_TYPES)]
    assert "no cluster-level resource" in out
    # Who deploys into it is its own choice: uat's owners get no rights in the new namespace.
    assert uat.get("owners") and "owners" not in environment
    assert not [r for r in plan["resources"] if r["type"].endswith(":RoleBinding")]


def test_pull_request_environment_with_smaller_quota(tmp_path, capsys):
    write_project(tmp_path, lambda files: None)
    code, _, err = run(tmp_path, capsys, "pr-123", "--quota-cpu", "1", "--quota-memory", "2Gi",
                       "--quota-pods", "10")
    assert code == 0, err
    plan = yaml.safe_load((tmp_path / "build" / "pr-123" / "plan.json").read_text())
    assert plan["outputs"]["host"] == "pr-123.api.example.com"
    quota = next(r for r in plan["resources"] if r["type"] == "kubernetes:core/v1:ResourceQuota")
    assert quota["inputs"]["spec"]["hard"]["requests.cpu"] == "1"
    assert quota["inputs"]["spec"]["hard"]["pods"] == "10"
    assert not [r for r in plan["resources"] if r["type"].startswith(PLATFORM_TYPES)]


@pytest.mark.parametrize("name, expected", [
    ("QA_1", "not a DNS label"),
    ("1qa", "not a DNS label"),
    ("kube-system", "reserved namespace"),
    ("istio-system", "reserved namespace"),
    ("uat", "Pulumi.uat.yaml already exists"),
])
def test_refused_names(tmp_path, capsys, name, expected):
    write_project(tmp_path, lambda files: None)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and expected in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_name_taken_by_another_stacks_environment(tmp_path, capsys):
    name = scratch_stack_name(tmp_path, "perf")
    write_project(tmp_path, set_key("environment.name", name, "uat"))
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and "already the environment of Pulumi.uat.yaml" in err


def test_a_stack_the_program_refuses_is_not_kept(tmp_path, capsys):
    # Another stack already accepts the audience the new one would get.
    name = scratch_stack_name(tmp_path)
    write_project(tmp_path, set_key("environment.auth.audiences", [f"https://{name}.api.example.com"], "uat"))
    code, _, err = run(tmp_path, capsys, name)
    assert code == 2 and "istio-envs:environment.auth.audiences" in err and "not kept" in err
    assert not (tmp_path / f"Pulumi.{name}.yaml").exists()


def test_the_template_keeps_its_comments_and_next_steps_are_the_real_ones(tmp_path, capsys):
    write_project(tmp_path, lambda files: None)
    (tmp_path / "Pulumi.test.yaml").write_text((ROOT / "Pulumi.test.yaml").read_text())
    name = scratch_stack_name(tmp_path)
    code, out, err = run(tmp_path, capsys, name, "--from", "test")
    assert code == 0, err
    text = (tmp_path / f"Pulumi.{name}.yaml").read_text()
    # The template's comment on its audience line is kept (a round-trip edit, not a re-dump);
    # its own header, which describes the template, is replaced by this stack's.
    assert "# Its own audience: a uat token is refused here." in text
    assert "test joins the platform" not in text and text.startswith(f"# Environment {name}:")
    steps = out.split("next:", 1)[1]
    assert f"edit Pulumi.{name}.yaml" in steps and f"make preview STACK={name}" in steps
    assert "pull request" in steps and "--secrets-provider" in steps
    assert "pulumi stack init qa && pulumi up" not in out


def test_make_passes_every_option_through(capsys):
    """`make new-env` hands each variable its usage text names to tools.new_env."""
    import subprocess

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


def test_the_template_s_data_key_is_not_copied(tmp_path, capsys):
    """A template created with the team's provider records its own wrapped data key; the new stack
    must get its own when it is created, not share the template's."""
    write_project(tmp_path, lambda files: files["Pulumi.test.yaml"].update({
        "secretsprovider": "gcpkms://projects/p/locations/l/keyRings/pulumi/cryptoKeys/stack-secrets",
        "encryptedkey": "CiQAtest-wrapped-data-key"}))
    name = scratch_stack_name(tmp_path)
    code, _, err = run(tmp_path, capsys, name, "--from", "test")
    assert code == 0, err
    text = (tmp_path / f"Pulumi.{name}.yaml").read_text()
    assert "secretsprovider" not in text and "encryptedkey" not in text
    assert "secretsprovider" in (tmp_path / "Pulumi.test.yaml").read_text()
