"""``make diff-rev``: a real repository of several commits, one scenario per commit, each compared
with the commit before it; the command on it (worktrees, a revision with its own program, exit
codes, an unknown stack, through make); and each risk class planted in a plan and reported."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.versions import ISTIO_CHARTS, ISTIO_VERSION
from preview import PROJECT_DIR, diffview, revdiff
from preview.diff import Change
from preview.risks import CLASSES, REPLACES


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


# Not the project's: what a copy of it outside git (an owner's export, a CI cache) holds besides.
UNTRACKED = ("__pycache__", ".venv", "build", "node_modules", ".pytest_cache", ".ruff_cache")


def _project_files() -> list[str]:
    """The project's files: git's list, or, in a copy that is no git work tree, every file but
    the untracked kinds."""
    listed = subprocess.run(["git", "-C", str(PROJECT_DIR), "ls-files"], capture_output=True, text=True)
    inside = subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "--show-prefix"],
                            capture_output=True, text=True)
    if listed.returncode == 0 and inside.returncode == 0 and not inside.stdout.strip():
        return listed.stdout.split()
    return sorted(str(path.relative_to(PROJECT_DIR)) for path in PROJECT_DIR.rglob("*")
                  if path.is_file() and not set(path.relative_to(PROJECT_DIR).parts) & set(UNTRACKED))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Commits: 0 the project; 1 a new environment qa; 2 qa removed; 3 mtls MUTUAL → SIMPLE;
    4 dev: quota 4 → 16 CPU, a public path and a masterCidr; 5 a comment only; 6 the Istio pin
    moved a patch release (the program changes: the head is previewed by its own program, in a
    process of its own). Beside main: 7 a program that fails at import, on 6; 8 no file at all."""
    root = tmp_path_factory.mktemp("revrepo")
    for name in _project_files():
        if (PROJECT_DIR / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, root / name)
    _git(root, "init", "-q", "-b", "main")
    commits = []

    def commit(message: str) -> None:
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "--allow-empty", "-m", message)
        commits.append(_git(root, "rev-parse", "HEAD"))

    def replace(path: str, old: str, new: str) -> None:
        file = root / path
        text = file.read_text()
        assert old in text, (path, old)
        file.write_text(text.replace(old, new, 1))

    commit("the project")
    (root / "Pulumi.qa.yaml").write_text((root / "Pulumi.test.yaml").read_text().replace(
        "test.api", "qa.api"))
    commit("qa: a new environment")
    (root / "Pulumi.qa.yaml").unlink()
    commit("qa removed")
    replace("examples/mutual/Pulumi.mtls.yaml", "      mode: MUTUAL\n      clientCa: self-signed\n"
            "      clientCertificateDays: 30", "      mode: SIMPLE")
    commit("mtls: SIMPLE")
    replace("Pulumi.dev.yaml", 'quota: {cpu: "4"', 'quota: {cpu: "16"')
    replace("Pulumi.dev.yaml", "publicPaths: [/accounts/health]", "publicPaths: [/accounts/health, /orders]")
    replace("Pulumi.dev.yaml", "    cluster:\n", "    cluster:\n      masterCidr: 172.16.8.0/28\n")
    commit("dev: quota 16 CPU, /orders public, masterCidr")
    replace("Pulumi.dev.yaml", "# dev owns", "# (reworded) dev owns")
    commit("a comment only")
    major, minor, patch = ISTIO_VERSION.split(".")
    replace("components/versions.py", f'ISTIO_VERSION = "{ISTIO_VERSION}"',
            f'ISTIO_VERSION = "{major}.{minor}.{int(patch) + 1}"')
    commit("istio bump")
    _git(root, "checkout", "-q", "-b", "broken")
    (root / "components/versions.py").write_text((root / "components/versions.py").read_text()
                                                 + "\nraise RuntimeError('a pin nobody can read')\n")
    commit("broken")
    _git(root, "checkout", "-q", "--orphan", "empty")
    _git(root, "rm", "-rqf", ".")
    commit("empty")
    _git(root, "checkout", "-q", "-f", "main")
    return root, commits


@pytest.fixture(scope="module")
def plans(repo, build_dir, shipped_plans, example_plans) -> dict[str, dict]:
    """commit -> stack -> plan: the project's own from the session's previews (commit 0 is the
    project), each later one previewed once, by revdiff's own loop (an attached stack against
    the session's preview of its owner), only the stacks its scenario changes."""
    root, commits = repo
    out = {commits[0]: {"dev": shipped_plans["dev"], "mtls": example_plans["mtls"], "qa": None},
           commits[2]: {"qa": None}}
    for index, stack in ((1, "qa"), (3, "mtls"), (4, "dev"), (5, "dev")):
        with revdiff.checkout(root, commits[index]) as tree:
            build = tree / "build-rev"
            shutil.copytree(build_dir / "dev", build / "dev")  # qa's owner, never previewed again
            out[commits[index]] = revdiff._finish(tree, [stack], build, None)
    return out


