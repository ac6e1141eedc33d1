"""``make verify STACK=x``: check a deployed environment from the outside, as a client would:
delegation of ``api.<domain>``, DNS, plain HTTP refused, TLS >= 1.2 verified and 1.1 refused, the
token checks and the demo's answer, the request matrix replayed (plan.json's ``access``), then,
with kubectl, the live tenancy cases (tools/tenancy.py) and the pods' Istio revision
(tools/revisions.py). docs/deploying.md "make verify" says what each check sends and expects.

Exit code: 0 all passed, 1 a check (or a matrix cell) failed, 2 bad input (no Pulumi CLI, a
Pulumi error, a stack not deployed, an unreadable matrix, a failing offline preview), 3 nothing
failed but the zone or the certificate is not ready yet (WAIT).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from components.config import DEMO_HEALTH_PATH, DEMO_ROUTE, demo_text

if TYPE_CHECKING:  # tools.tenancy and tools.revisions import this module's Check
    from tools.revisions import MeshTarget
    from tools.tenancy import LiveTarget

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build"


@dataclass(frozen=True)
class Demo:
    """The demo workload's paths and answer (the stack output ``demo``)."""

    path: str
    health_path: str
    text: str

    @classmethod
    def for_host(cls, host: str) -> Demo:
        """What the program deploys for the environment of ``<env>.api.<domain>``."""
        return cls(DEMO_ROUTE.path, DEMO_HEALTH_PATH, demo_text(host.split(".", 1)[0]))

    @classmethod
    def from_output(cls, value: object) -> Demo | None:
        """The stack output ``demo`` (None: the stack runs no demo)."""
        return cls(value["path"], value["healthPath"], value["text"]) if isinstance(value, dict) else None


@dataclass
class Target:
    host: str
    ingress_ip: str
    path: str = ""  # what the request checks ask for (default: the demo's route, else /)
    https_port: int = 443
    http_port: int = 80
    ca_file: str | None = None
    connect_ip: str | None = None  # where to connect (default: what DNS says); like curl's --resolve
    timeout: float = 5.0
    tls_source: str | None = None  # stack output tlsSource: an acme certificate may not be issued yet
    demo: Demo | None = None
    zone: str | None = None  # stack output dnsName (api.<domain>.)
    name_servers: tuple[str, ...] = ()  # stack output nameServers: the parent must delegate to them
    ds_record: str | None = None  # stack output dnsDsRecord, for the to-do
    live: LiveTarget | None = None  # the live tenancy check's environment (tools/tenancy.py; --stack only)
    # (certificate, key) PEM files for a MUTUAL gateway: every check sends it, except the
    # replay's cells without one.
    client_cert: tuple[str, str] | None = None
    mesh: MeshTarget | None = None  # the namespace and the revision its pods should run (tools/revisions.py)

    def __post_init__(self) -> None:
        self.path = self.path or (self.demo.path if self.demo else "/")


@dataclass
class Check:
    name: str
    status: str  # PASS | FAIL | SKIP | WAIT (not ready yet: retry later)
    detail: str


ACME_NOT_READY = ("the ACME certificate is not issued (or not trusted) yet: Let's Encrypt issues "
                  "it only after api.<domain> is delegated to `pulumi stack output nameServers`, "
                  "and a staging certificate is untrusted by design; see `kubectl -n "
                  "istio-ingress describe certificate` and retry")


def system_resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)})


class NotDelegated(Exception):
    """The name has no NS records (NXDOMAIN, or no answer): nobody delegates it yet."""


