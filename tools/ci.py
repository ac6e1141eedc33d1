"""``python -m tools.ci <command>``: everything the workflows decide, in code with unit tests
(tests/test_ci.py). A workflow step is one line calling a command here (or ``make``, or one
``pulumi`` command); its inputs arrive as arguments or the step's ``env:``, never pasted into a
script. Commands write to the runner's files (docs.github.com "Workflow commands for GitHub
Actions"): ``GITHUB_OUTPUT`` (``name=value`` lines), ``GITHUB_STEP_SUMMARY`` (markdown), and
print annotations (``::warning title=...::message``).

bootstrap/ci_identities.py imports the rules its identities follow from here, so the workflows
and the IAM conditions cannot disagree: who deploys a stack (``deployer``), the GitHub
environments, main's ref and the per-pull-request stacks' names (``PR_STACK_PREFIX``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: the comment and report jobs run on the runner's bare python3
    from components.stackset import StackFile, StackSet

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Per-pull-request stacks (preview-environment.yml) are written in the runner, never committed.
PR_STACK_PREFIX = "pr-"
PR_LABEL = "preview-env"
MAIN_REF = "refs/heads/main"
# The GitHub environments a deploying job is bound to; each has its own service account
# (bootstrap/ci_identities.py), which only a token of a job in that environment can become.
PLATFORM = "platform"
ENVIRONMENTS = "environments"
PREVIEW_ENVIRONMENTS = "preview-environments"
# The repository variables every job that reaches the backend reads (bootstrap output
# githubVariables.repository); without them a job fails in its auth step or at `pulumi login ""`.
BACKEND_VARIABLES = ("PULUMI_BACKEND_URL", "GCP_WORKLOAD_IDENTITY_PROVIDER", "GCP_PREVIEW_SERVICE_ACCOUNT")
DRIFT_LABEL = "drift"
DRIFT_TITLE = "Drift: deployed stacks differ from main"
# GitHub disables a public repository's scheduled workflows after 60 days without activity
# (docs.github.com "Disabling and enabling a workflow"); the daily run warns from this age on.
SCHEDULE_LAPSES_AFTER_DAYS = 60
SCHEDULE_WARNING_DAYS = 45


class CiError(Exception):
    """A refusal with one line for the run page; the command exits 1."""


# --- the runner's files ---------------------------------------------------------------------------

def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotate(level: str, title: str, message: str) -> None:
    """``::warning title=...::message`` (level: notice, warning, error)."""
    print(f"::{level} title={escape_property(title)}::{escape_data(message)}")


def set_outputs(**values: Any) -> None:
    """Step outputs; lists and mappings as JSON (what ``fromJSON`` reads), booleans as true/false."""
    lines = []
    for name, value in values.items():
        text = json.dumps(value) if isinstance(value, (list, dict)) else (
            str(value).lower() if isinstance(value, bool) else str(value))
        if "\n" in text:
            raise ValueError(f"output {name} spans lines")
        lines.append(f"{name}={text}\n")
    _append("GITHUB_OUTPUT", "".join(lines))


def add_summary(markdown: str) -> None:
    _append("GITHUB_STEP_SUMMARY", markdown if markdown.endswith("\n") else markdown + "\n")


def _append(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)
    else:  # run by hand: show what a runner would have recorded
        sys.stderr.write(f"[{variable}] {text}")


def existing_stacks(listing: Path) -> set[str]:
    """The stack names in ``pulumi stack ls --json`` output: a list of objects whose ``name`` is
    ``<stack>`` or ``organization/<project>/<stack>`` (pulumi/pulumi pkg/cmd/pulumi/stack
    stack_ls.go, stackSummaryJSON)."""
    try:
        entries = json.loads(listing.read_text())
    except (OSError, ValueError) as err:
        raise CiError(f"cannot read the stack listing {listing}: {err}") from None
    if not isinstance(entries, list):
        raise CiError(f"{listing}: expected a JSON list of stacks")
    return {str(entry["name"]).rsplit("/", 1)[-1] for entry in entries}


# --- who deploys what ---------------------------------------------------------------------------

def is_mutual(stack: StackFile) -> bool:
    """A MUTUAL environment writes its Gateway and client CA into the gateway namespace."""
    tls = stack.environment.get("tls")
    return isinstance(tls, Mapping) and tls.get("mode") == "MUTUAL"


def deployer(stack: StackFile) -> str:
    """The GitHub environment (and so the identity) whose job runs ``pulumi up`` for a stack:
    ``platform`` for owners and for attached stacks that write into the gateway namespace,
    ``environments`` for every other attached stack. The bootstrap grants state writes by the
    same rule (bootstrap/ci_identities.py)."""
    return PLATFORM if stack.is_owner or is_mutual(stack) else ENVIRONMENTS


def platform_stacks(stacks: StackSet) -> list[str]:
    """The stacks the platform identity deploys, owners first."""
    return [name for name in stacks.rollout_order() if deployer(stacks[name]) == PLATFORM]


def check_stack_names(stacks: StackSet) -> None:
    taken = [name for name in stacks.names if name.startswith(PR_STACK_PREFIX)]
    if taken:
        raise CiError(f"{', '.join(f'Pulumi.{n}.yaml' for n in taken)}: stack names starting with "
                      f"{PR_STACK_PREFIX!r} belong to per-pull-request environments; rename the file")


# --- commands -------------------------------------------------------------------------------------

def load_stacks(project_dir: str | Path) -> StackSet:
    from components.stackset import StackSet

    return StackSet.load(Path(project_dir))


def configured(environ: Mapping[str, str], ref: str | None = None) -> bool:
    """Whether the backend's repository variables are set (deploy.yml, operations.yml gate every
    job that would log in on this). A notice names what is missing."""
    missing = [name for name in BACKEND_VARIABLES if not environ.get(name, "").strip()]
    if missing:
        annotate("notice", "Repository not configured yet",
                 f"{', '.join(missing)} not set: nothing is deployed or checked. Set the variables "
                 "from the bootstrap's githubVariables output (README, 'Operating it as a team').")
    elsewhere = ref is not None and ref != MAIN_REF
    if elsewhere:
        annotate("notice", "Not from main", f"{ref}: this workflow deploys and checks main only (the pool "
                 "gives a token of another branch no identity)")
    ready = not missing and not elsewhere
    set_outputs(ready=ready)
    return ready


def cmd_configured(args: argparse.Namespace) -> int:
    configured(os.environ, args.ref or None)
    return 0


def added_stacks(event: str, before: str, sha: str, cwd: Path) -> list[str]:
    """The stack files a push adds (the only way CI creates an attached stack besides ``create``)."""
    if event != "push":
        return []
    if re.fullmatch(r"0{40}", before):  # the branch's first push: every file is new
        files = _git(cwd, "ls-files", "Pulumi.*.yaml").split()
    elif subprocess.run(["git", "cat-file", "-e", f"{before}^{{commit}}"], cwd=cwd,
                        capture_output=True).returncode == 0:
        files = _git(cwd, "diff", "--name-only", "--diff-filter=A", before, sha, "--", "Pulumi.*.yaml").split()
    else:
        annotate("warning", "Unknown previous commit",
                 f"{before} is gone (a force push?): no stack is created by this run")
        return []
    return sorted(Path(f).name[len("Pulumi."):-len(".yaml")] for f in files if "/" not in f)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def rollout(stacks: StackSet, existing: set[str], wanted: set[str],
            known_platform: list[str] | None) -> dict[str, list[dict]]:
    """owners, attached, gateway (the attached stacks the platform identity deploys): each
    ``{stack, upsert}``. Updates every stack that exists, creates the attached ones added or
    asked for, skips the rest with a warning. ``known_platform`` (variable PLATFORM_STACKS): the
    stacks whose state the bootstrap lets the platform identity alone write; any other stack it
    would get is refused, as the environment identity could plant what the platform one applies."""
    check_stack_names(stacks)
    plan: dict[str, list[dict]] = {"owners": [], "attached": [], "gateway": []}
    for name in stacks.rollout_order():
        stack = stacks[name]
        if name not in existing and (stack.is_owner or name not in wanted):
            why = ("an owner's first deploy is the platform admin's (README, 'From an empty GCP "
                   "project'), never CI's" if stack.is_owner else
                   "destroyed? Delete the file, or run this workflow with create: " + name)
            annotate("warning", f"Stack {name} skipped", f"Pulumi.{name}.yaml is on main but stack {name} "
                     f"does not exist ({why})")
            continue
        kind = "owners" if stack.is_owner else "gateway" if deployer(stack) == PLATFORM else "attached"
        if kind != "attached" and known_platform is not None and name not in known_platform:
            annotate("error", f"Stack {name} refused",
                     f"{name} is deployed by the platform identity, but the bootstrap does not list it "
                     "(PLATFORM_STACKS): run the bootstrap's `pulumi up` first, then set the variables again")
            continue
        plan[kind].append({"stack": name, "upsert": name not in existing})
    return plan


def cmd_rollout(args: argparse.Namespace) -> int:
    stacks = load_stacks(args.project_dir)
    added = added_stacks(args.event, args.before, args.sha, Path(args.project_dir))
    wanted = set(added) | {n.strip() for n in (args.create or "").split(",") if n.strip()}
    known = json.loads(args.platform_stacks) if args.platform_stacks else None
    plan = rollout(stacks, existing_stacks(Path(args.existing)), wanted, known)
    set_outputs(**plan)
    add_summary("".join(f"- {kind}: " + (", ".join(e["stack"] + (" (new)" if e["upsert"] else "")
                                                   for e in entries) or "none") + "\n"
                        for kind, entries in plan.items()))
    return 0


def cmd_existing(args: argparse.Namespace) -> int:
    """The stack files whose stacks exist, owners first (pull-request.yml's real previews and
    operations.yml's daily check); a stack file without its stack gets a notice."""
    stacks = load_stacks(args.project_dir)
    existing = existing_stacks(Path(args.existing))
    for name in stacks.rollout_order():
        if name not in existing:
            annotate("notice", f"No stack {name} yet", "its offline preview ran; the first deploy creates it")
    found = [name for name in stacks.rollout_order() if name in existing]
    pr = sorted((s for s in existing if s.startswith(PR_STACK_PREFIX)), key=lambda s: (len(s), s))
    set_outputs(stacks=found, owners=[n for n in found if stacks[n].is_owner], pr=pr)
    return 0


def cmd_stack_exists(args: argparse.Namespace) -> int:
    set_outputs(exists=args.stack in existing_stacks(Path(args.existing)))
    return 0


def destroy_guard(stacks: StackSet, name: str) -> str:
    """What destroy-environment.yml may destroy: an attached stack the environment identity deploys."""
    if name not in stacks.attached:
        raise CiError(f"{name!r} is not an attached stack; attached stacks: {', '.join(stacks.attached) or 'none'}"
                      + (" (per-pull-request stacks are removed with their label)" if
                         name.startswith(PR_STACK_PREFIX) else ""))
    if deployer(stacks[name]) != ENVIRONMENTS:
        raise CiError(f"{name} is MUTUAL: its Gateway and client CA sit in the gateway namespace, which only "
                      f"the platform identity may change; destroy it by hand (pulumi destroy -s {name})")
    return f"{name}: attached to {stacks[name].owner}, destroying"


def cmd_destroy_guard(args: argparse.Namespace) -> int:
    if args.ref != MAIN_REF:
        raise CiError(f"{args.ref}: run this workflow from main (the environment identity takes main's "
                      "tokens only; from a branch it would wait for approval, then fail at the pool)")
    print(destroy_guard(load_stacks(args.project_dir), args.stack))
    return 0


# --- per-pull-request environments ------------------------------------------------------------------

def pr_stack(number: int | str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{0,9}", str(number)):
        raise CiError(f"not a pull request number: {number!r}")
    return f"{PR_STACK_PREFIX}{number}"


def cmd_pr_environment(args: argparse.Namespace) -> int:
    """Write the pull request's stack file with tools.new_env (previewed offline through the real
    program), and output its URL from that preview's plan."""
    from tools import new_env

    stack = pr_stack(args.number)
    build = Path(args.project_dir) / "build"
    code = new_env.main([stack, "--project-dir", args.project_dir, "--build-dir", str(build),
                         "--quota-cpu", "1", "--quota-memory", "2Gi", "--quota-pods", "10"])
    if code != 0:
        return code
    plan = json.loads((build / stack / "plan.json").read_text())
    set_outputs(stack=stack, url=plan["outputs"]["url"])
    return 0


# --- GitHub's REST API ------------------------------------------------------------------------------

class GitHub:
    """The few REST calls the workflows make, with the job's token (docs.github.com REST API)."""

    def __init__(self, api: str, repository: str, token: str):
        self.api, self.repository, self.token = api.rstrip("/"), repository, token

    def call(self, method: str, path: str, body: Any = None) -> tuple[Any, str]:
        url = path if path.startswith("http") else f"{self.api}/repos/{self.repository}{path}"
        request = urllib.request.Request(
            url, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"})
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            return (json.loads(data) if data else None), response.headers.get("Link") or ""

    def pages(self, path: str) -> Iterable[Any]:
        """Every item of a listing, following ``Link: <...>; rel="next"``."""
        url: str | None = path
        while url:
            items, link = self.call("GET", url)
            yield from items or []
            url = next((part.split(";")[0].strip(" <>") for part in link.split(",") if 'rel="next"' in part), None)

    def open_issues(self, label: str) -> list[dict]:
        """The issues endpoint also returns pull requests: left out."""
        return [i for i in self.pages(f"/issues?state=open&labels={label}&per_page=100") if "pull_request" not in i]

    def close(self, number: int, comment: str) -> None:
        self.call("POST", f"/issues/{number}/comments", {"body": comment})
        self.call("PATCH", f"/issues/{number}", {"state": "closed", "state_reason": "completed"})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> GitHub:
        return cls(environ["GITHUB_API_URL"], environ["GITHUB_REPOSITORY"], environ["GH_TOKEN"])


def upsert_comment(github: GitHub, number: int, marker: str, body: str, once: bool = False) -> str:
    """One comment on an issue or pull request, found by its first line: updated in place (or,
    with ``once``, left as it is). Returns what was done."""
    previous = next((c for c in github.pages(f"/issues/{number}/comments?per_page=100")
                     if (c.get("body") or "").startswith(marker)), None)
    text = f"{marker}\n{body}"
    if previous and once:
        return "kept"
    if previous:
        github.call("PATCH", f"/issues/comments/{previous['id']}", {"body": text})
        return "updated"
    github.call("POST", f"/issues/{number}/comments", {"body": text})
    return "created"


PR_COMMENT_MARKER = "<!-- istio-envs offline preview -->"


def pull_request_comment(summaries: Path, revdiff: Path) -> str:
    """The revision diff (risks first), the fleet's table, then each stack's summary folded away."""
    fleet, diff = summaries / "summary.md", revdiff / "revdiff.md"
    parts = [path.read_text() for path in sorted(summaries.glob("*/summary.md"))]
    folded = [f"<details><summary>{part.splitlines()[0].lstrip('# ')}</summary>\n\n{part}\n</details>"
              for part in parts if part.strip()]
    return "\n\n".join([diff.read_text() if diff.exists() else "_No revision diff (see the revision-diff job)._",
                        fleet.read_text() if fleet.exists() else
                        "_No offline preview (see the offline-preview job)._", *folded])[:65000]


def cmd_pr_comment(args: argparse.Namespace) -> int:
    body = pull_request_comment(Path(args.summaries), Path(args.revdiff))
    print(upsert_comment(GitHub.from_environment(), int(args.number), PR_COMMENT_MARKER, body))
    return 0


def cmd_pr_environment_comment(args: argparse.Namespace) -> int:
    stack = pr_stack(args.number)
    marker = f"<!-- istio-envs preview environment {stack} -->"
    print(upsert_comment(GitHub.from_environment(), int(args.number), marker,
                         f"Preview environment `{stack}` is up: {args.url}", once=True))
    return 0


def cmd_summaries(args: argparse.Namespace) -> int:
    """Put markdown files on the run page: the fleet's table first, then each stack's summary."""
    build = Path(args.build)
    files = [build / "summary.md", *sorted(build.glob("*/summary.md"))] if build.is_dir() else [build]
    add_summary("\n".join(path.read_text() for path in files if path.is_file()) or
                f"_Nothing to show: {build} was not written (see the step above)._")
    return 0


# --- drift and renewal ------------------------------------------------------------------------------

# Step kinds of a replacement (pulumi/pulumi pkg/display/json.go PreviewStep.Op).
REPLACE = {"replace", "create-replacement", "delete-replaced"}
CERTIFICATES = {"tls:index/locallySignedCert:LocallySignedCert", "tls:index/selfSignedCert:SelfSignedCert"}
SECRET = "kubernetes:core/v1:Secret"
STATES = ("clean", "renewal", "drift", "error")


def classify(stack: str, role: str, preview: Path, outcome: str) -> dict:
    """One stack's daily result from its ``pulumi preview --json`` (and the step's outcome):
    ``clean``; ``renewal`` (an owner whose only changes are its self-signed certificates'
    re-issue and the Secret holding them); ``drift`` (anything else); ``error`` (no readable
    preview, an error diagnostic, or a failed preview step)."""
    try:
        digest = json.loads(preview.read_text())
    except (OSError, ValueError):
        digest = None
    steps = digest.get("steps", []) if isinstance(digest, dict) else []
    changes = [{"op": s["op"], "urn": s["urn"], "type": s["urn"].split("::")[2].split("$")[-1]}
               for s in steps if s.get("op") not in ("same", "read")]
    errors = [d.get("message", "").strip() for d in (digest or {}).get("diagnostics", [])
              if d.get("severity") == "error"] if isinstance(digest, dict) else []
    if digest is None:
        errors = errors or [f"no preview output (the preview step: {outcome or 'did not run'})"]
    elif outcome not in ("", "success") and not errors:
        errors = [f"the preview step ended with {outcome}"]
    renewal = role == "owner" and bool(changes) and any(c["type"] in CERTIFICATES for c in changes) and all(
        (c["type"] in CERTIFICATES and c["op"] in REPLACE) or (c["type"] == SECRET and c["op"] == "update")
        for c in changes)
    state = "error" if errors else "clean" if not changes else "renewal" if renewal else "drift"
    return {"stack": stack, "role": role, "state": state, "changes": changes, "errors": errors}


def cmd_classify(args: argparse.Namespace) -> int:
    stacks = load_stacks(args.project_dir)
    role = "owner" if args.stack in stacks and stacks[args.stack].is_owner else "attached"
    result = classify(args.stack, role, Path(args.preview), args.outcome)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result))
    add_summary(f"### {args.stack}: {result['state']}\n" + "".join(
        f"- `{c['op']}` {c['type']} `{c['urn'].rsplit('::', 1)[-1]}`\n" for c in result["changes"]) + "".join(
        f"- error: {e}\n" for e in result["errors"]))
    if result["state"] in ("drift", "error"):
        annotate("error", f"{result['state'].capitalize()} in {args.stack}", f"{len(result['changes'])} change(s): "
                 + ", ".join(c["urn"].rsplit("::", 1)[-1] for c in result["changes"]) + "; ".join(result["errors"]))
        return 1
    return 0


def results_for(expected: Sequence[str], results_dir: Path) -> list[dict]:
    """Every stack that was meant to be checked, each with a result: a stack whose job uploaded
    nothing (it failed in auth, login or setup, or never started) is an error, not silence."""
    found = {}
    for path in sorted(results_dir.glob("*/*.json")) if results_dir.is_dir() else []:
        try:
            result = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(result, dict) and result.get("state") in STATES:
            found[result["stack"]] = result
    return [found.get(stack) or {"stack": stack, "state": "error", "changes": [],
                                 "errors": ["no result: its job failed before the preview (auth, login or "
                                            "setup) or never ran; see the run"]}
            for stack in expected] + [r for s, r in found.items() if s not in expected]


def code_owners(root: Path, path: str) -> list[str]:
    """The owners CODEOWNERS gives a path (the last matching pattern wins; docs.github.com "About
    code owners"), from .github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS."""
    import fnmatch

    for candidate in (root / ".github" / "CODEOWNERS", root / "CODEOWNERS", root / "docs" / "CODEOWNERS"):
        if candidate.is_file():
            owners: list[str] = []
            for line in candidate.read_text().splitlines():
                fields = line.split("#", 1)[0].split()
                if not fields:
                    continue
                pattern, names = fields[0], fields[1:]
                anchored = pattern.startswith("/")
                glob = pattern.lstrip("/")
                if glob.endswith("/"):
                    glob += "**"
                matches = (fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, glob + "/**")
                           or (not anchored and "/" not in glob.rstrip("*") and
                               fnmatch.fnmatch(path.rsplit("/", 1)[-1], glob)))
                if matches:
                    owners = names
            return owners
    return []


