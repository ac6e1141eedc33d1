"""A local stand-in for a deployed environment: HTTPS on 127.0.0.1 with a wildcard certificate
from a throwaway CA, TLS 1.2+, and the JWT rules the mesh enforces (no token 403, a bad or
foreign-audience token 401, a good one 200). With ``rendered`` (:class:`Rendered`) it answers as
the mesh would from a plan's rendered Istio objects, by preview.access.answer itself, and a MUTUAL
host requires a client certificate of a CA of its own. Only loopback; stops with the test."""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from preview import access
from preview.democert import issue

ISSUER = "https://issuer.test/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(key: ec.EllipticCurvePrivateKey, audience: str, issuer: str = ISSUER, ttl: int = 300) -> str:
    """An ES256 JWT, as an identity provider would issue."""
    header = _b64(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"iss": issuer, "sub": "tester", "aud": audience,
                              "exp": int(time.time()) + ttl}).encode())
    r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{header}.{claims}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _claims(token: str, key: ec.EllipticCurvePublicKey) -> tuple[dict, bool]:
    """(the token's claims, whether ``key`` signed it); ({}, False) for a malformed token."""
    try:
        header, claims, signature = token.split(".")
        body = json.loads(_unb64(claims))
    except Exception:  # any malformed token is simply invalid
        return {}, False
    try:
        raw = _unb64(signature)
        key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                   f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except Exception:  # a signature of another key, or not ES256 at all
        return (body if isinstance(body, dict) else {}), False
    return (body if isinstance(body, dict) else {}), True


def _audiences(claims: dict) -> list:
    return claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]


def _valid(token: str, key: ec.EllipticCurvePublicKey, audience: str) -> bool:
    body, signed = _claims(token, key)
    return signed and body.get("iss") == ISSUER and audience in _audiences(body) and body.get("exp", 0) > time.time()


def _matches(pattern: str, path: str) -> bool:
    """An AuthorizationPolicy path pattern: exact, or a prefix ending in ``*``."""
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


def workload_answer(plan: dict, host: str) -> str | None:
    """What the workload behind Service ``<name>.<namespace>`` answers (the demo's ``-text=``),
    None when the plan deploys nothing behind it."""
    def kind(suffix: str) -> list[dict]:
        return [r["inputs"] for r in plan["resources"] if r["type"].endswith(suffix)]

    name, namespace = host.split(".")[:2]
    service = next((s for s in kind("core/v1:Service")
                    if (s["metadata"]["name"], s["metadata"]["namespace"]) == (name, namespace)), None)
    if service is None:
        return None
    for deployment in kind("apps/v1:Deployment"):
        template = deployment["spec"]["template"]
        if service["spec"]["selector"].items() <= template["metadata"]["labels"].items():
            args = template["spec"]["containers"][0].get("args", [])
            return next((a.removeprefix("-text=") for a in args if a.startswith("-text=")), None)
    return None


@dataclass(frozen=True)
class Mesh:
    """What a deployed environment's gateway and sidecars do with a request, read from its
    offline plan: each routed prefix and what the workload behind its Service answers (None:
    no workload of the plan serves it), and the paths served without a token."""

    routes: dict[str, str | None]
    public: tuple[str, ...]

    @classmethod
    def from_plan(cls, plan: dict) -> Mesh:
        def kind(suffix: str) -> list[dict]:
            return [r["inputs"] for r in plan["resources"] if r["type"].endswith(suffix)]

        (vs,) = kind(":VirtualService")
        routes = {h["match"][0]["uri"]["prefix"]: workload_answer(plan, h["route"][0]["destination"]["host"])
                  for h in vs["spec"]["http"]}
        policy = next(p for p in kind(":AuthorizationPolicy") if p["metadata"]["name"] == "require-jwt")
        public = tuple(path for rule in policy["spec"]["rules"] if rule.get("from")
                       and "requestPrincipals" not in rule["from"][0]["source"]
                       for to in rule.get("to", []) for path in to["operation"]["paths"])
        return cls(routes, public)

    def prefix(self, path: str) -> str | None:
        """The route Istio takes: the longest prefix that matches (the program orders them so)."""
        found = [p for p in self.routes if p == "/" or path == p or path.startswith(p + "/")]
        return max(found, key=len) if found else None


