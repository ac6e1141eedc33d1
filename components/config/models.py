"""The stack config's schema, declared once: frozen pydantic models whose fields are the keys
(camelCase in the stack file, snake_case here), their types (types.py) and their defaults.

The components read these models directly. A few values come from more than one key and are
set when loading (loading.py): the environment name (default: the stack name), the DNS zone
name and CAA issuers (defaults from the domain and the TLS source), the certificate names, and
a provided certificate's chain or client CA. The JSON Schema for editors (schema.py) is
generated from the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.alias_generators import to_camel

from .types import (
    Attestor,
    Audience,
    ClusterName,
    ControlPlaneCidr,
    Domain,
    Duration,
    EgressHost,
    Email,
    EnvironmentName,
    Flag,
    GcpProject,
    GcpRegion,
    GcpZone,
    HttpsUrl,
    ImagePattern,
    Int,
    KubernetesQuantity,
    MachineType,
    ManagedZoneName,
    Name,
    Owner,
    PemCertificate,
    Port,
    PrivateCidr,
    RbacGroup,
    RetryOn,
    ServiceName,
    StackReference,
    Text,
    UrlPath,
)

# Let's Encrypt's ACME directories; staging issues untrusted certificates with generous limits.
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
# The CAA issuer domain of the CA behind the automatic source.
ACME_CAA_ISSUER = "letsencrypt.org"
# Namespaces an environment may never take: the cluster's and the mesh's own.
RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
     "gke-managed-system", "gmp-system", "gmp-public", "cert-manager"}
)


class Model(BaseModel):
    """Frozen; unknown keys refused; keys are the camelCase aliases of the fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel,
                              populate_by_name=True)


def derived(rule: str) -> Callable[[dict], None]:
    """JSON Schema of a field whose default is computed from other keys: the rule in words
    instead of the placeholder default."""
    def extra(schema: dict) -> None:
        schema.pop("default", None)
        schema["description"] = f"{schema.get('description', '')} Default: {rule.rstrip('.')}.".lstrip()
    return extra


# --------------------------------------------------------------------------------------------
# istio-envs:environment


class Retries(Model):
    """How the gateway's proxy retries a failed request to this route's Service."""

    attempts: Annotated[int, Int(0, 10)] = Field(description="Retries after the first try (0: none).")
    per_try_timeout: Duration | None = Field(
        None, description="Time budget of each try; at most the route's timeout.")
    retry_on: tuple[RetryOn, ...] = Field(
        ("connect-failure", "refused-stream", "unavailable", "cancelled"),
        description="Conditions that trigger a retry (Envoy's retry-on names).")


class Route(Model):
    """One path prefix of the environment's host, routed to one of its Services."""

    path: UrlPath = Field(description="Path prefix starting with '/', unique in the routes.")
    service: ServiceName = Field(description="A Service of the environment's namespace.")
    port: Port = Field(description="The Service port.")
    timeout: Duration | None = Field(
        None, description="The route's time budget, retries included (Istio's default: none).")
    retries: Retries | None = Field(
        None, description="Retry policy (Istio's default: 2 attempts on connection failures).")


class JwtAuth(Model):
    """End-user authentication: tokens from ``issuer`` (keys at ``jwks_uri``) whose ``aud``
    names one of ``audiences``. ``public_paths`` are served without a token."""

    issuer: HttpsUrl = Field(description="JWT issuer (https://).")
    jwks_uri: HttpsUrl = Field(description="JWKS URL (https://).")
    audiences: tuple[Audience, ...] = Field(
        min_length=1, description="Audiences a token must carry; unique across the stack files.")
    public_paths: tuple[UrlPath, ...] = Field(
        (), description="Paths under a route served without a token (health checks).")


class Quota(Model):
    """The environment namespace's ResourceQuota (requests) and pod count."""

    cpu: KubernetesQuantity = Field("4", description="requests.cpu of the namespace.")
    memory: KubernetesQuantity = Field("8Gi", description="requests.memory of the namespace.")
    pods: Annotated[int, Int(1, 10000)] = Field(40, description="Pod count of the namespace.")