@dataclass(frozen=True)
class Report:
    renew: list[str]
    body: str | None
    mentions: list[str]


def report(results: Sequence[dict], orphans: Sequence[str], run_url: str, mentions: Sequence[str],
           schedule_age_days: int | None) -> Report:
    """What the daily run tells: the owners to renew, and the issue text (None when every stack
    is clean and nothing is orphaned or about to lapse)."""
    renew = [r["stack"] for r in results if r["state"] == "renewal" and r.get("role", "owner") == "owner"]
    bad = [r for r in results if r["state"] in ("drift", "error")]
    lines = []
    if bad:
        lines += [f"The daily check ({run_url}) found stacks that differ from main, or could not check them:", ""]
        for r in bad:
            what = ", ".join(f"{c['op']} {c['type']} `{c['urn'].rsplit('::', 1)[-1]}`" for c in r["changes"])
            lines.append(f"- **{r['stack']}** ({r['state']}): " + (what or "; ".join(r["errors"]) or "no preview"))
    if orphans:
        lines += ["", "Per-pull-request stacks whose pull request is closed or unlabelled (their teardown was "
                  "not approved, or failed): " + ", ".join(f"`{s}`" for s in orphans) + ". Approve the "
                  "pending teardown, or run `pulumi destroy --remove -s <stack>` as a platform admin."]
    if schedule_age_days is not None and schedule_age_days >= SCHEDULE_WARNING_DAYS:
        left = max(SCHEDULE_LAPSES_AFTER_DAYS - schedule_age_days, 0)
        lines += ["", f"The last commit on the default branch is {schedule_age_days} days old: GitHub disables "
                  f"this scheduled workflow after {SCHEDULE_LAPSES_AFTER_DAYS} days without activity (about "
                  f"{left} left); this run asked GitHub to keep it enabled. Certificates renew only while it runs."]
    if lines and mentions:
        lines += ["", "cc " + " ".join(mentions)]
    return Report(renew=renew, body="\n".join(lines) if lines else None, mentions=list(mentions))


