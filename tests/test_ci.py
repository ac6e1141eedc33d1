"""tools/ci.py, what the workflows decide, tested as ordinary code: real stack files, real git
repositories, real `pulumi preview --json` shapes, and a local stand-in of GitHub's REST API."""

from __future__ import annotations

import json
import subprocess
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from conftest import ROOT
from stackfiles import write_project

from components import support, versions
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

def commit(repo: Path, files: dict[str, str]) -> str:
    """``files`` written and committed in ``repo`` (made on first use): the commit's sha."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "HOME": str(repo),
                                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                                   "PATH": "/usr/bin:/bin"}).stdout.strip()

    if not repo.exists():
        repo.mkdir()
        git("init", "-q", "-b", "main")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git("add", ".")
    git("commit", "-qm", "x")
    return git("rev-parse", "HEAD")


def test_a_push_creates_only_the_stacks_whose_files_it_adds(tmp_path, capsys):
    repo = tmp_path / "repo"
    before = commit(repo, {"Pulumi.yaml": "name: x\n", "Pulumi.dev.yaml": "config: {}\n"})
    sha = commit(repo, {"Pulumi.qa.yaml": "config: {}\n", "Pulumi.dev.yaml": "config: {a: 1}\n",
                        "examples/Pulumi.demo.yaml": "config: {}\n"})
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


def test_rollout_never_creates_an_owner_nor_hands_an_unknown_stack_to_the_platform(tmp_path, capsys):
    stacks = StackSet.load(mutual_project(tmp_path))
    plan = ci.rollout(stacks, {"test", "partner"}, {"dev"}, ["dev"])
    out = capsys.readouterr().out
    assert plan["owners"] == [] and "first deploy is the platform admin's" in out
    # partner exists but the bootstrap does not let the platform identity write its state.
    assert plan["gateway"] == [] and "::error title=Stack partner refused::" in out
    assert plan["attached"] == [{"stack": "test", "upsert": False}]


def test_rollout_updates_creates_and_skips(tmp_path, runner, capsys):
    """dev and test exist; uat was destroyed (its file is still here); qa is added by hand; a
    MUTUAL environment named in `create` goes to the platform identity's job."""
    code = ci.main(["--project-dir", str(mutual_project(tmp_path)), "rollout", "--existing", str(listing(tmp_path, [
        "organization/istio-envs/dev", "test"])), "--event", "workflow_dispatch", "--before", "", "--sha", "x",
        "--create", " qa , partner", "--platform-stacks", '["dev", "partner"]'])
    assert code == 0
    got = {kind: json.loads(value) for kind, value in outputs(runner).items()}
    assert got == {"owners": [{"stack": "dev", "upsert": False}], "gateway": [{"stack": "partner", "upsert": True}],
                   "attached": [{"stack": "qa", "upsert": True}, {"stack": "test", "upsert": False}]}
    assert "qa (new)" in runner["summary"].read_text()
    assert "::warning title=Stack uat skipped::" in capsys.readouterr().out


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
    assert outcome.renew == ["dev"]
    body = outcome.body or ""
    assert "**test** (drift)" in body and "`test-api`" in body and "**uat**" not in body and "**dev**" not in body
    assert "`pr-3`" in body and "about 10 left" in body and body.endswith("cc @acme/platform")
    quiet = ci.report([results[2]], [], "https://run", ["@acme/platform"], 3)
    assert quiet.body is None


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]):
    """A local HTTP server answering with ``handler``: its base URL."""
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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

    with serve(Handler) as base:
        yield ci.GitHub(base, "acme/istio-envs", "test-token"), requests


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
    commit(repo, {"f": "x"})
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


# --- upstream findings (#23): support windows, sources, patches ------------------------------------

ISTIO_INDEX, CM_INDEX = f"{versions.ISTIO_CHARTS}/index.yaml", f"{versions.CERT_MANAGER_CHARTS}/index.yaml"
CM_ARCHIVE = f"{versions.CERT_MANAGER_CHARTS}/charts/cert-manager-{versions.CERT_MANAGER_VERSION}.tgz"
REALM = "https://auth.registry.test/token"


def chart_index(charts, versions_, url) -> bytes:
    """A Helm index.yaml as `helm repo index` writes it: each chart's entries, its archive URL
    relative to the repository (Istio's) or absolute (cert-manager's)."""
    return yaml.safe_dump({"apiVersion": "v1", "entries": {chart: [
        {"apiVersion": "v2", "name": chart, "version": v, "urls": [url(chart, v)]} for v in versions_]
        for chart in charts}}).encode()


