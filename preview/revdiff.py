"""``make diff-rev BASE=<git ref> [STACK=x]``: what a change does to each stack, offline.

The base revision is previewed in a temporary ``git worktree`` (removed afterwards), the head
(the working tree, or ``--head REF``) where it is; each side runs its own program. Per stack it
reports resources added, removed and changed, input by input (``preview.diff``: list items
matched by identity; secrets are ``[secret]`` in every plan and so never shown). A stack on one
side only is created or destroyed as a whole. The risks (``preview.risks``) come first. Written
out as text, markdown or JSON by ``preview.diffview``.

Default base: the merge base with ``origin/main``, else ``HEAD~1``, else ``HEAD``. Default
stacks: every stack of the project on either side (an example stack by name, ``--stack``).
Exit code 3 when a risk class listed in ``--fail-on`` (default: ``protected-delete``) is found.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import DEMO_HEALTH_PATH, DEMO_ROUTE
from components.config.types import quantity_value as quantity
from components.stackset import StackSet, every_stack_name, locate, stack_folders
from components.versions import ISTIO_CHARTS

from . import PROJECT_DIR, access, cost
from .diff import Change, compare_plans
from .diffview import as_json, markdown, show, text
from .risks import (
    CLASSES,
    DEFAULT_BLOCKING,
    QUOTA_THRESHOLDS,
    TLS_MODES,
    TLS_VERSIONS,
    at,
    replaces,
    replacing_inputs,
)

Plans = dict[str, dict | str | None]  # stack -> plan, an error message, or None (no such stack)


@dataclass
class Risk:
    kind: str
    stack: str
    text: str


@dataclass
class StackChange:
    stack: str
    status: str  # created, destroyed, changed, unchanged, failed
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)
    outputs: list[Change] = field(default_factory=list)
    access: list[str] = field(default_factory=list)  # request-matrix cells that change
    cost: list[str] = field(default_factory=list)  # the estimate's changes, item by item
    error: str = ""


@dataclass
class Report:
    base: str
    head: str
    risks: list[Risk]
    stacks: list[StackChange]

    def blocking(self, classes: Iterable[str]) -> list[Risk]:
        wanted = set(classes)
        return [r for r in self.risks if r.kind in wanted]


# --- git ---------------------------------------------------------------------------------------

def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _has(repo: Path, ref: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                          capture_output=True).returncode == 0


def default_base(repo: Path) -> str:
    if _has(repo, "origin/main"):
        return _git(repo, "merge-base", "HEAD", "origin/main")
    return "HEAD~1" if _has(repo, "HEAD~1") else "HEAD"


# --- previews ----------------------------------------------------------------------------------

_PROGRAM = ("__main__.py", "Pulumi.yaml", "components", "preview/__init__.py", "preview/engine.py",
            "preview/render.py", "preview/sdk.py")


def program_digest(project_dir: Path) -> str:
    """A digest of what makes a plan besides the stack files: the program and the engine."""
    digest = hashlib.sha256()
    for name in _PROGRAM:
        path = project_dir / name
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(str(file.relative_to(project_dir)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


_SCRIPT = """
import json, sys
from pathlib import Path
from preview import locate_stack, preview_stack
out = {}
for stack in sys.argv[2:]:
    try:
        preview_stack(stack, locate_stack(stack, Path('.')), Path(sys.argv[1]))
        out[stack] = None
    except Exception as err:
        out[stack] = ' '.join(str(err).split()) or type(err).__name__
