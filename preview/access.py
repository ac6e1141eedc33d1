"""Who can call what: the answer the mesh gives each request to an environment's host, computed
from the rendered Gateway, VirtualService, RequestAuthentication, AuthorizationPolicy and
PeerAuthentication objects (never from the config that produced them), by Istio's documented
semantics:

- TLS: the Gateway server whose hosts hold the SNI name exactly, else by wildcard; a MUTUAL
  server refuses a handshake without a client certificate (istio.io/latest/docs/reference/config/
  networking/gateway/#ServerTLSSettings-TLSmode).
- Routing: the first VirtualService http route whose match holds (exact, prefix, regex) for the
  host on that gateway; none is a 404 from the gateway (istio.io/latest/docs/reference/config/
  networking/virtual-service/#HTTPRoute: "the first rule matching an incoming request is used").
- JWT: RequestAuthentication rejects a request that carries an invalid token with 401 (signature,
  expiry, an audience the rule does not list, an issuer no rule names: Envoy's jwt_authn keeps an
  unknown issuer a failure under allow_missing since envoyproxy/envoy#15194); no token is let
  through without an identity (istio.io/latest/docs/reference/config/security/
  request_authentication/; `audiences`: "the service name will be accepted if audiences is empty").
- Authorization: CUSTOM, then DENY, then ALLOW; a DENY match is 403; with any ALLOW policy on the
  workload a request none matches is 403, and a policy without rules matches nothing
  (istio.io/latest/docs/concepts/security/#implicit-enablement and #authorization-policy-
  precedence). A rule holds when every from, to and when it has holds; a list holds when any item
  does; `not*` fields must not match. Strings match exactly, by prefix (`abc*`), suffix (`*abc`)
  or presence (`*`) (istio.io/latest/docs/reference/config/security/authorization-policy/#Rule).
  A request from the ingress gateway carries the gateway's mTLS identity unless mTLS is DISABLE.

An object shape this module does not model (a regex path in a policy, an `ipBlocks` source, an
unknown `when` key) raises Unmodelled: a wrong answer would be worse than none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from components.config import host_covered
from components.istio import GATEWAY_NAMESPACE, GATEWAY_PRINCIPAL, ISTIO_NAMESPACE

# The credentials each path is tried with, and what each one is.
CREDENTIALS = {
    "none": "no token",
    "token": "a valid token with the environment's audience",
    "other-env": "a valid token of the same issuer for another environment's audience",
    "wrong-issuer": "a token signed by an issuer no rule names",
    "expired": "an expired token of the environment's issuer and audience",
}
OTHER_AUDIENCE = "https://another-environment.invalid"
UNROUTED = "/no-such-route"
TLS_REFUSED, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND = "TLS refused", "401", "403", "404"


class Unmodelled(ValueError):
    """A rendered object uses Istio semantics this module does not evaluate."""


@dataclass(frozen=True)
class Request:
    host: str
    path: str
    credential: str
    client_certificate: bool = False


def _kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o.get("kind") == kind]


def string_matches(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return value != ""
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _host_matches(pattern: str, host: str) -> bool:
    """Gateway/VirtualService host: exact, or `*.suffix` for any name ending in `.suffix`."""
    return pattern == host or pattern == "*" or (pattern.startswith("*.") and host.endswith(pattern[1:]))


def serving_server(gateways: list[dict], host: str) -> dict | None:
    """The HTTPS server Envoy picks for ``host`` (an exact host before a wildcard), with the
    ``gateway`` (namespace/name) it belongs to; None when no server takes it."""
    servers = [(g, s) for g in gateways for s in g["spec"].get("servers", [])
               if s["port"]["protocol"] == "HTTPS"]
    exact = [gs for gs in servers if host in [h.split("/")[-1] for h in gs[1]["hosts"]]]
    # Then a wildcard, by the one-label rule the config checks certificates with.
    wildcard = [gs for gs in servers if host_covered(host, [h.split("/")[-1] for h in gs[1]["hosts"]])]
    found = (exact or wildcard or [None])[0]
    return None if found is None else {"gateway": f"{found[0]['metadata']['namespace']}/"
                                       f"{found[0]['metadata']['name']}", **found[1]}


def _uri_matches(match: dict, path: str) -> bool:
    uri = match.get("uri")
    if uri is None:
        return True
    if "exact" in uri:
        return path == uri["exact"]
    if "prefix" in uri:
        return path.startswith(uri["prefix"])
    if "regex" in uri:
        return re.fullmatch(uri["regex"], path) is not None
    raise Unmodelled(f"VirtualService uri match {uri}")


def route(virtual_services: list[dict], gateway: str, host: str, path: str) -> str | None:
    """`<service>.<namespace>:<port>` of the first route that takes the request, or None."""
    for vs in virtual_services:
        spec, namespace = vs["spec"], vs["metadata"]["namespace"]
        bound = [g if "/" in g else f"{namespace}/{g}" for g in spec.get("gateways", [])]
        if gateway not in bound or not any(_host_matches(h, host) for h in spec.get("hosts", [])):
            continue
        for http in spec.get("http", []):
            if any(_uri_matches(m, path) for m in http.get("match") or [{}]):
                destination = http["route"][0]["destination"]
                name = destination["host"].removesuffix(".svc.cluster.local")
                return f"{name}:{destination['port']['number']}"
    return None


@dataclass(frozen=True)
class Identity:
    """What the destination sidecar knows of a request once RequestAuthentication has run."""
    principal: str | None          # the peer's mTLS identity
    namespace: str | None
    request_principal: str | None  # "<iss>/<sub>" of a valid token
    audiences: tuple[str, ...] = ()


def authenticate(rules: list[dict], credential: str, peer: str | None) -> Identity | str:
    """The identity a credential gives, or 401 when RequestAuthentication rejects it."""
    namespace = peer.split("/ns/")[1].split("/")[0] if peer else None
    if credential == "none":
        return Identity(peer, namespace, None)
    if not rules or credential == "wrong-issuer":
        return UNAUTHENTICATED  # a token no rule can verify is rejected, not ignored
    rule = rules[0]
    audience = (rule.get("audiences") or [""])[0] if credential != "other-env" else OTHER_AUDIENCE
    if credential == "expired" or audience not in rule.get("audiences", []):
        return UNAUTHENTICATED
    return Identity(peer, namespace, f"{rule['issuer']}/subject", (audience,))


def _any(patterns: list[str] | None, value: str | None) -> bool:
    return any(string_matches(p, value) for p in patterns or [])


def _field(spec: dict, name: str, value: str | None) -> bool:
    """A positive field holds when absent or matched; its `not` twin must not match."""
    negated = "not" + name[0].upper() + name[1:]
    return (name not in spec or _any(spec[name], value)) and not _any(spec.get(negated), value)


def _source(source: dict, who: Identity) -> bool:
    if {"ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"} & source.keys():
        raise Unmodelled("AuthorizationPolicy ipBlocks")
    return (_field(source, "principals", who.principal) and _field(source, "namespaces", who.namespace)
            and _field(source, "requestPrincipals", who.request_principal))


def _operation(operation: dict, request: Request) -> bool:
    if "methods" in operation and "GET" not in operation["methods"]:
        return False
    return (_field(operation, "hosts", request.host) and _field(operation, "paths", request.path)
            and _field(operation, "ports", "443") and not _any(operation.get("notMethods"), "GET"))


def _condition(condition: dict, who: Identity) -> bool:
    key = condition["key"]
    if key == "request.auth.audiences":
        values = who.audiences
    elif key == "request.auth.principal":
        values = (who.request_principal,) if who.request_principal else ()
    elif key == "source.principal":
        values = (who.principal,) if who.principal else ()
    else:
        raise Unmodelled(f"AuthorizationPolicy when key {key}")
    return ((not condition.get("values") or any(_any(condition["values"], v) for v in values))
            and not any(_any(condition.get("notValues"), v) for v in values))


def rule_matches(rule: dict, request: Request, who: Identity) -> bool:
    return ((not rule.get("from") or any(_source(f.get("source", {}), who) for f in rule["from"]))
            and (not rule.get("to") or any(_operation(t.get("operation", {}), request) for t in rule["to"]))
            and all(_condition(c, who) for c in rule.get("when", [])))


def authorize(policies: list[dict], request: Request, who: Identity) -> bool:
    """DENY before ALLOW; with any ALLOW policy, only a match is allowed (CUSTOM is not used here)."""
    by_action: dict[str, list[dict]] = {}
    for policy in policies:
        by_action.setdefault(policy["spec"].get("action", "ALLOW"), []).append(policy["spec"])
    if by_action.keys() - {"ALLOW", "DENY", "AUDIT"}:
        raise Unmodelled(f"AuthorizationPolicy actions {sorted(by_action)}")
    if any(rule_matches(r, request, who) for p in by_action.get("DENY", []) for r in p.get("rules", [])):
        return False
    allow = by_action.get("ALLOW", [])
    return not allow or any(rule_matches(r, request, who) for p in allow for r in p.get("rules", []))


def _applies(objects: list[dict], kind: str, namespace: str) -> list[dict]:
    """Objects of a kind in the workload's namespace or the root namespace (no workload selectors
    are rendered; a selector would need the workload's labels)."""
    found = [o for o in _kind(objects, kind) if o["metadata"].get("namespace") in (namespace, ISTIO_NAMESPACE)]
    if any(o["spec"].get("selector") or o["spec"].get("targetRefs") for o in found):
        raise Unmodelled(f"{kind} with a workload selector")
    return found