def system_ns(name: str, timeout: float = 5.0) -> list[str]:
    """The NS set of ``name`` through the system's resolvers (dnspython: the standard library
    resolves addresses only); any failure but NotDelegated (a timeout, SERVFAIL) is OSError."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "NS", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer) as err:
        raise NotDelegated(str(err)) from None
    except dns.exception.DNSException as err:
        raise OSError(f"{err.__class__.__name__}: {err}") from None
    return [record.to_text() for record in answer]


def _fqdn(name: str) -> str:
    return name.strip().lower().rstrip(".") + "."


def delegation_check(target: Target, resolve_ns: Callable[[str], list[str]] | None) -> Check:
    """The zone of ``<domain>`` delegates the platform zone's name to exactly its name servers."""
    if resolve_ns is None:
        return Check("delegation", "SKIP", "--resolve: DNS is not consulted")
    if not target.zone or not target.name_servers:
        return Check("delegation", "SKIP", "needs the zone's name and name servers: the stack outputs "
                     "dnsName and nameServers (make verify STACK=…), or --zone and --name-servers")
    zone, expected = _fqdn(target.zone), sorted({_fqdn(ns) for ns in target.name_servers})
    parent = zone.split(".", 1)[1] if zone.count(".") > 1 else "."
    try:
        found = sorted({_fqdn(ns) for ns in resolve_ns(zone)})
    except NotDelegated:
        ds = f", then {zone} DS {target.ds_record}" if target.ds_record else ""
        return Check("delegation", "WAIT", f"{zone} is not delegated yet: in the zone of {parent} add "
                     f"{zone} NS {' '.join(expected)}{ds} (README \"Delegating api.<domain>\") and retry")
    except OSError as err:
        return Check("delegation", "FAIL", f"NS lookup of {zone} failed ({err}); a DS record that does "
                     "not match the zone's key makes validating resolvers refuse the zone (SERVFAIL)")
    if found == expected:
        return Check("delegation", "PASS", f"{zone} is delegated to the zone's name servers {', '.join(found)}")
    missing, foreign = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    return Check("delegation", "FAIL", f"{zone} is delegated to {', '.join(found)}; expected exactly "
                 f"{', '.join(expected)} (missing: {', '.join(missing) or 'none'}; not the zone's: "
                 f"{', '.join(foreign) or 'none'}): fix the NS record set in the zone of {parent}")


def _context(target: Target, modern: bool = True, client_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.ca_file)
    if client_cert and target.client_cert:
        context.load_cert_chain(*target.client_cert)
    if modern:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    else:
        with warnings.catch_warnings():  # deliberately old: the server must refuse it
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _tls(target: Target, ip: str, modern: bool = True, client_cert: bool = True) -> ssl.SSLSocket:
    """A TLS connection to a chosen IP with SNI and certificate checks for the host name."""
    sock = socket.create_connection((ip, target.https_port), timeout=target.timeout)
    try:
        return _context(target, modern, client_cert).wrap_socket(sock, server_hostname=target.host)
    except BaseException:
        sock.close()
        raise


def _get(target: Target, ip: str, path: str, token: str | None, client_cert: bool = True) -> tuple[int, str]:
    """Status and (at most 1 KiB of) body of ``GET path``."""
    connection = http.client.HTTPSConnection(target.host, target.https_port, timeout=target.timeout)
    try:
        connection.sock = _tls(target, ip, client_cert=client_cert)  # connected here: to the chosen IP
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = connection.getresponse()
        return response.status, response.read(1024).decode(errors="replace").strip()
    finally:
        connection.close()


# --- the request matrix, replayed -----------------------------------------------------------------

WRONG_ISSUER = "https://wrong-issuer.invalid/"
# What each credential of preview.access.CREDENTIALS is in the output, and where it comes from.
CREDENTIAL_SAID = {"none": "no token", "token": "VERIFY_TOKEN", "other-env": "VERIFY_FOREIGN_TOKEN",
                   "wrong-issuer": f"a token of issuer {WRONG_ISSUER} (made here)",
                   "expired": "an expired token (made here, forged signature: 401 for the expiry or "
                              "the signature)"}
NEEDS = {"token": "VERIFY_TOKEN", "other-env": "VERIFY_FOREIGN_TOKEN"}
CLIENT_CERT_VARS = "VERIFY_CLIENT_CERT and VERIFY_CLIENT_KEY"
STATUSES = ("401", "403", "404")  # a cell answering one of these expects exactly that status