print(json.dumps(out))
"""


def _start(source: Path, stacks: list[str], build: Path) -> subprocess.Popen | None:
    """Preview ``stacks`` with the revision's own program, in a process of its own (cwd: the
    revision, so its ``preview`` and ``components`` are imported); None when in this process
    would be the same program (then :func:`_finish` previews here, much faster)."""
    if not stacks or program_digest(source) == program_digest(PROJECT_DIR):
        return None
    return subprocess.Popen([sys.executable, "-c", _SCRIPT, str(build), *stacks], cwd=source,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(source: Path, stacks: list[str], build: Path, process: subprocess.Popen | None) -> Plans:
    errors: dict[str, str | None] = {}
    if process is not None:
        out, err = process.communicate()
        try:
            errors = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            # The revision's program failed before any stack (at import): its error, not its hint.
            said = [line.strip() for line in err.splitlines() if line.strip()
                    and not line.lstrip().startswith(("For further information", "^", "File "))]
            return dict.fromkeys(stacks, "its program fails: " + (" ".join(said[-3:]) or "(no message)"))
    else:
        from . import locate_stack, preview_stack

        for stack in stacks:
            try:
                preview_stack(stack, locate_stack(stack, source), build)
                errors[stack] = None
            except Exception as problem:  # noqa: BLE001 (a stack that fails is reported, not fatal)
                errors[stack] = " ".join(str(problem).split()) or type(problem).__name__
    return {stack: errors.get(stack) or json.loads((build / stack / "plan.json").read_text())
            for stack in stacks}


@contextlib.contextmanager
def checkout(repo: Path, ref: str | None) -> Iterator[Path]:
    """A revision checked out in a temporary worktree (removed afterwards); ``None``: the working
    tree itself."""
    if ref is None:
        yield repo
        return
    with tempfile.TemporaryDirectory(prefix="revdiff-") as tmp:
        tree = Path(tmp) / "tree"
        _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), ref)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)
            subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)


def preview_sides(repo: Path, base: str, head: str | None, stacks: list[str] | None
                  ) -> tuple[Plans, Plans, dict[str, dict[str, list[str]]]]:
    """Both sides' plans of ``stacks`` (default: every stack of the project on either side), the
    two previews running at once; also each side's audiences (by folder of stack files)."""
    with checkout(repo, base) as old, checkout(repo, head) as new, tempfile.TemporaryDirectory() as tmp:
        names = stacks or sorted(set(StackSet.names_in(old)) | set(StackSet.names_in(new)))
        sides = {"base": old, "head": new}
        present = {key: [s for s in names if locate(s, tree) is not None] for key, tree in sides.items()}
        running = {key: _start(tree, present[key], Path(tmp) / key) for key, tree in sides.items()}
        plans = {key: _finish(tree, present[key], Path(tmp) / key, running[key]) for key, tree in sides.items()}
        audiences = {key: _audiences(tree) for key, tree in sides.items()}
    return ({s: plans["base"].get(s) for s in names}, {s: plans["head"].get(s) for s in names}, audiences)


def _audiences(project_dir: Path) -> dict[str, list[str]]:
    """Audience -> the stacks naming it, per folder of stack files (one fleet each)."""
    seen: dict[str, list[str]] = {}
    for folder in stack_folders(project_dir):
        try:
            stackset = StackSet.load(folder)
        except Exception:  # noqa: BLE001 (an unreadable stack file is the preview's to report)
            continue
        for stack in stackset:
            for audience in sorted(stack.audiences):
                seen.setdefault(audience, []).append(stack.name)
    return seen


# --- comparing ---------------------------------------------------------------------------------

def _label(resource: dict) -> str:
    return f"{resource['type']} {resource['name']}"


def _index(plan: dict | None) -> dict[tuple[str, str], dict]:
    return {(r["type"], r["name"]): r for r in plan["resources"]} if plan else {}


def compare(base_plans: Plans, head_plans: Plans, audiences: dict | None = None,
            base: str = "base", head: str = "head") -> Report:
    risks: list[Risk] = []
    changes = []
    # Both sides priced with this checkout's table: a diff shows what the change costs.
    base_costs, head_costs = cost.estimates(base_plans), cost.estimates(head_plans)
    for stack in sorted(set(base_plans) | set(head_plans)):
        old, new = base_plans.get(stack), head_plans.get(stack)
        if isinstance(old, str) or isinstance(new, str):
            side, error = ("base", old) if isinstance(old, str) else ("head", new)
            changes.append(StackChange(stack, "failed", error=f"{side}: {error}"))
            # Nothing else about this stack can be known: it is the first thing a reviewer sees.
            risks.append(Risk("unpreviewable", stack, f"the {side} revision does not preview: {error}"))
            continue
        if old is None and new is None:
            continue
        change = _stack_change(stack, old, new)
        change.access = access_changes(stack, old, new)[0]
        change.cost = cost.change_lines(base_costs.get(stack), head_costs.get(stack))
        if (rise := cost.rise(base_costs.get(stack), head_costs.get(stack))) > cost.COST_RISE_THRESHOLD_USD:
            risks.append(Risk("cost-rise", stack, f"the estimate rises by up to {cost.money(rise)} USD/month "
                                                  f"(threshold {cost.money(cost.COST_RISE_THRESHOLD_USD)}): "
                                                  + "; ".join(change.cost)))
        changes.append(change)
        risks += stack_risks(stack, old, new)
        if new is None:
            risks.append(Risk("stack-removed", stack, STACK_REMOVED.format(stack=stack)))
    if audiences:
        risks += audience_risks(audiences.get("base", {}), audiences.get("head", {}))
    order = list(CLASSES)
    risks.sort(key=lambda r: (order.index(r.kind), r.stack))
    return Report(base, head, risks, changes)