def publish(github: GitHub, outcome: Report, run_url: str) -> str:
    issues = github.open_issues(DRIFT_LABEL)
    if outcome.body is None:
        for issue in issues:
            github.close(issue["number"], f"Every stack is clean again ({run_url}); closing.")
        return f"closed {len(issues)}" if issues else "nothing to report"
    if issues:
        number = issues[0]["number"]
        github.call("POST", f"/issues/{number}/comments", {"body": outcome.body})
        done = f"commented on #{number}"
    else:
        created, _ = github.call("POST", "/issues", {"title": DRIFT_TITLE, "body": outcome.body,
                                                     "labels": [DRIFT_LABEL]})
        number, done = created["number"], f"opened #{created['number']}"
    users = [m.lstrip("@") for m in outcome.mentions if "/" not in m]
    if users:
        # Only users can be assignees (a team is notified by its mention in the body).
        try:
            github.call("POST", f"/issues/{number}/assignees", {"assignees": users})
        except urllib.error.HTTPError as err:
            annotate("warning", "Drift issue not assigned", f"{', '.join(users)}: {err}")
    return done


def keep_schedule_alive(github: GitHub, workflow: str) -> None:
    """PUT .../actions/workflows/<file>/enable (docs.github.com REST "Enable a workflow"): the
    run asks GitHub to keep this scheduled workflow enabled before the 60 days run out."""
    github.call("PUT", f"/actions/workflows/{workflow}/enable")


