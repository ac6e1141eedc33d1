"""Istio from its official Helm charts: base -> cni -> istiod (one per revision) -> ingress
gateway, in that order.

The gateway's Service takes the reserved static IP, so DNS records never chase a load balancer
address (the write-ups scraped it by hand after every cluster rebuild).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .charts import pinned_chart
from .config.mesh import MeshConfig, MeshRevision
from .istio import (
    CANARY,
    GATEWAY_NAMESPACE,
    GATEWAY_RELEASE,
    GATEWAY_SELECTOR,
    ISTIO_NAMESPACE,
    STABLE,
    istio_resource,
)
from .versions import ISTIO_CHARTS, ISTIO_HUB

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
    mesh: MeshConfig = MeshConfig()
    """The istiod revisions and their tags (platform.mesh)."""


def _rank(revision: MeshRevision) -> int:
    """Which istiod releases upgrade after which: a release that holds a tag renders that tag's
    webhook (istio-revision-tag-<tag>), and Helm refuses to render an object another release owns
    ("invalid ownership metadata"). A tag that moves must leave its old release before its new
    one takes it, so the release holding ``stable`` waits for every other, and the one holding
    ``canary`` for those holding none."""
    return 2 if STABLE in revision.tags else 1 if CANARY in revision.tags else 0


class IstioMesh(pulumi.ComponentResource):
    """Istio control planes (one istiod per revision) and ingress gateway, plus mesh-wide STRICT
    mTLS.

    Outputs: ``istiods`` (the releases Istio custom resources depend on), ``gateway_namespace``.
    """

    def __init__(self, name: str, args: IstioMeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:IstioMesh", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        mesh = args.mesh
        stable = mesh.stable

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

        def chart(resource: str, release: str, chart_name: str, version: str,
                  namespace: k8s.core.v1.Namespace, values: dict, depends_on: Sequence[pulumi.Resource],
                  aliases: list[pulumi.Alias] | None = None) -> k8s.helm.v3.Release:
            return pinned_chart(f"{name}-{resource}", release=release, chart=chart_name,
                                version=version, repo=ISTIO_CHARTS,
                                namespace=namespace.metadata["name"], values=values,
                                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on),
                                                            aliases=aliases))

        # The validating webhook's failurePolicy is flipped to Fail by istiod at runtime; set it
        # here so every `pulumi up` does not show drift (and invalid config is refused).
        webhook = {"base": {"validationFailurePolicy": "Fail"}}
        # The base chart holds the CRDs and the default validator, shared by every revision: at
        # the newest revision's version, so a new istiod finds its CRDs before it starts (istio.io
        # "Upgrade with Helm", Canary upgrade: "Upgrade the Istio base chart" first). The older
        # istiod reads the newer CRDs: Istio keeps them backwards compatible (the base chart's
        # values.yaml: "Istio as a project enforces certain backwards-compat guarantees that allow
        # us to safely upgrade CRDs"; tests/test_crds.py holds every version an older vendored CRD
        # serves to be served by the newer). `defaultRevision` points the default validator at the
        # stable revision's istiod (templates/defaultrevision-validatingwebhookconfiguration.yaml:
        # service istiod-<defaultRevision>; there is no unrevisioned `istiod` Service).
        self.base = chart("base", "istio-base", "base", mesh.newest.version, istio_ns,
                          {**webhook, "defaultRevision": stable.name}, [])
        # Istio CNI sets up each pod's traffic redirection from the node, so injected pods carry
        # no istio-init (NET_ADMIN, NET_RAW, root), which Pod Security baseline refuses; it must
        # run before istiod injects for it (istio.io "Install the Istio CNI node agent"). On GKE
        # its binaries go to /home/kubernetes/bin and its system-node-critical pods need a quota
        # in their namespace (istio.io "Platform-specific prerequisites: Google Kubernetes
        # Engine"); the chart makes that ResourceQuota with resourceQuotas.enabled. One node agent
        # serves every revision, at the oldest one's version: CNI 1.x works with control planes
        # 1.x and 1.x+1, "the control plane must be upgraded before Istio CNI" (istio/istio.io
        # content/en/docs/ambient/upgrade/helm-upgrade/index.md); it moves when the old revision
        # is removed.
        self.cni = chart("cni", "istio-cni", "cni", mesh.oldest.version, istio_ns, {
            "cniBinDir": "/home/kubernetes/bin",
            "resourceQuotas": {"enabled": True},
            "global": {"hub": ISTIO_HUB, "tag": mesh.oldest.version},
        }, [self.base])
        # One istiod per revision, named after its version (`revision`: its Deployment, Service
        # and webhooks are suffixed -<revision>; istio.io "Canary upgrades"), with the revision
        # tags that point at it (`revisionTags`: a MutatingWebhookConfiguration
        # istio-revision-tag-<tag> injecting for namespaces labelled istio.io/rev=<tag>,
        # templates/revision-tags-mwc.yaml). Releases holding a tag wait for those that may be
        # giving it up (_rank).
        self.istiods: dict[str, k8s.helm.v3.Release] = {}
        for revision in sorted(mesh.revisions, key=_rank):
            before = [self.istiods[r.name] for r in mesh.revisions
                      if r.name in self.istiods and _rank(r) < _rank(revision)]
            self.istiods[revision.name] = chart(
                f"istiod-{revision.name}", f"istiod-{revision.name}", "istiod", revision.version, istio_ns, {
                    **webhook,
                    "revision": revision.name,
                    "revisionTags": list(revision.tags),
                    # cni.enabled: the injector adds istio-validation instead of istio-init
                    # (files/injection-template.yaml `if .Values.pilot.cni.enabled`).
                    "pilot": {"autoscaleMin": 2, "autoscaleMax": 5, "cni": {"enabled": True}},
                    # Images from the pinned hub and the revision's tag, stated: the Binary
                    # Authorization allowlist derives from the same constants. The injected
                    # containers get the RuntimeDefault seccomp profile Pod Security restricted
                    # asks of every container.
                    "global": {"defaultPodDisruptionBudget": {"enabled": True},
                               "hub": ISTIO_HUB, "tag": revision.version,
                               "proxy": {"seccompProfile": {"type": "RuntimeDefault"}}},
                    "meshConfig": {
                        "accessLogFile": "/dev/stdout",
                        "accessLogEncoding": "JSON",
                        # Unknown egress destinations are refused; services declare what they call.
                        "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                    },
                }, [self.base, self.cni, *before],
                # Before revisions, istiod was one unrevisioned release, `istiod`, at the pin: the
                # stable revision's release takes its place in state (a replacement: Helm cannot
                # rename a release; the new one is installed before the old is removed).
                aliases=[pulumi.Alias(name=f"{name}-istiod")] if revision is stable else None)
        istiods = list(self.istiods.values())
        # The ingress gateway runs on the stable revision only, and moves last: its Service holds
        # the reserved address, so a second gateway release per revision would need a second load
        # balancer (istio.io "Installing Gateways", Canary upgrade (advanced): "only the Kubernetes
        # YAML method is supported for this upgrade method", because the other methods bundle the
        # Service with the Deployment). `revision` labels its pods istio.io/rev=<revision> (the
        # chart's _helpers.tpl gateway.sidecarInjectionLabels): a revision name, not a tag, so a
        # promotion changes the pod template and rolls the gateway (two pods, a
        # PodDisruptionBudget) onto the new revision before the old one can be removed.
        self.gateway = chart("gateway", GATEWAY_RELEASE, "gateway", stable.version, self.gateway_namespace, {
            "revision": stable.name,
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
        }, istiods)

        # Every workload-to-workload hop in the mesh is mutual TLS; plaintext is refused.
        istio_resource(f"{name}-strict-mtls", "PeerAuthentication", "default", ISTIO_NAMESPACE,
                       {"mtls": {"mode": "STRICT"}},
                       pulumi.ResourceOptions(parent=self, depends_on=istiods))

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
                       }, pulumi.ResourceOptions(parent=self, depends_on=istiods))

        self.ready: tuple[pulumi.Resource, ...] = tuple(istiods)
        """What Istio objects wait for: every istiod (each revision's validator checks them)."""
        self.register_outputs({
            "revisions": mesh.outputs(),
            "gateway_namespace": self.gateway_namespace,
            "istiods": istiods,
        })