def _stack_change(stack: str, old: dict | None, new: dict | None) -> StackChange:
    found = compare_plans(old, new)
    status = "created" if old is None else "destroyed" if new is None else "changed" if found else "unchanged"
    return StackChange(stack, status, found.added, found.removed, found.changed, found.outputs)


def stack_risks(stack: str, old: dict | None, new: dict | None) -> list[Risk]:
    before, after = _index(old), _index(new)
    risks: list[Risk] = []
    # Explicit providers by URN: some replacement rules depend on the provider's settings.
    providers = {r["urn"]: r for r in (new or {}).get("resources", [])
                 if r["type"].startswith("pulumi:providers:")}

    def add(kind: str, text: str) -> None:
        risks.append(Risk(kind, stack, text))

    for key in sorted(set(before) - set(after)):
        resource = before[key]
        if resource["protect"]:
            add("protected-delete", f"{_label(resource)} (protected) is deleted")
        if key[0] == "kubernetes:core/v1:Namespace":
            add("namespace-deleted", f"namespace {at(resource['inputs'], 'metadata.name')} is deleted: "
                                     "every workload in it goes with it")
        if key[0] == "gcp:dns/recordSet:RecordSet":
            inputs = resource["inputs"]
            add("dns-removed", f"DNS {inputs.get('type')} {inputs.get('name')} is removed "
                               f"(was {show(inputs.get('rrdatas'))})")
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        if a["protect"] != b["protect"]:
            add("protect-changed", f"{_label(b)}: protect {a['protect']} → {b['protect']}")
        # An ignored input is not diffed at all (Pulumi keeps the old value): it cannot replace.
        ignored = set(b.get("ignoreChanges") or ())
        provider = providers.get(b.get("provider", ""), {})
        forced = [(path, why) for path, why in replacing_inputs(
                      key[0], b.get("replaceOnChanges"), b["inputs"], provider.get("inputs"))
                  if path.split(".")[0] not in ignored
                  and replaces(key[0], path, at(a["inputs"], path), at(b["inputs"], path))]
        for path, why in forced:
            add("protected-replace" if a["protect"] or b["protect"] else REPLACED_CLASS.get(key[0], "replacement"),
                f"{_label(b)} is replaced: {path} {show(at(a['inputs'], path))} → "
                f"{show(at(b['inputs'], path))} ({why}){_what_replacing_does(key[0], b)}")
        if key[0] == NODE_POOL and not forced:
            for path in (p for p in NODES_RECREATED_BY if at(a["inputs"], p) != at(b["inputs"], p)):
                add("nodes-recreated", f"{_label(b)}: {path} {show(at(a['inputs'], path))} → "
                    f"{show(at(b['inputs'], path))} is updated in place by recreating every node, a "
                    "surge batch at a time (the pool's upgrade settings): each pod is evicted and "
                    "rescheduled, honouring its PodDisruptionBudget")
        if key[0] == HELM_RELEASE and a["inputs"].get("version") != b["inputs"].get("version") \
                and at(b["inputs"], "repositoryOpts.repo") != ISTIO_CHARTS:
            add("chart-upgrade", f"{_label(b)}: chart {b['inputs'].get('chart')} "
                                 f"{a['inputs'].get('version')} → {b['inputs'].get('version')}")
        for line in _cluster_rebuild(key[0], a, b, forced, new):
            add("cluster-rebuild", line)
        if key[0] == "gcp:dns/recordSet:RecordSet" and not forced:
            if a["inputs"].get("rrdatas") != b["inputs"].get("rrdatas"):
                add("dns-retargeted", f"DNS {b['inputs'].get('type')} {b['inputs'].get('name')}: "
                                      f"{show(a['inputs'].get('rrdatas'))} → {show(b['inputs'].get('rrdatas'))}")
        if key[0].endswith(":ResourceQuota"):
            risks += _quota(stack, a, b)
        if key[0].endswith(":Gateway"):
            risks += _gateway_tls(stack, a, b)
    # The Istio charts that move in place (istiod is one release per revision, and the gateway
    # follows `stable`: both are the mesh-move lines); what each one's move does.
    for k in sorted(set(before) & set(after)):
        was, now = at(before[k]["inputs"], "version"), at(after[k]["inputs"], "version")
        chart = at(after[k]["inputs"], "chart")
        if k[0] == HELM_RELEASE and at(after[k]["inputs"], "repositoryOpts.repo") == ISTIO_CHARTS \
                and was != now and chart in MESH_UPGRADE:
            add("mesh-upgrade", f"Istio chart {chart} {was} → {now}: {MESH_UPGRADE[chart]}")
    if old and new:
        risks += _mesh_moves(stack, old["outputs"], new["outputs"])
        risks += _outputs_tls(stack, old["outputs"], new["outputs"])
    return risks + access_changes(stack, old, new)[1] + grant_risks(stack, old, new)


