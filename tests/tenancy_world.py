"""The cluster the tenancy tests reason about, built from the previews: the owner stack's
admission policies, owners' role and namespaces, the bootstrap's deployer role and policies, and
the attached environments' own objects; the corpus (tools/tenancy_corpus.yaml) turned into
requests against it, and each layer's answer (RBAC, admission, Pod Security).

The API server's authorizer (what admission's ``authorizer`` variable asks) is RBAC over the
rendered roles, plus IAM: GKE authorizes a request that either allows, and the platform identity
holds ``roles/container.admin`` (every Kubernetes permission; bootstrap/ci_identities.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from admission import Cluster, Request, plural
from ci_identity import backend_plan
from conftest import EXAMPLES, OWNER, ROOT, STACKS, TENANT, TENANT_ENVIRONMENT
from injection import inject, tags_of
from pod_security import violations
from rbac import Attributes, Rbac

from components.pod_security import POD_SECURITY_LEVEL
from components.stackset import StackSet
from tools.tenancy import corpus_cases, fill

CORPUS = ROOT / "tools" / "tenancy_corpus.yaml"
CONTROLLER = "system:serviceaccount:kube-system:replicaset-controller"
VERBS = {"CREATE": "create", "UPDATE": "update", "DELETE": "delete", "GET": "get"}
ENFORCE = "pod-security.kubernetes.io/enforce"


def kubernetes_objects(plan: dict) -> list[dict]:
    return [r["inputs"] for r in plan["resources"]
            if r["type"].startswith("kubernetes:") and not r["type"].startswith(("kubernetes:helm",))
            and "providers" not in r["type"] and not r.get("read")]


def corpus() -> list[dict]:
    return corpus_cases(CORPUS)


def merged(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class World:
    cluster: Cluster
    rbac: Rbac
    objects: list[dict]
    users: dict[str, tuple[str, tuple[str, ...]]]
    """requester -> (username, groups)."""
    names: dict[str, str]
    tags: dict[str, str]
    """The owner's revision tags: tag -> the version of the revision it points at."""

    def existing(self, ref: str) -> dict:
        kind, _, name = fill(ref, self.names).partition("/")
        namespace = self.names["env"]
        (found,) = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name
                    and o["metadata"].get("namespace", namespace if kind != "Namespace" else None)
                    in (namespace, None)]
        return found

    def request(self, case: dict) -> tuple[str, Request]:
        """(the requester's name, the admission request the case sends)."""
        user, groups = self.users[case["requester"]]
        obj = fill(case.get("object"), self.names)
        old = fill(case.get("old"), self.names)
        if case.get("existing"):
            old = self.existing(case["existing"])
            obj = None if case["operation"] == "DELETE" else merged(old, case.get("patch", {}))
        elif case["operation"] == "UPDATE" and old is None:
            old = obj
        return user, Request(case["operation"], user, obj, old, groups, case.get("subresource", ""))

    def refusals(self, case: dict) -> set[str]:
        """Every layer that refuses the case, each asked on its own."""
        _, request = self.request(case)
        return self.layers(request)

    def attributes(self, request: Request) -> Attributes:
        group, _ = request.group_version
        return Attributes(request.username, VERBS[request.operation], group, request.resource or plural(request.kind),
                          request.namespace if request.namespaced else "", request.name,
                          request.subresource, request.groups)

    def layers(self, request: Request) -> set[str]:
        found: set[str] = set()
        if not self.rbac.authorize_write(self.attributes(request), request.object):
            found.add("rbac")
        if request.operation == "GET":
            return found
        if request.kind == "Pod" and request.operation == "CREATE":
            namespace = self.cluster.namespaces.get(request.namespace, {})
            request = Request(request.operation, request.username, inject(request.target, namespace, self.tags),
                              None, request.groups)
        found |= {f"admission:{d.policy}" for d in self.cluster.review(request)}
        if request.kind == "Pod" and request.object is not None:
            level = (self.cluster.namespaces.get(request.namespace, {}).get("metadata", {})
                     .get("labels", {}).get(ENFORCE))
            if level and violations(request.object, level):
                found.add("pod-security")
        return found


