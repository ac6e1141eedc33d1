"""Stack configuration: read once, validated, frozen. A stack file's ``istio-envs:*`` keys are
pydantic models (loading.py's StackKeys over environment.py and platform.py, of the types in
types.py), each key's meaning its field's description; ``load`` raises :class:`ConfigError` (a
``pulumi.RunError``: one line per problem, messages.py) before any resource is declared.
``python -m tools.config_reference`` writes their JSON Schema and docs/configuration.md."""

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
                          Route,
                          demo_text,
)
from .loading import TOP_LEVEL_KEYS, StackConfig, StackKeys, load, private_key_secret, validate
from .platform import (
                          ACME_SERVERS,
                          AcmeTls,
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

__all__ = ["ACME_SERVERS", "DEMO_HEALTH_PATH", "DEMO_LIMITS", "DEMO_REQUESTS", "DEMO_ROUTE", "DNS_LABEL",
           "NAMESPACE", "RESERVED_NAMESPACES", "TOP_LEVEL_KEYS", "AcmeTls", "BinaryAuthorizationConfig",
           "ClientTls", "ClusterConfig", "ConfigError", "EgressDestination", "EnvironmentConfig", "DnsConfig",
           "MaintenanceWindow", "PlatformConfig", "Problem", "ProvidedTls", "Route", "SecretText", "SelfSignedTls",
           "StackConfig", "StackKeys", "TlsConfig", "demo_text", "host_covered", "load", "private_key_secret",
           "validate"]