NODE_POOL, HELM_RELEASE = cost.NODE_POOL, cost.HELM_RELEASE
# The classes of a replacement that say more than "replaced".
REPLACED_CLASS = {NODE_POOL: "node-pool-replaced", "tls:index/locallySignedCert:LocallySignedCert":
                  "certificate-reissued", "tls:index/selfSignedCert:SelfSignedCert": "certificate-reissued"}
# Node pool inputs that are not ForceNew in the provider (node_config.go sends them with
# UpdateNodePool) and that GKE applies by recreating every node with the pool's upgrade
# strategy ("Vertically scale your nodes", docs.cloud.google.com/kubernetes-engine/docs/how-to/
# node-pools; surge settings: .../concepts/node-pool-upgrade-strategies).
NODES_RECREATED_BY = ("nodeConfig.machineType", "nodeConfig.diskSizeGb", "nodeConfig.diskType",
                      "nodeConfig.imageType")
MESH_UPGRADE = {
    "base": "the CRDs move first, before any revision uses them (Istio's CRDs are backwards "
            "compatible: docs/operations.md \"Upgrading Istio\")",
    "cni": "the CNI node agent restarts on every node (running pods keep their networking)",
    "gateway": "the ingress gateway restarts on the new proxy",
}


def _what_replacing_does(resource_type: str, resource: dict) -> str:
    if resource_type == NODE_POOL:
        return ("; a new pool is created beside the old one, then the old one is drained and "
                "deleted: no outage for workloads with two replicas or more and a "
                "PodDisruptionBudget" if not resource.get("deleteBeforeReplace") else
                "; the old pool is deleted first: every workload is down until the new one is up")
    if REPLACED_CLASS.get(resource_type) == "certificate-reissued":
        return "; the Gateway serves a new certificate (clients pinning the old one fail)"
    return ""


# Merging a deleted stack file destroys nothing (nothing runs `pulumi destroy`), and the owner's
# next deploy takes its owners' cluster credentials (the owner grants them per stack file).
STACK_REMOVED = ("its stack file is removed, but merging destroys nothing: the deployed stack keeps "
                 "running, unmanaged, and the owner's next deploy revokes its owners' cluster "
                 "access. Before merging run `pulumi destroy -s {stack}` then `pulumi stack rm "
                 "{stack}` (or keep the file)")

REBUILD = ("a plain `pulumi up` cannot carry this out; rebuild the platform as README \"Changes a "
           "running platform cannot take in place\" says")


