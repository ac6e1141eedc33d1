"""Stack configuration: read once, validated, frozen.

Everything a stack needs comes from its stack file ``Pulumi.<stack>.yaml`` under the
project namespace ``istio-envs``. Structured values are read with Pulumi's own
``Config.get_object`` and validated here into frozen dataclasses; a bad value raises
:class:`ConfigError` (a ``pulumi.RunError``, so ``pulumi up`` prints one line, no traceback)
before any resource is declared.

Keys (see the README table for every field):

- ``istio-envs:environment`` (every stack): name, routes, auth, quota.
- ``istio-envs:platform`` (the owner stack only): project, region, zones, domain, cluster, dns, tls.
- ``istio-envs:attachTo`` (attached stacks only): the owner stack whose platform this environment
  joins.
- ``istio-envs:tlsCertificate`` / ``istio-envs:tlsPrivateKey`` (owner, ``tls.source: provided``):
  the PEM certificate chain and the PEM key (the key set with ``pulumi config set --secret``).

Cross-stack rules (an environment name or audience used twice, a host the owner's certificate
does not cover) are checked against the other stack files in the project directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi

from .errors import NAMESPACE, ConfigError
from .stackset import StackSet, read_stack_file, short_stack, stack_file_name

__all__ = ["ConfigError", "NAMESPACE", "StackConfig", "load", "read_stack_file"]

PROJECT_DIR = Path(__file__).resolve().parent.parent

TOP_LEVEL_KEYS = ("environment", "platform", "attachTo", "tlsCertificate", "tlsPrivateKey",
                  "clientCaCertificate")
TLS_SOURCES = ("self-signed", "provided", "acme")
# Let's Encrypt's ACME directories; staging issues untrusted certificates with generous limits.
ACME_SERVERS = {
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "production": "https://acme-v02.api.letsencrypt.org/directory",
}
# The CAA issuer domain of the CA behind each automatic source.
ACME_CAA_ISSUER = "letsencrypt.org"
TLS_MODES = ("SIMPLE", "MUTUAL")
CLIENT_CA_SOURCES = ("self-signed", "provided")
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE")
DNS_ZONE_MODES = ("create", "existing")
# Namespaces an environment may never take: the cluster's and the mesh's own.
RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
     "gke-managed-system", "gmp-system", "gmp-public", "cert-manager"}
)

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_GCP_PROJECT = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_MACHINE_TYPE = re.compile(r"^[a-z0-9]+-[a-z0-9-]+$")
_SERVICE_NAME = DNS_LABEL
_EMAIL = re.compile(r"^[^@\s]+@[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


# --------------------------------------------------------------------------------------------
# The frozen, typed configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One path prefix of the environment's host, routed to one of its Services."""

    path: str
    service: str
    port: int


@dataclass(frozen=True)
class JwtAuth:
    """End-user authentication: tokens from ``issuer`` (keys at ``jwks_uri``) whose ``aud``
    names one of ``audiences``. ``public_paths`` are served without a token."""

    issuer: str
    jwks_uri: str
    audiences: tuple[str, ...]
    public_paths: tuple[str, ...]


@dataclass(frozen=True)
class Quota:
    """The environment namespace's ResourceQuota (requests) and pod count."""

    cpu: str
    memory: str
    pods: int


@dataclass(frozen=True)
class ClientTls:
    """How the gateway checks clients of this environment's host.

    ``SIMPLE``: server TLS only. ``MUTUAL``: clients present a certificate signed by the
    environment's own client CA (``self-signed``: pulumi-tls makes it and issues one client
    certificate; ``provided``: the PEM CA in ``clientCaCertificate``)."""

    mode: str
    client_ca_source: str | None = None
    client_ca_pem: str | None = None
    client_certificate_days: int = 90

    @property
    def mutual(self) -> bool:
        return self.mode == "MUTUAL"


@dataclass(frozen=True)
class EgressDestination:
    """One external destination the environment's workloads may call (the mesh refuses every
    other: outboundTrafficPolicy REGISTRY_ONLY). ``host`` is a DNS name, ``*.`` allowed as its
    first label."""

    host: str
    port: int
    protocol: str

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    routes: tuple[Route, ...]
    auth: JwtAuth
    quota: Quota
    tls: ClientTls = ClientTls("SIMPLE")
    egress: tuple[EgressDestination, ...] = ()

    @property
    def namespace(self) -> str:
        # One namespace per environment, named after it (the write-ups' "virtual cluster").
        return self.name


@dataclass(frozen=True)
class AuthorizedNetwork:
    name: str
    cidr: str


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    regional: bool
    release_channel: str
    machine_type: str
    disk_size_gb: int
    min_nodes_per_zone: int
    max_nodes_per_zone: int
    spot: bool
    authorized_networks: tuple[AuthorizedNetwork, ...]
    private_endpoint: bool
    master_cidr: str
    nodes_cidr: str
    pods_cidr: str
    services_cidr: str
    deletion_protection: bool
    rbac_security_group: str | None
    intranode_visibility: bool


