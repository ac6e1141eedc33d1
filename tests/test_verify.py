"""`make verify`'s checks, run against a local HTTPS double on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from conftest import ATTACHED_STACKS, DEMO_STACKS, OWNER, ROOT, STACKS, shipped
from cryptography.hazmat.primitives.asymmetric import ec
from https_double import Mesh, mint, running

from tools.verify import Demo, Target, verify


def target_for(double, **overrides) -> Target:
    values = dict(host=double.host, ingress_ip="127.0.0.1", path="/accounts",
                  https_port=double.https_port, http_port=double.http_port, ca_file=double.ca_file,
                  timeout=2.0)
    values.update(overrides)
    return Target(**values)


def results(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def local(_host):
    return ["127.0.0.1"]


def test_a_healthy_environment_passes_every_check(tmp_path):
    with running(tmp_path) as double:
        good = mint(double.signing_key, double.audience)
        foreign = mint(double.signing_key, "https://uat.api.example.com")
        checks = verify(target_for(double), good, foreign, resolve=local)
    assert results(checks) == {"delegation": "SKIP", "dns": "PASS", "plain-http-refused": "PASS", "tls": "PASS",
                               "tls-1.1-refused": "PASS", "no-token-403": "PASS",
                               "foreign-audience-refused": "PASS", "token-accepted": "PASS", "matrix": "SKIP"}
    tls = next(c for c in checks if c.name == "tls")
    assert tls.detail.startswith(("TLSv1.2", "TLSv1.3"))
    # --host without --matrix: nothing to replay, and the line says how to get a matrix.
    assert "give --matrix build/<stack>/plan.json" in checks[-1].detail


def test_tokens_are_optional_and_reported_as_skipped(tmp_path):
    with running(tmp_path) as double:
        checks = verify(target_for(double), resolve=local)
    assert results(checks)["token-accepted"] == "SKIP"
    assert results(checks)["foreign-audience-refused"] == "SKIP"
    assert "FAIL" not in results(checks).values()


@pytest.mark.parametrize("problem, setup, failing", [
    ("DNS points elsewhere", dict(), "dns"),
    ("plain HTTP answers", dict(plain_http=True), "plain-http-refused"),
    ("old TLS accepted", dict(allow_old_tls=True), "tls-1.1-refused"),
    ("certificate misses the host", dict(names=["*.example.org"]), "tls"),
])
def test_each_failure_is_caught(tmp_path, problem, setup, failing):
    with running(tmp_path, **setup) as double:
        resolve = (lambda _h: ["192.0.2.7"]) if problem == "DNS points elsewhere" else local
        checks = verify(target_for(double, connect_ip="127.0.0.1"), resolve=resolve)
    assert results(checks)[failing] == "FAIL", checks


def test_a_token_signed_by_someone_else_is_not_a_good_token(tmp_path):
    with running(tmp_path) as double:
        impostor = mint(ec.generate_private_key(ec.SECP256R1()), double.audience)
        checks = verify(target_for(double), impostor, resolve=local)
    assert results(checks)["token-accepted"] == "FAIL"


def test_the_cli_exit_codes(tmp_path):
    with running(tmp_path) as double:
        done = subprocess.run(
            [sys.executable, "-m", "tools.verify", "--host", double.host, "--ingress-ip", "127.0.0.1",
             "--resolve", f"{double.host}:127.0.0.1", "--ca-file", double.ca_file,
             "--https-port", str(double.https_port), "--http-port", str(double.http_port)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "VERIFY_TOKEN": mint(double.signing_key, double.audience)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  token-accepted" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "tools.verify", "--host", "x"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


@pytest.mark.parametrize("problem, setup, port", [
    ("not issued: nothing speaks TLS for the host", dict(), "http_port"),
    ("issued by an untrusted CA (staging)", dict(names=["*.example.org"]), "https_port"),
])
def test_an_acme_certificate_not_ready_yet_is_waiting_not_failed(tmp_path, problem, setup, port):
    """Before the domain is delegated Let's Encrypt cannot issue: the HTTPS checks wait, and
    the message says why and what to look at."""
    with running(tmp_path, **setup) as double:
        target = target_for(double, tls_source="acme", https_port=getattr(double, port))
        checks = verify(target, resolve=local)
    statuses = results(checks)
    assert statuses["tls"] == "WAIT" and "delegated" in next(c for c in checks if c.name == "tls").detail
    assert {statuses[n] for n in ("tls-1.1-refused", "no-token-403", "token-accepted")} == {"WAIT"}
    assert "FAIL" not in statuses.values()
    # Any other source: the same handshake failure is a failure.
    with running(tmp_path, **setup) as double:
        checks = verify(target_for(double, tls_source="self-signed", https_port=getattr(double, port)),
                        resolve=local)
    assert results(checks)["tls"] == "FAIL"


def _path_with_pulumi(tmp_path, program: str | None) -> str:
    """A PATH of the system's tools and, unless ``program`` is None, a fake `pulumi` running it."""
    if program is None:
        return "/usr/bin:/bin"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pulumi").write_text(program)
    (fake / "pulumi").chmod(0o755)
    return f"{fake}:/usr/bin:/bin"


