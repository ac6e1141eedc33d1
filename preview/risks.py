"""What a reviewer of a revision diff must not miss: the one table of replacement-forcing inputs,
and the risk classes ``preview.revdiff`` reports, first, in words.

Each entry of ``REPLACES`` is an input path (camelCase, as the plan's ``inputs`` spell it) whose
change makes the provider destroy and re-create the resource, with the documentation or source
it comes from. terraform-provider-google marks such fields ``ForceNew: true`` in its schema
(``google/services/<service>/resource_*.go``); the Pulumi GCP provider is bridged from it, so the
same fields replace. A resource's own ``replaceOnChanges`` (from the program) counts as well.
"""

from __future__ import annotations

from typing import Any

TF_GOOGLE = "terraform-provider-google"
_DOCS = "https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/"

# type -> ((input path, citation), ...). A path names a nested input (``a.b``); the whole value
# under it is compared.
REPLACES: dict[str, tuple[tuple[str, str], ...]] = {
    "gcp:container/cluster:Cluster": tuple(
        (path, f"{TF_GOOGLE} google/services/container/resource_container_cluster.go: {field} "
               f"ForceNew ({_DOCS}container_cluster)")
        for path, field in (
            ("name", "name"), ("location", "location"), ("project", "project"),
            ("network", "network"), ("subnetwork", "subnetwork"),
            ("privateClusterConfig.masterIpv4CidrBlock", "private_cluster_config.master_ipv4_cidr_block"),
            ("ipAllocationPolicy", "ip_allocation_policy"))),
    "gcp:container/nodePool:NodePool": tuple(
        (path, f"{TF_GOOGLE} google/services/container/resource_container_node_pool.go: {path} "
               f"ForceNew ({_DOCS}container_node_pool)")
        for path in ("name", "cluster", "location", "project")),
    "gcp:dns/managedZone:ManagedZone": tuple(
        (path, f"{TF_GOOGLE} google/services/dns/resource_dns_managed_zone.go: {field} ForceNew "
               f"({_DOCS}dns_managed_zone)")
        for path, field in (("name", "name"), ("dnsName", "dns_name"), ("project", "project"),
                            ("visibility", "visibility"))),
    "gcp:dns/recordSet:RecordSet": tuple(
        (path, f"{TF_GOOGLE} google/services/dns/resource_dns_record_set.go: {field} ForceNew "
               f"({_DOCS}dns_record_set)")
        for path, field in (("name", "name"), ("type", "type"), ("managedZone", "managed_zone"),
                            ("project", "project"))),
    "gcp:compute/address:Address": tuple(
        (path, f"{TF_GOOGLE} google/services/compute/resource_compute_address.go: {field} ForceNew "
               f"({_DOCS}compute_address)")
        for path, field in (("name", "name"), ("region", "region"), ("project", "project"),
                            ("addressType", "address_type"), ("networkTier", "network_tier"),
                            ("address", "address"))),
    "gcp:compute/subnetwork:Subnetwork": (
        *((path, f"{TF_GOOGLE} google/services/compute/resource_compute_subnetwork.go: {path} "
                 f"ForceNew ({_DOCS}compute_subnetwork)")
          for path in ("name", "network", "region", "project")),
        ("ipCidrRange", f"{TF_GOOGLE} google/services/compute/resource_compute_subnetwork.go: "
                        "ip_cidr_range, ForceNew unless the range is only expanded "
                        f"(CustomizeDiff isShrinkageIpCidr) ({_DOCS}compute_subnetwork)")),
    "gcp:compute/network:Network": tuple(
        (path, f"{TF_GOOGLE} google/services/compute/resource_compute_network.go: {field} ForceNew "
               f"({_DOCS}compute_network)")
        for path, field in (("name", "name"), ("project", "project"),
                            ("autoCreateSubnetworks", "auto_create_subnetworks"))),
    "gcp:compute/router:Router": tuple(
        (path, f"{TF_GOOGLE} google/services/compute/resource_compute_router.go: {path} ForceNew "
               f"({_DOCS}compute_router)")
        for path in ("name", "network", "region", "project")),
    "gcp:compute/routerNat:RouterNat": tuple(
        (path, f"{TF_GOOGLE} google/services/compute/resource_compute_router_nat.go: {path} "
               f"ForceNew ({_DOCS}compute_router_nat)")
        for path in ("name", "router", "region", "project")),
    "gcp:compute/firewall:Firewall": tuple(
        (path, f"{TF_GOOGLE} google/services/compute/resource_compute_firewall.go: {path} ForceNew "
               f"({_DOCS}compute_firewall)")
        for path in ("name", "network", "project", "direction")),
    "gcp:serviceaccount/account:Account": tuple(
        (path, f"{TF_GOOGLE} google/services/resourcemanager/resource_google_service_account.go: "
               f"{field} ForceNew ({_DOCS}google_service_account)")
        for path, field in (("accountId", "account_id"), ("project", "project"))),
    "gcp:projects/iAMMember:IAMMember": tuple(
        (path, f"{TF_GOOGLE} google/tpgiamresource/resource_iam_member.go: {path} ForceNew "
               f"({_DOCS}google_project_iam)")
        for path in ("member", "role", "project")),
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

_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (``4``, ``500m``, ``8Gi``) as a number; None when unreadable."""
    text = str(value)
    for unit in sorted(_UNITS, key=len, reverse=True):
        if unit and text.endswith(unit):
            number, scale = text[:-len(unit)], _UNITS[unit]
            break
    else:
        number, scale = text, 1
    try:
        return float(number) * scale
    except ValueError:
        return None


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