@dataclass(frozen=True)
class DnsConfig:
    mode: str  # "create" | "existing"
    zone_name: str
    # CAA issuers for a created zone: only these CAs may issue for the domain; () = none may.
    caa_issuers: tuple[str, ...] = ()


@dataclass(frozen=True)
class AcmeConfig:
    email: str
    server: str  # "staging" | "production"

    @property
    def directory_url(self) -> str:
        return ACME_SERVERS[self.server]


@dataclass(frozen=True)
class TlsConfig:
    source: str  # "self-signed" | "provided" | "acme"
    dns_names: tuple[str, ...]
    validity_days: int
    early_renewal_days: int
    # PEM of the provided certificate chain; public, parsed at load time. None otherwise.
    provided_certificate_pem: str | None = None
    acme: AcmeConfig | None = None
    # Provided certificates only: refuse one that expires within this many days.
    expiry_warning_days: int = 30
    # When the provided certificate expires (ISO date), for reviewers; None otherwise.
    not_after: str | None = None


@dataclass(frozen=True)
class BinaryAuthorizationConfig:
    """The project's Binary Authorization policy (a project singleton)."""

    enforcement: str  # "dry-run" | "enforce"
    attestors: tuple[str, ...]
    allowlist: tuple[str, ...]


@dataclass(frozen=True)
class PlatformConfig:
    project: str
    region: str
    zones: tuple[str, ...]
    domain: str
    cluster: ClusterConfig
    dns: DnsConfig
    tls: TlsConfig
    binary_authorization: BinaryAuthorizationConfig = BinaryAuthorizationConfig("dry-run", (), ())

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


@dataclass(frozen=True)
class StackConfig:
    stack: str
    stack_file: str
    environment: EnvironmentConfig
    # The platform this environment runs on: declared here (owner) or the owner's, read from its
    # stack file (attached). Attached stacks use it for names only; live values come through
    # the StackReference.
    platform: PlatformConfig
    owns_platform: bool
    owner_stack: str | None  # fully qualified StackReference name when attached

    @property
    def host(self) -> str:
        return self.platform.host_for(self.environment.name)


# --------------------------------------------------------------------------------------------
# Small typed readers over raw (JSON/YAML-decoded) values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """Where a raw value came from, for error messages."""

    stack_file: str
    key: str

    def child(self, sub: str | int) -> _Where:
        return _Where(self.stack_file, f"{self.key}[{sub}]" if isinstance(sub, int) else f"{self.key}.{sub}")

    def fail(self, problem: str) -> ConfigError:
        return ConfigError(self.stack_file, self.key, problem)


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "nothing (null)"}.get(type(value), type(value).__name__)


def _mapping(where: _Where, raw: Any, required: Sequence[str], optional: Sequence[str]) -> dict:
    if not isinstance(raw, dict):
        raise where.fail(f"got {_type_name(raw)} {_show(raw)}; expected a mapping with keys "
                         f"{', '.join(list(required) + list(optional))}")
    allowed = set(required) | set(optional)
    for key in raw:
        if key not in allowed:
            raise where.child(key).fail(
                f"unknown key; expected one of {', '.join(sorted(allowed))}")
    for key in required:
        if key not in raw:
            raise where.child(key).fail("missing; this key is required")
    return raw


def _string(where: _Where, raw: Any, pattern: re.Pattern | None = None, expected: str = "") -> str:
    if not isinstance(raw, str) or not raw:
        raise where.fail(f"got {_type_name(raw)} {_show(raw)}; expected a non-empty string"
                         + (f" ({expected})" if expected else ""))
    if len(raw) > 2048:
        raise where.fail(f"got a string of {len(raw)} characters; expected at most 2048")
    if pattern is not None and not pattern.match(raw):
        raise where.fail(f"got {_show(raw)}; expected {expected}")
    return raw


def _integer(where: _Where, raw: Any, low: int, high: int) -> int:
    # bool is an int in Python; a YAML `true` is never a valid count or port.
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise where.fail(f"got {_type_name(raw)} {_show(raw)}; expected an integer from {low} to {high}")
    if not low <= raw <= high:
        raise where.fail(f"got {raw}; expected an integer from {low} to {high}")
    return raw


