"""Each workflow step's real command, in a virtualenv built from exactly what that step installs
(its lock file, or nothing for a step on the runner's bare python3): a step whose command needs
a package its install leaves out fails here as it would in the runner. The virtualenvs come from
uv's cache, which `make` fills from the same locks (seconds, no network), and are kept between runs
in pytest's cache folder, one per lock content (see ``locked_venv``)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import OWNER, ROOT
from stackfiles import write_project

WORKFLOWS = ROOT / ".github" / "workflows"
UV = str(Path(sys.executable).parent / "uv")


def build_venv(where: Path, requirements: str | None) -> Path:
    """A virtualenv holding ``requirements`` (a lock, hash-checked) and nothing else."""
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(where)], check=True, capture_output=True)
    python = where / "bin" / "python"
    if requirements:
        install = [UV, "pip", "install", "--quiet", "--python", str(python), "--require-hashes", "-r",
                   str(ROOT / requirements)]
        if subprocess.run([*install, "--offline"], capture_output=True).returncode != 0:
            done = subprocess.run(install, capture_output=True, text=True)  # a cold cache: from PyPI
            assert done.returncode == 0, done.stderr
    return python


def locked_venv(cache: Path, requirements: str) -> Path:
    """``build_venv(requirements)``, kept in ``cache`` between runs under the lock's content (and
    this interpreter): a changed lock gets a venv of its own, built afresh. A kept one is first
    synced to the lock (``uv pip sync``: anything the lock does not list is removed, so it holds
    exactly what a fresh one would); what it saves is the venv's compiled bytecode, which the
    first run of the program in a fresh venv spends seconds writing."""
    lock = ROOT / requirements
    key = hashlib.sha256(lock.read_bytes() + sys.version.encode() + sys.executable.encode()).hexdigest()[:16]
    stem = requirements.replace("/", "-").removesuffix(".txt")
    where = cache / f"{stem}@{key}"
    with open(cache / f"{stem}.lock", "w") as guard:  # the other xdist worker may want the same venv
        fcntl.flock(guard, fcntl.LOCK_EX)
        for old in cache.glob(f"{stem}@*"):  # (not "-": requirements-* would take requirements-tools-*)
            if old != where and old.is_dir():
                shutil.rmtree(old)  # a lock's earlier content
        python = where / "bin" / "python"
        if (where / ".complete").exists() and subprocess.run(
                [UV, "pip", "sync", "--quiet", "--offline", "--python", str(python), "--require-hashes",
                 str(lock)], capture_output=True).returncode == 0:
            return python
        shutil.rmtree(where, ignore_errors=True)
        python = build_venv(where, requirements)
        (where / ".complete").touch()
        return python


@pytest.fixture(scope="session")
def venv_cache(request, tmp_path_factory) -> Path:
    """pytest's cache folder (.pytest_cache/d/lock-venvs; `make clean` removes it), or a
    temporary one under -p no:cacheprovider."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("lock-venvs") if cache is not None else tmp_path_factory.mktemp("lock-venvs")


def steps() -> list[tuple[str, str, list[dict]]]:
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            found.append((path.name, job_id, job.get("steps", [])))
    return found


def installs_before(job_steps: list[dict], command: str) -> str | None:
    """The lock a job installs before the step running ``command`` (None: nothing)."""
    installed = None
    for step in job_steps:
        run = step.get("run", "")
        if run.startswith("pip install"):
            installed = shlex.split(run)[-1]
        if command in run:
            return installed
    raise AssertionError(command)


def test_each_tools_ci_step_runs_on_what_its_job_installs():
    """Which interpreter each `tools.ci` command runs on, read from the workflows: the bare
    runner's python3 only for the commands that import nothing outside the standard library."""
    bare, installed = set(), {}
    for name, job_id, job_steps in steps():
        for step in job_steps:
            words = shlex.split(step.get("run", "").split(">", 1)[0])
            if words[1:3] == ["-m", "tools.ci"]:
                lock = installs_before(job_steps, step["run"])
                if lock is None:
                    assert words[0] == "python3", f"{name} {job_id}"
                    bare.add(words[3])
                else:
                    installed.setdefault(lock, set()).add(words[3])
    assert bare == {"configured", "summaries", "pr-comment", "report", "stack-exists"}
    assert installed == {"requirements.txt": {"rollout", "existing", "classify", "destroy-guard", "upstream-findings"},
                         "requirements-tools.txt": {"pr-environment", "pr-environment-comment"}}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    return build_venv(tmp_path_factory.mktemp("bare"), None)


