"""One environment (a "virtual cluster"): its namespace, limits, routes, JWT auth, egress and
DNS name.

What an environment writes, and where: everything in its own namespace, plus its A record in the
platform's zone; a MUTUAL environment also writes its client CA Secret and its own Gateway into
the gateway's namespace (``istio-ingress``), because Istio reads credentials only there. Nothing
else shared is touched, so adding or destroying an environment never waits on the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import dns

from .admission import CLIENT_TLS_LABEL, CLIENT_TLS_MUTUAL, ENVIRONMENT_LABEL
from .config import EgressDestination, EnvironmentConfig, Route
from .demo import DemoEcho, DemoEchoArgs
from .errors import NAMESPACE
from .istio import (
    GATEWAY_NAMESPACE,
    GATEWAY_SELECTOR,
    ISTIO_NAMESPACE,
    REVISION_LABEL,
    istio_resource,
    revision_for,
)
from .mutual_tls import MutualTlsHost, MutualTlsHostArgs
from .platform import PlatformHandles
from .pod_security import POD_SECURITY_LABELS
from .tenancy import OWNER_CLUSTER_ROLE

# Defaults for containers that declare no resources; the ResourceQuota counts requests, so a
# pod without them would otherwise be refused.
CONTAINER_DEFAULT_REQUEST = {"cpu": "100m", "memory": "128Mi"}
CONTAINER_DEFAULT_LIMIT = {"cpu": "500m", "memory": "512Mi"}
DNS_TTL_SECONDS = 300
# On every object the program declares in an environment namespace: the bootstrap's
# istio-envs-managed-objects policy lets only the deployer identities write an object so labelled.
MANAGED_BY = {"app.kubernetes.io/managed-by": "istio-envs"}


def restart_commands(namespace: str) -> list[str]:
    """What restarts a namespace's own workloads onto its revision's proxy (injection happens when
    a pod is created: istio.io "Canary upgrades", Data plane: `kubectl rollout restart
    deployment`), leaving out the platform's (the demo restarts itself). Owners run Deployments
    and StatefulSets (components/tenancy.py OWNER_RULES); a Job's next pod is injected anew."""
    selector = f"'{next(iter(MANAGED_BY))}!={MANAGED_BY['app.kubernetes.io/managed-by']}'"
    return [f"kubectl rollout restart {kind} --namespace {namespace} --selector {selector}"
            for kind in ("deployment", "statefulset")]


@dataclass(frozen=True)
class EnvironmentArgs:
    config: EnvironmentConfig
    """The environment's validated settings."""
    host: pulumi.Input[str]
    """``<env>.api.<domain>`` (an attached stack's from its owner's ``apiDomain`` output)."""
    platform: PlatformHandles
    """The platform it runs on (owned or referenced): the shared facts and the providers."""
    control_plane_cidr: pulumi.Input[str]
    """The cluster's control-plane range (the owner's ``cluster.masterCidr``, as its output): where
    pods reach the Kubernetes API server, which the egress NetworkPolicy must let through."""