@dataclass
class Rendered:
    """The mesh of a plan's rendered objects (its own and, for an attached stack, its owner's
    Gateways and root-namespace policies: preview.access.plan_objects): each request answered by
    preview.access.answer, with the credential read from its token: none, the environment's
    (signed by the double's key, the plan's issuer, its audience, not expired), another
    environment's (the same but another audience), a wrong issuer's (an issuer no rule names) or
    an expired one (the plan's issuer, expired or not signed by the double's key: 401 alike). A
    routed request gets what the workload behind the Service answers, or 503 ``no healthy
    upstream`` when the plan deploys none. ``holes`` plants a misconfiguration: (path,
    credential) -> the (status, body) answered instead."""

    objects: list[dict]
    workloads: dict[str, str | None]
    holes: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    @classmethod
    def from_plan(cls, plan: dict, owner_plan: dict | None = None) -> Rendered:
        objects = access.plan_objects(plan, owner_plan)
        targets = {d["destination"]["host"] for vs in objects if vs["kind"] == "VirtualService"
                   for http in vs["spec"].get("http", []) for d in http["route"]}
        return cls(objects, {t.removesuffix(".svc.cluster.local"): workload_answer(plan, t) for t in targets})

    @property
    def jwt_rules(self) -> list[dict]:
        return [r for o in self.objects if o["kind"] == "RequestAuthentication" for r in o["spec"].get("jwtRules", [])]

    def mutual(self, host: str) -> bool:
        server = access.serving_server([o for o in self.objects if o["kind"] == "Gateway"], host)
        return server is not None and server.get("tls", {}).get("mode") == "MUTUAL"

    def credential(self, authorization: str, key: ec.EllipticCurvePublicKey) -> str:
        if not authorization:
            return "none"
        claims, signed = _claims(authorization.removeprefix("Bearer "), key)
        rules = [r for r in self.jwt_rules if r["issuer"] == claims.get("iss")]
        if not rules:
            return "wrong-issuer"
        if not signed or claims.get("exp", 0) <= time.time() or not authorization.startswith("Bearer "):
            return "expired"
        audiences = {a for r in rules for a in r.get("audiences", [])}
        return "token" if audiences & set(_audiences(claims)) else "other-env"

    def respond(self, host: str, path: str, credential: str, client_certificate: bool) -> tuple[int, str]:
        if (path, credential) in self.holes:
            return self.holes[(path, credential)]
        said = access.answer(self.objects, access.Request(host, path, credential, client_certificate))
        if said == access.TLS_REFUSED:  # the handshake already refused it; a wrong SNI name here
            return 421, ""
        if not said.startswith("→"):
            return int(said), ""  # Envoy's 404 (no route), 401 and 403 carry no body to speak of
        service = said[1:].strip().split(":")[0]
        text = self.workloads.get(service)
        return (503, "no healthy upstream") if text is None else (200, text + "\n")


def client_certificate(folder: Path) -> tuple[str, str, str]:
    """(CA file, certificate file, key file): a client certificate of a CA made here."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "https double client CA")])

    def certificate(subject: x509.Name, public, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    files = (folder / "client-ca.pem", folder / "client.pem", folder / "client-key.pem")
    files[0].write_bytes(certificate(ca_name, ca_key.public_key(), True).public_bytes(pem))
    client = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner client")])
    files[1].write_bytes(certificate(client, key.public_key(), False).public_bytes(pem))
    files[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tuple(str(f) for f in files)


@dataclass
class Double:
    host: str
    https_port: int
    http_port: int
    ca_file: str
    audience: str
    signing_key: ec.EllipticCurvePrivateKey
    issuer: str = ISSUER
    client_cert: tuple[str, str] | None = None
    """(certificate file, key file) the double accepts, when its host is MUTUAL."""
    rendered: Rendered | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(tmp: Path, host: str = "dev.api.example.com", audience: str = "https://dev.api.example.com",
            allow_old_tls: bool = False, plain_http: bool = False,
            names: list[str] | None = None, mesh: Mesh | None = None,
            rendered: Rendered | None = None) -> Iterator[Double]:
    """Without ``mesh`` every path is one token-guarded route with an empty answer; with it,
    the plan's routes, public paths and workload answers (404 unrouted, 503 nothing behind).
    With ``rendered`` the plan's objects decide (the audience and issuer are the plan's)."""
    chain, key = issue(names or ["*.api.example.com"])
    (tmp / "chain.pem").write_text(chain)
    (tmp / "key.pem").write_text(key)
    ca = chain[chain.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----\n"):]
    (tmp / "ca.pem").write_text(ca)
    signing_key = ec.generate_private_key(ec.SECP256R1())
    public = signing_key.public_key()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            auth = self.headers.get("Authorization", "")
            path = self.path.split("?", 1)[0]
            if rendered is not None:
                sni = self.headers.get("Host", "").split(":")[0]
                cert = bool(self.connection.getpeercert())
                status, body = rendered.respond(sni, path, rendered.credential(auth, public), cert)
                self.answer(status, body)
                return
            route = mesh.prefix(path) if mesh else path
            open_path = mesh is not None and any(_matches(p, path) for p in mesh.public)
            body = ""
            if route is None:
                status = 404  # the gateway has no route for it
            elif auth and not (auth.startswith("Bearer ") and _valid(auth[7:], public, audience)):
                status = 401  # Jwt verification fails / audiences not allowed (public paths too)
            elif not auth and not open_path:
                status = 403  # RBAC: access denied (no request principal)
            elif mesh is None:
                status = 200
            else:
                answer = mesh.routes[route]
                status, body = (503, "no healthy upstream") if answer is None else (200, answer + "\n")
            self.answer(status, body)

        def answer(self, status: int, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "chain.pem", tmp / "key.pem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1 if allow_old_tls else ssl.TLSVersion.TLSv1_2
    if allow_old_tls:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    client_files = None
    if rendered is not None and rendered.mutual(host):  # a MUTUAL server: no certificate, no handshake
        ca_file, *client_files = client_certificate(tmp)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(ca_file)
    if rendered is not None:
        rules = [r for r in rendered.jwt_rules if host in " ".join(r.get("audiences", []))] or rendered.jwt_rules
        audience, issuer = rules[0]["audiences"][0], rules[0]["issuer"]
    else:
        issuer = ISSUER
    https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https.socket = context.wrap_socket(https.socket, server_side=True)
    servers = [https]
    http_port = _free_port()  # nothing listens there unless asked: plain HTTP is refused
    if plain_http:
        plain = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        http_port = plain.server_address[1]
        servers.append(plain)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield Double(host, https.server_address[1], http_port, str(tmp / "ca.pem"), audience, signing_key,
                     issuer, tuple(client_files) if client_files else None, rendered)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