def _verify_stack(tmp_path, pulumi_script: str | None):
    """`make verify STACK=dev`'s command with PATH holding only a fake `pulumi` (or none)."""
    path = _path_with_pulumi(tmp_path, None if pulumi_script is None else "#!/bin/sh\n" + pulumi_script)
    done = subprocess.run([sys.executable, "-m", "tools.verify", "--stack", "dev"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={"PATH": path})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize("pulumi, says, not_said", [
    # No CLI at all: it printed `[Errno 2] No such file or directory: 'pulumi'`.
    (None, ["needs the Pulumi CLI", "deployed stack", "--host", "--ingress-ip"], "Errno"),
    # Pulumi's own error, passed through: it printed a CalledProcessError and dropped it.
    ("echo \"error: no stack named 'dev' found\" >&2\nexit 255\n", ["no stack named 'dev' found", "exit 255"],
     "CalledProcessError"),
    # A stack never deployed has no outputs (`{}`): it printed `error: 'host'`.
    ('echo "{}"\n', ["stack dev has no output `host`", "has it been deployed? (`pulumi up -s dev`)"], "KeyError"),
], ids=["no-cli", "pulumi-error", "not-deployed"])
def test_verify_of_a_stack_says_in_one_line_what_pulumi_could_not_give(tmp_path, pulumi, says, not_said):
    if pulumi is None:
        assert subprocess.run(["sh", "-c", "command -v pulumi"], env={"PATH": "/usr/bin:/bin"},
                              capture_output=True).returncode != 0
    line = _verify_stack(tmp_path, pulumi)
    assert all(part in line for part in says) and not_said not in line, line


def _fake_pulumi(tmp_path, outputs_by_stack: dict[str, dict]) -> str:
    """A PATH whose `pulumi stack output --json --stack X` prints X's outputs, as a deployed
    stack's would."""
    (tmp_path / "outputs.json").write_text(json.dumps(outputs_by_stack))
    return _path_with_pulumi(tmp_path, (
        f"#!{sys.executable}\nimport json, sys\n"
        f"outputs = json.load(open({str(tmp_path / 'outputs.json')!r}))\n"
        "stack = sys.argv[sys.argv.index('--stack') + 1]\n"
        "print(json.dumps(outputs[stack]))\n"))


@pytest.mark.skipif(not (shipped("dev", "environment.demo", True) and shipped("test", "environment.demo", True)
                          and "uat" in STACKS and "demo" not in STACKS["uat"].environment),
                    reason="a shipped value pinned by name: dev, test and uat no longer say it as shipped")
def test_some_shipped_stacks_turn_the_demo_on():
    # docs/deploying.md "A verifiable environment": dev (the platform's first `pulumi up`) and
    # test (what `make new-env` copies); uat shows an environment of real services only.
    assert {"dev", "test"} <= set(DEMO_STACKS) and "uat" not in DEMO_STACKS


@pytest.mark.parametrize("stack", DEMO_STACKS)
def test_make_verify_passes_end_to_end_on_a_fresh_environment_with_the_demo(tmp_path, plans, build_dir, stack):
    """`make verify STACK=x` right after `pulumi up`: the double serves what the stack's plan
    deploys (its routes, its token-free paths, the demo's answer) and the stack outputs come
    from the plan, as `pulumi stack output` would give them."""
    plan = plans[stack]
    outputs = dict(plan["outputs"])
    owner = outputs.get("platformOwner", stack)
    with running(tmp_path, host=outputs["host"], audience=outputs["audiences"][0],
                 mesh=Mesh.from_plan(plan)) as double:
        ca = (tmp_path / "ca.pem").read_text()
        # The ingress IP is where the double listens; an attached stack's CA is its owner's.
        served = {owner: {**plans[owner]["outputs"], "caCertificate": ca}}
        served[stack] = {**(served[owner] if stack == owner else outputs), "ingressIp": "127.0.0.1"}
        command = [sys.executable, "-m", "tools.verify", "--stack", stack,
                   "--resolve", f"{double.host}:127.0.0.1", "--https-port", str(double.https_port),
                   "--http-port", str(double.http_port), "--matrix", str(build_dir / stack / "plan.json")]
        env = {"PATH": _fake_pulumi(tmp_path, served)}
        without = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
        token = mint(double.signing_key, double.audience)
        foreign = mint(double.signing_key, "https://someone-else.api.example.com")
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**env, "VERIFY_TOKEN": token, "VERIFY_FOREIGN_TOKEN": foreign})
    assert without.returncode == 0, without.stdout + without.stderr
    assert f"PASS  demo-answers               GET /demo/health → 200 'istio-envs demo: {stack}'" \
        in without.stdout
    assert "PASS  no-token-403               GET /demo → 403" in without.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()[:-1]}
    # --resolve stands in for DNS, so the delegation is not looked up (tested below); no kubectl
    # context reaches a cluster here, so the live tenancy check is skipped (tests/test_tenancy_live.py),
    # and so is the pods' revision (tests/test_verify_revisions.py).
    assert statuses.pop("delegation") == "SKIP" and statuses.pop("tenancy") == "SKIP"
    assert statuses.pop("mesh-revision") == "SKIP"
    assert set(statuses.values()) == {"PASS"} and "demo-answers" in statuses, done.stdout
    assert f"GET /demo → 200 'istio-envs demo: {stack}'" in done.stdout