class Environment(pulumi.ComponentResource):
    """Outputs: ``namespace``, ``host``, ``url``, ``audiences``, ``tls_mode``; MUTUAL:
    ``client_ca_pem`` and (self-signed client CA) ``client_certificate_pem`` /
    ``client_private_key_pem`` as secrets. ``exports``: all of them by stack output name."""

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        platform, shared = args.platform, args.platform.contract
        # Every child talks to the platform's cluster and project, never an ambient default.
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            providers={"kubernetes": platform.kubernetes, "gcp": platform.gcp}))
        super().__init__("istio-envs:environment:Environment", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        istio = pulumi.ResourceOptions(parent=self, depends_on=list(platform.mesh_ready))

        # The revision tag the namespace selects, and what it points at on the platform (the
        # owner's meshRevisions: its own config, or its outputs when attached; an error when the
        # owner installs no such tag: the fleet check refuses that file before any preview).
        tag = cfg.mesh_revision
        revision = pulumi.Output.from_input(platform.mesh_revisions).apply(lambda found: revision_for(found, tag))
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": cfg.namespace, "labels": {
                # Every pod gets an Envoy sidecar from the revision its tag points at: mTLS, JWT
                # checks and policy apply to it (and the istio-envs-environment-pods admission
                # policy refuses a pod without one).
                REVISION_LABEL: tag,
                "app.kubernetes.io/part-of": NAMESPACE,
                **MANAGED_BY,
                ENVIRONMENT_LABEL: cfg.name,
                # No privileged, host-namespace, hostPath or root pod, no added capability
                # (components/pod_security.py says why restricted fits the injected pods).
                **POD_SECURITY_LABELS,
                # Routes bind to this environment's own MUTUAL Gateway only (admission).
                **({CLIENT_TLS_LABEL: CLIENT_TLS_MUTUAL} if cfg.tls.mutual else {}),
            }},
            opts=child,
        )
        ns = namespace.metadata.name

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgsDict:
            return {"name": object_name, "namespace": ns, "labels": MANAGED_BY}

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("environment-quota"),
            spec={"hard": {
                "requests.cpu": cfg.quota.cpu,
                "requests.memory": cfg.quota.memory,
                "pods": str(cfg.quota.pods),
                # Traffic enters through the shared gateway only: no environment opens its own
                # load balancer or node port around TLS and JWT checks.
                "services.loadbalancers": "0",
                "services.nodeports": "0",
            }},
            opts=child,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("container-defaults"),
            spec={"limits": [{
                "type": "Container",
                "default_request": CONTAINER_DEFAULT_REQUEST,
                "default": CONTAINER_DEFAULT_LIMIT,
            }]},
            opts=child,
        )

        gateway = shared.gateway
        self.client_certificate_pem = self.client_private_key_pem = self.client_ca_pem = None
        if cfg.tls.mutual:
            mutual = MutualTlsHost(f"{name}-mtls", MutualTlsHostArgs(
                environment=cfg.name, host=args.host, tls=cfg.tls,
                gateway_namespace=shared.gateway_namespace, server_credential=shared.tls_credential,
                mesh_ready=platform.mesh_ready), opts=child)
            # Bound to its own MUTUAL Gateway only: no route to it through the shared SIMPLE one.
            gateway = mutual.gateway
            self.client_ca_pem = mutual.client_ca_pem
            self.client_certificate_pem = mutual.client_certificate_pem
            self.client_private_key_pem = mutual.client_private_key_pem

        if cfg.owners:
            # The environment's owners deploy into its namespace and nowhere else: the owner
            # stack's role for running services (components/tenancy.py: workloads, Services,
            # ConfigMaps, Secrets; no NetworkPolicy, Ingress, Istio, RBAC or quota writes), bound
            # here only. Their cluster credentials come from the owner stack's IAM grant.
            k8s.rbac.v1.RoleBinding(
                f"{name}-owners",
                metadata=meta("environment-owners"),
                role_ref={"api_group": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": OWNER_CLUSTER_ROLE},
                subjects=[{"api_group": "rbac.authorization.k8s.io",
                           "kind": "Group" if owner.startswith("group:") else "User",
                           "name": owner.split(":", 1)[1]} for owner in cfg.owners],
                opts=child,
            )

        # Below Istio: if a sidecar is bypassed (a pod without injection, a port excluded from
        # capture, a compromised proxy), the AuthorizationPolicies are not there to refuse; this
        # NetworkPolicy, enforced by Dataplane V2, still lets in only the ingress gateway and the
        # namespace's own pods (egress: the environment-egress policy below). Nothing else
        # Istio needs comes in: istiod never connects to workloads (xDS is dialled by the proxy),
        # and the load balancer's health checks end at the gateway, in its own namespace. Kubelet
        # probes (rewritten by Istio to the agent's port 15020) come from the node itself, which
        # Cilium admits to its local pods whatever the policy: --allow-localhost defaults to auto,
        # "always" in Kubernetes mode (cilium Documentation/security/policy/language.rst, "Access
        # to/from local host"). GKE's own setting for it is not documented; not verified live.
        # https://kubernetes.io/docs/concepts/services-networking/network-policies/
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress-isolation",
            metadata=meta("environment-ingress"),
            spec={
                "pod_selector": {},
                "policy_types": ["Ingress"],
                "ingress": [
                    {"from_": [{"pod_selector": {}}]},
                    {"from_": [{
                        "namespace_selector": {"match_labels": {
                            "kubernetes.io/metadata.name": GATEWAY_NAMESPACE}},
                        "pod_selector": {"match_labels": GATEWAY_SELECTOR},
                    }]},
                ],
            },
            opts=child,
        )
        # Below Istio, outbound: REGISTRY_ONLY is not a firewall (istio/api mesh/v1alpha1/
        # config.proto: a workload that bypasses its sidecar reaches anything), so this policy
        # lets pods reach only their own namespace, kube-dns, istiod's xDS/CA port, the API server
        # and the GKE metadata server (METADATA_ENDPOINTS), and, for an environment with `egress`, public addresses on those destinations' ports only: a
        # NetworkPolicy cannot name hosts (FQDN network policies need GKE Enterprise), so which
        # hosts stays the sidecar's ServiceEntry decision.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress-isolation",
            metadata=meta("environment-egress"),
            spec={"pod_selector": {}, "policy_types": ["Egress"],
                  "egress": egress_rules(cfg.egress, args.control_plane_cidr)},
            opts=child,
        )
        # Each proxy knows only its own namespace's services, istio-system's (the metadata
        # server), kube-dns and the API server: its configuration stays the same size as
        # environments are added, and it has no route to another environment (Istio's
        # scalability advice; https://istio.io/latest/docs/ops/best-practices/performance/
        # #sidecar-resource). Under REGISTRY_ONLY a host left out is black-holed: DNS over TCP and
        # `kubernetes.default` need theirs.
        istio_resource(f"{name}-sidecar-scope", "Sidecar", "default", ns, {
            "egress": [{"hosts": ["./*", f"{ISTIO_NAMESPACE}/*", *CLUSTER_SERVICES]}],
        }, istio, MANAGED_BY)

        # Baseline: with no ALLOW policy matching, nothing is allowed in this namespace. If
        # require-jwt below were deleted or broken, the namespace fails closed, not open.
        istio_resource(f"{name}-deny-all", "AuthorizationPolicy", "allow-nothing", ns, {}, istio, MANAGED_BY)
        istio_resource(f"{name}-routes", "VirtualService", f"{cfg.name}-api", ns, {
            "hosts": [args.host],
            "gateways": [gateway],
            "http": [_http_route(route, cfg.namespace) for route in routing_order(cfg.served_routes)],
        }, istio, MANAGED_BY)
        istio_resource(f"{name}-jwt", "RequestAuthentication", "jwt", ns, {"jwtRules": [{
            "issuer": cfg.auth.issuer,
            "jwksUri": cfg.auth.jwks_uri,
            # A token minted for another environment fails here with 401.
            "audiences": list(cfg.auth.audiences),
            "forwardOriginalToken": True,
        }]}, istio, MANAGED_BY)
        # RequestAuthentication only rejects *bad* tokens; a request with no token passes it.
        # This ALLOW policy is what refuses a missing token (403), and, being the namespace's only
        # ALLOW policy, denies everything it does not list.
        istio_resource(f"{name}-require-jwt", "AuthorizationPolicy", "require-jwt", ns,
                       {"action": "ALLOW", "rules": authorization_rules(cfg, shared.gateway_principal)},
                       istio, MANAGED_BY)

        # The only destinations outside the mesh this environment's workloads may call (the mesh
        # is REGISTRY_ONLY), visible to this namespace only.
        for destination in egress_service_entries(cfg.egress):
            istio_resource(f"{name}-{destination['name']}", "ServiceEntry",
                           destination["name"], ns, destination["spec"], istio, MANAGED_BY)

        demo = None
        if cfg.demo:
            demo = DemoEcho(f"{name}-demo", DemoEchoArgs(environment=cfg.name, namespace=ns,
                                                         mesh_ready=platform.mesh_ready,
                                                         labels=MANAGED_BY,
                                                         revision=revision["revision"]), child)

        dns.RecordSet(
            f"{name}-dns",
            name=pulumi.Output.concat(args.host, "."),
            type="A",
            ttl=DNS_TTL_SECONDS,
            managed_zone=shared.dns_zone,
            project=shared.project,
            rrdatas=[shared.ingress_ip],
            opts=child,
        )

        self.namespace = ns
        self.host = args.host
        self.url = pulumi.Output.concat("https://", args.host)
        self.audiences = list(cfg.auth.audiences)
        self.tls_mode = cfg.tls.mode
        self.exports: dict[str, pulumi.Input[object] | None] = {
            "environment": cfg.name, "namespace": self.namespace, "host": self.host,
            "url": self.url, "audiences": self.audiences, "tlsMode": self.tls_mode,
            # The Istio revision its pods run on, and what restarts the namespace's own workloads
            # onto it after a move (`make verify` lists the pods still on another revision).
            "meshRevision": revision.apply(lambda r: {**r, "restart": restart_commands(cfg.namespace)})}
        if demo is not None:
            # What `make verify --stack` checks the demo against.
            self.exports["demo"] = demo.verify
        if cfg.tls.mutual:
            self.exports["clientCaCertificate"] = self.client_ca_pem
            if self.client_certificate_pem is not None:
                # Secrets: `pulumi stack output clientCertificate --show-secrets > client.pem`.
                self.exports["clientCertificate"] = self.client_certificate_pem
                self.exports["clientPrivateKey"] = self.client_private_key_pem
        self.register_outputs({"namespace": self.namespace, "host": self.host, "url": self.url,
                               "audiences": self.audiences, "tls_mode": self.tls_mode})


