"""The GKE cluster: a private VPC-native cluster, its node pool and the Kubernetes provider.

Secure defaults are set here with the reason beside each; what a stack may tune comes from
``ClusterConfig`` (see the README for what changing each costs).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_gcp import compute, container, projects, serviceaccount

from .config import ClusterConfig, MaintenanceWindow
from .versions import (
    CERT_MANAGER_VERSION,
    ISTIO_VERSION,
    MINOR_UPGRADE_HOLD_SINCE,
    PLATFORM_KUBERNETES_MINORS,
)

# Least privilege for nodes: GKE's own role for node service accounts (logs, metrics, metadata;
# CIS GKE 2.0 5.2.1) and image pulls. Replaces the Compute Engine default service account, which
# has project Editor.
# https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa
NODE_ROLES = (
    "roles/container.defaultNodeServiceAccount",
    "roles/artifactregistry.reader",
)


@dataclass(frozen=True)
class GkeClusterArgs:
    project: str
    """GCP project id that holds the cluster and its network."""
    region: str
    """Region of the subnet and router."""
    location: str
    """The control plane's location: the region (regional) or the first zone (zonal)."""
    zones: tuple[str, ...]
    """Zones the node pool spreads over."""
    cluster: ClusterConfig
    """Tunable cluster settings, validated."""
    cluster_identifier: str
    """Stable identity of the cluster for the Kubernetes provider (see ``cluster_identifier``)."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What must exist before the cluster admits pods (the Binary Authorization policy)."""


