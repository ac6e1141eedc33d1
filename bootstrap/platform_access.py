"""What the environment identity may do on a platform an owner stack built: write A records in its
zone, and in its cluster touch environment namespaces and nothing else.

Declared here, after the owner's first deploy (the zone and the cluster exist only then), so that
everything an identity may do stays in one project. The cluster side is a ClusterRole bound to the
identity's Google account (GKE names a Google service account's requests by its email) plus a
ValidatingAdmissionPolicy. Google Groups for RBAC would bind a directory group instead, but it
needs a Workspace or Cloud Identity group and an administrator to manage its membership, for one
member; and RBAC alone cannot confine it anyway: an attached stack creates its namespace, and a
``create namespaces`` grant cannot be limited by name, while the objects inside need rights in
namespaces that do not exist yet. So RBAC names the kinds an attached stack writes
(tests/test_bootstrap.py derives them from the attached stacks' previews; no Secrets, Gateways,
RBAC or webhooks), and the admission policy confines every write of that user to namespaces
labelled ``istio-envs/environment: <their own name>`` that are neither the platform's nor an
owner's own environment (kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import container, dns, projects, serviceaccount
from pulumi_kubernetes.admissionregistration.v1 import (
    ValidatingAdmissionPolicySpecArgsDict,
    ValidationArgsDict,
    VariableArgsDict,
)

from components.admission import ENVIRONMENT_LABEL, deny_binding
from components.tenancy import OWNER_CLUSTER_ROLE  # the only role the deployer binds
from tools.ci import PR_STACK_PREFIX  # a per-pull-request stack's namespace is its name

# Namespaces of the cluster and the mesh; an environment never takes one of these names.
PLATFORM_NAMESPACES = ("default", "istio-system", "istio-ingress", "cert-manager")
PLATFORM_NAMESPACE_PREFIXES = ("kube-", "gke-")
RECORD_SET_PERMISSIONS = (
    # What an attached stack's A record needs, and nothing of the zone itself.
    "dns.changes.create", "dns.changes.get", "dns.managedZones.get", "dns.resourceRecordSets.create",
    "dns.resourceRecordSets.delete", "dns.resourceRecordSets.get", "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.update")
# (API group, resource) an attached stack writes: its namespace, quota and limits, ingress
# NetworkPolicy, routes, Sidecar scope, JWT policies, egress entries, owners' RoleBinding and the
# demo workload (a Deployment and its Service).
ENVIRONMENT_RESOURCES = (
    ("", "namespaces"), ("", "resourcequotas"), ("", "limitranges"), ("", "services"),
    ("apps", "deployments"),
    ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("networking.istio.io", "virtualservices"), ("networking.istio.io", "serviceentries"),
    ("networking.istio.io", "sidecars"),
    ("security.istio.io", "requestauthentications"), ("security.istio.io", "authorizationpolicies"))
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
# On every object the program declares in an environment namespace (components/environment.py).
MANAGED_BY_LABEL = ("app.kubernetes.io/managed-by", "istio-envs")
# The kinds the platform manages in an environment namespace, labelled or not: what keeps it
# isolated (NetworkPolicy, Sidecar, JWT and authorization policies, mTLS), its quota and limits,
# routes, egress entries and RBAC. Only the deployer identities write these there.
MANAGED_KINDS = (
    ("networking.k8s.io", "networkpolicies"), ("networking.istio.io", "sidecars"),
    ("networking.istio.io", "virtualservices"), ("networking.istio.io", "serviceentries"),
    ("networking.istio.io", "destinationrules"),
    ("security.istio.io", "requestauthentications"), ("security.istio.io", "authorizationpolicies"),
    ("security.istio.io", "peerauthentications"), ("", "resourcequotas"), ("", "limitranges"),
    ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "roles"))


def deployer_rules() -> list[k8s.rbac.v1.PolicyRuleArgsDict]:
    """The environment deployer's rules: every kind attached stacks write, and `bind` on the
    owners' role only (RBAC's escalation check: binding owners to it needs it, and nothing wider)."""
    rules: list[k8s.rbac.v1.PolicyRuleArgsDict] = [
        {"api_groups": [group], "resources": sorted(r for g, r in ENVIRONMENT_RESOURCES if g == group),
         "verbs": list(VERBS)}
        for group in sorted({g for g, _ in ENVIRONMENT_RESOURCES})]
    rules.append({"api_groups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                  "resource_names": [OWNER_CLUSTER_ROLE], "verbs": ["bind"]})
    return rules


@dataclass(frozen=True)
class Platform:
    stack: str
    """The owner stack (its environment namespace is ``environment``)."""
    location: str
    cluster: str
    dns_zone: str
    environment: str


@dataclass(frozen=True)
class PlatformAccessArgs:
    project: str
    platforms: tuple[Platform, ...]
    environments_email: pulumi.Input[str]
    preview_environments_email: pulumi.Input[str]
    """The per-pull-request deployer: the same rights, confined to namespaces named pr-*."""
    platform_email: pulumi.Input[str]
    """The owner stacks' deployer: with the environment identities, the only writer of the
    platform-managed objects in environment namespaces."""
    acme: bool = False
    """An owner uses tls.source acme: the platform identity administers its DNS-01 account."""


def node_account_id(cluster: str) -> str:
    """The owner's node service account (components/cluster.py: ``<cluster>-nodes``, 30 characters at
    most; tests/test_bootstrap.py holds the two equal over the owner stacks' previews)."""
    return f"{cluster}-nodes"[:30]


