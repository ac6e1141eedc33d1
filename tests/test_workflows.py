"""The GitHub workflows as files: valid for actionlint and clean for zizmor (the workflow security
linter), thin (every step calls tools/ci.py, make, pip or one pulumi command: the logic is in
tools/ci.py, tested in tests/test_ci.py and run in the virtualenvs the steps build in
tests/test_ci_environments.py), pinned by commit, and the identity rules: which job may use which
identity, computed from the bootstrap's own Workload Identity Federation (its CEL conditions,
tests/ci_identity.py) for the token GitHub gives each job on each trigger; and the jobs' ``if:``
conditions evaluated by GitHub's own expression library (tests/expressions.py)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ci_identity import backend_plan, claims, impersonable
from conftest import ROOT
from expressions import job_runs

from tools import ci

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = str(Path(sys.executable).parent / "actionlint")
ZIZMOR = str(Path(sys.executable).parent / "zizmor")
NAMES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
DEPLOYING_ENVIRONMENTS = (ci.PLATFORM, ci.ENVIRONMENTS, ci.PREVIEW_ENVIRONMENTS)
REPOSITORY = "acme/istio-envs"


def workflow(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in document:  # YAML 1.1 reads the key `on` as True
        document["on"] = document.pop(True)
    return document


def triggers(document: dict) -> list[str]:
    on = document["on"]
    return [on] if isinstance(on, str) else list(on)


def jobs_of(name: str) -> dict[str, dict]:
    return workflow(name)["jobs"]


def uses(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith(action + "@")]


def pulumi_commands(job: dict) -> list[str]:
    return [s["with"]["command"] for s in uses(job, "pulumi/actions") if "with" in s and "command" in s["with"]]


def variables_in(value) -> set[str]:
    return set(re.findall(r"\bvars\.([A-Z0-9_]+)", json.dumps(value)))


def identity_of(job: dict) -> str | None:
    """The service account variable a job's auth step names."""
    found = {v for auth in uses(job, "google-github-actions/auth") for v in variables_in(auth["with"]["service_account"])}
    assert len(found) <= 1, found
    return next(iter(found), None)


@pytest.fixture(scope="module")
def backend(build_dir) -> dict:
    return backend_plan(build_dir)


@pytest.fixture(scope="module")
def github_variables(backend) -> dict[str, dict[str, str]]:
    """Where the bootstrap says each variable is set: "repository", or a GitHub environment."""
    return backend["outputs"]["githubVariables"]


# --- linters ------------------------------------------------------------------------------------

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


