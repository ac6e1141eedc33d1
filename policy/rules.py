"""The platform's security invariants as plain functions, shared by the CrossGuard pack
(``pulumi preview --policy-pack policy``) and the offline runner over ``plan.json``.

A resource rule takes a resource's type token and its input properties (camelCase, as the engine
and ``plan.json`` both carry them) and yields one message per violation. A stack rule takes every
resource of the stack as :class:`Resource`. Messages are for a reviewer: what is wrong, on which
object, and what is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GATEWAY = "kubernetes:networking.istio.io/v1:Gateway"
VIRTUAL_SERVICE = "kubernetes:networking.istio.io/v1:VirtualService"
REQUEST_AUTHENTICATION = "kubernetes:security.istio.io/v1:RequestAuthentication"
AUTHORIZATION_POLICY = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
MANAGED_ZONE = "gcp:dns/managedZone:ManagedZone"
SERVICE_ENTRY = "kubernetes:networking.istio.io/v1:ServiceEntry"
KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
MESH_ROOT_NAMESPACE = "istio-system"

# GKE features that are gone: a request for one fails at `pulumi up` (or, worse, is silently
# dropped), and the mock engine cannot know. (input path, value or None for "any value", since,
# source)
REMOVED_GKE_FEATURES = (
    ("securityPostureConfig.vulnerabilityMode", "VULNERABILITY_BASIC", "2025-07-31",
     "https://cloud.google.com/kubernetes-engine/docs/deprecations/security-posture"),
    ("addonsConfig.istioConfig", None, "GKE 1.30 (Istio on GKE)",
     "https://cloud.google.com/istio/docs/istio-on-gke/overview"),
    ("addonsConfig.kubernetesDashboard", None, "GKE 1.15",
     "https://cloud.google.com/kubernetes-engine/docs/concepts/dashboards"),
    ("podSecurityPolicyConfig", None, "GKE 1.25 (PodSecurityPolicy removed from Kubernetes)",
     "https://cloud.google.com/kubernetes-engine/docs/deprecations/podsecuritypolicy"),
    ("loggingService", "logging.googleapis.com", "legacy Logging and Monitoring, 2021",
     "https://cloud.google.com/stackdriver/docs/deprecations/legacy"),
    ("monitoringService", "monitoring.googleapis.com", "legacy Logging and Monitoring, 2021",
     "https://cloud.google.com/stackdriver/docs/deprecations/legacy"),
)
# Inputs a provider rewrites after creation, forcing replacement when they differ: each must be
# ignored or the second `pulumi up` plans a replacement. (type, path, when(props), why)
SERVER_REWRITTEN_INPUTS = (
    (CLUSTER, "nodeConfig", lambda props: props.get("removeDefaultNodePool") is True,
     "once the default pool is removed GKE reports the first remaining pool's node config"),
)

MODERN_TLS = ("TLSV1_2", "TLSV1_3")
PEM_KEY_MARKER = "PRIVATE KEY-----"
# Where key material may live: Kubernetes Secrets and pulumi-tls's own signing inputs.
KEY_HOLDERS = (SECRET,)
KEY_HOLDER_PREFIXES = ("tls:",)


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Mapping[str, Any]


def _get(props: Mapping[str, Any], path: str, default: Any = None) -> Any:
    node: Any = props
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _list(props: Mapping[str, Any], path: str) -> list:
    return _get(props, path) or []


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _environment_labels(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The labels of an environment namespace (None for any other object)."""
    labels = _get(props, "metadata.labels") or {}
    return labels if "istio-envs/environment" in labels else None


def _object_name(props: Mapping[str, Any]) -> str:
    meta = props.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '?')}".lstrip("/")


# --- resource rules ---------------------------------------------------------------------------

