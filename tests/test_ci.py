"""tools/ci.py, what the workflows decide, tested as ordinary code: real stack files, real git
repositories, real `pulumi preview --json` shapes, and a local stand-in of GitHub's REST API."""

from __future__ import annotations

import json
import subprocess
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT
from stackfiles import write_project

from components.stackset import StackSet
from tools import ci


@pytest.fixture
def runner(tmp_path, monkeypatch) -> dict[str, Path]:
    """The runner's files a step writes to."""
    files = {"output": tmp_path / "github_output", "summary": tmp_path / "step_summary"}
    for path in files.values():
        path.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    return files


def outputs(runner) -> dict[str, str]:
    return dict(line.split("=", 1) for line in runner["output"].read_text().splitlines())


def listing(tmp_path: Path, names: list[str]) -> Path:
    """`pulumi stack ls --json` as the CLI prints it (project-scoped names in a DIY backend)."""
    path = tmp_path / "stacks.json"
    path.write_text(json.dumps([{"name": n, "current": False, "updateInProgress": False} for n in names]))
    return path


# --- configured (item: deploy and operations before set-up) -----------------------------------------

@pytest.mark.parametrize("variables, ref, ready", [
    ({}, "refs/heads/main", False),
    ({"PULUMI_BACKEND_URL": "gs://s", "GCP_WORKLOAD_IDENTITY_PROVIDER": "p"}, "refs/heads/main", False),
    ({"PULUMI_BACKEND_URL": "gs://s", "GCP_WORKLOAD_IDENTITY_PROVIDER": "p", "GCP_PREVIEW_SERVICE_ACCOUNT": "a"},
     "refs/heads/main", True),
    ({"PULUMI_BACKEND_URL": "gs://s", "GCP_WORKLOAD_IDENTITY_PROVIDER": "p", "GCP_PREVIEW_SERVICE_ACCOUNT": "a"},
     "refs/heads/topic", False),
])
def test_configured(runner, capsys, variables, ref, ready):
    assert ci.configured(variables, ref) is ready
    assert outputs(runner) == {"ready": str(ready).lower()}
    if not variables:
        assert "PULUMI_BACKEND_URL, GCP_WORKLOAD_IDENTITY_PROVIDER" in capsys.readouterr().out


# --- rollout --------------------------------------------------------------------------------------

def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "HOME": str(cwd),
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                               "PATH": "/usr/bin:/bin"}).stdout.strip()


def test_a_push_creates_only_the_stacks_whose_files_it_adds(tmp_path, capsys):
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
    assert ci.added_stacks("push", before, sha, repo) == ["qa"]
    assert ci.added_stacks("push", "0" * 40, sha, repo) == ["dev", "qa"]
    assert ci.added_stacks("push", "f" * 40, sha, repo) == []
    assert "::warning title=Unknown previous commit::" in capsys.readouterr().out
    assert ci.added_stacks("workflow_dispatch", "", sha, repo) == []


# An attached stack file, as these scenarios need one (the rollout reads roles, not routes).
ATTACHED = {"config": {"istio-envs:attachTo": "dev", "istio-envs:environment": {
    "routes": [{"path": "/accounts", "service": "accounts", "port": 8080}],
    "auth": {"issuer": "https://issuer.example.net/", "jwksUri": "https://issuer.example.net/jwks.json",
             "audiences": ["https://ci.api.example.com"]}}}}


def mutual_project(tmp_path: Path) -> Path:
    """The project's stack files, with test and uat (this module's scenarios name them: written
    here if an owner deleted them), qa, and partner, a MUTUAL environment."""
    (tmp_path / "project").mkdir()

    def edit(files):
        for name in ("test", "uat"):
            files.setdefault(f"Pulumi.{name}.yaml", ATTACHED)
        environment = ATTACHED["config"]["istio-envs:environment"]
        files.update({"Pulumi.qa.yaml": ATTACHED, "Pulumi.partner.yaml": {"config": {
            "istio-envs:attachTo": "dev", "istio-envs:environment": {**environment, "tls": {"mode": "MUTUAL"}}}}})
    return write_project(tmp_path / "project", edit)


