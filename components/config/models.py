"""The stack config's schema, declared once: frozen pydantic models whose fields are the keys
(camelCase in the stack file, snake_case here), their types (types.py) and defaults, and the
rules across keys as each model's ``model_validator``. A rule reports every problem of its model
at once (:func:`refuse`); values derived from other keys (the environment name, the zone name
and CAA issuers, the certificate's names and facts) are computed in validators, as fields the
file cannot set (strict, of types YAML has not). The JSON Schema for editors (schema.py) and the
README's tables (tested) come from the same models.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ..versions import ISTIO_SIDECAR_REQUESTS
from . import types as t
from .certificates import (
    CertificateFacts,
    Refused,
    check_client_ca,
    check_key_matches,
    host_covered,
    server_certificate,
)
from .types import DNS_LABEL, DNS_LABEL_RULE, Int, duration_ms, quantity_value, show

ACME_SERVERS = {"staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
                "production": "https://acme-v02.api.letsencrypt.org/directory"}
ACME_CAA_ISSUER = "letsencrypt.org"  # the CAA issuer domain of the automatic source's CA
# Namespaces an environment may never take: the cluster's and the mesh's own.
RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
     "gke-managed-system", "gmp-system", "gmp-public", "cert-manager"})


def refuse(*problems: tuple[str, str]) -> None:
    """Raise every broken rule of one model: (key relative to it, or ``/key`` from the top;
    message). messages.py reports each at its key."""
    if problems:
        raise PydanticCustomError("rules", "{message}", {"message": problems[0][1], "problems": problems})


def context(info: ValidationInfo, key: str, default: Any = None) -> Any:
    return (info.context or {}).get(key, default)


class Model(BaseModel):
    """Frozen; unknown keys refused; keys are the camelCase aliases of the fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel,
                              populate_by_name=True)


def derived(rule: str) -> Any:
    """JSON Schema of a field whose default is computed from other keys: the rule in words."""
    def extra(schema: dict) -> None:
        schema.pop("default", None)
        schema["description"] = f"{schema.get('description', '')} Default: {rule}.".lstrip()
    return extra


# --------------------------------------------------------------------------------------------
# istio-envs:environment


class Retries(Model):
    """How the gateway's proxy retries a failed request to this route's Service."""

    attempts: Annotated[t.Integer, Int(0, 10)] = Field(description="Retries after the first try (0: none).")
    per_try_timeout: t.Duration | None = Field(None, description="Each try's budget; at most the timeout.")
    retry_on: tuple[t.RetryOn, ...] = Field(
        ("connect-failure", "refused-stream", "unavailable", "cancelled"),
        description="Conditions that trigger a retry (Envoy's retry-on names, or status codes).")


class Route(Model):
    """One path prefix of the environment's host, routed to one of its Services."""

    path: t.UrlPath = Field(description="Path prefix starting with '/', unique in the routes.")
    service: t.ServiceName = Field(description="A Service of the environment's namespace.")
    port: t.Port = Field(description="The Service port.")
    timeout: t.Duration | None = Field(None, description="The route's time budget, retries included.")
    retries: Retries | None = Field(None, description="Retry policy (Istio's default: 2 attempts).")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        per_try = self.retries.per_try_timeout if self.retries else None
        if per_try and self.timeout and duration_ms(per_try) > duration_ms(self.timeout):
            refuse(("retries.perTryTimeout", f"got {show(per_try)}, longer than the route's timeout "
                    f"{self.timeout}; expected at most the timeout (no try could use it)"))
        return self


class JwtAuth(Model):
    """Tokens from ``issuer`` (keys at ``jwks_uri``) whose ``aud`` names one of ``audiences``."""

    issuer: t.HttpsUrl = Field(description="JWT issuer (https://).")
    jwks_uri: t.HttpsUrl = Field(description="JWKS URL (https://).")
    audiences: tuple[t.Audience, ...] = Field(
        min_length=1, description="Audiences a token must carry; unique across the stack files.")
    public_paths: tuple[t.UrlPath, ...] = Field((), description="Paths served without a token.")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if len(set(self.audiences)) != len(self.audiences):
            refuse(("audiences", f"got {show(list(self.audiences))}; audiences must be unique"))
        return self