def _pair(repo, plans, old: int, new: int, stack: str) -> revdiff.Report:
    _, commits = repo
    return revdiff.compare({stack: plans[commits[old]][stack]}, {stack: plans[commits[new]][stack]},
                           base=commits[old][:7], head=commits[new][:7])


def _kinds(report: revdiff.Report) -> set[str]:
    return {r.kind for r in report.risks}


@pytest.mark.long
def test_scenarios(repo, plans) -> None:
    created = _pair(repo, plans, 0, 1, "qa")
    assert created.stacks[0].status == "created" and "created as a whole" in revdiff.text(created)
    destroyed = _pair(repo, plans, 1, 2, "qa")
    assert destroyed.stacks[0].status == "destroyed"
    assert {"namespace-deleted", "dns-removed"} <= _kinds(destroyed)

    tls = _pair(repo, plans, 0, 3, "mtls")
    assert "tls-lowered" in _kinds(tls), revdiff.text(tls)

    dev = _pair(repo, plans, 0, 4, "dev")
    assert _kinds(dev) == {"quota-raised", "access-opened", "protected-replace", "cluster-rebuild"}
    assert dev.stacks[0].changed["kubernetes:core/v1:ResourceQuota dev-quota"] == [
        Change("spec.hard.requests.cpu", "changed", "4", "16")]
    assert '  ~ kubernetes:core/v1:ResourceQuota dev-quota\n      spec.hard.requests.cpu: "4" → "16"' \
        in diffview.text(dev)
    opened = [r.text for r in dev.risks if r.kind == "access-opened"]
    assert "https://dev.api.example.com/orders with no token: 403 → reaches orders.dev:8080" in opened
    assert "https://dev.api.example.com/orders/x with no token: 403 → reaches orders.dev:8080" in opened
    replaced = [r.text for r in dev.risks if r.kind == "protected-replace"]
    assert any("privateClusterConfig.masterIpv4CidrBlock" in t and "ForceNew" in t for t in replaced)

    noop = _pair(repo, plans, 4, 5, "dev")
    assert noop.risks == [] and noop.stacks[0].status == "unchanged"
    assert revdiff.text(noop).splitlines()[-1] == "unchanged (1): dev"
    for report in (created, destroyed, tls, dev, noop):
        assert "[secret]" not in json.dumps([revdiff.markdown(report), revdiff.text(report)])
        json.loads(revdiff.as_json(report))


def test_command_previews_each_revision_in_a_worktree(repo, capsys) -> None:
    """The command itself: base and head each a worktree (removed afterwards), TLS lowered,
    risks first, and exit 3 when its class is blocking."""
    root, commits = repo
    code = revdiff.main(["--repo", str(root), "--base", commits[2], "--head", commits[3],
                         "--stack", "mtls", "--markdown", "--fail-on", "tls-lowered"])
    out = capsys.readouterr().out
    assert code == 3
    assert out.index("**Risks") < out.index("#### `mtls`") and "tls-lowered" in out
    listed = subprocess.run(["git", "-C", str(root), "worktree", "list"], capture_output=True,
                            text=True).stdout
    assert len(listed.splitlines()) == 1


def _plan(stack: str = "s") -> dict:
    def res(type_: str, name: str, inputs: dict, protect: bool = False) -> dict:
        return {"type": type_, "name": name, "urn": name, "protect": protect, "ignoreChanges": [],
                "replaceOnChanges": [], "inputs": inputs}

    return {"stack": stack, "outputs": {"tlsMode": "MUTUAL", "minTlsVersion": "TLSV1_3"},
            "resources": [
                res("gcp:container/cluster:Cluster", "c", {"name": "x", "location": "r1"}, True),
                res("gcp:dns/managedZone:ManagedZone", "z", {"name": "z", "dnsName": "a."}, True),
                res("gcp:compute/address:Address", "ip", {"name": "ip", "region": "r1"}, True),
                res("gcp:compute/subnetwork:Subnetwork", "sn", {"ipCidrRange": "10.0.0.0/20"}),
                res("kubernetes:core/v1:Namespace", "ns", {"metadata": {"name": "s"}}),
                res("gcp:dns/recordSet:RecordSet", "a", {"name": "s.", "type": "A", "rrdatas": ["1"]}),
                res("gcp:dns/recordSet:RecordSet", "b", {"name": "t.", "type": "A", "rrdatas": ["1"]}),
                res("kubernetes:core/v1:ResourceQuota", "q", {"spec": {"hard": {"pods": "40"}}}),
                res("kubernetes:networking.istio.io/v1:Gateway", "gw", {"spec": {"servers": [
                    {"hosts": ["*"], "port": {"number": 443}, "tls": {"minProtocolVersion": "TLSV1_2"}}]}}),
            ]}


