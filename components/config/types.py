"""The value types of the stack config and the base of its models, on pydantic's own machinery:
constraints as ``Field`` (``strict``, ``ge``/``le``, ``pattern``, ``max_length``), checks in the
program's words as ``AfterValidator``s, and YAML 1.1-only spellings refused before a boolean or
number is checked (the Pulumi CLI reads ``regional: no`` as the string "no"). What a pattern
means is stated beside it (:data:`EXPECTED`), for the messages (messages.py)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ..errors import NAMESPACE
from ..stackset import Yaml11Number, yaml11_readings


class Model(BaseModel):
    """Frozen; unknown keys refused; keys are the camelCase aliases of the fields; what a key
    means is its field's docstring (its description), what a section means its model's."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, validate_by_name=True,
                              use_attribute_docstrings=True)


def fail(message: str, *problems: tuple[str, str]) -> PydanticCustomError:
    """Our words as a pydantic error: one message at the value's key, or ``problems`` (key relative
    to the model, or ``/key`` from the top; message), every broken rule of a model at once."""
    return PydanticCustomError("rules", "{message}", {"message": message, "problems": problems or (("", message),)})


def refuse(*problems: tuple[str, str]) -> None:
    if problems:
        raise fail(problems[0][1], *problems)


@dataclass(frozen=True)
class Derived:
    """``json_schema_extra`` of a default computed from other keys: the rule in words."""

    rule: str

    def __call__(self, schema: dict) -> None:
        schema.pop("default", None)
        schema["description"] = f"{schema.get('description', '')} Default: {self.rule}.".strip()


EXPECTED: dict[str, str] = {}  # pattern -> what it means, for ``got X; expected <meaning>``


def pattern(regex: str, meaning: str) -> Any:
    EXPECTED[regex] = meaning
    return Field(pattern=regex)


def show(value: Any) -> str:
    text = value.text if isinstance(value, Yaml11Number) else \
        json.dumps(value) if not isinstance(value, str) else repr(str(value))
    return text if len(text) <= 80 else text[:77] + "..."


def type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (dict, "a mapping"), (list, "a list")):
        if isinstance(value, kind):
            return name
    return "nothing (null)" if value is None else type(value).__name__


def yaml11(value: Any, boolean: bool = False) -> Any:
    """A YAML 1.1-only spelling refused with both readings (messages.py adds what the key expects);
    a whole float is the integer the engine meant."""
    if hint := yaml11_readings(value, boolean):
        raise PydanticCustomError("yaml11", "{hint}", {"hint": hint})
    return int(value) if isinstance(value, float) and value.is_integer() and not boolean else value


def _unique(items: tuple, info: Any) -> tuple:  # info: the field it checks
    if len(set(items)) != len(items):
        raise fail(f"got {show(list(items))}; {info.field_name} must be unique")
    return items


def Int(low: int, high: int) -> Any:  # noqa: N802 - reads as the type it builds
    return Field(strict=True, ge=low, le=high)


Unique = AfterValidator(_unique)
Flag = Annotated[bool, BeforeValidator(lambda value: yaml11(value, boolean=True)), Field(strict=True)]
Integer = Annotated[int, BeforeValidator(yaml11)]
Port = Annotated[Integer, Int(1, 65535)]
Text = Annotated[str, Field(strict=True, min_length=1, max_length=2048)]
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_LABEL_RULE = "a DNS label (lowercase letters, digits and '-', starting with a letter, at most 63 characters)"
DnsLabel = Annotated[Text, pattern(DNS_LABEL.pattern, DNS_LABEL_RULE)]
_DOMAIN = r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]+$"
Domain = Annotated[Text, Field(max_length=240), pattern(
    _DOMAIN, "a lowercase DNS domain such as example.com (no trailing dot, no wildcard)")]
HttpsUrl = Annotated[Text, pattern(r"^https://[^/?#\s]+", "an https:// URL (tokens and keys must not "
                                                          "travel in clear text)")]
_PATH = r"^/([A-Za-z0-9._~!$&'()*+,;=:@%-]+(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*)?$"
UrlPath = Annotated[Text, pattern(_PATH, "a URL path starting with '/' such as /accounts (no query, no "
                                         "'//', no trailing '/')")]
_EMAIL = r"[^@\s]+@[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
Email = Annotated[Text, pattern(f"^{_EMAIL}", "an email address for Let's Encrypt expiry notices")]
Owner = Annotated[Text, pattern(f"^(user|group):{_EMAIL}", "user:<email> or group:<email>, such as "
                                                          "group:payments-team@example.com")]
RbacGroup = Annotated[Text, pattern(r"^gke-security-groups@[a-z0-9.-]+\.[a-z]+$", "Google Groups for "
                                    "RBAC, which requires the group gke-security-groups@<your domain>")]
