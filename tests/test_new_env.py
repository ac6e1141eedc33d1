"""`make new-env`: a new attached stack from a template, previewed, with no platform resource."""

from __future__ import annotations

import pytest
import yaml
from stackfiles import NS, set_key, write_project

from tools.new_env import PLATFORM_TYPES, main


def run(tmp_path, capsys, *args):
    code = main([*args, "--project-dir", str(tmp_path), "--build-dir", str(tmp_path / "build")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_new_environment_is_attached_previewed_and_platform_free(tmp_path, capsys):
    write_project(tmp_path, lambda files: None)
    code, out, err = run(tmp_path, capsys, "qa", "--from", "uat")
    assert code == 0, err
    config = yaml.safe_load((tmp_path / "Pulumi.qa.yaml").read_text())["config"]
    assert config[f"{NS}:attachTo"] == "dev"
    environment = config[f"{NS}:environment"]
    assert environment["auth"]["audiences"] == ["https://qa.api.example.com"]
    uat = yaml.safe_load((tmp_path / "Pulumi.uat.yaml").read_text())["config"][f"{NS}:environment"]
    assert environment["routes"] == uat["routes"]
    plan = yaml.safe_load((tmp_path / "build" / "qa" / "plan.json").read_text())
    assert not [r for r in plan["resources"] if r["type"].startswith(PLATFORM_TYPES)]
    assert "no cluster-level resource" in out


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
    write_project(tmp_path, set_key("environment.name", "perf", "uat"))
    code, _, err = run(tmp_path, capsys, "perf")
    assert code == 2 and "already the environment of Pulumi.uat.yaml" in err


def test_a_stack_the_program_refuses_is_not_kept(tmp_path, capsys):
    # Another stack already accepts the audience the new one would get.
    write_project(tmp_path, set_key("environment.auth.audiences", ["https://qa.api.example.com"], "uat"))
    code, _, err = run(tmp_path, capsys, "qa")
    assert code == 2 and "istio-envs:environment.auth.audiences" in err and "not kept" in err
    assert not (tmp_path / "Pulumi.qa.yaml").exists()