class GkeCluster(pulumi.ComponentResource):
    """A hardened GKE Standard cluster with one autoscaling node pool.

    Outputs: ``name``, ``endpoint``, ``kubeconfig`` (secret), ``provider`` (the explicit
    ``kubernetes.Provider`` every Kubernetes object uses), ``master_cidr``.
    """

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:GkeCluster", name, None, opts)
        cfg = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        location = args.location

        node_sa_id = f"{cfg.name}-nodes"[:30]
        node_sa = serviceaccount.Account(
            f"{name}-nodes",
            account_id=node_sa_id,
            display_name=f"GKE {cfg.name} nodes (least privilege)",
            project=args.project,
            opts=child,
        )
        node_grants = [
            projects.IAMMember(
                f"{name}-nodes-{role.split('/')[1].replace('.', '-')}",
                project=args.project,
                role=role,
                member=node_sa.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )
            for role in NODE_ROLES
        ]

        network = compute.Network(
            f"{name}-vpc",
            name=f"{cfg.name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            opts=child,
        )
        subnet = compute.Subnetwork(
            f"{name}-nodes-subnet",
            name=f"{cfg.name}-nodes",
            project=args.project,
            region=args.region,
            network=network.id,
            ip_cidr_range=cfg.nodes_cidr,
            # VPC-native: pods and services get alias ranges, routable without per-node routes.
            secondary_ip_ranges=[
                {"range_name": "pods", "ip_cidr_range": cfg.pods_cidr},
                {"range_name": "services", "ip_cidr_range": cfg.services_cidr},
            ],
            # Private nodes reach Google APIs (Artifact Registry, logging) without public IPs.
            private_ip_google_access=True,
            log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5},
            opts=child,
        )
        router = compute.Router(
            f"{name}-router",
            name=f"{cfg.name}-router",
            project=args.project,
            region=args.region,
            network=network.id,
            opts=child,
        )
        # Private nodes have no external IPs; Cloud NAT lets them pull public images (Istio's).
        compute.RouterNat(
            f"{name}-nat",
            name=f"{cfg.name}-nat",
            project=args.project,
            region=args.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child,
        )
        # GKE's automatic firewall rules open only 443/10250 from the control plane to private
        # nodes; istiod's admission webhooks listen on 15017.
        # https://istio.io/latest/docs/setup/platform-setup/gke/
        compute.Firewall(
            f"{name}-istio-webhook",
            name=f"{cfg.name}-allow-master-istio-webhook",
            project=args.project,
            network=network.id,
            direction="INGRESS",
            source_ranges=[cfg.master_cidr],
            allows=[{"protocol": "tcp", "ports": ["15017"]}],
            opts=child,
        )

        self.cluster = container.Cluster(
            f"{name}-cluster",
            name=cfg.name,
            project=args.project,
            location=location,
            network=network.id,
            subnetwork=subnet.id,
            # Node pools are managed separately so they can change without replacing the cluster.
            remove_default_node_pool=True,
            initial_node_count=1,
            deletion_protection=cfg.deletion_protection,
            release_channel={"channel": cfg.release_channel},
            # Pods get Google identities through Kubernetes service accounts, never node keys.
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            ip_allocation_policy={
                "cluster_secondary_range_name": "pods",
                "services_secondary_range_name": "services",
            },
            # The DNS-based endpoint is how Pulumi (and CI on hosted runners) reaches the control
            # plane: reachable from anywhere, every request authorized by IAM
            # (container.clusters.connect), never by the caller's IP. The IP endpoint stays behind
            # the authorized networks, and has no public address with privateEndpoint.
            # https://cloud.google.com/kubernetes-engine/docs/concepts/network-isolation#dns-based_endpoint
            control_plane_endpoints_config={
                "dns_endpoint_config": {"allow_external_traffic": True},
            },
            # Private nodes better control public exposure; the IP endpoint is public only for the
            # authorized networks below unless privateEndpoint is set.
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": cfg.private_endpoint,
                "master_ipv4_cidr_block": cfg.master_cidr,
                "master_global_access_config": {"enabled": False},
            },
            master_authorized_networks_config={
                "cidr_blocks": [
                    {"display_name": net.name, "cidr_block": net.cidr} for net in cfg.authorized_networks
                ],
            },
            # Dataplane V2 enforces NetworkPolicy (Cilium); no Calico add-on alongside it, so the
            # legacy network_policy block is stated, and off.
            datapath_provider="ADVANCED_DATAPATH",
            network_policy={"enabled": False, "provider": "PROVIDER_UNSPECIFIED"},
            # Node-to-node pod traffic on one node goes through the VPC: flow logs see it.
            enable_intranode_visibility=cfg.intranode_visibility,
            enable_shielded_nodes=True,
            # RBAC only: legacy ABAC grants broad rights to every service account.
            enable_legacy_abac=False,
            # Alpha clusters cannot be upgraded and expire after 30 days.
            enable_kubernetes_alpha=False,
            resource_labels={"managed-by": "pulumi", "cluster": cfg.name, "purpose": "environments"},
            # No static client certificate: identities come from Google IAM only.
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            monitoring_config={"enable_components": ["SYSTEM_COMPONENTS"],
                               "managed_prometheus": {"enabled": True}},
            # Posture BASIC (workload configuration audit). No vulnerability_mode: GKE removed the
            # standard scanning tier (VULNERABILITY_BASIC) on 2025-07-31 and refuses it; the
            # advanced tier needs GKE Enterprise.
            # https://cloud.google.com/kubernetes-engine/docs/deprecations/security-posture
            security_posture_config={"mode": "BASIC"},
            # The project's policy, declared as code (components/binary_authorization.py).
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
            # GKE's release channel must not move the cluster to a Kubernetes minor that the
            # pinned Istio or cert-manager does not support (versions.PLATFORM_KUBERNETES_MINORS):
            # minor upgrades wait (patches and security fixes still roll) until the minor's end
            # of support, when GKE upgrades anyway. Bumping the pins is what moves the ceiling:
            # the exclusion is named after them.
            # https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions
            # The provider requires exactly one window in a maintenance_policy, even one with
            # only exclusions (terraform-provider-google-beta resource_container_cluster.go:
            # ExactlyOneOf daily_maintenance_window, recurring_window,
            # recurring_maintenance_window); a real `pulumi preview` fails without it.
            maintenance_policy={
                "recurring_window": maintenance_window(cfg.maintenance_window),
                "maintenance_exclusions": [{
                    "exclusion_name": minor_upgrade_hold_name(),
                    "start_time": MINOR_UPGRADE_HOLD_SINCE,
                    "exclusion_options": {"scope": "NO_MINOR_UPGRADES",
                                          "end_time_behavior": "UNTIL_END_OF_SUPPORT"},
                }],
            },
            addons_config={
                "http_load_balancing": {"disabled": False},
                "horizontal_pod_autoscaling": {"disabled": False},
                # Network policy comes from Dataplane V2; the Calico add-on must stay off with it.
                "network_policy_config": {"disabled": True},
            },
            # Google Groups for RBAC: bind roles to groups that your directory manages.
            authenticator_groups_config=({"security_group": cfg.rbac_security_group}
                                         if cfg.rbac_security_group else None),
            # Same node hardening for the short-lived default pool GKE creates and deletes.
            node_config=_node_config(cfg, node_sa.email, default_pool=True),
            opts=pulumi.ResourceOptions(
                parent=self, protect=True, depends_on=[*args.depends_on, *node_grants],
                # Once the default pool is gone GKE reports the first remaining pool's
                # node_config here, and node_config forces replacement: without this the second
                # `pulumi up` would want to replace the (protected) cluster.
                # https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/container_cluster#node_config
                ignore_changes=["nodeConfig"]),
        )

        pool_config = _node_config(cfg, node_sa.email, default_pool=False)
        self.node_pool = container.NodePool(
            f"{name}-pool",
            # A new name whenever an input the provider replaces the pool for changes: Pulumi
            # then creates the new pool before it deletes the old one (a fixed name fails that
            # create with 409 ALREADY_EXISTS, and deleteBeforeReplace would drain every node at
            # once). GKE drains the old pool's nodes honouring PodDisruptionBudgets.
            name=node_pool_name(cfg, args.project, location, node_sa_id),
            project=args.project,
            location=location,
            cluster=self.cluster.name,
            node_locations=list(args.zones),
            autoscaling={
                "min_node_count": cfg.min_nodes_per_zone,
                "max_node_count": cfg.max_nodes_per_zone,
            },
            # A creation-time value (ForceNew on google_container_node_pool): autoscaling governs
            # the count afterwards, so a later minNodesPerZone change must not replace the pool.
            initial_node_count=max(cfg.min_nodes_per_zone, 1),
            management={"auto_repair": True, "auto_upgrade": True},
            upgrade_settings={"max_surge": 1, "max_unavailable": 0},
            node_config=pool_config,
            # Nodes boot with their service account's grants in place: logging, metrics and
            # image pulls work from the first pod.
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_grants,
                                        ignore_changes=["initialNodeCount"]),
        )

        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.master_cidr = cfg.master_cidr
        self.dns_endpoint = self.cluster.control_plane_endpoints_config.apply(
            lambda endpoints: endpoints.dns_endpoint_config.endpoint
            if endpoints and endpoints.dns_endpoint_config else None)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.dns_endpoint)
            .apply(lambda parts: gke_kubeconfig(*parts))
        )
        # Kubernetes objects wait for the node pool: istiod and the gateway need nodes to run.
        self.provider = kubernetes_provider(
            f"{name}-k8s", self.kubeconfig, args.cluster_identifier,
            pulumi.ResourceOptions(parent=self, depends_on=[self.node_pool]))
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "dns_endpoint": self.dns_endpoint,
            "kubeconfig": self.kubeconfig,
            "provider": self.provider,
        })