def test_rollout_updates_creates_and_skips(tmp_path, capsys):
    """dev and test exist; uat was destroyed (its file is still here); qa is added by this push; a
    MUTUAL environment named in `create` goes to the platform identity's job."""
    stacks = StackSet.load(mutual_project(tmp_path))
    plan = ci.rollout(stacks, {"dev", "test"}, {"qa", "partner"}, ["dev", "partner"])
    assert plan.owners == [{"stack": "dev", "upsert": False}]
    assert plan.attached == [{"stack": "qa", "upsert": True}, {"stack": "test", "upsert": False}]
    assert plan.gateway == [{"stack": "partner", "upsert": True}]
    assert "::warning title=Stack uat skipped::" in capsys.readouterr().out


def test_rollout_never_creates_an_owner_nor_hands_an_unknown_stack_to_the_platform(tmp_path, capsys):
    stacks = StackSet.load(mutual_project(tmp_path))
    plan = ci.rollout(stacks, {"test", "partner"}, {"dev"}, ["dev"])
    out = capsys.readouterr().out
    assert plan.owners == [] and "first deploy is the platform admin's" in out
    # partner exists but the bootstrap does not let the platform identity write its state.
    assert plan.gateway == [] and "::error title=Stack partner refused::" in out
    assert plan.attached == [{"stack": "test", "upsert": False}]


def test_the_rollout_command_writes_its_plan(tmp_path, runner):
    project = mutual_project(tmp_path)
    code = ci.main(["--project-dir", str(project), "rollout", "--existing", str(listing(tmp_path, [
        "organization/istio-envs/dev", "test"])), "--event", "workflow_dispatch", "--before", "", "--sha", "x",
        "--create", " qa ", "--platform-stacks", '["dev", "partner"]'])
    assert code == 0
    got = outputs(runner)
    assert json.loads(got["attached"]) == [{"stack": "qa", "upsert": True}, {"stack": "test", "upsert": False}]
    assert "qa (new)" in runner["summary"].read_text()


def test_deployer_follows_the_stack_files():
    shipped = StackSet.load(ROOT)
    assert ci.platform_stacks(shipped) == shipped.owners
    mutual = StackSet.load(ROOT / "examples" / "mutual")
    assert ci.deployer(mutual["partner"]) == ci.PLATFORM and ci.deployer(mutual["web"]) == ci.ENVIRONMENTS


def test_a_stack_file_may_not_take_a_pull_request_name(tmp_path):
    project = write_project(tmp_path, lambda files: files.update({"Pulumi.pr-3.yaml": ATTACHED}))
    with pytest.raises(ci.CiError, match="Pulumi.pr-3.yaml"):
        ci.rollout(StackSet.load(project), set(), set(), None)


def test_existing_lists_the_stack_files_whose_stacks_exist(tmp_path, runner, capsys):
    assert ci.main(["--project-dir", str(mutual_project(tmp_path)), "existing", "--existing",
                    str(listing(tmp_path, ["organization/istio-envs/test", "dev", "pr-12", "pr-3"]))]) == 0
    got = outputs(runner)
    assert json.loads(got["stacks"]) == ["dev", "test"] and json.loads(got["pr"]) == ["pr-3", "pr-12"]
    assert "No stack uat yet" in capsys.readouterr().out


@pytest.mark.parametrize("folder, stack, ref, says", [
    (".", "test", "refs/heads/main", None),
    (".", "test", "refs/heads/topic", "run this workflow from main"),
    (".", "dev", "refs/heads/main", "'dev' is not an attached stack"),
    (".", "pr-7", "refs/heads/main", "removed with their label"),
    ("examples/mutual", "partner", "refs/heads/main", "partner is MUTUAL"),
])
def test_destroy_guard(tmp_path, capsys, folder, stack, ref, says):
    # The project's stack files with test (written if an owner deleted it); the example as it is.
    project = mutual_project(tmp_path) if folder == "." else ROOT / folder
    code = ci.main(["--project-dir", str(project), "destroy-guard", "--stack", stack, "--ref", ref])
    out = capsys.readouterr()
    assert (code == 0) is (says is None)
    assert (says or "test: attached to dev") in out.out + out.err


# --- drift ----------------------------------------------------------------------------------------

