"""Stack configuration: read once, validated, frozen.

Everything a stack needs comes from its stack file ``Pulumi.<stack>.yaml`` under the project
namespace ``istio-envs``: pydantic models (models.py, over environment.py and platform.py) of
value types (types.py), each key's meaning its field's description, built by loading.py from
Pulumi's config, their errors as one line each (messages.py), the PEM values checked with
``cryptography`` (certificates.py). :func:`load` raises :class:`ConfigError` (a
``pulumi.RunError``: ``pulumi up`` prints its lines, no traceback) with every problem found,
before any resource is declared. ``python -m components.config.schema`` writes the JSON Schema
of a stack file for editors and docs/configuration.md. The rules across stack files are
components/fleet.py's.
"""

from ..errors import NAMESPACE, ConfigError, Problem
from .certificates import SecretText, host_covered
from .environment import (
                          DEMO_HEALTH_PATH,
                          DEMO_LIMITS,
                          DEMO_REQUESTS,
                          DEMO_ROUTE,
                          RESERVED_NAMESPACES,
                          ClientTls,
                          EgressDestination,
                          EnvironmentConfig,
                          JwtAuth,
                          Quota,
                          Route,
                          demo_text,
)
from .loading import StackConfig, load, private_key_secret, validate
from .models import TOP_LEVEL_KEYS, StackKeys
from .platform import (
                          ACME_CAA_ISSUER,
                          ACME_SERVERS,
                          TLS_SOURCES,
                          AcmeConfig,
                          AcmeTls,
                          AuthorizedNetwork,
                          BinaryAuthorizationConfig,
                          ClusterConfig,
                          DnsConfig,
                          MaintenanceWindow,
                          PlatformConfig,
                          ProvidedTls,
                          SelfSignedTls,
                          TlsConfig,
)
from .types import DNS_LABEL

__all__ = [
    "ACME_CAA_ISSUER", "ACME_SERVERS", "DEMO_HEALTH_PATH", "DEMO_LIMITS", "DEMO_REQUESTS",
    "DEMO_ROUTE", "DNS_LABEL", "NAMESPACE", "RESERVED_NAMESPACES", "TLS_SOURCES", "TOP_LEVEL_KEYS",
    "AcmeConfig", "AcmeTls", "AuthorizedNetwork", "BinaryAuthorizationConfig", "ClientTls",
    "ClusterConfig", "ConfigError", "DnsConfig", "EgressDestination", "EnvironmentConfig", "JwtAuth",
    "MaintenanceWindow", "PlatformConfig", "Problem", "ProvidedTls", "Quota", "Route", "SecretText",
    "SelfSignedTls", "StackConfig", "StackKeys", "TlsConfig", "demo_text", "host_covered", "load",
    "private_key_secret", "validate",
]