def _boolean(where: _Where, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise where.fail(f"got {_type_name(raw)} {_show(raw)}; expected true or false")
    return raw


def _choice(where: _Where, raw: Any, choices: Sequence[str]) -> str:
    if raw not in choices:
        raise where.fail(f"got {_show(raw)}; expected one of {', '.join(choices)}")
    return raw


def _list(where: _Where, raw: Any, item: Callable[[_Where, Any], Any], min_items: int = 0) -> tuple:
    if not isinstance(raw, list):
        raise where.fail(f"got {_type_name(raw)} {_show(raw)}; expected a list")
    if len(raw) < min_items:
        raise where.fail(f"got an empty list; expected at least {min_items} item(s)")
    return tuple(item(where.child(i), value) for i, value in enumerate(raw))


def _cidr(where: _Where, raw: Any, private: bool = False) -> str:
    text = _string(where, raw, expected="a CIDR such as 10.0.0.0/20")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise where.fail(f"got {_show(text)}; expected a CIDR such as 10.0.0.0/20 "
                         "(address bits beyond the prefix must be zero)") from None
    if network.version != 4:
        raise where.fail(f"got {_show(text)}; expected an IPv4 CIDR")
    if private and not network.is_private:
        raise where.fail(f"got {_show(text)}; expected a private (RFC 1918) range")
    return text


def _https_url(where: _Where, raw: Any) -> str:
    text = _string(where, raw, expected="an https:// URL")
    parsed = urlparse(text)
    if parsed.scheme != "https" or not parsed.hostname:
        raise where.fail(f"got {_show(text)}; expected an https:// URL (tokens and keys must not "
                         "travel in clear text)")
    return text


def _dns_label(where: _Where, raw: Any, what: str) -> str:
    return _string(where, raw, DNS_LABEL,
                   f"{what}: a DNS label (lowercase letters, digits and '-', starting with a "
                   "letter, at most 63 characters)")


def _domain(where: _Where, raw: Any) -> str:
    text = _string(where, raw, expected="a DNS domain such as example.com")
    labels = text.split(".")
    if (len(text) > 240 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels)
            or not labels[-1].isalpha()):
        raise where.fail(f"got {_show(text)}; expected a lowercase DNS domain such as "
                         "example.com (no trailing dot, no wildcard)")
    return text


def _quantity(where: _Where, raw: Any) -> str:
    # YAML reads `cpu: 4` as an integer; Kubernetes wants the quantity string "4".
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    return _string(where, raw, _QUANTITY, "a Kubernetes quantity such as 4, 500m or 8Gi")


def _path(where: _Where, raw: Any) -> str:
    text = _string(where, raw, expected="a URL path starting with '/'")
    if not _PATH.match(text) or "//" in text or (len(text) > 1 and text.endswith("/")):
        raise where.fail(f"got {_show(text)}; expected a URL path starting with '/' such as "
                         "/accounts (no query, no '//', no trailing '/')")
    return text


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _route(where: _Where, raw: Any) -> Route:
    raw = _mapping(where, raw, ("path", "service", "port"), ())
    return Route(
        path=_path(where.child("path"), raw["path"]),
        service=_dns_label(where.child("service"), raw["service"], "a Kubernetes Service name"),
        port=_integer(where.child("port"), raw["port"], 1, 65535),
    )


def _environment(where: _Where, raw: Any, stack: str, client_ca_pem: Any = None,
                 now: datetime.datetime | None = None) -> EnvironmentConfig:
    raw = _mapping(where, raw, ("routes", "auth"), ("name", "quota", "tls", "egress"))
    name_where = where.child("name")
    name = _dns_label(name_where, raw.get("name", stack), "the environment name")
    if name in RESERVED_NAMESPACES:
        raise name_where.fail(f"got {_show(name)}; that namespace belongs to the cluster or the "
                              "mesh, choose another environment name")

    routes = _list(where.child("routes"), raw["routes"], _route, min_items=1)
    seen: dict[str, int] = {}
    for i, route in enumerate(routes):
        if route.path in seen:
            raise where.child("routes").child(i).child("path").fail(
                f"got {_show(route.path)} again (also routes[{seen[route.path]}]); each path "
                "prefix may be routed once")
        seen[route.path] = i

    auth_where = where.child("auth")
    auth_raw = _mapping(auth_where, raw["auth"], ("issuer", "jwksUri", "audiences"), ("publicPaths",))
    audiences = _list(auth_where.child("audiences"), auth_raw["audiences"],
                      lambda w, v: _string(w, v, expected="an audience (API identifier)"),
                      min_items=1)
    if len(set(audiences)) != len(audiences):
        raise auth_where.child("audiences").fail(f"got {_show(list(audiences))}; audiences must be unique")
    public_paths = _list(auth_where.child("publicPaths"), auth_raw.get("publicPaths", []), _path)
    for i, public in enumerate(public_paths):
        if not any(_under(public, route.path) for route in routes):
            raise auth_where.child("publicPaths").child(i).fail(
                f"got {_show(public)}; it is under no route, expected a path under one of "
                f"{', '.join(r.path for r in routes)}")
    auth = JwtAuth(
        issuer=_https_url(auth_where.child("issuer"), auth_raw["issuer"]),
        jwks_uri=_https_url(auth_where.child("jwksUri"), auth_raw["jwksUri"]),
        audiences=audiences,
        public_paths=public_paths,
    )

    quota_where = where.child("quota")
    quota_raw = _mapping(quota_where, raw.get("quota", {}), (), ("cpu", "memory", "pods"))
    quota = Quota(
        cpu=_quantity(quota_where.child("cpu"), quota_raw.get("cpu", "4")),
        memory=_quantity(quota_where.child("memory"), quota_raw.get("memory", "8Gi")),
        pods=_integer(quota_where.child("pods"), quota_raw.get("pods", 40), 1, 10000),
    )
    tls = _client_tls(where.child("tls"), raw.get("tls", {}), client_ca_pem,
                      now or datetime.datetime.now(datetime.timezone.utc))
    egress = _list(where.child("egress"), raw.get("egress", []), _egress)
    seen_egress: dict[tuple[str, int], int] = {}
    for i, destination in enumerate(egress):
        key = (destination.host, destination.port)
        if key in seen_egress:
            raise where.child("egress").child(i).fail(
                f"got {destination.host}:{destination.port} again (also egress[{seen_egress[key]}]); "
                "expected each host and port once")
        seen_egress[key] = i
    return EnvironmentConfig(name=name, routes=routes, auth=auth, quota=quota, tls=tls,
                             egress=egress)


