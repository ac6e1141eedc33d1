"""Who can call what (preview/access.py): the mesh's answer to each request, evaluated from the
rendered objects. Checked three ways: against hand-written expectations for the shipped stacks
and examples (a reviewer's reading of their files), against each stack's own config (any stack
file present), and rule by rule on small objects for the Istio semantics the module cites."""

from __future__ import annotations

import pytest
from conftest import SHIPPED_STACKS, host_of, shipped
from stackfiles import set_key, write_project

from preview import access, preview_stack
from preview.access import FORBIDDEN, NOT_FOUND, TLS_REFUSED, UNAUTHENTICATED, Request

ALL_401 = {"other-env": UNAUTHENTICATED, "wrong-issuer": UNAUTHENTICATED, "expired": UNAUTHENTICATED}


def _rows(plan: dict, host: str, cert: bool = False) -> dict[str, dict[str, str]]:
    """path -> credential -> answer, for requests with (or without) a client certificate."""
    out: dict[str, dict[str, str]] = {}
    for path, credential, with_cert, answer in plan["access"][host]:
        if with_cert == cert:
            out.setdefault(path, {})[credential] = answer
    return out


@pytest.mark.parametrize("stack", shipped("dev", "environment.auth.publicPaths", ["/accounts/health"]))
def test_the_shipped_dev_matrix_is_what_its_file_says_to_a_reader(plans, stack):
    """Pulumi.dev.yaml as shipped: three routes, /accounts/health public, the demo on."""
    rows = _rows(plans[stack], "dev.api.example.com")
    token_required = {"none": FORBIDDEN, **ALL_401}
    for prefix, service in (("/accounts", "accounts.dev:8080"), ("/orders", "orders.dev:8080"),
                            ("/fulfillment", "fulfillment.dev:8080"), ("/demo", "demo-echo.dev:80")):
        for path in (prefix, prefix + "/x"):
            assert rows[path] == {**token_required, "token": f"→ {service}"}, path
    for path, service in (("/accounts/health", "accounts.dev:8080"), ("/accounts/health/x", "accounts.dev:8080"),
                          ("/demo/health", "demo-echo.dev:80"), ("/demo/health/x", "demo-echo.dev:80")):
        assert rows[path] == {"none": f"→ {service}", "token": f"→ {service}", **ALL_401}, path
    assert rows["/no-such-route"] == dict.fromkeys(access.CREDENTIALS, NOT_FOUND)
    assert set(rows) == {"/accounts", "/accounts/x", "/orders", "/orders/x", "/fulfillment",
                         "/fulfillment/x", "/demo", "/demo/x", "/accounts/health", "/accounts/health/x",
                         "/demo/health", "/demo/health/x", "/no-such-route"}


def test_the_mutual_example_refuses_every_request_without_a_client_certificate(example_plans):
    """examples/mutual: partner is MUTUAL with its own CA; web shares the SIMPLE wildcard."""
    host = "partner.api.mtls-demo.example.com"
    without = _rows(example_plans["partner"], host, cert=False)
    assert {answer for row in without.values() for answer in row.values()} == {TLS_REFUSED}
    with_cert = _rows(example_plans["partner"], host, cert=True)
    assert with_cert["/settlements"] == {"none": FORBIDDEN, "token": "→ settlements.partner:8080", **ALL_401}
    web = _rows(example_plans["web"], "web.api.mtls-demo.example.com")
    assert web["/healthz"]["none"] == "→ web.web:8080" and web["/x"]["none"] == FORBIDDEN


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_route_answers_as_its_stack_file_says(plans, configs, stack):
    """Derived from each stack's own config: a route's prefix and a path below it reach its
    Service with the environment's token, are 403 without one unless public, 401 with another
    environment's; a public path is reached without a token."""
    cfg = configs[stack].environment
    rows = _rows(plans[stack], host_of(configs, stack), cert=cfg.tls.mode == "MUTUAL")
    public = set(cfg.served_public_paths)
    for route in cfg.served_routes:
        target = f"→ {route.service}.{cfg.namespace}:{route.port}"
        for path in (route.path, route.path.rstrip("/") + "/x"):
            assert rows[path]["token"] == target and rows[path]["other-env"] == UNAUTHENTICATED
            if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in public):
                assert rows[path]["none"] == FORBIDDEN, path
    for path in public:
        assert rows[path]["none"].startswith("→"), path


def test_a_public_path_ending_in_star_opens_everything_below_it(tmp_path):
    """`publicPaths: ['/orders/*']` (issue #22): everything below /orders/ answers without a
    token, /orders itself still needs one; summary.md says so."""
    project = write_project(tmp_path, set_key("environment.auth.publicPaths", ["/orders/*"]))
    result = preview_stack("dev", project, tmp_path / "build")
    host = next(iter(result.plan["access"]))
    rows = _rows(result.plan, host)
    assert rows["/orders/x"]["none"] == "→ orders.dev:8080"
    assert rows["/orders"]["none"] == FORBIDDEN
    summary = (result.out_dir / "summary.md").read_text()
    assert "| `/orders/x` | → orders.dev:8080 | → orders.dev:8080 | 401 | 401 | 401 |" in summary
    # The routes table says it too: the old reading of the policy dropped `/*` public paths.
    assert "token required (aud `https://dev.api.example.com`); everything below `/orders/` public |" in summary