def test_the_demo_check_fails_when_another_environment_or_nothing_answers(tmp_path, plans):
    stack = DEMO_STACKS[0]
    mesh = Mesh.from_plan(plans[stack])
    demo = Demo.from_output(plans[stack]["outputs"]["demo"])
    for answer, seen in (("istio-envs demo: uat", "200 'istio-envs demo: uat'"), (None, "503")):
        wrong = dataclasses.replace(mesh, routes={**mesh.routes, "/demo": answer})
        with running(tmp_path, mesh=wrong) as double:
            checks = verify(target_for(double, path="", demo=demo), resolve=local)
        check = next(c for c in checks if c.name == "demo-answers")
        assert check.status == "FAIL" and seen in check.detail, check


def test_the_demo_paths_in_verify_are_the_programs(plans):
    """`make verify HOST=... DEMO=1` derives what the program exports as `demo`."""
    for stack in DEMO_STACKS:
        outputs = plans[stack]["outputs"]
        assert Demo.for_host(outputs["host"]) == Demo.from_output(outputs["demo"]) is not None
    without = [s for s in STACKS.names if s not in DEMO_STACKS]
    assert all("demo" not in plans[s]["outputs"] for s in without)


# --- delegation: the zone of <domain> delegates api.<domain> to the zone's name servers ----------

ZONE_NS = ("ns-cloud-a1.googledomains.com.", "ns-cloud-a2.googledomains.com.",
           "ns-cloud-a3.googledomains.com.", "ns-cloud-a4.googledomains.com.")