class Upstream:
    """A local stand-in of the chart repositories and registries, every pin served: `gone` URLs
    answer 404, `status` others what it says, `unreachable` hosts raise as the network would.
    Docker Hub asks for an anonymous token first (401 and its challenge), and refuses it for
    `denied` URLs (a repository gone or private); quay.io asks for none."""

    def __init__(self, istio_versions=(versions.ISTIO_VERSION,), cm_versions=(versions.CERT_MANAGER_VERSION,),
                 gone=(), status=None, unreachable=(), denied=()):
        self.indexes = {
            ISTIO_INDEX: chart_index(versions.ISTIO_CHART_NAMES, istio_versions, lambda c, v: f"{c}-{v}.tgz"),
            CM_INDEX: chart_index(["cert-manager"], cm_versions,
                                  lambda c, v: f"{versions.CERT_MANAGER_CHARTS}/charts/{c}-{v}.tgz")}
        self.gone, self.status, self.unreachable, self.denied = set(gone), dict(status or {}), set(unreachable), set(denied)
        self.requests: list[tuple[str, str, dict]] = []

    def __call__(self, method, url, headers):
        self.requests.append((method, url, dict(headers)))
        if url.split("/")[2] in self.unreachable:
            raise OSError("[Errno 111] Connection refused")
        if url in self.status:
            return self.status[url], {}, b""
        if url.startswith(REALM):
            return 200, {}, json.dumps({"token": "anonymous"}).encode()
        docker = url.startswith("https://registry-1.docker.io/")
        if docker and (headers.get("Authorization") != "Bearer anonymous" or url in self.denied):
            scope = f"repository:{url.split('/v2/')[1].split('/manifests/')[0]}:pull"
            return 401, {"www-authenticate": f'Bearer realm="{REALM}",service="registry.docker.io",scope="{scope}"'}, b""
        if url in self.gone:
            return 404, {}, b""
        if method == "GET":
            return (200, {}, self.indexes[url]) if url in self.indexes else (404, {}, b"")
        return 200, {}, b""


def far_windows(tmp_path, end=None) -> dict:
    """The support table with every pin supported until ``end`` (default: far away)."""
    rows = yaml.safe_load(support.TABLE.read_text())
    path = tmp_path / "support-windows.yaml"
    path.write_text(yaml.safe_dump([{**r, "released": date(2020, 1, 1), "end_of_support": end or date(2040, 1, 1)}
                                    for r in rows], sort_keys=False))
    return support.load(path)


TODAY = date(2030, 1, 1)


def test_nothing_to_file_when_every_pin_is_served_and_supported(tmp_path):
    upstream = Upstream()
    assert ci.upstream_findings(TODAY, upstream, far_windows(tmp_path)) == ([], [])
    asked = [(m, u) for m, u, _ in upstream.requests]
    assert ("GET", ISTIO_INDEX) in asked and ("HEAD", f"{versions.ISTIO_CHARTS}/istiod-{versions.ISTIO_VERSION}.tgz") in asked
    assert ("HEAD", CM_ARCHIVE) in asked
    pilot = f"https://registry-1.docker.io/v2/istio/pilot/manifests/{versions.ISTIO_VERSION}"
    # Docker Hub: a HEAD, its challenge's anonymous token, the HEAD again with it.
    assert [(m, u.split("?")[0]) for m, u in asked if "istio/pilot" in unquote(u)] == [
        ("HEAD", pilot), ("GET", REALM), ("HEAD", pilot)]
    digest = versions.DEMO_ECHO_IMAGE.split("@")[1]
    assert ("HEAD", f"https://registry-1.docker.io/v2/hashicorp/http-echo/manifests/{digest}") in asked
    quay = [h for m, u, h in upstream.requests if u.startswith("https://quay.io/v2/jetstack/cert-manager-webhook/")]
    assert quay and "Authorization" not in quay[0] and "manifest.list.v2+json" in quay[0]["Accept"]


def test_a_pin_near_or_past_its_end_of_support_is_a_finding(tmp_path):
    windows = far_windows(tmp_path, end=TODAY)
    findings, _ = ci.upstream_findings(TODAY, Upstream(), windows)
    assert [f.title for f in findings] == [f"upstream: {n.title}" for n in support.notices(TODAY, windows)]
    assert findings[0].title == f"upstream: Istio {support.minor(versions.ISTIO_VERSION)} end of support {TODAY}"
    assert findings[0].body.startswith(f"Istio {support.minor(versions.ISTIO_VERSION)}: end of support {TODAY}, in 0 days")
    assert {f.act for f in findings} == {ci.ACT_ON_SUPPORT}


