"""Istio from its official Helm charts: base -> istiod -> ingress gateway, in that order.

The gateway's Service takes the reserved static IP, so DNS records never chase a load balancer
address (the write-ups scraped it by hand after every cluster rebuild).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .charts import pinned_chart
from .istio import GATEWAY_NAMESPACE, GATEWAY_RELEASE, GATEWAY_SELECTOR, ISTIO_NAMESPACE, istio_resource
from .versions import ISTIO_CHARTS, ISTIO_HUB, ISTIO_VERSION

# The GKE metadata server: workload identity tokens come from it. With REGISTRY_ONLY egress a
# sidecar sends anything unregistered to its BlackHole cluster, so it must be in the registry.
# TCP on its link-local address gives it a listener of its own (plain HTTP on port 80 would be
# matched by Host header, and clients use both the name and the address).
# https://cloud.google.com/kubernetes-engine/docs/concepts/workload-identity#metadata_server
METADATA_SERVER = {"host": "metadata.google.internal", "address": "169.254.169.254", "port": 80}

@dataclass(frozen=True)
class IstioMeshArgs:
    ingress_ip: pulumi.Input[str]
    """The reserved regional address the ingress gateway's load balancer takes."""
    gateway_replicas: int = 2
    """Minimum gateway pods; two keep ingress up through a node drain."""


class IstioMesh(pulumi.ComponentResource):
    """Istio control plane and ingress gateway, plus mesh-wide STRICT mTLS.

    Outputs: ``istiod`` (the release Istio custom resources depend on), ``gateway_namespace``.
    """

    def __init__(self, name: str, args: IstioMeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:IstioMesh", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        istio_ns = k8s.core.v1.Namespace(
            f"{name}-istio-system",
            metadata={"name": ISTIO_NAMESPACE},
            opts=child,
        )
        self.gateway_namespace = k8s.core.v1.Namespace(
            f"{name}-istio-ingress",
            metadata={"name": GATEWAY_NAMESPACE},
            opts=child,
        )

        def chart(release: str, chart_name: str, namespace: k8s.core.v1.Namespace, values: dict,
                  depends_on: list[pulumi.Resource]) -> k8s.helm.v3.Release:
            return pinned_chart(f"{name}-{chart_name}", release=release, chart=chart_name,
                                version=ISTIO_VERSION, repo=ISTIO_CHARTS,
                                namespace=namespace.metadata["name"], values=values,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on))

        # The validating webhook's failurePolicy is flipped to Fail by istiod at runtime; set it
        # here so every `pulumi up` does not show drift (and invalid config is refused).
        webhook = {"base": {"validationFailurePolicy": "Fail"}}
        self.base = chart("istio-base", "base", istio_ns,
                          {**webhook, "defaultRevision": "default"}, [])
        # Istio CNI sets up each pod's traffic redirection from the node, so injected pods carry
        # no istio-init (NET_ADMIN, NET_RAW, root), which Pod Security baseline refuses; it must
        # run before istiod injects for it (istio.io "Install the Istio CNI node agent"). On GKE
        # its binaries go to /home/kubernetes/bin and its system-node-critical pods need a quota
        # in their namespace (istio.io "Platform-specific prerequisites: Google Kubernetes
        # Engine"); the chart makes that ResourceQuota with resourceQuotas.enabled.
        self.cni = chart("istio-cni", "cni", istio_ns, {
            "cniBinDir": "/home/kubernetes/bin",
            "resourceQuotas": {"enabled": True},
            "global": {"hub": ISTIO_HUB, "tag": ISTIO_VERSION},
        }, [self.base])
        self.istiod = chart("istiod", "istiod", istio_ns, {
            **webhook,
            # cni.enabled: the injector adds istio-validation instead of istio-init
            # (files/injection-template.yaml `if .Values.pilot.cni.enabled`).
            "pilot": {"autoscaleMin": 2, "autoscaleMax": 5, "cni": {"enabled": True}},
            # Images from the pinned hub and tag, stated: the Binary Authorization allowlist
            # derives from the same constants. The injected containers get the RuntimeDefault
            # seccomp profile Pod Security restricted asks of every container.
            "global": {"defaultPodDisruptionBudget": {"enabled": True},
                       "hub": ISTIO_HUB, "tag": ISTIO_VERSION,
                       "proxy": {"seccompProfile": {"type": "RuntimeDefault"}}},
            "meshConfig": {
                "accessLogFile": "/dev/stdout",
                "accessLogEncoding": "JSON",
                # Unknown egress destinations are refused; services declare what they call.
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
            },
        }, [self.base, self.cni])
        self.gateway = chart(GATEWAY_RELEASE, "gateway", self.gateway_namespace, {
            "service": {
                "type": "LoadBalancer",
                "loadBalancerIP": args.ingress_ip,
                # Only 443 reaches the load balancer: plain HTTP is refused at the edge.
                "ports": [{"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"}],
            },
            "autoscaling": {"enabled": True, "minReplicas": args.gateway_replicas, "maxReplicas": 5},
            "podDisruptionBudget": {"minAvailable": 1},
            # Prefer gateway pods on different nodes and zones: one node drain or zone outage
            # leaves ingress up.
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "topologyKey": key, "labelSelector": {"matchLabels": GATEWAY_SELECTOR}}}
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ]}},
            "topologySpreadConstraints": [{
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": GATEWAY_SELECTOR},
            }],
        }, [self.istiod])

        # Every workload-to-workload hop in the mesh is mutual TLS; plaintext is refused.
        istio_resource(f"{name}-strict-mtls", "PeerAuthentication", "default", ISTIO_NAMESPACE,
                       {"mtls": {"mode": "STRICT"}},
                       pulumi.ResourceOptions(parent=self, depends_on=[self.istiod]))

        # Every sidecar may reach the metadata server (workload identity); nothing else outside
        # the mesh is registered here: environments list their own egress.
        istio_resource(f"{name}-metadata-server", "ServiceEntry", "gke-metadata-server",
                       ISTIO_NAMESPACE, {
                           "hosts": [METADATA_SERVER["host"]],
                           "addresses": [f"{METADATA_SERVER['address']}/32"],
                           "ports": [{"number": METADATA_SERVER["port"], "name": "tcp-metadata",
                                      "protocol": "TCP"}],
                           "location": "MESH_EXTERNAL",
                           "resolution": "STATIC",
                           "endpoints": [{"address": METADATA_SERVER["address"]}],
                           "exportTo": ["*"],
                       }, pulumi.ResourceOptions(parent=self, depends_on=[self.istiod]))

        self.register_outputs({
            "istio_version": ISTIO_VERSION,
            "gateway_namespace": self.gateway_namespace,
            "istiod": self.istiod,
        })
