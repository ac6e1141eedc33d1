"""A `kubectl` on PATH for tools/tenancy.py's tests: a small stdlib-only program that hands its
argv and stdin over a Unix socket to this process, where the offline evaluators answer (RBAC:
tests/rbac.py, admission: tests/admission.py, Pod Security: tests/pod_security.py, through
tests/tenancy_world.py). It stands only for the process boundary: what a request gets is what the
offline evaluation gives, in the words the API server and kubectl use:

- an RBAC refusal: ``<resource> "<name>" is forbidden: User "<u>" cannot <verb> resource
  "<resource>" in API group "<g>" in the namespace "<ns>"`` (k8s.io/apiserver authorization
  ``forbiddenMessage``), and the escalation check's ``is attempting to grant RBAC permissions not
  currently held`` (pkg/registry/rbac/validation);
- a policy's: ``ValidatingAdmissionPolicy '<p>' with binding '<b>' denied request: <message>``
  (k8s.io/apiserver .../policy/validating/dispatcher.go), as kubectl prints an Invalid error
  (``The <resource> "<name>" is invalid: : ...``; one ``Error from server (Invalid): error when
  replacing "STDIN": ...`` line per item of a List);
- Pod Security's: ``violates PodSecurity "restricted:<its enforce-version>": <controls>``.

The API server's order: authorization (and the RBAC registry's escalation check), then Pod
Security, then the admission policies (the first denial is the one reported).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socketserver
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from admission import Request, plural
from injection import inject
from pod_security import violations
from rbac import Attributes
from tenancy_world import ENFORCE, World, merged

PROGRAM = """#!{python} -IS
import json, socket, sys
argv = sys.argv[1:]
stdin = sys.stdin.read() if "-f" in argv and argv[argv.index("-f") + 1] == "-" else None
client = socket.socket(socket.AF_UNIX)
client.connect({socket!r})
client.sendall(json.dumps({{"argv": argv, "stdin": stdin}}).encode())
client.shutdown(socket.SHUT_WR)
answer = json.loads(b"".join(iter(lambda: client.recv(65536), b"")).decode())
sys.stdout.write(answer["stdout"])
sys.stderr.write(answer["stderr"])
sys.exit(answer["code"])
"""


@dataclass
class FakeCluster:
    """What the double answers from: a world, and who the caller's credentials are."""

    world: World
    requester: str = "deployer"
    reachable: bool = True
    iam_admins: tuple[str, ...] = ()
    calls: list[list[str]] = field(default_factory=list)

    @property
    def user(self) -> tuple[str, tuple[str, ...]]:
        return self.world.users[self.requester]

    # --- kubectl's surface ----------------------------------------------------------------------

    def answer(self, argv: list[str], stdin: str | None) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:1] == ["--context"]:
            argv = argv[2:]
        if not self.reachable:
            return 1, "", "E1203 memcache.go:265] couldn't get current server API group list\n" \
                          "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"
        namespace = argv[argv.index("-n") + 1] if "-n" in argv else ""
        verb = argv[0]
        if argv[:2] == ["auth", "whoami"]:
            name, groups = self.user
            return 0, json.dumps({"kind": "SelfSubjectReview", "status": {
                "userInfo": {"username": name, "groups": list(groups)}}}), ""
        if argv[:2] == ["auth", "can-i"]:
            group, resource, name = _resource_arg(argv[3])
            allowed = self._authorized(argv[2], group, resource, namespace, name)
            return (0, "yes\n", "") if allowed else (1, "no\n", "")
        if verb == "get":
            if "/" not in argv[1] and argv[2].startswith("-"):  # get TYPE -n NS -o json: a list
                group, resource, _ = _resource_arg(argv[1])
                if not self._authorized("list", group, resource, namespace, ""):
                    user, _ = self.user
                    return 1, "", (f'Error from server (Forbidden): {resource} is forbidden: User "{user}" '
                                   f'cannot list resource "{resource}" in API group "{group}" in the '
                                   f'namespace "{namespace}"\n')
                items = [o for o in self.world.objects if plural(o["kind"]) == resource
                         and o["metadata"].get("namespace") == namespace]
                return 0, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), ""
            if "/" not in argv[1]:  # get TYPE NAME
                group, resource, _ = _resource_arg(argv[1])
                found = self._stored(resource, argv[2], namespace)
                if found is None:
                    return 1, "", f'Error from server (NotFound): {resource} "{argv[2]}" not found\n'
                return 0, json.dumps(found), ""
            wanted = [_resource_arg(a) for a in argv[1:] if "/" in a]  # get TYPE/NAME ... --ignore-not-found
            items = [o for _, resource, name in wanted if (o := self._stored(resource, name, namespace))]
            return 0, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), ""
        if verb == "create":
            obj = json.loads(stdin or "{}")
            return self._write(self._request("CREATE", obj, None), "creating")
        if verb == "patch":
            group, resource, _ = _resource_arg(argv[1])
            stored = self._stored(resource, argv[2], namespace)
            if stored is None:
                return 1, "", f'Error from server (NotFound): {resource} "{argv[2]}" not found\n'
            patch = json.loads(argv[argv.index("-p") + 1])
            return self._write(self._request("UPDATE", merged(stored, patch), stored), "patching")
        if verb == "replace":
            sent = json.loads(stdin or "{}")
            code, out, err = 0, "", ""
            for obj in sent["items"] if sent.get("kind") == "List" else [sent]:
                meta = obj["metadata"]
                stored = self._stored(plural(obj["kind"]), meta["name"], meta.get("namespace", ""))
                one = self._write(self._request("UPDATE", obj, stored), "replacing")
                code, out, err = max(code, one[0]), out + one[1], err + one[2]
            return code, out, err
        return 1, "", f"error: the kubectl double does not know `kubectl {' '.join(argv)}`\n"

    # --- the evaluators -------------------------------------------------------------------------

    def _request(self, operation: str, obj: dict, old: dict | None) -> Request:
        name, groups = self.user
        return Request(operation, name, obj, old, groups)

    def _authorized(self, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        user, groups = self.user
        if user in self.iam_admins:
            return True
        return self.world.rbac.allowed(Attributes(user, verb, group, resource, namespace, name, groups=groups))

    def _stored(self, resource: str, name: str, namespace: str) -> dict | None:
        for obj in self.world.objects:
            meta = obj["metadata"]
            if plural(obj["kind"]) == resource and meta["name"] == name and \
                    meta.get("namespace", "") == (namespace if obj["kind"] != "Namespace" else ""):
                return obj
        return None

    def _write(self, request: Request, doing: str) -> tuple[int, str, str]:
        user, groups = self.user
        attrs = self.world.attributes(request)
        qualified = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
        where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else ""
        if user not in self.iam_admins:
            if not self.world.rbac.allowed(attrs):
                return 1, "", (f'Error from server (Forbidden): error when {doing} "STDIN": {qualified} '
                               f'"{attrs.name}" is forbidden: User "{user}" cannot {attrs.verb} resource '
                               f'"{attrs.resource}" in API group "{attrs.group}"{where}\n')
            if not self.world.rbac.authorize_write(attrs, request.object):
                return 1, "", (f'Error from server (Forbidden): error when {doing} "STDIN": {qualified} '
                               f'"{attrs.name}" is forbidden: user "{user}" (groups={json.dumps(list(groups))}) '
                               "is attempting to grant RBAC permissions not currently held:\n"
                               '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n')
        if request.kind == "Pod" and request.operation == "CREATE":
            namespace = self.world.cluster.namespaces.get(request.namespace, {})
            request = Request("CREATE", user, inject(request.target, namespace, self.world.tags), None, groups)
            labels = namespace.get("metadata", {}).get("labels", {}) or {}
            level, version = labels.get(ENFORCE), labels.get(f"{ENFORCE}-version", "latest")
            failed = violations(request.object, level) if level else []
            if failed:
                return 1, "", (f'Error from server (Forbidden): error when {doing} "STDIN": pods "{attrs.name}" is '
                               f'forbidden: violates PodSecurity "{level}:{version}": {", ".join(failed)}\n')
        denials = self.world.cluster.review(request)
        if denials:
            first = denials[0]
            denied = (f"ValidatingAdmissionPolicy '{first.policy}' with binding '{first.policy}' denied request: "
                      f"{first.message}")
            if doing == "replacing":  # -f of a List: one line per failed item
                return 1, "", f'Error from server (Invalid): error when {doing} "STDIN": {qualified} "{attrs.name}" ' \
                              f"is forbidden: {denied}\n"
            return 1, "", f'The {attrs.resource} "{attrs.name}" is invalid: : {denied}\n'
        group = f".{attrs.group}" if attrs.group else ""
        return 0, f"{request.kind.lower()}{group}/{attrs.name}\n", ""  # -o name: kind.group/name


def _resource_arg(text: str) -> tuple[str, str, str]:
    """``resource[.group][/name]`` -> (group, resource, name)."""
    what, _, name = text.partition("/")
    resource, _, group = what.partition(".")
    return group, resource, name


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        question = json.loads(self.rfile.read().decode())
        try:
            code, out, err = self.server.fake.answer(question["argv"], question["stdin"])  # type: ignore[attr-defined]
        except Exception as problem:  # noqa: BLE001 - reported as kubectl would report a crash
            code, out, err = 2, "", f"kubectl double: {problem!r}\n"
        self.wfile.write(json.dumps({"code": code, "stdout": out, "stderr": err}).encode())


@contextlib.contextmanager
def kubectl_on_path(tmp_path: Path, fake: FakeCluster) -> Iterator[str]:
    """A directory holding a `kubectl` that asks ``fake``; yields it (to put first on PATH)."""
    folder = tmp_path / "kubectl-bin"
    folder.mkdir(exist_ok=True)
    sockets = tempfile.mkdtemp(prefix="kubectl-")  # a Unix socket's path has at most 107 bytes
    address = f"{sockets}/socket"
    server = socketserver.ThreadingUnixStreamServer(address, _Handler)
    server.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    program = folder / "kubectl"
    program.write_text(PROGRAM.format(python=sys.executable, socket=address))
    program.chmod(0o755)
    try:
        yield str(folder)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(sockets, ignore_errors=True)