@dataclass(frozen=True)
class Matrix:
    """One host's cells of plan.json's ``access`` (preview/access.py), and what the made-up tokens
    need from the plan: the environment's issuer and audience (its RequestAuthentication)."""

    host: str
    source: str  # which file, and what it is, for the output
    cells: tuple[tuple[str, str, bool, str], ...]  # (path, credential, client certificate, answer)
    issuer: str | None
    audience: str

    @classmethod
    def from_plan(cls, plan: dict, host: str, source: str) -> Matrix:
        """Raises ValueError when the plan has no cells for ``host``."""
        access = plan.get("access")
        if not isinstance(access, dict):
            raise ValueError(f"{source} has no request matrix (`access`): it predates it; preview the "
                             "stack again (make preview STACK=…)")
        if host not in access:
            raise ValueError(f"{source} has no cells for {host} (it has: {', '.join(access) or 'none'})")
        rules = [rule for r in plan.get("resources", []) if r.get("type", "").endswith(":RequestAuthentication")
                 for rule in (r.get("inputs") or {}).get("spec", {}).get("jwtRules", [])]
        unknown = sorted({str(row[3]) for row in access[host]
                          if str(row[3]) not in ("TLS refused", *STATUSES) and not str(row[3]).startswith("→")})
        if unknown:
            raise ValueError(f"{source}: answers this tool cannot compare: {', '.join(unknown)}")
        own = [rule for rule in rules if f"https://{host}" in rule.get("audiences", [])]
        rule = (own or rules or [{}])[0]
        return cls(host, source, tuple((str(p), str(c), bool(t), str(a)) for p, c, t, a in access[host]),
                   rule.get("issuer"), (rule.get("audiences") or [f"https://{host}"])[0])

    @classmethod
    def load(cls, path: Path, host: str, described: str = "") -> Matrix:
        try:
            plan = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"--matrix {path}: cannot read a plan.json ({err})") from None
        return cls.from_plan(plan, host, f"{_shown(path)}{described}")

    @property
    def mutual(self) -> bool:
        return any(cert for _, _, cert, _ in self.cells)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def stack_matrix(stack: str, host: str, build_dir: Path | None = None) -> Matrix:
    """The cells of ``build/<stack>/plan.json``, the offline preview of the local stack file
    (previewed now when it is missing). Raises ValueError when it cannot be previewed."""
    import preview
    from preview.__main__ import USER_ERRORS, error_lines

    build_dir = build_dir or BUILD_DIR
    path = build_dir / stack / "plan.json"
    if path.exists():
        written = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        when = f"written {written}; `make preview STACK={stack}` refreshes it"
    else:
        try:
            preview.preview_stack(stack, preview.locate_stack(stack, ROOT), build_dir)
        except USER_ERRORS as err:
            raise ValueError(f"no {_shown(path)} and the offline preview of {stack} failed: "
                             f"{' '.join(error_lines(err))}; run `make preview STACK={stack}` or give "
                             "--matrix") from None
        when = "previewed now"
    stack_file = preview.locate_stack(stack, ROOT) / f"Pulumi.{stack}.yaml"
    return Matrix.load(path, host, f" (the offline preview of the local {_shown(stack_file)}, {when}: "
                                   "the code as it is in this checkout, replayed against what is deployed)")


