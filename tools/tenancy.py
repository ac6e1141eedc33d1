"""``make verify STACK=<attached stack>``, live: the tenancy corpus's ``live: true`` cases sent to
the deployed cluster, each expected refused by a layer the case names, and the platform's own
objects in the environment replaced by themselves, each expected admitted (a rule that refuses
the platform's objects is as wrong as one that admits an attack). Nothing is written: ``kubectl
auth can-i`` where RBAC refuses a plain verb, else a server-side dry run (``create``, not
``apply``, which would turn into an update; a merge ``patch`` of an ``existing`` object).

It runs as the caller's credentials and kubectl context, never ``--as`` (a name, not the
credentials CI holds), and only for the environments deployer (anyone else: SKIP, saying who).
docs/isolation.md "Checked live" has what is and is not checked live, and why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.admission import CLIENT_TLS_LABEL, ENVIRONMENT_LABEL
from components.tenancy import OWNER_CLUSTER_ROLE
from tools.verify import Check

CORPUS = Path(__file__).with_name("tenancy_corpus.yaml")
# Any group name: the deployer's cases bind roles to it (no such group needs to exist).
PLACEHOLDER_GROUP = "istio-envs-verify@invalid.example"
PLACEHOLDER_IMAGE = "docker.io/library/busybox:1.36"
TIMEOUT = 60
# kind -> (resource as kubectl names it, namespaced)
RESOURCES = {
    "Namespace": ("namespaces", False), "Secret": ("secrets", True), "Service": ("services", True),
    "ConfigMap": ("configmaps", True), "Pod": ("pods", True), "ResourceQuota": ("resourcequotas", True),
    "LimitRange": ("limitranges", True), "Deployment": ("deployments.apps", True),
    "NetworkPolicy": ("networkpolicies.networking.k8s.io", True),
    "Ingress": ("ingresses.networking.k8s.io", True),
    "RoleBinding": ("rolebindings.rbac.authorization.k8s.io", True),
    "Role": ("roles.rbac.authorization.k8s.io", True),
    "VirtualService": ("virtualservices.networking.istio.io", True),
    "ServiceEntry": ("serviceentries.networking.istio.io", True),
    "DestinationRule": ("destinationrules.networking.istio.io", True),
    "Sidecar": ("sidecars.networking.istio.io", True), "Gateway": ("gateways.networking.istio.io", True),
    "EnvoyFilter": ("envoyfilters.networking.istio.io", True),
    "WorkloadEntry": ("workloadentries.networking.istio.io", True),
    "WasmPlugin": ("wasmplugins.extensions.istio.io", True),
    "AuthorizationPolicy": ("authorizationpolicies.security.istio.io", True),
    "RequestAuthentication": ("requestauthentications.security.istio.io", True),
    "PeerAuthentication": ("peerauthentications.security.istio.io", True),
    "HTTPRoute": ("httproutes.gateway.networking.k8s.io", True),
}
RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
VERBS = {"CREATE": "create", "UPDATE": "patch", "GET": "get", "DELETE": "delete"}
# The platform's objects in every environment namespace (components/environment.py, demo.py),
# as (kind, name; {environment} is the environment's name, optional: absent unless configured).
ADMITTED_SAMPLE: tuple[tuple[str, str, bool], ...] = (
    ("Namespace", "{namespace}", False),
    ("NetworkPolicy", "environment-ingress", False), ("NetworkPolicy", "environment-egress", False),
    ("Sidecar", "default", False), ("AuthorizationPolicy", "allow-nothing", False),
    ("AuthorizationPolicy", "require-jwt", False), ("RequestAuthentication", "jwt", False),
    ("VirtualService", "{environment}-api", False), ("ResourceQuota", "environment-quota", False),
    ("LimitRange", "container-defaults", False), ("RoleBinding", "environment-owners", True),
    ("Deployment", "demo-echo", True), ("Service", "demo-echo", True),
)
# The per-pull-request deployer's confinement: the deployer's rules and its namespace prefix.
SAME_LAYER = {"admission:istio-envs-preview-environment-deployer": "admission:istio-envs-environment-deployer"}


@dataclass(frozen=True)
class LiveTarget:
    """An environment as its stack outputs describe it."""

    namespace: str
    environment: str
    domain: str
    """``api.<domain>``."""
    other: str
    """Another environment's name (the owner's own): what the cases aim at."""
    mutual: bool = False
    """``tlsMode`` MUTUAL."""
    owner: bool = False
    """An owner stack: its environment is the platform identity's, outside the deployer's reach."""

    @classmethod
    def from_outputs(cls, outputs: dict, owner_outputs: dict) -> LiveTarget | None:
        if not outputs.get("namespace") or not outputs.get("host"):
            return None
        return cls(namespace=str(outputs["namespace"]),
                   environment=str(outputs.get("environment") or outputs["namespace"]),
                   domain=str(outputs["host"]).split(".", 1)[1],
                   other=str(owner_outputs.get("environment") or "another-environment"),
                   mutual=outputs.get("tlsMode") == "MUTUAL", owner=not outputs.get("platformOwner"))


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def said(self) -> str:
        """What kubectl said, on one line."""
        text = " ".join(line.strip() for line in (self.stderr or self.stdout).splitlines() if line.strip())
        return text[:400] or f"(exit {self.code}, no message)"


Runner = Callable[[Sequence[str], str | None], Ran]


def subprocess_runner(argv: Sequence[str], stdin: str | None) -> Ran:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"no answer in {TIMEOUT}s")
    except OSError as err:
        return Ran(127, "", str(err))
    return Ran(done.returncode, done.stdout, done.stderr)


def corpus_cases(corpus: Path = CORPUS) -> list[dict]:
    """Every case of the attack corpus (tools/tenancy_corpus.yaml)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(corpus.read_text(), Loader=loader)["cases"]


