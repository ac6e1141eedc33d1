"""``istio-envs:platform`` (the owner stack): the models of the platform, the rules across its
keys, and the values derived from them (the zone's name and CAA issuers, the certificate's names)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal, Self, TypeAlias

from pydantic import Field, InstanceOf, model_validator
from pydantic.json_schema import SkipJsonSchema

from . import types as t
from .certificates import CertificateFacts
from .environment import Model, derived, refuse
from .types import DNS_LABEL, DNS_LABEL_RULE, Int, show

ACME_SERVERS = {"staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
                "production": "https://acme-v02.api.letsencrypt.org/directory"}
ACME_CAA_ISSUER = "letsencrypt.org"  # the CAA issuer domain of the automatic source's CA


class AuthorizedNetwork(Model):
    name: t.Name
    cidr: t.ControlPlaneCidr


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RFC 5545, as GKE's RRULE takes them
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
# GKE refuses a window with less than 48 hours in any 32 days, counting stretches of 4 hours or
# more; a weekly day occurs at least 4 times in 32 days.
# https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions#maintenance-window
MAINTENANCE_HOURS_PER_32_DAYS = 48
WEEKLY_OCCURRENCES_IN_32_DAYS = 4


class MaintenanceWindow(Model):
    """When GKE may upgrade and repair the cluster: weekly, in UTC (the provider requires a window)."""

    days: tuple[Weekday, ...] = Field(("SA", "SU"), min_length=1)
    start: t.HHMM = "02:00"
    hours: Annotated[t.Integer, Int(4, 24)] = 8

    @property
    def recurrence(self) -> str:
        return "FREQ=WEEKLY;BYDAY=" + ",".join(day for day in WEEKDAYS if day in self.days)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        hours = len(self.days) * self.hours * WEEKLY_OCCURRENCES_IN_32_DAYS
        if len(set(self.days)) != len(self.days):
            refuse(("days", f"got {show(list(self.days))}; days must be unique"))
        elif hours < MAINTENANCE_HOURS_PER_32_DAYS:
            refuse(("", f"got {len(self.days)} day(s) of {self.hours} h a week, at least {hours} h in "
                        f"32 days; GKE expects at least {MAINTENANCE_HOURS_PER_32_DAYS} h in any 32 "
                        "days (more days or hours)"))
        return self


class ClusterConfig(Model):
    """The GKE cluster and its node pool."""

    name: t.ClusterName = "nonprod"
    regional: t.Flag = True
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    machine_type: t.MachineType = "e2-standard-4"
    disk_size_gb: Annotated[t.Integer, Int(20, 2000)] = 50
    min_nodes_per_zone: Annotated[t.Integer, Int(0, 100)] = 1
    max_nodes_per_zone: Annotated[t.Integer, Int(1, 100)] = 3
    spot: t.Flag = False
    authorized_networks: tuple[AuthorizedNetwork, ...]
    private_endpoint: t.Flag = False
    master_cidr: t.PrivateCidr = "172.16.0.0/28"
    nodes_cidr: t.PrivateCidr = "10.10.0.0/20"
    pods_cidr: t.PrivateCidr = "10.20.0.0/14"
    services_cidr: t.PrivateCidr = "10.24.0.0/20"
    deletion_protection: t.Flag = True
    rbac_security_group: t.RbacGroup | None = None
    intranode_visibility: t.Flag = False
    maintenance_window: MaintenanceWindow = Field(MaintenanceWindow())

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
    zone: Literal["create", "existing"] = "create"
    zone_domain: Literal["api", "apex"] = "api"
    zone_name: t.ManagedZoneName = Field("", json_schema_extra=derived(
        "created: the name the zone serves with its dots as dashes (api-example-com); existing: the "
        "domain's (example-com)"))
    caa_issuers: tuple[t.Domain, ...] = Field((),
        json_schema_extra=derived("acme: [letsencrypt.org]; self-signed: none may issue"))
    released_zone: t.ManagedZoneName | None = None

    @property
    def mode(self) -> str:
        return self.zone

    def served_domain(self, platform: PlatformConfig) -> str:
        """The name a created zone serves: ``api.<domain>`` or the apex ``<domain>``."""
        return platform.api_domain if self.zone_domain == "api" else platform.domain


class AcmeConfig(Model):
    email: t.Email
    server: Literal["staging", "production"] = "staging"

    @property
    def directory_url(self) -> str:
        return ACME_SERVERS[self.server]


class _Certificate(Model):
    """What every TLS source ends in: the names of the gateway's certificate (derived by
    PlatformConfig), and each source's facts (decided here; the builders are in tls.py)."""

    dns_names: SkipJsonSchema[tuple[str, ...]] = Field((), strict=True, exclude=True)
    certificate: SkipJsonSchema[InstanceOf[CertificateFacts] | None] = Field(None, exclude=True)
    """Derived: a provided certificate, as StackKeys read it from istio-envs:tlsCertificate."""
    needs_cert_manager: ClassVar[bool] = False
    renewed_by_pulumi: ClassVar[bool] = True

    @property
    def provided_certificate_pem(self) -> str | None:
        return self.certificate.chain if self.certificate else None

    @property
    def not_after(self) -> str | None:
        return f"{self.certificate.not_after:%Y-%m-%d}" if self.certificate else None

    @property
    def lifetime(self) -> dict[str, int] | None:
        """For reviewers: how long the certificate lives and when it is renewed."""
        if not self.renewed_by_pulumi:
            return None
        return {"validityDays": getattr(self, "validity_days"),  # noqa: B009 - each variant's
                "renewBeforeDays": getattr(self, "early_renewal_days")}  # noqa: B009