def last_commit_age_days(cwd: Path, now: datetime | None = None) -> int:
    stamp = int(_git(cwd, "log", "-1", "--format=%ct").strip())
    return ((now or datetime.now(timezone.utc)) - datetime.fromtimestamp(stamp, timezone.utc)).days


def orphaned_pr_stacks(existing: set[str], open_labelled: set[int]) -> list[str]:
    return sorted((s for s in existing if s.startswith(PR_STACK_PREFIX)
                   and s[len(PR_STACK_PREFIX):].isdigit() and int(s[len(PR_STACK_PREFIX):]) not in open_labelled),
                  key=lambda s: int(s[len(PR_STACK_PREFIX):]))


def cmd_report(args: argparse.Namespace) -> int:
    github = GitHub.from_environment()
    project = Path(args.project_dir)
    results = results_for(json.loads(args.expected or "[]"), Path(args.results))
    if args.listing != "success":
        results.append({"stack": "(every stack)", "state": "error", "changes": [],
                        "errors": [f"listing the stacks ended with {args.listing or 'nothing'}: none was checked"]})
    open_labelled = {p["number"] for p in github.pages("/pulls?state=open&per_page=100")
                     if any(label.get("name") == PR_LABEL for label in p.get("labels", []))}
    orphans = orphaned_pr_stacks(set(json.loads(args.pr_stacks or "[]")), open_labelled)
    # Who is told: the configured mention (variable DRIFT_MENTION), then the code owners of each
    # stack file that drifted or failed, else those of this workflow.
    owners = [m for r in results if r["state"] in ("drift", "error")
              for m in code_owners(project, f"Pulumi.{r['stack']}.yaml")]
    owners = owners or code_owners(project, ".github/workflows/operations.yml")
    mentions = list(dict.fromkeys(m for m in [*(args.mention or "").split(), *owners] if m.startswith("@")))
    age = last_commit_age_days(project)
    outcome = report(results, orphans, args.run_url, mentions, age)
    if age >= SCHEDULE_WARNING_DAYS:
        try:
            keep_schedule_alive(github, "operations.yml")
        except urllib.error.HTTPError as err:
            annotate("warning", "Schedule not renewed", f"{err}: enable the workflow by hand before it lapses")
    set_outputs(renew=outcome.renew)
    add_summary("| stack | result |\n|---|---|\n" + "".join(f"| `{r['stack']}` | {r['state']} |\n" for r in results))
    print(publish(github, outcome, args.run_url))
    return 0