def zone_target(**overrides) -> Target:
    values = dict(host="dev.api.example.com", ingress_ip="127.0.0.1", zone="api.example.com.",
                  name_servers=ZONE_NS, ds_record="12345 8 2 ABCDEF")
    values.update(overrides)
    return Target(**values)


def not_delegated(name):
    from tools.verify import NotDelegated
    raise NotDelegated(f"The DNS query name does not exist: {name}")


def test_a_delegated_zone_passes(tmp_path):
    from tools.verify import delegation_check

    asked = []
    def resolver(name):  # what a resolver answers: any case, any order, with or without the dot
        asked.append(name)
        return [ns.upper().rstrip(".") for ns in reversed(ZONE_NS)]
    check = delegation_check(zone_target(), resolver)
    assert asked == ["api.example.com."]
    assert (check.status, check.detail) == ("PASS", "api.example.com. is delegated to the zone's name "
                                                      "servers " + ", ".join(ZONE_NS))


def test_a_zone_not_delegated_yet_is_the_owners_to_do_and_waits(tmp_path):
    """Right after the first `pulumi up` nobody delegates api.<domain> yet: like the ACME
    certificate that waits for it, WAIT (exit 3), with the two record sets to add, and the host
    that cannot resolve yet is the same to-do. The HTTPS checks still run, on the ingress IP."""
    with running(tmp_path) as double:
        target = target_for(double, zone="api.example.com", name_servers=ZONE_NS,
                            ds_record="12345 8 2 ABCDEF")
        def no_host(_host):
            raise OSError("Name or service not known")
        checks = verify(target, resolve=no_host, resolve_ns=not_delegated)
    statuses = results(checks)
    assert statuses["delegation"] == "WAIT" and statuses["dns"] == "WAIT"
    assert statuses["tls"] == "PASS" and "FAIL" not in statuses.values()
    assert checks[0].detail == ("api.example.com. is not delegated yet: in the zone of example.com. add "
                                f"api.example.com. NS {' '.join(ZONE_NS)}, then api.example.com. DS "
                                "12345 8 2 ABCDEF (README \"Delegating api.<domain>\") and retry")


@pytest.mark.parametrize("answer, missing, foreign", [
    (["ns1.other-provider.net.", "ns2.other-provider.net."], ", ".join(ZONE_NS),
     "ns1.other-provider.net., ns2.other-provider.net."),
    (list(ZONE_NS[:2]), ", ".join(ZONE_NS[2:]), "none"),
    ([*ZONE_NS, "ns-old.example.net."], "none", "ns-old.example.net."),
])
def test_a_zone_delegated_elsewhere_fails(answer, missing, foreign):
    """Other name servers answer for api.<domain> (an old zone, a typo, someone else's zone): a
    failure, whatever the overlap; the detail says what is missing and what is not the zone's."""
    from tools.verify import delegation_check

    check = delegation_check(zone_target(), lambda _name: answer)
    assert check.status == "FAIL"
    assert f"(missing: {missing}; not the zone's: {foreign})" in check.detail
    assert check.detail.endswith("fix the NS record set in the zone of example.com.")


def test_a_failed_lookup_fails_and_names_the_ds_record_as_a_cause():
    from tools.verify import delegation_check

    def servfail(_name):
        raise OSError("NoNameservers: All nameservers failed to answer the query api.example.com. IN NS: SERVFAIL")
    check = delegation_check(zone_target(), servfail)
    assert check.status == "FAIL" and "SERVFAIL" in check.detail and "DS record" in check.detail


def test_without_the_zone_or_with_resolve_the_delegation_is_skipped():
    from tools.verify import delegation_check

    assert delegation_check(zone_target(name_servers=()), not_delegated).status == "SKIP"
    assert delegation_check(zone_target(zone=None), not_delegated).status == "SKIP"
    check = delegation_check(zone_target(), None)
    assert (check.status, check.detail) == ("SKIP", "--resolve: DNS is not consulted")