GcpProject = Annotated[Text, pattern(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$", "a GCP project id (6-30 "
                                     "lowercase letters, digits and '-')")]
GcpRegion = Annotated[Text, pattern(r"^[a-z]+-[a-z]+[0-9]+$", "a GCP region such as europe-west1")]
GcpZone = Annotated[Text, pattern(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$", "a GCP zone such as europe-west1-b")]
MachineType = Annotated[Text, pattern(r"^[a-z0-9]+-[a-z0-9-]+$", "a Compute Engine machine type such as "
                                                                 "e2-standard-4")]
Attestor = Annotated[Text, pattern(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/attestors/[A-Za-z0-9_-]{1,64}$",
                                   "an attestor such as projects/<project>/attestors/<name>")]
# registry/path, a '*' only at the end (Binary Authorization's admissionWhitelistPatterns rule).
ImagePattern = Annotated[Text, pattern(r"^[a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]*\*{0,2}$", "an image "
                         "pattern such as europe-docker.pkg.dev/acme/apps/* (registry/path, '*' only at "
                         "the end)")]
# `dev`, or `<org>/istio-envs/dev`: a DIY backend (gs://) knows one org, literally `organization`.
StackReference = Annotated[Text, pattern(rf"^([-\w.]+/{NAMESPACE}/)?[-\w.]+$", "an owner stack of this "
                           "project: dev, or <org>/istio-envs/dev (with a gs:// backend the org is always "
                           "organization: organization/istio-envs/dev)")]
HHMM = Annotated[Text, pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a UTC time HH:MM such as 02:00")]


def _cidr(text: str, private: bool = False) -> str:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise fail(f"got {show(text)}; expected a CIDR such as 10.0.0.0/20 (address bits beyond the "
                   "prefix must be zero)") from None
    if network.version != 4:
        raise fail(f"got {show(text)}; expected an IPv4 CIDR")
    if private and not network.is_private:
        raise fail(f"got {show(text)}; expected a private (RFC 1918) range")
    if network.prefixlen == 0:
        raise fail(f"got {show(text)}; opening the control plane to the whole internet is refused, "
                   "expected a narrower range")
    return text


ControlPlaneCidr = Annotated[Text, AfterValidator(_cidr)]
PrivateCidr = Annotated[Text, AfterValidator(lambda text: _cidr(text, private=True))]
_EGRESS = "a DNS name such as api.stripe.com, or *.example.com for every name one label below it"


def _egress(host: str) -> str:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise fail(f"got {show(host)}, an IP address; expected {_EGRESS} (the mesh matches egress by name)")
    if host.startswith("*") and not host.startswith("*."):
        raise fail(f"got {show(host)}; a bare wildcard would open egress to the whole internet, "
                   f"expected {_EGRESS}")
    if len(host) > 240 or not re.match(_DOMAIN, host.removeprefix("*.")):
        raise fail(f"got {show(host)}; expected {_EGRESS} (lowercase, no trailing dot, at most 240 characters)")
    # In-cluster names: another environment's Service is reached through the mesh, never as egress.
    if host == "cluster.local" or host.endswith((".cluster.local", ".svc")):
        raise fail(f"got {show(host)}, a name inside the cluster; egress is for destinations outside "
                   "the mesh, and another environment's Services are not this one's to call")
    return host


EgressHost = Annotated[Text, AfterValidator(_egress)]
# Kubernetes quantities: YAML's `cpu: 4` (an integer) is the quantity "4".
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
_UNITS = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20,
          "Gi": 2**30, "Ti": 2**40}


def quantity_value(value: Any) -> float | None:
    """A Kubernetes quantity (``4``, ``500m``, ``8Gi``) as a number; None when unreadable."""
    found = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    try:
        return float(found.group(1)) * _UNITS[found.group(2)] if found else None
    except (ValueError, KeyError):
        return None


KubernetesQuantity = Annotated[str, BeforeValidator(lambda value: str(number) if isinstance(
    number := yaml11(value), int) and not isinstance(number, bool) else number), Field(strict=True), pattern(
    _QUANTITY, "a Kubernetes quantity such as 4, 500m or 8Gi"), WithJsonSchema(
    {"anyOf": [{"type": "string", "pattern": _QUANTITY}, {"type": "integer", "minimum": 0}]})]
# A route's time budget as Istio's Duration takes it (Go's time.ParseDuration units, which istio/
# api's CRD validation reads): at least 1ms (the CRD's rule), at most 10 minutes, past which a
# request is better served asynchronously.
_MS = {"h": 3_600_000.0, "m": 60_000.0, "s": 1000.0, "ms": 1.0}


def duration_ms(text: str) -> float:
    return sum(float(n) * _MS[u] for n, _, u in re.findall(r"([0-9]+(\.[0-9]+)?)(h|ms|m|s)", text))


def _duration(text: str) -> str:
    if not 1 <= duration_ms(text) <= 600_000:
        raise fail(f"got {show(text)}; expected a duration from 1ms to 10m")
    return text


Duration = Annotated[Text, pattern(r"^([0-9]+(\.[0-9]+)?(h|ms|m|s))+$", "a duration such as 500ms, 15s or 2m "
                                   "(or 1m30s, 1.5s)"), AfterValidator(_duration)]
# Envoy's retry conditions that Istio's retryOn takes (HTTP and gRPC); a status code goes to
# retriable-status-codes (istio/istio pilot/pkg/networking/core/route/retry/retry.go: parseRetryOn).
RETRY_ON = ("5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
            "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
            "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
            "internal", "resource-exhausted", "unavailable")
RetryOn = Annotated[Text, pattern("^(" + "|".join(map(re.escape, RETRY_ON)) + "|[1-5][0-9][0-9])$",
                                  f"one of {', '.join(RETRY_ON)}, or an HTTP status code such as 503")]


def _pem(value: str) -> str:
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise fail("got no PEM certificate; expected text starting with -----BEGIN CERTIFICATE-----")
    if "PRIVATE KEY" in value:  # never quoted back: a pasted key must not end up in a message
        raise fail("contains a private key; keys belong in secret config only")
    return value


PemCertificate = Annotated[str, Field(strict=True), AfterValidator(_pem)]