def urn(stack: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::istio-envs::istio-envs:platform:OwnedPlatform${typ}::{name}"


CERT, SECRET, VS = ("tls:index/locallySignedCert:LocallySignedCert", "kubernetes:core/v1:Secret",
                    "kubernetes:networking.istio.io/v1:VirtualService")
RENEWAL = [{"op": op, "urn": urn("dev", CERT, "leaf")} for op in ("create-replacement", "replace", "delete-replaced")] + [
    {"op": "update", "urn": urn("dev", SECRET, "wildcard-tls")}, {"op": "same", "urn": urn("dev", VS, "api")}]


@pytest.mark.parametrize("steps, role, outcome, state", [
    ([{"op": "same", "urn": urn("dev", VS, "api")}], "owner", "success", "clean"),
    (RENEWAL, "owner", "success", "renewal"),
    # An attached stack is never renewed by the platform identity: its change is drift.
    (RENEWAL, "attached", "success", "drift"),
    ([{"op": "replace", "urn": urn("dev", CERT, "leaf")}, {"op": "update", "urn": urn("dev", VS, "api")}],
     "owner", "success", "drift"),
    (None, "owner", "failure", "error"),  # the job failed before the preview wrote anything
    ([], "owner", "failure", "error"),
])
def test_classify(tmp_path, steps, role, outcome, state):
    preview = tmp_path / "preview.json"
    if steps is not None:
        preview.write_text(json.dumps({"steps": steps, "diagnostics": []}))
    assert ci.classify("dev", role, preview, outcome)["state"] == state


def test_every_stack_meant_to_be_checked_has_a_result(tmp_path):
    """test's job failed in its auth step and uploaded nothing: it is an error, not silence."""
    (tmp_path / "operations-dev").mkdir()
    (tmp_path / "operations-dev" / "dev.json").write_text(json.dumps(
        {"stack": "dev", "role": "owner", "state": "clean", "changes": [], "errors": []}))
    results = ci.results_for(["dev", "test"], tmp_path)
    assert [(r["stack"], r["state"]) for r in results] == [("dev", "clean"), ("test", "error")]
    assert "failed before the preview" in results[1]["errors"][0]


def test_code_owners(tmp_path):
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(
        "* @acme/platform\n/Pulumi.test.yaml @acme/test-owners @alice\n.github/ @acme/platform @bob\n")
    assert ci.code_owners(tmp_path, "Pulumi.test.yaml") == ["@acme/test-owners", "@alice"]
    assert ci.code_owners(tmp_path, "Pulumi.dev.yaml") == ["@acme/platform"]
    assert ci.code_owners(tmp_path, ".github/workflows/operations.yml") == ["@acme/platform", "@bob"]
    assert ci.code_owners(ROOT, "Pulumi.dev.yaml")  # the repository names its owners


def test_orphaned_pr_stacks():
    assert ci.orphaned_pr_stacks({"pr-3", "pr-12", "pr-4", "test", "pr-x"}, {4}) == ["pr-3", "pr-12"]


def test_report_text():
    results = [{"stack": "dev", "role": "owner", "state": "renewal", "changes": [], "errors": []},
               {"stack": "test", "role": "attached", "state": "drift", "errors": [],
                "changes": [{"op": "update", "type": VS, "urn": urn("test", VS, "test-api")}]},
               {"stack": "uat", "role": "attached", "state": "clean", "changes": [], "errors": []}]
    outcome = ci.report(results, ["pr-3"], "https://run", ["@acme/platform"], 50)
    assert outcome.renew == ["dev"] and not outcome.clean
    body = outcome.body or ""
    assert "**test** (drift)" in body and "`test-api`" in body and "**uat**" not in body and "**dev**" not in body
    assert "`pr-3`" in body and "about 10 left" in body and body.endswith("cc @acme/platform")
    quiet = ci.report([results[2]], [], "https://run", ["@acme/platform"], 3)
    assert quiet.body is None and quiet.clean


@contextmanager
def github_api(responses: dict[tuple[str, str], object] | None = None):
    """A local GitHub REST stand-in: (method, path without query) -> JSON body."""
    requests: list[tuple[str, str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            requests.append((self.command, self.path, body))
            assert self.headers["Authorization"] == "Bearer test-token"
            default = [] if self.command == "GET" else {"number": 99}
            answer = (responses or {}).get((self.command, self.path.split("?")[0]), default)
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = handle_one

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield ci.GitHub(f"http://127.0.0.1:{server.server_address[1]}", "acme/istio-envs", "test-token"), requests
    finally:
        server.shutdown()
        server.server_close()


def test_publish_opens_assigns_comments_and_closes():
    drift = ci.report([{"stack": "test", "state": "error", "changes": [], "errors": ["x"]}], [], "https://run",
                      ["@acme/platform", "@alice"], 1)
    issues = "/repos/acme/istio-envs/issues"
    # The issues listing also returns pull requests: one labelled drift is not the issue.
    with github_api({("GET", issues): [{"number": 5, "pull_request": {}}]}) as (github, requests):
        assert ci.publish(github, drift, "https://run") == "opened #99"
        posts = [(r[1], r[2]) for r in requests if r[0] == "POST"]
        assert posts[0][0] == issues and posts[0][1]["labels"] == ["drift"] and "cc @acme/platform @alice" in posts[0][1]["body"]
        assert posts[1] == (f"{issues}/99/assignees", {"assignees": ["alice"]})
    with github_api({("GET", issues): [{"number": 12}]}) as (github, requests):
        assert ci.publish(github, drift, "https://run") == "commented on #12"
    clean = ci.report([{"stack": "test", "state": "clean", "changes": [], "errors": []}], [], "https://run", [], 1)
    with github_api({("GET", issues): [{"number": 12}]}) as (github, requests):
        assert ci.publish(github, clean, "https://run") == "closed 1"
        assert ("PATCH", f"{issues}/12", {"state": "closed", "state_reason": "completed"}) in requests


def test_the_schedule_is_kept_alive_before_it_lapses(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "f").write_text("x")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "one")
    later = datetime.now(timezone.utc) + timedelta(days=50)
    assert ci.last_commit_age_days(repo, later) == 50
    with github_api() as (github, requests):
        ci.keep_schedule_alive(github, "operations.yml")
        assert requests == [("PUT", "/repos/acme/istio-envs/actions/workflows/operations.yml/enable", None)]


def test_pull_request_comment_is_created_then_updated_in_place(tmp_path):
    for stack in ("dev", "test"):
        (tmp_path / "summaries" / stack).mkdir(parents=True)
        (tmp_path / "summaries" / stack / "summary.md").write_text(f"## {stack}\n")
    (tmp_path / "summaries" / "summary.md").write_text("# Offline preview of every stack: the project\n")
    (tmp_path / "revdiff").mkdir()
    (tmp_path / "revdiff" / "revdiff.md").write_text("**Risks (0)**\n")
    body = ci.pull_request_comment(tmp_path / "summaries", tmp_path / "revdiff")
    assert body.index("**Risks (0)**") < body.index("# Offline preview") < body.index("<details>") < body.index("## dev")
    comments = "/repos/acme/istio-envs/issues/7/comments"
    with github_api() as (github, requests):
        assert ci.upsert_comment(github, 7, ci.PR_COMMENT_MARKER, body) == "created"
    with github_api({("GET", comments): [{"id": 42, "body": ci.PR_COMMENT_MARKER + "\nold"}]}) as (github, requests):
        assert ci.upsert_comment(github, 7, ci.PR_COMMENT_MARKER, body) == "updated"
        assert [r[:2] for r in requests if r[0] != "GET"] == [("PATCH", "/repos/acme/istio-envs/issues/comments/42")]
        assert ci.upsert_comment(github, 7, ci.PR_COMMENT_MARKER, body, once=True) == "kept"


def test_summaries_put_the_fleet_first(tmp_path, runner):
    for stack in ("dev", "test"):
        (tmp_path / stack).mkdir()
        (tmp_path / stack / "summary.md").write_text(f"## {stack}\n")
    (tmp_path / "summary.md").write_text("| `uat` | **failed** |\n")
    ci.main(["summaries", str(tmp_path)])
    text = runner["summary"].read_text()
    assert text.index("**failed**") < text.index("## dev") < text.index("## test")
    ci.main(["summaries", str(tmp_path / "missing")])
    assert "was not written" in runner["summary"].read_text()


def test_annotations_escape_what_the_runner_would_read_as_commands(capsys):
    ci.annotate("warning", "a: b, c", "line1\nline2 100%")
    assert capsys.readouterr().out == "::warning title=a%3A b%2C c::line1%0Aline2 100%25\n"