# --- the semantics, rule by rule ---------------------------------------------------------------

HOST = "a.api.example.com"


def _world(*policies: dict, jwt: dict | None = None, mtls: str = "STRICT", tls: str = "SIMPLE") -> list[dict]:
    def obj(kind: str, namespace: str, spec: dict, name: str = "x") -> dict:
        return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}

    return [obj("Gateway", "istio-ingress", {"servers": [{"hosts": ["*.api.example.com"], "port": {
                "number": 443, "protocol": "HTTPS"}, "tls": {"mode": tls}}]}, "api-gateway"),
            obj("VirtualService", "a", {"gateways": ["istio-ingress/api-gateway"], "hosts": [HOST], "http": [
                {"match": [{"uri": {"prefix": "/p"}}], "route": [{"destination": {
                    "host": "svc.a.svc.cluster.local", "port": {"number": 80}}}]}]}),
            obj("RequestAuthentication", "a", jwt or {"jwtRules": [{"issuer": "https://i/", "audiences": ["aud-a"]}]}),
            obj("PeerAuthentication", "istio-system", {"mtls": {"mode": mtls}}),
            *(obj("AuthorizationPolicy", "a", p, f"p{i}") for i, p in enumerate(policies))]


def _ask(world: list[dict], credential: str = "token", path: str = "/p", cert: bool = False) -> str:
    return access.answer(world, Request(HOST, path, credential, cert))


GATEWAY = {"source": {"principals": ["cluster.local/ns/istio-ingress/sa/istio-ingressgateway"]}}
TOKEN_RULE = {"action": "ALLOW", "rules": [{"from": [{"source": {"requestPrincipals": ["https://i//*"]}}],
                                            "when": [{"key": "request.auth.audiences", "values": ["aud-a"]}]}]}


def test_no_policy_allows_and_an_empty_allow_policy_allows_nothing():
    assert _ask(_world(), "none") == "→ svc.a:80"
    assert _ask(_world({}), "token") == FORBIDDEN  # allow-nothing: ALLOW without rules
    assert _ask(_world({}, TOKEN_RULE), "token") == "→ svc.a:80"


def test_deny_comes_before_allow():
    deny = {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/p*"]}}]}]}
    assert _ask(_world(TOKEN_RULE, deny), "token") == FORBIDDEN


def test_tokens_a_rule_cannot_verify_are_401_and_none_is_no_identity():
    world = _world(TOKEN_RULE)
    assert [_ask(world, c) for c in access.CREDENTIALS] == [FORBIDDEN, "→ svc.a:80"] + [UNAUTHENTICATED] * 3
    # No audiences on the rule: only the service name is accepted, never an environment's.
    assert _ask(_world(TOKEN_RULE, jwt={"jwtRules": [{"issuer": "https://i/"}]}), "token") == UNAUTHENTICATED


def test_path_matching_exact_prefix_suffix_and_not_paths():
    def only(paths: list[str], not_paths: list[str] = ()) -> list[dict]:
        operation = {"paths": paths, **({"notPaths": list(not_paths)} if not_paths else {})}
        return _world({"action": "ALLOW", "rules": [{"to": [{"operation": operation}]}]})

    assert _ask(only(["/p"]), path="/p") != FORBIDDEN and _ask(only(["/p"]), path="/p/x") == FORBIDDEN
    assert _ask(only(["/p/*"]), path="/p/x") != FORBIDDEN and _ask(only(["/p/*"]), path="/p") == FORBIDDEN
    assert _ask(only(["*/x"]), path="/p/x") != FORBIDDEN
    assert _ask(only(["/p*"], ["/p/h"]), path="/p/h") == FORBIDDEN


def test_the_gateway_identity_needs_mutual_tls_and_mutual_needs_a_client_certificate():
    from_gateway = {"action": "ALLOW", "rules": [{"from": [GATEWAY]}]}
    assert _ask(_world(from_gateway), "none") == "→ svc.a:80"
    assert _ask(_world(from_gateway, mtls="DISABLE"), "none") == FORBIDDEN
    assert _ask(_world(tls="MUTUAL"), "none") == TLS_REFUSED
    assert _ask(_world(tls="MUTUAL"), "none", cert=True) == "→ svc.a:80"
    assert _ask(_world(), path="/elsewhere") == NOT_FOUND


def test_a_shape_it_does_not_model_is_refused_not_guessed():
    with pytest.raises(access.Unmodelled, match="ipBlocks"):
        _ask(_world({"rules": [{"from": [{"source": {"ipBlocks": ["1.2.3.4"]}}]}]}))
    with pytest.raises(access.Unmodelled, match="when key"):
        _ask(_world({"rules": [{"when": [{"key": "request.headers[x]", "values": ["y"]}]}]}))