def _peer_identity(objects: list[dict], namespace: str) -> str | None:
    """The gateway's mTLS identity, unless mutual TLS is DISABLE for the destination namespace."""
    modes = {o["metadata"]["namespace"]: o["spec"].get("mtls", {}).get("mode")
             for o in _applies(objects, "PeerAuthentication", namespace)}
    mode = modes.get(namespace) or modes.get(ISTIO_NAMESPACE) or "PERMISSIVE"
    return None if mode == "DISABLE" else GATEWAY_PRINCIPAL


def answer(objects: list[dict], request: Request) -> str:
    """What the mesh answers: TLS refused, 404, 401, 403, or `→ <service>.<ns>:<port>`."""
    server = serving_server(_kind(objects, "Gateway"), request.host)
    if server is None or (server.get("tls", {}).get("mode") == "MUTUAL" and not request.client_certificate):
        return TLS_REFUSED
    if server["gateway"].split("/")[0] != GATEWAY_NAMESPACE:
        raise Unmodelled(f"a Gateway outside {GATEWAY_NAMESPACE}")
    target = route(_kind(objects, "VirtualService"), server["gateway"], request.host, request.path)
    if target is None:
        return NOT_FOUND
    namespace = target.split(":")[0].split(".")[-1]
    jwt_rules = [r for o in _applies(objects, "RequestAuthentication", namespace) for r in o["spec"].get("jwtRules", [])]
    who = authenticate(jwt_rules, request.credential, _peer_identity(objects, namespace))
    if isinstance(who, str):
        return who
    if not authorize(_applies(objects, "AuthorizationPolicy", namespace), request, who):
        return FORBIDDEN
    return f"→ {target}"