class SelfSignedTls(_Certificate):
    source: Literal["self-signed"]
    validity_days: Annotated[t.Integer, Int(1, 825)] = 90
    early_renewal_days: Annotated[t.Integer, Int(0, 824)] = 30
    acme: ClassVar[None] = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.early_renewal_days >= self.validity_days:
            refuse(("earlyRenewalDays", f"got {self.early_renewal_days}; expected fewer days than "
                                        f"validityDays ({self.validity_days})"))
        return self


class ProvidedTls(_Certificate):
    source: Literal["provided"]
    expiry_warning_days: Annotated[t.Integer, Int(0, 365)] = 30
    renewed_by_pulumi: ClassVar[bool] = False
    acme: ClassVar[None] = None

    @property
    def validity_days(self) -> int:
        return self.certificate.lifetime_days if self.certificate else 0

    @property
    def early_renewal_days(self) -> int:
        return self.expiry_warning_days  # renew it (by hand) before the warning window


class AcmeTls(_Certificate):
    source: Literal["acme"]
    acme: AcmeConfig  # type: ignore[assignment]
    needs_cert_manager: ClassVar[bool] = True
    validity_days: ClassVar[int] = 90  # Let's Encrypt's certificates
    early_renewal_days: ClassVar[int] = 30  # cert-manager renews a third before expiry


TlsConfig: TypeAlias = SelfSignedTls | ProvidedTls | AcmeTls
TLS_SOURCES = ("self-signed", "provided", "acme")


class BinaryAuthorizationConfig(Model):
    """The project's Binary Authorization policy (a project singleton)."""

    enforcement: Literal["dry-run", "enforce"] = "dry-run"
    attestors: tuple[t.Attestor, ...] = ()
    allowlist: tuple[t.ImagePattern, ...] = ()


