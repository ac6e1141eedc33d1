"""A local stand-in for a deployed environment: HTTPS on 127.0.0.1 with a wildcard certificate
from a throwaway CA, TLS 1.2+, and the JWT rules the mesh enforces (no token 403, a bad or
foreign-audience token 401, a good one 200). Only loopback; stops with the test."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

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


def _valid(token: str, key: ec.EllipticCurvePublicKey, audience: str) -> bool:
    try:
        header, claims, signature = token.split(".")
        raw = _unb64(signature)
        key.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                   f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        body = json.loads(_unb64(claims))
    except Exception:  # any malformed token is simply invalid
        return False
    audiences = body.get("aud") if isinstance(body.get("aud"), list) else [body.get("aud")]
    return body.get("iss") == ISSUER and audience in audiences and body.get("exp", 0) > time.time()


def _matches(pattern: str, path: str) -> bool:
    """An AuthorizationPolicy path pattern: exact, or a prefix ending in ``*``."""
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


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

        def answer(host: str) -> str | None:
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

        (vs,) = kind(":VirtualService")
        routes = {h["match"][0]["uri"]["prefix"]: answer(h["route"][0]["destination"]["host"])
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
class Double:
    host: str
    https_port: int
    http_port: int
    ca_file: str
    audience: str
    signing_key: ec.EllipticCurvePrivateKey


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(tmp: Path, host: str = "dev.api.example.com", audience: str = "https://dev.api.example.com",
            allow_old_tls: bool = False, plain_http: bool = False,
            names: list[str] | None = None, mesh: Mesh | None = None) -> Iterator[Double]:
    """Without ``mesh`` every path is one token-guarded route with an empty answer; with it,
    the plan's routes, public paths and workload answers (404 unrouted, 503 nothing behind)."""
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
        yield Double(host, https.server_address[1], http_port, str(tmp / "ca.pem"), audience, signing_key)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
