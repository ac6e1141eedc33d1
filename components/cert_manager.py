"""cert-manager from its official Helm chart, with a Google identity for Cloud DNS DNS-01.

Workload identity, no key file: cert-manager's Kubernetes service account is bound to a Google
service account whose only grant is a custom role with the Cloud DNS permissions the DNS-01
solver uses (create and delete the ``_acme-challenge`` TXT records, watch the change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import dns, projects, serviceaccount

from .charts import pinned_chart
from .versions import (
    CERT_MANAGER_CHARTS,
    CERT_MANAGER_IMAGE_NAMESPACE,
    CERT_MANAGER_REGISTRY,
    CERT_MANAGER_VERSION,
)

CERT_MANAGER_NAMESPACE = "cert-manager"
# The chart names the controller's service account after the release.
CERT_MANAGER_RELEASE = "cert-manager"

# What cert-manager's cloudDNS solver calls with hostedZoneName set, and nothing else: it lists
# record sets, then creates a change and polls it (pkg/issuer/acme/dns/clouddns/clouddns.go at
# v1.21.1; with hostedZoneName it never lists zones). roles/dns.admin would also let it delete
# zones and change DNSSEC.
DNS01_PERMISSIONS = (
    "dns.changes.create",
    "dns.changes.get",
    "dns.managedZones.get",
    "dns.resourceRecordSets.create",
    "dns.resourceRecordSets.delete",
    "dns.resourceRecordSets.get",
    "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.update",
)


@dataclass(frozen=True)
class CertManagerArgs:
    project: str
    """Project of the cluster's workload identity pool and of the DNS zone."""
    cluster_name: str
    """Names the solver's service account and custom role: unique per platform in a project."""
    dns_zone: pulumi.Input[str]
    """The managed zone the solver may write to: its only grant is on this zone."""
    cluster_ready: Sequence[pulumi.Resource]
    """The cluster: its workload identity pool must exist before the binding."""


class CertManager(pulumi.ComponentResource):
    """Outputs: ``release`` (what cert-manager resources depend on), ``service_account_email``."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:CertManager", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        solver = serviceaccount.Account(
            f"{name}-dns01",
            account_id=solver_account_id(args.cluster_name),
            display_name="cert-manager DNS-01 solver (Cloud DNS records only)",
            project=args.project,
            opts=child,
        )
        role = projects.IAMCustomRole(
            f"{name}-dns01-role",
            role_id=solver_role_id(args.cluster_name),
            title="cert-manager DNS-01 solver",
            description="Create and remove ACME challenge records in Cloud DNS",
            permissions=list(DNS01_PERMISSIONS),
            project=args.project,
            opts=child,
        )
        # Granted on the one managed zone, not the project: the solver can write challenge
        # records for this domain and touch no other zone.
        dns.DnsManagedZoneIamMember(
            f"{name}-dns01-grant",
            project=args.project,
            managed_zone=args.dns_zone,
            role=role.name,
            member=solver.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child,
        )
        # The controller's Kubernetes service account may act as the solver account, nothing else.
        serviceaccount.IAMMember(
            f"{name}-workload-identity",
            service_account_id=solver.name,
            role="roles/iam.workloadIdentityUser",
            member=(f"serviceAccount:{args.project}.svc.id.goog"
                    f"[{CERT_MANAGER_NAMESPACE}/{CERT_MANAGER_RELEASE}]"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.cluster_ready)),
        )

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": CERT_MANAGER_NAMESPACE},
            opts=child,
        )
        self.release = pinned_chart(
            f"{name}-chart",
            release=CERT_MANAGER_RELEASE,
            chart="cert-manager",
            version=CERT_MANAGER_VERSION,
            repo=CERT_MANAGER_CHARTS,
            namespace=namespace.metadata.name,
            values={
                # CRDs at the chart's version; kept on uninstall so Certificates are not wiped.
                "crds": {"enabled": True, "keep": True},
                # Stated, so the Binary Authorization allowlist names the same registry.
                "imageRegistry": CERT_MANAGER_REGISTRY,
                "imageNamespace": CERT_MANAGER_IMAGE_NAMESPACE,
                "replicaCount": 2,
                "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
                "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": solver.email}},
            },
            opts=child,
        )
        self.service_account_email = solver.email
        self.register_outputs({"version": CERT_MANAGER_VERSION,
                               "service_account_email": self.service_account_email})


def solver_account_id(cluster_name: str) -> str:
    """``<cluster>-dns01``: service account ids are 6-30 characters, unique in the project."""
    return f"{cluster_name[:24].rstrip('-')}-dns01"


def solver_role_id(cluster_name: str) -> str:
    """Custom role ids take letters, digits, '_' and '.' (3-64): the cluster name with '_'."""
    return f"certManagerDns01Solver_{cluster_name.replace('-', '_')}"[:64]