def test_system_ns_reads_the_ns_set_with_dnspython(monkeypatch):
    """The real lookup: dnspython's resolver; no NS records (NXDOMAIN, NoAnswer) is NotDelegated,
    any other DNS failure an OSError."""
    import dns.exception
    import dns.resolver

    from tools.verify import NotDelegated, system_ns

    class Record:
        def __init__(self, text):
            self.text = text
        def to_text(self):
            return self.text

    outcomes = iter([[Record(ZONE_NS[0])], dns.resolver.NXDOMAIN(), dns.resolver.NoAnswer(),
                     dns.exception.Timeout()])
    def resolve(name, rdtype, lifetime):
        assert (name, rdtype, lifetime) == ("api.example.com.", "NS", 5.0)
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    assert system_ns("api.example.com.") == [ZONE_NS[0]]
    for _ in range(2):
        with pytest.raises(NotDelegated):
            system_ns("api.example.com.")
    with pytest.raises(OSError, match="Timeout"):
        system_ns("api.example.com.")


def test_the_stack_target_takes_the_zone_from_the_owner(tmp_path, plans, monkeypatch):
    """`make verify STACK=x`: the zone's name, name servers and DS record are the owner's outputs
    (an attached stack's too); the CLI exits 3 while the delegation is missing."""
    import tools.verify as tool

    served = {stack: plans[stack]["outputs"] for stack in plans}
    monkeypatch.setenv("PATH", _fake_pulumi(tmp_path, served))
    owner = plans[OWNER]["outputs"]
    for stack in (OWNER, *ATTACHED_STACKS):
        target, _ = tool._stack_target(stack)
        assert (target.zone, target.name_servers, target.ds_record) == (
            "api.example.com.", tuple(owner["nameServers"]), owner["dnsDsRecord"])
    with running(tmp_path) as double:
        monkeypatch.setattr(tool, "system_ns", not_delegated)
        monkeypatch.setattr(tool, "system_resolve", lambda _host: ["127.0.0.1"])
        code = tool.main(["--host", double.host, "--ingress-ip", "127.0.0.1", "--ca-file", double.ca_file,
                          "--https-port", str(double.https_port), "--http-port", str(double.http_port),
                          "--name-servers", ",".join(ZONE_NS)])
    assert code == 3


# --- the request matrix, replayed against the double answering from the plan's objects ----------

@pytest.fixture(scope="module")
def dev_mesh(tmp_path_factory, plans):
    """One double for the module: the owner's plan rendered into a mesh (preview.access.answer)."""
    from https_double import Rendered

    with running(tmp_path_factory.mktemp("dev-mesh"), host=plans[OWNER]["outputs"]["host"],
                 rendered=Rendered.from_plan(plans[OWNER])) as double:
        yield double


@pytest.fixture(scope="module")
def partner_mesh(tmp_path_factory, example_plans):
    """A MUTUAL host: examples/mutual's partner on its owner's Gateway."""
    from conftest import EXAMPLES
    from https_double import Rendered

    from preview import owner_of

    owner = owner_of(EXAMPLES["partner"], "partner")
    plan = example_plans["partner"]
    host = plan["outputs"]["host"]
    with running(tmp_path_factory.mktemp("partner-mesh"), host=host, names=["*." + host.split(".", 1)[1]],
                 rendered=Rendered.from_plan(plan, example_plans[owner])) as double:
        yield double, plan


def dev_matrix(plans):
    from tools.verify import Matrix

    return Matrix.from_plan(plans[OWNER], plans[OWNER]["outputs"]["host"], "the shipped dev plan")


def replayed(double, matrix, tokens: bool = True, **target) -> list:
    token = mint(double.signing_key, double.audience, issuer=double.issuer) if tokens else None
    foreign = mint(double.signing_key, "https://another.api.example.com", issuer=double.issuer) if tokens else None
    checks = verify(target_for(double, **target), token, foreign, resolve=local, matrix=matrix)
    return [c for c in checks if c.name.startswith("matrix")]


