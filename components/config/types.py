"""The value types of the stack config, each an ``Annotated`` type that checks one value, says
what is wrong in the program's own words (``PydanticCustomError``) and states its JSON Schema.

Strict where YAML and Pulumi's config could blur a value: a string ``"8080"`` is not a port and
``true`` is not a count; whole floats are integers (the engine may pass numbers as floats) and
an integer is a Kubernetes quantity (``cpu: 4`` is ``"4"``). A boolean or number written in a
YAML 1.1-only form (``no``, ``on``, ``1:30``, ``0755``) is refused with the reading that differs:
the Pulumi CLI reads stack files YAML 1.2-style, so ``regional: no`` reaches the program as the
string ``"no"``, and ``0755`` as 493.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic_core import PydanticCustomError, core_schema

from ..errors import NAMESPACE
from ..stackset import Yaml11Number

MAX_TEXT = 2048
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
DNS_LABEL_RULE = ("a DNS label (lowercase letters, digits and '-', starting with a letter, at most "
                  "63 characters)")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DOMAIN_PATTERN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]+$"


def fail(message: str) -> PydanticCustomError:
    """Our message as a pydantic error (the template is the message itself, never re-read)."""
    return PydanticCustomError("config_value", "{message}", {"message": message})


def show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (dict, "a mapping"), (list, "a list")):
        if isinstance(value, kind):
            return name
    return "nothing (null)" if value is None else type(value).__name__


# ---------------------------------------------------------------------------------------------
# YAML 1.1-only spellings of booleans and numbers

_BOOL_WORD = re.compile(r"(?i)y|yes|n|no|on|off")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")


def _written(value: Any) -> str | None:
    """The scalar as written in the file (a marked number), or the string the program got."""
    return value.text if isinstance(value, Yaml11Number) else value if isinstance(value, str) else None


def _base60(text: str) -> int | float:
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("+-").replace("_", "").partition(".")
    number = 0
    for part in whole.split(":"):
        number = number * 60 + int(part)
    return sign * (number + float(f"0.{fraction}")) if fraction else sign * number


def boolean_hint(value: Any) -> str | None:
    """``YAML 1.1 reads no as false, ...`` for a yes/no/on/off/y/n word (any case)."""
    text = _written(value)
    if text is None or not _BOOL_WORD.fullmatch(text):
        return None
    meant = "true" if text.lower() in ("y", "yes", "on") else "false"
    return f'YAML 1.1 reads {text} as {meant}, the Pulumi CLI as the string "{text}": write {meant}'


def number_hint(value: Any) -> str | None:
    """The differing readings of a sexagesimal or leading-zero number (or any scalar the
    stack-file reader marked), for a key that expects a number."""
    text = _written(value)
    if text is None:
        return None
    if _SEXAGESIMAL.fullmatch(text):
        number = _base60(text)
        return (f'YAML 1.1 reads {text} as {number} (base 60), the Pulumi CLI as the string '
                f'"{text}": write {number}')
    if not isinstance(value, Yaml11Number):
        return None
    if re.fullmatch(r"[-+]?0[0-7_]+", text):
        decimal = int(text.replace("_", ""), 10)
        return (f"YAML 1.1 and the Pulumi CLI read {text} as the octal {int(value)}, YAML 1.2 as "
                f"{decimal}: write {int(value)}, or {decimal} if you meant decimal")
    return (f"YAML 1.1 and the Pulumi CLI read {text} as {int(value)}, YAML 1.2 otherwise: "
            f"write {int(value)}")


def _got(value: Any) -> str:
    """A marked number as written (``0755``); anything else as a value."""
    return value.text if isinstance(value, Yaml11Number) else show(value)


# ---------------------------------------------------------------------------------------------
# The validators behind the types (each also states its JSON Schema)


class _Check:
    def validate(self, value: Any) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict:
        raise NotImplementedError

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict:
        return self.json_schema()


@dataclass(frozen=True)
class Text(_Check):
    """A non-empty string of at most 2048 characters, matching ``pattern`` if given, then
    ``check`` (which returns a problem or None)."""

    expected: str = ""
    pattern: str | None = None
    check: Callable[[str], str | None] | None = None
    json_pattern: str | None = None

    def json_schema(self) -> dict:
        pattern = self.json_pattern or self.pattern
        return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                **({"pattern": pattern} if pattern else {})}

    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise fail(f"got {type_name(value)} {show(value)}; expected a non-empty string"
                       + (f" ({self.expected})" if self.expected else ""))
        text = str(value)  # a plain str, whatever the reader handed
        if len(text) > MAX_TEXT:
            raise fail(f"got a string of {len(text)} characters; expected at most {MAX_TEXT}")
        if self.pattern is not None and not re.match(self.pattern, text):
            raise fail(f"got {show(text)}; expected {self.expected}")
        problem = self.check(text) if self.check else None
        if problem:
            raise fail(problem)
        return text


@dataclass(frozen=True)
class Int(_Check):
    """An integer from ``low`` to ``high``; a whole float is one, a boolean or string is not."""

    low: int
    high: int

    def json_schema(self) -> dict:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def validate(self, value: Any) -> int:
        expected = f"expected an integer from {self.low} to {self.high}"
        hint = number_hint(value)
        if hint:
            raise fail(f"got {_got(value)}; {expected} ({hint})")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"got {type_name(value)} {show(value)}; {expected}")
        if not self.low <= value <= self.high:
            raise fail(f"got {int(value)}; {expected}")
        return int(value)


@dataclass(frozen=True)
class Bool(_Check):
    def json_schema(self) -> dict:
        return {"type": "boolean"}

    def validate(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        hint = boolean_hint(value)
        raise fail(f"got {show(value)}; expected true or false ({hint})" if hint else
                   f"got {type_name(value)} {show(value)}; expected true or false")


_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


_QUANTITY_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
                   "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_value(value: Any) -> float | None:
    """A Kubernetes quantity (``4``, ``500m``, ``8Gi``) as a number; None when unreadable."""
    text = str(value)
    for unit in sorted(_QUANTITY_UNITS, key=len, reverse=True):
        if unit and text.endswith(unit):
            number, scale = text[:-len(unit)], _QUANTITY_UNITS[unit]
            break
    else:
        number, scale = text, 1
    try:
        return float(number) * scale
    except ValueError:
        return None


@dataclass(frozen=True)
class Quantity(_Check):
    """A Kubernetes quantity; YAML's ``cpu: 4`` (an integer) is the quantity ``"4"``."""

    def json_schema(self) -> dict:
        return {"anyOf": [{"type": "string", "pattern": _QUANTITY}, {"type": "integer", "minimum": 0}]}

    def validate(self, value: Any) -> str:
        expected = "a Kubernetes quantity such as 4, 500m or 8Gi"
        hint = number_hint(value) if not isinstance(value, str) else None
        if hint:
            raise fail(f"got {_got(value)}; expected {expected} ({hint})")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(int(value))
        return Text(expected, _QUANTITY).validate(value)