# Istio ServiceEntry port protocols that make sense for a call out of the mesh.
EGRESS_PROTOCOLS = ("TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "TCP")


def _egress(where: _Where, raw: Any) -> EgressDestination:
    raw = _mapping(where, raw, ("host",), ("port", "protocol"))
    host_where = where.child("host")
    host = _string(host_where, raw["host"], expected="a DNS name such as api.stripe.com")
    expected = ("a DNS name such as api.stripe.com, or *.example.com for every name one label "
                "below example.com")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise host_where.fail(f"got {_show(host)}, an IP address; expected {expected} (the mesh "
                              "matches egress by name)")
    if host == "*" or host.startswith("*") and not host.startswith("*."):
        raise host_where.fail(f"got {_show(host)}; a bare wildcard would open egress to the whole "
                              f"internet, expected {expected}")
    name = host[2:] if host.startswith("*.") else host
    labels = name.split(".")
    if (len(name) > 240 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels)
            or not labels[-1].isalpha()):
        raise host_where.fail(f"got {_show(host)}; expected {expected} (lowercase, no trailing "
                              "dot, at most 240 characters)")
    protocol = _choice(where.child("protocol"), raw.get("protocol", "TLS"), EGRESS_PROTOCOLS)
    return EgressDestination(host=host, port=_integer(where.child("port"), raw.get("port", 443), 1, 65535),
                             protocol=protocol)


