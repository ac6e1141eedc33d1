"""What a reviewer of a revision diff must not miss: the one table of replacement-forcing inputs,
and the risk classes ``preview.revdiff`` reports, first, in words.

Each entry of ``REPLACES`` is an input path (camelCase, as the plan's ``inputs`` spell it) whose
change makes the provider destroy and re-create the resource, with the documentation or source
it comes from. terraform-provider-google marks such fields ``ForceNew: true`` in its schema
(``google/services/<service>/resource_*.go``); the Pulumi GCP provider is bridged from it, so the
same fields replace. A resource's own ``replaceOnChanges`` (from the program) counts as well.
"""

from __future__ import annotations

import re
from typing import Any

TF_GOOGLE = "terraform-provider-google"
_DOCS = "https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/"

def _snake(path: str) -> str:
    """The provider schema's name of a camelCase input path (``dnsName`` -> ``dns_name``)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).lower()


def _force_new(source: str, doc: str, *paths: str) -> tuple[tuple[str, str], ...]:
    """Inputs that terraform-provider-google marks ``ForceNew`` in ``google/<source>``."""
    return tuple((path, f"{TF_GOOGLE} google/{source}: {_snake(path)} ForceNew ({_DOCS}{doc})")
                 for path in paths)


# type -> ((input path, citation), ...). A path names a nested input (``a.b``); the whole value
# under it is compared.
REPLACES: dict[str, tuple[tuple[str, str], ...]] = {
    "gcp:container/cluster:Cluster": _force_new(
        "services/container/resource_container_cluster.go", "container_cluster",
        "name", "location", "project", "network", "subnetwork",
        "privateClusterConfig.masterIpv4CidrBlock", "ipAllocationPolicy"),
    "gcp:container/nodePool:NodePool": _force_new(
        "services/container/resource_container_node_pool.go", "container_node_pool",
        "name", "cluster", "location", "project"),
    "gcp:dns/managedZone:ManagedZone": _force_new(
        "services/dns/resource_dns_managed_zone.go", "dns_managed_zone",
        "name", "dnsName", "project", "visibility"),
    "gcp:dns/recordSet:RecordSet": _force_new(
        "services/dns/resource_dns_record_set.go", "dns_record_set",
        "name", "type", "managedZone", "project"),
    "gcp:compute/address:Address": _force_new(
        "services/compute/resource_compute_address.go", "compute_address",
        "name", "region", "project", "addressType", "networkTier", "address"),
    "gcp:compute/subnetwork:Subnetwork": (
        *_force_new("services/compute/resource_compute_subnetwork.go", "compute_subnetwork",
                    "name", "network", "region", "project"),
        ("ipCidrRange", f"{TF_GOOGLE} google/services/compute/resource_compute_subnetwork.go: "
                        "ip_cidr_range, ForceNew unless the range is only expanded "
                        f"(CustomizeDiff isShrinkageIpCidr) ({_DOCS}compute_subnetwork)")),
    "gcp:compute/network:Network": _force_new(
        "services/compute/resource_compute_network.go", "compute_network",
        "name", "project", "autoCreateSubnetworks"),
    "gcp:compute/router:Router": _force_new(
        "services/compute/resource_compute_router.go", "compute_router",
        "name", "network", "region", "project"),
    "gcp:compute/routerNat:RouterNat": _force_new(
        "services/compute/resource_compute_router_nat.go", "compute_router_nat",
        "name", "router", "region", "project"),
    "gcp:compute/firewall:Firewall": _force_new(
        "services/compute/resource_compute_firewall.go", "compute_firewall",
        "name", "network", "project", "direction"),
    "gcp:serviceaccount/account:Account": _force_new(
        "services/resourcemanager/resource_google_service_account.go", "google_service_account",
        "accountId", "project"),
    "gcp:projects/iAMMember:IAMMember": _force_new(
        "tpgiamresource/resource_iam_member.go", "google_project_iam", "member", "role", "project"),
    "tls:index/privateKey:PrivateKey": tuple(
        (path, "terraform-provider-tls internal/provider/resource_private_key.go: every attribute "
               "RequiresReplace (https://registry.terraform.io/providers/hashicorp/tls/latest/docs/"
               "resources/private_key)")
        for path in ("algorithm", "ecdsaCurve", "rsaBits")),
}
# Every Kubernetes object: a new name or namespace is another object (pulumi-kubernetes
# provider/pkg/provider/provider.go, forceNewProperties: metadata.name, metadata.namespace).
KUBERNETES = tuple((path, "pulumi-kubernetes provider/pkg/provider/provider.go: forceNewProperties "
                          f"({path}); https://www.pulumi.com/registry/packages/kubernetes/")
                   for path in ("metadata.name", "metadata.namespace"))

# Risk classes, in the order they are reported.
CLASSES = {
    "protected-delete": "a protected resource is deleted",
    "protected-replace": "a protected resource is replaced",
    "protect-changed": "`protect` changes",
    "replacement": "an input change forces replacement",
    "namespace-deleted": "an environment namespace is deleted (its workloads go with it)",
    "dns-removed": "a DNS record is removed",
    "dns-retargeted": "a DNS record points elsewhere",
    "tls-lowered": "TLS minimum version or mode lowered",
    "token-dropped": "a route no longer requires a token",
    "public-path": "a public path (no token) is added",
    "audience-shared": "an audience is in more than one stack",
    "quota-raised": "a quota is raised past its threshold",
}
DEFAULT_BLOCKING = ("protected-delete",)

# A quota above these (ResourceQuota spec.hard) is reported when raised.
QUOTA_THRESHOLDS = {"requests.cpu": "8", "requests.memory": "32Gi", "pods": "100"}

TLS_VERSIONS = ["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]
TLS_MODES = ["PASSTHROUGH", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]

def replacing_inputs(resource_type: str, replace_on_changes: list[str] | None = None
                     ) -> list[tuple[str, str]]:
    """(input path, citation) of every input of ``resource_type`` whose change replaces it."""
    entries = list(REPLACES.get(resource_type, ()))
    if resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:helm"):
        entries += KUBERNETES
    entries += [(path, "the program's replaceOnChanges") for path in replace_on_changes or []
                if path != "*"]
    return entries


def at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
