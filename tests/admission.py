"""ValidatingAdmissionPolicy as the API server applies it, offline: an evaluator of VAP objects
(admissionregistration.k8s.io/v1) over an admission request, with the CEL library the project
uses for CRD rules (common-expression-language, preview/crds.py).

What it models (kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/ and
the API types' documentation):

- a policy applies through a binding (``policyName``); the binding's ``matchResources`` narrows
  the policy's ``matchConstraints``;
- ``resourceRules`` / ``excludeResourceRules``: operations, apiGroups, apiVersions, resources
  (``*``, ``*/*``, ``res/*``, ``*/sub``), resourceNames, scope;
- ``namespaceSelector``: a namespaced object's stored namespace; a Namespace's own labels on
  CREATE and UPDATE (the new object's, k8s.io/apiserver .../predicates/namespace/matcher.go
  GetNamespaceLabels), its stored labels on DELETE; any other cluster-scoped object always matches;
- ``objectSelector``: the new or the old object's labels (either matching is enough);
- ``matchConditions`` (all must be true), ``variables`` (in order, each an error only where used),
  ``validations`` (``message``/``messageExpression``), ``paramKind``/``paramRef`` by name
  (``parameterNotFoundAction``), ``failurePolicy`` (an error denies under Fail) and
  ``validationActions`` (Deny refuses; Warn and Audit do not);
- the CEL variables ``object``, ``oldObject`` (null where absent), ``request``, ``namespaceObject``
  (null for cluster-scoped requests), ``params``, ``variables``, and ``authorizer`` (the
  Kubernetes authz library, k8s.io/apiserver/pkg/cel/library/authz.go: ``authorizer.group(g)
  .resource(r)[.subresource(s)][.namespace(n)][.name(n)].check(verb).allowed()``) answered by the
  cluster's ``authorize`` callable; a cluster without one raises where a check is evaluated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from preview.crds import _cel

# Kinds that are cluster-scoped among those the tests send (the rest are namespaced).
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                            "ValidatingAdmissionPolicyBinding", "CustomResourceDefinition", "Node",
                            "PersistentVolume", "IngressClass", "PriorityClass"})
IRREGULAR_PLURALS = {"Endpoints": "endpoints"}


def plural(kind: str) -> str:
    """The resource of a kind, as the API names it (lowercase plural)."""
    if kind in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


@dataclass(frozen=True)
class Request:
    """One admission request: who sends which operation on which object."""

    operation: str  # CREATE, UPDATE, DELETE
    username: str
    object: dict | None
    old_object: dict | None = None
    groups: tuple[str, ...] = ()
    subresource: str = ""
    resource: str | None = None
    """The resource, when the kind's plural is irregular."""

    @property
    def target(self) -> dict:
        found = self.object if self.object is not None else self.old_object
        assert found is not None, "a request has an object or an old object"
        return found

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.target["apiVersion"].rpartition("/")
        return group, version

    @property
    def kind(self) -> str:
        return self.target["kind"]

    @property
    def name(self) -> str:
        return self.target.get("metadata", {}).get("name", "")

    @property
    def namespaced(self) -> bool:
        return self.kind not in CLUSTER_SCOPED

    @property
    def namespace(self) -> str:
        if self.kind == "Namespace":
            return self.name  # the API server's attributes name the namespace itself
        return self.target.get("metadata", {}).get("namespace", "") if self.namespaced else ""

    def cel(self) -> dict:
        group, version = self.group_version
        return {"operation": self.operation, "name": self.name, "namespace": self.namespace,
                "kind": {"group": group, "version": version, "kind": self.kind},
                "resource": {"group": group, "version": version,
                             "resource": self.resource or plural(self.kind)},
                "subResource": self.subresource, "dryRun": False,
                "userInfo": {"username": self.username, "groups": list(self.groups)}}


@dataclass(frozen=True)
class Denial:
    policy: str
    message: str


