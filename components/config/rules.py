"""Rules across keys, checked in plain code once a model is built (pydantic checks each value;
these check values against each other): autoscaling bounds, disjoint ranges, unique route paths,
audiences and zones, public paths under a route, client TLS against its CA, CAA issuers against
the TLS source, a provided certificate against its key and its warning window.

:func:`check` walks a built model and runs the rules of every model in it (:data:`RULES`, by
class); each rule reports through :class:`Checks`, so every broken rule of a file is reported,
not only the first.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from ..errors import Problem
from ..versions import ISTIO_SIDECAR_REQUESTS
from .certificates import (
    CertificateFacts,
    Refused,
    SecretText,
    check_client_ca,
    check_key_matches,
    server_certificate,
)
from .models import (
    ACME_CAA_ISSUER,
    DEMO_REQUESTS,
    DEMO_ROUTE,
    MAINTENANCE_HOURS_PER_32_DAYS,
    RESERVED_NAMESPACES,
    WEEKLY_OCCURRENCES_IN_32_DAYS,
    ClientTls,
    ClusterConfig,
    DnsConfig,
    EnvironmentConfig,
    JwtAuth,
    PlatformConfig,
    ProvidedTls,
    SelfSignedTls,
)
from .types import DNS_LABEL, DNS_LABEL_RULE, duration_ms, quantity_value, show


@dataclass
class Checks:
    """Where the problems of one stack file go, and the values besides the model that its rules
    read: the PEM keys of ``config:``."""

    stack_file: str
    now: datetime.datetime
    problems: list[Problem] = field(default_factory=list)
    certificate_pem: str | None = None
    private_key: SecretText | bool = False
    """The provided key: this stack's own (checked against the certificate), True when it is set
    but unreadable here (another stack's encrypted value), False when absent."""
    client_ca_pem: str | None = None
    refused: set[str] = field(default_factory=set)
    """Keys whose value was refused already (a rule that reads them says nothing more)."""
    certificate: CertificateFacts | None = None
    """Set by the provided-certificate rule once the certificate passed."""

    def fail(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.stack_file, key, message))


Rule = Callable[[Any, str, Checks], None]
RULES: dict[type, list[Rule]] = {}
M = TypeVar("M")


def rule(kind: type[M]) -> Callable[[Callable[[M, str, Checks], None]], Callable[[M, str, Checks], None]]:
    def register(function: Callable[[M, str, Checks], None]) -> Callable[[M, str, Checks], None]:
        RULES.setdefault(kind, []).append(function)
        return function
    return register


def join(key: str, sub: str | int) -> str:
    if isinstance(sub, int):
        return f"{key}[{sub}]"
    return f"{key}.{sub}" if key else sub


def check(value: Any, key: str, checks: Checks) -> None:
    """Run the rules of ``value`` and of every model inside it (fields first)."""
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            check(getattr(value, name), join(key, info.alias or name), checks)
        for function in RULES.get(type(value), ()):
            function(value, key, checks)
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            check(item, join(key, i), checks)


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