def representative_paths(objects: list[dict], host: str) -> list[str]:
    """Each route prefix and a path below it, each public path (a policy path allowed without a
    request principal) and a path below it, and a path no route takes."""
    paths: list[str] = []
    for vs in _kind(objects, "VirtualService"):
        if host in vs["spec"].get("hosts", []):
            for http in vs["spec"].get("http", []):
                for match in http.get("match") or []:
                    prefix = match.get("uri", {}).get("prefix") or match.get("uri", {}).get("exact")
                    if prefix:
                        paths += [prefix, prefix.rstrip("/") + "/x"]
    for policy in _kind(objects, "AuthorizationPolicy"):
        for rule in policy["spec"].get("rules", []):
            sources = [f.get("source", {}) for f in rule.get("from", [])]
            if sources and not any("requestPrincipals" in s for s in sources) and any("principals" in s for s in sources):
                for to in rule.get("to", []):
                    for pattern in to.get("operation", {}).get("paths", []):
                        base = pattern
                        while base.endswith("*"):  # `/a/*/*` (below a public `/a/*`) -> `/a`
                            base = base[:-1].rstrip("/")
                        base = base or "/"
                        paths += [base, base.rstrip("/") + "/x"]
    paths.append(UNROUTED)
    return list(dict.fromkeys(paths))


def hosts(objects: list[dict]) -> list[str]:
    return [h for vs in _kind(objects, "VirtualService") for h in vs["spec"].get("hosts", [])]


