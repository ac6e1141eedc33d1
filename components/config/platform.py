"""``istio-envs:platform`` (the owner stack): the models of the platform, what each key means (and
what changing it replaces), the rules across its keys, and the values derived from them (the
zone's name and CAA issuers, the certificate's names)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal, Self, TypeAlias

from pydantic import Field, InstanceOf, model_validator
from pydantic.json_schema import SkipJsonSchema

from . import types as t
from .certificates import CertificateFacts
from .mesh import MeshConfig
from .types import DNS_LABEL, DNS_LABEL_RULE, Derived, Int, Model, refuse, show

ACME_SERVERS = {"staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
                "production": "https://acme-v02.api.letsencrypt.org/directory"}
ACME_CAA_ISSUER = "letsencrypt.org"  # the CAA issuer domain of the automatic source's CA


class AuthorizedNetwork(Model):
    """A range allowed to reach the control plane's IP endpoint."""

    name: t.Text
    """A label."""
    cidr: t.ControlPlaneCidr
    """The range (`0.0.0.0/0` refused)."""


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RFC 5545, as GKE's RRULE takes them
# GKE refuses a window with less than 48 hours in any 32 days, counting stretches of 4 hours or
# more; a weekly day occurs at least 4 times in 32 days.
# https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions#maintenance-window
MAINTENANCE_HOURS_PER_32_DAYS = 48


