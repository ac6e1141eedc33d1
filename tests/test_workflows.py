"""The GitHub workflows: valid for actionlint, their cloud-free steps executed with the inputs a real
event gives (tests/gha.py runs them as a runner would; `pulumi` and the GitHub API are fakes on
this machine), and the identity rules: which job may use which identity, checked against the
bootstrap's own Workload Identity Federation (tests/ci_identity.py)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ci_identity import backend_plan, claims, impersonable
from conftest import ROOT, SHIPPED_STACKS, scratch_stack_name
from gha import (
    WORKFLOWS,
    StepRun,
    condition,
    context_for,
    fake_command,
    pull_request_event,
    push_event,
    run_step,
    triggers,
    workflow,
)
from stackfiles import write_project

from tools.stacks import stacks

ACTIONLINT = str(Path(sys.executable).parent / "actionlint")
NAMES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
DEPLOYING_ENVIRONMENTS = ("platform", "environments")


def jobs_of(name: str) -> dict[str, dict]:
    return workflow(name)["jobs"]


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith(action + "@")]


def pulumi_commands(job: dict) -> list[str]:
    return [s["with"]["command"] for s in uses(job, "pulumi/actions") if "with" in s and "command" in s["with"]]


def variables_in(value) -> set[str]:
    return set(re.findall(r"\bvars\.([A-Z0-9_]+)", json.dumps(value)))


@pytest.fixture(scope="module")
def backend(build_dir) -> dict:
    return backend_plan(build_dir)


@pytest.fixture(scope="module")
def github_variables(backend) -> dict[str, dict[str, str]]:
    """Where the bootstrap says each variable is set: "repository", or a GitHub environment."""
    return backend["outputs"]["githubVariables"]


# --- lint and hygiene ----------------------------------------------------------------------------

def test_actionlint_passes():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert len(files) == 5
    done = subprocess.run([ACTIONLINT, "-no-color", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ matrix.nope }}\n")
    done = subprocess.run([ACTIONLINT, "-no-color", str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "matrix" in done.stdout


@pytest.mark.parametrize("name", NAMES)
def test_no_key_no_pull_request_target_no_expression_inside_a_script(name):
    text = (WORKFLOWS / name).read_text()
    assert "credentials_json" not in text and "GOOGLE_CREDENTIALS" not in text
    assert "pull_request_target" not in triggers(workflow(name))
    for job_id, job in jobs_of(name).items():
        for step in job.get("steps", []):
            # Values reach scripts through env: an expression pasted into a script is a shell (or
            # Python) injection when it holds a branch name, a title or a stack file's name.
            assert "${{" not in step.get("run", ""), f"{name} {job_id}: {step.get('name') or step['run'][:40]}"


@pytest.mark.parametrize("name", NAMES)
def test_every_job_is_bounded_and_cached(name):
    document = workflow(name)
    for job_id, job in document["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, job_id
        for setup in uses(job, "actions/setup-python"):
            assert setup["with"]["cache"] == "pip", job_id
        if pulumi_commands(job):
            (cache,) = uses(job, "actions/cache")
            assert cache["with"]["path"] == "~/.pulumi/plugins", job_id
    if any(uses(job, "pulumi/actions") for job in document["jobs"].values()):
        assert document["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"


# --- identities ----------------------------------------------------------------------------------

def identity_violations(name: str, document: dict, github_variables: dict) -> list[str]:
    """Each job's identity rules: a variable only where it is set (the repository, or the job's own
    GitHub environment); `pulumi up`/`destroy` only in a job bound to a deploying environment; a
    pull-request-triggered job never with the platform identity, and with the environment identity
    only in the `environments` environment and never for a fork."""
    repository = set(github_variables["repository"])
    deploying = {v for env in DEPLOYING_ENVIRONMENTS for v in github_variables[env]}
    problems = []
    pr_triggered = any(t.startswith("pull_request") for t in triggers(document))
    for job_id, job in document["jobs"].items():
        where = f"{name} {job_id}"
        environment = job.get("environment")
        readable = repository | set(github_variables.get(environment, {}) if isinstance(environment, str) else {})
        for variable in sorted(variables_in(job) - readable):
            problems.append(f"{where}: vars.{variable} is not set where this job can read it")
        if set(pulumi_commands(job)) & {"up", "destroy"} and environment not in DEPLOYING_ENVIRONMENTS:
            problems.append(f"{where}: pulumi up/destroy outside a deploying GitHub environment")
        if pr_triggered and variables_in(job) & deploying:
            if name == "pull-request.yml" or environment != "environments":
                problems.append(f"{where}: a pull-request job with a deploying identity")
            for action in ("labeled", "synchronize", "closed", "unlabeled", "reopened"):
                event = pull_request_event(action, labels=("preview-env",), label="preview-env", fork=True)
                if condition(job, context_for(event)):
                    problems.append(f"{where}: runs with a deploying identity for a fork ({action})")
    return problems


def test_every_job_uses_only_the_identities_it_may(github_variables):
    problems = [p for name in NAMES for p in identity_violations(name, workflow(name), github_variables)]
    assert problems == []


def test_the_identity_rules_catch_a_deploying_identity_in_a_pull_request(github_variables):
    document = workflow("pull-request.yml")
    job = document["jobs"]["pulumi-preview"]
    (auth,) = uses(job, "google-github-actions/auth")
    auth["with"]["service_account"] = "${{ vars.GCP_PLATFORM_SERVICE_ACCOUNT }}"
    problems = identity_violations("pull-request.yml", document, github_variables)
    assert any("not set where this job can read it" in p for p in problems)
    assert any("a pull-request job with a deploying identity" in p for p in problems)
    preview_env = workflow("preview-environment.yml")
    del preview_env["jobs"]["up"]["if"]  # would run for forks too
    assert any("for a fork" in p for p in identity_violations("preview-environment.yml", preview_env,
                                                              github_variables))


def token_for(trigger: str, job: dict) -> dict[str, str]:
    environment = job.get("environment")
    ref = "refs/pull/7/merge" if trigger.startswith("pull_request") else "refs/heads/main"
    return claims(trigger, ref, environment if isinstance(environment, str) else None)


def test_each_job_token_opens_exactly_the_identity_it_uses(backend, github_variables):
    """Against the bootstrap's own pool: the token each job gets for each of its workflow's triggers
    is admitted and can impersonate the service account the job names."""
    emails = backend["outputs"]["serviceAccounts"]
    by_variable = {f"GCP_{identity.upper()}_SERVICE_ACCOUNT": email for identity, email in emails.items()}
    checked = 0
    for name in NAMES:
        document = workflow(name)
        for job_id, job in document["jobs"].items():
            for auth in uses(job, "google-github-actions/auth"):
                (variable,) = variables_in(auth["with"]["service_account"])
                for trigger in triggers(document):
                    allowed = impersonable(backend, token_for(trigger, job))
                    assert by_variable[variable] in allowed, f"{name} {job_id} on {trigger}: {allowed}"
                    checked += 1
    assert checked >= 12


@pytest.mark.parametrize("event, ref, environment, expected", [
    ("pull_request", "refs/pull/7/merge", None, {"preview"}),
    ("push", "refs/heads/main", None, {"preview"}),
    ("push", "refs/heads/main", "platform", {"preview", "platform"}),
    ("schedule", "refs/heads/main", "platform", {"preview", "platform"}),
    ("push", "refs/heads/main", "environments", {"preview", "environments"}),
    ("pull_request", "refs/pull/7/merge", "environments", {"preview", "environments"}),
    # A pull request that names the platform environment in its own workflow, or a branch that does.
    ("pull_request", "refs/pull/7/merge", "platform", set()),
    ("push", "refs/heads/topic", "platform", set()),
    ("push", "refs/heads/topic", "environments", set()),
])
def test_what_a_token_can_become(backend, event, ref, environment, expected):
    emails = backend["outputs"]["serviceAccounts"]
    got = impersonable(backend, claims(event, ref, environment))
    assert got == {emails[identity] for identity in expected}


def test_another_repository_becomes_nobody(backend):
    assert impersonable(backend, claims("push", "refs/heads/main", "platform", repository_id="1")) == set()
    assert impersonable(backend, claims("push", "refs/heads/main", owner_id="1")) == set()
    # Same numeric ids, another name in `sub` (a customised subject template): refused as well.
    assert impersonable(backend, claims("push", "refs/heads/main", "platform", repository="acme/other")) == set()


def jobs_that_run(jobs: dict[str, dict], context: dict) -> set[str]:
    """Jobs whose `if` holds, in needs order; a job whose `if` does not override the status check
    runs only when every job it needs ran."""
    running: set[str] = set()
    for job_id, job in jobs.items():  # workflows list jobs after the ones they need
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        overrides = any(word in str(job.get("if", "")) for word in ("always()", "cancelled()"))
        if (overrides or set(needs) <= running) and condition(job, context):
            running.add(job_id)
    return running


def test_forks_get_the_offline_checks_and_no_credentials():
    jobs = jobs_of("pull-request.yml")
    context = context_for(pull_request_event(fork=True), vars={"PULUMI_BACKEND_URL": "gs://state"})
    running = jobs_that_run(jobs, context)
    assert {"test", "stacks", "offline-preview"} <= running
    assert not running & {"comment", "real-stacks"}
    assert all(job.get("permissions", {}).get("id-token") != "write" for job_id, job in jobs.items()
               if job_id in running)
    same_repo = context_for(pull_request_event(), vars={"PULUMI_BACKEND_URL": "gs://state"})
    assert condition(jobs["real-stacks"], same_repo) and condition(jobs["comment"], same_repo)
    assert not condition(jobs["real-stacks"], context_for(pull_request_event(), vars={}))


# --- executed steps ------------------------------------------------------------------------------

FAKE_PULUMI = '''
import json, os, pathlib, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[:2] == ["stack", "ls"]:
    print(json.dumps([{"name": n, "current": False} for n in json.loads(os.environ["FAKE_STACKS"])]))
elif args and args[0] == "preview":
    sys.stdout.write(os.environ.get("FAKE_PREVIEW", ""))
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
'''


def fake_pulumi(tmp_path: Path, existing: list[str], **extra: str) -> tuple[list[Path], dict[str, str]]:
    bin_dir = fake_command(tmp_path / "bin", "pulumi", FAKE_PULUMI)
    log = tmp_path / "pulumi.log"
    return [bin_dir], {"FAKE_LOG": str(log), "FAKE_STACKS": json.dumps(existing), **extra}


def pulumi_calls(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["FAKE_LOG"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_backend_listing_logs_in_and_lists(tmp_path):
    steps = [(name, job_id) for name in NAMES for job_id, job in jobs_of(name).items()
             for s in job["steps"] if s.get("name") == "The stacks that exist in the backend"]
    assert {name for name, _ in steps} == {"pull-request.yml", "deploy.yml", "operations.yml"}
    for name, job_id in steps:
        work = tmp_path / f"{name}-{job_id}"
        path, env = fake_pulumi(work, ["organization/istio-envs/dev", "test"])
        context = context_for(push_event(), vars={"PULUMI_BACKEND_URL": "gs://acme-state"})
        done = run_step(workflow(name), job_id, "The stacks that exist in the backend", context, ROOT,
                        work, path, env)
        assert done.returncode == 0, done.stderr
        assert pulumi_calls(env) == [["login", "gs://acme-state"], ["stack", "ls", "--json"]]
        listed = json.loads((work / "runner-temp" / "existing.json").read_text())
        assert [s["name"] for s in listed] == ["organization/istio-envs/dev", "test"]


def write_existing(tmp_path: Path, names: list[str]) -> None:
    (tmp_path / "runner-temp").mkdir(parents=True, exist_ok=True)
    (tmp_path / "runner-temp" / "existing.json").write_text(json.dumps([{"name": n} for n in names]))


def test_the_real_preview_skips_a_stack_the_pull_request_adds(tmp_path):
    write_existing(tmp_path, ["organization/istio-envs/dev", "test"])
    context = context_for(pull_request_event(), needs={"stacks": {"outputs": {"all": '["dev", "test", "qa"]'}}})
    done = run_step(workflow("pull-request.yml"), "real-stacks", "filter", context, ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.outputs["stacks"]) == ["dev", "test"]
    assert "::notice title=No stack qa yet::" in done.stdout


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "HOME": str(cwd),
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                               "PATH": "/usr/bin:/bin"}).stdout.strip()


def test_a_push_creates_only_the_stacks_whose_files_it_adds(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "Pulumi.yaml").write_text("name: x\n")
    (repo / "Pulumi.dev.yaml").write_text("config: {}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    before = git(repo, "rev-parse", "HEAD")
    (repo / "Pulumi.qa.yaml").write_text("config: {}\n")
    (repo / "Pulumi.dev.yaml").write_text("config: {a: 1}\n")
    (repo / "examples").mkdir()
    (repo / "examples" / "Pulumi.demo.yaml").write_text("config: {}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "two")
    sha = git(repo, "rev-parse", "HEAD")
    document = workflow("deploy.yml")

    def added(github: dict) -> StepRun:
        return run_step(document, "stacks", "added", context_for(github), repo, tmp_path)

    done = added(push_event(before, sha))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.outputs["added"]) == ["qa"]
    assert json.loads(added(push_event("0" * 40, sha)).outputs["added"]) == ["dev", "qa"]
    gone = added(push_event("f" * 40, sha))
    assert json.loads(gone.outputs["added"]) == [] and "::warning title=Unknown previous commit" in gone.stdout
    assert json.loads(added({"event_name": "workflow_dispatch", "event": {}}).outputs["added"]) == []



def test_rollout_plan_updates_creates_and_skips(tmp_path):
    """dev and test exist; uat was destroyed (its file is still here); qa is added by this push; a
    MUTUAL environment named in `create` goes to the platform identity's job."""
    (tmp_path / "project").mkdir()
    project = write_project(tmp_path / "project", lambda files: files.update({
        "Pulumi.qa.yaml": {**files["Pulumi.test.yaml"]},
        "Pulumi.partner.yaml": {"config": {"istio-envs:attachTo": "dev", "istio-envs:environment": {
            **files["Pulumi.test.yaml"]["config"]["istio-envs:environment"], "tls": {"mode": "MUTUAL"}}}}}))
    write_existing(tmp_path, ["organization/istio-envs/dev", "test"])
    context = context_for(push_event(), inputs={"create": " partner "},
                          steps={"added": {"outputs": {"added": '["qa"]'}}})
    done = run_step(workflow("deploy.yml"), "stacks", "plan", context, project, tmp_path,
                    extra_env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.outputs["owners"]) == [{"stack": "dev", "upsert": False}]
    assert json.loads(done.outputs["attached"]) == [{"stack": "qa", "upsert": True}, {"stack": "test", "upsert": False}]
    assert json.loads(done.outputs["gateway"]) == [{"stack": "partner", "upsert": True}]
    assert "::warning title=Stack uat skipped::" in done.stdout and "uat" not in done.outputs["attached"]
    assert "qa (new)" in done.summary