@dataclass(frozen=True)
class Pem(_Check):
    """PEM text; its content (parsed in certificates.py) is never quoted back: a pasted key must
    not end up in a message."""

    kind: str = "CERTIFICATE"

    def json_schema(self) -> dict:
        return {"type": "string", "pattern": f"-----BEGIN {self.kind}-----"}

    def validate(self, value: Any) -> str:
        if not isinstance(value, str) or f"-----BEGIN {self.kind}-----" not in value:
            raise fail(f"got no PEM {self.kind.lower()}; expected text starting with "
                       f"-----BEGIN {self.kind}-----")
        if "PRIVATE KEY" in value:
            raise fail("contains a private key; keys belong in secret config only")
        return str(value)


# ---------------------------------------------------------------------------------------------
# Checks of one string


def _domain_problem(text: str) -> str | None:
    labels = text.split(".")
    if (len(text) > 240 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(x) for x in labels)
            or not labels[-1].isalpha()):
        return (f"got {show(text)}; expected a lowercase DNS domain such as example.com (no "
                "trailing dot, no wildcard)")
    return None


def _https_problem(text: str) -> str | None:
    parsed = urlparse(text)
    if parsed.scheme != "https" or not parsed.hostname:
        return (f"got {show(text)}; expected an https:// URL (tokens and keys must not travel in "
                "clear text)")
    return None