def live_cases(corpus: Path = CORPUS) -> list[dict]:
    return [case for case in corpus_cases(corpus) if case.get("live")]


def fill(value, names: dict[str, str]):
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


def refusing_layer(message: str) -> str | None:
    """The tenancy layer an API server refusal names (the corpus's names), or None."""
    policy = re.search(r"ValidatingAdmissionPolicy '([^']+)'", message)
    if policy:
        return SAME_LAYER.get(f"admission:{policy.group(1)}", f"admission:{policy.group(1)}")
    if "violates PodSecurity" in message:
        return "pod-security"
    if re.search(r"cannot [a-z]+ resource", message) or "attempting to grant RBAC permissions not currently held" \
            in message:
        return "rbac"
    return None


@dataclass(frozen=True)
class Probe:
    """How one case is sent: ``can-i`` (argv answers yes/no) or a dry run (argv, stdin)."""

    kind: str
    argv: tuple[str, ...]
    stdin: str | None = None
    fallback: Probe | None = None
    """A CREATE RBAC allows live after all: its dry run."""


def _resource(kind: str) -> tuple[str, bool]:
    if kind not in RESOURCES:
        raise ValueError(f"tools/tenancy.py knows no resource for kind {kind}")
    return RESOURCES[kind]


def probe_for(case: dict, names: dict[str, str]) -> Probe:
    """The kubectl request that sends ``case`` (placeholders filled from ``names``)."""
    operation = case["operation"]
    if operation == "UPDATE":
        if not case.get("existing") or "patch" not in case:
            raise ValueError(f"{case['case']}: a live UPDATE patches an `existing` object")
        kind, _, name = fill(case["existing"], names).partition("/")
        resource, namespaced = _resource(kind)
        where = ("-n", names["env"]) if namespaced else ()
        return Probe("dry-run", ("patch", resource, name, *where, "--type", "merge", "-p",
                                 json.dumps(fill(case["patch"], names)), "--dry-run=server", "-o", "name"))
    obj = fill(case["object"], names)
    resource, namespaced = _resource(obj["kind"])
    where = ("-n", obj["metadata"]["namespace"]) if namespaced else ()
    create = Probe("dry-run", ("create", "--dry-run=server", "-o", "name", "-f", "-"), json.dumps(obj))
    if operation == "GET":
        return Probe("can-i", ("auth", "can-i", "get", f"{resource}/{obj['metadata']['name']}", *where))
    if operation != "CREATE":
        raise ValueError(f"{case['case']}: a live case is a CREATE, a GET or an UPDATE of an existing object")
    if "rbac" in case["refused_by"] and obj["kind"] not in RBAC_KINDS:
        return Probe("can-i", ("auth", "can-i", "create", resource, *where), fallback=create)
    return create