def forged_token(issuer: str, audience: str, expires_in: int) -> str:
    """A JWT no identity provider signed: its claims as given, its signature random bytes."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": "make-verify", "aud": audience,
              "iat": min(now, now + expires_in) - 60, "exp": now + expires_in}
    parts = (json.dumps({"alg": "RS256", "typ": "JWT"}).encode(), json.dumps(claims).encode(), os.urandom(256))
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in parts)


@dataclass(frozen=True)
class Seen:
    """What a replayed request got: a status and body, a refusal at TLS, or no answer at all."""

    status: int | None = None
    body: str = ""
    refused: str | None = None
    error: str | None = None

    def said(self) -> str:
        if self.refused is not None:
            return f"TLS refused ({self.refused})"
        if self.error is not None:
            return f"no answer ({self.error})"
        return f"{self.status}" + (f" {self.body[:60]!r}" if self.body else " (empty body)")


def _send(target: Target, ip: str, path: str, bearer: str | None, client_cert: bool) -> Seen:
    try:
        status, body = _get(target, ip, path, bearer, client_cert)
    except ssl.SSLCertVerificationError as err:  # the server's certificate: not a refusal of ours
        return Seen(error=f"{err.__class__.__name__}: {err}")
    except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as err:
        # A MUTUAL gateway refuses a client without a certificate in the handshake (TLS 1.2) or,
        # once the client has sent its Finished, with an alert on the first read (TLS 1.3).
        return Seen(refused=f"{err.__class__.__name__}: {err}")
    except (OSError, http.client.HTTPException) as err:
        return Seen(error=f"{err.__class__.__name__}: {err}")
    return Seen(status, body)


def agrees(expected: str, seen: Seen) -> bool:
    """Whether a live answer is the matrix's: ``401``, ``403`` and ``404`` exactly that status
    (Envoy's no-route 404 has an empty body); ``TLS refused`` a failed handshake or first read;
    ``→ <service>`` (routed) any status but 401 and 403 and not an empty 404: the Service may not
    be deployed, and its 503 ``no healthy upstream`` still shows that the route took the request
    and the policies let it through."""
    if expected == "TLS refused":
        return seen.refused is not None
    if seen.status is None:
        return False
    if expected in STATUSES:
        return seen.status == int(expected)
    if expected.startswith("→"):
        return seen.status not in (401, 403) and not (seen.status == 404 and not seen.body)
    raise ValueError(f"unknown answer {expected!r} in the request matrix")


def replay(target: Target, ip: str, matrix: Matrix | None, token: str | None,
           foreign_token: str | None) -> list[Check]:
    """Every cell of the matrix sent as a real request: one ``matrix`` check saying how many were
    replayed and skipped (and why), and a FAIL ``matrix-cell`` check for each cell whose live
    answer is not the preview's."""
    if matrix is None:
        return [Check("matrix", "SKIP", "no request matrix to replay: give --matrix build/<stack>/plan.json "
                      "(make preview STACK=<stack> writes it), or check with --stack")]
    bearers = {"none": None, "token": token, "other-env": foreign_token,
               "wrong-issuer": forged_token(WRONG_ISSUER, matrix.audience, 300),
               "expired": forged_token(matrix.issuer or WRONG_ISSUER, matrix.audience, -3600)}
    skipped: Counter[str] = Counter()
    failed: list[Check] = []
    for path, credential, cert, expected in matrix.cells:
        missing = [NEEDS[credential]] if credential in NEEDS and not bearers[credential] else []
        if cert and target.client_cert is None:
            missing.append(CLIENT_CERT_VARS)
        if missing:
            skipped[" and ".join(missing)] += 1
            continue
        seen = _send(target, ip, path, bearers[credential], cert)
        if not agrees(expected, seen):
            certificate = ("" if not matrix.mutual else " and a client certificate" if cert
                           else " and no client certificate")
            wanted = (f"reaches {expected[1:].strip()} (any status but 401, 403 or the gateway's empty 404)"
                      if expected.startswith("→") else expected)
            failed.append(Check("matrix-cell", "FAIL", f"GET https://{matrix.host}{path} with "
                                f"{CREDENTIAL_SAID[credential]}{certificate}: expected {wanted}, got {seen.said()}"))
    replayed = len(matrix.cells) - sum(skipped.values())
    why = "; ".join(f"{count} need {reason}" for reason, count in skipped.items())
    issuer = (f"the expired token names the plan's issuer {matrix.issuer}" if matrix.issuer else
              "the plan names no issuer: the expired token names the wrong one")
    detail = (f"{replayed} of {len(matrix.cells)} cells for {matrix.host} replayed"
              f"{f', {len(failed)} differ' if failed else ', all as previewed'}, "
              f"{sum(skipped.values())} skipped{f' ({why})' if why else ''}; cells of {matrix.source}; "
              f"{issuer}")
    return [Check("matrix", "FAIL" if failed else "PASS" if replayed else "SKIP", detail), *failed]


def verify(target: Target, token: str | None = None, foreign_token: str | None = None,
           resolve: Callable[[str], list[str]] = system_resolve,
           resolve_ns: Callable[[str], list[str]] | None = system_ns,
           matrix: Matrix | None = None) -> list[Check]:
    checks: list[Check] = [delegation_check(target, resolve_ns)]
    # Not delegated yet: the host cannot resolve publicly, and that is the same to-do.
    undelegated = "WAIT" if checks[0].status == "WAIT" else "FAIL"
    try:
        addresses = resolve(target.host)
    except OSError as err:
        addresses = []
        checks.append(Check("dns", undelegated, f"{target.host} does not resolve ({err})"))
    else:
        checks.append(Check("dns", "PASS" if target.ingress_ip in addresses else undelegated,
                            f"{target.host} → {', '.join(addresses) or 'nothing'}; expected {target.ingress_ip}"))
    ip = target.connect_ip or (addresses[0] if addresses else target.ingress_ip)

    try:
        with socket.create_connection((ip, target.http_port), timeout=target.timeout) as sock:
            sock.sendall(f"GET {target.path} HTTP/1.1\r\nHost: {target.host}\r\nConnection: close\r\n\r\n".encode())
            answer = sock.recv(128).decode(errors="replace").split("\r\n", 1)[0]
        checks.append(Check("plain-http-refused", "FAIL" if answer.startswith("HTTP/") else "PASS",
                            f"port {target.http_port} answered {answer!r}" if answer else
                            f"port {target.http_port} accepted and closed without an answer"))
    except OSError as err:
        checks.append(Check("plain-http-refused", "PASS", f"port {target.http_port}: {err.__class__.__name__}"))

    try:
        with _tls(target, ip) as tls:
            version, peer = tls.version(), tls.getpeercert() or {}  # CERT_REQUIRED: never empty here
        names = [str(v) for k, v in peer.get("subjectAltName", ()) if k == "DNS"]
        checks.append(Check("tls", "PASS", f"{version}, certificate for {', '.join(names)} verified "
                            f"for {target.host}, valid until {peer.get('notAfter')}"))
    except (OSError, ssl.SSLError) as err:
        if target.tls_source != "acme":
            checks.append(Check("tls", "FAIL", f"handshake for {target.host} failed: {err}"))
        else:
            checks.append(Check("tls", "WAIT", f"{ACME_NOT_READY} (handshake: {err})"))
            waiting = ("tls-1.1-refused", *(["demo-answers"] if target.demo else []), "no-token-403",
                       "foreign-audience-refused", "token-accepted", *(["matrix"] if matrix else []))
            checks += [Check(name, "WAIT", "needs the certificate first") for name in waiting]
            return checks + ([] if matrix else replay(target, ip, None, token, foreign_token))
    try:
        with _tls(target, ip, modern=False) as tls:
            old = tls.version()
        checks.append(Check("tls-1.1-refused", "FAIL", f"the server accepted {old}"))
    except (OSError, ssl.SSLError) as err:
        checks.append(Check("tls-1.1-refused", "PASS", f"TLS 1.0/1.1 client refused ({err.__class__.__name__})"))

    def request_check(name: str, bearer: str | None, expect: Callable[[int, str], bool], wanted: str,
                      path: str = target.path) -> None:
        try:
            status, body = _get(target, ip, path, bearer)
        except (OSError, ssl.SSLError, http.client.HTTPException) as err:
            checks.append(Check(name, "FAIL", f"request failed: {err}"))
            return
        answer = f" {body[:80]!r}" if body and target.demo else ""
        checks.append(Check(name, "PASS" if expect(status, body) else "FAIL",
                            f"GET {path} → {status}{answer}; expected {wanted}"))

    demo = target.demo
    if demo:
        request_check("demo-answers", None, lambda s, b: s == 200 and b == demo.text,
                      f"200 {demo.text!r} without a token", demo.health_path)
    request_check("no-token-403", None, lambda s, b: s == 403, "403")
    if foreign_token:
        request_check("foreign-audience-refused", foreign_token, lambda s, b: s in (401, 403), "401 or 403")
    else:
        checks.append(Check("foreign-audience-refused", "SKIP", "set VERIFY_FOREIGN_TOKEN to a token of another environment"))
    if token and demo:
        request_check("token-accepted", token, lambda s, b: s == 200 and b == demo.text, f"200 {demo.text!r}")
    elif token:
        request_check("token-accepted", token, lambda s, b: s not in (401, 403), "neither 401 nor 403")
    else:
        checks.append(Check("token-accepted", "SKIP", "set VERIFY_TOKEN to a token for this environment"))
    return checks + replay(target, ip, matrix, token, foreign_token)


class StackUnreadable(Exception):
    """`pulumi stack output` could not give what verify needs; the message says what to do."""


WITHOUT_THE_CLI = ("or check without it: make verify HOST=<env>.api.<domain> INGRESS_IP=<ip> "
                   "[CA_FILE=ca.pem] (python -m tools.verify --host … --ingress-ip … [--ca-file …])")


def _stack_outputs(stack: str) -> dict:
    """``pulumi stack output --json`` of ``stack``; a missing CLI, Pulumi's own error (its stderr,
    passed through) and output that is not JSON become one sentence each."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise StackUnreadable(f"--stack {stack} needs the Pulumi CLI (`pulumi` is not on PATH) and a "
                              f"deployed stack; {WITHOUT_THE_CLI}") from None
    except (OSError, subprocess.TimeoutExpired) as err:
        raise StackUnreadable(f"`{' '.join(command)}` could not run ({err}); {WITHOUT_THE_CLI}") from None
    if done.returncode != 0:
        said = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise StackUnreadable(f"`{' '.join(command)}` failed (exit {done.returncode}): "
                              f"{said or '(no message)'}")
    try:
        outputs = json.loads(done.stdout)
    except json.JSONDecodeError:
        outputs = None
    if not isinstance(outputs, dict):
        raise StackUnreadable(f"`{' '.join(command)}` printed no JSON object: "
                              f"{done.stdout.strip()[:200]!r}")
    return outputs


def _stack_target(stack: str) -> tuple[Target, str | None]:
    """Host, IP, CA and demo of a deployed stack, from `pulumi stack output` (an attached
    stack's self-signed CA from its owner's)."""
    outputs = _stack_outputs(stack)
    missing = [name for name in ("host", "ingressIp") if not outputs.get(name)]
    if missing:
        raise StackUnreadable(f"stack {stack} has no output {' or '.join(f'`{m}`' for m in missing)}: "
                              f"has it been deployed? (`pulumi up -s {stack}`)")
    # An attached stack serves its owner's certificate and lives in its owner's zone: the CA and
    # the zone are the owner's outputs.
    owner = _stack_outputs(str(outputs["platformOwner"])) if outputs.get("platformOwner") else outputs
    ca = outputs.get("caCertificate")
    if not ca and outputs.get("tlsSource") == "self-signed":
        ca = owner.get("caCertificate")
    ca_file = None
    if ca:
        with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as handle:
            handle.write(ca)
        ca_file = handle.name
    from tools.revisions import MeshTarget
    from tools.tenancy import LiveTarget

    return Target(host=outputs["host"], ingress_ip=outputs["ingressIp"], ca_file=ca_file,
                  tls_source=outputs.get("tlsSource"), demo=Demo.from_output(outputs.get("demo")),
                  zone=owner.get("dnsName"), name_servers=tuple(owner.get("nameServers") or ()),
                  ds_record=owner.get("dnsDsRecord"), live=LiveTarget.from_outputs(outputs, owner),
                  mesh=MeshTarget.from_outputs(outputs)), ca_file


def _client_cert(environ: os._Environ[str] | dict[str, str]) -> tuple[str, str] | None:
    """``VERIFY_CLIENT_CERT`` and ``VERIFY_CLIENT_KEY`` (PEM files), both or neither."""
    cert, key = environ.get("VERIFY_CLIENT_CERT"), environ.get("VERIFY_CLIENT_KEY")
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError(f"set both {CLIENT_CERT_VARS} (PEM files of the client certificate and its key)")
    for name, value in (("VERIFY_CLIENT_CERT", cert), ("VERIFY_CLIENT_KEY", key)):
        if not Path(value).is_file():
            raise ValueError(f"{name}={value}: no such file")
    return cert, key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make verify", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", help="read host, ingress IP and CA from `pulumi stack output`")
    parser.add_argument("--host")
    parser.add_argument("--ingress-ip")
    parser.add_argument("--path", default=None, help="a routed path (default /)")
    parser.add_argument("--ca-file", help="CA bundle for a self-signed platform")
    parser.add_argument("--demo", action="store_true",
                        help="with --host: the environment runs the demo workload (environment.demo)")
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--resolve", metavar="HOST:IP", help="use IP for HOST instead of DNS (like curl)")
    parser.add_argument("--zone", help="with --host: the platform zone's name (default: the host's parent, "
                                       "api.<domain>)")
    parser.add_argument("--name-servers", metavar="NS[,NS...]",
                        help="with --host: the zone's name servers (pulumi stack output nameServers)")
    parser.add_argument("--kube-context", help="with --stack: the kubectl context of the stack's cluster for "
                                               "the live tenancy check (default: the current one)")
    parser.add_argument("--matrix", metavar="PLAN_JSON",
                        help="replay the request matrix of this plan.json (its `access` for the host); "
                             "with --stack X the default is build/X/plan.json, the offline preview of the "
                             "local Pulumi.X.yaml (previewed first when missing)")
    args = parser.parse_args(argv)

    resolve = system_resolve
    resolve_ns: Callable[[str], list[str]] | None = system_ns
    try:
        if args.stack:
            target, _ = _stack_target(args.stack)
        elif args.host and args.ingress_ip:
            target = Target(host=args.host, ingress_ip=args.ingress_ip, ca_file=args.ca_file,
                            demo=Demo.for_host(args.host) if args.demo else None,
                            zone=args.zone or args.host.split(".", 1)[-1],
                            name_servers=tuple(ns for ns in (args.name_servers or "").split(",") if ns))
        else:
            raise ValueError("give --stack, or --host and --ingress-ip")
        if args.resolve:
            host, sep, ip = args.resolve.partition(":")
            if not sep or host != target.host:
                raise ValueError(f"--resolve {args.resolve}: expected {target.host}:<ip>")
            resolve = lambda name: [ip]  # noqa: E731
            resolve_ns = None
        target.client_cert = _client_cert(os.environ)
        matrix = (Matrix.load(Path(args.matrix), target.host, " (given with --matrix)") if args.matrix
                  else stack_matrix(args.stack, target.host) if args.stack else None)
    except (ValueError, StackUnreadable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    target.https_port, target.http_port = args.https_port, args.http_port
    target.path, target.ca_file = args.path or target.path, args.ca_file or target.ca_file

    started = time.perf_counter()
    checks = verify(target, os.environ.get("VERIFY_TOKEN"), os.environ.get("VERIFY_FOREIGN_TOKEN"), resolve,
                    resolve_ns, matrix)
    if target.live is not None:
        from tools.tenancy import live_checks

        checks += live_checks(target.live, context=args.kube_context)
    if target.mesh is not None:
        from tools.revisions import revision_checks

        checks += revision_checks(target.mesh, context=args.kube_context)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<26} {check.detail}")
    statuses = Counter(c.status for c in checks)
    print(f"{target.host}: {len(checks) - statuses['FAIL'] - statuses['WAIT']} of {len(checks)} checks "
          f"without failure, {statuses['WAIT']} waiting, in {time.perf_counter() - started:.2f}s")
    return 1 if statuses["FAIL"] else 3 if statuses["WAIT"] else 0


if __name__ == "__main__":
    sys.exit(main())
