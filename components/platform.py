"""The platform an environment runs on: declared here (owner) or read from the owner (attached).

Both give the environment the same :class:`PlatformHandles`: the :class:`PlatformContract`
(components/contract.py, whose fields name the stack outputs an owner exports and an attached
stack reads back), the providers and what Istio objects wait for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pulumi_gcp import compute, projects

from .binary_authorization import ImageAdmissionPolicy, ImageAdmissionPolicyArgs
from .cert_manager import CertManager, CertManagerArgs
from .cluster import GkeCluster, GkeClusterArgs, kubernetes_provider
from .config import PlatformConfig, StackConfig
from .config.mesh import MeshConfig
from .contract import MeshFacts, PlatformContract, ReviewFacts
from .dns import DnsZone, DnsZoneArgs, refuse_zone_replacement
from .gateway import MIN_TLS_VERSION, ApiGateway, ApiGatewayArgs
from .istio import GATEWAY_PRINCIPAL
from .mesh import IstioMesh, IstioMeshArgs
from .tenancy import Tenancy, TenancyArgs
from .tls import WildcardCertificate, WildcardCertificateArgs

# The least IAM an environment owner needs to reach the cluster (kubectl credentials).
OWNER_IAM_ROLE = "roles/container.clusterViewer"


@dataclass(frozen=True)
class PlatformHandles:
    """What an environment gets from its platform, whoever declared it."""

    contract: PlatformContract
    kubernetes: k8s.Provider
    gcp: gcp.Provider
    mesh_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What Istio custom resources wait for (istiod in the owner stack; nothing when attached)."""
    exports: dict = field(default_factory=dict)
    """Stack outputs of the platform side: the contract's (owner) plus what reviewers read."""
    mesh_revisions: pulumi.Input[list] = field(default_factory=list)
    """The istiod revisions an environment's tag resolves against (the owner's meshRevisions)."""


class OwnedPlatform(pulumi.ComponentResource):
    """Cluster, mesh, DNS zone, wildcard certificate and the shared Gateway."""

    def __init__(self, name: str, config: PlatformConfig, owners: Sequence[str] = (),
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:OwnedPlatform", name, None, opts)
        # An explicit provider: no ambient `gcp:project` or gcloud default decides where this goes.
        self.gcp_provider = gcp.Provider(f"{name}-gcp", project=config.project, region=config.region,
                                         opts=pulumi.ResourceOptions(parent=self))
        gcp_child = pulumi.ResourceOptions(parent=self, providers={"gcp": self.gcp_provider})

        # Reserved before the cluster exists: the DNS records and the gateway Service agree on
        # it, and a rebuilt cluster keeps the same address.
        ingress_ip = compute.Address(
            f"{name}-ingress-ip",
            name=f"{config.cluster.name}-ingress",
            project=config.project,
            region=config.region,
            address_type="EXTERNAL",
            network_tier="PREMIUM",
            description="Istio ingress gateway of the environments",
            opts=pulumi.ResourceOptions(parent=self, providers={"gcp": self.gcp_provider}, protect=True),
        )
        admission = ImageAdmissionPolicy(f"{name}-binauthz", ImageAdmissionPolicyArgs(
            project=config.project, config=config.binary_authorization), opts=gcp_child)
        # Environment owners (across the stack files on this platform) may get cluster
        # credentials and nothing else from IAM: roles/container.clusterViewer is
        # container.clusters.get/list (what `get-credentials` needs) and, since March 2025,
        # container.clusters.connect (what the DNS endpoint asks of every request; IAM's role
        # reference, docs.cloud.google.com/iam/docs/roles-permissions/container); no object
        # through IAM: what they may do inside is their namespace's RoleBinding. Granted here, additively, by the owner stack: the
        # identity that deploys environments must never be able to grant project roles.
        for owner in owners:
            projects.IAMMember(
                f"{name}-owner-{owner.replace(':', '-').replace('@', '-at-').replace('.', '-')}",
                project=config.project,
                role=OWNER_IAM_ROLE,
                member=owner,
                opts=gcp_child,
            )
        cluster = GkeCluster(f"{name}-gke", GkeClusterArgs(
            project=config.project, region=config.region, location=config.cluster_location,
            zones=config.zones, cluster=config.cluster,
            cluster_identifier=config.cluster_identifier, depends_on=(admission.policy,)),
            opts=gcp_child)
        zone = DnsZone(f"{name}-dns", DnsZoneArgs(
            project=config.project, domain=config.domain, api_domain=config.api_domain,
            dns=config.dns, served=config.dns.served_domain(config)), opts=gcp_child)

        k8s_child = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster.provider})
        mesh_config = config.mesh
        mesh = IstioMesh(f"{name}-mesh", IstioMeshArgs(ingress_ip=ingress_ip.address, mesh=mesh_config),
                         opts=k8s_child)
        # The owners' role and the admission policies every environment namespace is held to.
        Tenancy(f"{name}-tenancy", TenancyArgs(api_domain=config.api_domain, mesh=mesh_config,
                                                mesh_ready=mesh.ready),
                opts=k8s_child)
        cert_manager_ready: tuple = ()
        if config.tls.needs_cert_manager:
            cert_manager = CertManager(f"{name}-cert-manager", CertManagerArgs(
                project=config.project, cluster_name=config.cluster.name, dns_zone=zone.zone_name,
                cluster_ready=(cluster.cluster,)),
                opts=pulumi.ResourceOptions(parent=self, providers={
                    "kubernetes": cluster.provider, "gcp": self.gcp_provider}))
            cert_manager_ready = (cert_manager.release,)
        gateway_namespace = mesh.gateway_namespace.metadata.name
        certificate = WildcardCertificate(f"{name}-tls", WildcardCertificateArgs(
            tls=config.tls,
            domain=config.domain,
            namespace=gateway_namespace,
            project=config.project,
            dns_zone=zone.zone_name,
            cert_manager_ready=cert_manager_ready,
        ), opts=k8s_child)
        gateway = ApiGateway(f"{name}-gateway", ApiGatewayArgs(
            namespace=gateway_namespace,
            hosts=config.tls.dns_names,
            credential_name=certificate.secret_name,
            mesh_ready=mesh.ready,
        ), opts=k8s_child)

        contract = PlatformContract(
            project=config.project,
            kubeconfig=cluster.kubeconfig,
            ingress_ip=ingress_ip.address,
            gateway=gateway.reference,
            gateway_principal=GATEWAY_PRINCIPAL,
            dns_zone=zone.zone_name,
            gateway_namespace=gateway_namespace,
            tls_credential=certificate.secret_name,
            api_domain=config.api_domain,
            cluster_identifier=config.cluster_identifier,
            control_plane_cidr=config.cluster.master_cidr,
        )
        review = ReviewFacts(
            tls_source=config.tls.source,
            min_tls_version=MIN_TLS_VERSION,
            certificate_not_after=config.tls.not_after,
            certificate_lifetime=config.tls.lifetime,
        )
        self.handles = PlatformHandles(
            contract=contract,
            kubernetes=cluster.provider,
            gcp=self.gcp_provider,
            mesh_ready=mesh.ready,
            mesh_revisions=mesh_config.outputs(),
            exports={
                **contract.outputs(),
                **review.outputs(),
                **MeshFacts(mesh_revisions=mesh_config.outputs()).outputs(),
                "clusterName": cluster.name,
                # What the parent zone publishes: `<dnsName> NS <nameServers>` and `<dnsName> DS
                # <dnsDsRecord>` (docs/deploying.md "Delegating `api.<domain>`"); make verify checks the NS set.
                "dnsName": zone.dns_name,
                "nameServers": zone.name_servers,
                "dnsDsRecord": zone.ds_record,
                # Only while a deployed zone is being released (dns.releasedZone): the next
                # `pulumi up` may replace it (components/dns.py).
                **({"dnsReleasedZone": zone.released_zone} if zone.released_zone else {}),
                # The stable revision's version: the gateway's and every environment's without a tag of
                # its own (meshRevisions lists each revision).
                "istioVersion": mesh_config.stable.version,
                "certificateNames": list(config.tls.dns_names),
                "caCertificate": certificate.ca_certificate_pem,
            },
        )
        self.register_outputs({"ingress_ip": ingress_ip.address, "cluster": cluster.name})