class Kubectl:
    def __init__(self, binary: str, context: str | None, run: Runner):
        self.base = (binary, *(("--context", context) if context else ()))
        self.run_argv = run

    def __call__(self, *argv: str, stdin: str | None = None) -> Ran:
        return self.run_argv((*self.base, *argv), stdin)

    def can_i(self, *argv: str) -> bool | None:
        """yes/no of ``kubectl auth can-i``; None when kubectl gave no answer."""
        ran = self("auth", "can-i", *argv)
        answer = ran.stdout.strip().split(" ", 1)[0].lower() if ran.stdout.strip() else ""
        return {"yes": True, "no": False}.get(answer)


def _expected(case: dict) -> str:
    return ", ".join(case["refused_by"])


def run_case(kubectl: Kubectl, case: dict, names: dict[str, str]) -> Check:
    name, probe = f"tenancy:{case['case']}", probe_for(case, names)
    rbac_note = ""
    if probe.kind == "can-i":
        allowed = kubectl.can_i(*probe.argv[2:])
        verb_what = " ".join(probe.argv[2:])
        if allowed is False:
            return Check(name, "PASS", f"refused by rbac: can-i {verb_what} → no")
        if allowed is None:
            return Check(name, "FAIL", f"can-i {verb_what} gave no answer: {kubectl('auth', 'can-i', *probe.argv[2:]).said}")
        if probe.fallback is None:
            return Check(name, "FAIL", f"RBAC allows it (can-i {verb_what} → yes); expected refused by {_expected(case)}")
        probe, rbac_note = probe.fallback, f"RBAC allows it live (can-i {verb_what} → yes); "
    ran = kubectl(*probe.argv, stdin=probe.stdin)
    if ran.code == 0:
        return Check(name, "FAIL", f"{rbac_note}ADMITTED by a server-side dry run ({ran.stdout.strip() or 'no output'}); "
                                   f"expected refused by {_expected(case)}")
    layer = refusing_layer(ran.stdout + ran.stderr)
    if layer in case["refused_by"]:
        return Check(name, "PASS", f"{rbac_note}refused by {layer}: {ran.said}")
    return Check(name, "FAIL", f"{rbac_note}refused, but not by {_expected(case)} "
                               f"({'by ' + layer if layer else 'no tenancy layer named'}): {ran.said}")


def _items(text: str) -> list[dict]:
    try:
        read = json.loads(text)
    except ValueError:
        return []
    return list(read.get("items") or []) if read.get("kind") == "List" else [read]


def admitted_checks(kubectl: Kubectl, target: LiveTarget) -> list[Check]:
    """The sample read in one request and replaced by itself in another (a List), each object's
    answer told apart by kubectl's ``-o name`` line for it or its error line."""
    sample = []
    for kind, template, optional in ADMITTED_SAMPLE:
        name = template.format(namespace=target.namespace, environment=target.environment)
        sample.append((kind, name, optional, _resource(kind)[0]))
    got = kubectl("get", *[f"{resource}/{name}" for _, name, _, resource in sample], "-n", target.namespace,
                  "--ignore-not-found", "-o", "json")
    if got.code != 0:
        return [Check("admitted", "FAIL", f"could not read the platform's objects in {target.namespace}: {got.said}")]
    stored = {(o.get("kind"), o.get("metadata", {}).get("name")): o for o in _items(got.stdout)}
    checks, present = [], []
    for kind, name, optional, resource in sample:
        if (kind, name) in stored:
            present.append((kind, name, resource))
        elif not optional:
            checks.append(Check(f"admitted:{kind}/{name}", "FAIL", f"the platform's {kind} {name} is not in "
                                f"{target.namespace}: was the stack deployed?"))
    if not present:
        return checks
    listed = {"apiVersion": "v1", "kind": "List", "items": [stored[(k, n)] for k, n, _ in present]}
    ran = kubectl("replace", "--dry-run=server", "-o", "name", "-f", "-", stdin=json.dumps(listed))
    done = {line.strip().rsplit("/", 1)[-1] + "|" + line.strip().split("/", 1)[0].split(".", 1)[0]
            for line in ran.stdout.splitlines() if "/" in line}
    errors = [line for line in ran.stderr.splitlines() if line.strip()]
    for kind, name, resource in present:
        if f"{name}|{kind.lower()}" in done:
            checks.append(Check(f"admitted:{kind}/{name}", "PASS", "its update to itself is admitted "
                                "(server-side dry run)"))
            continue
        said = next((line for line in errors if f'{resource.split(".")[0]} "{name}"' in line or
                     f'{resource} "{name}"' in line), ran.said)
        layer = refusing_layer(said)
        checks.append(Check(f"admitted:{kind}/{name}", "FAIL", f"the platform's own object is REFUSED"
                            f"{' by ' + layer if layer else ''}: {' '.join(said.split())[:400]}"))
    return checks