def _client_tls(where: _Where, raw: Any, client_ca_pem: Any, now: datetime.datetime) -> ClientTls:
    raw = _mapping(where, raw, (), ("mode", "clientCa", "clientCertificateDays"))
    mode = _choice(where.child("mode"), raw.get("mode", "SIMPLE"), TLS_MODES)
    ca_where = _Where(where.stack_file, "clientCaCertificate")
    if mode == "SIMPLE":
        for key in ("clientCa", "clientCertificateDays"):
            if key in raw:
                raise where.child(key).fail("set, but tls.mode is SIMPLE (no client certificates); "
                                            "expected tls.mode: MUTUAL or no " + key)
        if client_ca_pem is not None:
            raise ca_where.fail("set, but environment.tls.mode is SIMPLE; expected "
                                "environment.tls.mode: MUTUAL with clientCa: provided")
        return ClientTls("SIMPLE")
    if "clientCa" not in raw:
        raise where.child("clientCa").fail("missing; tls.mode MUTUAL needs a client CA, expected "
                                           f"one of {', '.join(CLIENT_CA_SOURCES)}")
    source = _choice(where.child("clientCa"), raw["clientCa"], CLIENT_CA_SOURCES)
    days = _integer(where.child("clientCertificateDays"), raw.get("clientCertificateDays", 90), 1, 825)
    if source == "self-signed":
        if client_ca_pem is not None:
            raise ca_where.fail("set, but environment.tls.clientCa is self-signed; expected "
                                "clientCa: provided, or no clientCaCertificate")
        return ClientTls("MUTUAL", "self-signed", None, days)
    if "clientCertificateDays" in raw:
        raise where.child("clientCertificateDays").fail(
            "set, but clientCa is provided (client certificates come from your CA); expected no "
            "clientCertificateDays")
    if client_ca_pem is None:
        raise ca_where.fail("missing; environment.tls.clientCa is provided, so set the client CA's "
                            "PEM certificate with `pulumi config set clientCaCertificate -- "
                            "\"$(cat client-ca.pem)\"`")
    cert = _parse_certificate(ca_where, client_ca_pem, now)
    from cryptography import x509

    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ca_where.fail("is not a CA certificate (basicConstraints CA:TRUE); expected the CA "
                            "that signs your clients' certificates")
    return ClientTls("MUTUAL", "provided", client_ca_pem, 0)


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _cluster(where: _Where, raw: Any) -> ClusterConfig:
    raw = _mapping(where, raw, ("authorizedNetworks",), (
        "name", "regional", "releaseChannel", "machineType", "diskSizeGb", "minNodesPerZone",
        "maxNodesPerZone", "spot", "privateEndpoint", "masterCidr", "nodesCidr", "podsCidr",
        "servicesCidr", "deletionProtection", "rbacSecurityGroup", "intranodeVisibility"))
    private_endpoint = _boolean(where.child("privateEndpoint"), raw.get("privateEndpoint", False))
    networks = _list(where.child("authorizedNetworks"), raw["authorizedNetworks"], _authorized_network)
    if not networks and not private_endpoint:
        raise where.child("authorizedNetworks").fail(
            "got an empty list; expected at least one CIDR allowed to reach the public control "
            "plane endpoint (or set privateEndpoint: true)")
    min_nodes = _integer(where.child("minNodesPerZone"), raw.get("minNodesPerZone", 1), 0, 100)
    max_nodes = _integer(where.child("maxNodesPerZone"), raw.get("maxNodesPerZone", 3), 1, 100)
    if min_nodes > max_nodes:
        raise where.child("minNodesPerZone").fail(
            f"got {min_nodes}, more than maxNodesPerZone {max_nodes}; expected min <= max")
    cluster = ClusterConfig(
        name=_dns_label(where.child("name"), raw.get("name", "nonprod"), "the cluster name"),
        regional=_boolean(where.child("regional"), raw.get("regional", True)),
        release_channel=_choice(where.child("releaseChannel"), raw.get("releaseChannel", "REGULAR"),
                                RELEASE_CHANNELS),
        machine_type=_string(where.child("machineType"), raw.get("machineType", "e2-standard-4"),
                             _MACHINE_TYPE, "a Compute Engine machine type such as e2-standard-4"),
        disk_size_gb=_integer(where.child("diskSizeGb"), raw.get("diskSizeGb", 50), 20, 2000),
        min_nodes_per_zone=min_nodes,
        max_nodes_per_zone=max_nodes,
        spot=_boolean(where.child("spot"), raw.get("spot", False)),
        authorized_networks=networks,
        private_endpoint=private_endpoint,
        master_cidr=_cidr(where.child("masterCidr"), raw.get("masterCidr", "172.16.0.0/28"), private=True),
        nodes_cidr=_cidr(where.child("nodesCidr"), raw.get("nodesCidr", "10.10.0.0/20"), private=True),
        pods_cidr=_cidr(where.child("podsCidr"), raw.get("podsCidr", "10.20.0.0/14"), private=True),
        services_cidr=_cidr(where.child("servicesCidr"), raw.get("servicesCidr", "10.24.0.0/20"), private=True),
        deletion_protection=_boolean(where.child("deletionProtection"), raw.get("deletionProtection", True)),
        rbac_security_group=(None if raw.get("rbacSecurityGroup") is None else _string(
            where.child("rbacSecurityGroup"), raw["rbacSecurityGroup"], _EMAIL,
            "a Google Group address such as gke-security-groups@example.com")),
        intranode_visibility=_boolean(where.child("intranodeVisibility"),
                                      raw.get("intranodeVisibility", False)),
    )
    if (cluster.rbac_security_group is not None
            and not cluster.rbac_security_group.startswith("gke-security-groups@")):
        raise where.child("rbacSecurityGroup").fail(
            f"got {_show(cluster.rbac_security_group)}; Google Groups for RBAC requires the group "
            "named gke-security-groups@<your domain>")
    if ipaddress.ip_network(cluster.master_cidr).prefixlen != 28:
        raise where.child("masterCidr").fail(f"got {_show(cluster.master_cidr)}; GKE expects a /28")
    ranges = {"masterCidr": cluster.master_cidr, "nodesCidr": cluster.nodes_cidr,
              "podsCidr": cluster.pods_cidr, "servicesCidr": cluster.services_cidr}
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if ipaddress.ip_network(ranges[a]).overlaps(ipaddress.ip_network(ranges[b])):
                raise where.child(b).fail(f"got {_show(ranges[b])}, which overlaps {a} "
                                          f"{ranges[a]}; expected disjoint ranges")
    return cluster


def _authorized_network(where: _Where, raw: Any) -> AuthorizedNetwork:
    raw = _mapping(where, raw, ("name", "cidr"), ())
    cidr = _cidr(where.child("cidr"), raw["cidr"])
    if ipaddress.ip_network(cidr).prefixlen == 0:
        raise where.child("cidr").fail(f"got {_show(cidr)}; opening the control plane to the whole "
                                       "internet is refused, expected a narrower range")
    return AuthorizedNetwork(name=_string(where.child("name"), raw["name"]), cidr=cidr)


def _dns(where: _Where, raw: Any, domain: str, tls_source: str) -> DnsConfig:
    raw = _mapping(where, raw, (), ("zone", "zoneName", "caaIssuers"))
    mode = _choice(where.child("zone"), raw.get("zone", "create"), DNS_ZONE_MODES)
    caa_where = where.child("caaIssuers")
    if "caaIssuers" in raw:
        if mode != "create":
            raise caa_where.fail("set, but dns.zone is existing (its records are yours to manage); "
                                 "expected no caaIssuers")
        issuers = _list(caa_where, raw["caaIssuers"], _domain)
        if tls_source == "acme" and ACME_CAA_ISSUER not in issuers:
            raise caa_where.fail(f"got {_show(list(issuers))}; tls.source is acme, so expected a list "
                                 f"that includes {ACME_CAA_ISSUER}")
    elif mode == "create" and tls_source == "provided":
        raise caa_where.fail("missing; the zone is created with a CAA record and tls.source is "
                             "provided, so expected the CA domain(s) that issue your certificate, "
                             "such as [digicert.com]")
    else:
        # acme: only Let's Encrypt may issue; self-signed: no public CA may issue at all.
        issuers = (ACME_CAA_ISSUER,) if tls_source == "acme" else ()
    return DnsConfig(
        mode=mode,
        zone_name=_dns_label(where.child("zoneName"), raw.get("zoneName", domain.replace(".", "-")),
                             "a Cloud DNS managed zone name"),
        caa_issuers=issuers,
    )