@dataclass
class Cluster:
    """What the API server knows when it admits a request: the policies and bindings, the stored
    namespaces, and the parameter objects."""

    policies: dict[str, dict] = field(default_factory=dict)
    bindings: list[dict] = field(default_factory=list)
    namespaces: dict[str, dict] = field(default_factory=dict)
    params: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    """(kind, namespace, name) -> object."""
    authorize: Callable[[Request, dict], bool] | None = None
    """The API server's authorizer for the CEL ``authorizer`` variable: may the request's user do
    ``{group, resource, subresource, namespace, name, verb}``?"""

    @classmethod
    def of(cls, objects: Iterable[dict], authorize: Callable[[Request, dict], bool] | None = None) -> Cluster:
        cluster = cls(authorize=authorize)
        for obj in objects:
            cluster.add(obj)
        return cluster

    def add(self, obj: dict) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "ValidatingAdmissionPolicy":
            self.policies[name] = obj
        elif kind == "ValidatingAdmissionPolicyBinding":
            self.bindings.append(obj)
        elif kind == "Namespace":
            self.namespaces[name] = obj
        self.params[(kind, obj["metadata"].get("namespace", ""), name)] = obj

    def review(self, request: Request) -> list[Denial]:
        """Every denial the bound policies give the request (empty: admitted)."""
        denials: list[Denial] = []
        for binding in self.bindings:
            spec = binding["spec"]
            policy = self.policies.get(spec["policyName"])
            if policy is None:  # a binding to a missing policy is ignored by the API server
                continue
            actions = spec.get("validationActions", [])
            found = self._evaluate(policy, spec, request)
            if "Deny" in actions:
                denials += found
        return denials

    # --- matching --------------------------------------------------------------------------

    def _namespace_labels(self, request: Request) -> dict:
        if request.kind == "Namespace" and request.operation in ("CREATE", "UPDATE"):
            return _labels(request.object)
        return _labels(self.namespaces.get(request.namespace))

    def _matches(self, constraints: Mapping[str, Any] | None, request: Request) -> bool:
        if constraints is None:
            return True
        rules = constraints.get("resourceRules")
        if rules is not None and not any(_rule_matches(r, request) for r in rules):
            return False
        if any(_rule_matches(r, request) for r in constraints.get("excludeResourceRules", [])):
            return False
        selector = constraints.get("namespaceSelector")
        if selector and (request.namespaced or request.kind == "Namespace") and \
                not selector_matches(selector, self._namespace_labels(request)):
            return False
        selector = constraints.get("objectSelector")
        return not selector or any(selector_matches(selector, _labels(o))
                                   for o in (request.object, request.old_object) if o is not None)

    # --- evaluation ------------------------------------------------------------------------

    def _evaluate(self, policy: dict, binding: dict, request: Request) -> list[Denial]:
        spec, name = policy["spec"], policy["metadata"]["name"]
        if not self._matches(spec.get("matchConstraints"), request) or \
                not self._matches(binding.get("matchResources"), request):
            return []
        fail = spec.get("failurePolicy", "Fail") == "Fail"

        def error(what: str) -> list[Denial]:
            return [Denial(name, f"{what} (failurePolicy Fail)")] if fail else []

        scope: dict[str, Any] = {
            "object": request.object, "oldObject": request.old_object, "request": request.cel(),
            "namespaceObject": self.namespaces.get(request.namespace) if request.namespaced else None,
            "params": None, "authorizer": {}}
        functions = _authorizer_functions(self.authorize, request)
        if spec.get("paramKind"):
            ref = binding.get("paramRef") or {}
            namespace = ref.get("namespace", request.namespace if request.namespaced else "")
            params = self.params.get((spec["paramKind"]["kind"], namespace, ref.get("name", "")))
            if params is None:
                if ref.get("parameterNotFoundAction", "Deny") == "Deny":
                    return [Denial(name, "no parameter object found (parameterNotFoundAction Deny)")]
                return []
            scope["params"] = params
        for condition in spec.get("matchConditions", []):
            try:
                if _cel_eval(condition["expression"], scope, functions) is not True:
                    return []
            except Exception as err:  # noqa: BLE001 - the API server maps any error the same way
                return error(f"match condition {condition['name']}: {err}")
        variables: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for variable in spec.get("variables", []):
            try:
                variables[variable["name"]] = _cel_eval(variable["expression"], {**scope, "variables": variables},
                                                        functions)
            except Exception as err:  # noqa: BLE001
                failed[variable["name"]] = str(err)
        denials = []
        for validation in spec.get("validations", []):
            expression = validation["expression"]
            broken = [v for v in failed if re.search(rf"\bvariables\.{re.escape(v)}\b", expression)]
            try:
                if broken:
                    raise ValueError(f"variable {broken[0]}: {failed[broken[0]]}")
                passed = _cel_eval(expression, {**scope, "variables": variables}, functions)
            except Exception as err:  # noqa: BLE001
                denials += error(f"{expression!r} could not be evaluated: {err}")
                continue
            if not isinstance(passed, bool):
                denials += error(f"{expression!r} returned {passed!r}, not a boolean")
            elif not passed:
                denials.append(Denial(name, _message(validation, {**scope, "variables": variables}, functions)))
        return denials


