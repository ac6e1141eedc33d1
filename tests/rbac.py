"""Kubernetes RBAC over rendered Role/ClusterRole and binding objects, offline: is a request
authorized, and does a RoleBinding or Role write pass RBAC's escalation checks
(kubernetes.io/docs/reference/access-authn-authz/rbac/ "Privilege escalation prevention and
bootstrapping": a binding needs ``bind`` on the role it names or every permission in it; a role
needs ``escalate`` or every permission it grants)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
# Built-in roles a request may name whose rules the program does not render (kubernetes.io/docs/
# reference/access-authn-authz/rbac/#user-facing-roles). cluster-admin is `*` on everything;
# admin and edit are not modelled, so a check that needs their rules treats them as not held.
BUILT_IN_RULES = {("ClusterRole", "cluster-admin"): [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}


@dataclass(frozen=True)
class Attributes:
    """One authorization question: may ``user`` (in ``groups``) ``verb`` this resource?"""

    user: str
    verb: str
    group: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    groups: tuple[str, ...] = ()


@dataclass
class Rbac:
    roles: dict[tuple[str, str, str], list[dict]] = field(default_factory=dict)
    """(kind, namespace, name) -> rules."""
    bindings: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, objects: Iterable[Mapping[str, Any]]) -> Rbac:
        rbac = cls()
        for obj in objects:
            kind, meta = obj["kind"], obj["metadata"]
            if kind in ("Role", "ClusterRole"):
                rbac.roles[(kind, meta.get("namespace", ""), meta["name"])] = list(obj.get("rules") or [])
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                rbac.bindings.append(dict(obj))
        return rbac

    def rules_of(self, kind: str, name: str, namespace: str = "") -> list[dict] | None:
        key = (kind, namespace if kind == "Role" else "", name)
        return self.roles.get(key, BUILT_IN_RULES.get((kind, name)))

    def _rules_for(self, attrs: Attributes) -> Iterable[dict]:
        for binding in self.bindings:
            namespace = binding["metadata"].get("namespace", "")
            if binding["kind"] == "RoleBinding" and namespace != attrs.namespace:
                continue
            if not any(_subject_is(s, attrs) for s in binding.get("subjects", [])):
                continue
            ref = binding["roleRef"]
            yield from self.rules_of(ref["kind"], ref["name"], namespace) or []

    def allowed(self, attrs: Attributes) -> bool:
        return any(rule_allows(rule, attrs) for rule in self._rules_for(attrs))

    def covers(self, attrs: Attributes, rules: list[dict] | None) -> bool:
        """Whether the requester already holds every permission of ``rules`` (in its namespace)."""
        if rules is None:
            return False
        for rule in rules:
            for verb in rule.get("verbs", []):
                for group in rule.get("apiGroups", [""]):
                    for resource in rule.get("resources", []):
                        res, _, sub = resource.partition("/")
                        for name in rule.get("resourceNames") or [""]:
                            wanted = Attributes(attrs.user, verb, group, res, attrs.namespace, name, sub,
                                                attrs.groups)
                            if not self.allowed(wanted):
                                return False
        return True

    def authorize_write(self, attrs: Attributes, obj: Mapping[str, Any] | None) -> bool:
        """RBAC's answer to a write of ``obj``, escalation checks included."""
        if not self.allowed(attrs):
            return False
        if obj is None or attrs.group != RBAC_GROUP or attrs.verb not in ("create", "update", "patch"):
            return True
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            ref = obj["roleRef"]
            bind = Attributes(attrs.user, "bind", RBAC_GROUP, plural_rbac(ref["kind"]), attrs.namespace,
                              ref["name"], groups=attrs.groups)
            return self.allowed(bind) or self.covers(attrs, self.rules_of(ref["kind"], ref["name"],
                                                                           attrs.namespace))
        if obj["kind"] in ("Role", "ClusterRole"):
            escalate = Attributes(attrs.user, "escalate", RBAC_GROUP, plural_rbac(obj["kind"]), attrs.namespace,
                                  obj["metadata"]["name"], groups=attrs.groups)
            return self.allowed(escalate) or self.covers(attrs, list(obj.get("rules") or []))
        return True


def plural_rbac(kind: str) -> str:
    return {"Role": "roles", "ClusterRole": "clusterroles"}[kind]


def _subject_is(subject: Mapping[str, Any], attrs: Attributes) -> bool:
    if subject["kind"] == "User":
        return subject["name"] == attrs.user
    if subject["kind"] == "Group":
        return subject["name"] in attrs.groups
    if subject["kind"] == "ServiceAccount":
        return attrs.user == f"system:serviceaccount:{subject.get('namespace', '')}:{subject['name']}"
    return False


def _has(values: list[str], value: str) -> bool:
    return "*" in values or value in values


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """One PolicyRule: verbs, apiGroups, resources (``res``, ``res/sub``, ``*``, ``*/sub``) and
    resourceNames (empty: any name)."""
    if not _has(rule.get("verbs", []), attrs.verb) or not _has(rule.get("apiGroups", []), attrs.group):
        return False
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources", [])
    if not ("*" in resources or wanted in resources or
            (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names