@rule(EnvironmentConfig)
def _environment(env: EnvironmentConfig, key: str, checks: Checks) -> None:
    if "name" in env.model_fields_set and env.name in RESERVED_NAMESPACES:
        checks.fail(join(key, "name"), f"got {show(env.name)}; that namespace belongs to the cluster "
                                       "or the mesh, choose another environment name")
    seen: dict[str, int] = {}
    for i, route in enumerate(env.routes):
        if route.path in seen:
            checks.fail(f"{key}.routes[{i}].path", f"got {show(route.path)} again (also "
                        f"routes[{seen[route.path]}]); each path prefix may be routed once")
        seen.setdefault(route.path, i)
    for i, route in enumerate(env.routes):
        per_try = route.retries.per_try_timeout if route.retries else None
        if per_try and route.timeout and duration_ms(per_try) > duration_ms(route.timeout):
            checks.fail(f"{key}.routes[{i}].retries.perTryTimeout",
                        f"got {show(per_try)}, longer than the route's timeout {route.timeout}; "
                        "expected at most the timeout (no try could use it)")
    if not env.routes and not env.demo:
        checks.fail(join(key, "routes"), "got no routes; expected at least one {path, service, "
                                         "port}, or demo: true for the demo workload alone")
    if env.demo:
        _demo(env, key, checks)
    for i, public in enumerate(env.auth.public_paths):
        if not any(_under(public, route.path) for route in env.served_routes):
            checks.fail(f"{key}.auth.publicPaths[{i}]", f"got {show(public)}; it is under no route, "
                        f"expected a path under one of {', '.join(r.path for r in env.served_routes)}")
    seen_egress: dict[tuple[str, int], int] = {}
    for i, destination in enumerate(env.egress):
        pair = (destination.host, destination.port)
        if pair in seen_egress:
            checks.fail(f"{key}.egress[{i}]", f"got {destination.host}:{destination.port} again (also "
                        f"egress[{seen_egress[pair]}]); expected each host and port once")
        seen_egress.setdefault(pair, i)


def demo_pod_requests() -> dict[str, float]:
    """What one demo pod takes from its namespace's quota: the echo container and its sidecar."""
    return {resource: (quantity_value(DEMO_REQUESTS[resource]) or 0)
            + (quantity_value(ISTIO_SIDECAR_REQUESTS[resource]) or 0) for resource in DEMO_REQUESTS}


def _demo(env: EnvironmentConfig, key: str, checks: Checks) -> None:
    """The demo's route and Service name are its own; its pod fits the namespace quota."""
    for i, route in enumerate(env.routes):
        if route.path == DEMO_ROUTE.path or route.service == DEMO_ROUTE.service:
            taken = "path" if route.path == DEMO_ROUTE.path else "service"
            checks.fail(f"{key}.routes[{i}].{taken}",
                        f"got {show(getattr(route, taken))}; with demo: true the demo workload "
                        f"serves {DEMO_ROUTE.path} from Service {DEMO_ROUTE.service}: choose another "
                        f"{taken}, or set demo: false")
    needed = demo_pod_requests()
    for resource, value in (("cpu", env.quota.cpu), ("memory", env.quota.memory)):
        if (quantity_value(value) or 0) < needed[resource]:
            want = DEMO_REQUESTS[resource], ISTIO_SIDECAR_REQUESTS[resource]
            checks.fail(join(key, f"quota.{resource}"),
                        f"got {show(value)}; the demo pod alone requests {want[0]} plus its "
                        f"sidecar's {want[1]}: expected at least that, or demo: false")


@rule(JwtAuth)
def _audiences(auth: JwtAuth, key: str, checks: Checks) -> None:
    if len(set(auth.audiences)) != len(auth.audiences):
        checks.fail(join(key, "audiences"), f"got {show(list(auth.audiences))}; audiences must be unique")


CLIENT_CA = "clientCaCertificate"


