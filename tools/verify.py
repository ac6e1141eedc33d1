"""``make verify STACK=x``: check a deployed environment from the outside, as a client would.

0. Delegation: an NS lookup of the platform zone's name (``api.<domain>.``, the stack output
   ``dnsName``) gives exactly the zone's name servers (``nameServers``). None at all is WAIT:
   right after the first ``pulumi up`` adding the NS and DS record sets to the zone of
   ``<domain>`` is the owner's to-do, printed with the records; other name servers are FAIL.
1. DNS: the host resolves to the ingress IP (WAIT instead of FAIL while the zone is not
   delegated yet).
2. Plain HTTP on port 80 is refused (no listener, or nothing but an error).
3. TLS: the handshake verifies the certificate for the host (against the stack's CA for a
   self-signed platform) with TLS 1.2 or newer, and a client limited to TLS 1.1 is refused.
4. A request without a token gets 403.
5. A token minted for another environment (``VERIFY_FOREIGN_TOKEN``) is refused (401/403).
6. A good token (``VERIFY_TOKEN``) gets through (neither 401 nor 403).

With the demo workload (``environment.demo: true``; the stack output ``demo``, or ``--demo``) the
path is the demo's route, and one more check runs without any token: its health path answers 200
with ``istio-envs demo: <env>``, through DNS, TLS, the gateway, the route and the sidecar to
this environment's own pod; a good token must then get the same answer on the route. So a fresh
environment passes end to end right after ``pulumi up``.

7. Tenancy, live (``--stack`` of an attached stack, with kubectl): the tenancy corpus's live cases
   sent with the caller's credentials, each expected refused, and the environment's own platform
   objects expected admitted, all as server-side dry runs (tools/tenancy.py). CI runs it as the
   environments deployer, whose requests the cases are; anyone else, no kubectl or no cluster
   access: SKIP, saying which.
8. Proxies on the environment's Istio revision (``--stack``, with kubectl): every pod of the
   namespace carries the revision its tag points at (the stack output ``meshRevision``); pods on
   another one are WAIT, each with the ``kubectl rollout restart`` of its Deployment or
   StatefulSet (tools/revisions.py): after a move, the to-do before the old revision goes.

Checks 5 and 6 are skipped when their token is not given, check 0 without the zone's name and
name servers (``--zone``, ``--name-servers``) or with ``--resolve`` (DNS not consulted). With ``tls.source: acme`` a failed
handshake is reported as WAIT, not FAIL: Let's Encrypt issues the first certificate only once the
domain is delegated to the zone's name servers, and the HTTPS checks wait for it. Exit code: 0 all
passed, 1 a check failed, 2 bad input (or the stack's outputs cannot be read: no Pulumi CLI, a
Pulumi error, a stack not deployed), 3 nothing failed but the zone is not delegated or the
certificate not ready yet.
``make verify STACK=x`` reads host, IP and CA from ``pulumi stack output``; ``make verify
HOST=... INGRESS_IP=... [CA_FILE=...]`` needs no Pulumi CLI. The tests run this same code against
a local HTTPS double on 127.0.0.1.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.config import DEMO_HEALTH_PATH, DEMO_ROUTE, demo_text

if TYPE_CHECKING:  # tools.tenancy and tools.revisions import this module's Check
    from tools.revisions import MeshTarget
    from tools.tenancy import LiveTarget


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
        if not isinstance(value, dict):
            return None
        return cls(value["path"], value["healthPath"], value["text"])


@dataclass
class Target:
    host: str
    ingress_ip: str
    path: str = ""
    """What the request checks ask for (default: the demo's route, else /)."""
    https_port: int = 443
    http_port: int = 80
    ca_file: str | None = None
    connect_ip: str | None = None
    """Where to connect (default: what DNS says); like curl's --resolve."""
    timeout: float = 5.0
    tls_source: str | None = None
    """The platform's certificate source (stack output ``tlsSource``): acme certificates may not
    be issued yet."""
    demo: Demo | None = None
    zone: str | None = None
    """The platform zone's DNS name (stack output ``dnsName``, ``api.<domain>.``)."""
    name_servers: tuple[str, ...] = ()
    """The zone's name servers (stack output ``nameServers``): the parent must delegate to them."""
    ds_record: str | None = None
    """A created zone's DS record (stack output ``dnsDsRecord``), for the to-do."""
    live: LiveTarget | None = None
    """The environment for the live tenancy check (tools/tenancy.py ``LiveTarget``; --stack only)."""
    mesh: MeshTarget | None = None
    """The namespace and the revision its pods should run (tools/revisions.py; --stack only)."""

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
    resolves addresses only). No NS records: :class:`NotDelegated`; any other failure (a timeout,
    SERVFAIL, no resolver): OSError."""
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


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a chosen IP with SNI and certificate checks for the host name."""

    def __init__(self, ip: str, host: str, port: int, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, context=context, timeout=timeout)
        self._ip, self._context = ip, context

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _context(target: Target, modern: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.ca_file)
    if modern:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    else:
        with warnings.catch_warnings():  # deliberately old: the server must refuse it
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _get(target: Target, ip: str, path: str, token: str | None) -> tuple[int, str]:
    """Status and (at most 1 KiB of) body of ``GET path``."""
    connection = _PinnedHTTPSConnection(ip, target.host, target.https_port, _context(target), target.timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(1024).decode(errors="replace").strip()
    finally:
        connection.close()


def verify(target: Target, token: str | None = None, foreign_token: str | None = None,
           resolve: Callable[[str], list[str]] = system_resolve,
           resolve_ns: Callable[[str], list[str]] | None = system_ns) -> list[Check]:
    checks: list[Check] = [delegation_check(target, resolve_ns)]
    # Not delegated yet: the host cannot resolve publicly, and that is the same to-do.
    undelegated = "WAIT" if checks[0].status == "WAIT" else "FAIL"
    try:
        addresses = resolve(target.host)
    except OSError as err:
        addresses = []
        checks.append(Check("dns", undelegated, f"{target.host} does not resolve ({err})"))
    else:
        ok = target.ingress_ip in addresses
        checks.append(Check("dns", "PASS" if ok else undelegated,
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
        with socket.create_connection((ip, target.https_port), timeout=target.timeout) as sock:
            with _context(target).wrap_socket(sock, server_hostname=target.host) as tls:
                version, peer = tls.version(), tls.getpeercert() or {}  # CERT_REQUIRED: never empty here
        names = [str(v) for k, v in peer.get("subjectAltName", ()) if k == "DNS"]
        checks.append(Check("tls", "PASS", f"{version}, certificate for {', '.join(names)} verified "
                            f"for {target.host}, valid until {peer.get('notAfter')}"))
    except (OSError, ssl.SSLError) as err:
        checks.append(Check("tls", "FAIL", f"handshake for {target.host} failed: {err}"))
        if target.tls_source == "acme":
            checks[-1] = Check("tls", "WAIT", f"{ACME_NOT_READY} (handshake: {err})")
            for name in ("tls-1.1-refused", *(["demo-answers"] if target.demo else []),
                         "no-token-403", "foreign-audience-refused", "token-accepted"):
                checks.append(Check(name, "WAIT", "needs the certificate first"))
            return checks
    try:
        with socket.create_connection((ip, target.https_port), timeout=target.timeout) as sock:
            with _context(target, modern=False).wrap_socket(sock, server_hostname=target.host) as tls:
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
    return checks


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
        handle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
        handle.write(ca)
        handle.close()
        ca_file = handle.name
    from tools.revisions import MeshTarget
    from tools.tenancy import LiveTarget

    return Target(host=outputs["host"], ingress_ip=outputs["ingressIp"], ca_file=ca_file,
                  tls_source=outputs.get("tlsSource"), demo=Demo.from_output(outputs.get("demo")),
                  zone=owner.get("dnsName"), name_servers=tuple(owner.get("nameServers") or ()),
                  ds_record=owner.get("dnsDsRecord"), live=LiveTarget.from_outputs(outputs, owner),
                  mesh=MeshTarget.from_outputs(outputs)), ca_file


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
    parser.add_argument("--zone", help="with --host: the platform zone's name (default: the host's "
                                       "parent, api.<domain>)")
    parser.add_argument("--name-servers", metavar="NS[,NS...]",
                        help="with --host: the zone's name servers (pulumi stack output nameServers)")
    parser.add_argument("--kube-context", help="with --stack: the kubectl context of the stack's cluster for "
                                               "the live tenancy check (default: the current one)")
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
    except (ValueError, StackUnreadable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    target.https_port, target.http_port = args.https_port, args.http_port
    if args.path:
        target.path = args.path
    if args.ca_file:
        target.ca_file = args.ca_file

    started = time.perf_counter()
    checks = verify(target, os.environ.get("VERIFY_TOKEN"), os.environ.get("VERIFY_FOREIGN_TOKEN"), resolve,
                    resolve_ns)
    if target.live is not None:
        from tools.tenancy import live_checks

        checks += live_checks(target.live, context=args.kube_context)
    if target.mesh is not None:
        from tools.revisions import revision_checks

        checks += revision_checks(target.mesh, context=args.kube_context)
    for check in checks:
        print(f"{check.status:<4}  {check.name:<26} {check.detail}")
    failed = [c for c in checks if c.status == "FAIL"]
    waiting = [c for c in checks if c.status == "WAIT"]
    print(f"{target.host}: {len(checks) - len(failed) - len(waiting)} of {len(checks)} checks "
          f"without failure, {len(waiting)} waiting, in {time.perf_counter() - started:.2f}s")
    return 1 if failed else 3 if waiting else 0


if __name__ == "__main__":
    sys.exit(main())
