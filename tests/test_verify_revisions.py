"""`make verify` check 8 (tools/revisions.py): after a move, which of the namespace's pods still
run another Istio revision, and the rollout restart of each one's workload."""

from __future__ import annotations

import json

import pytest
from conftest import ATTACHED_STACKS, OWNER

from tools.revisions import MeshTarget, revision_checks
from tools.tenancy import Ran

TARGET = MeshTarget(namespace="uat", tag="canary", revision="1-31-1", version="1.31.1")


def pod(name: str, revision: str | None, owner: tuple[str, str] | None = None, phase: str = "Running") -> dict:
    metadata: dict = {"name": name, "namespace": "uat", "labels": {}}
    if revision:
        metadata["annotations"] = {"istio.io/rev": revision}
    if owner and owner[0] == "ReplicaSet":
        metadata["labels"]["pod-template-hash"] = owner[1].rsplit("-", 1)[1]
    if owner:
        metadata["ownerReferences"] = [{"kind": owner[0], "name": owner[1]}]
    return {"metadata": metadata, "status": {"phase": phase}}


def runner(pods: list[dict] | None, code: int = 0, stderr: str = ""):
    calls = []

    def run(argv, stdin):
        calls.append(list(argv))
        assert list(argv[1:5]) == ["get", "pods", "-n", "uat"], argv
        return Ran(code, json.dumps({"kind": "List", "items": pods}) if pods is not None else "", stderr)
    run.calls = calls
    return run


def test_every_pod_on_the_revision_passes():
    (check,) = revision_checks(TARGET, run=runner([pod("demo-echo-abc-1", "1-31-1", ("ReplicaSet", "demo-echo-abc"))]))
    assert check.status == "PASS" and "all 1 pod(s) of uat run revision 1-31-1 (Istio 1.31.1, tag canary)" in check.detail


def test_pods_on_the_old_revision_wait_with_the_restart_of_their_workload():
    pods = [pod("orders-7f9c-a", "1-30-5", ("ReplicaSet", "orders-7f9c")),
            pod("orders-7f9c-b", "1-30-5", ("ReplicaSet", "orders-7f9c")),
            pod("ledger-0", "1-30-5", ("StatefulSet", "ledger")),
            pod("demo-echo-d4e-1", "1-31-1", ("ReplicaSet", "demo-echo-d4e")),
            pod("oneoff", None),
            pod("done-job-x", "1-30-5", ("Job", "done-job"), phase="Succeeded")]
    (check,) = revision_checks(TARGET, run=runner(pods))
    assert check.status == "WAIT"
    assert "4 of 5 pod(s) of uat still run another revision than revision 1-31-1" in check.detail
    assert ("kubectl rollout restart deployment/orders --namespace uat: orders-7f9c-a (1-30-5), "
            "orders-7f9c-b (1-30-5)") in check.detail
    assert "kubectl rollout restart statefulset/ledger --namespace uat: ledger-0 (1-30-5)" in check.detail
    assert "kubectl delete pod oneoff --namespace uat" in check.detail and "oneoff (no sidecar)" in check.detail
    assert "demo-echo" not in check.detail and "done-job" not in check.detail


@pytest.mark.parametrize("run, expected", [
    (runner(None, 1, 'Error from server (Forbidden): pods is forbidden: User "x" cannot list resource "pods"'),
     "could not list the pods of uat (Error from server (Forbidden)"),
])
def test_without_access_it_is_skipped_saying_why(run, expected):
    (check,) = revision_checks(TARGET, run=run)
    assert check.status == "SKIP" and expected in check.detail


def test_without_kubectl_it_is_skipped():
    (check,) = revision_checks(TARGET, kubectl="no-such-kubectl-binary")
    assert check.status == "SKIP" and "is not on PATH" in check.detail


@pytest.mark.parametrize("stack", [OWNER, *ATTACHED_STACKS])
def test_the_stack_outputs_say_what_to_check(plans, stack):
    outputs = plans[stack]["outputs"]
    target = MeshTarget.from_outputs(outputs)
    assert target == MeshTarget(outputs["namespace"], outputs["meshRevision"]["tag"],
                                outputs["meshRevision"]["revision"], outputs["meshRevision"]["version"])
    assert MeshTarget.from_outputs({"namespace": "x"}) is None