def _cluster_rebuild(resource_type: str, a: dict, b: dict, forced: list, plan: dict | None) -> list[str]:
    """What a running cluster cannot take: its own replacement (protected, deletion protection,
    a fixed name, and a cluster identifier that keeps every Kubernetes object on the old one), a
    replacement of the subnetwork it runs in, or a changed secondary range it uses (GCP refuses
    to modify a range in use)."""
    if resource_type == "gcp:container/cluster:Cluster" and forced:
        return [f"{_label(b)} would be replaced ({', '.join(path for path, _ in forced)}): {REBUILD}"]
    if resource_type != "gcp:compute/subnetwork:Subnetwork":
        return []
    clusters = [r["inputs"] for r in (plan or {}).get("resources", [])
                if r["type"] == "gcp:container/cluster:Cluster"]
    if not clusters:
        return []
    used = {c.get("ipAllocationPolicy", {}).get(key) for c in clusters
            for key in ("clusterSecondaryRangeName", "servicesSecondaryRangeName")}
    lines = [f"{_label(b)}, the cluster's subnetwork, would be replaced: {REBUILD}"] if forced else []

    def ranges(resource: dict) -> dict:
        return {r.get("rangeName"): r.get("ipCidrRange")
                for r in resource["inputs"].get("secondaryIpRanges", [])}

    before, after = ranges(a), ranges(b)
    lines += [f"{_label(b)}: secondary range {name} {before[name]} → {after.get(name)} is in use by "
              f"the cluster, and GCP refuses to change a range in use: {REBUILD}"
              for name in sorted(n for n in before if n in used and before[n] != after.get(n))]
    return lines


def _mesh_moves(stack: str, a: dict, b: dict) -> list[Risk]:
    """Istio revisions (outputs ``meshRevision``, an environment's; ``meshRevisions``, an owner's):
    an environment whose tag points at another version (its pods restart onto it: the demo by
    itself, the rest by `kubectl rollout restart`), a revision installed or removed, a tag moved."""
    risks = []
    was, now = a.get("meshRevision") or {}, b.get("meshRevision") or {}
    if was.get("version") and now.get("version") and was["version"] != now["version"]:
        risks.append(Risk("mesh-move", stack, f"{b.get('environment', stack)} moves to {now['version']}: "
                                              "its pods restart"))
    before = {r["revision"]: r for r in a.get("meshRevisions") or []}
    after = {r["revision"]: r for r in b.get("meshRevisions") or []}
    if not before or not after:
        return risks
    for name in sorted(set(after) - set(before)):
        tags = ", ".join(after[name]["tags"]) or "no tag"
        risks.append(Risk("mesh-move", stack, f"revision {name} (Istio {after[name]['version']}) is installed "
                                              f"beside {', '.join(sorted(before))}, tagged {tags}"))
    for name in sorted(set(before) - set(after)):
        risks.append(Risk("mesh-move", stack, f"revision {name} (Istio {before[name]['version']}) is removed"))
    for tag in sorted({t for r in after.values() for t in r["tags"]}):
        old = next((r for r in before.values() if tag in r["tags"]), None)
        new = next(r for r in after.values() if tag in r["tags"])
        if old is not None and old["revision"] != new["revision"]:
            gateway = ": the ingress gateway restarts on it" if tag == "stable" else ""
            risks.append(Risk("mesh-move", stack, f"tag {tag} moves to {new['version']} (revision "
                                                  f"{new['revision']}){gateway}"))
    return risks


def _lower(order: list[str], a: Any, b: Any) -> bool:
    return a in order and b in order and order.index(b) < order.index(a)


def _outputs_tls(stack: str, a: dict, b: dict) -> list[Risk]:
    risks = []
    if _lower(TLS_MODES, a.get("tlsMode"), b.get("tlsMode")):
        risks.append(Risk("tls-lowered", stack, f"TLS mode {a['tlsMode']} → {b['tlsMode']}"))
    if _lower(TLS_VERSIONS, a.get("minTlsVersion"), b.get("minTlsVersion")):
        risks.append(Risk("tls-lowered", stack, f"minimum TLS {a['minTlsVersion']} → {b['minTlsVersion']}"))
    return risks