def matrix(objects: list[dict], host: str) -> Cells:
    """(path, credential, client certificate) -> answer, for every representative request. The
    client-certificate dimension is there only when the host's server is MUTUAL."""
    server = serving_server(_kind(objects, "Gateway"), host)
    mutual = server is not None and server.get("tls", {}).get("mode") == "MUTUAL"
    return {(path, credential, cert): answer(objects, Request(host, path, credential, cert))
            for path in representative_paths(objects, host) for credential in CREDENTIALS
            for cert in ((True, False) if mutual else (False,))}


# What a path that needs the environment's token answers, credential by credential.
TOKEN_REQUIRED = {"none": FORBIDDEN, "token": "routed", "other-env": UNAUTHENTICATED,
                  "wrong-issuer": UNAUTHENTICATED, "expired": UNAUTHENTICATED}


def is_open(answer_text: str) -> bool:
    return answer_text.startswith("→")


def said(answer_text: str | None) -> str:
    """An answer in a sentence: `reaches orders.dev:8080`, `403`, `(not tried)`."""
    if answer_text is None:
        return "(not tried)"
    return "reaches " + answer_text[2:] if is_open(answer_text) else answer_text


def notable(cells: Cells) -> Cells:
    """The cells that differ from "token required" (a client without a certificate refused at
    TLS on a MUTUAL host is expected, so only its certificate-holding cells are compared)."""
    mutual = any(cert for _, _, cert in cells)
    return {key: value for key, value in cells.items()
            if not (mutual and not key[2] and value == TLS_REFUSED)
            and ("routed" if is_open(value) else value) != TOKEN_REQUIRED[key[1]]}


def more_open(before: str | None, after: str, credential: str) -> bool:
    """A cell that answered anything but a route and now reaches a service; a new cell (a new
    route or public path) is more open when it is reached without the environment's token."""
    if not is_open(after):
        return False
    return not is_open(before) if before is not None else credential != "token"


def plan_objects(plan_doc: dict, owner_plan: dict | None = None) -> list[dict]:
    """The Kubernetes objects a stack's requests meet: its own, and from its owner's plan (an
    attached stack's host is served by the owner's Gateway) the Gateways and the root
    namespace's mesh-wide policies."""
    from .render import is_kubernetes_object, manifest

    def objects(plan: dict) -> list[dict]:
        return [manifest(r) for r in plan["resources"] if is_kubernetes_object(r)]

    mine = objects(plan_doc)
    if owner_plan is not None and owner_plan is not plan_doc:
        mine += [o for o in objects(owner_plan) if o["kind"] == "Gateway"
                 or o["metadata"].get("namespace") == ISTIO_NAMESPACE and o["kind"] in (
                     "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication")]
    return mine


HEADINGS = {"none": "no token", "token": "its token", "other-env": "another env's token",
            "wrong-issuer": "wrong issuer", "expired": "expired token"}


Cells = dict[tuple[str, str, bool], str]


def document(objects: list[dict]) -> dict[str, list[list]]:
    """plan.json's ``access``: host -> [path, credential, client certificate, answer] rows."""
    return {host: [[*key, value] for key, value in matrix(objects, host).items()] for host in hosts(objects)}


def cells_of(rows: list[list]) -> Cells:
    return {(path, credential, bool(cert)): value for path, credential, cert, value in rows}


def summary_lines(cells: Cells) -> list[str]:
    """The request matrix for summary.md, compactly: every path tried, then the rows that differ
    from "token required"."""
    mutual = any(cert for _, _, cert in cells)
    paths = list(dict.fromkeys(path for path, _, _ in cells))
    odd = {path for path, _, _ in notable(cells)}
    tls = (" Without a client certificate every request is refused at the TLS handshake (MUTUAL); "
           "with one:" if mutual else "")
    lines = ["Who can call what, evaluated from the rendered Gateway, VirtualService, "
             "RequestAuthentication and AuthorizationPolicy (`make verify` replays it). Paths tried: "
             + ", ".join(f"`{p}`" for p in paths) + "." + tls + " Each answers as *token required* "
             "(no token 403; its token → its service; another environment's, a wrong issuer's or an "
             "expired token 401)" + (", except:" if odd else "."),
             ""]
    if odd:
        lines += ["| Path | " + " | ".join(HEADINGS[c] for c in CREDENTIALS) + " |",
                  "|---" * (len(CREDENTIALS) + 1) + "|"]
        lines += [f"| `{path}` | " + " | ".join(cells[(path, c, mutual)] for c in CREDENTIALS) + " |"
                  for path in paths if path in odd]
        lines.append("")
    return lines