def test_deploy_rolls_out_owner_first_then_attached_one_run_per_stack():
    jobs = jobs_of("deploy.yml")
    for job_id, environment, variable in (("owner", "platform", "GCP_PLATFORM_SERVICE_ACCOUNT"),
                                          ("attached", "environments", "GCP_ENVIRONMENTS_SERVICE_ACCOUNT"),
                                          ("gateway-attached", "platform", "GCP_PLATFORM_SERVICE_ACCOUNT")):
        job = jobs[job_id]
        assert job["environment"] == environment and variable in variables_in(job)
        assert job["concurrency"] == {"group": "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": False}
        (pulumi,) = uses(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["upsert"] == "${{ matrix.upsert }}"
        assert pulumi["with"]["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
        assert pulumi["with"]["policyPacks"] == "policy"
        key = job_id.split("-")[0] if job_id != "owner" else "owners"
        assert job["strategy"]["matrix"]["include"] == f"${{{{ fromJSON(needs.stacks.outputs.{key}) }}}}"
        if job_id != "owner":
            assert "owner" in job["needs"]


@pytest.mark.parametrize("owner_result, test_result, runs", [
    ("success", "success", True), ("skipped", "success", True),
    ("failure", "success", False), ("skipped", "failure", False)])
def test_attached_stacks_wait_for_the_owners_and_the_tests(owner_result, test_result, runs):
    job = jobs_of("deploy.yml")["attached"]
    needs = {"test": {"result": test_result}, "owner": {"result": owner_result},
             "stacks": {"result": "success", "outputs": {"attached": '[{"stack": "test", "upsert": false}]'}}}
    assert condition(job, context_for(push_event(), needs=needs)) is runs


def test_rollout_matrix_comes_from_the_stack_files(tmp_path):
    found = stacks(ROOT)
    assert "dev" in found["owners"] and {"test", "uat"} <= set(found["attached"])
    assert sorted(found["owners"] + found["attached"]) == SHIPPED_STACKS
    name = scratch_stack_name(tmp_path)
    project = write_project(tmp_path, lambda files: files.update({
        f"Pulumi.{name}.yaml": {**files["Pulumi.test.yaml"]}}))
    assert stacks(project)["attached"] == sorted([*found["attached"], name])


GUARD = "Refuse anything but an attached stack that stays in its namespace"


@pytest.mark.parametrize("folder, stack, passes, says", [
    (".", "test", True, "test: attached to dev"),
    (".", "dev", False, "'dev' is not an attached stack"),
    ("examples/mutual", "partner", False, "partner is MUTUAL"),
])
def test_destroy_guard(tmp_path, folder, stack, passes, says):
    context = context_for({"event_name": "workflow_dispatch"}, inputs={"stack": stack})
    done = run_step(workflow("destroy-environment.yml"), "destroy", GUARD, context, ROOT / folder, tmp_path,
                    extra_env={"PYTHONPATH": str(ROOT)})
    assert (done.returncode == 0) is passes, done.stderr
    assert says in done.stdout + done.stderr


def test_destroy_jobs_can_reach_the_cluster():
    for name, job_id in (("destroy-environment.yml", "destroy"), ("preview-environment.yml", "down")):
        job = jobs_of(name)[job_id]
        assert "destroy" in pulumi_commands(job)
        (gcloud,) = uses(job, "google-github-actions/setup-gcloud")
        assert gcloud["with"]["install_components"] == "gke-gcloud-auth-plugin"
        steps = [s.get("uses", "").split("@")[0] for s in job["steps"]]
        assert steps.index("google-github-actions/auth") < steps.index("google-github-actions/setup-gcloud")


# --- the policy pack's environment ---------------------------------------------------------------

POLICY_VENV = "Policy pack environment (PulumiPolicy.yaml's virtualenv; Pulumi installs nothing for a pack)"
FAKE_PYTHON = '''
import json, os, pathlib, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([sys.argv[0], *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["-m", "venv"]:
    interpreter = pathlib.Path(sys.argv[3]) / "bin" / "python"
    interpreter.parent.mkdir(parents=True)
    interpreter.write_text(pathlib.Path(sys.argv[0]).read_text())
    interpreter.chmod(0o755)
'''


def test_every_policy_pack_job_makes_the_virtualenv_the_pack_names(tmp_path):
    virtualenv = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    jobs = [(name, job_id) for name in NAMES for job_id, job in jobs_of(name).items()
            if any(s.get("with", {}).get("policyPacks") for s in uses(job, "pulumi/actions"))]
    assert len(jobs) >= 6
    for name, job_id in jobs:
        steps = jobs_of(name)[job_id]["steps"]
        names = [s.get("name") for s in steps]
        pulumi_at = max(i for i, s in enumerate(steps) if s.get("with", {}).get("policyPacks"))
        assert POLICY_VENV in names[:pulumi_at], f"{name} {job_id}"
    work = tmp_path / "work"
    shutil.copytree(ROOT / "policy", work / "policy", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    bin_dir = fake_command(tmp_path / "bin", "python", FAKE_PYTHON)
    log = tmp_path / "python.log"
    done = run_step(workflow("deploy.yml"), "owner", POLICY_VENV, context_for(push_event()), work, tmp_path,
                    [bin_dir], {"FAKE_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0][1:] == ["-m", "venv", f"policy/{virtualenv}"]
    assert calls[1][0] == f"policy/{virtualenv}/bin/python"
    assert calls[1][1:] == ["-m", "pip", "install", "--quiet", "-r", "policy/requirements.txt"]


def _distribution_closure(requirements: list[str]) -> set[str]:
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen, todo = set(), [norm(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(norm(re.split(r"[<>=!~;\[ (]", requirement, maxsplit=1)[0]))
    return seen


def test_the_pack_requirements_cover_what_the_pack_imports():
    """The policy venv holds policy/requirements.txt alone: every third-party module that the pack
    and the project modules it loads import comes from it (or what it depends on)."""
    lines = [line.strip() for line in (ROOT / "policy" / "requirements.txt").read_text().splitlines()]
    closure = _distribution_closure([line for line in lines if line and not line.startswith("#")])
    sources = [ROOT / "policy" / f for f in ("__main__.py", "pack.py", "rules.py")] + [
        ROOT / "components" / f for f in ("__init__.py", "stackset.py", "errors.py")]
    modules = {m for path in sources for m in re.findall(r"^\s*(?:from|import) ([a-z_]\w*)", path.read_text(), re.M)}
    third_party = modules - set(sys.stdlib_module_names) - {"pack", "rules", "components", "policy"}
    assert third_party >= {"pulumi_policy", "yaml"}
    distributions = importlib.metadata.packages_distributions()
    for module in sorted(third_party):
        assert {re.sub(r"[-_.]+", "-", d).lower() for d in distributions[module]} & closure, module


# --- pull-request comments -----------------------------------------------------------------------

@contextmanager
def github_api(responses: dict[tuple[str, str], tuple[object, dict]]):
    """A local GitHub REST stand-in: (method, path without query) -> (JSON body, headers)."""
    requests: list[tuple[str, str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            requests.append((self.command, self.path, body))
            assert self.headers["Authorization"] == "Bearer test-token"
            answer, headers = responses.get((self.command, self.path.split("?")[0]), ({}, {}))
            data = json.dumps(answer).encode()
            self.send_response(200)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value.format(base=base))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = handle_one

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield base, requests
    finally:
        server.shutdown()
        server.server_close()


def test_the_revision_diff_step_runs_offline_and_fails_on_a_blocking_risk(tmp_path):
    """The step calls `make diff-rev` against the base branch with the repository's blocking
    classes; its markdown reaches the run page, and its exit code 3 fails the job."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "make").write_text('#!/bin/sh\necho "$@" > "$RUNNER_TEMP/args"\n'
                               'echo "**Risks (1)**"\nexit 3\n')
    (fake / "make").chmod(0o755)
    context = context_for(pull_request_event())
    done = run_step(workflow("pull-request.yml"), "revision-diff",
                    "Offline revision diff against the base branch", context, tmp_path, tmp_path,
                    path=[fake])
    assert done.returncode == 3
    assert "**Risks (1)**" in done.summary and "**Risks (1)**" in (tmp_path / "revdiff.md").read_text()
    args = (tmp_path / "runner-temp" / "args").read_text().split()
    assert args[:2] == ["--no-print-directory", "diff-rev"] and "FORMAT=--markdown" in args
    assert any(a.startswith("BASE=origin/") for a in args) and "FAIL_ON=protected-delete" in args
    job = workflow("pull-request.yml")["jobs"]["revision-diff"]
    assert not any("google-github-actions" in st.get("uses", "") for st in job["steps"])  # forks too


FAKE_PREVIEW_ALL = '''
import pathlib, sys
assert sys.argv[1:] == ["preview-all"], sys.argv
for stack in ("dev", "test"):
    (pathlib.Path("build") / stack).mkdir(parents=True)
    (pathlib.Path("build") / stack / "summary.md").write_text(f"## {stack}\\n")
pathlib.Path("build/summary.md").write_text("# Offline preview of every stack\\n| `uat` | **failed** |\\n")
sys.exit(1)
'''


def test_the_offline_preview_is_one_job_and_its_summaries_reach_the_run_page_and_the_comment(tmp_path):
    """One `make preview-all` (no matrix): the fleet table and each stack's summary on the run page,
    its exit code the job's, and the artifact the comment job downloads holds them all."""
    jobs = jobs_of("pull-request.yml")
    job = jobs["offline-preview"]
    assert "strategy" not in job and "needs" not in job
    context = context_for(pull_request_event(fork=True))
    done = run_step(workflow("pull-request.yml"), "offline-preview", "Offline preview and policy pack of every "
                    "stack, summaries on the run page (all a fork's pull request gets)", context, tmp_path,
                    tmp_path, path=[fake_command(tmp_path / "bin", "make", FAKE_PREVIEW_ALL)])
    assert done.returncode == 1, done.stderr
    assert done.summary.index("| `uat` | **failed** |") < done.summary.index("## dev") < done.summary.index("## test")
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["if"] == "always()"  # a failed stack's run still shows the others
    assert upload["with"]["path"].split() == ["build/summary.md", "build/*/summary.md"]
    downloads = [d["with"]["name"] for d in uses(jobs["comment"], "actions/download-artifact")]
    assert upload["with"]["name"] in downloads and "offline-preview" in jobs["comment"]["needs"]


def test_pull_request_comment_is_created_then_updated_in_place(tmp_path):
    # The offline-preview artifact, as downloaded: the fleet's summary.md and <stack>/summary.md.
    for stack in ("dev", "test"):
        (tmp_path / "summaries" / stack).mkdir(parents=True)
        (tmp_path / "summaries" / stack / "summary.md").write_text(f"## {stack}\n")
    (tmp_path / "summaries" / "summary.md").write_text("# Offline preview of every stack: the project\n")
    (tmp_path / "revdiff").mkdir()
    (tmp_path / "revdiff" / "revdiff.md").write_text("**Risks (0)**\n")
    comments = "/repos/acme/istio-envs/issues/7/comments"
    context = context_for(pull_request_event())
    with github_api({}) as (base, requests):
        done = run_step(workflow("pull-request.yml"), "comment", "One comment with every stack's summary, "
                        "updated in place", context, tmp_path, tmp_path, extra_env={"GITHUB_API_URL": base})
        assert done.returncode == 0, done.stderr
        (post,) = [r for r in requests if r[0] == "POST"]
        assert post[1] == comments and post[2]["body"].startswith("<!-- istio-envs offline preview -->")
        body = post[2]["body"]
        assert "## dev" in body and "## test" in body
        # Risks first, the fleet's table, then the summaries folded away.
        assert body.index("**Risks (0)**") < body.index("# Offline preview of every stack") \
            < body.index("<details>") < body.index("## dev")
        assert body.count("Offline preview of every stack") == 1
    # Second push: the marked comment is on the second page of comments.
    pages = {("GET", comments): ([{"id": 1, "body": "LGTM"}], {"Link": '<{base}/page2>; rel="next"'}),
             ("GET", "/page2"): ([{"id": 42, "body": "<!-- istio-envs offline preview -->\nold"}], {})}
    with github_api(pages) as (base, requests):
        done = run_step(workflow("pull-request.yml"), "comment", "One comment with every stack's summary, "
                        "updated in place", context, tmp_path, tmp_path, extra_env={"GITHUB_API_URL": base})
        assert done.returncode == 0, done.stderr
        assert [r[:2] for r in requests if r[0] != "GET"] == [("PATCH", "/repos/acme/istio-envs/issues/comments/42")]


# --- per-PR environments -------------------------------------------------------------------------

@pytest.mark.parametrize("event, expected", [
    (pull_request_event("labeled", ("preview-env",), "preview-env"), {"up"}),
    (pull_request_event("synchronize", ("preview-env",)), {"up"}),
    (pull_request_event("synchronize", ()), set()),
    (pull_request_event("labeled", ("preview-env", "docs"), "docs"), set()),
    (pull_request_event("labeled", ("preview-env",), "preview-env", fork=True), set()),
    # The label removed before the pull request closes: torn down then, not leaked.
    (pull_request_event("unlabeled", (), "preview-env"), {"down"}),
    (pull_request_event("closed", ("preview-env",), state="closed"), {"down"}),
    (pull_request_event("closed", (), state="closed"), set()),
    (pull_request_event("closed", ("preview-env",), state="closed", fork=True), set()),
])
def test_preview_environment_lifecycle(event, expected):
    jobs = jobs_of("preview-environment.yml")
    assert {job_id for job_id, job in jobs.items() if condition(job, context_for(event))} == expected


def test_a_pending_teardown_is_not_cancelled_by_unrelated_events():
    document = workflow("preview-environment.yml")
    assert "concurrency" not in document  # every event's run would join it, jobs skipped or not
    groups = {job_id: job["concurrency"] for job_id, job in document["jobs"].items()}
    assert groups["up"] == groups["down"] == {
        "group": "pulumi-stack-pr-${{ github.event.pull_request.number }}", "cancel-in-progress": False}
    assert uses(document["jobs"]["up"], "pulumi/actions")[0]["with"]["upsert"] is True


def test_preview_environment_writes_its_stack_file_and_url(tmp_path):
    """The step's own work: its venv, the new-environment command line (tests/test_new_env.py runs
    that command for real) and the URL it reads from the preview that command writes."""
    log = tmp_path / "calls.log"
    # `python3 -m venv .venv && pip install` needs PyPI: the stand-in makes a .venv whose python
    # logs its arguments and, for tools.new_env, writes the preview's plan.json as the tool does.
    fake_python = f'''
import json, os, pathlib, sys
if sys.argv[1:] == ["-m", "venv", ".venv"]:
    bin_dir = pathlib.Path(".venv/bin"); bin_dir.mkdir(parents=True)
    for name in ("python", "pip"):
        (bin_dir / name).write_text(pathlib.Path(sys.argv[0]).read_text()); (bin_dir / name).chmod(0o755)
    sys.exit(0)
with open({str(log)!r}, "a") as out:
    out.write(json.dumps([pathlib.Path(sys.argv[0]).name, *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["-m", "tools.new_env"]:
    plan = pathlib.Path("build", sys.argv[3], "plan.json"); plan.parent.mkdir(parents=True)
    plan.write_text(json.dumps({{"outputs": {{"url": "https://" + sys.argv[3] + ".api.example.com"}}}}))
elif sys.argv[1:2] == ["-c"]:
    os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
'''
    bin_dir = fake_command(tmp_path / "bin", "python3", fake_python)
    context = context_for(pull_request_event("labeled", ("preview-env",), "preview-env", number=42))
    work = tmp_path / "work"
    work.mkdir()
    done = run_step(workflow("preview-environment.yml"), "up", "env", context, work, tmp_path, [bin_dir])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.outputs["url"] == "https://pr-42.api.example.com"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0] == ["pip", "install", "-q", "-r", "requirements.txt"]
    assert calls[1] == ["python", "-m", "tools.new_env", "pr-42", "--quota-cpu", "1", "--quota-memory", "2Gi",
                        "--quota-pods", "10"]


def test_preview_environment_comments_its_url_once(tmp_path):
    document = workflow("preview-environment.yml")
    context = context_for(pull_request_event("labeled", ("preview-env",), "preview-env"),
                          steps={"env": {"outputs": {"url": "https://pr-7.api.example.com"}}})
    name = "Comment the environment's URL (once)"
    with github_api({}) as (base, requests):
        assert run_step(document, "up", name, context, tmp_path, tmp_path,
                        extra_env={"GITHUB_API_URL": base}).returncode == 0
        (post,) = [r for r in requests if r[0] == "POST"]
        assert "Preview environment `pr-7` is up: https://pr-7.api.example.com" in post[2]["body"]
        marked = post[2]["body"]
    with github_api({("GET", "/repos/acme/istio-envs/issues/7/comments"): ([{"id": 3, "body": marked}], {})}) \
            as (base, requests):
        assert run_step(document, "up", name, context, tmp_path, tmp_path,
                        extra_env={"GITHUB_API_URL": base}).returncode == 0
        assert [r for r in requests if r[0] == "POST"] == []


def test_preview_environment_teardown_skips_a_stack_never_made(tmp_path):
    document = workflow("preview-environment.yml")
    context = context_for(pull_request_event("closed", ("preview-env",), state="closed"),
                          vars={"PULUMI_BACKEND_URL": "gs://acme-state"})
    for existing, expected in ((["test", "pr-7"], "true"), (["test"], "false")):
        path, env = fake_pulumi(tmp_path / expected, existing)
        done = run_step(document, "down", "exists", context, ROOT, tmp_path / expected, path, env)
        assert done.returncode == 0, done.stderr
        assert done.outputs["exists"] == expected
    (destroy,) = [s for s in document["jobs"]["down"]["steps"] if s.get("with", {}).get("command") == "destroy"]
    assert destroy["if"] == "steps.exists.outputs.exists == 'true'" and destroy["with"]["remove"] is True


# --- scheduled operations ------------------------------------------------------------------------

def test_operations_run_daily_and_by_hand():
    document = workflow("operations.yml")
    on = document["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    (cron,) = [entry["cron"] for entry in on["schedule"]]
    minute, hour, day, month, weekday = cron.split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ("*", "*", "*")
    jobs = document["jobs"]
    assert jobs["drift"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    assert "environment" not in jobs["drift"] and variables_in(jobs["drift"]) >= {"GCP_PREVIEW_SERVICE_ACCOUNT"}
    assert jobs["report"]["permissions"] == {"issues": "write"}
    renew = jobs["renew"]
    assert renew["environment"] == "platform" and pulumi_commands(renew) == ["up"]
    assert renew["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.report.outputs.renew) }}"
    assert renew["concurrency"] == {"group": "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": False}


def test_drift_preview_command_line(tmp_path):
    path, env = fake_pulumi(tmp_path, [], FAKE_PREVIEW='{"steps": []}', FAKE_EXIT="255")
    context = context_for({"event_name": "schedule"}, matrix={"stack": "dev"},
                          vars={"PULUMI_BACKEND_URL": "gs://acme-state"})
    done = run_step(workflow("operations.yml"), "drift", "preview", context, ROOT, tmp_path, path, env)
    assert done.returncode == 0, done.stderr
    assert pulumi_calls(env) == [["login", "gs://acme-state"],
                                 ["preview", "--stack", "dev", "--expect-no-changes", "--json"]]
    assert done.outputs["exit"] == "255"
    assert (tmp_path / "runner-temp" / "preview.json").read_text() == '{"steps": []}'


def urn(stack: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::istio-envs::istio-envs:platform:OwnedPlatform${typ}::{name}"


CERT, SECRET, VS = ("tls:index/locallySignedCert:LocallySignedCert", "kubernetes:core/v1:Secret",
                    "kubernetes:networking.istio.io/v1:VirtualService")


@pytest.mark.parametrize("steps, code, state, passes", [
    ([{"op": "same", "urn": urn("dev", VS, "api")}], 0, "clean", True),
    ([{"op": op, "urn": urn("dev", CERT, "leaf")} for op in ("create-replacement", "replace", "delete-replaced")]
     + [{"op": "update", "urn": urn("dev", SECRET, "wildcard-tls")}, {"op": "same", "urn": urn("dev", VS, "api")}],
     255, "renewal", True),
    ([{"op": "replace", "urn": urn("dev", CERT, "leaf")}, {"op": "update", "urn": urn("dev", VS, "api")}],
     255, "drift", False),
    (None, 255, "error", False),
])
def test_drift_classification(tmp_path, steps, code, state, passes):
    (tmp_path / "runner-temp").mkdir()
    if steps is not None:
        (tmp_path / "runner-temp" / "preview.json").write_text(json.dumps({"steps": steps}))
    context = context_for({"event_name": "schedule"}, matrix={"stack": "dev"},
                          steps={"preview": {"outputs": {"exit": str(code)}}})
    done = run_step(workflow("operations.yml"), "drift", "Clean, renewal due, or drift (named in the summary)",
                    context, tmp_path, tmp_path)
    assert (done.returncode == 0) is passes, done.stderr
    result = json.loads((tmp_path / "build" / "operations" / "dev.json").read_text())
    assert result["state"] == state
    assert f"### dev: {state}" in done.summary
    if state == "drift":
        assert "api" in done.summary and "::error title=Drift in dev::" in done.stdout


def test_drift_report_opens_an_issue_and_lists_the_owners_to_renew(tmp_path):
    results = {"dev": {"stack": "dev", "state": "renewal", "changes": [], "errors": []},
               "test": {"stack": "test", "state": "drift", "errors": [],
                        "changes": [{"op": "update", "type": VS, "urn": urn("test", VS, "test-api")}]},
               "uat": {"stack": "uat", "state": "clean", "changes": [], "errors": []}}
    for stack, result in results.items():
        (tmp_path / "results" / f"operations-{stack}").mkdir(parents=True)
        (tmp_path / "results" / f"operations-{stack}" / f"{stack}.json").write_text(json.dumps(result))
    document, name = workflow("operations.yml"), "One issue for drift (opened, or commented on while open); " \
                                                 "the owners due for renewal"
    context = context_for({"event_name": "schedule"})
    with github_api({}) as (base, requests):
        done = run_step(document, "report", name, context, tmp_path, tmp_path, extra_env={"GITHUB_API_URL": base})
        assert done.returncode == 0, done.stderr
        assert json.loads(done.outputs["renew"]) == ["dev"]
        (post,) = [r for r in requests if r[0] == "POST"]
        assert post[1] == "/repos/acme/istio-envs/issues" and post[2]["labels"] == ["drift"]
        assert "**test** (drift)" in post[2]["body"] and "`test-api`" in post[2]["body"]
        assert "uat" not in post[2]["body"] and "**dev**" not in post[2]["body"]
    with github_api({("GET", "/repos/acme/istio-envs/issues"): ([{"number": 12}], {})}) as (base, requests):
        assert run_step(document, "report", name, context, tmp_path, tmp_path,
                        extra_env={"GITHUB_API_URL": base}).returncode == 0
        assert [r[:2] for r in requests if r[0] == "POST"] == [("POST", "/repos/acme/istio-envs/issues/12/comments")]


def test_what_the_runs_leave_in_the_work_tree_is_ignored(tmp_path):
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    git(tmp_path, "init", "-q")
    left = ["policy/venv/bin/python", "bootstrap/venv/bin/python", "gha-creds-0123abcd.json", ".venv/x",
            "build/dev/plan.json"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.split() == left
    kept = subprocess.run(["git", "check-ignore", "--no-index", "policy/requirements.txt", "Pulumi.pr-7.yaml"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert kept.stdout == ""