def _gateway_tls(stack: str, a: dict, b: dict) -> list[Risk]:
    def servers(r: dict) -> dict[str, dict]:
        items = at(r["inputs"], "spec.servers") or []
        return {json.dumps(s.get("hosts")) + str(at(s, "port.number")): s.get("tls") or {}
                for s in items if isinstance(s, dict)}

    risks, old = [], servers(a)
    for key, tls in servers(b).items():
        was = old.get(key, {})
        for attr, order in (("mode", TLS_MODES), ("minProtocolVersion", TLS_VERSIONS)):
            if _lower(order, was.get(attr), tls.get(attr)):
                risks.append(Risk("tls-lowered", stack, f"{_label(b)} {key}: tls.{attr} "
                                                        f"{was[attr]} → {tls[attr]}"))
    return risks


def _quota(stack: str, a: dict, b: dict) -> list[Risk]:
    risks = []
    old, new = at(a["inputs"], "spec.hard") or {}, at(b["inputs"], "spec.hard") or {}
    for name, limit in QUOTA_THRESHOLDS.items():
        was, now, cap = quantity(old.get(name)), quantity(new.get(name)), quantity(limit)
        if now is not None and cap is not None and now > cap and (was is None or now > was):
            risks.append(Risk("quota-raised", stack, f"quota {name} {old.get(name) or '(none)'} → "
                                                     f"{new.get(name)} (threshold {limit})"))
    return risks


def _cells(plan: dict | None) -> dict[tuple, str]:
    """(host, path, credential, client certificate) -> the mesh's answer (plan.json ``access``)."""
    return {(host, *key): value for host, rows in (plan or {}).get("access", {}).items()
            for key, value in access.cells_of(rows).items()}


def _request(key: tuple) -> str:
    host, path, credential, cert = key
    return f"https://{host}{path} with {access.HEADINGS[credential]}" + (" and a client certificate" if cert else "")


def access_changes(stack: str, old: dict | None, new: dict | None) -> tuple[list[str], list[Risk]]:
    """Every request-matrix cell that changes, and a risk for each that opens (reaches a service
    it did not, or a new one without the environment's token)."""
    before, after = _cells(old), _cells(new)
    rows, risks = [], []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key), after.get(key)
        if was == now or (new is None):
            continue
        rows.append(f"{_request(key)}: {access.said(was)} → {access.said(now)}")
        if now is not None and access.more_open(was, now, key[2]):
            risks.append(Risk("access-opened", stack, f"{_request(key)}: {access.said(was) if was else 'new'} "
                                                      f"→ {access.said(now)}"))
    return rows, risks


def _objects(plan: dict | None, kind: str) -> dict[str, dict]:
    return {r["name"]: r["inputs"] for r in (plan or {}).get("resources", []) if r["type"].endswith(f":{kind}")}


def grant_risks(stack: str, old: dict | None, new: dict | None) -> list[Risk]:
    """What a change (or a new stack, ``old`` None) hands out: owners (namespace role and cluster
    credentials), destinations outside the mesh, the demo, a quota past its threshold."""
    risks = []
    def members(binding: dict) -> list[str]:
        return [f"{s['kind'].lower()}:{s['name']}" for s in binding.get("subjects", [])]

    was = {m for binding in _objects(old, "RoleBinding").values() for m in members(binding)}
    risks += [Risk("owners-granted", stack, f"{member} may deploy into namespace "
                   f"{at(binding, 'metadata.namespace')} (role {at(binding, 'roleRef.name')}) and gets "
                   "cluster credentials from the owner stack")
              for binding in _objects(new, "RoleBinding").values() for member in members(binding)
              if member not in was]
    was_iam = {(i["member"], i["role"]) for i in _objects(old, "IAMMember").values()}
    risks += [Risk("owners-granted", stack, f"{i['member']} gets {i['role']} on project {i.get('project')}")
              for i in _objects(new, "IAMMember").values()
              if (i["member"], i["role"]) not in was_iam and i["member"].startswith(("user:", "group:"))]
    was_hosts = {(h, at(i, "metadata.namespace")) for i in _objects(old, "ServiceEntry").values() for h in i["spec"]["hosts"]}
    risks += [Risk("egress-added", stack, f"namespace {at(i, 'metadata.namespace')} may call {h} "
                   f"({', '.join(str(p.get('number')) + '/' + p.get('protocol', '') for p in i['spec'].get('ports', []))})")
              for i in _objects(new, "ServiceEntry").values() for h in i["spec"]["hosts"]
              if (h, at(i, "metadata.namespace")) not in was_hosts and at(i, "metadata.namespace") != "istio-system"]
    def demos(plan: dict | None) -> set[str]:
        return {at(i, "metadata.namespace") for i in _objects(plan, "Deployment").values()
                if at(i, "metadata.name") == DEMO_ROUTE.service}

    risks += [Risk("demo-on", stack, f"the demo echo server runs in namespace {ns}, answering on "
                                     f"{DEMO_ROUTE.path} ({DEMO_HEALTH_PATH} without a token)")
              for ns in sorted(demos(new) - demos(old))]
    if old is None:
        for quota in _objects(new, "ResourceQuota").values():
            risks += _quota(stack, {"inputs": {}}, {"inputs": quota})
    return risks