_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


def _path_problem(text: str) -> str | None:
    if not _PATH.match(text) or "//" in text or (len(text) > 1 and text.endswith("/")):
        return (f"got {show(text)}; expected a URL path starting with '/' such as /accounts (no "
                "query, no '//', no trailing '/')")
    return None


def _cidr_problem(private: bool = False, whole_internet: bool = True) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            return (f"got {show(text)}; expected a CIDR such as 10.0.0.0/20 (address bits beyond "
                    "the prefix must be zero)")
        if network.version != 4:
            return f"got {show(text)}; expected an IPv4 CIDR"
        if private and not network.is_private:
            return f"got {show(text)}; expected a private (RFC 1918) range"
        if not whole_internet and network.prefixlen == 0:
            return (f"got {show(text)}; opening the control plane to the whole internet is "
                    "refused, expected a narrower range")
        return None
    return check


_EGRESS_EXPECTED = ("a DNS name such as api.stripe.com, or *.example.com for every name one label "
                    "below example.com")


def _egress_problem(host: str) -> str | None:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return (f"got {show(host)}, an IP address; expected {_EGRESS_EXPECTED} (the mesh matches "
                "egress by name)")
    if host == "*" or host.startswith("*") and not host.startswith("*."):
        return (f"got {show(host)}; a bare wildcard would open egress to the whole internet, "
                f"expected {_EGRESS_EXPECTED}")
    name = host[2:] if host.startswith("*.") else host
    if _domain_problem(name):
        return (f"got {show(host)}; expected {_EGRESS_EXPECTED} (lowercase, no trailing dot, at "
                "most 240 characters)")
    return None


_EMAIL = r"^[^@\s]+@[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"


def _rbac_problem(text: str) -> str | None:
    if not text.startswith("gke-security-groups@"):
        return (f"got {show(text)}; Google Groups for RBAC requires the group named "
                "gke-security-groups@<your domain>")
    return None


def _label(what: str) -> Text:
    return Text(f"{what}: {DNS_LABEL_RULE}", DNS_LABEL_PATTERN)


# ---------------------------------------------------------------------------------------------
# The types

EnvironmentName = Annotated[str, _label("the environment name")]
ServiceName = Annotated[str, _label("a Kubernetes Service name")]
ClusterName = Annotated[str, _label("the cluster name")]
ManagedZoneName = Annotated[str, _label("a Cloud DNS managed zone name")]
Domain = Annotated[str, Text("a DNS domain such as example.com", check=_domain_problem,
                             json_pattern=_DOMAIN_PATTERN)]