def _labels(obj: Mapping | None) -> dict:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions are ANDed; empty matches all)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _listed(value: str, allowed: list[str]) -> bool:
    return "*" in allowed or value in allowed


def _rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    group, version = request.group_version
    resource = request.resource or plural(request.kind)
    if not (_listed(request.operation, rule.get("operations", [])) and _listed(group, rule.get("apiGroups", []))
            and _listed(version, rule.get("apiVersions", []))):
        return False
    scope = rule.get("scope", "*")
    if scope != "*" and (scope == "Namespaced") != request.namespaced:
        return False
    names = rule.get("resourceNames") or []
    if names and request.name not in names:
        return False
    wanted = f"{resource}/{request.subresource}" if request.subresource else resource
    for allowed in rule.get("resources", []):
        res, _, sub = allowed.partition("/")
        if not request.subresource and not sub and res in ("*", resource):
            return True
        if request.subresource and sub and res in ("*", resource) and sub in ("*", request.subresource):
            return True
        if allowed == wanted:
            return True
    return False


def _authorizer_functions(authorize: Callable[[Request, dict], bool] | None,
                          request: Request) -> dict[str, Callable]:
    """The authz library's member functions over plain maps: each builder adds its attribute,
    ``check`` asks ``authorize``, ``allowed`` reads the decision."""
    def builder(key: str) -> Callable:
        return lambda receiver, value: {**dict(receiver), key: value}

    def check(receiver, verb):
        if authorize is None:
            raise NotImplementedError("this cluster models no authorizer")
        return {"allowed": bool(authorize(request, {**dict(receiver), "verb": verb}))}

    return {**{key: builder(key) for key in ("group", "resource", "subresource", "namespace", "name")},
            "check": check, "allowed": lambda decision: bool(dict(decision)["allowed"])}


@functools.cache
def _compiled(expression: str):
    return _cel()[0].compile(expression)


def _cel_eval(expression: str, scope: dict[str, Any], functions: Mapping[str, Callable] | None = None) -> Any:
    cel, extensions = _cel()
    program = _compiled(expression)
    context = cel.Context()
    for name, function in {**extensions["strings"], **(functions or {})}.items():
        context.add_function(name, function)
    for name, value in scope.items():
        context.add_variable(name, value)
    return program.execute(context)


def _message(validation: Mapping[str, Any], scope: dict[str, Any],
             functions: Mapping[str, Callable] | None = None) -> str:
    if validation.get("messageExpression"):
        try:
            text = _cel_eval(validation["messageExpression"], scope, functions)
            if isinstance(text, str) and text.strip():
                return text
        except Exception:  # noqa: BLE001 - the API server falls back to message
            pass
    return validation.get("message") or f"failed expression: {validation['expression']}"