def _tls(where: _Where, raw: Any, domain: str, certificate_pem: str | None,
         private_key: SecretText | bool, now: datetime.datetime) -> TlsConfig:
    """``private_key``: the provided key (this stack's own, to check it matches the
    certificate), True when it is set but unreadable here (another stack's encrypted value),
    False when absent."""
    raw = _mapping(where, raw, ("source",), ("validityDays", "earlyRenewalDays",
                                             "expiryWarningDays", "acme"))
    source = _choice(where.child("source"), raw["source"], TLS_SOURCES)
    names = (f"*.api.{domain}",)  # the wildcard covers exactly one label: every <env>.api.<domain>
    for key, allowed in (("validityDays", "self-signed"), ("earlyRenewalDays", "self-signed"),
                         ("expiryWarningDays", "provided"), ("acme", "acme")):
        if key in raw and source != allowed:
            raise where.child(key).fail(f"set, but tls.source is {source}; {key} applies to "
                                        f"tls.source {allowed} only, expected no {key}")
    validity = _integer(where.child("validityDays"), raw.get("validityDays", 90), 1, 825)
    renewal = _integer(where.child("earlyRenewalDays"), raw.get("earlyRenewalDays", 30), 0, 824)
    if renewal >= validity:
        raise where.child("earlyRenewalDays").fail(
            f"got {renewal}; expected fewer days than validityDays ({validity})")
    if source == "self-signed":
        return TlsConfig(source, names, validity, renewal)
    if source == "acme":
        acme_where = where.child("acme")
        if "acme" not in raw:
            raise acme_where.fail("missing; tls.source is acme, expected {email: <contact>, "
                                  "server: staging|production}")
        acme_raw = _mapping(acme_where, raw["acme"], ("email",), ("server",))
        acme = AcmeConfig(
            email=_string(acme_where.child("email"), acme_raw["email"], _EMAIL,
                          "an email address for Let's Encrypt expiry notices"),
            server=_choice(acme_where.child("server"), acme_raw.get("server", "staging"),
                           tuple(ACME_SERVERS)),
        )
        # cert-manager renews 30 days before expiry of Let's Encrypt's 90-day certificates.
        return TlsConfig(source, names, 90, 30, acme=acme)

    warning = _integer(where.child("expiryWarningDays"), raw.get("expiryWarningDays", 30), 0, 365)
    cert_where = _Where(where.stack_file, "tlsCertificate")
    if certificate_pem is None:
        raise cert_where.fail("missing; tls.source is 'provided', so set the PEM certificate chain "
                              "with `pulumi config set tlsCertificate -- \"$(cat fullchain.pem)\"` and "
                              "the key with `pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`")
    cert = _parse_certificate(cert_where, certificate_pem, now)
    expires = cert.not_valid_after_utc
    if expires - now < datetime.timedelta(days=warning):
        raise cert_where.fail(
            f"expires on {expires:%Y-%m-%d}, within expiryWarningDays ({warning}); expected a "
            "certificate valid beyond the warning window: renew it and set it again")
    names = _certificate_names(cert_where, cert)
    if private_key is False:
        raise _Where(where.stack_file, "tlsPrivateKey").fail(
            "missing; tls.source is 'provided', so set the PEM key with "
            "`pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`")
    if isinstance(private_key, SecretText):
        _check_key_matches(_Where(where.stack_file, "tlsPrivateKey"), cert, private_key)
    return TlsConfig(source, names, validity, renewal, certificate_pem,
                     expiry_warning_days=warning, not_after=f"{expires:%Y-%m-%d}")


