"""What may be written into an environment namespace, whoever asks: the tenancy admission
policies (ValidatingAdmissionPolicy, CEL) as data, for the owner stack to declare cluster-wide
(components/tenancy.py) and for the tests to evaluate offline (tests/admission.py).

Every policy here holds for every requester (an owner, the environments deployer, the platform
identity, a controller creating pods): it states what an environment's objects look like, so a
rule that refuses the program's own objects fails the tests as surely as one that admits an
attack. Who may write the platform-managed objects at all is decided apart, by the bootstrap's
``istio-envs-managed-objects`` policy (bootstrap/platform_access.py), which knows the deployer
identities. Semantics: kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/.

Facts a policy needs (the API domain, the revision tags, the proxy images) are baked in by the owner stack: nothing
an environment's tenants can write is read as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulumi_kubernetes.admissionregistration.v1 import (
    MatchResourcesArgsDict,
    ValidatingAdmissionPolicyBindingSpecArgsDict,
    ValidatingAdmissionPolicySpecArgsDict,
)

from .config.mesh import MeshConfig
from .gateway import GATEWAY_NAME
from .istio import GATEWAY_NAMESPACE, GATEWAY_PRINCIPAL, LEGACY_INJECTION_LABEL, REVISION_LABEL, proxy_image
from .pod_security import POD_SECURITY_LABELS

ENVIRONMENT_LABEL = "istio-envs/environment"
# Set on a MUTUAL environment's namespace: its routes bind to its own MUTUAL Gateway only, never
# the shared SIMPLE one (where a client could dodge the certificate with another SNI).
CLIENT_TLS_LABEL = "istio-envs/client-tls"
CLIENT_TLS_MUTUAL = "mutual"
PROXY_CONTAINERS = ("istio-proxy", "istio-validation")
# The proxy's UID and GID: traffic of that UID or GID is never redirected to the proxy, so an
# application container running as either bypasses the sidecar (injection-template.yaml:
# istio-iptables -u 1337, the GID defaulting to the UID; its rules `-m owner --uid-owner 1337 -j
# RETURN` and the same with --gid-owner, istio/istio tools/istio-iptables/pkg/capture/testdata/
# empty.golden).
PROXY_UID = 1337
# Capture settings the injector writes as annotations with Istio CNI (injection-template.yaml,
# `if .Values.pilot.cni.enabled`), at the pinned chart's defaults (global.proxy.*): the CNI plugin
# reads them to redirect the pod's traffic. A pod may carry them only with these values.
CAPTURE_DEFAULTS = {
    "sidecar.istio.io/interceptionMode": "REDIRECT",
    "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
    "traffic.sidecar.istio.io/includeInboundPorts": "*",
    "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
}
# Annotations that take traffic (or the proxy itself) out of the injector's hands: excluded ports,
# ranges and interfaces, another status port, another image, bootstrap or template, or proxy
# settings per pod.
CAPTURE_OVERRIDES = (
    "traffic.sidecar.istio.io/excludeOutboundIPRanges", "traffic.sidecar.istio.io/excludeOutboundPorts",
    "traffic.sidecar.istio.io/includeOutboundPorts", "traffic.sidecar.istio.io/excludeInterfaces",
    "traffic.sidecar.istio.io/kubevirtInterfaces", "istio.io/reroute-virtual-interfaces",
    "status.sidecar.istio.io/port", "sidecar.istio.io/proxyImage", "sidecar.istio.io/bootstrapOverride",
    "sidecar.istio.io/userVolume", "sidecar.istio.io/userVolumeMount", "proxy.istio.io/config",
    "inject.istio.io/templates",
)
# Kinds no environment namespace holds, whoever writes them: they reach beyond the namespace
# (EnvoyFilter and WasmPlugin patch proxies, a Gateway selects the shared gateway pods and may
# reuse the wildcard certificate, WorkloadEntry/Group add endpoints, ProxyConfig sets proxy
# environment, Gateway API objects deploy gateways or grant references, an Ingress opens a load
# balancer around the gateway). (API group, resources)
FORBIDDEN_KINDS = (
    ("networking.istio.io", ("envoyfilters", "gateways", "workloadentries", "workloadgroups", "proxyconfigs")),
    ("extensions.istio.io", ("wasmplugins",)),
    ("gateway.networking.k8s.io", ("*",)),
    ("gateway.networking.x-k8s.io", ("*",)),
    ("networking.k8s.io", ("ingresses",)),
)
WRITES = ("CREATE", "UPDATE")
# The pinned Istio alone, tagged stable: a platform without platform.mesh.
SHIPPED_MESH = MeshConfig()


@dataclass(frozen=True)
class AdmissionPolicy:
    """One ValidatingAdmissionPolicy and its Deny binding."""

    name: str
    rules: tuple[tuple[str, tuple[str, ...]], ...]
    """(API group, resources) it applies to."""
    validations: tuple[tuple[str, str], ...]
    """(CEL expression, message): every one must hold."""
    operations: tuple[str, ...] = WRITES
    variables: tuple[tuple[str, str], ...] = ()
    in_environments: bool = True
    """Only objects in namespaces labelled ``istio-envs/environment`` (namespaceSelector)."""

    def spec(self) -> ValidatingAdmissionPolicySpecArgsDict:
        """The policy's spec (the SDK's typed form; the API's names in the rendered manifest)."""
        constraints: MatchResourcesArgsDict = {"resource_rules": [
            {"api_groups": [group], "api_versions": ["*"], "resources": list(resources),
             "operations": list(self.operations)} for group, resources in self.rules]}
        if self.in_environments:
            constraints["namespace_selector"] = {"match_expressions": [
                {"key": ENVIRONMENT_LABEL, "operator": "Exists"}]}
        spec: ValidatingAdmissionPolicySpecArgsDict = {
            "failure_policy": "Fail", "match_constraints": constraints,
            "validations": [{"expression": e, "message": m} for e, m in self.validations]}
        if self.variables:
            spec["variables"] = [{"name": n, "expression": e} for n, e in self.variables]
        return spec

    def binding_spec(self) -> ValidatingAdmissionPolicyBindingSpecArgsDict:
        return deny_binding(self.name)