class ClientTls(Model):
    """How the gateway checks clients of this environment's host.

    ``SIMPLE``: server TLS only. ``MUTUAL``: clients present a certificate signed by the
    environment's own client CA (``self-signed``: pulumi-tls makes it and issues one client
    certificate; ``provided``: the PEM CA in ``clientCaCertificate``)."""

    mode: Literal["SIMPLE", "MUTUAL"] = Field(
        "SIMPLE", description="SIMPLE (server TLS) or MUTUAL (clients present a certificate).")
    client_ca: Literal["self-signed", "provided"] | None = Field(
        None, description="MUTUAL only: self-signed (pulumi-tls CA) or provided "
                          "(istio-envs:clientCaCertificate).")
    client_certificate_days: Annotated[int, Int(1, 825)] = Field(
        90, description="Self-signed client CA only: client certificate lifetime in days.")
    _client_ca_pem: str | None = PrivateAttr(None)

    @property
    def mutual(self) -> bool:
        return self.mode == "MUTUAL"

    @property
    def client_ca_source(self) -> str | None:
        return self.client_ca

    @property
    def client_ca_pem(self) -> str | None:
        """The provided client CA's PEM (``istio-envs:clientCaCertificate``)."""
        return self._client_ca_pem


class EgressDestination(Model):
    """One external destination the environment's workloads may call (the mesh refuses every
    other: outboundTrafficPolicy REGISTRY_ONLY). ``host`` is a DNS name, ``*.`` allowed as its
    first label."""

    host: EgressHost = Field(description="A DNS name, or *.example.com for one label below it.")
    port: Port = Field(443, description="The destination port.")
    protocol: Literal["TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "TCP"] = Field(
        "TLS", description="The ServiceEntry port protocol.")

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")


# environment.demo's echo workload, stated once: its route and token-free health path (routing,
# the AuthorizationPolicy, validation and `make verify`, through the `demo` stack output), what
# its container requests (with the sidecar's, inside the namespace quota) and what it answers.
DEMO_ROUTE = Route(path="/demo", service="demo-echo", port=80)
DEMO_HEALTH_PATH = "/demo/health"
DEMO_REQUESTS = {"cpu": "10m", "memory": "16Mi"}
DEMO_LIMITS = {"cpu": "100m", "memory": "32Mi"}


def demo_text(environment: str) -> str:
    """What the demo answers on every path: the environment's name, so a response proves it came
    from this environment's namespace and no other."""
    return f"istio-envs demo: {environment}"


class EnvironmentConfig(Model):
    """``istio-envs:environment``: the namespace, its routes, JWT policy, quota, client TLS,
    egress, owners and demo workload."""

    name: EnvironmentName = Field(
        "", description="Environment name: namespace and host label; unique across the stack "
                        "files.", json_schema_extra=derived("the stack name"))
    routes: tuple[Route, ...] = Field(
        (), description="Path prefixes and their Services; at least one, unless demo is true.")
    auth: JwtAuth
    quota: Quota = Quota()
    tls: ClientTls = ClientTls()
    egress: tuple[EgressDestination, ...] = Field(
        (), description="The only destinations outside the mesh its workloads may call.")
    owners: tuple[Owner, ...] = Field(
        (), description="Google users or groups who may deploy into the namespace (RBAC edit "
                        "there, and cluster credentials).")
    demo: Flag = Field(
        False, description=f"Deploy a pinned echo workload on {DEMO_ROUTE.path} (token required; "
                           f"{DEMO_HEALTH_PATH} without one), so make verify passes right after "
                           "pulumi up.")

    @property
    def namespace(self) -> str:
        # One namespace per environment, named after it (the write-ups' "virtual cluster").
        return self.name

    @property
    def served_routes(self) -> tuple[Route, ...]:
        """The routes the host serves: the configured ones, and the demo's when it is on."""
        return self.routes + ((DEMO_ROUTE,) if self.demo else ())

    @property
    def served_public_paths(self) -> tuple[str, ...]:
        """Paths served without a token: the configured ones, and the demo's health path."""
        return self.auth.public_paths + ((DEMO_HEALTH_PATH,) if self.demo else ())