def test_each_risk_is_reported() -> None:
    old, new = _plan(), _plan()
    by = {r["name"]: r for r in new["resources"]}
    new["resources"].remove(by["z"])                       # protected-delete
    by["c"]["inputs"]["location"] = "r2"                   # protected-replace
    by["ip"]["protect"] = False                            # protect-changed
    by["sn"]["inputs"]["ipCidrRange"] = "10.0.0.0/24"      # replacement
    new["resources"].remove(by["ns"])                      # namespace-deleted
    new["resources"].remove(by["a"])                       # dns-removed
    by["b"]["inputs"]["rrdatas"] = ["2"]                   # dns-retargeted
    by["q"]["inputs"]["spec"]["hard"]["pods"] = "400"      # quota-raised
    by["gw"]["inputs"]["spec"]["servers"][0]["tls"]["minProtocolVersion"] = "TLSV1_0"
    new["outputs"]["tlsMode"] = "SIMPLE"                   # tls-lowered
    old["outputs"]["meshRevision"] = {"version": "1.30.5"}
    new["outputs"]["meshRevision"] = {"version": "1.31.1"}  # mesh-move
    report = revdiff.compare({"s": old}, {"s": new}, audiences={
        "base": {"aud": ["s"]}, "head": {"aud": ["s", "t"]}})  # audience-shared
    found = _kinds(report)
    for before, after in _tenant_plans():
        found |= _kinds(revdiff.compare({"s": before}, {"s": after}))
    assert found == set(CLASSES), set(CLASSES) - found
    assert [r.kind for r in report.risks][0] == "protected-delete"  # the worst first
    assert all(why for entries in REPLACES.values() for _, why in entries)


def _tenant_plans() -> list[tuple]:
    """(base, head) pairs: a cell of the request matrix opened, an owner, an egress destination
    and the demo added; a stack that does not preview; a stack file removed."""
    def plan(answer: str, *resources: tuple[str, str, dict]) -> dict:
        return {"stack": "s", "outputs": {}, "access": {"s.example": [["/a", "none", False, answer]]},
                "resources": [{"type": t, "name": n, "urn": n, "protect": False, "replaceOnChanges": [],
                               "inputs": i} for t, n, i in resources]}

    binding = ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "s-owners", {
        "metadata": {"namespace": "s"}, "roleRef": {"name": "owner"},
        "subjects": [{"kind": "User", "name": "someone@example.com"}]})
    egress = ("kubernetes:networking.istio.io/v1:ServiceEntry", "s-egress", {
        "metadata": {"namespace": "s"}, "spec": {"hosts": ["api.stripe.com"], "ports": [{"number": 443}]}})
    demo = ("kubernetes:apps/v1:Deployment", "s-demo", {"metadata": {"namespace": "s", "name": "demo-echo"}})
    def pool(name: str, machine: str) -> tuple:
        return ("gcp:container/nodePool:NodePool", "pool", {"name": name, "nodeConfig": {"machineType": machine}})

    def release(repo: str, version: str) -> tuple:
        return ("kubernetes:helm.sh/v3:Release", repo, {"repositoryOpts": {"repo": repo}, "chart": "base",
                                                        "version": version})

    def cert(request: str) -> tuple:
        return ("tls:index/locallySignedCert:LocallySignedCert", "cert", {"certRequestPem": request})

    def priced(max_nodes: int) -> dict:
        cluster = ("gcp:container/cluster:Cluster", "c", {"name": "c", "location": "us-central1"})
        nodes = ("gcp:container/nodePool:NodePool", "pool", {"cluster": "c", "nodeConfig": {
            "machineType": "e2-standard-4"}, "autoscaling": {"minNodeCount": 1, "maxNodeCount": max_nodes}})
        return plan("403", cluster, nodes)

    return [(plan("403"), plan("→ a.s:80", binding, egress, demo)),
            (priced(3), priced(10)),
            (plan("403", pool("p", "e2"), release(ISTIO_CHARTS, "1"), release("https://x", "1"), cert("a")),
             plan("403", pool("p", "n2"), release(ISTIO_CHARTS, "2"), release("https://x", "2"), cert("b"))),
            (plan("403", pool("p", "e2")), plan("403", pool("q", "e2"))),
            ("preview failed: bad key", plan("403")), (plan("403"), None)]