def pod_of(workload: dict) -> dict:
    """The pod a workload's controller creates (its template, in the workload's namespace)."""
    spec = workload["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]
    metadata = {**template.get("metadata", {}), "name": f"{workload['metadata']['name']}-x",
                "namespace": workload["metadata"]["namespace"]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def authorizer(rbac: Rbac, iam_admins: tuple[str, ...]) -> Callable[[Request, dict], bool]:
    """The API server's authorizer over ``rbac``, and IAM's grant of everything to ``iam_admins``."""
    def authorize(request: Request, check: dict) -> bool:
        if request.username in iam_admins:
            return True
        return rbac.allowed(Attributes(request.username, check["verb"], check.get("group", ""),
                                       check.get("resource", ""), check.get("namespace", ""),
                                       check.get("name", ""), check.get("subresource", ""), request.groups))
    return authorize


def build(owner: dict, backend: dict, env: dict, other: dict, owners_group: str, api_domain: str) -> World:
    objects = [o for plan in (owner, backend, env, other) for o in kubernetes_objects(plan)]
    policies = [o for plan in (owner, backend) for o in kubernetes_objects(plan)
                if o["kind"].startswith("ValidatingAdmissionPolicy")]
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    accounts = backend["outputs"]["serviceAccounts"]
    env_name = env["outputs"]["namespace"]
    users = {
        "owner": ("someone@example.com", (owners_group, "system:authenticated")),
        "deployer": (accounts["environments"], ("system:authenticated",)),
        "platform": (accounts["platform"], ("system:authenticated",)),
        "pod": (f"system:serviceaccount:{env_name}:default",
                ("system:serviceaccounts", f"system:serviceaccounts:{env_name}", "system:authenticated")),
    }
    names = {"env": env_name, "other": other["outputs"]["namespace"], "domain": api_domain,
             "image": "docker.io/library/busybox:1.36", "owners": owners_group}
    assert POD_SECURITY_LEVEL == "restricted"
    rbac = Rbac.of(objects)
    cluster = Cluster.of(policies + namespaces, authorizer(rbac, (accounts["platform"],)))
    return World(cluster, rbac, objects, users, names, tags_of(owner))


# The worlds the tests use. An attached environment with owners (the attacker's): conftest's
# TENANT, written from the tests' own template (so no shipped file, which an owner may delete or
# strip of its owners, is needed; the test modules add its plan to `plans`), and another one (the
# target), the first shipped stack attached to the owner; for `mutual: true` cases, a MUTUAL
# environment attached to the mutual example's owner, and another.
ENV = TENANT
ENV_OWNERS = TENANT_ENVIRONMENT["owners"]
OTHER = next(s.name for s in STACKS.attached_to(OWNER) if s.name != ENV)
MUTUAL_STACKS = StackSet.load(EXAMPLES["partner"])
MUTUAL_OWNER = MUTUAL_STACKS["partner"].owner
MUTUAL_ENV = next(s.name for s in MUTUAL_STACKS.attached_to(MUTUAL_OWNER)
                  if s.environment.get("tls", {}).get("mode") == "MUTUAL")
MUTUAL_OTHER = next(s.name for s in MUTUAL_STACKS.attached_to(MUTUAL_OWNER) if s.name != MUTUAL_ENV)


def shipped_world(plans: dict, build_dir) -> World:
    """The shipped owner's platform with ENV and OTHER in it (``plans`` holds ENV's too)."""
    owners = ENV_OWNERS[0].split(":", 1)[1]
    domain = "api." + STACKS[OWNER].config["istio-envs:platform"]["domain"]
    return build(plans[OWNER], backend_plan(build_dir), plans[ENV], plans[OTHER], owners, domain)


def mutual_world(example_plans: dict, build_dir) -> World:
    """The bootstrap's policies as it declares them (for dev's cluster) over the mutual example's
    platform: they name no cluster, only identities and labels."""
    domain = "api." + MUTUAL_STACKS[MUTUAL_OWNER].config["istio-envs:platform"]["domain"]
    return build(example_plans[MUTUAL_OWNER], backend_plan(build_dir), example_plans[MUTUAL_ENV],
                 example_plans[MUTUAL_OTHER], "nobody@example.com", domain)
