"""Stack configuration: read once, validated, frozen.

Everything a stack needs comes from its stack file ``Pulumi.<stack>.yaml`` under the project
namespace ``istio-envs``. The schema is declared once, as pydantic models (models.py) over value
types (types.py); loading (loading.py) builds them from Pulumi's config, checks the rules across
keys (rules.py), the PEM values (certificates.py) and the stack files (stackset), and raises
:class:`ConfigError` (a ``pulumi.RunError``: ``pulumi up`` prints its lines, no traceback) with
every problem found, before any resource is declared. Every key under ``config:`` is one the
program reads, or a problem (keys.py). ``python -m components.config.schema`` writes the JSON
Schema of a stack file for editors.

Keys (see the README tables for every field):

- ``istio-envs:environment`` (every stack): name, routes, auth, quota, tls, egress.
- ``istio-envs:platform`` (the owner stack only): project, region, zones, domain, cluster, dns,
  tls, binaryAuthorization.
- ``istio-envs:attachTo`` (attached stacks only): the owner stack whose platform this environment
  joins.
- ``istio-envs:tlsCertificate`` / ``istio-envs:tlsPrivateKey`` (owner, ``tls.source: provided``):
  the PEM certificate chain and the PEM key (the key set with ``pulumi config set --secret``).
- ``istio-envs:clientCaCertificate`` (``environment.tls.clientCa: provided``): the client CA.
"""

from ..errors import NAMESPACE, ConfigError, Problem
from ..stackset import read_stack_file
from .certificates import SecretText, host_covered
from .loading import StackConfig, load, private_key_secret
from .models import (
    ACME_CAA_ISSUER,
    ACME_SERVERS,
    DEMO_HEALTH_PATH,
    DEMO_LIMITS,
    DEMO_REQUESTS,
    DEMO_ROUTE,
    RESERVED_NAMESPACES,
    TLS_SOURCES,
    TOP_LEVEL_KEYS,
    AcmeConfig,
    AcmeTls,
    AuthorizedNetwork,
    BinaryAuthorizationConfig,
    ClientTls,
    ClusterConfig,
    DnsConfig,
    EgressDestination,
    EnvironmentConfig,
    JwtAuth,
    MaintenanceWindow,
    PlatformConfig,
    ProvidedTls,
    Quota,
    Route,
    SelfSignedTls,
    StackKeys,
    TlsConfig,
    demo_text,
)
from .types import DNS_LABEL

__all__ = [
    "ACME_CAA_ISSUER", "ACME_SERVERS", "DEMO_HEALTH_PATH", "DEMO_LIMITS", "DEMO_REQUESTS",
    "DEMO_ROUTE", "DNS_LABEL", "NAMESPACE", "RESERVED_NAMESPACES", "TLS_SOURCES",
    "TOP_LEVEL_KEYS", "AcmeConfig", "AcmeTls", "AuthorizedNetwork", "BinaryAuthorizationConfig",
    "ClientTls", "ClusterConfig", "ConfigError", "DnsConfig", "EgressDestination",
    "EnvironmentConfig", "JwtAuth", "MaintenanceWindow", "PlatformConfig", "Problem", "ProvidedTls", "Quota", "Route",
    "SecretText", "SelfSignedTls", "StackConfig", "StackKeys", "TlsConfig", "host_covered", "load",
    "demo_text", "private_key_secret", "read_stack_file",
]