class Quota(Model):
    """The environment namespace's ResourceQuota (requests) and pod count."""

    cpu: t.KubernetesQuantity = Field("4", description="requests.cpu of the namespace.")
    memory: t.KubernetesQuantity = Field("8Gi", description="requests.memory of the namespace.")
    pods: Annotated[t.Integer, Int(1, 10000)] = Field(40, description="Pod count of the namespace.")


class ClientTls(Model):
    """SIMPLE: server TLS only. MUTUAL: clients present a certificate of the environment's own
    client CA (self-signed: pulumi-tls makes it; provided: the PEM in clientCaCertificate)."""

    mode: Literal["SIMPLE", "MUTUAL"] = Field("SIMPLE", description="SIMPLE or MUTUAL.")
    client_ca: Literal["self-signed", "provided"] | None = Field(
        None, description="MUTUAL only: self-signed (pulumi-tls CA) or provided.")
    client_certificate_days: Annotated[t.Integer, Int(1, 825)] = Field(
        90, description="Self-signed client CA only: client certificate lifetime in days.")
    ca: SkipJsonSchema[InstanceOf[CertificateFacts] | None] = Field(None, exclude=True)
    """Derived: the provided client CA (istio-envs:clientCaCertificate), set by StackKeys."""

    @property
    def mutual(self) -> bool:
        return self.mode == "MUTUAL"

    @property
    def client_ca_source(self) -> str | None:
        return self.client_ca

    @property
    def client_ca_pem(self) -> str | None:
        return self.ca.chain if self.ca else None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        set_keys = self.model_fields_set
        if self.mode == "SIMPLE":
            refuse(*((alias, "set, but tls.mode is SIMPLE (no client certificates); expected "
                     f"tls.mode: MUTUAL or no {alias}") for name, alias in (
                ("client_ca", "clientCa"), ("client_certificate_days", "clientCertificateDays"))
                if name in set_keys))
        elif self.client_ca is None:
            refuse(("clientCa", "missing; tls.mode MUTUAL needs a client CA, expected one of "
                                "self-signed, provided"))
        elif self.client_ca == "provided" and "client_certificate_days" in set_keys:
            refuse(("clientCertificateDays", "set, but clientCa is provided (client certificates "
                                             "come from your CA); expected no clientCertificateDays"))
        return self


class EgressDestination(Model):
    """One destination outside the mesh the environment's workloads may call (the mesh refuses
    every other: outboundTrafficPolicy REGISTRY_ONLY)."""

    host: t.EgressHost = Field(description="A DNS name, or *.example.com for one label below it.")
    port: t.Port = Field(443, description="The destination port.")
    protocol: Literal["TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "TCP"] = Field(
        "TLS", description="The ServiceEntry port protocol.")

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")


# environment.demo's echo workload, stated once: its route and token-free health path, what its
# container requests (with the sidecar's, inside the namespace quota) and what it answers.
DEMO_ROUTE = Route(path="/demo", service="demo-echo", port=80)
DEMO_HEALTH_PATH = "/demo/health"
DEMO_REQUESTS = {"cpu": "10m", "memory": "16Mi"}
DEMO_LIMITS = {"cpu": "100m", "memory": "32Mi"}


def demo_text(environment: str) -> str:
    """What the demo answers: the environment's name, proof the response came from its namespace."""
    return f"istio-envs demo: {environment}"


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _duplicates(items: tuple, key: Any, where: str, what: str) -> list[tuple[str, str]]:
    seen: dict[Any, int] = {}
    found = []
    for i, item in enumerate(items):
        if key(item) in seen:
            found.append((where.format(i), f"got {what.format(item)} again (also "
                          f"{where.split('[')[0]}[{seen[key(item)]}])"))
        seen.setdefault(key(item), i)
    return found