@rule(ClientTls)
def _client_tls(tls: ClientTls, key: str, checks: Checks) -> None:
    has_ca = checks.client_ca_pem is not None or CLIENT_CA in checks.refused
    if tls.mode == "SIMPLE":
        for name, alias in (("client_ca", "clientCa"), ("client_certificate_days", "clientCertificateDays")):
            if name in tls.model_fields_set:
                checks.fail(join(key, alias), "set, but tls.mode is SIMPLE (no client certificates); "
                                              f"expected tls.mode: MUTUAL or no {alias}")
        if has_ca:
            checks.fail(CLIENT_CA, "set, but environment.tls.mode is SIMPLE; expected "
                                   "environment.tls.mode: MUTUAL with clientCa: provided")
        return
    if tls.client_ca is None:
        checks.fail(join(key, "clientCa"), "missing; tls.mode MUTUAL needs a client CA, expected one "
                                           "of self-signed, provided")
        return
    if tls.client_ca == "self-signed":
        if has_ca:
            checks.fail(CLIENT_CA, "set, but environment.tls.clientCa is self-signed; expected "
                                   "clientCa: provided, or no clientCaCertificate")
        return
    if "client_certificate_days" in tls.model_fields_set:
        checks.fail(join(key, "clientCertificateDays"), "set, but clientCa is provided (client "
                    "certificates come from your CA); expected no clientCertificateDays")
    if checks.client_ca_pem is None:
        if not has_ca:
            checks.fail(CLIENT_CA, "missing; environment.tls.clientCa is provided, so set the client "
                                   "CA's PEM certificate with `pulumi config set clientCaCertificate -- "
                                   "\"$(cat client-ca.pem)\"`")
        return
    try:
        check_client_ca(checks.client_ca_pem, checks.now)
    except Refused as refused:
        checks.fail(CLIENT_CA, str(refused))


@rule(ClusterConfig)
def _cluster(cluster: ClusterConfig, key: str, checks: Checks) -> None:
    if not cluster.authorized_networks and not cluster.private_endpoint:
        checks.fail(join(key, "authorizedNetworks"),
                    "got an empty list; expected at least one CIDR allowed to reach the public control "
                    "plane endpoint (or set privateEndpoint: true)")
    if cluster.min_nodes_per_zone > cluster.max_nodes_per_zone:
        checks.fail(join(key, "minNodesPerZone"), f"got {cluster.min_nodes_per_zone}, more than "
                    f"maxNodesPerZone {cluster.max_nodes_per_zone}; expected min <= max")
    if ipaddress.ip_network(cluster.master_cidr).prefixlen != 28:
        checks.fail(join(key, "masterCidr"), f"got {show(cluster.master_cidr)}; GKE expects a /28")
    window = cluster.maintenance_window
    if len(set(window.days)) != len(window.days):
        checks.fail(join(key, "maintenanceWindow.days"),
                    f"got {show(list(window.days))}; days must be unique")
    elif len(window.days) * window.hours * WEEKLY_OCCURRENCES_IN_32_DAYS < MAINTENANCE_HOURS_PER_32_DAYS:
        checks.fail(join(key, "maintenanceWindow"),
                    f"got {len(window.days)} day(s) of {window.hours} h a week, at least "
                    f"{len(window.days) * window.hours * WEEKLY_OCCURRENCES_IN_32_DAYS} h in 32 days; "
                    f"GKE expects at least {MAINTENANCE_HOURS_PER_32_DAYS} h in any 32 days (more "
                    "days or hours)")
    ranges = {"masterCidr": cluster.master_cidr, "nodesCidr": cluster.nodes_cidr,
              "podsCidr": cluster.pods_cidr, "servicesCidr": cluster.services_cidr}
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if ipaddress.ip_network(ranges[a]).overlaps(ipaddress.ip_network(ranges[b])):
                checks.fail(join(key, b), f"got {show(ranges[b])}, which overlaps {a} {ranges[a]}; "
                                          "expected disjoint ranges")


@rule(SelfSignedTls)
def _lifetime(tls: SelfSignedTls, key: str, checks: Checks) -> None:
    if tls.early_renewal_days >= tls.validity_days:
        checks.fail(join(key, "earlyRenewalDays"), f"got {tls.early_renewal_days}; expected fewer "
                    f"days than validityDays ({tls.validity_days})")