class PlatformReference(pulumi.ComponentResource):
    """An attached stack's view of the owner's platform: its outputs, nothing declared."""

    def __init__(self, name: str, owner_stack: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:PlatformReference", name, None, opts)
        owner = pulumi.StackReference(owner_stack, opts=pulumi.ResourceOptions(parent=self))
        contract = PlatformContract.read(owner)
        # The same identifier as the owner's provider, from the owner's outputs: known at preview
        # time for a deployed owner, so a changed kubeconfig never replaces this stack's objects.
        kubernetes = kubernetes_provider(f"{name}-k8s", contract.kubeconfig,
                                         contract.cluster_identifier,
                                         pulumi.ResourceOptions(parent=self))
        gcp_provider = gcp.Provider(f"{name}-gcp", project=contract.project,
                                    opts=pulumi.ResourceOptions(parent=self))
        # An owner deployed before revisions exports none: its environments count as on the pin,
        # tagged stable, until it is deployed (it deploys first).
        revisions = pulumi.Output.from_input(MeshFacts.read(owner).mesh_revisions).apply(
            lambda found: found or MeshConfig().outputs())
        self.handles = PlatformHandles(
            contract=contract,
            kubernetes=kubernetes,
            gcp=gcp_provider,
            mesh_revisions=revisions,
            exports={"platformOwner": owner_stack, "ingressIp": contract.ingress_ip,
                     # The owner's TLS facts, repeated for this stack's reviewers.
                     **ReviewFacts.read(owner).outputs()},
        )
        self.register_outputs({"owner": owner_stack})


def platform_for(config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> PlatformHandles:
    """The owner declares its platform; an attached stack reads the owner's."""
    if config.platform is not None:
        # Before anything is declared: a changed zone must not replace the deployed one.
        refuse_zone_replacement(config.stack, config.stack_file, config.platform)
        return OwnedPlatform("platform", config.platform, config.platform_owners, opts).handles
    assert config.owner_stack is not None  # config: exactly one of the two
    return PlatformReference("platform", config.owner_stack, opts).handles
