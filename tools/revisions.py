"""``make verify STACK=x``, check 8: are the environment's proxies on its revision?

After an environment moves to another Istio revision (``environment.meshRevision``, or its tag
moved by the owner), only new pods get that revision's sidecar: injection happens when a pod is
created (istio.io "Canary upgrades", Data plane). The program restarts its own workload (the
demo); every other pod keeps its proxy, and its istiod, until it is restarted. This check lists
the namespace's pods with the revision their injector stamped on them (the pod annotation
``istio.io/rev``, injection-template.yaml ``istio.io/rev: {{ .Revision }}``) and, for each pod on
another one, the ``kubectl rollout restart`` of the Deployment or StatefulSet that owns it: the
to-do before the old revision can be removed. Pods still on another revision are WAIT (exit 3),
not FAIL: a move is complete only once they are restarted. No kubectl, no access to the
namespace's pods, or a stack without the ``meshRevision`` output: SKIP, saying which.

It runs with the caller's credentials and kubectl context (``--kube-context``), like the live
tenancy check (tools/tenancy.py), and only reads.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

from tools.tenancy import Kubectl, Runner, subprocess_runner
from tools.verify import Check

REVISION_ANNOTATION = "istio.io/rev"


@dataclass(frozen=True)
class MeshTarget:
    """An environment's namespace and the revision its tag points at (its ``meshRevision``)."""

    namespace: str
    tag: str
    revision: str
    version: str

    @classmethod
    def from_outputs(cls, outputs: dict) -> MeshTarget | None:
        mesh = outputs.get("meshRevision")
        if not isinstance(mesh, dict) or not outputs.get("namespace"):
            return None
        return cls(str(outputs["namespace"]), str(mesh.get("tag")), str(mesh.get("revision")),
                   str(mesh.get("version")))


def _owner(pod: dict) -> tuple[str, str] | None:
    """(kind, name) of the workload a rollout restart renews the pod through: a Deployment (the
    ReplicaSet's name less the pod-template-hash) or a StatefulSet; None for anything else."""
    metadata = pod.get("metadata") or {}
    for ref in metadata.get("ownerReferences") or []:
        if ref.get("kind") == "StatefulSet":
            return "statefulset", ref["name"]
        if ref.get("kind") == "ReplicaSet":
            suffix = (metadata.get("labels") or {}).get("pod-template-hash")
            if suffix and ref["name"].endswith(f"-{suffix}"):
                return "deployment", ref["name"].removesuffix(f"-{suffix}")
    return None


def revision_checks(target: MeshTarget, kubectl: str = "kubectl", context: str | None = None,
                    run: Runner | None = None) -> list[Check]:
    """One check: every pod of the namespace on ``target.revision``, or the restarts still due."""
    name = "mesh-revision"
    binary = shutil.which(kubectl) if run is None else kubectl
    if binary is None:
        return [Check(name, "SKIP", f"`{kubectl}` is not on PATH: which revision the pods of "
                      f"{target.namespace} run needs kubectl and a context for the stack's cluster")]
    k = Kubectl(binary, context, run or subprocess_runner)
    got = k("get", "pods", "-n", target.namespace, "-o", "json")
    if got.code != 0:
        return [Check(name, "SKIP", f"could not list the pods of {target.namespace} ({got.said}): run it "
                      "with credentials that read them (the environment's owners, a platform admin)")]
    try:
        pods = json.loads(got.stdout).get("items") or []
    except (ValueError, AttributeError):
        return [Check(name, "FAIL", f"kubectl printed no pod list for {target.namespace}: {got.said}")]
    pods = [p for p in pods if (p.get("status") or {}).get("phase") in (None, "Pending", "Running")]
    behind: dict[str, list[str]] = {}
    for pod in pods:
        revision = ((pod.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
        if revision != target.revision:
            owner = _owner(pod)
            command = (f"kubectl rollout restart {owner[0]}/{owner[1]} --namespace {target.namespace}"
                       if owner else f"kubectl delete pod {pod['metadata']['name']} --namespace "
                       f"{target.namespace} (no Deployment or StatefulSet owns it: recreate it)")
            behind.setdefault(command, []).append(f"{pod['metadata']['name']} ({revision or 'no sidecar'})")
    on = f"revision {target.revision} (Istio {target.version}, tag {target.tag})"
    if not behind:
        return [Check(name, "PASS", f"all {len(pods)} pod(s) of {target.namespace} run {on}")]
    lines = "; ".join(f"{command}: {', '.join(names)}" for command, names in sorted(behind.items()))
    stale = sum(len(names) for names in behind.values())
    return [Check(name, "WAIT", f"{stale} of {len(pods)} pod(s) of {target.namespace} still run another "
                  f"revision than {on}; restart them before the old revision is removed: {lines}")]