# Cluster services every workload may need, as Sidecar egress hosts (namespace/host).
CLUSTER_SERVICES = ("kube-system/kube-dns.kube-system.svc.cluster.local",
                    "default/kubernetes.default.svc.cluster.local")
# Where the mesh's own pods run (components/mesh.py): istiod's pods carry app=istiod.
ISTIOD_SELECTOR = {"app": "istiod"}
ISTIOD_XDS_PORT = 15012
# The GKE metadata server, as GKE's network-policy page lists what a policy must let pods reach
# with Workload Identity Federation ("Network policy and Workload Identity Federation for GKE",
# https://cloud.google.com/kubernetes-engine/docs/how-to/network-policy#network-policy-and-workload-identity):
# 169.254.169.252/32 on TCP 988 (where the node's gke-metadata-server listens) and, on clusters
# with Dataplane V2 (this one), 169.254.169.254/32 on TCP 80. As two public repositories quote that
# section; the page itself could not be read offline, and none of it is verified live.
METADATA_ENDPOINTS = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))
# Addresses that are not the internet: private, shared, link-local and loopback ranges (RFC 1918,
# RFC 6598, RFC 3927): the public-egress rule excludes them, so it opens no path into the VPC.
NOT_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
              "127.0.0.0/8")


def _in_namespace(namespace: str, labels: dict[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgsDict:
    return {"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}},
            "pod_selector": {"match_labels": labels}}


def egress_rules(egress: Sequence[EgressDestination],
                 control_plane_cidr: pulumi.Input[str]) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict]:
    """The environment-egress NetworkPolicy's rules (see its comment)."""
    rules: list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict] = [
        {"to": [{"pod_selector": {}}]},
        {"to": [_in_namespace("kube-system", {"k8s-app": "kube-dns"})],
         "ports": [{"protocol": protocol, "port": 53} for protocol in ("UDP", "TCP")]},
        {"to": [_in_namespace(ISTIO_NAMESPACE, ISTIOD_SELECTOR)],
         "ports": [{"protocol": "TCP", "port": ISTIOD_XDS_PORT}]},
        {"to": [{"ip_block": {"cidr": control_plane_cidr}}], "ports": [{"protocol": "TCP", "port": 443}]},
    ]
    for cidr, port in METADATA_ENDPOINTS:
        rules.append({"to": [{"ip_block": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]})
    ports = sorted({d.port for d in egress})
    if ports:
        rules.append({"to": [{"ip_block": {"cidr": "0.0.0.0/0", "except_": list(NOT_PUBLIC)}}],
                      "ports": [{"protocol": "TCP", "port": port} for port in ports]})
    return rules


def egress_service_entries(egress: Sequence[EgressDestination]) -> list[dict]:
    """One ServiceEntry per host, with every port listed for it, exported to the environment's
    own namespace only. A wildcard host cannot be resolved by DNS: Envoy forwards to the
    address the workload resolved itself (resolution NONE)."""
    by_host: dict[str, list[EgressDestination]] = {}
    for destination in egress:
        by_host.setdefault(destination.host, []).append(destination)
    entries = []
    for host, destinations in sorted(by_host.items()):
        wildcard = destinations[0].wildcard
        entries.append({
            "name": "egress-" + host.replace("*.", "wildcard.").replace(".", "-"),
            "spec": {
                "hosts": [host],
                "ports": [{"number": d.port, "name": f"{d.protocol.lower()}-{d.port}",
                           "protocol": d.protocol} for d in sorted(destinations, key=lambda d: d.port)],
                "location": "MESH_EXTERNAL",
                "resolution": "NONE" if wildcard else "DNS",
                "exportTo": ["."],
            },
        })
    return entries


def routing_order(routes: Sequence[Route]) -> list[Route]:
    """Istio takes the first matching route: longest prefixes first so /orders/admin beats /orders."""
    return sorted(routes, key=lambda r: (-len(r.path), r.path))


def service_host(route: Route, namespace: str) -> str:
    return f"{route.service}.{namespace}.svc.cluster.local"


def _http_route(route: Route, namespace: str) -> dict:
    http: dict = {
        "name": route.service if route.path == "/" else f"{route.service}{route.path}".replace("/", "-"),
        "match": [{"uri": {"prefix": route.path}}],
        "route": [{"destination": {"host": service_host(route, namespace),
                                   "port": {"number": route.port}}}],
    }
    if route.timeout:
        http["timeout"] = route.timeout
    if route.retries:
        retries: dict = {"attempts": route.retries.attempts,
                         "retryOn": ",".join(route.retries.retry_on)}
        if route.retries.per_try_timeout:
            retries["perTryTimeout"] = route.retries.per_try_timeout
        http["retries"] = retries
    return http


def path_patterns(path: str) -> list[str]:
    """AuthorizationPolicy paths for a prefix: the path itself and everything below it."""
    return ["/*"] if path == "/" else [path, f"{path}/*"]


def authorization_rules(cfg: EnvironmentConfig, gateway_principal: pulumi.Input[str]) -> list[dict]:
    routed = [p for route in sorted(cfg.served_routes, key=lambda r: r.path) for p in path_patterns(route.path)]
    public = [p for path in cfg.served_public_paths for p in path_patterns(path)]
    protected_operation: dict = {"paths": routed}
    if public:
        protected_operation["notPaths"] = public
    rules: list[dict] = [{
        # From the internet (through the gateway) with a valid token for this environment.
        # A request principal is "<iss>/<sub>"; Auth0 issuers end in "/", hence "<iss>//<sub>".
        "from": [{"source": {"principals": [gateway_principal],
                             "requestPrincipals": [f"{cfg.auth.issuer}/*"]}}],
        "to": [{"operation": protected_operation}],
        "when": [{"key": "request.auth.audiences", "values": list(cfg.auth.audiences)}],
    }]
    if public:
        rules.append({
            "from": [{"source": {"principals": [gateway_principal]}}],
            "to": [{"operation": {"paths": public}}],
        })
    # Calls between this environment's own services (mTLS proves the namespace).
    rules.append({"from": [{"source": {"namespaces": [cfg.namespace]}}]})
    return rules