@rule(ProvidedTls)
def _provided_certificate(tls: ProvidedTls, key: str, checks: Checks) -> None:
    if "tlsCertificate" in checks.refused:
        return
    if checks.certificate_pem is None:
        checks.fail("tlsCertificate", "missing; tls.source is 'provided', so set the PEM certificate "
                    "chain with `pulumi config set tlsCertificate -- \"$(cat fullchain.pem)\"` and the "
                    "key with `pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`")
        return
    try:
        cert, checks.certificate = server_certificate(checks.certificate_pem, checks.now,
                                                      tls.expiry_warning_days)
    except Refused as refused:
        checks.fail("tlsCertificate", str(refused))
        return
    if checks.private_key is False:
        checks.fail("tlsPrivateKey", "missing; tls.source is 'provided', so set the PEM key with "
                    "`pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`")
    elif isinstance(checks.private_key, SecretText):
        try:
            check_key_matches(cert, checks.private_key)
        except Refused as refused:
            checks.fail("tlsPrivateKey", str(refused))


@rule(PlatformConfig)
def _platform(platform: PlatformConfig, key: str, checks: Checks) -> None:
    zones = platform.zones
    for i, zone in enumerate(zones):
        if not re.fullmatch(rf"{re.escape(platform.region)}-[a-z]", zone):
            checks.fail(f"{key}.zones[{i}]", f"got {show(zone)}; expected a zone of region "
                        f"{platform.region} such as {platform.region}-b")
    if len(set(zones)) != len(zones):
        checks.fail(join(key, "zones"), f"got {show(list(zones))}; zones must be unique")
    dns, source = platform.dns, platform.tls.source
    caa = f"{key}.dns.caaIssuers"
    if "caa_issuers" in dns.model_fields_set:
        if dns.zone != "create":
            checks.fail(caa, "set, but dns.zone is existing (its records are yours to manage); "
                             "expected no caaIssuers")
        elif source == "acme" and ACME_CAA_ISSUER not in dns.caa_issuers:
            checks.fail(caa, f"got {show(list(dns.caa_issuers))}; tls.source is acme, so expected a "
                             f"list that includes {ACME_CAA_ISSUER}")
    elif dns.zone == "create" and source == "provided":
        checks.fail(caa, "missing; the zone is created with a CAA record and tls.source is provided, "
                         "so expected the CA domain(s) that issue your certificate, such as "
                         "[digicert.com]")
    if "zone_name" not in dns.model_fields_set:
        default = default_zone_name(platform)
        if not DNS_LABEL.match(default):
            checks.fail(f"{key}.dns.zoneName", f"missing, and the default {show(default)} (the name "
                        f"the zone serves with - for .) is not a Cloud DNS managed zone name, which "
                        f"is {DNS_LABEL_RULE}; expected a zoneName")
    for field_name in ("zone_domain", "released_zone"):
        if field_name in dns.model_fields_set and dns.zone != "create":
            alias = DnsConfig.model_fields[field_name].alias
            checks.fail(f"{key}.dns.{alias}", f"set, but dns.zone is existing (the looked-up zone may "
                        f"serve {platform.api_domain} or {platform.domain}); expected no {alias}")
    released, zone_name = dns.released_zone, dns.zone_name or default_zone_name(platform)
    if released is not None and dns.zone == "create":
        # With its own zoneDomain the deployed zone is released (same name); with the new one,
        # the new zone needs another name: the released zone stays in Cloud DNS, names are unique.
        if dns.zone_domain == "apex" and released != zone_name:
            checks.fail(f"{key}.dns.releasedZone", f"got {show(released)}, but this stack's zone is "
                        f"{show(zone_name)} (zoneDomain apex); expected {show(zone_name)} to release it")
        elif dns.zone_domain == "api" and released == zone_name:
            checks.fail(f"{key}.dns.releasedZone", f"got {show(released)}, the name of the zone for "
                        f"{platform.api_domain} too; expected the deployed zone's name, and a "
                        f"zoneName other than it (the released zone stays in Cloud DNS)")


def default_zone_name(platform: PlatformConfig) -> str:
    """A created zone: the name it serves with - for . (``api-example-com``); an existing one: the
    domain's (``example-com``, what a company's own zone is usually called)."""
    dns = platform.dns
    return (dns.served_domain(platform) if dns.zone == "create" else platform.domain).replace(".", "-")