class MaintenanceWindow(Model):
    """When GKE may upgrade and repair the cluster, weekly in UTC (the provider requires a window).
    GKE needs at least 48 hours in any 32 days, in stretches of 4 hours or more: days × hours ≥ 12.
    Minor upgrades also wait for the Istio pin (a maintenance exclusion)."""

    days: Annotated[tuple[Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"], ...], t.Unique] = Field(
        ("SA", "SU"), min_length=1)
    """The window's weekdays, unique."""
    start: t.HHMM = "02:00"
    """When it starts, `HH:MM` in UTC."""
    hours: Annotated[t.Integer, Int(4, 24)] = 8
    """How long it lasts, 4 to 24 hours."""

    @property
    def recurrence(self) -> str:
        return "FREQ=WEEKLY;BYDAY=" + ",".join(day for day in WEEKDAYS if day in self.days)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        hours = len(self.days) * self.hours * 4
        if hours < MAINTENANCE_HOURS_PER_32_DAYS:
            refuse(("", f"got {len(self.days)} day(s) of {self.hours} h a week, at least {hours} h in "
                        f"32 days; GKE expects at least {MAINTENANCE_HOURS_PER_32_DAYS} h in any 32 "
                        "days (more days or hours)"))
        return self


class ClusterConfig(Model):
    """The GKE cluster and its node pool."""

    name: t.DnsLabel = "nonprod"
    """GKE cluster name (prefix of its network, router, service account). **Changing it replaces the
    cluster, node pool, network, subnetwork, router, NAT, firewall, ingress address and the node
    service account with its grants**: a plain `pulumi up` cannot (see "Changes a running platform
    cannot take in place"); it is the new name of a deliberate rebuild."""
    regional: t.Flag = True
    """Regional control plane (HA); `false` = zonal in `zones[0]`, cheaper, upgrades take the API
    down. **Changing it replaces the cluster and its node pool**: a plain `pulumi up` cannot (see
    "Changes a running platform cannot take in place")."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    """`RAPID`, `REGULAR` or `STABLE`."""
    machine_type: t.MachineType = "e2-standard-4"
    """Node shape, updated in place (GKE recreates the nodes, surge one at a time)."""
    disk_size_gb: Annotated[t.Integer, Int(20, 2000)] = 50
    """Node disk, updated in place (GKE recreates the nodes, surge one at a time)."""
    min_nodes_per_zone: Annotated[t.Integer, Int(0, 100)] = 1
    """Autoscaling lower bound per zone (min ≤ max), updated in place. The pool's initial size is
    taken from it at creation only (`ignoreChanges`)."""
    max_nodes_per_zone: Annotated[t.Integer, Int(1, 100)] = 3
    """Autoscaling upper bound per zone (max ≥ 1), updated in place."""
    spot: t.Flag = False
    """Spot nodes are cheap and can vanish. **Changing it replaces the node pool** (a new pool is
    created before the old one is drained and deleted)."""
    authorized_networks: tuple[AuthorizedNetwork, ...]
    """Allowed to reach the control plane's IP endpoint; empty only with `privateEndpoint`. The
    DNS-based endpoint Pulumi uses is authorized by IAM, whatever the caller's address."""
    private_endpoint: t.Flag = False
    """The IP endpoint has no public address (reachable only inside the VPC); Pulumi and CI keep
    working through the DNS-based endpoint."""
    master_cidr: t.PrivateCidr = "172.16.0.0/28"
    """The control plane's private /28. **Changing it replaces the cluster**: a plain `pulumi up`
    cannot (see "Changes a running platform cannot take in place")."""
    nodes_cidr: t.PrivateCidr = "10.10.0.0/20"
    """The node subnetwork. Expanding it (a larger range holding the old one) is an in-place update;
    **any other change replaces the subnetwork the cluster runs in**: a plain `pulumi up` cannot (see
    "Changes a running platform cannot take in place")."""
    pods_cidr: t.PrivateCidr = "10.20.0.0/14"
    """The subnetwork's secondary range for pods. All four ranges are private and disjoint. **GCP
    refuses to change a range the cluster uses**: a plain `pulumi up` cannot (see "Changes a running
    platform cannot take in place")."""
    services_cidr: t.PrivateCidr = "10.24.0.0/20"
    """The subnetwork's secondary range for Services. All four ranges are private and disjoint.
    **GCP refuses to change a range the cluster uses**: a plain `pulumi up` cannot (see "Changes a
    running platform cannot take in place")."""
    deletion_protection: t.Flag = True
    """GKE refuses to delete the cluster while set. Turning it off is the first step of a deliberate
    teardown."""
    rbac_security_group: t.RbacGroup | None = None
    """Google Groups for RBAC: `gke-security-groups@<domain>`. Without it you bind roles to
    individual users (CKV_GCP_65 not met)."""
    intranode_visibility: t.Flag = False
    """Pod-to-pod traffic on one node goes through the VPC and its flow logs (CKV_GCP_61); costs
    flow-log volume."""
    maintenance_window: MaintenanceWindow = MaintenanceWindow()

    @model_validator(mode="after")
    def _rules(self) -> Self:
        found = []
        if not self.authorized_networks and not self.private_endpoint:
            found.append(("authorizedNetworks", "got an empty list; expected at least one CIDR allowed "
                          "to reach the public control plane endpoint (or set privateEndpoint: true)"))
        if self.min_nodes_per_zone > self.max_nodes_per_zone:
            found.append(("minNodesPerZone", f"got {self.min_nodes_per_zone}, more than maxNodesPerZone "
                          f"{self.max_nodes_per_zone}; expected min <= max"))
        if ipaddress.ip_network(self.master_cidr).prefixlen != 28:
            found.append(("masterCidr", f"got {show(self.master_cidr)}; GKE expects a /28"))
        ranges = {"masterCidr": self.master_cidr, "nodesCidr": self.nodes_cidr,
                  "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr}
        names = list(ranges)
        found += [(b, f"got {show(ranges[b])}, which overlaps {a} {ranges[a]}; expected disjoint ranges")
                  for i, a in enumerate(names) for b in names[i + 1:]
                  if ipaddress.ip_network(ranges[a]).overlaps(ipaddress.ip_network(ranges[b]))]
        refuse(*found)
        return self


class DnsConfig(Model):
    """The DNS zone of the environments' hosts."""

    zone: Literal["create", "existing"] = "create"
    """`create` a public zone for `api.<domain>.` with DNSSEC and a CAA record (the zone of
    `<domain>` delegates it), or use an `existing` one serving `api.<domain>.` or `<domain>.` (its
    records, CAA and DNSSEC stay yours)."""
    zone_domain: Literal["api", "apex"] = "api"
    """Created zones: the name the zone serves, `api` (`api.<domain>.`) or `apex` (`<domain>.`, the
    whole domain: for a zone deployed so before, kept as it is; see "Moving a deployed zone")."""
    zone_name: t.DnsLabel = Field("", json_schema_extra=Derived(
        "created: the name it serves with `-` for `.` (`api-example-com`); existing: the domain's "
        "(`example-com`)"))
    """The managed zone's name. Changing it for a created zone replaces the zone and every record in
    it (refused for a deployed zone)."""
    caa_issuers: tuple[t.Domain, ...] = Field((), json_schema_extra=Derived(
        "`acme`: `[letsencrypt.org]`; `self-signed`: none may issue"))
    """Created zones: CA domains allowed to issue for the zone's names (`issue` and `issuewild` at
    its name). Required with `provided` (the CA that issues your certificate)."""
    released_zone: t.DnsLabel | None = None
    """Created zones, moving a deployed zone (see "Moving a deployed zone"): the deployed zone's
    name; with its own `zoneDomain` it is released (unprotected, kept in Cloud DNS when it leaves
    the stack), then with the new one the new zone replaces it."""

    def served_domain(self, platform: PlatformConfig) -> str:
        """The name a created zone serves: ``api.<domain>`` or the apex ``<domain>``."""
        return platform.api_domain if self.zone_domain == "api" else platform.domain


class AcmeConfig(Model):
    """`acme` only: the Let's Encrypt account."""

    email: t.Email
    """Let's Encrypt account email."""
    server: Literal["staging", "production"] = "staging"
    """`staging` (untrusted, generous limits) or `production`."""

    @property
    def directory_url(self) -> str:
        return ACME_SERVERS[self.server]


class _Certificate(Model):
    """What every TLS source ends in, derived: the names of the gateway's certificate (by
    PlatformConfig) and a provided certificate (by StackKeys). The builders are tls.py's."""

    dns_names: SkipJsonSchema[tuple[str, ...]] = Field((), strict=True, exclude=True)
    certificate: SkipJsonSchema[InstanceOf[CertificateFacts] | None] = Field(None, exclude=True)
    needs_cert_manager: ClassVar[bool] = False

    @property
    def provided_certificate_pem(self) -> str | None:
        return self.certificate.chain if self.certificate else None

    @property
    def not_after(self) -> str | None:
        return f"{self.certificate.not_after:%Y-%m-%d}" if self.certificate else None

    @property
    def lifetime(self) -> dict[str, int] | None:
        """For reviewers: how long the certificate lives and when it is renewed (None: by hand)."""
        days = getattr(self, "validity_days", None)
        return None if days is None else {"validityDays": days, "renewBeforeDays": getattr(self, "early_renewal_days", 0)}


class SelfSignedTls(_Certificate):
    source: Literal["self-signed"]
    validity_days: Annotated[t.Integer, Int(1, 825)] = 90
    """`self-signed` only: the leaf's lifetime in days. Changing it replaces the certificate and the
    CA's (whose lifetime is a number of leaves): the Gateway serves a new certificate."""
    early_renewal_days: Annotated[t.Integer, Int(0, 824)] = 30
    """`self-signed` only: the renewal window in days before the leaf expires; a `pulumi up` inside
    it issues a new leaf and the Secret follows."""

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.early_renewal_days >= self.validity_days:
            refuse(("earlyRenewalDays", f"got {self.early_renewal_days}; expected fewer days than "
                                        f"validityDays ({self.validity_days})"))
        return self


class ProvidedTls(_Certificate):
    source: Literal["provided"]
    expiry_warning_days: Annotated[t.Integer, Int(0, 365)] = 30
    """`provided` only: refuse a certificate that expires within this many days."""


class AcmeTls(_Certificate):
    source: Literal["acme"]
    acme: AcmeConfig
    needs_cert_manager: ClassVar[bool] = True
    validity_days: ClassVar[int] = 90  # Let's Encrypt's certificates
    early_renewal_days: ClassVar[int] = 30  # cert-manager renews a third before expiry


TlsConfig: TypeAlias = SelfSignedTls | ProvidedTls | AcmeTls


class BinaryAuthorizationConfig(Model):
    """The project's Binary Authorization policy (a project singleton)."""

    enforcement: Literal["dry-run", "enforce"] = "dry-run"
    """The default rule: `dry-run` writes what it would block to the audit log and blocks nothing;
    `enforce` blocks. Google's system images and the charts' registries (`docker.io/istio/*`,
    `quay.io/jetstack/*`) always pass."""
    attestors: tuple[t.Attestor, ...] = ()
    """`projects/<p>/attestors/<name>`: with attestors the default rule requires their attestation;
    without, it denies (in dry-run: logs) every image not allowlisted. **The policy is one per
    project**: one platform per project."""
    allowlist: tuple[t.ImagePattern, ...] = ()
    """More image patterns admitted without attestation, `registry/path/*` (your own registry,
    before you have attestors and switch to `enforce`)."""


class PlatformConfig(Model):
    """The owner stack: the platform it declares (GCP project, cluster, DNS, certificate)."""

    project: t.GcpProject
    """GCP project id (an explicit provider: no ambient gcloud default decides). **Changing it after
    creation replaces every resource of the platform**: a plain `pulumi up` cannot (see "Changes a
    running platform cannot take in place")."""
    region: t.GcpRegion
    """GCP region. **Changing it replaces the cluster, its node pool, subnetwork, router, NAT and
    ingress address**: a plain `pulumi up` cannot (see "Changes a running platform cannot take in
    place")."""
    zones: Annotated[tuple[t.GcpZone, ...], t.Unique] = Field(min_length=1)
    """Zones of the region the node pool spreads over."""
    domain: t.Domain
    """Hosts are `<env>.api.<domain>`. Changing it replaces the DNS zone and every record in it
    (refused for a deployed zone: see "Moving a deployed zone"), and the certificate for the new
    names."""
    cluster: ClusterConfig
    dns: DnsConfig = DnsConfig()
    tls: Annotated[TlsConfig, Field(discriminator="source")]
    """The gateway's wildcard certificate, by its `source`: `self-signed` (pulumi-tls CA + wildcard
    leaf), `provided` (your certificate) or `acme` (Let's Encrypt through cert-manager, DNS-01 on
    Cloud DNS). Each source takes only its own keys."""
    binary_authorization: BinaryAuthorizationConfig = BinaryAuthorizationConfig()
    mesh: MeshConfig = MeshConfig()

    @property
    def cluster_location(self) -> str:
        """The control plane's location: the region, or the first zone of a zonal cluster."""
        return self.region if self.cluster.regional else self.zones[0]

    @property
    def cluster_identifier(self) -> str:
        """What every Kubernetes provider of this platform calls the cluster: stable across CA
        rotations and endpoint changes (components/cluster.py)."""
        return f"{self.project}/{self.cluster_location}/{self.cluster.name}"

    @property
    def api_domain(self) -> str:
        """The parent of every environment host: ``<env>.api.<domain>``."""
        return f"api.{self.domain}"

    def host_for(self, environment: str) -> str:
        return f"{environment}.{self.api_domain}"

    @model_validator(mode="after")
    def _rules(self) -> Self:
        found = [(f"zones[{i}]", f"got {show(zone)}; expected a zone of region {self.region} such as "
                  f"{self.region}-b") for i, zone in enumerate(self.zones)
                 if not re.fullmatch(rf"{re.escape(self.region)}-[a-z]", zone)]
        dns, source, given = self.dns, self.tls.source, self.dns.model_fields_set
        create = dns.zone == "create"
        if "caa_issuers" in given and not create:
            found.append(("dns.caaIssuers", "set, but dns.zone is existing (its records are yours to "
                                            "manage); expected no caaIssuers"))
        elif "caa_issuers" in given and source == "acme" and ACME_CAA_ISSUER not in dns.caa_issuers:
            found.append(("dns.caaIssuers", f"got {show(list(dns.caa_issuers))}; tls.source is acme, "
                                            f"so expected a list that includes {ACME_CAA_ISSUER}"))
        elif "caa_issuers" not in given and create and source == "provided":
            found.append(("dns.caaIssuers", "missing; the zone is created with a CAA record and "
                          "tls.source is provided, so expected the CA domain(s) that issue your "
                          "certificate, such as [digicert.com]"))
        zone_name = dns.zone_name if "zone_name" in given else \
            (dns.served_domain(self) if create else self.domain).replace(".", "-")
        if not DNS_LABEL.match(zone_name):
            found.append(("dns.zoneName", f"missing, and the default {show(zone_name)} (the name the "
                          f"zone serves with - for .) is not a Cloud DNS managed zone name, which is "
                          f"{DNS_LABEL_RULE}; expected a zoneName"))
        found += [(f"dns.{alias}", f"set, but dns.zone is existing (the looked-up zone may serve "
                   f"{self.api_domain} or {self.domain}); expected no {alias}")
                  for name, alias in (("zone_domain", "zoneDomain"), ("released_zone", "releasedZone"))
                  if name in given and not create]
        released = dns.released_zone
        # With its own zoneDomain the deployed zone is released (same name); with the new one, the
        # new zone needs another name: the released zone stays in Cloud DNS, and names are unique.
        if released is not None and create and dns.zone_domain == "apex" and released != zone_name:
            found.append(("dns.releasedZone", f"got {show(released)}, but this stack's zone is "
                          f"{show(zone_name)} (zoneDomain apex); expected {show(zone_name)} to release it"))
        elif released is not None and create and dns.zone_domain == "api" and released == zone_name:
            found.append(("dns.releasedZone", f"got {show(released)}, the name of the zone for "
                          f"{self.api_domain} too; expected the deployed zone's name, and a zoneName "
                          "other than it (the released zone stays in Cloud DNS)"))
        refuse(*found)
        # Derived: the zone's name and CAA issuers (acme: Let's Encrypt; self-signed: no public CA
        # may issue at all); the wildcard's names cover exactly one label, every <env>.api.<domain>.
        issuers = dns.caa_issuers if "caa_issuers" in given else (ACME_CAA_ISSUER,) if source == "acme" else ()
        names = self.tls.certificate.names if self.tls.certificate else (f"*.{self.api_domain}",)
        return self.model_copy(update={"dns": dns.model_copy(update={"zone_name": zone_name, "caa_issuers": issuers}),
                                       "tls": self.tls.model_copy(update={"dns_names": names})})