def test_the_dev_matrix_replays_as_previewed_with_every_token(dev_mesh, plans):
    matrix = dev_matrix(plans)
    (summary,) = replayed(dev_mesh, matrix)
    cells = len(plans[OWNER]["access"][dev_mesh.host])
    assert summary.status == "PASS", summary
    assert summary.detail.startswith(f"{cells} of {cells} cells for {dev_mesh.host} replayed, all as "
                                     "previewed, 0 skipped; cells of the shipped dev plan; the expired token "
                                     f"names the plan's issuer {dev_mesh.issuer}")


def test_without_the_tokens_their_cells_are_skipped(dev_mesh, plans):
    rows = plans[OWNER]["access"][dev_mesh.host]
    (summary,) = replayed(dev_mesh, dev_matrix(plans), tokens=False)
    need = {c: sum(1 for _, credential, _, _ in rows if credential == c) for c in ("token", "other-env")}
    assert summary.status == "PASS"
    assert (f"{len(rows) - sum(need.values())} of {len(rows)} cells for {dev_mesh.host} replayed, all as previewed, "
            f"{sum(need.values())} skipped ({need['token']} need VERIFY_TOKEN; {need['other-env']} need "
            "VERIFY_FOREIGN_TOKEN)") in summary.detail


@pytest.mark.parametrize("credential, expected, hole, got", [
    ("none", "403", (200, "planted hole"), "200 'planted hole'"),  # open without a token
    ("token", "→", (404, ""), "404 (empty body)"),  # the gateway has no route for it
])
def test_a_planted_hole_fails_exactly_its_cell(dev_mesh, plans, credential, expected, hole, got):
    """A path that answers what the preview says it cannot: that one cell FAILs, saying the
    request, what the preview expected and what came back."""
    from preview.access import said

    rows = plans[OWNER]["access"][dev_mesh.host]
    path, _, _, answer = next(r for r in rows if r[1] == credential and r[3].startswith(expected))
    dev_mesh.rendered.holes[(path, credential)] = hole
    try:
        summary, *failed = replayed(dev_mesh, dev_matrix(plans))
    finally:
        dev_mesh.rendered.holes.clear()
    assert summary.status == "FAIL" and ", 1 differ, 0 skipped" in summary.detail
    with_ = {"none": "no token", "token": "VERIFY_TOKEN"}[credential]
    wanted = answer if answer == "403" else f"{said(answer)} (any status but 401, 403 or the gateway's empty 404)"
    assert [(c.name, c.status, c.detail) for c in failed] == [
        ("matrix-cell", "FAIL", f"GET https://{dev_mesh.host}{path} with {with_}: expected {wanted}, got {got}")]


def test_a_routed_cell_holds_whatever_the_service_answers_but_the_gateways_refusals():
    """Routed: the Service may not be deployed; its 503 still shows the route and the policies
    let the request through. Envoy's own no-route 404 has an empty body."""
    from tools.verify import Seen, agrees

    routed = "→ orders.dev:8080"
    assert agrees(routed, Seen(503, "no healthy upstream")) and agrees(routed, Seen(200, "ok"))
    assert agrees(routed, Seen(404, "no such order"))
    assert not any(agrees(routed, seen) for seen in (Seen(404, ""), Seen(401, "x"), Seen(403, "RBAC: access denied"),
                                                     Seen(refused="SSLError"), Seen(error="timeout")))
    assert agrees("404", Seen(404, "")) and not agrees("403", Seen(401, ""))
    assert agrees("TLS refused", Seen(refused="SSLError")) and not agrees("TLS refused", Seen(403, ""))