def audience_risks(base: dict[str, list[str]], head: dict[str, list[str]]) -> list[Risk]:
    return [Risk("audience-shared", ", ".join(stacks), f"audience {audience} is in stacks "
                                                       f"{', '.join(stacks)}")
            for audience, stacks in sorted(head.items())
            if len(stacks) > 1 and set(stacks) != set(base.get(audience, []))]


def revdiff(repo: Path, base: str | None = None, head: str | None = None,
            stacks: list[str] | None = None) -> Report:
    repo = Path(_git(repo, "rev-parse", "--show-toplevel"))
    base = base or default_base(repo)
    base_plans, head_plans, audiences = preview_sides(repo, base, head, stacks)
    return compare(base_plans, head_plans, audiences, base, head or "working tree")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make diff-rev", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="", help="git ref (default: merge base with origin/main)")
    parser.add_argument("--head", default=None, help="git ref (default: the working tree)")
    parser.add_argument("--stack", action="append", default=[], help="one stack (repeatable)")
    parser.add_argument("--repo", default=str(PROJECT_DIR))
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true")
    form.add_argument("--json", action="store_true")
    parser.add_argument("--fail-on", default=",".join(DEFAULT_BLOCKING),
                        help=f"risk classes that exit 3 (comma separated; '' for none): {', '.join(CLASSES)}")
    args = parser.parse_args(argv)
    blocking = [c for c in args.fail_on.split(",") if c]
    unknown = [c for c in blocking if c not in CLASSES]
    if unknown:
        print(f"error: unknown risk class {', '.join(unknown)}; known: {', '.join(CLASSES)}", file=sys.stderr)
        return 2
    try:
        unknown = [s for s in args.stack if not _stack_anywhere(Path(args.repo), s, args.base, args.head)]
        if unknown:
            print(f"error: no stack file Pulumi.{unknown[0]}.yaml on either side (known: "
                  f"{', '.join(every_stack_name(Path(args.repo)))})", file=sys.stderr)
            return 2
        report = revdiff(Path(args.repo), args.base or None, args.head, args.stack or None)
    except subprocess.CalledProcessError as err:
        print(f"error: git {' '.join(err.cmd[3:])}: {(err.stderr or '').strip()}", file=sys.stderr)
        return 2
    render: Callable[[Report], str] = as_json if args.json else markdown if args.markdown else text
    sys.stdout.write(render(report))
    if report.blocking(["unpreviewable"]):
        return 1  # whatever --fail-on says: an unknown effect is never a pass
    return 3 if report.blocking(blocking) else 0


def _stack_anywhere(repo: Path, stack: str, base: str, head: str | None) -> bool:
    """Is there a ``Pulumi.<stack>.yaml`` in the working tree, the head ref or the base ref?"""
    if head is None and locate(stack, repo) is not None:
        return True
    root = Path(_git(repo, "rev-parse", "--show-toplevel"))
    refs = [r for r in (head, base or default_base(root)) if r]
    name = f"Pulumi.{stack}.yaml"
    return any(Path(p).name == name for ref in refs
               for p in _git(root, "ls-tree", "-r", "--name-only", ref).splitlines())


if __name__ == "__main__":
    sys.exit(main())