# --- upstream: support windows, chart repositories, registries, newer patches ------------------------

UPSTREAM_LABEL = "upstream"
UPSTREAM_DOCS = "docs/operations.md"
UPSTREAM_MARKER = "<!-- istio-envs upstream finding -->"
# A repository or registry answering this no longer serves what was asked for.
GONE = (404, 410)
# Where a registry's v2 API answers, when its image names say another host (Docker Hub's).
REGISTRY_API = {"docker.io": "registry-1.docker.io"}
# What a pinned tag or digest may be stored as (an index for a multi-platform image), for the
# manifest HEAD (distribution spec "Pulling manifests").
MANIFEST_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
# The docs/operations.md section that says how to act on each kind of finding.
ACT_ON_SUPPORT, ACT_ON_SOURCE, ACT_ON_PATCH = (
    "end-of-support-near-past-or-not-published", "a-repository-or-registry-no-longer-serves-a-pin",
    "a-newer-patch-of-a-pin")

# (method, url, headers) -> (status, response headers with lower-case names, body); an unreachable
# host raises OSError.
Fetch = Callable[[str, str, Mapping[str, str]], tuple[int, Mapping[str, str], bytes]]


@dataclass(frozen=True)
class Finding:
    """What the daily run files one issue for, under ``title`` (stable while the finding lasts)."""

    title: str
    body: str
    act: str
    """The docs/operations.md anchor that says how to act on it."""


