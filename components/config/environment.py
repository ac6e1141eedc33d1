"""``istio-envs:environment``: the models of one environment, what each key means, and the rules
across its keys."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import Field, InstanceOf, ValidationInfo, model_validator
from pydantic.json_schema import SkipJsonSchema

from ..versions import ISTIO_SIDECAR_REQUESTS
from . import types as t
from .certificates import CertificateFacts
from .types import DNS_LABEL, DNS_LABEL_RULE, Derived, Int, Model, duration_ms, quantity_value, refuse, show

# Namespaces an environment may never take: the cluster's and the mesh's own.
RESERVED_NAMESPACES = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "istio-system", "istio-ingress",
     "gke-managed-system", "gmp-system", "gmp-public", "cert-manager"})


class Retries(Model):
    """The route's retry policy (without it, Istio's default retries: 2 on connection failures)."""

    attempts: Annotated[t.Integer, Int(0, 10)]
    """Retries after the first try, 0 to 10."""
    per_try_timeout: t.Duration | None = None
    """Each try's budget, at most the route's `timeout`."""
    retry_on: tuple[t.RetryOn, ...] = ("connect-failure", "refused-stream", "unavailable", "cancelled")
    """Envoy's retry conditions: also `5xx`, `gateway-error`, `reset`, `retriable-4xx`,
    `deadline-exceeded`, …, and HTTP status codes such as `503`, which Istio retries as retriable
    status codes."""


class Route(Model):
    """A path prefix of the environment's host and the Service that serves it."""

    path: t.UrlPath
    """A prefix starting with `/`, unique in the environment."""
    service: t.DnsLabel
    """A Service of the namespace."""
    port: t.Port
    """Its port (1–65535)."""
    timeout: t.Duration | None = None
    """The route's time budget, retries included: `500ms`, `15s`, `2m`, `1m30s`, `1.5s` (Istio's
    durations, 1ms to 10m); without it, Istio's: none."""
    retries: Retries | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        per_try = self.retries.per_try_timeout if self.retries else None
        if per_try and self.timeout and duration_ms(per_try) > duration_ms(self.timeout):
            refuse(("retries.perTryTimeout", f"got {show(per_try)}, longer than the route's timeout "
                    f"{self.timeout}; expected at most the timeout (no try could use it)"))
        return self


class JwtAuth(Model):
    """The JWT a request must carry (but on `publicPaths`)."""

    issuer: t.HttpsUrl
    """JWT issuer, `https://`."""
    jwks_uri: t.HttpsUrl
    """JWKS URL, `https://`."""
    audiences: Annotated[tuple[t.Text, ...], t.Unique] = Field(min_length=1)
    """Audiences a token must carry, at least one; unique across the stack files (the fleet
    check), so one environment's tokens never open another."""
    public_paths: tuple[t.UrlPath, ...] = ()
    """Paths under a route served without a token (health checks)."""


class Quota(Model):
    """The namespace's ResourceQuota on requests and pod count."""

    cpu: t.KubernetesQuantity = "4"
    """CPU requests of the namespace; must hold a pod (more than its sidecar's 100m)."""
    memory: t.KubernetesQuantity = "8Gi"
    """Memory requests of the namespace; must hold a pod (more than its sidecar's 128Mi)."""
    pods: Annotated[t.Integer, Int(1, 10000)] = 40
    """Pod count of the namespace."""


class ClientTls(Model):
    """How clients connect to the environment's host."""

    mode: Literal["SIMPLE", "MUTUAL"] = "SIMPLE"
    """`SIMPLE` (server TLS) or `MUTUAL` (clients must present a certificate from this
    environment's client CA)."""
    client_ca: Literal["self-signed", "provided"] | None = None
    """Required with `MUTUAL`: `self-signed` (pulumi-tls CA; one client certificate and key exported
    as secret outputs `clientCertificate`, `clientPrivateKey`) or `provided` (your CA's PEM in
    `istio-envs:clientCaCertificate`, public, not secret)."""
    client_certificate_days: Annotated[t.Integer, Int(1, 825)] = 90
    """Self-signed client CA only: client certificate lifetime (re-issued in its last third)."""
    ca: SkipJsonSchema[InstanceOf[CertificateFacts] | None] = Field(None, exclude=True)
    """Derived: the provided client CA (istio-envs:clientCaCertificate), read by StackKeys."""

    @property
    def mutual(self) -> bool:
        return self.mode == "MUTUAL"

    @property
    def client_ca_pem(self) -> str | None:
        return self.ca.chain if self.ca else None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        given = self.model_fields_set
        if self.mode == "SIMPLE":
            refuse(*((alias, f"set, but tls.mode is SIMPLE (no client certificates); expected tls.mode: "
                      f"MUTUAL or no {alias}") for name, alias in (("client_ca", "clientCa"), (
                          "client_certificate_days", "clientCertificateDays")) if name in given))
        elif self.client_ca is None:
            refuse(("clientCa", "missing; tls.mode MUTUAL needs a client CA, expected one of self-signed, "
                                "provided"))
        elif self.client_ca == "provided" and "client_certificate_days" in given:
            refuse(("clientCertificateDays", "set, but clientCa is provided (client certificates come "
                                             "from your CA); expected no clientCertificateDays"))
        return self