def test_json_holds_each_change_as_data_and_nothing_is_lost() -> None:
    old, new = _plan(), _plan()
    by = {r["name"]: r for r in new["resources"]}
    by["q"]["inputs"]["spec"]["hard"]["pods"] = "400"
    by["ip"]["protect"] = False
    new["outputs"]["tlsMode"] = "SIMPLE"
    report = revdiff.compare({"s": old}, {"s": new})
    (stack,) = json.loads(diffview.as_json(report))["stacks"]
    assert stack["changed"] == {
        "kubernetes:core/v1:ResourceQuota q": [
            {"path": "spec.hard.pods", "kind": "changed", "old": "40", "new": "400"}],
        "gcp:compute/address:Address ip": [
            {"path": "protect", "kind": "changed", "old": True, "new": False}]}
    assert stack["outputs"] == [{"path": "tlsMode", "kind": "changed", "old": "MUTUAL", "new": "SIMPLE"}]
    text = diffview.text(report)
    assert 'spec.hard.pods: "40" → "400"' in text and "protect: true → false" in text
    assert '    tlsMode: "MUTUAL" → "SIMPLE"' in text


@pytest.mark.long  # each head is previewed by its own program, in a process of its own
def test_an_istio_bump_is_a_mesh_upgrade_in_valid_json(repo, capsys):
    root, commits = repo
    code = revdiff.main(["--repo", str(root), "--base", commits[5], "--head", commits[6], "--stack", "dev",
                         "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["risks"]
    upgraded = {r["text"].split()[2] for r in data["risks"] if r["kind"] == "mesh-upgrade"}
    assert upgraded == {"base", "cni", "gateway"}, data["risks"]
    moves = [r["text"] for r in data["risks"] if r["kind"] == "mesh-move"]
    assert any("its pods restart" in line for line in moves), moves  # the environment's sidecars


def test_an_unknown_stack_is_refused_before_any_preview(repo, capsys):
    root, commits = repo
    assert revdiff.main(["--repo", str(root), "--base", commits[5], "--head", commits[6], "--stack", "no-such"]) == 2
    assert "no stack file Pulumi.no-such.yaml" in capsys.readouterr().err


def test_every_risk_class_is_in_the_reviewers_table():
    """docs/reviewing.md's table names each class preview/risks.py reports, and no other."""
    table = (PROJECT_DIR / "docs" / "reviewing.md").read_text().split("| Class | When |")[1].split("\n\n")[0]
    documented = set(re.findall(r"`([a-z-]+)`", "".join(line.split(" | ")[0] for line in table.splitlines())))
    assert documented == set(CLASSES), (set(CLASSES) ^ documented)


def test_make_diff_rev_json_on_a_fresh_machine_prints_the_json_alone(tmp_path):
    """The first `make diff-rev` of a runner makes the venv: whatever the install prints goes to
    stderr, and make echoes no recipe line, so `> f.json` (and the pull request's markdown) holds
    the report alone."""
    fake = tmp_path / "python"  # a stand-in interpreter: noisy installs, the report as JSON
    fake.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "venv"]:
    os.makedirs(args[2] + "/bin")
    for tool in ("python", "uv"):
        os.symlink({str(fake)!r}, args[2] + "/bin/" + tool)
    print("created virtual environment")
elif args[:2] == ["-m", "preview.revdiff"]:
    print(json.dumps({{"risks": [], "argv": args}}))
elif args[:1] != ["-c"]:
    print("Collecting and installing", args)
""")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", "--no-print-directory", "diff-rev", "FORMAT=--json", "BASE=HEAD~1",
                           f"VENV={tmp_path / 'venv'}", f"PYTHON={fake}"], cwd=PROJECT_DIR, capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["argv"] == ["-m", "preview.revdiff", "--base", "HEAD~1", "--json"]
    assert "Collecting and installing" in done.stderr and "created virtual environment" in done.stderr


def test_make_refuses_an_unknown_stack_with_the_documented_exit_code():
    """Through make every failure exits 2 (docs/commands.md, "Exit codes"); the refusal says why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    done = subprocess.run(["make", "--no-print-directory", "diff-rev", "STACK=no-such-stack"], cwd=PROJECT_DIR,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert "no stack file Pulumi.no-such-stack.yaml on either side" in done.stderr


def test_a_revision_whose_program_fails_says_its_error(repo, capsys):
    """A head whose program cannot even be imported: the stack is unpreviewable with the error's
    own words (not the last line of a traceback), and the command exits 1."""
    root, commits = repo
    # The base: a revision without the stack (nothing to preview on that side).
    code = revdiff.main(["--repo", str(root), "--base", commits[8], "--head", commits[7], "--stack", "dev", "--json"])
    (risk,) = json.loads(capsys.readouterr().out)["risks"]
    assert code == 1 and risk["kind"] == "unpreviewable"
    assert "its program fails: " in risk["text"] and "RuntimeError: a pin nobody can read" in risk["text"]