def zizmor(folder: Path) -> list[dict]:
    done = subprocess.run([ZIZMOR, "--offline", "--no-progress", "--format", "json", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr  # 1x: findings of that severity
    return json.loads(done.stdout or "[]")


def test_zizmor_finds_nothing():
    assert [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in zizmor(WORKFLOWS)] == []


def test_zizmor_catches_a_mutable_tag_and_persisted_credentials(tmp_path):
    text = (WORKFLOWS / "deploy.yml").read_text()
    text = re.sub(r"actions/checkout@[0-9a-f]{40}  # v[0-9.]+\n        with:\n          persist-credentials: false",
                  "actions/checkout@v4\n        with:\n          clean: true", text, count=1)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "deploy.yml").write_text(text)
    assert {f["ident"] for f in zizmor(tmp_path)} >= {"unpinned-uses", "artipacked"}


# --- thin, pinned, clean ------------------------------------------------------------------------

# What a step's `run:` may be: one command, of these.
STEP_COMMANDS = (("python", "-m", "tools.ci"), ("python3", "-m", "tools.ci"), ("make",),
                 ("pip", "install", "--require-hashes"), ("pulumi",))


def run_steps() -> list[tuple[str, str, dict]]:
    return [(name, job_id, step) for name in NAMES for job_id, job in jobs_of(name).items()
            for step in job.get("steps", []) if "run" in step]


def test_every_run_step_is_one_command_of_the_repository():
    """The logic lives in tools/ci.py (and make): a step is one line calling it, with its inputs
    in env, never pasted into the script (an expression in a script is a shell injection when it
    holds a branch name, a title or a stack file's name)."""
    subcommands = set(ci.parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    steps = run_steps()
    assert len(steps) >= 25
    for name, job_id, step in steps:
        script = step["run"].strip()
        where = f"{name} {job_id}: {script[:60]}"
        assert "\n" not in script and "${{" not in script, where
        assert not re.search(r"(&&|\|\||;|\bif\b|\bfor\b|\$\()", script), where
        words = shlex.split(script.split(">", 1)[0])
        assert any(tuple(words[:len(p)]) == p for p in STEP_COMMANDS), where
        assert step.get("shell") in (None, "bash"), where
        if words[:3] in (["python", "-m", "tools.ci"], ["python3", "-m", "tools.ci"]):
            assert words[3] in subcommands, where


@pytest.mark.parametrize("name", NAMES)
def test_each_workflow_is_keyless_pinned_bounded_and_installs_before_its_credentials(name):
    """No key, no pull_request_target. Every action pinned by commit with its tag beside it (tags
    move; Dependabot, .github/dependabot.yml, moves both together); checkouts leave no token and
    tools are pinned; every job bounded and cached; every install from a lock, and before
    google-github-actions/auth writes its credentials file into the workspace (nothing
    third-party is downloaded and run after it); the policy pack's virtualenv made before the
    pack runs."""
    text, document = (WORKFLOWS / name).read_text(), workflow(name)
    assert "credentials_json" not in text and "GOOGLE_CREDENTIALS" not in text
    assert "pull_request_target" not in triggers(document)
    lines = [line for line in text.splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+\b", line), line
    for job_id, job in document["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, job_id
        for checkout in uses(job, "actions/checkout"):
            assert checkout["with"]["persist-credentials"] is False, job_id
        for gcloud in uses(job, "google-github-actions/setup-gcloud"):
            assert re.fullmatch(r"\d+\.\d+\.\d+", gcloud["with"]["version"]), job_id  # not "latest"
        for pulumi in uses(job, "pulumi/actions"):
            assert re.fullmatch(r"\d+\.\d+\.\d+", pulumi["with"]["pulumi-version"]), job_id
        for setup in uses(job, "actions/setup-python"):
            assert setup["with"]["cache"] == "pip", job_id
        if pulumi_commands(job):
            (cache,) = uses(job, "actions/cache")
            assert cache["with"]["path"] == "~/.pulumi/plugins", job_id
        steps = job["steps"]
        for step in steps:
            if step.get("run", "").startswith("pip "):
                target = shlex.split(step["run"])[-1]
                assert target.startswith("requirements") and target.endswith(".txt"), job_id
                assert "--hash=sha256:" in (ROOT / target).read_text()
        auth = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("google-github-actions/auth@")]
        for step in steps[auth[0]:] if auth else []:
            assert not step.get("run", "").startswith(("pip ", "make policy-venv")), job_id
            assert not step.get("uses", "").startswith("actions/setup-python@"), job_id
        packs = [i for i, s in enumerate(steps) if s.get("with", {}).get("policyPacks")]
        if packs:
            assert any(s.get("run") == "make policy-venv" for s in steps[:max(packs)]), job_id
    if any(uses(job, "pulumi/actions") for job in document["jobs"].values()):
        assert document["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"


def test_policy_packs_run_in_jobs():
    assert len([job for name in NAMES for job in jobs_of(name).values()
                if any(s.get("with", {}).get("policyPacks") for s in uses(job, "pulumi/actions"))]) >= 6


# --- identities ----------------------------------------------------------------------------------

# Repository variables a team may set beyond the bootstrap's (README, "The workflows").
TEAM_VARIABLES = {"DRIFT_MENTION"}


def identity_violations(name: str, document: dict, github_variables: dict) -> list[str]:
    """A variable only where it is set (the repository, or the job's own GitHub environment);
    `pulumi up`/`destroy` only in a job bound to a deploying environment; a pull-request job
    never with the platform or environment identity."""
    repository = set(github_variables["repository"]) | TEAM_VARIABLES
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
        if pr_triggered and identity_of(job) in ("GCP_PLATFORM_SERVICE_ACCOUNT", "GCP_ENVIRONMENTS_SERVICE_ACCOUNT"):
            problems.append(f"{where}: a pull-request job with a deploying identity")
    return problems


def test_every_job_uses_only_the_identities_it_may(github_variables):
    assert [p for name in NAMES for p in identity_violations(name, workflow(name), github_variables)] == []


def test_the_identity_rules_catch_a_deploying_identity_in_a_pull_request(github_variables):
    document = workflow("pull-request.yml")
    (auth,) = uses(document["jobs"]["pulumi-preview"], "google-github-actions/auth")
    auth["with"]["service_account"] = "${{ vars.GCP_PLATFORM_SERVICE_ACCOUNT }}"
    problems = identity_violations("pull-request.yml", document, github_variables)
    assert any("not set where this job can read it" in p for p in problems)
    assert any("a pull-request job with a deploying identity" in p for p in problems)


MAIN, BRANCH, PR_REF = "refs/heads/main", "refs/heads/topic", "refs/pull/7/merge"


def refs_for(trigger: str) -> list[str]:
    """The refs a trigger can run a workflow on: a pull request's merge ref; main for pushes to
    main and for the schedule; any branch for a workflow_dispatch (the person picks it)."""
    return {"pull_request": [PR_REF], "push": [MAIN], "schedule": [MAIN],
            "workflow_dispatch": [MAIN, BRANCH]}[trigger]


def test_each_job_token_opens_exactly_the_identity_it_uses(backend):
    """Against the bootstrap's own pool, for every trigger and ref a job can run on: the token it
    gets opens the service account it names when it runs from main or a pull request, and a
    dispatch from another branch opens nothing (its jobs are gated before they ask)."""
    emails = backend["outputs"]["serviceAccounts"]
    by_variable = {f"GCP_{identity.upper().replace('-', '_')}_SERVICE_ACCOUNT": email
                   for identity, email in emails.items()}
    checked = 0
    for name in NAMES:
        document = workflow(name)
        for job_id, job in document["jobs"].items():
            variable = identity_of(job)
            if variable is None:
                continue
            environment = job.get("environment")
            for trigger in triggers(document):
                for ref in refs_for(trigger):
                    got = impersonable(backend, claims(trigger, ref, environment))
                    if ref == BRANCH:
                        assert by_variable[variable] not in got, f"{name} {job_id} from a branch: {got}"
                    else:
                        assert by_variable[variable] in got, f"{name} {job_id} on {trigger}: {got}"
                    checked += 1
    assert checked >= 18


EVENTS = [("push", MAIN), ("schedule", MAIN), ("workflow_dispatch", MAIN), ("pull_request", PR_REF),
          ("push", BRANCH), ("workflow_dispatch", BRANCH), ("pull_request_target", MAIN), ("issue_comment", MAIN)]


@pytest.mark.parametrize("environment", [None, *DEPLOYING_ENVIRONMENTS, "other"])
@pytest.mark.parametrize("event, ref", EVENTS)
def test_what_a_token_can_become(backend, event, ref, environment):
    """Every trigger, ref and environment a job can name, through the pool's real conditions.
    Preview: main's runs and pull_request events only (never a pushed branch, never a dispatch
    from one). Deploying identities: their own environment, from its own ref only."""
    emails = backend["outputs"]["serviceAccounts"]
    expected = set()
    if ref == MAIN or event == "pull_request":
        expected.add("preview")
    if environment in (ci.PLATFORM, ci.ENVIRONMENTS):
        expected = expected | {environment} if ref == MAIN else set()
    if environment == ci.PREVIEW_ENVIRONMENTS:
        expected = expected | {environment} if event == "pull_request" and ref.startswith("refs/pull/") else set()
    got = impersonable(backend, claims(event, ref, environment))
    assert got == {emails[identity] for identity in expected}


def test_another_repository_becomes_nobody(backend):
    assert impersonable(backend, claims("push", MAIN, "platform", repository_id="1")) == set()
    assert impersonable(backend, claims("push", MAIN, owner_id="1")) == set()
    # Same numeric ids, another name in `sub` (a customised subject template): refused as well.
    assert impersonable(backend, claims("push", MAIN, "platform", repository="acme/other")) == set()


# --- job conditions, as GitHub evaluates them ------------------------------------------------------

def pull_request_event(action="synchronize", labels=(), label=None, fork=False, number=7, state="open") -> dict:
    head = "someone/istio-envs" if fork else REPOSITORY
    event = {"action": action, "number": number,
             "pull_request": {"number": number, "state": state, "labels": [{"name": n} for n in labels],
                              "head": {"repo": {"full_name": head}}, "base": {"repo": {"full_name": REPOSITORY}}}}
    if label is not None:
        event["label"] = {"name": label}
    return event


def context(event_name: str, event: dict, **extra) -> dict:
    return {"github": {"event_name": event_name, "event": event, "repository": REPOSITORY, "actor": "someone",
                       "ref": PR_REF if event_name == "pull_request" else MAIN},
            "vars": {}, "inputs": {}, **extra}


def test_forks_get_the_offline_checks_and_no_credentials():
    jobs = jobs_of("pull-request.yml")
    ids = ["test", "offline-preview", "revision-diff", "comment", "real-stacks"]
    configured = {"vars": {"PULUMI_BACKEND_URL": "gs://state"}}
    runs = job_runs(jobs, ids, context("pull_request", pull_request_event(fork=True), **configured),
                    context("pull_request", pull_request_event(), **configured),
                    context("pull_request", pull_request_event()))
    fork, own, unconfigured = (dict(zip(ids, runs[i:i + len(ids)], strict=True)) for i in range(0, len(runs), len(ids)))
    assert fork == {"test": True, "offline-preview": True, "revision-diff": True, "comment": False, "real-stacks": False}
    assert all(jobs[j].get("permissions", {}).get("id-token") != "write" for j, runs in fork.items() if runs)
    assert (own["real-stacks"], own["comment"], unconfigured["real-stacks"]) == (True, True, False)


def test_preview_environment_lifecycle():
    events = [
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
    ]
    runs = job_runs(jobs_of("preview-environment.yml"), ["up", "down"],
                    *(context("pull_request", event) for event, _ in events))
    got = [{job for job, run in zip(["up", "down"], runs[2 * i:2 * i + 2], strict=True) if run}
           for i in range(len(events))]
    assert got == [expected for _, expected in events]


def test_attached_stacks_wait_for_the_owners_and_the_tests():
    """After a cancelled owner (someone stopped a platform change half-way) nothing attached runs."""
    cases = [("success", "success", True), ("skipped", "success", True), ("failure", "success", False),
             ("cancelled", "success", False), ("skipped", "failure", False)]
    stacks = {"result": "success", "outputs": {"attached": '[{"stack": "test", "upsert": false}]',
                                               "gateway": '[{"stack": "partner", "upsert": false}]'}}
    got = job_runs(jobs_of("deploy.yml"), ["attached", "gateway-attached"], *(
        context("push", {}, needs={"test": {"result": test}, "owner": {"result": owner}, "stacks": stacks})
        for owner, test, _ in cases))
    assert got == [runs for _, _, runs in cases for _job in range(2)]


@pytest.mark.parametrize("name", ["deploy.yml", "operations.yml"])
def test_nothing_reaches_the_backend_before_the_repository_is_configured(name):
    """The setup job decides (tools/ci.py configured, tested in test_ci.py); every job that asks
    for a token waits for it, directly or through a job that does."""
    jobs = jobs_of(name)
    with_token = [j for j, job in jobs.items() if job.get("permissions", {}).get("id-token") == "write"]
    assert with_token

    def waits_for_setup(job_id: str) -> bool:
        needs = jobs[job_id].get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        return "setup" in needs or any(waits_for_setup(n) for n in needs)

    assert all(waits_for_setup(j) for j in with_token)
    ids = [j for j in jobs if "setup" in (jobs[j].get("needs") or [])]
    got = job_runs(jobs, ids, *(context("schedule" if name == "operations.yml" else "push", {}, needs={
        "setup": {"result": "success", "outputs": {"ready": ready}}}) for ready in ("true", "false")))
    assert got == [True] * len(ids) + [False] * len(ids), ids


def test_destroy_waits_for_its_guard():
    """The guard (tools/ci.py destroy-guard: main only, an attached non-MUTUAL stack) runs without
    credentials; nobody is asked to approve a run it refused."""
    jobs = jobs_of("destroy-environment.yml")
    assert jobs["destroy"]["needs"] == "guard" and "environment" not in jobs["guard"]
    assert not uses(jobs["guard"], "google-github-actions/auth")
    assert job_runs(jobs, ["destroy"], context("workflow_dispatch", {}, needs={"guard": {"result": "failure"}})) == [False]


def test_a_pending_teardown_is_not_cancelled_by_unrelated_events():
    document = workflow("preview-environment.yml")
    assert "concurrency" not in document  # every event's run would join it, jobs skipped or not
    groups = {job_id: job["concurrency"] for job_id, job in document["jobs"].items()}
    assert groups["up"] == groups["down"] == {
        "group": "pulumi-stack-pr-${{ github.event.pull_request.number }}", "cancel-in-progress": False}


def test_deploy_rolls_out_owner_first_then_attached_one_run_per_stack():
    jobs = jobs_of("deploy.yml")
    for job_id, environment, variable in (("owner", "platform", "GCP_PLATFORM_SERVICE_ACCOUNT"),
                                          ("attached", "environments", "GCP_ENVIRONMENTS_SERVICE_ACCOUNT"),
                                          ("gateway-attached", "platform", "GCP_PLATFORM_SERVICE_ACCOUNT")):
        job = jobs[job_id]
        assert job["environment"] == environment and identity_of(job) == variable
        assert job["concurrency"] == {"group": "pulumi-stack-${{ matrix.stack }}", "cancel-in-progress": False}
        (pulumi,) = uses(job, "pulumi/actions")
        assert pulumi["with"]["command"] == "up" and pulumi["with"]["policyPacks"] == "policy"
        # Owners are never created by CI; attached stacks with their kind's key.
        assert ("upsert" in pulumi["with"]) is (job_id != "owner")
        if job_id != "owner":
            assert pulumi["with"]["secrets-provider"] == "${{ vars.PULUMI_ENVIRONMENT_SECRETS_PROVIDER }}"
            assert "owner" in job["needs"]
        key = {"owner": "owners", "attached": "attached", "gateway-attached": "gateway"}[job_id]
        assert job["strategy"]["matrix"]["include"] == f"${{{{ fromJSON(needs.stacks.outputs.{key}) }}}}"


def test_deploy_skips_what_cannot_change_a_deployment():
    on = workflow("deploy.yml")["on"]["push"]
    ignored = on["paths-ignore"]
    assert "**.md" in ignored and "README.md".endswith(".md")
    assert not any(p.startswith(("components", "Pulumi", "policy", "requirements")) for p in ignored)


def test_renewal_applies_the_plan_it_classified():
    jobs = jobs_of("operations.yml")
    drift = jobs["drift"]
    (preview,) = [s for s in drift["steps"] if s.get("id") == "preview"]
    words = shlex.split(preview["run"].split(">", 1)[0])
    assert words[:2] == ["pulumi", "preview"] and "--save-plan" in words and "--json" in words
    plan = words[words.index("--save-plan") + 1]
    uploads = {u["with"]["name"]: u["with"]["path"] for u in uses(drift, "actions/upload-artifact")}
    assert uploads["plan-${{ matrix.stack }}"] == plan.replace("$RUNNER_TEMP", "${{ runner.temp }}").replace(
        "$STACK", "${{ matrix.stack }}")
    renew = jobs["renew"]
    assert renew["environment"] == "platform" and identity_of(renew) == "GCP_PLATFORM_SERVICE_ACCOUNT"
    (download,) = uses(renew, "actions/download-artifact")
    (up,) = uses(renew, "pulumi/actions")
    assert up["with"]["command"] == "up" and download["with"]["name"] == "plan-${{ matrix.stack }}"
    # One file uploaded: the artifact holds it at its root, downloaded into `path`.
    assert up["with"]["plan"] == f"{download['with']['path']}/" + uploads["plan-${{ matrix.stack }}"].rsplit("/", 1)[-1]
    assert renew["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.report.outputs.renew) }}"
    assert "environment" not in drift and identity_of(drift) == "GCP_PREVIEW_SERVICE_ACCOUNT"


def test_the_daily_report_runs_whatever_the_checks_did():
    jobs = jobs_of("operations.yml")
    report = jobs["report"]
    needs = {"setup": {"result": "success", "outputs": {"ready": "true"}}}
    got = job_runs(jobs, ["report"], *(context("schedule", {}, needs={
        **needs, "stacks": {"result": stacks}, "drift": {"result": drift}})
        for stacks, drift in (("success", "failure"), ("failure", "skipped"), ("success", "skipped"))))
    assert got == [True] * 3
    assert report["permissions"] == {"contents": "read", "issues": "write", "pull-requests": "read",
                                     "actions": "write"}


def test_what_the_runs_leave_in_the_work_tree_is_ignored(tmp_path):
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    left = ["policy/venv/bin/python", "bootstrap/venv/bin/python", "gha-creds-0123abcd.json", ".venv/x",
            "build/dev/plan.json", "plan/dev.json", "tests/actions/node_modules/x"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.split() == left
    kept = subprocess.run(["git", "check-ignore", "--no-index", "policy/requirements.txt", "Pulumi.pr-7.yaml"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert kept.stdout == ""


def test_the_upstream_check_runs_on_its_own_and_may_write_issues_only():
    """operations.yml's upstream job (tools/ci.py upstream-findings): no cloud identity and no wait
    on the backend's set-up (it reads upstream, not the deployment), every run, whatever the other
    jobs did; its token may write issues and read the code, nothing else. Issues are filed from
    main only, which the command decides from the ref it is given."""
    jobs = jobs_of("operations.yml")
    upstream = jobs["upstream"]
    assert upstream["permissions"] == {"contents": "read", "issues": "write"}
    assert "needs" not in upstream and identity_of(upstream) is None and "environment" not in upstream
    assert job_runs(jobs, ["upstream"], context("schedule", {})) == [True]
    (step,) = [s for s in upstream["steps"] if "tools.ci" in s.get("run", "")]
    words = shlex.split(step["run"])
    assert words[3] == "upstream-findings" and words[words.index("--ref") + 1] == "$REF"
    assert step["env"]["REF"] == "${{ github.ref }}" and step["env"]["GH_TOKEN"] == "${{ github.token }}"
