"""The cluster-wide half of tenancy, declared by the owner stack: the role environment owners get
in their namespace, and the admission policies every environment namespace is held to
(components/admission.py). Attached stacks bind the role; they declare nothing cluster-wide.

What the owners' role leaves out is the point: no NetworkPolicy, Ingress, Istio object, RBAC,
quota, limit, Endpoints or namespace write, so nothing an owner can write opens a path around the
gateway, the sidecar or the namespace (Kubernetes' built-in ``edit`` grants NetworkPolicies,
Ingresses and Services of any type). Services are theirs, held to ClusterIP by admission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .admission import tenancy_policies
from .config.mesh import MeshConfig

# What an environment's owners get in its namespace; the only role an owner binding names.
OWNER_CLUSTER_ROLE = "istio-envs:environment-owner"
WRITE = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
READ = ("get", "list", "watch")
# (API group, resources, verbs): running their services, and reading what the platform set.
OWNER_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("", ("pods", "pods/log", "pods/exec", "pods/portforward", "services", "configmaps", "secrets",
          "serviceaccounts", "persistentvolumeclaims"), WRITE),
    ("apps", ("deployments", "statefulsets", "replicasets"), WRITE),
    ("batch", ("jobs", "cronjobs"), WRITE),
    ("autoscaling", ("horizontalpodautoscalers",), WRITE),
    ("policy", ("poddisruptionbudgets",), WRITE),
    ("", ("events", "endpoints", "resourcequotas", "limitranges"), READ),
    ("discovery.k8s.io", ("endpointslices",), READ),
    ("networking.k8s.io", ("networkpolicies",), READ),
    ("networking.istio.io", ("virtualservices", "serviceentries", "sidecars", "destinationrules"), READ),
    ("security.istio.io", ("authorizationpolicies", "requestauthentications", "peerauthentications"), READ),
    ("rbac.authorization.k8s.io", ("roles", "rolebindings"), READ),
)


def owner_rules() -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    return [{"api_groups": [group], "resources": list(resources), "verbs": list(verbs)}
            for group, resources, verbs in OWNER_RULES]


@dataclass(frozen=True)
class TenancyArgs:
    api_domain: str
    """``api.<domain>``: the parent of every environment host the routes policy admits."""
    mesh: MeshConfig = MeshConfig()
    """The istiod revisions: which tags a namespace may select, which proxies a pod may run."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """The policies read Istio kinds: they wait for istiod (its CRDs)."""


class Tenancy(pulumi.ComponentResource):
    """Outputs: ``owner_role`` (the ClusterRole name environment owner bindings name)."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:Tenancy", name, None, opts)
        role = k8s.rbac.v1.ClusterRole(f"{name}-owner-role", metadata={"name": OWNER_CLUSTER_ROLE},
                                       rules=owner_rules(), opts=pulumi.ResourceOptions(parent=self))
        for policy in tenancy_policies(args.api_domain, args.mesh):
            declared = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                f"{name}-{policy.name}", metadata={"name": policy.name}, spec=policy.spec(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_ready)))
            k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                f"{name}-{policy.name}-binding", metadata={"name": policy.name},
                spec=policy.binding_spec(), opts=pulumi.ResourceOptions(parent=self, depends_on=[declared]))
        self.owner_role = role.metadata.name
        self.register_outputs({"owner_role": self.owner_role})