def test_a_mutual_host_refuses_without_a_client_certificate(partner_mesh):
    """examples/mutual's partner: every cell without a client certificate is refused at TLS; the
    cells with one need VERIFY_CLIENT_CERT and VERIFY_CLIENT_KEY, and pass with them."""
    from tools.verify import Matrix

    double, plan = partner_mesh
    rows = plan["access"][double.host]
    matrix = Matrix.from_plan(plan, double.host, "examples/mutual partner")
    assert matrix.mutual and {a for _, _, cert, a in rows if not cert} == {"TLS refused"}
    (summary,) = replayed(double, matrix)
    with_cert = sum(1 for row in rows if row[2])
    assert summary.status == "PASS", summary
    assert (f"{len(rows) - with_cert} of {len(rows)} cells for {double.host} replayed, all as previewed, "
            f"{with_cert} skipped ({with_cert} need VERIFY_CLIENT_CERT and VERIFY_CLIENT_KEY)") in summary.detail
    (summary,) = replayed(double, matrix, client_cert=double.client_cert)
    assert summary.status == "PASS" and f"{len(rows)} of {len(rows)} cells" in summary.detail, summary


def test_the_stack_matrix_is_the_local_preview_and_is_previewed_when_missing(tmp_path, plans, dev_mesh,
                                                                             monkeypatch, capsys):
    """`make verify STACK=dev` replays build/dev/plan.json and says it is the offline preview of
    the local stack file; without one it previews the stack first."""
    import preview
    import tools.verify as tool

    outputs = {**plans[OWNER]["outputs"], "ingressIp": "127.0.0.1",
               "caCertificate": open(dev_mesh.ca_file).read()}
    monkeypatch.setenv("PATH", _fake_pulumi(tmp_path, {OWNER: outputs}))
    monkeypatch.setattr(tool, "BUILD_DIR", tmp_path / "build")
    previewed = []

    def fake_preview(stack, project_dir, build_dir):
        previewed.append((stack, project_dir, build_dir))
        (build_dir / stack).mkdir(parents=True)
        (build_dir / stack / "plan.json").write_text(json.dumps(plans[stack]))
    monkeypatch.setattr(preview, "preview_stack", fake_preview)
    argv = ["--stack", OWNER, "--resolve", f"{dev_mesh.host}:127.0.0.1", "--https-port", str(dev_mesh.https_port),
            "--http-port", str(dev_mesh.http_port)]
    assert tool.main(argv) == 0
    assert previewed == [(OWNER, ROOT, tmp_path / "build")]
    first = capsys.readouterr().out
    assert tool.main(argv) == 0 and len(previewed) == 1
    second = capsys.readouterr().out
    where = f"cells of {tmp_path / 'build' / OWNER / 'plan.json'} (the offline preview of the local Pulumi.{OWNER}.yaml, "
    assert f"{where}previewed now: the code as it is in this checkout, replayed against what is deployed)" in first
    assert where + "written " in second and f"`make preview STACK={OWNER}` refreshes it" in second
    assert "PASS  matrix " in second


def test_a_matrix_without_the_host_is_bad_input(plans, build_dir):
    done = subprocess.run([sys.executable, "-m", "tools.verify", "--host", "elsewhere.api.example.com",
                           "--ingress-ip", "127.0.0.1", "--matrix", str(build_dir / OWNER / "plan.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"error: {build_dir / OWNER / 'plan.json'} (given with --matrix) has no cells "
                                   f"for elsewhere.api.example.com (it has: {plans[OWNER]['outputs']['host']})")


def test_the_client_certificate_is_both_files_or_none(tmp_path):
    from tools.verify import _client_cert

    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    assert _client_cert({}) is None
    assert _client_cert({"VERIFY_CLIENT_CERT": str(tmp_path / "c.pem"), "VERIFY_CLIENT_KEY": str(tmp_path / "k.pem")}) \
        == (str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    with pytest.raises(ValueError, match="set both VERIFY_CLIENT_CERT and VERIFY_CLIENT_KEY"):
        _client_cert({"VERIFY_CLIENT_CERT": str(tmp_path / "c.pem")})
    with pytest.raises(ValueError, match="VERIFY_CLIENT_KEY=.*: no such file"):
        _client_cert({"VERIFY_CLIENT_CERT": str(tmp_path / "c.pem"), "VERIFY_CLIENT_KEY": str(tmp_path / "none")})