def test_newer_patches_from_the_chart_indexes(tmp_path):
    major, minor, patch = (int(p) for p in versions.ISTIO_VERSION.split("."))
    later = f"{major}.{minor}.{patch + 1}"
    upstream = Upstream(istio_versions=(versions.ISTIO_VERSION, later, f"{major}.{minor}.{patch + 2}-rc.0",
                                        f"{major}.{minor + 1}.0"),
                        cm_versions=(versions.CERT_MANAGER_VERSION, versions.CERT_MANAGER_VERSION + "-alpha.0"))
    findings, errors = ci.upstream_findings(TODAY, upstream, far_windows(tmp_path))
    assert errors == [] and [f.title for f in findings] == [f"upstream: newer Istio patch than {versions.ISTIO_VERSION}"]
    assert f"has Istio {later} for every chart" in findings[0].body and findings[0].act == ci.ACT_ON_PATCH


def test_newer_patch():
    assert ci.newer_patch(["1.30.4", "1.30.6", "1.30.10", "1.30.11-rc.0", "1.31.0", "v1.30.12"], "1.30.5") == "1.30.10"
    assert ci.newer_patch(["v1.21.1", "v1.21.2", "1.21.3", "v1.22.0"], "v1.21.1") == "v1.21.2"
    assert ci.newer_patch(["1.30.5"], "1.30.5") is None


def test_a_repository_or_registry_that_no_longer_serves_a_pin_is_a_finding(tmp_path):
    echo = versions.DEMO_ECHO_IMAGE.split("@")[1]
    upstream = Upstream(gone={ISTIO_INDEX, CM_ARCHIVE,
                              f"https://quay.io/v2/jetstack/cert-manager-webhook/manifests/{versions.CERT_MANAGER_VERSION}"},
                        denied={f"https://registry-1.docker.io/v2/hashicorp/http-echo/manifests/{echo}"})
    findings, errors = ci.upstream_findings(TODAY, upstream, far_windows(tmp_path))
    assert errors == []
    by_title = {f.title: f for f in findings}
    webhook = f"{versions.CERT_MANAGER_REGISTRY}/jetstack/cert-manager-webhook:{versions.CERT_MANAGER_VERSION}"
    assert sorted(by_title) == sorted(
        [f"upstream: {versions.ISTIO_CHARTS} no longer serves {c} {versions.ISTIO_VERSION}" for c in versions.ISTIO_CHART_NAMES]
        + [f"upstream: {versions.CERT_MANAGER_CHARTS} no longer serves cert-manager {versions.CERT_MANAGER_VERSION}",
           f"upstream: quay.io no longer serves {webhook}", f"upstream: docker.io no longer serves {versions.DEMO_ECHO_IMAGE}"])
    assert "index.yaml answers HTTP 404" in by_title[f"upstream: {versions.ISTIO_CHARTS} no longer serves istiod "
                                                      f"{versions.ISTIO_VERSION}"].body
    assert f"its archive {CM_ARCHIVE} answers HTTP 404" in findings[len(versions.ISTIO_CHART_NAMES)].body
    assert "the repository is gone or private" in by_title[f"upstream: docker.io no longer serves "
                                                           f"{versions.DEMO_ECHO_IMAGE}"].body
    assert {f.act for f in findings} == {ci.ACT_ON_SOURCE}
    # An index that dropped the version: that chart alone.
    dropped = Upstream(cm_versions=("v1.20.0",))
    findings, _ = ci.upstream_findings(TODAY, dropped, far_windows(tmp_path))
    assert [f.body for f in findings] == [f"The cert-manager chart `cert-manager` {versions.CERT_MANAGER_VERSION}, pinned in "
                                          f"components/versions.py: {CM_INDEX} no longer lists cert-manager "
                                          f"{versions.CERT_MANAGER_VERSION}."]


def test_a_check_that_could_not_be_made_is_no_finding(tmp_path):
    upstream = Upstream(unreachable={"quay.io"}, status={CM_INDEX: 503})
    findings, errors = ci.upstream_findings(TODAY, upstream, far_windows(tmp_path))
    assert findings == []
    assert errors[0] == f"GET {CM_INDEX}: HTTP 503"
    assert len(errors) == 1 + len(versions.CERT_MANAGER_IMAGES) and "Connection refused" in errors[1]


def upstream_issue(number, title, body="", **extra) -> dict:
    return {"number": number, "title": title, "body": body, **extra}