class EgressDestination(Model):
    """A destination outside the mesh."""

    host: t.EgressHost
    """A DNS name, or `*.example.com` for one label below it (no bare `*`, no IP address, no
    in-cluster name such as `accounts.test.svc.cluster.local`: another environment is not egress)."""
    port: t.Port = 443
    """The port."""
    protocol: Literal["TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "TCP"] = "TLS"
    """`TLS`, `HTTPS`, `HTTP`, `HTTP2`, `GRPC` or `TCP`."""

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


def duplicates(items: tuple, key: Any, where: str, what: str, expected: str) -> list[tuple[str, str]]:
    first: dict[Any, int] = {}
    return [(where.format(i), f"got {what.format(item)} again (also {where.split('[')[0]}"
             f"[{first[key(item)]}]); {expected}") for i, item in enumerate(items)
            if first.setdefault(key(item), i) != i]


class EnvironmentConfig(Model):
    """Every stack: its environment, one namespace of the platform's cluster and one host."""

    name: t.DnsLabel = Field("", json_schema_extra=Derived("the stack name"))
    """Environment name: namespace and host label; a DNS label, not a cluster/mesh namespace, unique
    across the stack files (without it, the stack name must be one). **Changing it replaces the
    namespace, with every workload in it, and the DNS record**."""
    routes: tuple[Route, ...] = ()
    """The path prefixes of the environment's host: at least one, unless `demo: true` (the demo's
    route alone)."""
    auth: JwtAuth
    quota: Quota = Quota()
    tls: ClientTls = ClientTls()
    egress: tuple[EgressDestination, ...] = ()
    """The only destinations outside the mesh its workloads may call (the mesh is `REGISTRY_ONLY`),
    each a `ServiceEntry` with `exportTo: ["."]`: it opens nothing for other environments."""
    owners: tuple[t.Owner, ...] = ()
    """Who deploys into the namespace: `user:<email>` or `group:<email>` (groups need the owner's
    `cluster.rbacSecurityGroup`). Each gets a RoleBinding to the ClusterRole
    `istio-envs:environment-owner` in this namespace only (workloads, Services, ConfigMaps, Secrets:
    see "Isolation from an environment's own tenants"), and `roles/container.clusterViewer` on the
    project (cluster credentials), both granted by the owner stack."""
    mesh_revision: Literal["stable", "canary"] = "stable"
    """The Istio revision tag its namespace selects (`istio.io/rev`): `stable`, or `canary` during
    an upgrade (the owner's `platform.mesh` must install it). Changing it moves the demo at once and
    the namespace's workloads at their next `kubectl rollout restart` (see "Upgrading Istio")."""
    demo: t.Flag = False
    """A small echo workload so the environment answers `make verify` right after `pulumi up`:
    Service `demo-echo` (hashicorp/http-echo pinned by digest; with its sidecar 110m CPU / 144Mi of
    the quota) on route `/demo` (a token required) and `/demo/health` without one, answering
    `istio-envs demo: <env>`; that path and Service name are then taken (see "A verifiable
    environment")."""

    @model_validator(mode="before")
    @classmethod
    def _name_from_the_stack(cls, data: Any, info: ValidationInfo) -> Any:
        """Without ``name`` the stack name (from the file name) is the environment name."""
        stack = (info.context or {}).get("stack")
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
        found += duplicates(self.routes, lambda r: r.path, "routes[{}].path", "{0.path!r}",
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
            have, needs = quantity_value(value) or 0, quantity_value(sidecar) or 0
            if self.demo and have < (quantity_value(demo) or 0) + needs:
                found.append((f"quota.{resource}", f"got {show(value)}; the demo pod alone requests "
                              f"{demo} plus its sidecar's {sidecar}: expected at least that, or demo: false"))
            elif have <= needs:
                found.append((f"quota.{resource}", f"got {show(value)}, which holds no pod: each pod's "
                              f"sidecar alone requests {sidecar}; expected more than that"))
        found += [(f"auth.publicPaths[{i}]", f"got {show(public)}; it is under no route, expected a path "
                   f"under one of {', '.join(r.path for r in self.served_routes)}")
                  for i, public in enumerate(self.auth.public_paths) if not any(
                      r.path == "/" or public == r.path or public.startswith(r.path + "/")
                      for r in self.served_routes)]
        found += duplicates(self.egress, lambda e: (e.host, e.port), "egress[{}]", "{0.host}:{0.port}",
                            "expected each host and port once")
        found += duplicates(self.owners, lambda o: o, "owners[{}]", "{0!r}", "expected each owner once")
        refuse(*found)
        return self