def gateway_https_only(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type != GATEWAY:
        return
    for server in _list(props, "spec.servers"):
        protocol = _get(server, "port.protocol")
        if protocol == "HTTPS":
            continue
        if protocol == "HTTP" and _get(server, "tls.httpsRedirect") is True:
            continue  # only a redirect to HTTPS
        yield (f"Gateway {_object_name(props)}: server on port {_get(server, 'port.number')} speaks "
               f"{protocol}; expected HTTPS (plain HTTP only as a redirect with tls.httpsRedirect)")


def gateway_min_tls(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type != GATEWAY:
        return
    for server in _list(props, "spec.servers"):
        if _get(server, "port.protocol") != "HTTPS":
            continue
        version = _get(server, "tls.minProtocolVersion")
        if version not in MODERN_TLS:
            yield (f"Gateway {_object_name(props)}: HTTPS server for {', '.join(server.get('hosts', []))} "
                   f"accepts TLS from {version or 'TLS_AUTO (1.0)'}; expected minProtocolVersion TLSV1_2 "
                   "or TLSV1_3")


def no_wildcard_host(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type == GATEWAY:
        hosts = [h for s in _list(props, "spec.servers") for h in s.get("hosts", [])]
    elif resource_type == VIRTUAL_SERVICE:
        hosts = _list(props, "spec.hosts")
    else:
        return
    for host in hosts:
        if host == "*" or host.endswith("/*"):
            yield (f"{_kind(resource_type)} {_object_name(props)}: host {host!r} matches "
                   "every name; expected explicit hosts such as <env>.api.<domain>")


# Injection by revision tag (components/istio.py; the pack's virtualenv has no Kubernetes SDK to
# import it from, tests/test_policy.py holds them equal).
REVISION_LABEL = "istio.io/rev"
LEGACY_INJECTION_LABEL = "istio-injection"
MESH_TAGS = ("stable", "canary")


def environment_namespace_injected(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    """An environment namespace selects a revision tag (never a revision by name, never none) and
    carries no istio-injection label, which would take precedence and which no tag's webhook
    answers: without a sidecar there is no mTLS and no JWT check."""
    labels = _environment_labels(props) if resource_type == NAMESPACE else None
    if labels is None:
        return
    if labels.get(REVISION_LABEL) not in MESH_TAGS or LEGACY_INJECTION_LABEL in labels:
        found = {k: labels[k] for k in (REVISION_LABEL, LEGACY_INJECTION_LABEL) if k in labels}
        yield (f"Namespace {_object_name(props)} is an environment without sidecar injection by a "
               f"revision tag (labels {found or 'none'}); expected {REVISION_LABEL}: one of "
               f"{', '.join(MESH_TAGS)} and no {LEGACY_INJECTION_LABEL} label (no sidecar: no mTLS, "
               "no JWT checks)")


def cluster_hardened(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type not in (CLUSTER, NODE_POOL):
        return
    what = f"{_kind(resource_type)} {props.get('name', '?')}"
    expected: list[tuple[bool, str]] = []
    if resource_type == CLUSTER:
        expected += [
            (_get(props, "privateClusterConfig.enablePrivateNodes") is True, "private nodes"),
            (props.get("enableShieldedNodes") is True, "shielded nodes"),
            (bool(_get(props, "workloadIdentityConfig.workloadPool")), "workload identity"),
            (bool(_get(props, "releaseChannel.channel")), "a release channel"),
            (props.get("enableLegacyAbac") is not True, "legacy ABAC off"),
            (props.get("deletionProtection") is True, "deletion protection"),
        ]
    node_config = props.get("nodeConfig")
    if node_config is not None or resource_type == NODE_POOL:
        expected.append((_get(props, "nodeConfig.workloadMetadataConfig.mode") == "GKE_METADATA",
                         "GKE_METADATA (metadata server)"))
        expected.append((_get(props, "nodeConfig.shieldedInstanceConfig.enableSecureBoot") is True,
                         "secure boot"))
    missing = [name for ok, name in expected if not ok]
    if missing:
        yield f"{what} lacks {', '.join(missing)}; the platform's hardening requires each of them"


def dnssec_on_created_zones(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type != MANAGED_ZONE or props.get("visibility", "public") != "public":
        return
    if _get(props, "dnssecConfig.state") != "on":
        yield (f"ManagedZone {props.get('name', '?')} ({props.get('dnsName', '?')}) is unsigned; "
               "expected dnssecConfig.state: on")


def private_keys_only_in_secrets(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type in KEY_HOLDERS or resource_type.startswith(KEY_HOLDER_PREFIXES):
        return
    for path, value in _strings(props, ""):
        if PEM_KEY_MARKER in value:
            yield (f"{resource_type} {props.get('name') or _object_name(props)}: {path.lstrip('.')} "
                   "holds a PEM private key; keys belong only in Kubernetes Secrets and secret outputs")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _strings(inner, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, inner in enumerate(value):
            yield from _strings(inner, f"{path}[{i}]")


# --- stack rules ------------------------------------------------------------------------------

def hosts_require_a_token(resources: Iterable[Resource]) -> Iterator[str]:
    """Every VirtualService host is behind a RequestAuthentication with audiences and an ALLOW
    policy that asks for a request principal, in the VirtualService's namespace."""
    resources = list(resources)

    def in_namespace(kind: str, namespace: str) -> list[Mapping[str, Any]]:
        return [r.props for r in resources
                if r.type == kind and _get(r.props, "metadata.namespace") == namespace]

    for vs in (r for r in resources if r.type == VIRTUAL_SERVICE):
        namespace = _get(vs.props, "metadata.namespace", "")
        hosts = ", ".join(_list(vs.props, "spec.hosts"))
        jwt = [ra for ra in in_namespace(REQUEST_AUTHENTICATION, namespace)
               if any(rule.get("audiences") for rule in _list(ra, "spec.jwtRules"))]
        if not jwt:
            yield (f"VirtualService {_object_name(vs.props)} ({hosts}): no RequestAuthentication with "
                   f"audiences in namespace {namespace}; expected one, so tokens for other "
                   "environments are refused")
        requiring = [ap for ap in in_namespace(AUTHORIZATION_POLICY, namespace)
                     if _get(ap, "spec.action", "ALLOW") == "ALLOW" and any(
                         src.get("source", {}).get("requestPrincipals")
                         for rule in _list(ap, "spec.rules") for src in rule.get("from", []))]
        if not requiring:
            yield (f"VirtualService {_object_name(vs.props)} ({hosts}): no AuthorizationPolicy in "
                   f"namespace {namespace} requires a token (requestPrincipals); expected one, or a "
                   "request without a token gets through")


SIDECAR = "kubernetes:networking.istio.io/v1:Sidecar"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def environments_isolated(resources: Iterable[Resource]) -> Iterator[str]:
    """Every environment namespace has a Sidecar scoping its proxies' configuration and a
    NetworkPolicy on its ingress (isolation that holds when a sidecar is bypassed)."""
    resources = list(resources)
    for namespace in (r for r in resources if r.type == NAMESPACE and _environment_labels(r.props) is not None):
        name = _get(namespace.props, "metadata.name", "?")
        inside = [r for r in resources if _get(r.props, "metadata.namespace") == name]
        if not any(r.type == SIDECAR for r in inside):
            yield (f"environment namespace {name} has no Sidecar; expected one limiting its proxies "
                   "to their own namespace and istio-system (config size, no route elsewhere)")
        for direction, expected in (
                ("Ingress", "admitting only the ingress gateway and the namespace itself"),
                ("Egress", "letting pods reach only the cluster services they need and their egress ports")):
            if not any(r.type == NETWORK_POLICY and direction in _list(r.props, "spec.policyTypes")
                       for r in inside):
                yield (f"environment namespace {name} has no {direction.lower()} NetworkPolicy; "
                       f"expected one {expected}")


ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
VALIDATING_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VALIDATING_POLICY_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
PLATFORM_REFERENCE = "istio-envs:platform:PlatformReference"
# The role the owner stack declares for environment owners (components/tenancy.py; the pack's
# virtualenv has no Kubernetes SDK to import it from, tests/test_policy.py holds them equal).
OWNER_ROLE = "istio-envs:environment-owner"
# What an environment's owners may hold in its namespace, at most.
OWNER_ROLES = (OWNER_ROLE, "view")
# Kinds an owner never writes: each opens a path around the gateway, the sidecar or the
# namespace, or changes the platform's isolation, quota or RBAC. (API group, resource)
OWNER_FORBIDDEN_WRITES = (
    ("networking.k8s.io", "networkpolicies"), ("networking.k8s.io", "ingresses"),
    ("", "namespaces"), ("", "resourcequotas"), ("", "limitranges"), ("", "endpoints"),
    ("", "pods/ephemeralcontainers"), ("discovery.k8s.io", "endpointslices"),
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
    ("networking.istio.io", "*"), ("security.istio.io", "*"), ("extensions.istio.io", "*"),
    ("telemetry.istio.io", "*"), ("gateway.networking.k8s.io", "*"))
READ_VERBS = ("get", "list", "watch")
# The tenancy admission policies every owner stack declares (components/admission.py
# POLICY_NAMES; held equal by tests/test_policy.py).
TENANCY_POLICIES = (
    "istio-envs-environment-namespaces", "istio-envs-environment-routes", "istio-envs-environment-kinds",
    "istio-envs-environment-mesh-scope", "istio-envs-environment-services", "istio-envs-environment-pods")


def owners_confined(resources: Iterable[Resource]) -> Iterator[str]:
    """In an environment namespace a RoleBinding grants at most `edit`; an attached stack (it
    reads its platform through a PlatformReference) makes no ClusterRoleBinding at all."""
    resources = list(resources)
    environments = {_get(r.props, "metadata.name") for r in resources
                    if r.type == NAMESPACE and _environment_labels(r.props) is not None}
    for binding in (r for r in resources if r.type == ROLE_BINDING):
        if _get(binding.props, "metadata.namespace") not in environments:
            continue
        ref = _get(binding.props, "roleRef", {}) or {}
        if ref.get("kind") != "ClusterRole" or ref.get("name") not in OWNER_ROLES:
            yield (f"RoleBinding {_object_name(binding.props)} grants {ref.get('kind')} "
                   f"{ref.get('name')!r} in an environment namespace; expected at most the "
                   f"ClusterRole {OWNER_ROLE}")
    if any(r.type == PLATFORM_REFERENCE for r in resources):
        for binding in (r for r in resources if r.type == CLUSTER_ROLE_BINDING):
            yield (f"ClusterRoleBinding {_object_name(binding.props)} in an attached stack; "
                   "expected none: an environment's rights end at its namespace")


def owner_role_confined(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    """The environment owners' ClusterRole writes none of the kinds that open a path around the
    gateway or the sidecar, or change the platform's objects, and names no wildcard."""
    if resource_type != CLUSTER_ROLE or _get(props, "metadata.name") != OWNER_ROLE:
        return
    for rule in props.get("rules") or []:
        groups, resources, verbs = (rule.get(k) or [] for k in ("apiGroups", "resources", "verbs"))
        if "*" in groups or "*" in resources or "*" in verbs:
            yield (f"ClusterRole {OWNER_ROLE}: rule {rule} uses a wildcard; expected the kinds and "
                   "verbs named one by one")
            continue
        if set(verbs) <= set(READ_VERBS):
            continue
        for group in groups:
            for resource in resources:
                if (group, resource) in OWNER_FORBIDDEN_WRITES or (group, "*") in OWNER_FORBIDDEN_WRITES:
                    yield (f"ClusterRole {OWNER_ROLE} may {'/'.join(verbs)} {group or 'core'}/{resource}; "
                           "expected no write on it (it opens a path around the gateway or the "
                           "sidecar, or changes the platform's own objects)")


def environment_namespace_pod_security(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    from components.pod_security import POD_SECURITY_LABELS

    labels = _environment_labels(props) if resource_type == NAMESPACE else None
    if labels is None:
        return
    wrong = {k: labels.get(k) for k, v in POD_SECURITY_LABELS.items() if labels.get(k) != v}
    if wrong:
        yield (f"Namespace {_object_name(props)} is an environment with Pod Security labels {wrong}; "
               f"expected {POD_SECURITY_LABELS} (no privileged, host or root pods)")


def tenancy_admission_bound(resources: Iterable[Resource]) -> Iterator[str]:
    """An owner stack (it declares the cluster) declares every tenancy admission policy, failing
    closed, each with a binding that denies; and no stack declares a policy it does not bind."""
    resources = list(resources)
    policies = {_get(r.props, "metadata.name"): r.props for r in resources if r.type == VALIDATING_POLICY}
    bindings = [r.props for r in resources if r.type == VALIDATING_POLICY_BINDING]
    denying = {_get(b, "spec.policyName") for b in bindings if "Deny" in (_get(b, "spec.validationActions") or [])}
    if any(r.type == CLUSTER for r in resources):
        for name in TENANCY_POLICIES:
            if name not in policies:
                yield (f"owner stack without the admission policy {name}; expected every tenancy "
                       "policy (components/admission.py) declared and bound")
    for name, props in sorted(policies.items()):
        if name not in denying:
            yield (f"ValidatingAdmissionPolicy {name} has no binding with validationActions Deny; "
                   "expected one, or it refuses nothing")
        if _get(props, "spec.failurePolicy") != "Fail":
            yield (f"ValidatingAdmissionPolicy {name}: failurePolicy {_get(props, 'spec.failurePolicy')!r}; "
                   "expected Fail (an expression that errors must refuse, not admit)")


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def installed_tags(resources: Iterable[Resource]) -> dict[str, str]:
    """tag -> the revision an istiod release of the stack carries it for (its revisionTags)."""
    return {tag: str(_get(r.props, "values.revision", "?")) for r in resources
            if r.type == HELM_RELEASE and r.props.get("chart") == "istiod"
            for tag in _list(r.props, "values.revisionTags")}


def other_stack_tags(project_dir: Path, this_stack: str) -> dict[str, str]:
    """The revision tag each stack file attached to ``this_stack`` selects (its
    environment.meshRevision, default stable), as the file says it: stack file -> tag."""
    from components.stackset import StackSet, stack_file_name

    found = {}
    for stack in StackSet.load(project_dir).attached_to(this_stack):
        tag = stack.environment.get("meshRevision", MESH_TAGS[0])
        found[stack_file_name(stack.name)] = tag if isinstance(tag, str) else str(tag)
    return found


def mesh_revisions_in_use_installed(resources: Iterable[Resource],
                                    attached: Mapping[str, str]) -> Iterator[str]:
    """An owner stack (it declares istiod) installs a revision for every tag an environment on its
    platform selects: its own namespaces' istio.io/rev, and each attached stack file's
    meshRevision (``attached``: stack file -> tag). Removing the revision a namespace uses would
    leave its new pods without a sidecar (refused by admission) and its running proxies without a
    control plane."""
    resources = list(resources)
    if not any(r.type == HELM_RELEASE and r.props.get("chart") == "istiod" for r in resources):
        return
    tags = installed_tags(resources)
    users = {f"namespace {_get(r.props, 'metadata.name', '?')}": labels.get(REVISION_LABEL)
             for r in resources if r.type == NAMESPACE and (labels := _environment_labels(r.props)) is not None}
    users.update({f"the environment of {file}": tag for file, tag in attached.items()})
    for user, tag in sorted(users.items()):
        if tag not in tags:
            yield (f"revision tag {tag!r}, selected by {user}, is on no istiod release of this stack "
                   f"(installed: {', '.join(f'{t} -> {r}' for t, r in sorted(tags.items())) or 'none'}); "
                   "expected the revision it points at kept installed until every environment has "
                   "moved off it")


def audiences(resources: Iterable[Resource]) -> set[str]:
    return {aud for r in resources if r.type == REQUEST_AUTHENTICATION
            for rule in _list(r.props, "spec.jwtRules") for aud in rule.get("audiences", [])}


def audiences_unique(resources: Iterable[Resource], others: Mapping[str, set[str]]) -> Iterator[str]:
    """``others``: where else audiences are used (stack file -> audiences)."""
    mine = audiences(resources)
    for where, theirs in sorted(others.items()):
        for shared in sorted(mine & theirs):
            yield (f"audience {shared!r} is also accepted by {where}; expected audiences unique to "
                   "one environment, or its tokens open the other")


def other_stack_audiences(project_dir: Path, this_stack: str) -> dict[str, set[str]]:
    """Audiences declared by the other stack files of the project (the source of truth: the
    fleet module's reading; a file that does not read declares none, and fails the fleet check)."""
    from components.fleet import audiences
    from components.stackset import StackSet, stack_file_name

    found: dict[str, set[str]] = {}
    for audience, stacks in audiences(StackSet.load(project_dir)).items():
        for stack in stacks:
            if stack != this_stack:
                found.setdefault(stack_file_name(stack), set()).add(audience)
    return found


def no_removed_gke_features(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type not in (CLUSTER, NODE_POOL):
        return
    for path, value, since, source in REMOVED_GKE_FEATURES:
        found = _get(props, path)
        if found is None or (value is not None and found != value):
            continue
        yield (f"{_kind(resource_type)} {props.get('name', '?')}: {path} = {found!r} "
               f"requests a feature GKE removed ({since}; {source}); expected it unset")


def kubernetes_provider_has_cluster_identifier(resource_type: str,
                                               props: Mapping[str, Any]) -> Iterator[str]:
    if resource_type != KUBERNETES_PROVIDER:
        return
    if not props.get("clusterIdentifier"):
        yield ("Kubernetes provider without clusterIdentifier: a changed or unknown kubeconfig "
               "cluster entry replaces the provider and every object under it; expected a stable "
               "clusterIdentifier (project/location/name)")


def egress_confined_to_its_namespace(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    """An environment's ServiceEntries open egress for that namespace only; only the mesh root
    namespace registers mesh-wide destinations (the metadata server)."""
    if resource_type != SERVICE_ENTRY:
        return
    hosts = _list(props, "spec.hosts")
    for host in hosts:
        if host == "*":
            yield f"ServiceEntry {_object_name(props)}: host '*' opens egress to every name"
    if _get(props, "metadata.namespace") != MESH_ROOT_NAMESPACE and _get(
            props, "spec.exportTo") != ["."]:
        yield (f"ServiceEntry {_object_name(props)} ({', '.join(hosts)}): exportTo "
               f"{_get(props, 'spec.exportTo')!r}; expected ['.'] so one environment's egress "
               "opens nothing for another")


def server_rewritten_inputs_ignored(resource_type: str, props: Mapping[str, Any],
                                    options: Mapping[str, Any]) -> Iterator[str]:
    for typ, path, applies, why in SERVER_REWRITTEN_INPUTS:
        if resource_type == typ and _get(props, path) is not None and applies(props) \
                and path not in (options.get("ignoreChanges") or []):
            yield (f"{_kind(typ)} {props.get('name', '?')}: {path} is set and not in "
                   f"ignoreChanges, but {why}, and it forces replacement; expected "
                   f"ignore_changes=[{path!r}]")


# Workload kinds and where each keeps its pod spec.
POD_SPEC_PATHS = {
    "kubernetes:core/v1:Pod": "spec",
    "kubernetes:apps/v1:Deployment": "spec.template.spec",
    "kubernetes:apps/v1:StatefulSet": "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
}


def workloads_hardened(resource_type: str, props: Mapping[str, Any]) -> Iterator[str]:
    """Every container the program runs is pinned by digest, non-root, on a read-only root
    filesystem, without privilege escalation or capabilities, and requests what the namespace
    quota counts (Kubernetes' "restricted" Pod Security Standard, plus pinning and requests)."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return
    pod = _get(props, path, {}) or {}
    pod_non_root = _get(pod, "securityContext.runAsNonRoot") is True
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        where = f"{_kind(resource_type)} {_object_name(props)} container {container.get('name')}"
        context = container.get("securityContext") or {}
        if "@sha256:" not in str(container.get("image", "")):
            yield f"{where}: image {container.get('image')!r} is not pinned by digest; expected <image>@sha256:<digest>"
        if not (pod_non_root or context.get("runAsNonRoot") is True):
            yield f"{where}: may run as root; expected runAsNonRoot: true (pod or container)"
        if context.get("readOnlyRootFilesystem") is not True:
            yield f"{where}: writable root filesystem; expected readOnlyRootFilesystem: true"
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: may escalate privileges; expected allowPrivilegeEscalation: false"
        if "ALL" not in _list(context, "capabilities.drop"):
            yield f"{where}: keeps Linux capabilities; expected capabilities.drop: [ALL]"
        requests = _get(container, "resources.requests", {}) or {}
        if not {"cpu", "memory"} <= set(requests):
            yield (f"{where}: requests {sorted(requests) or 'nothing'}; expected cpu and memory "
                   "requests (the namespace quota counts them)")


ResourceRule = Callable[[str, Mapping[str, Any]], Iterable[str]]
OptionsRule = Callable[[str, Mapping[str, Any], Mapping[str, Any]], Iterable[str]]

# name -> (description, rule); the pack and the offline runner both read these.
RESOURCE_RULES: dict[str, tuple[str, ResourceRule]] = {
    "gateway-https-only": ("Gateway servers speak HTTPS only (HTTP only as a redirect)", gateway_https_only),
    "gateway-min-tls-1-2": ("HTTPS Gateway servers refuse TLS older than 1.2", gateway_min_tls),
    "no-wildcard-hosts": ("No Gateway or VirtualService host matches every name", no_wildcard_host),
    "environment-namespaces-injected": ("Environment namespaces select an Istio revision tag for "
                                        "sidecar injection",
                                        environment_namespace_injected),
    "gke-cluster-hardened": ("GKE cluster and node pools keep the platform's hardening", cluster_hardened),
    "dnssec-on-created-zones": ("Public Cloud DNS zones are DNSSEC-signed", dnssec_on_created_zones),
    "private-keys-only-in-secrets": ("PEM private keys only in Kubernetes Secrets and pulumi-tls",
                                     private_keys_only_in_secrets),
    "no-removed-gke-features": ("No GKE feature that GKE has removed is requested",
                                no_removed_gke_features),
    "kubernetes-provider-cluster-identifier": (
        "Kubernetes providers carry a stable clusterIdentifier", kubernetes_provider_has_cluster_identifier),
    "egress-confined-to-its-namespace": ("Environment ServiceEntries export to their own namespace",
                                         egress_confined_to_its_namespace),
    "workloads-hardened": ("Workloads are pinned by digest, non-root, read-only and request resources",
                           workloads_hardened),
    "environment-namespaces-pod-security": (
        "Environment namespaces enforce the restricted Pod Security Standard at the pinned version",
        environment_namespace_pod_security),
    "owners-role-confined": ("The environment owners' role writes no kind that opens a path around "
                             "the gateway, the sidecar or the platform's objects", owner_role_confined),
}
# Rules that also read the resource's options (ignoreChanges, ...): CrossGuard's args.opts, or
# the options plan.json records.
OPTIONS_RULES: dict[str, tuple[str, OptionsRule]] = {
    "server-rewritten-inputs-ignored": (
        "Inputs the provider rewrites and that force replacement are in ignoreChanges",
        server_rewritten_inputs_ignored),
}
StackRule = Callable[[list[Resource], Path, str], Iterable[str]]

# name -> (description, rule over the stack's resources, its project folder and its name); the
# pack and the offline runner both read these, in this order.
STACK_RULES: dict[str, tuple[str, StackRule]] = {
    "hosts-require-a-token": ("Every VirtualService host requires a JWT with an audience",
                              lambda resources, project, stack: hosts_require_a_token(resources)),
    "environments-isolated": ("Environment namespaces have a Sidecar and ingress and egress NetworkPolicies",
                              lambda resources, project, stack: environments_isolated(resources)),
    "owners-confined": ("Environment RoleBindings grant at most the owners' role; attached stacks bind "
                        "no cluster role", lambda resources, project, stack: owners_confined(resources)),
    "tenancy-admission-bound": ("Owner stacks declare every tenancy admission policy; every policy is "
                                "bound with Deny and fails closed",
                                lambda resources, project, stack: tenancy_admission_bound(resources)),
    "mesh-revisions-in-use-installed": (
        "An owner stack keeps a revision installed for every tag an environment on its platform selects",
        lambda resources, project, stack: mesh_revisions_in_use_installed(
            resources, other_stack_tags(project, stack))),
    # The stack's own file is not "another stack".
    "audiences-unique-across-stacks": (
        "No audience is accepted by two environments",
        lambda resources, project, stack: audiences_unique(resources, other_stack_audiences(project, stack))),
}