def kubernetes_provider(name: str, kubeconfig: pulumi.Input[str], cluster_identifier: pulumi.Input[str],
                        opts: pulumi.ResourceOptions) -> k8s.Provider:
    """The one way this program talks to the cluster, in the owner and in attached stacks.

    ``cluster_identifier`` is stable (project/location/name): without it pulumi-kubernetes
    replaces the provider whenever the kubeconfig's cluster entry changes or is unknown at
    preview time, and replacing a provider replaces every object under it, in every stack.
    https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#clusteridentifier_python
    """
    return k8s.Provider(
        name,
        kubeconfig=kubeconfig,
        cluster_identifier=cluster_identifier,
        enable_server_side_apply=True,
        # Without it pulumi-kubernetes replaces a Secret whose data or stringData changes, and
        # replaces a named object by deleting it first: every certificate rotation would delete
        # the gateway's TLS Secret and leave every environment without a certificate until it is
        # re-created (none at all if the `up` stops in between). With it, an in-place update.
        # pulumi-kubernetes provider/pkg/provider/diff.go (forceNewProperties), CHANGELOG 4.18.0.
        enable_secret_mutable=True,
        opts=opts,
    )


def minor_upgrade_hold_name() -> str:
    """The maintenance exclusion's name: the pins it holds for and the range they share."""
    def minor(version: str) -> str:
        return ".".join(version.lstrip("v").split(".")[:2])
    return (f"istio-{minor(ISTIO_VERSION)}-cert-manager-{minor(CERT_MANAGER_VERSION)}-kubernetes-"
            f"{PLATFORM_KUBERNETES_MINORS[0]}-to-{PLATFORM_KUBERNETES_MINORS[-1]}")