class PlatformConfig(Model):
    """``istio-envs:platform`` (the owner stack): GCP project, cluster, DNS, certificate."""

    project: t.GcpProject
    region: t.GcpRegion
    zones: tuple[t.GcpZone, ...] = Field(min_length=1)
    domain: t.Domain
    cluster: ClusterConfig
    dns: DnsConfig = DnsConfig()
    tls: Annotated[TlsConfig, Field(discriminator="source")]
    binary_authorization: BinaryAuthorizationConfig = BinaryAuthorizationConfig()

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

    def default_zone_name(self) -> str:
        """Created: the name it serves with - for . (``api-example-com``); existing: the domain's."""
        dns = self.dns
        return (dns.served_domain(self) if dns.zone == "create" else self.domain).replace(".", "-")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        found = [(f"zones[{i}]", f"got {show(zone)}; expected a zone of region {self.region} such as "
                  f"{self.region}-b") for i, zone in enumerate(self.zones)
                 if not re.fullmatch(rf"{re.escape(self.region)}-[a-z]", zone)]
        if len(set(self.zones)) != len(self.zones):
            found.append(("zones", f"got {show(list(self.zones))}; zones must be unique"))
        dns, source, given = self.dns, self.tls.source, self.dns.model_fields_set
        if "caa_issuers" in given and dns.zone != "create":
            found.append(("dns.caaIssuers", "set, but dns.zone is existing (its records are yours to "
                                            "manage); expected no caaIssuers"))
        elif "caa_issuers" in given and source == "acme" and ACME_CAA_ISSUER not in dns.caa_issuers:
            found.append(("dns.caaIssuers", f"got {show(list(dns.caa_issuers))}; tls.source is acme, "
                                            f"so expected a list that includes {ACME_CAA_ISSUER}"))
        elif "caa_issuers" not in given and dns.zone == "create" and source == "provided":
            found.append(("dns.caaIssuers", "missing; the zone is created with a CAA record and "
                          "tls.source is provided, so expected the CA domain(s) that issue your "
                          "certificate, such as [digicert.com]"))
        zone_name = dns.zone_name if "zone_name" in given else self.default_zone_name()
        if not DNS_LABEL.match(zone_name):
            found.append(("dns.zoneName", f"missing, and the default {show(zone_name)} (the name the "
                          f"zone serves with - for .) is not a Cloud DNS managed zone name, which is "
                          f"{DNS_LABEL_RULE}; expected a zoneName"))
        found += [(f"dns.{alias}", f"set, but dns.zone is existing (the looked-up zone may serve "
                   f"{self.api_domain} or {self.domain}); expected no {alias}")
                  for name, alias in (("zone_domain", "zoneDomain"), ("released_zone", "releasedZone"))
                  if name in given and dns.zone != "create"]
        released = dns.released_zone
        # With its own zoneDomain the deployed zone is released (same name); with the new one, the
        # new zone needs another name: the released zone stays in Cloud DNS, and names are unique.
        if released is not None and dns.zone == "create" and dns.zone_domain == "apex" \
                and released != zone_name:
            found.append(("dns.releasedZone", f"got {show(released)}, but this stack's zone is "
                          f"{show(zone_name)} (zoneDomain apex); expected {show(zone_name)} to release it"))
        elif released is not None and dns.zone == "create" and dns.zone_domain == "api" \
                and released == zone_name:
            found.append(("dns.releasedZone", f"got {show(released)}, the name of the zone for "
                          f"{self.api_domain} too; expected the deployed zone's name, and a zoneName "
                          "other than it (the released zone stays in Cloud DNS)"))
        refuse(*found)
        # Derived: the zone's name and CAA issuers (acme: Let's Encrypt; self-signed: no public CA
        # may issue at all); the wildcard's names cover exactly one label, every <env>.api.<domain>.
        defaults = {"zone_name": zone_name, "caa_issuers": dns.caa_issuers if "caa_issuers" in given
                    else (ACME_CAA_ISSUER,) if source == "acme" else ()}
        names = self.tls.certificate.names if self.tls.certificate else (f"*.{self.api_domain}",)
        return self.model_copy(update={"dns": dns.model_copy(update=defaults),
                                       "tls": self.tls.model_copy(update={"dns_names": names})})