EgressHost = Annotated[str, Text("a DNS name such as api.stripe.com", check=_egress_problem,
                                 json_pattern=r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]+$")]
HttpsUrl = Annotated[str, Text("an https:// URL", check=_https_problem, json_pattern=r"^https://")]
UrlPath = Annotated[str, Text("a URL path starting with '/'", check=_path_problem,
                              json_pattern=_PATH.pattern)]
Audience = Annotated[str, Text("an audience (API identifier)")]
Name = Annotated[str, Text()]
Cidr = Annotated[str, Text("a CIDR such as 10.0.0.0/20", check=_cidr_problem(),
                           json_pattern=r"^[0-9.]+/[0-9]+$")]
ControlPlaneCidr = Annotated[str, Text("a CIDR such as 10.0.0.0/20",
                                       check=_cidr_problem(whole_internet=False),
                                       json_pattern=r"^[0-9.]+/([1-9]|[12][0-9]|3[0-2])$")]
PrivateCidr = Annotated[str, Text("a CIDR such as 10.0.0.0/20", check=_cidr_problem(private=True),
                                  json_pattern=r"^(10|172|192)\.[0-9.]+/[0-9]+$")]
Email = Annotated[str, Text("an email address for Let's Encrypt expiry notices", _EMAIL)]
# An environment owner: a Google user or group, as IAM and GKE's RBAC name them.
OWNER_PATTERN = r"^(user|group):" + _EMAIL[1:]
Owner = Annotated[str, Text("user:<email> or group:<email>, such as group:payments-team@example.com",
                            OWNER_PATTERN)]
RbacGroup = Annotated[str, Text("a Google Group address such as gke-security-groups@example.com",
                                _EMAIL, check=_rbac_problem, json_pattern="^gke-security-groups@")]
GcpProject = Annotated[str, Text("a GCP project id (6-30 lowercase letters, digits and '-')",
                                 r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
GcpRegion = Annotated[str, Text("a GCP region such as europe-west1", r"^[a-z]+-[a-z]+[0-9]+$")]
GcpZone = Annotated[str, Text("a GCP zone such as europe-west1-b", r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")]
MachineType = Annotated[str, Text("a Compute Engine machine type such as e2-standard-4",
                                  r"^[a-z0-9]+-[a-z0-9-]+$")]
Attestor = Annotated[str, Text("an attestor such as projects/<project>/attestors/<name>",
                               r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/attestors/[A-Za-z0-9_-]{1,64}$")]
# registry/path, a '*' only at the end and only after the registry (Binary Authorization's
# admissionWhitelistPatterns rule).
ImagePattern = Annotated[str, Text("an image pattern such as europe-docker.pkg.dev/acme/apps/* "
                                   "(registry/path, '*' only at the end)",
                                   r"^[a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]*\*{0,2}$")]
# A stack of this project: `dev`, or fully qualified `<org>/istio-envs/dev`. A DIY backend
# (gs://) knows one org, literally `organization`; on Pulumi Cloud it is your org.
StackReference = Annotated[str, Text(
    "an owner stack of this project: dev, or <org>/istio-envs/dev (with a gs:// backend the "
    "org is always organization: organization/istio-envs/dev)",
    rf"^([-\w.]+/{NAMESPACE}/)?[-\w.]+$")]
PemCertificate = Annotated[str, Pem()]
Port = Annotated[int, Int(1, 65535)]

# A route's time budget: whole milliseconds, seconds or minutes, as Istio's Duration takes them
# (its CRD requires at least 1ms); at most 10 minutes, past which a gateway connection is
# better served asynchronously.
DURATION_UNITS = {"ms": 1, "s": 1000, "m": 60_000}
MAX_DURATION_MS = 600_000


def duration_ms(text: str) -> int:
    found = re.fullmatch(r"([0-9]+)(ms|s|m)", text)
    assert found is not None, text  # a validated Duration
    return int(found.group(1)) * DURATION_UNITS[found.group(2)]


def _duration_problem(text: str) -> str | None:
    if not re.fullmatch(r"[0-9]+(ms|s|m)", text):
        return f"got {show(text)}; expected a duration such as 500ms, 15s or 2m"
    if not 1 <= duration_ms(text) <= MAX_DURATION_MS:
        return f"got {show(text)}; expected a duration from 1ms to 10m"
    return None


Duration = Annotated[str, Text("a duration such as 500ms, 15s or 2m", check=_duration_problem,
                               json_pattern=r"^[0-9]+(ms|s|m)$")]
# Envoy's retry conditions that Istio's retryOn takes (HTTP and gRPC).
# https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRetry
# https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on
RETRY_ON = ("5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
            "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
            "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
            "internal", "resource-exhausted", "unavailable")
RetryOn = Annotated[str, Text(
    "a retry condition", check=lambda text: None if text in RETRY_ON else
    f"got {show(text)}; expected one of {', '.join(RETRY_ON)}",
    json_pattern="^(" + "|".join(re.escape(c) for c in RETRY_ON) + ")$")]
Flag = Annotated[bool, Bool()]
KubernetesQuantity = Annotated[str, Quantity()]