def dns01_account_id(cluster: str) -> str:
    from components.cert_manager import solver_account_id

    return solver_account_id(cluster)


def account_name(project: str, account_id: str) -> str:
    return f"projects/{project}/serviceAccounts/{account_id}@{project}.iam.gserviceaccount.com"


def admission_variables(protected: tuple[str, ...]) -> list[VariableArgsDict]:
    """The policy's named expressions (evaluated in order; later ones use earlier ones)."""
    label = f"'{ENVIRONMENT_LABEL}'"

    def own_label(obj: str) -> str:
        return (f"has({obj}.metadata.labels) && {label} in {obj}.metadata.labels"
                f" && {obj}.metadata.labels[{label}] == {obj}.metadata.name")

    names = ", ".join(f"'{n}'" for n in (*PLATFORM_NAMESPACES, *protected))
    prefixes = " || ".join(f"variables.namespaceName.startsWith('{p}')" for p in PLATFORM_NAMESPACE_PREFIXES)
    return [
        {"name": "target", "expression": "request.operation == 'DELETE' ? oldObject : object"},
        {"name": "isNamespace",
         "expression": "request.resource.group == '' && request.resource.resource == 'namespaces'"},
        {"name": "namespaceName",
         "expression": "variables.isNamespace ? variables.target.metadata.name : request.namespace"},
        {"name": "reserved", "expression": f"{prefixes} || variables.namespaceName in [{names}]"},
        {"name": "labelledNow", "expression": own_label("variables.target")},
        {"name": "labelledBefore",
         "expression": f"request.operation == 'CREATE' || (oldObject != null && {own_label('oldObject')})"},
        {"name": "inEnvironmentNamespace", "expression": f"namespaceObject != null && {own_label('namespaceObject')}"},
    ]


ADMISSION_VALIDATIONS: list[ValidationArgsDict] = [
    {"expression": "!variables.reserved",
     "message": "the environment identity does not touch the platform's namespaces nor an owner's "
                "environment"},
    {"expression": "!variables.isNamespace || (variables.labelledNow && variables.labelledBefore)",
     "message": f"the environment identity manages only namespaces labelled {ENVIRONMENT_LABEL}=<their "
                "name>, from their creation on"},
    {"expression": "variables.isNamespace || variables.inEnvironmentNamespace",
     "message": "the environment identity writes only inside environment namespaces (an environment "
                "that writes into the gateway namespace, MUTUAL, is deployed by the platform identity)"},
]