def test_publishing_opens_comments_keeps_and_closes_one_issue_per_finding():
    issues = "/repos/acme/istio-envs/issues"
    findings = [ci.Finding("upstream: new", "A new finding.", ci.ACT_ON_PATCH),
                ci.Finding("upstream: same", "Said before.", ci.ACT_ON_SUPPORT),
                ci.Finding("upstream: changed", "Says more now.", ci.ACT_ON_SOURCE)]
    docs = "https://github.com/acme/istio-envs/blob/main/docs/operations.md"
    same = f"Said before.\n\nHow to act: {docs}#{ci.ACT_ON_SUPPORT}\n\nFound by https://old.\n{ci.UPSTREAM_MARKER}"
    open_ = [upstream_issue(5, "upstream: same", same), upstream_issue(6, "upstream: changed", "Said less.\n" + ci.UPSTREAM_MARKER),
             upstream_issue(7, "upstream: resolved"), upstream_issue(8, "upstream: new", pull_request={})]
    answers = {("GET", issues): open_, ("GET", f"{issues}/5/comments"): [{"body": "a person's comment"}]}
    with github_api(answers) as (github, requests):
        done = ci.publish_upstream(github, findings, "https://run", docs, complete=True)
    assert done == ["opened #99: upstream: new", "unchanged #5: upstream: same", "commented on #6: upstream: changed",
                    "closed #7: upstream: resolved"]
    writes = [(m, p, b) for m, p, b in requests if m != "GET"]
    assert writes[0][:2] == ("POST", issues) and writes[0][2]["labels"] == [ci.UPSTREAM_LABEL]
    assert writes[0][2]["body"].startswith(f"A new finding.\n\nHow to act: {docs}#{ci.ACT_ON_PATCH}\n\nFound by https://run.")
    assert writes[1][1] == f"{issues}/6/comments" and writes[1][2]["body"].startswith("Says more now.")
    assert writes[-1] == ("PATCH", f"{issues}/7", {"state": "closed", "state_reason": "completed"})
    # A run that could not make every check closes nothing.
    with github_api(answers) as (github, requests):
        done = ci.publish_upstream(github, findings[:1], "https://run", docs, complete=False)
    assert "kept #7 (a check could not be made): upstream: resolved" in done
    assert not any(m == "PATCH" for m, _, _ in requests)


def test_the_command_files_from_main_and_only_lists_elsewhere(tmp_path, runner, capsys, monkeypatch):
    monkeypatch.setattr(ci, "http_fetch", Upstream(gone={CM_ARCHIVE}, unreachable={"quay.io"}))
    code = ci.main(["upstream-findings", "--ref", "refs/heads/topic", "--today", "2030-01-01"])
    out = capsys.readouterr().out
    assert code == 1  # quay.io could not be checked
    assert "::notice title=Not from main::" in out and "::warning title=Upstream not checked::HEAD https://quay.io" in out
    assert f"upstream: {versions.CERT_MANAGER_CHARTS} no longer serves cert-manager" in out
    assert "### Upstream findings" in runner["summary"].read_text()
    monkeypatch.setattr(ci, "http_fetch", Upstream())
    with github_api() as (github, requests):
        monkeypatch.setenv("GITHUB_API_URL", github.api)
        monkeypatch.setenv("GITHUB_REPOSITORY", github.repository)
        monkeypatch.setenv("GH_TOKEN", github.token)
        assert ci.main(["upstream-findings", "--ref", ci.MAIN_REF, "--run-url", "https://run", "--today", "2030-01-01"]) == 0
    notices = support.notices(TODAY)  # the shipped table, on a fixed day
    assert sorted(b["title"] for m, _, b in requests if m == "POST") == sorted(f"upstream: {n.title}" for n in notices)


def test_the_network_function_answers_every_status_with_lower_case_headers():
    """ci.http_fetch, the daily run's network, against a local server: an HTTP error is an answer
    (its status and headers, the challenge's name in lower case as image_gone reads it), an
    unreachable host an OSError, which the checks turn into 'could not check'."""
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(401 if self.path == "/v2/x/manifests/1" else 200)
            self.send_header("Www-Authenticate", 'Bearer realm="r"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    with serve(Handler) as base:
        status, headers, _ = ci.http_fetch("HEAD", f"{base}/v2/x/manifests/1", {})
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="r"'
        assert ci.http_fetch("HEAD", f"{base}/ok", {})[0] == 200
    with pytest.raises(OSError):
        ci.http_fetch("HEAD", base + "/gone", {})


def test_every_finding_points_at_a_section_that_says_how_to_act():
    from test_docs import anchors

    held = anchors((ROOT / ci.UPSTREAM_DOCS).read_text())
    assert {ci.ACT_ON_SUPPORT, ci.ACT_ON_SOURCE, ci.ACT_ON_PATCH, "upstream-warnings"} <= held