@pytest.fixture(scope="module")
def program_python(venv_cache) -> Path:
    return locked_venv(venv_cache, "requirements.txt")


def run(python: Path, *args: str, tmp: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    output, summary = tmp / "output", tmp / "summary"
    for path in (output, summary):
        path.write_text("")
    return subprocess.run([str(python), "-m", "tools.ci", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": os.environ["PATH"], "HOME": str(tmp), "GITHUB_OUTPUT": str(output),
                                            "GITHUB_STEP_SUMMARY": str(summary), **(env or {})})


def test_the_bare_runner_commands_need_nothing_installed(bare_python, tmp_path):
    done = run(bare_python, "configured", "--ref", "refs/heads/main", tmp=tmp_path,
               env={"PULUMI_BACKEND_URL": "gs://s", "GCP_WORKLOAD_IDENTITY_PROVIDER": "p",
                    "GCP_PREVIEW_SERVICE_ACCOUNT": "a"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "output").read_text() == "ready=true\n"
    listing = tmp_path / "stacks.json"
    listing.write_text(json.dumps([{"name": "organization/istio-envs/pr-7"}]))
    done = run(bare_python, "stack-exists", "--stack", "pr-7", "--existing", str(listing), tmp=tmp_path)
    assert done.returncode == 0 and (tmp_path / "output").read_text() == "exists=true\n", done.stderr
    done = run(bare_python, "summaries", str(tmp_path / "stacks.json"), tmp=tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_rollout_runs_on_the_program_lock(program_python, tmp_path):
    listing = tmp_path / "stacks.json"
    listing.write_text(json.dumps([{"name": "dev"}, {"name": "test"}, {"name": "uat"}]))
    done = run(program_python, "rollout", "--existing", str(listing), "--event", "workflow_dispatch", "--before", "",
               "--sha", "x", "--platform-stacks", '["dev"]', tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'owners=[{"stack": "dev", "upsert": false}]' in (tmp_path / "output").read_text()


def test_the_upstream_check_runs_on_the_program_lock(program_python, tmp_path):
    """operations.yml's upstream step reads the support table with the program's own model (pyyaml,
    pydantic): on the program's lock, with every host unreachable (a proxy nobody listens on, so
    nothing leaves this machine), it lists the table's findings and says what it could not
    check, and exits 1 for those."""
    proxy = "http://127.0.0.1:9"
    done = run(program_python, "upstream-findings", "--dry-run", "--today", "2030-01-01", tmp=tmp_path,
               env={"https_proxy": proxy, "HTTPS_PROXY": proxy, "no_proxy": "", "NO_PROXY": ""})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "::warning title=Upstream not checked::GET https://" in done.stdout
    assert "upstream: Istio " in done.stdout  # 2030: every pin past its end, or without one


@pytest.mark.long
def test_a_pull_requests_environment_is_written_on_the_tools_lock_and_not_without_it(venv_cache, program_python,
                                                                                    tmp_path, plans, build_dir):
    """preview-environment.yml's step, as the runner runs it: the tools lock holds what
    tools/new_env.py needs (ruamel.yaml, the schema checks of its preview); the program's lock
    alone, what the step used to install, fails on its first import. The owner's preview is this
    session's (the same stack file), as a runner's build folder would hold it."""
    (tmp_path / "project").mkdir()
    project = write_project(tmp_path / "project", lambda files: None)
    shutil.copytree(build_dir / OWNER, project / "build" / OWNER)
    tools = locked_venv(venv_cache, "requirements-tools.txt")
    done = run(tools, "--project-dir", str(project), "pr-environment", "--number", "42", tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    got = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert got == {"stack": "pr-42", "url": "https://pr-42.api.example.com"}
    written = yaml.safe_load((project / "Pulumi.pr-42.yaml").read_text())
    assert written["config"]["istio-envs:environment"]["quota"]["pods"] == 10
    (project / "Pulumi.pr-42.yaml").unlink()
    old = run(program_python, "--project-dir", str(project), "pr-environment", "--number", "42", tmp=tmp_path)
    assert old.returncode != 0 and "ModuleNotFoundError" in old.stderr


def test_the_policy_pack_loads_from_its_own_lock(venv_cache):
    """`make policy-venv` installs policy/requirements.txt alone: the pack and the project
    modules it loads import from it."""
    python = locked_venv(venv_cache, "policy/requirements.txt")
    done = subprocess.run([str(python), "-c", "import sys; sys.path[:0] = ['policy', '.']; import pack, rules; "
                           "print(len(pack.policies()))"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 5