class SecretText:
    """A secret config value held only to validate it: it never prints, never reaches a
    resource (resources get ``Config.require_secret``) and is not kept in the config."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText([secret])"

    __str__ = __repr__


def _check_key_matches(where: _Where, cert: Any, key: SecretText) -> None:
    from cryptography.hazmat.primitives import serialization

    text = key.reveal()
    if "PRIVATE KEY-----" not in text:
        raise where.fail("is not a PEM private key; expected text starting with -----BEGIN "
                         "PRIVATE KEY----- (or EC/RSA PRIVATE KEY)")
    try:
        loaded = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        # The parser's message could quote key material: say only what is wrong.
        raise where.fail("is not a readable unencrypted PEM private key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (loaded.public_key().public_bytes(serialization.Encoding.DER, spki)
            != cert.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise where.fail("does not match tlsCertificate (their public keys differ); expected the "
                         "key the certificate was issued for")


def _parse_certificate(where: _Where, pem: Any, now: datetime.datetime) -> Any:
    from cryptography import x509  # imported only when a stack provides a certificate

    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        raise where.fail("got no PEM certificate; expected text starting with "
                         "-----BEGIN CERTIFICATE-----")
    if "PRIVATE KEY" in pem:
        raise where.fail("contains a private key; keys belong in secret config only")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as err:
        raise where.fail(f"is not a readable PEM certificate ({err})") from None
    if cert.not_valid_after_utc <= now:
        raise where.fail(f"expired on {cert.not_valid_after_utc:%Y-%m-%d}; expected a valid certificate")
    return cert


def _certificate_names(where: _Where, cert: Any) -> tuple[str, ...]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    if not names:
        raise where.fail("has no DNS subject alternative names; expected one such as *.api.<domain>")
    return names


def host_covered(host: str, names: Sequence[str]) -> bool:
    """True when a certificate name covers ``host``; a wildcard covers exactly one label."""
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _platform(stack_file: str, raw: Any, certificate_pem: str | None,
              private_key: SecretText | bool, now: datetime.datetime) -> PlatformConfig:
    where = _Where(stack_file, "platform")
    raw = _mapping(where, raw, ("project", "region", "zones", "domain", "cluster", "tls"),
                   ("dns", "binaryAuthorization"))
    project = _string(where.child("project"), raw["project"], _GCP_PROJECT,
                      "a GCP project id (6-30 lowercase letters, digits and '-')")
    region = _string(where.child("region"), raw["region"], _GCP_REGION, "a GCP region such as europe-west1")
    zones = _list(where.child("zones"), raw["zones"],
                  lambda w, v: _string(w, v, re.compile(rf"^{re.escape(region)}-[a-z]$"),
                                       f"a zone of region {region} such as {region}-b"),
                  min_items=1)
    if len(set(zones)) != len(zones):
        raise where.child("zones").fail(f"got {_show(list(zones))}; zones must be unique")
    domain = _domain(where.child("domain"), raw["domain"])
    cluster = _cluster(where.child("cluster"), raw["cluster"])
    tls = _tls(where.child("tls"), raw["tls"], domain, certificate_pem, private_key, now)
    return PlatformConfig(
        project=project,
        region=region,
        zones=zones,
        domain=domain,
        cluster=cluster,
        dns=_dns(where.child("dns"), raw.get("dns", {}), domain, tls.source),
        tls=tls,
        binary_authorization=_binary_authorization(where.child("binaryAuthorization"),
                                                   raw.get("binaryAuthorization", {})),
    )


BINARY_AUTHORIZATION_ENFORCEMENT = ("dry-run", "enforce")
_ATTESTOR = re.compile(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/attestors/[A-Za-z0-9_-]{1,64}$")
# registry/path, with a '*' allowed only at the end and only after the registry (Binary
# Authorization's admissionWhitelistPatterns rule).
_IMAGE_PATTERN = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]*\*{0,2}$")


def _binary_authorization(where: _Where, raw: Any) -> BinaryAuthorizationConfig:
    raw = _mapping(where, raw, (), ("enforcement", "attestors", "allowlist"))
    return BinaryAuthorizationConfig(
        enforcement=_choice(where.child("enforcement"), raw.get("enforcement", "dry-run"),
                            BINARY_AUTHORIZATION_ENFORCEMENT),
        attestors=_list(where.child("attestors"), raw.get("attestors", []),
                        lambda w, v: _string(w, v, _ATTESTOR,
                                             "an attestor such as projects/<project>/attestors/<name>")),
        allowlist=_list(where.child("allowlist"), raw.get("allowlist", []),
                        lambda w, v: _string(w, v, _IMAGE_PATTERN,
                                             "an image pattern such as europe-docker.pkg.dev/acme/apps/* "
                                             "(registry/path, '*' only at the end)")),
    )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _environment_of(stack: str, config: Mapping[str, Any], stack_file: str) -> EnvironmentConfig | None:
    raw = config.get(f"{NAMESPACE}:environment")
    if raw is None:
        return None
    return _environment(_Where(stack_file, "environment"), raw, stack,
                        config.get(f"{NAMESPACE}:clientCaCertificate"))


def load(
    stack: str,
    project_dir: Path | None = None,
    read: Callable[[str], Any] | None = None,
    known_keys: Sequence[str] | None = None,
    now: datetime.datetime | None = None,
) -> StackConfig:
    """Validate this stack's configuration.

    ``read(key)`` returns the raw (decoded) value of ``istio-envs:<key>`` or None, and
    ``known_keys`` lists every config key the engine passed; both default to Pulumi's runtime
    config. Sibling stack files are read from ``project_dir`` (default: the project root).
    """
    stack_file = stack_file_name(stack)
    # The engine runs the program with the project root (Pulumi.yaml, the stack files) set.
    project_dir = project_dir or Path(pulumi.get_root_directory() or PROJECT_DIR)
    if read is None:
        read, known_keys = _pulumi_reader(stack_file)
    now = now or datetime.datetime.now(datetime.timezone.utc)

    for key in known_keys or ():
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE and name not in TOP_LEVEL_KEYS:
            raise ConfigError(stack_file, name, f"unknown key; expected one of {', '.join(TOP_LEVEL_KEYS)}")

    env_raw = read("environment")
    if env_raw is None:
        raise ConfigError(stack_file, "environment", "missing; every stack declares its environment "
                          "(routes and auth)")
    environment = _environment(_Where(stack_file, "environment"), env_raw, stack,
                               read("clientCaCertificate"), now)

    platform_raw, attach_raw = read("platform"), read("attachTo")
    if (platform_raw is None) == (attach_raw is None):
        raise ConfigError(stack_file, "platform" if platform_raw is not None else "attachTo",
                          "expected exactly one of `platform` (this stack owns the cluster) or "
                          "`attachTo: <owner stack>` (this stack joins the owner's cluster)")

    # Every other stack file, read once: the owner's platform and the cross-stack rules use them.
    siblings = {other.file_name: other.config for other in StackSet.load(project_dir).others(stack)}
    owner_stack: str | None = None
    if platform_raw is not None:
        key = read("tlsPrivateKey")
        platform = _platform(stack_file, platform_raw, read("tlsCertificate"),
                             SecretText(key) if isinstance(key, str) else key is not None, now)
    else:
        where = _Where(stack_file, "attachTo")
        owner_stack = _string(where, attach_raw, re.compile(r"^([-\w.]+/){0,2}[-\w.]+$"),
                              "an owner stack name such as dev or acme/istio-envs/dev")
        owner = short_stack(owner_stack)
        if owner == stack:
            raise where.fail(f"got {_show(owner_stack)}, this stack itself; expected the stack that "
                             "owns the platform")
        owner_path = project_dir / stack_file_name(owner)
        if owner_path.name not in siblings:
            raise where.fail(f"got {_show(owner_stack)}, but {owner_path.name} does not exist; "
                             "expected the stack file of the platform owner")
        owner_config = siblings[owner_path.name]
        owner_platform = owner_config.get(f"{NAMESPACE}:platform")
        if owner_platform is None:
            raise where.fail(f"got {_show(owner_stack)}, but {owner_path.name} has no "
                             f"{NAMESPACE}:platform; expected the stack that owns the platform")
        platform = _platform(owner_path.name, owner_platform,
                             owner_config.get(f"{NAMESPACE}:tlsCertificate"),
                             f"{NAMESPACE}:tlsPrivateKey" in owner_config, now)

    config = StackConfig(stack=stack, stack_file=stack_file, environment=environment,
                         platform=platform, owns_platform=platform_raw is not None,
                         owner_stack=owner_stack)
    if not host_covered(config.host, platform.tls.dns_names):
        raise ConfigError(stack_file, "environment.name",
                          f"host {config.host} is not covered by the certificate names "
                          f"{', '.join(platform.tls.dns_names)}; expected a host the certificate covers")
    _check_against_other_stacks(config, siblings)
    return config


def _check_against_other_stacks(config: StackConfig,
                                siblings: Mapping[str, Mapping[str, Any]]) -> None:
    """Environment names and audiences must be unique across the project's stacks: a shared
    audience would let one environment's tokens open another (the write-ups' isolation rule)."""
    for file_name, other_config in siblings.items():
        other_stack = file_name[len("Pulumi."):-len(".yaml")]
        other = _environment_of(other_stack, other_config, file_name)
        if other is None:
            continue
        attached_here = other_config.get(f"{NAMESPACE}:attachTo")
        if (config.owns_platform and isinstance(attached_here, str)
                and short_stack(attached_here) == config.stack):
            # Every environment on this platform must be covered, not only this stack's own.
            host = config.platform.host_for(other.name)
            if not host_covered(host, config.platform.tls.dns_names):
                raise ConfigError(config.stack_file, "tlsCertificate",
                                  f"does not cover {host}, the host of {file_name}; expected "
                                  f"a certificate for every environment host (names: "
                                  f"{', '.join(config.platform.tls.dns_names)})")
        if other.name == config.environment.name:
            raise ConfigError(config.stack_file, "environment.name",
                              f"got {_show(other.name)}, already the environment of {file_name}; "
                              "expected a name no other stack uses")
        shared = sorted(set(other.auth.audiences) & set(config.environment.auth.audiences))
        if shared:
            raise ConfigError(config.stack_file, "environment.auth.audiences",
                              f"{_show(shared[0])} is also an audience of {file_name}; expected "
                              "audiences unique to this environment")


def _pulumi_reader(stack_file: str) -> tuple[Callable[[str], Any], list[str]]:
    """Read values through Pulumi's own config (the engine's decrypted values)."""
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(NAMESPACE)

    def read(key: str) -> Any:
        if key in ("tlsCertificate", "tlsPrivateKey", "clientCaCertificate"):
            # PEM text, never JSON. The key is only wrapped in SecretText to check it matches.
            return config.get(key)
        try:
            return config.get_object(key)
        except (pulumi.ConfigTypeError, json.JSONDecodeError, ValueError):
            raw = config.get(key)
            return raw  # not JSON: a plain string; the section validator names the expected form

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return read, sorted(keys)


def private_key_secret() -> pulumi.Output[str]:
    """The provided certificate's private key, only ever as a Pulumi secret."""
    return pulumi.Config(NAMESPACE).require_secret("tlsPrivateKey")