class EnvironmentConfig(Model):
    """``istio-envs:environment``: the namespace, its routes, JWT policy, quota, client TLS,
    egress, owners and demo workload."""

    name: t.EnvironmentName = Field("", description="Environment name: namespace and host label; "
                                  "unique across the stack files.", json_schema_extra=derived("the stack name"))
    routes: tuple[Route, ...] = Field((), description="Path prefixes and their Services; at least "
                                                      "one, unless demo is true.")
    auth: JwtAuth
    quota: Quota = Quota()
    tls: ClientTls = ClientTls()
    egress: tuple[EgressDestination, ...] = Field(
        (), description="The only destinations outside the mesh its workloads may call.")
    owners: tuple[t.Owner, ...] = Field((), description="Google users or groups who may deploy into "
                                                      "the namespace (and get cluster credentials).")
    demo: t.Flag = Field(False, description=f"Deploy a pinned echo workload on {DEMO_ROUTE.path} (token "
                       f"required; {DEMO_HEALTH_PATH} without one), so make verify passes after pulumi up.")

    @model_validator(mode="before")
    @classmethod
    def _name_from_the_stack(cls, data: Any, info: ValidationInfo) -> Any:
        """Without ``name`` the stack name (from the file name) is the environment name."""
        stack = context(info, "stack")
        if not isinstance(data, dict) or "name" in data or stack is None:
            return data
        if not DNS_LABEL.match(stack) or stack in RESERVED_NAMESPACES:
            fixed = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", stack.lower())).strip("-")
            rename = (f"rename the file to Pulumi.{fixed}.yaml, or " if DNS_LABEL.match(fixed)
                      and fixed not in RESERVED_NAMESPACES else "")
            why = "a namespace of the cluster or the mesh" if stack in RESERVED_NAMESPACES else \
                f"not {DNS_LABEL_RULE}"
            refuse(("/", f"the stack name {show(stack)}, from the file name, is the environment name "
                    f"(istio-envs:environment.name is not set), and it is {why}; expected: {rename}"
                    "set istio-envs:environment.name"))
        return {**data, "name": stack}

    @property
    def namespace(self) -> str:
        return self.name  # one namespace per environment (the write-ups' "virtual cluster")

    @property
    def served_routes(self) -> tuple[Route, ...]:
        """The configured routes, and the demo's when it is on."""
        return self.routes + ((DEMO_ROUTE,) if self.demo else ())

    @property
    def served_public_paths(self) -> tuple[str, ...]:
        return self.auth.public_paths + ((DEMO_HEALTH_PATH,) if self.demo else ())

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        found: list[tuple[str, str]] = []
        if self.name in RESERVED_NAMESPACES:
            found.append(("name", f"got {show(self.name)}; that namespace belongs to the cluster or "
                                  "the mesh, choose another environment name"))
        found += [(k, m + "; each path prefix may be routed once") for k, m in _duplicates(
            self.routes, lambda r: r.path, "routes[{}].path", "{0.path!r}")]
        if not self.routes and not self.demo:
            found.append(("routes", "got no routes; expected at least one {path, service, port}, or "
                                    "demo: true for the demo workload alone"))
        for i, route in enumerate(self.routes if self.demo else ()):
            taken = "path" if route.path == DEMO_ROUTE.path else "service" \
                if route.service == DEMO_ROUTE.service else None
            if taken:
                found.append((f"routes[{i}].{taken}", f"got {show(getattr(route, taken))}; with demo: "
                              f"true the demo workload serves {DEMO_ROUTE.path} from Service "
                              f"{DEMO_ROUTE.service}: choose another {taken}, or set demo: false"))
        for resource in ("cpu", "memory"):
            have, sidecar = quantity_value(getattr(self.quota, resource)) or 0, ISTIO_SIDECAR_REQUESTS[resource]
            demo = DEMO_REQUESTS[resource]
            if self.demo and have < (quantity_value(demo) or 0) + (quantity_value(sidecar) or 0):
                found.append((f"quota.{resource}", f"got {show(getattr(self.quota, resource))}; the "
                              f"demo pod alone requests {demo} plus its sidecar's {sidecar}: expected at "
                              "least that, or demo: false"))
            elif have <= (quantity_value(sidecar) or 0):
                found.append((f"quota.{resource}", f"got {show(getattr(self.quota, resource))}, which "
                              f"holds no pod: each pod's sidecar alone requests {sidecar}; expected more"))
        for i, public in enumerate(self.auth.public_paths):
            if not any(_under(public, route.path) for route in self.served_routes):
                found.append((f"auth.publicPaths[{i}]", f"got {show(public)}; it is under no route, "
                              f"expected a path under one of {', '.join(r.path for r in self.served_routes)}"))
        found += [(k, m + "; expected each host and port once") for k, m in _duplicates(
            self.egress, lambda e: (e.host, e.port), "egress[{}]", "{0.host}:{0.port}")]
        found += [(k, m + "; expected each owner once") for k, m in _duplicates(
            self.owners, lambda o: o, "owners[{}]", "{0!r}")]
        refuse(*found)
        return self


# --------------------------------------------------------------------------------------------
# istio-envs:platform