class Unchecked(Exception):
    """A check that could not be made (unreachable, an unexpected answer): a warning on the run,
    never an issue, and no issue is closed on such a run."""


def http_fetch(method: str, url: str, headers: Mapping[str, str]) -> tuple[int, Mapping[str, str], bytes]:
    """The network, for the daily run only (the tests pass a stand-in)."""
    request = urllib.request.Request(url, method=method, headers={"User-Agent": "istio-envs-upstream-check",
                                                                  **headers})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in (err.headers or {}).items()}, err.read()


def _ask(fetch: Fetch, method: str, url: str,
         headers: Mapping[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes]:
    try:
        return fetch(method, url, headers or {})
    except OSError as err:
        raise Unchecked(f"{method} {url}: {err}") from None


def newer_patch(versions: Iterable[str], pinned: str) -> str | None:
    """The newest release of ``pinned``'s minor after it (same ``v`` prefix; pre-releases left out)."""
    pin = re.fullmatch(r"(v?)(\d+)\.(\d+)\.(\d+)", pinned)
    if not pin:
        return None
    prefix, major, minor, patch = pin.groups()
    later = [(int(m.group(1)), v) for v in versions
             if (m := re.fullmatch(rf"{prefix}{major}\.{minor}\.(\d+)", v)) and int(m.group(1)) > int(patch)]
    return max(later)[1] if later else None


def chart_findings(fetch: Fetch, label: str, repo: str, charts: Sequence[str], version: str) -> list[Finding]:
    """A Helm repository's ``index.yaml`` (Helm "The Chart Repository Guide"): each chart listed at
    the pinned version with an archive that is still there, and whether all of them have a newer
    patch."""
    import yaml

    status, _, body = _ask(fetch, "GET", f"{repo}/index.yaml")
    if status not in GONE and not 200 <= status < 300:
        raise Unchecked(f"GET {repo}/index.yaml: HTTP {status}")
    entries: dict = {}
    if status not in GONE:
        try:
            index = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as err:
            raise Unchecked(f"{repo}/index.yaml: not YAML ({err})") from None
        if not isinstance(index, dict) or not isinstance(index.get("entries"), dict):
            raise Unchecked(f"{repo}/index.yaml: no entries")
        entries = index["entries"]
    found = []
    for chart in charts:
        entry = next((e for e in entries.get(chart) or [] if str(e.get("version")) == version), None)
        if status in GONE:
            why = f"{repo}/index.yaml answers HTTP {status}: the repository serves no chart"
        elif entry is None:
            why = f"{repo}/index.yaml no longer lists {chart} {version}"
        elif not entry.get("urls"):
            why = f"{repo}/index.yaml lists {chart} {version} without an archive"
        else:
            archive = urllib.parse.urljoin(f"{repo}/", str(entry["urls"][0]))
            got, _, _ = _ask(fetch, "HEAD", archive)
            if 200 <= got < 300:
                continue
            if got not in GONE:
                raise Unchecked(f"HEAD {archive}: HTTP {got}")
            why = f"{repo}/index.yaml lists {chart} {version}, but its archive {archive} answers HTTP {got}"
        found.append(Finding(f"upstream: {repo} no longer serves {chart} {version}",
                             f"The {label} chart `{chart}` {version}, pinned in components/versions.py: {why}.",
                             ACT_ON_SOURCE))
    common = set.intersection(*({str(e.get("version")) for e in entries.get(chart) or []} for chart in charts))
    newest = newer_patch(common, version)
    if newest:
        found.append(Finding(f"upstream: newer {label} patch than {version}",
                             f"{repo} has {label} {newest} for every chart the program installs ("
                             f"{', '.join(charts)}); components/versions.py pins {version}.", ACT_ON_PATCH))
    return found


def registry_token(fetch: Fetch, challenge: str) -> str:
    """An anonymous pull token from the realm a registry's 401 names (``WWW-Authenticate: Bearer
    realm=...,service=...,scope=...``: the token authentication docker.io and quay.io follow)."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", None)
    if not challenge.startswith("Bearer ") or not realm:
        raise Unchecked(f"the registry asks for credentials ({challenge or 'no challenge'})")
    status, _, body = _ask(fetch, "GET", f"{realm}?{urllib.parse.urlencode(fields)}")
    try:
        answer = json.loads(body) if status == 200 else {}
    except ValueError:
        answer = {}
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not token:
        raise Unchecked(f"GET {realm}: no anonymous token (HTTP {status})")
    return token


def image_gone(fetch: Fetch, image: str) -> str | None:
    """Why a registry no longer serves ``image`` (``host/name:tag`` or ``host/name@digest``), from
    a HEAD of its manifest (distribution spec, ``/v2/<name>/manifests/<reference>``); None: it does."""
    host, _, path = image.partition("/")
    name, at, digest = path.partition("@")
    name, reference = (name, digest) if at else path.rsplit(":", 1)
    url = f"https://{REGISTRY_API.get(host, host)}/v2/{name}/manifests/{reference}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    status, answer, _ = _ask(fetch, "HEAD", url, headers)
    if status == 401:
        token = registry_token(fetch, answer.get("www-authenticate") or "")
        status, _, _ = _ask(fetch, "HEAD", url, {**headers, "Authorization": f"Bearer {token}"})
        if status == 401:
            return f"HEAD {url} answers HTTP 401 with an anonymous pull token: the repository is gone or private"
    if 200 <= status < 300:
        return None
    if status in GONE:
        return f"HEAD {url} answers HTTP {status}"
    raise Unchecked(f"HEAD {url}: HTTP {status}")


def pinned_images() -> list[str]:
    """Every image the program runs, as its pins name them."""
    from components import versions as v

    return [*(f"{v.ISTIO_HUB}/{name}:{v.ISTIO_VERSION}" for name in v.ISTIO_IMAGES),
            *(f"{v.CERT_MANAGER_REGISTRY}/{v.CERT_MANAGER_IMAGE_NAMESPACE}/{name}:{v.CERT_MANAGER_VERSION}"
              for name in v.CERT_MANAGER_IMAGES),
            v.DEMO_ECHO_IMAGE]


def upstream_findings(today: date, fetch: Fetch, windows: dict | None = None) -> tuple[list[Finding], list[str]]:
    """Everything upstream that needs a person, and the checks that could not be made: each pin
    near, past or without its end of support (components/support.py, the same notices `make
    preview` prints); a chart repository or registry that no longer serves a pin; a newer patch."""
    from components import support
    from components import versions as v

    findings = [Finding(f"upstream: {notice.title}", notice.text, ACT_ON_SUPPORT)
                for notice in support.notices(today, windows)]
    errors = []
    for label, repo, charts, version in (("Istio", v.ISTIO_CHARTS, v.ISTIO_CHART_NAMES, v.ISTIO_VERSION),
                                         ("cert-manager", v.CERT_MANAGER_CHARTS, ("cert-manager",),
                                          v.CERT_MANAGER_VERSION)):
        try:
            findings += chart_findings(fetch, label, repo, charts, version)
        except Unchecked as err:
            errors.append(str(err))
    for image in pinned_images():
        try:
            why = image_gone(fetch, image)
        except Unchecked as err:
            errors.append(str(err))
            continue
        if why:
            findings.append(Finding(f"upstream: {image.split('/')[0]} no longer serves {image}",
                                    f"`{image}`, pinned in components/versions.py: {why}.", ACT_ON_SOURCE))
    return findings, errors


def publish_upstream(github: GitHub, findings: Sequence[Finding], run_url: str, docs_url: str,
                     complete: bool) -> list[str]:
    """One open issue labelled ``upstream`` per finding, found by its title: opened, or commented
    on when what it says changed; an open one whose finding is gone is closed, but only after a
    run that made every check (``complete``). Returns what was done, a line per issue."""
    issues = {i["title"]: i for i in github.open_issues(UPSTREAM_LABEL)}
    done = []
    for finding in findings:
        text = f"{finding.body}\n\nHow to act: {docs_url}#{finding.act}"
        said = f"{text}\n\nFound by {run_url}.\n{UPSTREAM_MARKER}"
        issue = issues.get(finding.title)
        if issue is None:
            created, _ = github.call("POST", "/issues", {"title": finding.title, "body": said,
                                                         "labels": [UPSTREAM_LABEL]})
            done.append(f"opened #{created['number']}: {finding.title}")
            continue
        number = issue["number"]
        ours = [b for b in [issue.get("body") or "", *(c.get("body") or "" for c in
                                                      github.pages(f"/issues/{number}/comments?per_page=100"))]
                if UPSTREAM_MARKER in b]
        if ours and ours[-1].startswith(text):
            done.append(f"unchanged #{number}: {finding.title}")
        else:
            github.call("POST", f"/issues/{number}/comments", {"body": said})
            done.append(f"commented on #{number}: {finding.title}")
    found = {finding.title for finding in findings}
    for title, issue in issues.items():
        if title in found:
            continue
        if not complete:
            done.append(f"kept #{issue['number']} (a check could not be made): {title}")
            continue
        github.close(issue["number"], f"No longer found by {run_url}: closing.\n{UPSTREAM_MARKER}")
        done.append(f"closed #{issue['number']}: {title}")
    return done


def cmd_upstream_findings(args: argparse.Namespace) -> int:
    """The daily upstream check (operations.yml): support windows, chart repositories and
    registries, newer patches; one issue per finding from main, the findings listed elsewhere
    (or with --dry-run). Exits 1 when a check could not be made."""
    findings, errors = upstream_findings(date.fromisoformat(args.today) if args.today else date.today(), http_fetch)
    for error in errors:
        annotate("warning", "Upstream not checked", error)
    add_summary("### Upstream findings\n" + "".join(f"- {f.title}\n" for f in findings) +
                ("" if findings else "_None._\n") + "".join(f"- could not check: {e}\n" for e in errors))
    if args.dry_run or args.ref != MAIN_REF:
        if args.ref and args.ref != MAIN_REF:
            annotate("notice", "Not from main", f"{args.ref}: the findings are listed here, no issue is filed")
        print("".join(f"{f.title}\n    {f.body}\n" for f in findings), end="")
        return 1 if errors else 0
    github = GitHub.from_environment()
    docs = f"{os.environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{github.repository}/blob/main/{UPSTREAM_DOCS}"
    print("\n".join(publish_upstream(github, findings, args.run_url, docs, complete=not errors)))
    return 1 if errors else 0


# --- entry point ------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m tools.ci", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--project-dir", default=str(PROJECT_DIR))
    commands = main.add_subparsers(dest="command", required=True)

    def command(name: str, function, help_text: str, *required: str, **optional: tuple[Any, str | None]) -> None:
        """``required``: flags (or a positional); ``optional``: flag -> (default, help), False a switch."""
        sub = commands.add_parser(name, help=help_text, description=function.__doc__)
        sub.set_defaults(run=function)
        for flag in required:
            if flag.startswith("--"):
                sub.add_argument(flag, required=True)
            else:
                sub.add_argument(flag)
        for key, (default, text) in optional.items():
            sub.add_argument("--" + key.replace("_", "-"), help=text,
                             **({"action": "store_true"} if default is False else {"default": default}))

    command("configured", cmd_configured, "output ready=true once the backend variables are set",
            ref=("", "the run's ref: anything but main is not ready"))
    command("rollout", cmd_rollout, "deploy.yml's plan: owners, attached, gateway-attached",
            "--existing", "--event", "--before", "--sha", create=("", None),
            platform_stacks=("", "JSON list (variable PLATFORM_STACKS)"))
    command("existing", cmd_existing, "the stack files whose stacks exist", "--existing")
    command("stack-exists", cmd_stack_exists, "output exists=true|false for one stack", "--stack", "--existing")
    command("destroy-guard", cmd_destroy_guard, "refuse what destroy-environment.yml may not destroy",
            "--stack", "--ref")
    command("pr-environment", cmd_pr_environment, "write pr-<number>'s stack file", "--number")
    command("pr-environment-comment", cmd_pr_environment_comment, "comment the environment's URL once",
            "--number", "--url")
    command("pr-comment", cmd_pr_comment, "the pull request's offline-preview comment",
            "--number", "--summaries", "--revdiff")
    command("summaries", cmd_summaries, "markdown files onto the run page", "build")
    command("classify", cmd_classify, "one stack's daily result", "--stack", "--preview", "--out",
            outcome=("", None))
    command("report", cmd_report, "the daily run's issue, renewals and schedule", "--results", "--run-url",
            expected=("[]", "JSON list of the stacks meant to be checked"),
            pr_stacks=("[]", "JSON list of the pr-* stacks that exist"),
            listing=("success", "the result of the job that listed the stacks"), mention=("", None))
    command("upstream-findings", cmd_upstream_findings, "support windows, sources and patches: an issue each",
            ref=("", "the run's ref: issues are filed from main only"),
            run_url=("", "the run, named in what is filed"),
            dry_run=(False, "list the findings, file nothing"),
            today=("", "YYYY-MM-DD: the support windows as of that day (default: today)"))
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CiError as err:
        annotate("error", "Refused", str(err))
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