def managed_objects_spec(deployers: pulumi.Input[str]) -> ValidatingAdmissionPolicySpecArgsDict:
    """``istio-envs-managed-objects``: in an environment namespace, the platform-managed kinds,
    every object labelled app.kubernetes.io/managed-by=istio-envs (the program's own, namespace
    included) and the label itself are written by the deployer identities alone. ``deployers``:
    a CEL list of their usernames. The control plane's own users and kube-system's controllers
    (the namespace controller deleting a namespace's objects, GKE's quota controller) are not
    requesters this policy is about."""
    key, value = MANAGED_BY_LABEL
    label = f"'{ENVIRONMENT_LABEL}'"

    def labelled(obj: str, k: str, v: str | None = None) -> str:
        found = f"{obj} != null && has({obj}.metadata.labels) && '{k}' in {obj}.metadata.labels"
        return f"({found} && {obj}.metadata.labels['{k}'] == '{v}')" if v else f"({found})"

    user = "request.userInfo.username"
    kinds = ", ".join(f"'{group}/{resource}'" for group, resource in MANAGED_KINDS)
    return {
        "failure_policy": "Fail",
        "match_constraints": {"resource_rules": [{
            "api_groups": ["*"], "api_versions": ["*"], "resources": ["*"],
            "operations": ["CREATE", "UPDATE", "DELETE"]}]},
        "match_conditions": [
            {"name": "not-a-deployer", "expression": pulumi.Output.concat("!(", user, " in ", deployers, ")")},
            {"name": "not-the-control-plane",
             "expression": f"!({user}.startsWith('system:') && !{user}.startsWith('system:serviceaccount:')) "
                           f"&& !{user}.startsWith('system:serviceaccount:kube-system:')"},
            {"name": "in-an-environment",
             "expression": f"(namespaceObject != null && has(namespaceObject.metadata.labels) && {label} in "
                           f"namespaceObject.metadata.labels) || (request.resource.resource == 'namespaces' "
                           f"&& ({labelled('object', ENVIRONMENT_LABEL)} || "
                           f"{labelled('oldObject', ENVIRONMENT_LABEL)}))"},
        ],
        "validations": [
            {"expression": f"!((request.resource.group + '/' + request.resource.resource) in [{kinds}])",
             "message": "the platform manages this kind in an environment namespace (isolation, quota, "
                        "routes, egress, RBAC): only the deployer identities write it"},
            {"expression": f"!{labelled('object', key, value)} && !{labelled('oldObject', key, value)}",
             "message": f"objects labelled {key}={value} are the platform's: only the deployer identities "
                        "write them, or give that label"},
        ],
    }


def kubeconfig(cluster: str, dns_endpoint: str) -> str:
    """The owner's own kubeconfig shape (components/cluster.py gke_kubeconfig): the DNS-based
    endpoint, gke-gcloud-auth-plugin, no key and no CA (the endpoint's certificate is public)."""
    context = f"gke-{cluster}"
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": f"https://{dns_endpoint}"}}],
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
            "provideClusterInfo": True, "interactiveMode": "Never"}}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }, sort_keys=True)


PREVIEW_ENVIRONMENT_VALIDATION: ValidationArgsDict = {
    "expression": f"variables.namespaceName.startsWith('{PR_STACK_PREFIX}')",
    "message": f"the per-pull-request identity touches only namespaces named {PR_STACK_PREFIX}<number>"}


def confinement_spec(condition: str, email: pulumi.Input[str], variables: list[VariableArgsDict],
                     validations: list[ValidationArgsDict]) -> ValidatingAdmissionPolicySpecArgsDict:
    """Every write of one identity's user (``email``), validated; nobody else is affected, and
    nobody can opt it out (the policy and its binding are cluster-scoped, outside its rights)."""
    return {
        "failure_policy": "Fail",
        "match_constraints": {"resource_rules": [{
            "api_groups": ["*"], "api_versions": ["*"], "resources": ["*", "*/*"],
            "operations": ["CREATE", "UPDATE", "DELETE"]}]},
        "match_conditions": [{"name": condition, "expression": pulumi.Output.concat(
            "request.userInfo.username == '", email, "'")}],
        "variables": variables,
        "validations": validations,
    }