class AuthorizedNetwork(Model):
    name: t.Name = Field(description="A label for the range.")
    cidr: t.ControlPlaneCidr = Field(description="A range allowed to reach the control plane's IP "
                                               "endpoint; never 0.0.0.0/0.")


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RFC 5545, as GKE's RRULE takes them
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
# GKE refuses a window with less than 48 hours in any 32 days, counting stretches of 4 hours or
# more; a weekly day occurs at least 4 times in 32 days.
# https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions#maintenance-window
MAINTENANCE_HOURS_PER_32_DAYS = 48
WEEKLY_OCCURRENCES_IN_32_DAYS = 4


class MaintenanceWindow(Model):
    """When GKE may upgrade and repair the cluster: weekly, in UTC (the provider requires a window)."""

    days: tuple[Weekday, ...] = Field(("SA", "SU"), min_length=1, description="Weekdays (MO ... SU).")
    start: t.HHMM = Field("02:00", description="Start of each day's window, UTC (HH:MM).")
    hours: Annotated[t.Integer, Int(4, 24)] = Field(8, description="Length of each day's window in hours.")

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

    name: t.ClusterName = Field("nonprod", description="GKE cluster name (prefix of its network, "
                                                     "router, service account).")
    regional: t.Flag = Field(True, description="Regional control plane (HA); false = zonal in zones[0].")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    machine_type: t.MachineType = "e2-standard-4"
    disk_size_gb: Annotated[t.Integer, Int(20, 2000)] = 50
    min_nodes_per_zone: Annotated[t.Integer, Int(0, 100)] = Field(1, description="Autoscaling minimum per zone.")
    max_nodes_per_zone: Annotated[t.Integer, Int(1, 100)] = Field(3, description="Autoscaling maximum per zone.")
    spot: t.Flag = Field(False, description="Spot nodes: cheap, can vanish.")
    authorized_networks: tuple[AuthorizedNetwork, ...] = Field(
        description="Ranges allowed to reach the control plane's IP endpoint; empty only with "
                    "privateEndpoint.")
    private_endpoint: t.Flag = Field(False, description="The IP endpoint has no public address.")
    master_cidr: t.PrivateCidr = Field("172.16.0.0/28", description="Control plane range, a /28. "
                                                                  "Changing it replaces the cluster.")
    nodes_cidr: t.PrivateCidr = Field("10.10.0.0/20", description="Node range. Expanding it is an update; "
                                    "any other change replaces the subnetwork the cluster runs in.")
    pods_cidr: t.PrivateCidr = Field("10.20.0.0/14", description="Pod range (GCP refuses to change it).")
    services_cidr: t.PrivateCidr = Field("10.24.0.0/20", description="Service range (GCP refuses to "
                                                                   "change it).")
    deletion_protection: t.Flag = Field(True, description="GKE refuses to delete the cluster while set.")
    rbac_security_group: t.RbacGroup | None = Field(
        None, description="Google Groups for RBAC: gke-security-groups@<domain>.")
    intranode_visibility: t.Flag = Field(False, description="Pod-to-pod traffic on one node goes "
                                                          "through the VPC.")
    maintenance_window: MaintenanceWindow = Field(
        MaintenanceWindow(), description="When GKE may upgrade nodes and the control plane "
                                         "(minor upgrades also wait for the Istio pin).")

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
    zone: Literal["create", "existing"] = Field(
        "create", description="create a public zone (DNSSEC, CAA), or use an existing one.")
    zone_domain: Literal["api", "apex"] = Field(
        "api", description="Created zones: the name the zone serves. api: api.<domain>, the parent of "
                           "every host (the parent zone delegates it); apex: <domain>, the whole "
                           "domain (a zone deployed so before, kept as it is).")
    zone_name: t.ManagedZoneName = Field("", description="The managed zone's name.", json_schema_extra=derived(
        "created: the name the zone serves with its dots as dashes (api-example-com); existing: the "
        "domain's (example-com)"))
    caa_issuers: tuple[t.Domain, ...] = Field(
        (), description="Created zones: CA domains allowed to issue for the zone's names; required "
                        "with tls.source provided.",
        json_schema_extra=derived("acme: [letsencrypt.org]; self-signed: none may issue"))
    released_zone: t.ManagedZoneName | None = Field(
        None, description="Created zones, moving a deployed zone (README \"Moving a deployed zone\"): "
                          "the deployed zone's name. With its own zoneDomain it is released (kept in "
                          "Cloud DNS when it leaves the stack); with the new one the new zone replaces it.")

    @property
    def mode(self) -> str:
        return self.zone

    def served_domain(self, platform: PlatformConfig) -> str:
        """The name a created zone serves: ``api.<domain>`` or the apex ``<domain>``."""
        return platform.api_domain if self.zone_domain == "api" else platform.domain


