"""The Istio and cert-manager checks of preview/crds.py against the vendored CRDs (schemas/crds/):
planted faults, each caught with its path and message; every CEL rule of the kinds the program
renders compiles; the vendored CRDs are those of the pinned versions."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from conftest import ROOT

from components import versions
from preview import crds
from preview.schemas import Problem, SchemasUnavailable, check

# The kinds the program renders, and ServiceEntry, which it may.
RENDERED_KINDS = {
    "networking.istio.io": ["Gateway", "VirtualService", "ServiceEntry"],
    "security.istio.io": ["PeerAuthentication", "RequestAuthentication", "AuthorizationPolicy"],
    "cert-manager.io": ["Certificate", "ClusterIssuer"],
}


def _meta(name, namespace="dev"):
    return {"name": name, "namespace": namespace}


# Valid objects, shaped as the program renders them (ServiceEntry: as it would).
BASES = {
    "gateway": {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": _meta("api-gateway", "istio-ingress"),
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{
            "hosts": ["*.api.example.com"],
            "port": {"name": "https", "number": 443, "protocol": "HTTPS"},
            "tls": {"credentialName": "api-wildcard-tls", "minProtocolVersion": "TLSV1_2",
                    "mode": "SIMPLE"}}]}},
    "virtualservice": {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": _meta("dev-api"),
        "spec": {"gateways": ["istio-ingress/api-gateway"], "hosts": ["dev.api.example.com"],
                 "http": [{"name": "orders", "match": [{"uri": {"prefix": "/orders"}}],
                           "timeout": "15s",
                           "route": [{"destination": {"host": "orders.dev.svc.cluster.local",
                                                      "port": {"number": 8080}}}]}]}},
    "serviceentry": {
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
        "metadata": _meta("auth0", "istio-system"),
        "spec": {"hosts": ["acme-storefront.us.auth0.com"], "location": "MESH_EXTERNAL",
                 "ports": [{"name": "https", "number": 443, "protocol": "TLS"}],
                 "resolution": "DNS"}},
    "requestauthentication": {
        "apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication", "metadata": _meta("jwt"),
        "spec": {"jwtRules": [{
            "audiences": ["https://dev.api.example.com"], "forwardOriginalToken": True,
            "issuer": "https://acme-storefront.us.auth0.com/",
            "jwksUri": "https://acme-storefront.us.auth0.com/.well-known/jwks.json"}]}},
    "authorizationpolicy": {
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": _meta("require-jwt"),
        "spec": {"action": "ALLOW", "rules": [{
            "from": [{"source": {"requestPrincipals": ["https://acme-storefront.us.auth0.com/*"]}}],
            "when": [{"key": "request.auth.audiences", "values": ["https://dev.api.example.com"]}]}]}},
    "peerauthentication": {
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": _meta("default", "istio-system"), "spec": {"mtls": {"mode": "STRICT"}}},
    "certificate": {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": _meta("api-wildcard-tls", "istio-ingress"),
        "spec": {"dnsNames": ["*.api.example.com"], "duration": "2160h", "renewBefore": "720h",
                 "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt-staging"},
                 "privateKey": {"algorithm": "ECDSA", "rotationPolicy": "Always", "size": 256},
                 "secretName": "api-wildcard-tls",
                 "secretTemplate": {"labels": {"app.kubernetes.io/managed-by": "cert-manager"}}}},
    "clusterissuer": {
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
        "metadata": {"name": "letsencrypt-staging"},
        "spec": {"acme": {
            "email": "platform-team@example.com",
            "privateKeySecretRef": {"name": "letsencrypt-staging-account-key"},
            "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
            "solvers": [{"dns01": {"cloudDNS": {"hostedZoneName": "example-com",
                                                "project": "acme-nonprod"}}}]}}},
}


def _tls(b):
    return b["spec"]["servers"][0]["tls"]


def _jwt(b):
    return b["spec"]["jwtRules"][0]


def _http(b):
    return b["spec"]["http"][0]


VENAFI = {"zone": "devops\\api", "tpp": {"url": "https://tpp.example.com/vedsdk",
                                          "credentialsRef": {"name": "tpp-login"}},
          "cloud": {"apiTokenSecretRef": {"name": "venafi-cloud", "key": "apikey"}}}

# id -> (base, edit, [(path, message)]): the exact problems the edit must cause, no more.
FAULTS = {
    # CEL rules (x-kubernetes-validations)
    "gateway tls: credentialName and credentialNames": (
        "gateway", lambda b: _tls(b).update(credentialNames=["a-tls", "b-tls"]),
        [("spec.servers[0].tls", "only one of credentialName or credentialNames can be set")]),
    "requestauthentication: jwksUri not http(s)": (
        "requestauthentication", lambda b: _jwt(b).update(jwksUri="ftp://example.com/jwks.json"),
        [("spec.jwtRules[0].jwksUri", "url must have scheme http:// or https://")]),
    "requestauthentication: jwks and jwksUri": (
        "requestauthentication", lambda b: _jwt(b).update(jwks='{"keys": []}'),
        [("spec.jwtRules[0]", "only one of jwks or jwksUri can be set")]),
    "requestauthentication: timeout under 1ms": (
        "requestauthentication", lambda b: _jwt(b).update(timeout="500us"),
        [("spec.jwtRules[0].timeout", "must be a valid duration greater than 1ms")]),
    "authorizationpolicy: selector and targetRef": (
        "authorizationpolicy", lambda b: b["spec"].update(
            selector={"matchLabels": {"app": "api"}},
            targetRef={"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "api"}),
        [("spec", "only one of targetRefs or selector can be set")]),
    "authorizationpolicy: targetRef in another namespace": (
        "authorizationpolicy", lambda b: b["spec"].update(targetRef={
            "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "api", "namespace": "x"}),
        [("spec.targetRef.namespace", "cross namespace referencing is not currently supported")]),
    "authorizationpolicy: serviceAccounts with namespaces": (
        "authorizationpolicy", lambda b: b["spec"]["rules"][0]["from"][0].update(
            source={"serviceAccounts": ["dev/orders"], "namespaces": ["dev"]}),
        [("spec.rules[0].from[0].source", "Cannot set serviceAccounts with namespaces or principals")]),
    "authorizationpolicy: wildcard label value": (
        "authorizationpolicy", lambda b: b["spec"].update(selector={"matchLabels": {"app": "api-*"}}),
        [("spec.selector.matchLabels.app", "wildcard not allowed in label value match")]),
    "serviceentry: port number over 65535": (
        "serviceentry", lambda b: b["spec"]["ports"][0].update(number=70000),
        [("spec.ports[0].number", "port must be between 1-65535")]),
    "serviceentry: port number 0": (
        "serviceentry", lambda b: b["spec"]["ports"][0].update(number=0),
        [("spec.ports[0].number", "port must be between 1-65535")]),
    "serviceentry: duplicate port number": (
        "serviceentry", lambda b: b["spec"]["ports"].append({"name": "tls", "number": 443}),
        [("spec.ports", "port number cannot be duplicated")]),
    "serviceentry: wildcard host": (
        "serviceentry", lambda b: b["spec"].update(hosts=["*"]),
        [("spec.hosts[0]", "hostname cannot be wildcard")]),
    "serviceentry: CIDR address with DNS resolution": (
        "serviceentry", lambda b: b["spec"].update(addresses=["203.0.113.0/24"]),
        [("spec", "CIDR addresses are allowed only for NONE/STATIC resolution types")]),
    "serviceentry: relative unix socket (substring)": (
        "serviceentry", lambda b: b["spec"].update(resolution="STATIC",
                                                   endpoints=[{"address": "unix://run/sock"}]),
        [("spec.endpoints[0].address", "UDS must be an absolute path or abstract socket")]),
    "virtualservice: timeout under 1ms": (
        "virtualservice", lambda b: _http(b).update(timeout="0.5ms"),
        [("spec.http[0].timeout", "must be a valid duration greater than 1ms")]),
    "peerauthentication: portLevelMtls without selector": (
        "peerauthentication", lambda b: b["spec"].update(portLevelMtls={"8080": {"mode": "DISABLE"}}),
        [("spec", "portLevelMtls requires selector")]),
    "peerauthentication: portLevelMtls port 0 (int of a key)": (
        "peerauthentication", lambda b: b["spec"].update(selector={"matchLabels": {"app": "orders"}},
                                                         portLevelMtls={"0": {"mode": "DISABLE"}}),
        [("spec.portLevelMtls", "port must be between 1-65535")]),
    "clusterissuer: venafi with both tpp and cloud": (
        "clusterissuer", lambda b: b["spec"].update(acme=None, venafi=VENAFI),
        [("spec.venafi", "exactly one of tpp, cloud, or ngts must be configured")]),
    # the structural schema
    "gateway: port number as a string": (
        "gateway", lambda b: b["spec"]["servers"][0]["port"].update(number="443"),
        [("spec.servers[0].port.number", "must be of type integer, got string")]),
    "gateway: int-or-string given a number": (
        "gateway", lambda b: b.update(status={"observedGeneration": 1.5}),
        [("status.observedGeneration", "must be an integer or a string, got number")]),
    "gateway: unknown top-level field": (
        "gateway", lambda b: b.update(spc={}), [("spc", "unknown field")]),
    "virtualservice: exact and prefix (oneOf)": (
        "virtualservice", lambda b: _http(b)["match"][0]["uri"].update(exact="/orders"),
        [("spec.http[0].match[0].uri", "only one of exact, prefix, regex can be set (got exact, prefix)")]),
    "virtualservice: null timeout": (
        "virtualservice", lambda b: _http(b).update(timeout=None),
        [("spec.http[0].timeout", "must not be null")]),
    "virtualservice: negative port (minimum)": (
        "virtualservice", lambda b: _http(b)["route"][0]["destination"]["port"].update(number=-1),
        [("spec.http[0].route[0].destination.port.number", "must be greater than or equal to 0")]),
    "serviceentry: two ports named https (list-type map)": (
        "serviceentry", lambda b: b["spec"]["ports"].append({"name": "https", "number": 8443}),
        [("spec.ports[1]", 'duplicate entry with name="https"')]),
    "serviceentry: resolution not allowed": (
        "serviceentry", lambda b: b["spec"].update(resolution="dns"),
        [("spec.resolution", 'must be one of the allowed values: "NONE", "STATIC", "DNS", '
                             '"DNS_ROUND_ROBIN", "DYNAMIC_DNS" (got "dns")')]),
    "certificate: key algorithm not allowed": (
        "certificate", lambda b: b["spec"]["privateKey"].update(algorithm="DSA"),
        [("spec.privateKey.algorithm",
          'must be one of the allowed values: "RSA", "ECDSA", "Ed25519" (got "DSA")')]),
    "certificate: key size as a string": (
        "certificate", lambda b: b["spec"]["privateKey"].update(size="256"),
        [("spec.privateKey.size", "must be of type integer, got string")]),
    "certificate: issuerRef without name": (
        "certificate", lambda b: b["spec"]["issuerRef"].pop("name"),
        [("spec.issuerRef", "must have required property name")]),
    "certificate: unknown field dnsName": (
        "certificate", lambda b: b["spec"].update(dnsName="api.example.com"),
        [("spec.dnsName", "unknown field")]),
    "certificate: renewBeforePercentage beyond int32": (
        "certificate", lambda b: b["spec"].update(renewBeforePercentage=2**31),
        [("spec.renewBeforePercentage", "must fit in int32 (-2147483648 to 2147483647)")]),
    # metadata (ObjectMeta) and apiVersion
    "metadata: unknown field": (
        "gateway", lambda b: b["metadata"].update(label={"app": "x"}), [("metadata.label", "unknown field")]),
    "metadata: label value not a string": (
        "certificate", lambda b: b["metadata"].update(labels={"replicas": 2}),
        [("metadata.labels.replicas", "must be of type string, got integer")]),
    "apiVersion: not served": (
        "gateway", lambda b: b.update(apiVersion="networking.istio.io/v2"),
        [("apiVersion", "no CRD in schemas/crds/ serves networking.istio.io/v2 Gateway")]),
}


def _problems(body: dict, name: str = "planted.yaml") -> list[tuple[str, str]]:
    found = check({name: yaml.safe_dump(body)})
    assert all(p.file == name for p in found)
    return [(p.path, p.message) for p in found]


def _planted(base: str, edit) -> dict:
    body = copy.deepcopy(BASES[base])
    edit(body)
    spec = body.get("spec", {})
    for key in [k for k, v in spec.items() if v is None]:  # edits drop fields by setting None
        del spec[key]
    return body


@pytest.mark.parametrize("base", sorted(BASES))
def test_each_base_object_is_valid(base):
    assert _problems(BASES[base]) == []


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_planted_fault_is_caught_with_path_and_message(fault):
    base, edit, expected = FAULTS[fault]
    assert _problems(_planted(base, edit)) == expected


# What the API server keeps, and so must the conversion (CONVERSION's departures from kubeconform).
KEPT = {
    "an unknown field under a status that preserves unknown fields": (
        "gateway", lambda b: b.update(status={"observedGeneration": 1, "someController": {"x": 1}})),
    "null where the schema is nullable": (
        "virtualservice", lambda b: _http(b).update(retries={"retryRemoteLocalities": None})),
    "an int-or-string given a string": (
        "gateway", lambda b: b.update(status={"observedGeneration": "1"})),
}


@pytest.mark.parametrize("case", sorted(KEPT))
def test_what_the_api_server_keeps_passes(case):
    base, edit = KEPT[case]
    assert _problems(_planted(base, edit)) == []


def test_the_conversion_follows_kubeconform_and_keeps_the_api_servers_exceptions():
    schema = {"type": "object", "properties": {
        "n": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}],
              "pattern": "^[0-9]+$"},
        "b": {"type": "boolean", "nullable": True},
        "kept": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"a": {"type": "string"}}},
        "one": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "oneOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]},
                          {"required": ["b"]}]}}}
    converted = crds.to_json_schema(schema)
    assert converted["additionalProperties"] is False
    assert converted["properties"]["n"] == {"x-kubernetes-int-or-string": True, "pattern": "^[0-9]+$",
                                            "oneOf": [{"type": "string"}, {"type": "integer"}]}
    assert converted["properties"]["b"]["type"] == ["boolean", "null"]
    assert "additionalProperties" not in converted["properties"]["kept"]
    assert "additionalProperties" not in converted["properties"]["one"]["oneOf"][0]
    assert converted["properties"]["one"]["additionalProperties"] is False
    assert "additionalProperties" not in schema and "oneOf" not in schema["properties"]["n"]  # a copy


def test_each_keyword_the_vendored_crds_report_on_has_its_wording():
    """Outside anyOf & co (whose errors a node's oneOf words), every validation keyword of the
    converted CRDs says its problem as the API server does; the structural ones are described
    apart (an unknown field, each missing property) or only hold other schemas."""
    used = set()

    def walk(node):
        if isinstance(node, dict):
            used.update(set(node) & set(crds.Validator.VALIDATORS))
            for inner in list(node.get("properties", {}).values()) + [node.get("items"),
                                                                      node.get("additionalProperties")]:
                walk(inner)

    for group, kind in crds.vendored_kinds():
        for version in crds.crd(group, kind)["spec"]["versions"]:
            walk(crds.to_json_schema(version["schema"]["openAPIV3Schema"]))
    described_apart = {"additionalProperties", "required", "properties", "items", "allOf",
                       "x-kubernetes-list-type", "x-kubernetes-validations"}
    assert used - described_apart == set(crds.MESSAGES)


def test_a_key_that_is_not_a_plain_name_is_quoted_in_the_path():
    body = _planted("certificate", lambda b: b["metadata"].update(labels={"app.kubernetes.io/name": 2}))
    assert _problems(body) == [("metadata.labels['app.kubernetes.io/name']",
                                "must be of type string, got integer")]


def test_a_rule_that_cannot_be_evaluated_is_a_problem_naming_the_rule_message():
    body = _planted("requestauthentication", lambda b: _jwt(b).update(jwksUri="example.com/jwks"))
    [(path, message)] = _problems(body)
    assert path == "spec.jwtRules[0].jwksUri"
    assert message.startswith("url must have scheme http:// or https:// (the rule could not be "
                              "evaluated:"), message
    assert "URL parse error" in message

    body = _planted("virtualservice", lambda b: _http(b).update(timeout="soon"))
    [(path, message)] = _problems(body)
    assert (path, message.split(" (")[0]) == ("spec.http[0].timeout",
                                              "must be a valid duration greater than 1ms")


def _rules(schema, path=""):
    if not isinstance(schema, dict):
        return
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule
    for key, inner in schema.get("properties", {}).items():
        yield from _rules(inner, f"{path}.{key}")
    yield from _rules(schema.get("items"), f"{path}[]")
    yield from _rules(schema.get("additionalProperties"), f"{path}{{}}")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, inner in enumerate(schema.get(key, [])):
            yield from _rules(inner, f"{path}({key}{i})")


def test_every_cel_rule_of_the_rendered_kinds_compiles():
    compiled = 0
    for group, kinds in RENDERED_KINDS.items():
        for kind in kinds:
            crd = crds.crd(group, kind)
            assert crd is not None, (group, kind)
            for version in crd["spec"]["versions"]:
                for path, rule in _rules(version["schema"]["openAPIV3Schema"]):
                    where = (kind, version["name"], path, rule["rule"])
                    crds.compile_rule(rule["rule"])  # raises UnsupportedRule, never skips
                    if rule.get("messageExpression"):
                        crds.compile_rule(rule["messageExpression"])
                    assert set(rule) <= {"rule", "message", "messageExpression", "reason",
                                         "fieldPath", "optionalOldSelf"}, where
                    compiled += 1
    assert compiled >= 100  # 117 in Istio 1.30.3 and cert-manager v1.21.1


def test_a_rule_with_an_unknown_function_or_bad_syntax_raises():
    with pytest.raises(crds.UnsupportedRule, match="quantity"):
        crds.compile_rule("quantity(self).isGreaterThan(quantity('1'))")
    with pytest.raises(crds.UnsupportedRule, match="does not compile"):
        crds.compile_rule("self.size() ==")
    assert issubclass(crds.UnsupportedRule, SchemasUnavailable)  # the preview stops, loudly


def test_transition_rules_are_recognised_and_skipped():
    assert crds.is_transition_rule({"rule": "self == oldSelf"})
    assert crds.is_transition_rule({"rule": "self.size() > 0", "optionalOldSelf": True})
    assert not crds.is_transition_rule({"rule": "self.size() > 0"})
    schema = {"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-validations": [
        {"rule": "self == oldSelf", "message": "immutable"},
        {"rule": "self != 'x'", "message": "not x"}]}}}
    assert crds.validate({"a": "x"}, schema) == [("a", "not x")]


def test_a_rule_reading_a_missing_field_names_it():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
              "x-kubernetes-validations": [{"rule": "self.b == 1", "message": "b is 1"}]}
    assert crds.validate({"spec": {"a": 1}}, {"type": "object", "properties": {"spec": schema}}) == [
        ("spec", "b is 1 (the rule could not be evaluated: no such key: b)")]


def test_message_expression_and_field_path():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "x-kubernetes-validations": [
        {"rule": "self.n < 3", "messageExpression": "'n is ' + string(self.n)", "fieldPath": ".n"},
        {"rule": "self.n < 2"}]}
    assert crds.validate({"spec": {"n": 5}}, {"type": "object", "properties": {"spec": schema}}) == [
        ("spec.n", "n is 5"), ("spec", "failed rule: self.n < 2")]


@pytest.mark.parametrize("expression, expected", [
    ("url('https://a.example.com:8443/p/q?x=1&x=2&y=').getScheme()", "https"),
    ("url('HTTP://a.example.com').getScheme()", "http"),
    ("url('/just/a/path').getScheme()", ""),
    ("isURL('https://a.example.com')", True),
    ("isURL('https://user@[::1]:80/')", True),
    ("isURL('a.example.com/no-scheme')", False),
    ("isURL('https://a.example.com:port/')", False),
    ("isURL('https://a.exa mple.com/')", False),
    ("'unix:///run/sock'.substring(7, 8)", "/"),
])
def test_kubernetes_url_library_and_strings_extension(expression, expected):
    assert crds.evaluate(expression, None) == expected


def test_the_kubernetes_functions_are_those_the_vendored_rules_call():
    # compile_rule also refuses a rule calling one that is missing: the preview stops.
    called = set()
    for group, kind in crds.vendored_kinds():
        for version in crds.crd(group, kind)["spec"]["versions"]:
            for _, rule in _rules(version["schema"]["openAPIV3Schema"]):
                for expression in (rule["rule"], rule.get("messageExpression")):
                    if expression:
                        called |= set(crds.compile_rule(expression).references()["functions"])
    assert set(crds.KUBERNETES_FUNCTIONS) <= called  # none provided that no rule calls
    assert {name for name in called if name[:1] not in "_@!-"} <= crds.available_functions()


def test_url_of_a_relative_reference_is_an_error():
    with pytest.raises(Exception, match="URL parse error"):
        crds.evaluate("url(self).getScheme()", "example.com/jwks")


# One expression per function the checker takes as native to the cel crate: each must run.
NATIVE_PROBES = {
    "size": "size('ab') == 2 && 'ab'.size() == 2 && [1].size() == 1 && {'a': 1}.size() == 1",
    "contains": "'abc'.contains('b')", "startsWith": "'abc'.startsWith('a')",
    "endsWith": "'abc'.endsWith('c')", "matches": "'abc'.matches('^a[b]c$')",
    "int": "int('5') == 5", "uint": "uint(5) == 5u", "double": "double(1) == 1.0",
    "string": "string(1) == '1'", "bytes": "bytes('a') == b'a'",
    "duration": "duration('1h30m') > duration('90s')",
    "timestamp": "timestamp('2026-01-01T00:00:00Z') > timestamp('2025-01-01T00:00:00Z')",
    "type": "type(1) == int", "dyn": "dyn(1) == 1",
    "getFullYear": "timestamp('2026-01-01T00:00:00Z').getFullYear() == 2026",
    "getMonth": "timestamp('2026-02-01T00:00:00Z').getMonth() == 1",
    "getDate": "timestamp('2026-01-02T00:00:00Z').getDate() == 2",
    "getDayOfMonth": "timestamp('2026-01-02T00:00:00Z').getDayOfMonth() == 1",
    "getDayOfWeek": "timestamp('2026-01-01T00:00:00Z').getDayOfWeek() == 4",
    "getDayOfYear": "timestamp('2026-01-02T00:00:00Z').getDayOfYear() == 1",
    "getHours": "duration('2h').getHours() == 2", "getMinutes": "duration('2m').getMinutes() == 2",
    "getSeconds": "duration('2s').getSeconds() == 2",
    "getMilliseconds": "duration('2s').getMilliseconds() == 2000",
}


def test_every_function_taken_as_native_runs():
    assert set(NATIVE_PROBES) == crds.NATIVE_FUNCTIONS
    for name, expression in NATIVE_PROBES.items():
        assert crds.evaluate(expression, None) is True, name
    assert crds.evaluate("[1, 2].exists_one(x, x == 1) && has(self.a) && !has(self.b)", {"a": 1})


def _source(folder: str) -> dict[str, str]:
    lines = (ROOT / "schemas" / "crds" / folder / "SOURCE").read_text().splitlines()
    return dict(re.match(r"^([a-z]+): (.+)$", line).groups() for line in lines
                if line and not line.startswith("#"))


@pytest.mark.parametrize("folder, pin, repository", [
    # The definitions of every installable Istio version (versions.ISTIO_VERSIONS: per minor, one API).
    *((f"istio/{tag}", tag, "https://github.com/istio/istio") for tag in sorted(set(versions.ISTIO_VERSIONS.values()))),
    ("cert-manager", versions.CERT_MANAGER_VERSION, "https://github.com/cert-manager/cert-manager"),
])
def test_vendored_crds_are_those_of_the_pinned_version(folder, pin, repository):
    source = _source(folder)
    assert source["tag"] == pin
    assert source["repository"] == repository
    assert source["license"] == "Apache-2.0"
    vendored = sorted(p.name for p in (ROOT / "schemas" / "crds" / folder).glob("*.yaml"))
    assert vendored == sorted(source["files"].split())


def test_every_vendored_set_is_an_installable_versions_and_nothing_else():
    assert set(crds.definition_sets()) == {"cert-manager"} | {
        f"istio/{tag}" for tag in versions.ISTIO_VERSIONS.values()}
    # Every rendered kind is served in v1: test_each_base_object_is_valid.
    assert len(crds.vendored_kinds()) == 15 + 3  # Istio: crd-all.gen.yaml; cert-manager: 3 files


def _served(crd: dict) -> set[str]:
    return {v["name"] for v in crd["spec"]["versions"] if v.get("served")}


def test_a_newer_istios_crds_serve_everything_an_older_ones_do():
    """Why the base chart (the CRDs) goes first in an upgrade (components/mesh.py): the newer
    CRDs, which the older istiod then reads, still serve every version and every field the older
    ones did, and store the same version. What the program renders passes both (`check`)."""
    tags = sorted(set(versions.ISTIO_VERSIONS.values()), key=lambda t: [int(p) if p.isdigit() else -1
                                                                       for p in re.split(r"[.-]", t)])
    for older, newer in zip(tags, tags[1:], strict=False):
        for group, kind in crds.vendored_kinds():
            if not group.endswith("istio.io"):
                continue
            old, new = crds.crd(group, kind, f"istio/{older}"), crds.crd(group, kind, f"istio/{newer}")
            assert old is not None and new is not None, (group, kind)
            assert _served(old) <= _served(new), (group, kind, older, newer)
            assert [v["name"] for v in old["spec"]["versions"] if v.get("storage")] == \
                [v["name"] for v in new["spec"]["versions"] if v.get("storage")], (group, kind)
            for version in _served(old):
                before = crds.served_schema(f"{group}/{version}", kind, f"istio/{older}")
                after = crds.served_schema(f"{group}/{version}", kind, f"istio/{newer}")
                assert _fields(before) <= _fields(after), (group, kind, version, sorted(_fields(before) - _fields(after)))


def _fields(schema: dict, path: str = "") -> set[str]:
    """Every property path of an OpenAPI schema (through items and additionalProperties)."""
    found = set()
    for name, sub in (schema.get("properties") or {}).items():
        found.add(f"{path}{name}")
        found |= _fields(sub, f"{path}{name}.")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= _fields(schema[key], f"{path}[]." if key == "items" else f"{path}{{}}.")
    return found


def test_every_istio_object_is_checked_against_each_versions_crds(monkeypatch):
    """Both Istio versions' CRDs hold every kind; a problem both refuse reads once, one that only
    a set has says which (here a set that serves no such kind)."""
    tags = sorted(set(versions.ISTIO_VERSIONS.values()))
    assert crds.sets_of("networking.istio.io", "Gateway") == tuple(f"istio/{tag}" for tag in tags)
    broken = _planted("gateway", lambda b: b["spec"].update(selector="ingress"))
    messages = [m for _, m in _problems(broken)]
    assert messages and not any("CRD only" in m for m in messages)
    monkeypatch.setattr(crds, "sets_of", lambda group, kind: (f"istio/{tags[0]}", "istio/0.0.0"))
    assert crds.check("g.yaml", BASES["gateway"]) == [Problem(
        "g.yaml", "apiVersion", "no CRD in schemas/crds/ serves networking.istio.io/v1 Gateway "
        "(istio/0.0.0 CRD only)")]