# Any fixed date: GKE takes the window's time of day and length from it, the days from the
# recurrence (the form of GKE's own example). Fixed, so the input never drifts.
# https://cloud.google.com/kubernetes-engine/docs/how-to/maintenance-windows-and-exclusions
MAINTENANCE_WINDOW_ANCHOR = datetime.date(2000, 1, 1)


def maintenance_window(window: MaintenanceWindow) -> container.ClusterMaintenancePolicyRecurringWindowArgsDict:
    """GKE's recurring window (RFC 3339 start and end, RFC 5545 recurrence), in UTC."""
    hour, minute = map(int, window.start.split(":"))
    start = datetime.datetime.combine(MAINTENANCE_WINDOW_ANCHOR, datetime.time(hour, minute),
                                      tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(hours=window.hours)
    return {"start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recurrence": window.recurrence}


# The inputs of google_container_node_pool that the provider marks ForceNew and this program
# sets (terraform-provider-google-beta resource_container_node_pool.go and node_config.go; every
# other input it sets is updated in place), but for the name itself and initial_node_count
# (ignored after creation). tests/test_day2.py holds this list to the vendored provider schema.
NODE_POOL_REPLACED_BY = ("project", "location", "cluster")
NODE_CONFIG_REPLACED_BY = ("spot", "service_account", "oauth_scopes", "metadata",
                           "shielded_instance_config")
# GKE node pool names: at most 40 characters.
NODE_POOL_NAME_MAX = 40


def node_pool_name(cfg: ClusterConfig, project: str, location: str, service_account_id: str) -> str:
    """``<cluster>-pool-<digest>``: the digest is of the pool's replace-forcing inputs, so it
    changes exactly when the provider must replace the pool."""
    node_config = _node_config(cfg, service_account_id, default_pool=False)
    settings = {"project": project, "location": location, "cluster": cfg.name,
                **{key: node_config[key] for key in NODE_CONFIG_REPLACED_BY}}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:6]
    suffix = f"-pool-{digest}"
    return cfg.name[:NODE_POOL_NAME_MAX - len(suffix)].rstrip("-") + suffix


def _node_config(cfg: ClusterConfig, service_account: pulumi.Input[str],
                 default_pool: bool) -> container.ClusterNodeConfigArgsDict:
    return {
        "machine_type": "e2-small" if default_pool else cfg.machine_type,
        "disk_size_gb": cfg.disk_size_gb,
        "disk_type": "pd-balanced",
        "image_type": "COS_CONTAINERD",
        "spot": False if default_pool else cfg.spot,
        "service_account": service_account,
        "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        # The GKE metadata server hides the node's credentials and instance metadata from pods.
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
        "labels": {"cluster": cfg.name},
    }


def gke_kubeconfig(cluster_name: str, dns_endpoint: str) -> str:
    """A kubeconfig for the DNS-based endpoint that authenticates through
    ``gke-gcloud-auth-plugin``: no key inside, and no cluster CA either (the DNS endpoint serves
    a publicly trusted certificate, as ``gcloud container clusters get-credentials
    --dns-endpoint`` writes it), so a CA rotation does not change it."""
    import yaml

    context = f"gke-{cluster_name}"
    return yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": f"https://{dns_endpoint}"}}],
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "gke-gcloud-auth-plugin",
            "installHint": "Install gke-gcloud-auth-plugin: "
                           "gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }, sort_keys=True)