# --------------------------------------------------------------------------------------------
# istio-envs:platform


class AuthorizedNetwork(Model):
    name: Name = Field(description="A label for the range.")
    cidr: ControlPlaneCidr = Field(description="A range allowed to reach the control plane's IP "
                                               "endpoint; never 0.0.0.0/0.")


# RFC 5545 weekday codes, as GKE's recurring window (an RRULE) takes them.
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
# GKE refuses a maintenance window with less than 48 hours of availability in any 32 days;
# only stretches of at least 4 hours count. A weekly day occurs at least 4 times in 32 days.
# https://cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions#maintenance-window
MAINTENANCE_HOURS_PER_32_DAYS = 48
WEEKLY_OCCURRENCES_IN_32_DAYS = 4


class MaintenanceWindow(Model):
    """When GKE may upgrade and repair the cluster: a weekly window, in UTC. The provider
    requires a window even when only exclusions are wanted (``maintenance_policy``: exactly one
    of the daily or recurring window)."""

    days: tuple[Weekday, ...] = Field(("SA", "SU"), min_length=1,
                                      description="Weekdays of the window (MO ... SU).")
    start: Annotated[str, Text("a UTC time HH:MM such as 02:00",
                               r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        "02:00", description="Start of each day's window, UTC (HH:MM).")
    hours: Annotated[int, Int(4, 24)] = Field(
        8, description="Length of each day's window in hours (GKE counts stretches of 4 or more).")

    @property
    def recurrence(self) -> str:
        return "FREQ=WEEKLY;BYDAY=" + ",".join(day for day in WEEKDAYS if day in self.days)


class ClusterConfig(Model):
    """The GKE cluster and its node pool."""

    name: ClusterName = Field("nonprod", description="GKE cluster name (prefix of its network, "
                                                     "router, service account).")
    regional: Flag = Field(True, description="Regional control plane (HA); false = zonal in zones[0].")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "REGULAR"
    machine_type: MachineType = "e2-standard-4"
    disk_size_gb: Annotated[int, Int(20, 2000)] = 50
    min_nodes_per_zone: Annotated[int, Int(0, 100)] = Field(1, description="Autoscaling minimum per zone.")
    max_nodes_per_zone: Annotated[int, Int(1, 100)] = Field(3, description="Autoscaling maximum per zone.")
    spot: Flag = Field(False, description="Spot nodes: cheap, can vanish.")
    authorized_networks: tuple[AuthorizedNetwork, ...] = Field(
        description="Ranges allowed to reach the control plane's IP endpoint; empty only with "
                    "privateEndpoint.")
    private_endpoint: Flag = Field(False, description="The IP endpoint has no public address.")
    master_cidr: PrivateCidr = Field("172.16.0.0/28", description="Control plane range, a /28. "
                                                                  "Changing it replaces the cluster.")
    nodes_cidr: PrivateCidr = Field("10.10.0.0/20", description="Node range. Expanding it is an "
                                                                "update; any other change replaces "
                                                                "the subnetwork the cluster runs in.")
    pods_cidr: PrivateCidr = Field("10.20.0.0/14", description="Pod range. GCP refuses to change it "
                                                               "while the cluster uses it.")
    services_cidr: PrivateCidr = Field("10.24.0.0/20", description="Service range. GCP refuses to "
                                                                   "change it while the cluster "
                                                                   "uses it.")
    deletion_protection: Flag = Field(True, description="GKE refuses to delete the cluster while set.")
    rbac_security_group: RbacGroup | None = Field(
        None, description="Google Groups for RBAC: gke-security-groups@<domain>.")
    intranode_visibility: Flag = Field(False, description="Pod-to-pod traffic on one node goes "
                                                          "through the VPC.")
    maintenance_window: MaintenanceWindow = Field(
        MaintenanceWindow(), description="When GKE may upgrade nodes and the control plane "
                                         "(minor upgrades also wait for the Istio pin).")


class DnsConfig(Model):
    zone: Literal["create", "existing"] = Field(
        "create", description="create a public zone (DNSSEC, CAA), or use an existing one.")
    zone_domain: Literal["api", "apex"] = Field(
        "api", description="Created zones: the name the zone serves. api: api.<domain>, the parent "
                           "of every host (the parent zone delegates it); apex: <domain>, the "
                           "whole domain (a zone deployed so before, kept as it is).")
    zone_name: ManagedZoneName = Field("", description="The managed zone's name.", json_schema_extra=derived(
        "created: the name the zone serves with its dots as dashes (api-example-com); existing: the "
        "domain's (example-com)"))
    caa_issuers: tuple[Domain, ...] = Field(
        (), description="Created zones: CA domains allowed to issue for the zone's names; required "
                        "with tls.source provided.",
        json_schema_extra=derived("acme: [letsencrypt.org]; self-signed: none may issue"))
    released_zone: ManagedZoneName | None = Field(
        None, description="Created zones: moving a deployed zone to another DNS name (README "
                          "\"Moving a deployed zone\"): the deployed zone's name. With the zone's "
                          "own zoneDomain it stops protecting it and keeps it in Cloud DNS when it "
                          "leaves the stack; then with the new zoneDomain the new zone replaces it.")

    @property
    def mode(self) -> str:
        return self.zone

    def served_domain(self, platform: PlatformConfig) -> str:
        """The name a created zone serves: the hosts' parent ``api.<domain>`` (the one place that
        derives it: PlatformConfig.api_domain), or the apex ``<domain>``."""
        return platform.api_domain if self.zone_domain == "api" else platform.domain


class AcmeConfig(Model):
    email: Email = Field(description="Let's Encrypt account email (expiry notices).")
    server: Literal["staging", "production"] = Field(
        "staging", description="staging (untrusted, generous limits) or production.")

    @property
    def directory_url(self) -> str:
        return ACME_SERVERS[self.server]


class _Certificate(Model):
    """What every TLS source ends in: the names of the gateway's certificate; for a provided one
    also its chain and expiry. Set when loading."""

    _dns_names: tuple[str, ...] = PrivateAttr(())
    _chain: str | None = PrivateAttr(None)
    _not_after: str | None = PrivateAttr(None)
    _lifetime_days: int = PrivateAttr(0)

    @property
    def dns_names(self) -> tuple[str, ...]:
        return self._dns_names

    @property
    def provided_certificate_pem(self) -> str | None:
        """The provided certificate chain (public), parsed at load time; None otherwise."""
        return self._chain

    @property
    def not_after(self) -> str | None:
        """When the provided certificate expires (ISO date), for reviewers; None otherwise."""
        return self._not_after

    # Each source's own facts (decided here, once; the builders are in components/tls.py).
    needs_cert_manager: ClassVar[bool] = False
    """The source is issued in the cluster by cert-manager."""
    renewed_by_pulumi: ClassVar[bool] = True
    """Its lifetime and renewal window are the program's (not the provider of a certificate)."""

    @property
    def lifetime(self) -> dict[str, int] | None:
        """For reviewers: how long the certificate lives and when it is renewed."""
        if not self.renewed_by_pulumi:
            return None
        # Every variant states both (fields or properties).
        return {"validityDays": getattr(self, "validity_days"),  # noqa: B009 - not on the base
                "renewBeforeDays": getattr(self, "early_renewal_days")}  # noqa: B009


class SelfSignedTls(_Certificate):
    source: Literal["self-signed"] = Field(description="pulumi-tls CA + wildcard leaf.")
    validity_days: Annotated[int, Int(1, 825)] = Field(90, description="Leaf lifetime in days.")
    early_renewal_days: Annotated[int, Int(0, 824)] = Field(
        30, description="A pulumi up inside this many days of expiry issues a new leaf.")

    @property
    def acme(self) -> None:
        return None


class ProvidedTls(_Certificate):
    source: Literal["provided"] = Field(description="Your certificate: istio-envs:tlsCertificate "
                                                    "and the secret istio-envs:tlsPrivateKey.")
    expiry_warning_days: Annotated[int, Int(0, 365)] = Field(
        30, description="Refuse a certificate that expires within this many days.")
    renewed_by_pulumi: ClassVar[bool] = False

    @property
    def acme(self) -> None:
        return None

    @property
    def validity_days(self) -> int:
        """The provided certificate's lifetime."""
        return self._lifetime_days

    @property
    def early_renewal_days(self) -> int:
        """Renew it (by hand) before it enters the warning window."""
        return self.expiry_warning_days


class AcmeTls(_Certificate):
    source: Literal["acme"] = Field(description="Let's Encrypt through cert-manager, DNS-01.")
    acme: AcmeConfig
    needs_cert_manager: ClassVar[bool] = True

    @property
    def validity_days(self) -> int:
        return 90  # Let's Encrypt's certificates

    @property
    def early_renewal_days(self) -> int:
        return 30  # cert-manager renews a third before expiry


TlsConfig: TypeAlias = SelfSignedTls | ProvidedTls | AcmeTls
TLS_SOURCES = ("self-signed", "provided", "acme")


class BinaryAuthorizationConfig(Model):
    """The project's Binary Authorization policy (a project singleton)."""

    enforcement: Literal["dry-run", "enforce"] = Field(
        "dry-run", description="dry-run logs what it would block; enforce blocks.")
    attestors: tuple[Attestor, ...] = Field((), description="projects/<p>/attestors/<name>.")
    allowlist: tuple[ImagePattern, ...] = Field(
        (), description="More image patterns admitted without attestation, registry/path/*.")


class PlatformConfig(Model):
    """``istio-envs:platform`` (the owner stack): GCP project, cluster, DNS, certificate."""

    project: GcpProject = Field(description="GCP project id (an explicit provider).")
    region: GcpRegion = Field(description="GCP region.")
    zones: tuple[GcpZone, ...] = Field(min_length=1, description="Zones of the region the node "
                                                                 "pool spreads over.")
    domain: Domain = Field(description="Hosts are <env>.api.<domain>.")
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
        """What the Kubernetes provider calls the cluster, in the owner and in every attached
        stack: stable across CA rotations and endpoint changes (components/cluster.py)."""
        return f"{self.project}/{self.cluster_location}/{self.cluster.name}"

    @property
    def api_domain(self) -> str:
        """The parent of every environment host: ``<env>.api.<domain>``."""
        return f"api.{self.domain}"

    def host_for(self, environment: str) -> str:
        return f"{environment}.{self.api_domain}"


# --------------------------------------------------------------------------------------------
# The keys under config:


class StackKeys(Model):
    """Every ``istio-envs:<key>`` of a stack file (the schema of ``config:``)."""

    environment: EnvironmentConfig = Field(description="Every stack: its environment.")
    platform: PlatformConfig | None = Field(None, description="The owner stack only: the platform.")
    attach_to: StackReference | None = Field(
        None, description="Attached stacks only: the owner stack (dev, or org/istio-envs/dev).")
    tls_certificate: PemCertificate | None = Field(
        None, description="tls.source provided: the PEM certificate chain.")
    tls_private_key: str | None = Field(
        None, description="tls.source provided: the PEM key, set with pulumi config set --secret.")
    client_ca_certificate: PemCertificate | None = Field(
        None, description="environment.tls.clientCa provided: the client CA's PEM certificate.")


TOP_LEVEL_KEYS = tuple(field.alias or name for name, field in StackKeys.model_fields.items())
SECRET_KEYS = ("tlsPrivateKey",)