class AcmeConfig(Model):
    email: t.Email = Field(description="Let's Encrypt account email (expiry notices).")
    server: Literal["staging", "production"] = Field(
        "staging", description="staging (untrusted, generous limits) or production.")

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
    source: Literal["self-signed"] = Field(description="pulumi-tls CA + wildcard leaf.")
    validity_days: Annotated[t.Integer, Int(1, 825)] = Field(90, description="Leaf lifetime in days.")
    early_renewal_days: Annotated[t.Integer, Int(0, 824)] = Field(
        30, description="A pulumi up inside this many days of expiry issues a new leaf.")
    acme: ClassVar[None] = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.early_renewal_days >= self.validity_days:
            refuse(("earlyRenewalDays", f"got {self.early_renewal_days}; expected fewer days than "
                                        f"validityDays ({self.validity_days})"))
        return self


class ProvidedTls(_Certificate):
    source: Literal["provided"] = Field(description="Your certificate: istio-envs:tlsCertificate "
                                                    "and the secret istio-envs:tlsPrivateKey.")
    expiry_warning_days: Annotated[t.Integer, Int(0, 365)] = Field(
        30, description="Refuse a certificate that expires within this many days.")
    renewed_by_pulumi: ClassVar[bool] = False
    acme: ClassVar[None] = None

    @property
    def validity_days(self) -> int:
        return self.certificate.lifetime_days if self.certificate else 0

    @property
    def early_renewal_days(self) -> int:
        return self.expiry_warning_days  # renew it (by hand) before the warning window


class AcmeTls(_Certificate):
    source: Literal["acme"] = Field(description="Let's Encrypt through cert-manager, DNS-01.")
    acme: AcmeConfig  # type: ignore[assignment]
    needs_cert_manager: ClassVar[bool] = True
    validity_days: ClassVar[int] = 90  # Let's Encrypt's certificates
    early_renewal_days: ClassVar[int] = 30  # cert-manager renews a third before expiry


TlsConfig: TypeAlias = SelfSignedTls | ProvidedTls | AcmeTls
TLS_SOURCES = ("self-signed", "provided", "acme")


class BinaryAuthorizationConfig(Model):
    """The project's Binary Authorization policy (a project singleton)."""

    enforcement: Literal["dry-run", "enforce"] = Field(
        "dry-run", description="dry-run logs what it would block; enforce blocks.")
    attestors: tuple[t.Attestor, ...] = Field((), description="projects/<p>/attestors/<name>.")
    allowlist: tuple[t.ImagePattern, ...] = Field(
        (), description="More image patterns admitted without attestation, registry/path/*.")


class PlatformConfig(Model):
    """``istio-envs:platform`` (the owner stack): GCP project, cluster, DNS, certificate."""

    project: t.GcpProject = Field(description="GCP project id (an explicit provider).")
    region: t.GcpRegion = Field(description="GCP region.")
    zones: tuple[t.GcpZone, ...] = Field(min_length=1, description="Zones of the region the node "
                                                                 "pool spreads over.")
    domain: t.Domain = Field(description="Hosts are <env>.api.<domain>.")
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


# --------------------------------------------------------------------------------------------
# The keys under config:


class StackKeys(Model):
    """Every ``istio-envs:<key>`` of a stack file (the schema of ``config:``), and the rules across
    them: one of platform and attachTo, and the PEM values (read with the validation context's
    ``now``, ``stack``, ``stack_file`` and ``private_key``)."""

    environment: EnvironmentConfig = Field(description="Every stack: its environment.")
    platform: PlatformConfig | None = Field(None, description="The owner stack only: the platform.")
    attach_to: t.StackReference | None = Field(
        None, description="Attached stacks only: the owner stack (dev, or org/istio-envs/dev).")
    tls_certificate: t.PemCertificate | None = Field(
        None, description="tls.source provided: the PEM certificate chain.")
    tls_private_key: str | None = Field(
        None, description="tls.source provided: the PEM key, set with pulumi config set --secret.")
    client_ca_certificate: t.PemCertificate | None = Field(
        None, description="environment.tls.clientCa provided: the client CA's PEM certificate.")

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        now = context(info, "now") or datetime.datetime.now(datetime.timezone.utc)
        key, env, platform = context(info, "private_key", False), self.environment, self.platform
        partial = context(info, "partial", False)  # the file's values alone: a PEM may be set elsewhere
        found: list[tuple[str, str]] = []
        if (platform is None) == (self.attach_to is None):
            found.append(("platform" if platform is not None else "attachTo", "expected exactly one "
                          "of `platform` (this stack owns the cluster) or `attachTo: <owner stack>` "
                          "(this stack joins the owner's cluster)"))
        if self.attach_to is not None and self.attach_to.rsplit("/", 1)[-1] == context(info, "stack"):
            found.append(("attachTo", f"got {show(self.attach_to)}, this stack itself; expected the "
                                      "stack that owns the platform"))
        source = platform.tls.source if platform else None
        for name in ("tlsCertificate", "tlsPrivateKey"):
            if (self.tls_certificate if name == "tlsCertificate" else key) and source != "provided":
                found.append((name, f"set, but this stack is attached: the certificate is its owner's; "
                              f"expected no {name}" if platform is None else f"set, but platform.tls."
                              f"source is {source}; {name} applies to tls.source provided only, "
                              f"expected no {name}"))
        tls = platform.tls if platform else None
        if isinstance(tls, ProvidedTls) and self.tls_certificate is None and not partial:
            found.append(("tlsCertificate", "missing; tls.source is 'provided', so set the PEM "
                          "certificate chain with `pulumi config set tlsCertificate -- \"$(cat "
                          "fullchain.pem)\"` and the key with `pulumi config set --secret "
                          "tlsPrivateKey -- \"$(cat key.pem)\"`"))
        elif isinstance(tls, ProvidedTls) and platform and self.tls_certificate:
            try:
                cert, facts = server_certificate(self.tls_certificate, now, tls.expiry_warning_days)
                tls = tls.model_copy(update={"certificate": facts, "dns_names": facts.names})
                if key is False and not partial:
                    found.append(("tlsPrivateKey", "missing; tls.source is 'provided', so set the PEM "
                                  "key with `pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`"))
                elif key is not True:
                    check_key_matches(cert, key)
            except Refused as refused:
                found.append((refused.key or "tlsCertificate", str(refused)))
            host = platform.host_for(env.name)
            if tls.certificate and not host_covered(host, tls.dns_names):
                found.append(("tlsCertificate", f"does not cover {host} (the host of "
                              f"{context(info, 'stack_file', 'this stack file')}); expected a "
                              "certificate for every environment host of the platform (its names: "
                              f"{', '.join(tls.dns_names)})"))
        client = env.tls
        if self.client_ca_certificate and client.client_ca != "provided":
            found.append(("clientCaCertificate", "set, but environment.tls.mode is SIMPLE; expected "
                          "environment.tls.mode: MUTUAL with clientCa: provided" if not client.mutual
                          else "set, but environment.tls.clientCa is self-signed; expected clientCa: "
                          "provided, or no clientCaCertificate"))
        elif client.client_ca == "provided" and client.mutual and not self.client_ca_certificate \
                and not partial:
            found.append(("clientCaCertificate", "missing; environment.tls.clientCa is provided, so "
                          "set the client CA's PEM certificate with `pulumi config set "
                          "clientCaCertificate -- \"$(cat client-ca.pem)\"`"))
        elif client.client_ca == "provided" and client.mutual and self.client_ca_certificate:
            try:
                client = client.model_copy(update={"ca": check_client_ca(self.client_ca_certificate, now)})
            except Refused as refused:
                found.append(("clientCaCertificate", str(refused)))
        if platform and platform.cluster.rbac_security_group is None:
            found += [(f"environment.owners[{i}]", f"got {show(owner)}, a group, but the platform has "
                       "no Google Groups for RBAC; expected platform.cluster.rbacSecurityGroup set on "
                       "the owner stack, or user: owners") for i, owner in enumerate(env.owners)
                      if owner.startswith("group:")]
        refuse(*found)
        return self.model_copy(update={
            "environment": env.model_copy(update={"tls": client}),
            **({"platform": platform.model_copy(update={"tls": tls})} if platform else {})})


TOP_LEVEL_KEYS = tuple(field.alias or name for name, field in StackKeys.model_fields.items())
SECRET_KEYS = ("tlsPrivateKey",)