def deny_binding(policy_name: str) -> ValidatingAdmissionPolicyBindingSpecArgsDict:
    """A binding that enforces the policy (Deny), cluster-wide: the program's and the bootstrap's."""
    return {"policy_name": policy_name, "validation_actions": ["Deny"]}


def _labels(obj: str) -> str:
    return f"(has({obj}.metadata.labels) ? {obj}.metadata.labels : {{}})"


def _is(mapping: str, key: str, value: str) -> str:
    return f"('{key}' in {mapping} && {mapping}['{key}'] == '{value}')"


def _one_of(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def namespace_policy(mesh: MeshConfig = SHIPPED_MESH) -> AdmissionPolicy:
    """An environment namespace (labelled so now or before) keeps its environment label, sidecar
    injection and Pod Security level: nobody unlabels it out of every other policy here (a
    namespaceSelector reads a namespace's new labels on its own update, so this one matches every
    namespace and reads ``oldObject`` too). A MUTUAL environment's namespace keeps
    ``istio-envs/client-tls`` (without it the routes policy would let its routes bind to the shared
    SIMPLE Gateway): only a requester who may update this policy's own binding, and so could lift
    the rule anyway, takes it off (the platform identity turning an environment SIMPLE; the
    environments deployer and owners never). Asked of the API server's authorizer (RBAC and, on
    GKE, IAM), the one fact here that depends on who asks.

    Injection is a revision tag the platform installs (``istio.io/rev``, one of ``mesh.tags``),
    and no ``istio-injection`` label, which would take precedence over it and which no installed
    webhook answers (every tag's webhook requires it absent): a namespace with another tag, a
    revision named directly, no tag or that label would get pods without a sidecar, or with
    another control plane's."""
    required = {ENVIRONMENT_LABEL: None, **POD_SECURITY_LABELS}
    checks = [(_is("variables.labels", key, value) if value else
               f"('{key}' in variables.labels && variables.labels['{key}'] == object.metadata.name)")
              for key, value in required.items()]
    checks += [f"('{REVISION_LABEL}' in variables.labels && variables.labels['{REVISION_LABEL}'] in "
               f"{_one_of(mesh.tags)})", f"!('{LEGACY_INJECTION_LABEL}' in variables.labels)"]
    name = "istio-envs-environment-namespaces"
    policy_admin = (f"authorizer.group('admissionregistration.k8s.io').resource("
                    f"'validatingadmissionpolicybindings').name('{name}').check('update').allowed()")
    return AdmissionPolicy(
        name=name, rules=(("", ("namespaces",)),), in_environments=False,
        variables=(
            ("labels", _labels("object")),
            ("environment", f"'{ENVIRONMENT_LABEL}' in variables.labels || (oldObject != null && "
                            f"'{ENVIRONMENT_LABEL}' in {_labels('oldObject')})"),
            ("wasMutual", f"oldObject != null && {_is(_labels('oldObject'), CLIENT_TLS_LABEL, CLIENT_TLS_MUTUAL)}"),
        ),
        validations=(
            (f"!variables.environment || ({' && '.join(checks)})",
             f"an environment namespace keeps {ENVIRONMENT_LABEL}=<its name>, {REVISION_LABEL} set to a "
             f"revision tag the platform installs ({', '.join(mesh.tags)}), no {LEGACY_INJECTION_LABEL} "
             "label and its Pod Security labels (" + ", ".join(
                 f"{k}={v}" for k, v in POD_SECURITY_LABELS.items()) + ")"),
            (f"!('{CLIENT_TLS_LABEL}' in variables.labels) || "
             f"variables.labels['{CLIENT_TLS_LABEL}'] == '{CLIENT_TLS_MUTUAL}'",
             f"{CLIENT_TLS_LABEL} is {CLIENT_TLS_MUTUAL} or absent"),
            (f"!variables.environment || !variables.wasMutual || "
             f"{_is('variables.labels', CLIENT_TLS_LABEL, CLIENT_TLS_MUTUAL)} || {policy_admin}",
             f"a MUTUAL environment's namespace keeps {CLIENT_TLS_LABEL}={CLIENT_TLS_MUTUAL} (its routes "
             "bind to its own MUTUAL Gateway only); only who may update this policy's binding takes it off"),
        ))


def routes_policy(api_domain: str) -> AdmissionPolicy:
    """A VirtualService in an environment namespace serves that environment's host only, bound to
    its own gateway only (never ``mesh``, which would apply it to every sidecar of the mesh: istio.io
    blog 2026-03-20 "Security Considerations on Istio's CRDs with Namespace-based Multi-Tenancy"),
    over HTTP, to destinations in its own namespace."""
    shared = f"{GATEWAY_NAMESPACE}/{GATEWAY_NAME}"
    return AdmissionPolicy(
        name="istio-envs-environment-routes", rules=(("networking.istio.io", ("virtualservices",)),),
        variables=(
            ("environment", f"namespaceObject.metadata.labels['{ENVIRONMENT_LABEL}']"),
            ("host", f"variables.environment + '.{api_domain}'"),
            ("gateways", f"'{CLIENT_TLS_LABEL}' in namespaceObject.metadata.labels ? "
                         f"['{GATEWAY_NAMESPACE}/' + variables.environment + '-mtls'] : ['{shared}']"),
            ("local", "'.' + namespaceObject.metadata.name + '.svc.cluster.local'"),
            ("http", "has(object.spec.http) ? object.spec.http : []"),
        ),
        validations=(
            ("has(object.spec.hosts) && object.spec.hosts == [variables.host]",
             f"a VirtualService in an environment namespace names that environment's host only "
             f"(<env>.{api_domain})"),
            ("has(object.spec.gateways) && size(object.spec.gateways) > 0 && "
             "object.spec.gateways.all(g, g in variables.gateways)",
             "a VirtualService in an environment namespace binds to its environment's gateway only, "
             "never mesh (an omitted gateways field means mesh)"),
            ("!has(object.spec.tcp) && !has(object.spec.tls) && variables.http.all(r, !has(r.delegate) && "
             "(!has(r.route) || r.route.all(d, d.destination.host.endsWith(variables.local))) && "
             "(!has(r.mirror) || r.mirror.host.endsWith(variables.local)) && "
             "(!has(r.mirrors) || r.mirrors.all(m, m.destination.host.endsWith(variables.local))))",
             "a VirtualService in an environment namespace routes HTTP to its own namespace's services "
             "only (<service>.<namespace>.svc.cluster.local)"),
        ))


def kinds_policy() -> AdmissionPolicy:
    return AdmissionPolicy(
        name="istio-envs-environment-kinds", rules=FORBIDDEN_KINDS,
        validations=(("false", "this kind reaches beyond its namespace (proxy patches, gateways, "
                               "endpoints, Gateway API, Ingress): no environment namespace holds it"),))


def _resource_is(*names: str) -> str:
    return f"request.resource.resource in [{', '.join(repr(n) for n in names)}]"


def _source_is_local() -> str:
    """An AuthorizationPolicy source naming only this namespace or the ingress gateway."""
    ns = "namespaceObject.metadata.name"
    negated = ("notNamespaces", "notPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks",
               "notRemoteIpBlocks")
    return (f"has(f.source) && ({' && '.join(f'!has(f.source.{k})' for k in negated)}) && "
            f"(has(f.source.namespaces) || has(f.source.principals)) && "
            f"(!has(f.source.namespaces) || f.source.namespaces.all(n, n == {ns})) && "
            f"(!has(f.source.principals) || f.source.principals.all(p, p == '{GATEWAY_PRINCIPAL}' || "
            f"p.startsWith('cluster.local/ns/' + {ns} + '/')))")


def mesh_scope_policy() -> AdmissionPolicy:
    """Istio objects that an environment namespace does hold stay inside it: egress entries and
    destination rules exported to the namespace only, no ALLOW_ANY Sidecar, no mTLS weaker than
    STRICT, and ALLOW authorization only for this namespace and the ingress gateway."""
    strict = "['STRICT', 'UNSET']"
    return AdmissionPolicy(
        name="istio-envs-environment-mesh-scope",
        rules=(("networking.istio.io", ("serviceentries", "destinationrules", "sidecars")),
               ("security.istio.io", ("peerauthentications", "authorizationpolicies"))),
        validations=(
            (f"!({_resource_is('serviceentries', 'destinationrules')}) || "
             "(has(object.spec.exportTo) && object.spec.exportTo == ['.'])",
             "a ServiceEntry or DestinationRule in an environment namespace is exported to that "
             "namespace only (exportTo: ['.'])"),
            (f"!({_resource_is('serviceentries')}) || object.spec.hosts.all(h, h != '*')",
             "a ServiceEntry names its hosts; '*' would open egress to every name"),
            (f"!({_resource_is('sidecars')}) || !has(object.spec.outboundTrafficPolicy) || "
             "((!has(object.spec.outboundTrafficPolicy.mode) || object.spec.outboundTrafficPolicy.mode "
             "!= 'ALLOW_ANY') && !has(object.spec.outboundTrafficPolicy.egressProxy))",
             "a Sidecar keeps the mesh's REGISTRY_ONLY egress (no ALLOW_ANY, no egress proxy)"),
            (f"!({_resource_is('peerauthentications')}) || ((!has(object.spec.mtls) || "
             f"!has(object.spec.mtls.mode) || object.spec.mtls.mode in {strict}) && "
             "(!has(object.spec.portLevelMtls) || object.spec.portLevelMtls.all(p, "
             f"!has(object.spec.portLevelMtls[p].mode) || object.spec.portLevelMtls[p].mode in {strict})))",
             "a PeerAuthentication in an environment namespace keeps mutual TLS STRICT"),
            (f"!({_resource_is('authorizationpolicies')}) || (has(object.spec.action) && "
             "object.spec.action != 'ALLOW') || !has(object.spec.rules) || object.spec.rules.all(r, "
             f"has(r.from) && r.from.all(f, {_source_is_local()}))",
             "an ALLOW AuthorizationPolicy in an environment namespace admits its own namespace and the "
             "ingress gateway only, each rule naming its sources"),
        ))


def services_policy() -> AdmissionPolicy:
    return AdmissionPolicy(
        name="istio-envs-environment-services", rules=(("", ("services",)),),
        validations=((
            "(!has(object.spec.type) || object.spec.type == 'ClusterIP') && "
            "(!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0)",
            "a Service in an environment namespace is a ClusterIP without externalIPs: traffic enters "
            "through the shared gateway only (no NodePort, LoadBalancer or external IP; no ExternalName, "
            "which Istio would register as an egress destination)"),))


def _effective(field: str, sentinel: str) -> str:
    """A container's ``securityContext.<field>``, else the pod's (``variables.<sentinel>``: -1
    when the pod sets none either)."""
    return (f"(has(c.securityContext) && has(c.securityContext.{field}) ? c.securityContext.{field} : "
            f"variables.{sentinel})")


def _runs_pilot_agent(handler: str) -> str:
    """A lifecycle hook or probe of a proxy container runs no program but pilot-agent."""
    return (f"(!has({handler}.exec) || (has({handler}.exec.command) && size({handler}.exec.command) > 0 "
            f"&& {handler}.exec.command[0] == 'pilot-agent'))")


def pods_policy(mesh: MeshConfig = SHIPPED_MESH) -> AdmissionPolicy:
    """Every pod of an environment runs the mesh proxy with the injector's capture settings: its
    inbound traffic passes the sidecar, where the environment's JWT and authorization policies
    are (auto-mTLS would send the gateway's requests in plaintext to a pod without one).

    The capture exempts the proxy's UID and GID (``PROXY_UID``), so every other container runs as an explicit user and group (its own
    securityContext's or the pod's), neither 1337: unset, the image's own USER would decide, and
    an image built ``USER 1337`` would bypass the sidecar. The containers named as the injector's
    run the proxy image's own entrypoint (no ``command``; hooks and probes exec pilot-agent only):
    a pod may declare a container of that name, which the injector merges over its own.

    The proxy is that of an installed revision (``mesh.revisions``): during an upgrade a namespace
    on either tag gets its revision's proxy, and a pod created just as a tag moves may carry
    either."""
    images = tuple(proxy_image(r.version) for r in mesh.revisions)
    shown = " or ".join(images)
    overrides = " && ".join(f"!('{key}' in variables.annotations)" for key in CAPTURE_OVERRIDES)
    defaults = " && ".join(f"(!('{k}' in variables.annotations) || variables.annotations['{k}'] == '{v}')"
                           for k, v in CAPTURE_DEFAULTS.items())
    opt_out = "sidecar.istio.io/inject"
    pod_context = "has(object.spec.securityContext) && has(object.spec.securityContext.{0})"
    hooks = " && ".join(f"(!has(c.lifecycle) || !has(c.lifecycle.{hook}) || {_runs_pilot_agent(f'c.lifecycle.{hook}')})"
                        for hook in ("postStart", "preStop"))
    probes = " && ".join(f"(!has(c.{probe}) || {_runs_pilot_agent(f'c.{probe}')})"
                         for probe in ("readinessProbe", "livenessProbe", "startupProbe"))
    return AdmissionPolicy(
        name="istio-envs-environment-pods", rules=(("", ("pods",)),), operations=("CREATE",),
        variables=(
            ("annotations", "has(object.metadata.annotations) ? object.metadata.annotations : {}"),
            ("labels", _labels("object")),
            ("containers", "(has(object.spec.initContainers) ? object.spec.initContainers : []) + "
                           "object.spec.containers"),
            ("proxies", "variables.containers.filter(c, c.name == 'istio-proxy')"),
            ("apps", f"variables.containers.filter(c, !(c.name in {list(PROXY_CONTAINERS)}))"),
            ("podUser", f"{pod_context.format('runAsUser')} ? object.spec.securityContext.runAsUser : -1"),
            ("podGroup", f"{pod_context.format('runAsGroup')} ? object.spec.securityContext.runAsGroup : -1"),
        ),
        validations=(
            (f"!{_is('variables.labels', opt_out, 'false')} && !{_is('variables.annotations', opt_out, 'false')}",
             f"a pod in an environment namespace is never taken out of the mesh ({opt_out}: false)"),
            (f"size(variables.proxies) == 1 && variables.proxies.all(c, c.image in {_one_of(images)})",
             f"a pod in an environment namespace runs the mesh proxy the injector adds ({shown})"),
            (f"{overrides} && {defaults}",
             "a pod in an environment namespace keeps the injector's traffic capture (no excluded "
             "ports, ranges or interfaces, no other proxy image, template or proxy config)"),
            (f"variables.containers.all(c, !(c.name in {list(PROXY_CONTAINERS)}) || "
             f"(c.image in {_one_of(images)} && !has(c.command) && {hooks} && {probes}))",
             f"a container named {' or '.join(PROXY_CONTAINERS)} is the injector's: the proxy image "
             f"({shown}) with its own entrypoint (no command; hooks and probes run pilot-agent only)"),
            (f"variables.podUser != {PROXY_UID} && variables.apps.all(c, {_effective('runAsUser', 'podUser')} >= 0 "
             f"&& {_effective('runAsUser', 'podUser')} != {PROXY_UID})",
             f"an application container runs as an explicit user (runAsUser, its own or the pod's), never "
             f"the proxy's UID {PROXY_UID}, whose traffic bypasses the sidecar (unset, the image's USER "
             f"decides)"),
            (f"variables.podGroup != {PROXY_UID} && variables.apps.all(c, {_effective('runAsGroup', 'podGroup')} >= 0 "
             f"&& {_effective('runAsGroup', 'podGroup')} != {PROXY_UID})",
             f"an application container runs with an explicit group (runAsGroup, its own or the pod's), "
             f"never the proxy's GID {PROXY_UID}, whose traffic bypasses the sidecar"),
        ))


def tenancy_policies(api_domain: str, mesh: MeshConfig = SHIPPED_MESH) -> tuple[AdmissionPolicy, ...]:
    """Every policy the owner stack declares, for the platform's ``api.<domain>`` and the istiod
    revisions it installs."""
    return (namespace_policy(mesh), routes_policy(api_domain), kinds_policy(), mesh_scope_policy(),
            services_policy(), pods_policy(mesh))


POLICY_NAMES = tuple(p.name for p in tenancy_policies("api.example.com"))
