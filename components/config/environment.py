"""``istio-envs:environment``: the models of one environment, and the rules across its keys."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ..versions import ISTIO_SIDECAR_REQUESTS
from . import types as t
from .certificates import CertificateFacts
from .types import DNS_LABEL, DNS_LABEL_RULE, Int, duration_ms, quantity_value, show

# Namespaces an environment may never take: the cluster's and the mesh's own.
RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
     "gke-managed-system", "gmp-system", "gmp-public", "cert-manager"})


def refuse(*problems: tuple[str, str]) -> None:
    """Raise every broken rule of one model at once: (key relative to it, or ``/key`` from the
    top; message). messages.py reports each at its key."""
    if problems:
        raise PydanticCustomError("rules", "{message}", {"message": problems[0][1], "problems": problems})


def context(info: ValidationInfo, key: str, default: Any = None) -> Any:
    return (info.context or {}).get(key, default)


def derived(rule: str) -> Any:
    """JSON Schema of a field whose default is computed from other keys: the rule in words."""
    def extra(schema: dict) -> None:
        schema.pop("default", None)
        schema["description"] = f"Default: {rule}."
    return extra


class Model(BaseModel):
    """Frozen; unknown keys refused; keys are the camelCase aliases of the fields. What each key
    means is the README's tables (schema.py puts them in the JSON Schema)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Retries(Model):
    attempts: Annotated[t.Integer, Int(0, 10)]
    per_try_timeout: t.Duration | None = None
    retry_on: tuple[t.RetryOn, ...] = ("connect-failure", "refused-stream", "unavailable", "cancelled")


class Route(Model):
    path: t.UrlPath
    service: t.ServiceName
    port: t.Port
    timeout: t.Duration | None = None
    retries: Retries | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        per_try = self.retries.per_try_timeout if self.retries else None
        if per_try and self.timeout and duration_ms(per_try) > duration_ms(self.timeout):
            refuse(("retries.perTryTimeout", f"got {show(per_try)}, longer than the route's timeout "
                    f"{self.timeout}; expected at most the timeout (no try could use it)"))
        return self


class JwtAuth(Model):
    issuer: t.HttpsUrl
    jwks_uri: t.HttpsUrl
    audiences: tuple[t.Audience, ...] = Field(min_length=1)
    public_paths: tuple[t.UrlPath, ...] = ()

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if len(set(self.audiences)) != len(self.audiences):
            refuse(("audiences", f"got {show(list(self.audiences))}; audiences must be unique"))
        return self


class Quota(Model):
    cpu: t.KubernetesQuantity = "4"
    memory: t.KubernetesQuantity = "8Gi"
    pods: Annotated[t.Integer, Int(1, 10000)] = 40


class ClientTls(Model):
    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    client_ca: Literal["self-signed", "provided"] | None = None
    client_certificate_days: Annotated[t.Integer, Int(1, 825)] = 90
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
        given = self.model_fields_set
        if self.mode == "SIMPLE":
            refuse(*((alias, "set, but tls.mode is SIMPLE (no client certificates); expected tls.mode: "
                      f"MUTUAL or no {alias}") for name, alias in (("client_ca", "clientCa"), (
                          "client_certificate_days", "clientCertificateDays")) if name in given))
        elif self.client_ca is None:
            refuse(("clientCa", "missing; tls.mode MUTUAL needs a client CA, expected one of "
                                "self-signed, provided"))
        elif self.client_ca == "provided" and "client_certificate_days" in given:
            refuse(("clientCertificateDays", "set, but clientCa is provided (client certificates come "
                                             "from your CA); expected no clientCertificateDays"))
        return self


class EgressDestination(Model):
    host: t.EgressHost
    port: t.Port = 443
    protocol: Literal["TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "TCP"] = "TLS"

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


def _duplicates(items: tuple, key: Any, where: str, what: str, expected: str) -> list[tuple[str, str]]:
    first: dict[Any, int] = {}
    return [(where.format(i), f"got {what.format(item)} again (also {where.split('[')[0]}"
             f"[{first[key(item)]}]); {expected}") for i, item in enumerate(items)
            if first.setdefault(key(item), i) != i]


class EnvironmentConfig(Model):
    name: t.EnvironmentName = Field("", json_schema_extra=derived("the stack name"))
    routes: tuple[Route, ...] = ()
    auth: JwtAuth
    quota: Quota = Quota()
    tls: ClientTls = ClientTls()
    egress: tuple[EgressDestination, ...] = ()
    owners: tuple[t.Owner, ...] = ()
    demo: t.Flag = False

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
    def _rules(self) -> Self:
        found = [("name", f"got {show(self.name)}; that namespace belongs to the cluster or the mesh, "
                          "choose another environment name")] if self.name in RESERVED_NAMESPACES else []
        found += _duplicates(self.routes, lambda r: r.path, "routes[{}].path", "{0.path!r}",
                             "each path prefix may be routed once")
        if not self.routes and not self.demo:
            found.append(("routes", "got no routes; expected at least one {path, service, port}, or "
                                    "demo: true for the demo workload alone"))
        for i, route in enumerate(self.routes if self.demo else ()):
            taken = "path" if route.path == DEMO_ROUTE.path else \
                "service" if route.service == DEMO_ROUTE.service else None
            if taken:
                found.append((f"routes[{i}].{taken}", f"got {show(getattr(route, taken))}; with demo: "
                              f"true the demo workload serves {DEMO_ROUTE.path} from Service "
                              f"{DEMO_ROUTE.service}: choose another {taken}, or set demo: false"))
        for resource in ("cpu", "memory"):
            value, sidecar, demo = getattr(self.quota, resource), ISTIO_SIDECAR_REQUESTS[resource], \
                DEMO_REQUESTS[resource]
            have = quantity_value(value) or 0
            if self.demo and have < (quantity_value(demo) or 0) + (quantity_value(sidecar) or 0):
                found.append((f"quota.{resource}", f"got {show(value)}; the demo pod alone requests "
                              f"{demo} plus its sidecar's {sidecar}: expected at least that, or demo: false"))
            elif have <= (quantity_value(sidecar) or 0):
                found.append((f"quota.{resource}", f"got {show(value)}, which holds no pod: each pod's "
                              f"sidecar alone requests {sidecar}; expected more than that"))
        found += [(f"auth.publicPaths[{i}]", f"got {show(public)}; it is under no route, expected a path "
                   f"under one of {', '.join(r.path for r in self.served_routes)}")
                  for i, public in enumerate(self.auth.public_paths) if not any(
                      r.path == "/" or public == r.path or public.startswith(r.path + "/")
                      for r in self.served_routes)]
        found += _duplicates(self.egress, lambda e: (e.host, e.port), "egress[{}]", "{0.host}:{0.port}",
                             "expected each host and port once")
        found += _duplicates(self.owners, lambda o: o, "owners[{}]", "{0!r}", "expected each owner once")
        refuse(*found)
        return self