def live_checks(target: LiveTarget, kubectl: str = "kubectl", context: str | None = None,
                run: Runner | None = None, corpus: Path = CORPUS) -> list[Check]:
    """Every live case and the admitted sample, or one SKIP saying why they cannot run. ``run``
    stands for the kubectl process (default: ``kubectl`` from PATH, run as a subprocess)."""
    ci = ("run it with the environments deployer's credentials (README \"Isolation from an "
          "environment's own tenants\")")
    if target.owner:
        return [Check("tenancy", "SKIP", f"{target.namespace} is the owner's own environment (the platform "
                      "identity's); the live tenancy cases are the environments deployer's: make verify "
                      "STACK=<an attached stack>")]
    binary = shutil.which(kubectl) if run is None else kubectl
    if binary is None:
        return [Check("tenancy", "SKIP", f"`{kubectl}` is not on PATH: the live tenancy cases need kubectl "
                      f"and a context for the stack's cluster; {ci}")]
    k = Kubectl(binary, context, run or subprocess_runner)
    whoami = k("auth", "whoami", "-o", "json")
    try:
        user = json.loads(whoami.stdout)["status"]["userInfo"]["username"] if whoami.code == 0 else None
    except (ValueError, KeyError, TypeError):
        user = None
    where = f"context {context}" if context else "the current kubectl context"
    if user is None:
        return [Check("tenancy", "SKIP", f"no cluster access through {where} ({whoami.said}); {ci}")]
    binds = k.can_i("bind", f"clusterroles.rbac.authorization.k8s.io/{OWNER_CLUSTER_ROLE}")
    writes_policies = k.can_i("create", "validatingadmissionpolicies.admissionregistration.k8s.io")
    if not (binds is True and writes_policies is False):
        return [Check("tenancy", "SKIP", f"{where} runs as {user}, who is not the environments deployer (may "
                      f"bind {OWNER_CLUSTER_ROLE}: {_yes(binds)}; may write admission policies: "
                      f"{_yes(writes_policies)}); the cases are written for the deployer's rights; {ci}")]
    namespace = k("get", "namespaces", target.namespace, "-o", "json")
    try:
        labels = json.loads(namespace.stdout)["metadata"].get("labels") or {} if namespace.code == 0 else None
    except (ValueError, KeyError, TypeError):
        labels = None
    if labels is None or labels.get(ENVIRONMENT_LABEL) != target.namespace:
        return [Check("tenancy", "SKIP", f"{where} has no environment namespace {target.namespace} "
                      f"({namespace.said if namespace.code else 'not labelled ' + ENVIRONMENT_LABEL}): is it "
                      "the stack's cluster? (make verify ... KUBE_CONTEXT=<its context>)")]
    checks = [Check("tenancy", "PASS", f"{where} as {user}: binds the owners' role, writes no admission "
                    "policy (the environments deployer's rights)")]
    mutual = labels.get(CLIENT_TLS_LABEL) == "mutual"
    if target.mutual and not mutual:
        checks.append(Check("tenancy:mutual-namespace-label", "FAIL", f"{target.namespace} is MUTUAL but its "
                            f"namespace lacks {CLIENT_TLS_LABEL}=mutual: its routes could bind to the shared "
                            "SIMPLE Gateway"))
    names = {"env": target.namespace, "other": target.other, "domain": target.domain,
             "image": PLACEHOLDER_IMAGE, "owners": PLACEHOLDER_GROUP}
    for case in live_cases(corpus):
        if case.get("mutual") and not mutual:
            continue
        checks.append(run_case(k, case, names))
    return checks + admitted_checks(k, target)


def _yes(answer: bool | None) -> str:
    return {True: "yes", False: "no", None: "no answer"}[answer]