class PlatformAccess(pulumi.ComponentResource):
    """What the deploying identities may do on each owner's platform once it exists: the platform
    identity on the owner's own service accounts (act as the node account; administer the
    DNS-01 account, for its workload-identity binding), and the environment identities in the
    owner's zone and cluster."""

    def __init__(self, name: str, args: PlatformAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:bootstrap:PlatformAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        platform_member = pulumi.Output.concat("serviceAccount:", args.platform_email)
        for platform in args.platforms:
            # On the two accounts the owner stack creates, never on the project: the platform
            # identity can become no other service account (actAs, setIamPolicy and token
            # creation on any account in the project were an escalation path).
            serviceaccount.IAMMember(
                f"{name}-{platform.stack}-nodes-user", role="roles/iam.serviceAccountUser", member=platform_member,
                service_account_id=account_name(args.project, node_account_id(platform.cluster)), opts=child)
            if args.acme:
                serviceaccount.IAMMember(
                    f"{name}-{platform.stack}-dns01-admin", role="roles/iam.serviceAccountAdmin",
                    member=platform_member,
                    service_account_id=account_name(args.project, dns01_account_id(platform.cluster)), opts=child)
        role = projects.IAMCustomRole(
            f"{name}-record-sets", project=args.project, role_id="istioEnvsRecordSets",
            title="istio-envs environment records", description="A records of attached stacks",
            permissions=list(RECORD_SET_PERMISSIONS), opts=child)
        protected = tuple(sorted({p.environment for p in args.platforms}))
        rbac_name = "istio-envs:environment-deployer"
        # The two environment identities: (resource name prefix, infix of their policy's name,
        # email, what their writes must satisfy, their ClusterRoleBinding's name).
        identities = (("", "", args.environments_email, ADMISSION_VALIDATIONS, rbac_name),
                      ("pr-", "preview-", args.preview_environments_email,
                       [*ADMISSION_VALIDATIONS, PREVIEW_ENVIRONMENT_VALIDATION], f"{rbac_name}:preview-environments"))
        deployers = pulumi.Output.concat("['", args.environments_email, "', '", args.preview_environments_email,
                                         "', '", args.platform_email, "']")
        for platform in args.platforms:
            prefix = f"{name}-{platform.stack}"
            cluster = container.Cluster.get(
                f"{prefix}-cluster", f"projects/{args.project}/locations/{platform.location}/clusters/"
                f"{platform.cluster}", project=args.project, location=platform.location,
                name=platform.cluster, opts=child)
            endpoint = cluster.control_plane_endpoints_config.apply(
                lambda c: c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else None)
            provider = k8s.Provider(
                f"{prefix}-k8s", kubeconfig=pulumi.Output.secret(endpoint.apply(
                    lambda e, cluster_name=platform.cluster: kubeconfig(cluster_name, e or ""))),
                cluster_identifier=f"{args.project}/{platform.location}/{platform.cluster}",
                enable_server_side_apply=True, opts=child)
            on_cluster = pulumi.ResourceOptions(parent=self, provider=provider)
            cluster_role = k8s.rbac.v1.ClusterRole(f"{prefix}-deployer-role", metadata={"name": rbac_name},
                                                   rules=deployer_rules(), opts=on_cluster)

            def admission(suffix: str, policy_name: str, spec: ValidatingAdmissionPolicySpecArgsDict,
                          prefix: str = prefix, provider: k8s.Provider = provider, on_cluster=on_cluster):
                policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                    f"{prefix}-{suffix}", metadata={"name": policy_name}, spec=spec, opts=on_cluster)
                return k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                    f"{prefix}-{suffix}-binding", metadata={"name": policy_name},
                    spec=deny_binding(policy_name),
                    opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[policy]))

            admission("managed-objects", "istio-envs-managed-objects", managed_objects_spec(deployers))
            for short, infix, email, validations, binding_name in identities:
                # Granted on the owner's zone alone: no other zone, no zone settings. Cloud DNS
                # grants per zone, not per record: the per-pull-request identity can write every
                # record of the zone (README, "Who can do what").
                dns.DnsManagedZoneIamMember(f"{prefix}-{short}records", project=args.project,
                                            managed_zone=platform.dns_zone, role=role.name,
                                            member=pulumi.Output.concat("serviceAccount:", email), opts=child)
                confinement = admission(f"{short}confinement", f"istio-envs-{infix}environment-deployer",
                                        confinement_spec(f"{infix}environment-identity", email,
                                                         admission_variables(protected), validations))
                # The rights come after the confinement (and go before it): never a moment of
                # cluster-wide writes.
                k8s.rbac.v1.ClusterRoleBinding(
                    f"{prefix}-{short}deployer-binding", metadata={"name": binding_name},
                    role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": rbac_name},
                    subjects=[{"api_group": "rbac.authorization.k8s.io", "kind": "User", "name": email}],
                    opts=pulumi.ResourceOptions(parent=self, provider=provider,
                                                depends_on=[cluster_role, confinement]))
        self.register_outputs({})
