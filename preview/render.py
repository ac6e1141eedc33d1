"""Turn a recorded program run into plan.json, one YAML manifest per Kubernetes object and a
reviewer's summary.md. Secret values never reach these files: they become ``"[secret]"``."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import yaml

from . import access, bootstrap_summary, cost, sdk
from .engine import SECRET, UNKNOWN, ProgramRun

K8S_NOT_OBJECTS = ("pulumi:providers:kubernetes", "kubernetes:helm.sh/v3:Release")


def clean(value: Any) -> Any:
    """Plain JSON for people and tools: secrets hidden, unknowns named, whole floats as ints
    (the mock engine turns every number into a float: 443 -> 443.0)."""
    if sdk.is_secret(value):
        inner = sdk.unwrap_secret(value)
        # A secret map (a Secret's stringData) keeps its key names: they say what is inside.
        return {str(k): SECRET for k in sorted(inner)} if isinstance(inner, dict) else SECRET
    if value is sdk.UNKNOWN or value == sdk.UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in sorted(value.items()) if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return str(value)


def plan(run: ProgramRun) -> dict:
    resources = []
    for reg in sorted(run.registrations, key=lambda r: r.urn):
        # Every recorded field but the id, by its camelCase name (``ignoreChanges``).
        entry = {re.sub(r"_(.)", lambda m: m[1].upper(), f.name): getattr(reg, f.name)
                 for f in dataclasses.fields(reg) if f.name not in ("id", "read", "inputs")}
        entry["inputs"] = clean(reg.inputs)
        if reg.read:
            entry["read"] = True
        resources.append(entry)
    outputs = {name: (SECRET if out.secret else clean(out.value) if out.known else UNKNOWN)
               for name, out in run.outputs.items()}
    return {
        "stack": run.stack,
        "resources": resources,
        "invokes": [{"token": inv.token, "args": clean(inv.args)}
                    for inv in sorted(run.invocations, key=lambda i: (i.token, json.dumps(clean(i.args), sort_keys=True)))],
        "outputs": outputs,
        "secretOutputs": sorted(name for name, out in run.outputs.items() if out.secret),
    }


def is_kubernetes_object(resource: dict) -> bool:
    return resource["type"].startswith("kubernetes:") and resource["type"] not in K8S_NOT_OBJECTS


def manifest(resource: dict) -> dict:
    inputs = resource["inputs"]
    body = {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"], "metadata": inputs.get("metadata", {})}
    for key, value in inputs.items():
        if key not in body:
            body[key] = value
    return body


def manifests(plan_doc: dict) -> dict[str, str]:
    """File name -> YAML text, one per Kubernetes object."""
    files: dict[str, str] = {}
    for resource in plan_doc["resources"]:
        if not is_kubernetes_object(resource):
            continue
        body = manifest(resource)
        meta = body["metadata"]
        name = f"{meta.get('namespace', '_cluster')}.{body['kind'].lower()}.{meta.get('name', resource['name'])}.yaml"
        files[name] = yaml.safe_dump(body, sort_keys=True, default_flow_style=False)
    return files


def _of_type(plan_doc: dict, type_suffix: str) -> list[dict]:
    return [r for r in plan_doc["resources"] if r["type"].endswith(type_suffix)]


def summary(plan_doc: dict, estimate: cost.Estimate | None = None) -> str:
    """What a reviewer wants in a pull-request comment, read off the plan itself: per environment
    its host, DNS, TLS (mode, minimum version, certificate source and lifetime), who may call each
    route, then resource counts by type. Secrets never appear (the plan has none)."""
    if bootstrap_summary.is_bootstrap(plan_doc):
        return "\n".join(bootstrap_summary.summary_lines(plan_doc))
    out = plan_doc["outputs"]
    owner = bool(_of_type(plan_doc, ":container/cluster:Cluster"))
    lines = [f"# Stack `{plan_doc['stack']}` — offline preview",
             "",
             ("Owns the platform (cluster, Istio, DNS zone, certificate, Gateway) and its environment."
              if owner else f"Attached to `{out.get('platformOwner', '?')}`: declares only its "
              "environment on the owner's platform." if "environment" in out else
              "No environment: " + ", ".join(f"`{k}` = `{v}`" for k, v in sorted(out.items())) + "."),
             "Fake cloud values (documentation IP ranges, `preview-` names) stand in for what GCP "
             "assigns at deploy time.",
             ""]
    lines += _platform_lines(plan_doc, owner)
    lines += _dns_zone_lines(plan_doc, owner)

    gateways = _of_type(plan_doc, ":networking.istio.io/v1:Gateway")
    for gateway in gateways:
        meta = gateway["inputs"]["metadata"]
        for server in gateway["inputs"]["spec"]["servers"]:
            tls = server.get("tls", {})
            lines.append(f"**Gateway** `{meta['namespace']}/{meta['name']}`: {server['port']['protocol']} "
                         f"on {server['port']['number']} for {', '.join(server['hosts'])}, TLS "
                         f"{tls.get('mode')} ≥ {tls.get('minProtocolVersion')}, certificate Secret "
                         f"`{tls.get('credentialName')}`"
                         + (f", client CA `{tls['caCertCredentialName']}`" if tls.get("caCertCredentialName") else "")
                         + ".")
    if gateways:
        lines.append("")

    records = {r["inputs"]["name"].rstrip("."): r["inputs"]["rrdatas"]
               for r in _of_type(plan_doc, ":dns/recordSet:RecordSet") if r["inputs"]["type"] == "A"}
    jwt = {r["inputs"]["metadata"]["namespace"]: r["inputs"]["spec"]
           for r in _of_type(plan_doc, ":security.istio.io/v1:RequestAuthentication")}
    for vs in _of_type(plan_doc, ":networking.istio.io/v1:VirtualService"):
        ns = vs["inputs"]["metadata"]["namespace"]
        spec = vs["inputs"]["spec"]
        for host in spec["hosts"]:
            lines += [f"## Environment `{ns}`: https://{host}", "",
                      f"- DNS: `{host}` A → {', '.join(records.get(host, ['(no record)']))}",
                      f"- TLS: {_tls_line(gateways, host, out)}", f"- Certificate: {_certificate_line(out)}"]
            for rule in jwt.get(ns, {}).get("jwtRules", []):
                lines.append(f"- JWT: issuer `{rule['issuer']}`, audiences "
                             f"{', '.join('`' + a + '`' for a in rule.get('audiences', []))}")
            mesh = out.get("meshRevision")
            if isinstance(mesh, dict):
                lines.append(f"- Mesh: revision tag `{mesh.get('tag')}` → Istio {mesh.get('version')} "
                             f"(revision `{mesh.get('revision')}`): its pods' sidecars")
        lines += [*_namespace_lines(plan_doc, ns), "",
                  "Routes in the order Istio matches them, longest prefix first: Istio takes the "
                  "first route that matches, so a shorter prefix listed earlier would take the "
                  "longer one's requests.", "",
                  "| # | Path prefix | Service | Timeout, retries | Access |", "|---|---|---|---|---|"]
        cells = {k: v for host in spec["hosts"] for k, v in access.cells_of(plan_doc.get("access", {}).get(host, [])).items()}
        audiences = [a for rule in jwt.get(ns, {}).get("jwtRules", []) for a in rule.get("audiences", [])]
        for number, http in enumerate(spec["http"], 1):
            prefix = http["match"][0]["uri"]["prefix"]
            dest = http["route"][0]["destination"]
            lines.append(f"| {number} | `{prefix}` | `{dest['host']}:{dest['port']['number']}` | "
                         f"{_budget(http)} | {_access(cells, prefix, audiences)} |")
        lines.append("")
        prefixes = [http["match"][0]["uri"]["prefix"] for http in spec["http"]]
        for i, first in enumerate(prefixes):
            for later in prefixes[i + 1:]:
                if later.startswith(first) and later != first:
                    lines.append(f"**Warning**: `{first}` comes before `{later}` and takes its requests.")
        if lines[-1].startswith("**Warning**"):
            lines.append("")
        for host in spec["hosts"]:
            if host in plan_doc.get("access", {}):
                lines += access.summary_lines(access.cells_of(plan_doc["access"][host]))

    if estimate is not None:
        lines += cost.summary_lines(estimate)
    return "\n".join(lines + bootstrap_summary.resource_lines(plan_doc))


def _budget(http: dict) -> str:
    """A route's timeout and retry policy, or Istio's defaults."""
    timeout = f"`{http['timeout']}`" if "timeout" in http else "no timeout"
    retries = http.get("retries")
    if retries is None:
        return f"{timeout}; Istio's default retries"
    per_try = f" of `{retries['perTryTimeout']}`" if "perTryTimeout" in retries else ""
    return f"{timeout}; {retries['attempts']} retries{per_try} on {retries['retryOn']}"


ISTIO_CHARTS = ("base", "cni", "istiod", "gateway")


def _code(values: list) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _versions(plan_doc: dict) -> dict[str, str]:
    """chart -> version of the Helm releases the plan declares."""
    return {r["inputs"]["chart"]: str(r["inputs"]["version"])
            for r in _of_type(plan_doc, "kubernetes:helm.sh/v3:Release")}


def _platform_lines(plan_doc: dict, owner: bool) -> list[str]:
    """The platform's shape (cluster, nodes, control-plane access) and what runs on it, read off
    the cluster, node pool and Helm release inputs. An attached stack declares none of them: it
    names the owner's Istio version when its outputs carry it."""
    out = plan_doc["outputs"]
    charts = _versions(plan_doc)
    istio = sorted({charts[c] for c in ISTIO_CHARTS if c in charts})
    if not owner:
        if "environment" not in out:
            return []
        version = out.get("istioVersion")
        return ["## Platform", "",
                f"- Istio {version} (the owner `{out.get('platformOwner', '?')}`'s)" if version else
                f"- Cluster, Istio and cert-manager: the owner `{out.get('platformOwner', '?')}`'s "
                "(see its summary)",
                ""]
    lines = ["## Platform", ""]
    for cluster in _of_type(plan_doc, ":container/cluster:Cluster"):
        c = cluster["inputs"]
        location = str(c.get("location", "?"))
        pools = [p["inputs"] for p in _of_type(plan_doc, ":container/nodePool:NodePool")
                 if p["inputs"].get("cluster") == c.get("name")]
        zones = [str(z) for p in pools for z in p.get("nodeLocations", [])]
        shape = (f"**zonal**, location `{location}` (a zone: one control plane, upgrades take the "
                 "API down)" if cost.ZONE.match(location) else
                 f"**regional**, location `{location}` (a region: the control plane is replicated "
                 "across its zones)")
        channel = c.get("releaseChannel", {}).get("channel")
        lines.append(f"- Cluster `{c.get('name')}`: {shape}; nodes in {_code(zones) or '(none)'}"
                     + (f"; release channel `{channel}`" if channel else ""))
        for pool in pools:
            node = pool.get("nodeConfig", {})
            scaling = pool.get("autoscaling", {})
            low, high = scaling.get("minNodeCount"), scaling.get("maxNodeCount")
            per_zone = len(pool.get("nodeLocations", [])) or 1
            total = (f" ({low * per_zone}–{high * per_zone} in total)"
                     if isinstance(low, int) and isinstance(high, int) else "")
            lines.append(f"- Nodes (`{pool.get('name')}`): `{node.get('machineType')}`, "
                         f"{low}–{high} per zone{total}, "
                         + ("**spot** (cheap, can be reclaimed at any time)" if node.get("spot")
                            else "standard (not spot)")
                         + f", {node.get('diskSizeGb')} GB disk")
        lines.append("- Maintenance: " + _maintenance(c.get("maintenancePolicy", {})))
        private = c.get("privateClusterConfig", {}).get("enablePrivateEndpoint")
        networks = [f"`{b.get('displayName')}` {b.get('cidrBlock')}"
                    for b in c.get("masterAuthorizedNetworksConfig", {}).get("cidrBlocks", [])]
        lines.append("- Control plane IP endpoint: "
                     + ("**private** (no public address; reachable only inside the VPC)" if private
                        else "public")
                     + "; authorized networks: " + (", ".join(networks) or "none"))
        dns = c.get("controlPlaneEndpointsConfig", {}).get("dnsEndpointConfig", {})
        lines.append("- DNS-based endpoint: "
                     + ("on, reachable from anywhere, every request authorized by IAM (what Pulumi "
                        "and CI use)" if dns.get("allowExternalTraffic") else
                        "off" if dns else "not configured"))
    lines.append("- Istio: " + (", ".join(istio) + " (charts " + ", ".join(
        f"`{c}`" for c in ISTIO_CHARTS if c in charts) + ")" if istio else "not installed"))
    revisions = out.get("meshRevisions")
    if isinstance(revisions, list) and revisions:
        gateway = next((r["inputs"].get("values", {}).get("revision") for r in
                        _of_type(plan_doc, "kubernetes:helm.sh/v3:Release") if r["inputs"].get("chart") == "gateway"), None)
        lines.append("- Istio revisions (one istiod each): " + "; ".join(
            f"`{r.get('revision')}` (Istio {r.get('version')}, "
            + (f"tags {', '.join('`' + t + '`' for t in r.get('tags', []))}" if r.get("tags") else "no tag")
            + ")" for r in revisions) + f"; CRDs (base chart) {charts.get('base', '?')}, CNI "
            f"{charts.get('cni', '?')}, ingress gateway on `{gateway}`")
    lines.append("- cert-manager: " + (charts["cert-manager"] if "cert-manager" in charts
                                        else "not installed (no ACME certificate)"))
    mesh = next((r["inputs"].get("values", {}).get("meshConfig", {})
                 for r in _of_type(plan_doc, "kubernetes:helm.sh/v3:Release")
                 if r["inputs"].get("chart") == "istiod"), {})
    outbound = mesh.get("outboundTrafficPolicy", {}).get("mode") if isinstance(mesh, dict) else None
    shared = [se["inputs"] for se in _of_type(plan_doc, ":networking.istio.io/v1:ServiceEntry")
              if "*" in se["inputs"]["spec"].get("exportTo", [])]
    if outbound or shared:
        lines.append("- Outbound traffic: " + (f"`{outbound}`" if outbound else "(chart default)")
                     + (" (only registered destinations)" if outbound == "REGISTRY_ONLY" else "")
                     + ("; registered for every namespace: " + _destinations(shared) if shared else ""))
    lines.append("")
    return lines


def _dns_zone_lines(plan_doc: dict, owner: bool) -> list[str]:
    """The owner's zone: what it serves and, for a created one, exactly what the parent zone must
    publish (NS and DS record sets at the zone's name), from the zone's inputs and the outputs."""
    out = plan_doc["outputs"]
    if not owner or "dnsZone" not in out:
        return []
    served = str(out.get("dnsName") or "?")
    zones = _of_type(plan_doc, ":dns/managedZone:ManagedZone")
    if not zones:
        return ["## DNS zone", "",
                f"- Zone `{out['dnsZone']}` (existing, looked up) serves `{served}`: its delegation, "
                "DNSSEC and CAA are wherever it is managed.", ""]
    zone = zones[0]["inputs"]
    caa = [r["inputs"] for r in _of_type(plan_doc, ":dns/recordSet:RecordSet") if r["inputs"]["type"] == "CAA"]
    parent = served.split(".", 1)[1] if "." in served.rstrip(".") else "."
    lines = ["## DNS zone", "",
             f"- Zone `{zone.get('name')}` serves `{served}`, DNSSEC "
             f"{zone.get('dnssecConfig', {}).get('state', 'off')}"
             + (f"; CAA at `{caa[0]['name']}`: {_code(caa[0]['rrdatas'])}" if caa else "") + ".",
             f"- **The zone of `{parent}` delegates it**: add these record sets there (at the "
             "registrar for a top-level domain), NS first, DS once the name servers answer; `make "
             "verify` checks the NS set:",
             "",
             "| Name | Type | Data |",
             "|---|---|---|",
             f"| `{served}` | NS | {_code(out.get('nameServers') or [])} (`pulumi stack output nameServers`) |",
             f"| `{served}` | DS | `{out.get('dnsDsRecord')}` (`pulumi stack output dnsDsRecord`) |",
             ""]
    return lines


def _maintenance(policy: dict) -> str:
    """The cluster's maintenance window and exclusions, as GKE applies them (UTC)."""
    window = policy.get("recurringWindow") or {}
    start, end = str(window.get("startTime", "")), str(window.get("endTime", ""))
    days = str(window.get("recurrence", "")).partition("BYDAY=")[2]
    text = (f"weekly on {days.replace(',', ', ')}, {start[11:16]}–{end[11:16]} UTC"
            if window else "**no window** (the provider requires one)")
    for exclusion in policy.get("maintenanceExclusions", []):
        scope = exclusion.get("exclusionOptions", {}).get("scope", "NO_UPGRADES")
        options = exclusion.get("exclusionOptions", {})
        until = ("the minor's end of support" if options.get("endTimeBehavior") == "UNTIL_END_OF_SUPPORT"
                 else str(exclusion.get("endTime", "?"))[:10])
        text += (f"; `{scope}` from {str(exclusion.get('startTime', ''))[:10]} until {until} "
                 f"(`{exclusion.get('exclusionName')}`)")
    return text


def _destinations(entries: list[dict]) -> str:
    """``host:port protocol`` of each ServiceEntry."""
    return ", ".join(f"`{host}:{port['number']}` {port.get('protocol', '')}".rstrip()
                     for entry in entries for host in entry["spec"].get("hosts", [])
                     for port in entry["spec"].get("ports", []))


def _namespace_lines(plan_doc: dict, ns: str) -> list[str]:
    """The environment namespace's quota, container defaults and egress destinations."""
    def in_ns(type_suffix: str) -> list[dict]:
        return [r["inputs"] for r in _of_type(plan_doc, type_suffix)
                if r["inputs"].get("metadata", {}).get("namespace") == ns]

    lines = []
    for quota in in_ns(":core/v1:ResourceQuota"):
        hard = quota.get("spec", {}).get("hard", {})
        lines.append("- Quota: " + ", ".join(f"`{k}` {v}" for k, v in sorted(hard.items())))
    for limits in in_ns(":core/v1:LimitRange"):
        for item in limits.get("spec", {}).get("limits", []):
            parts = [f"{label} " + ", ".join(f"{k} {v}" for k, v in sorted(item[key].items()))
                     for key, label in (("defaultRequest", "requests"), ("default", "limits"))
                     if item.get(key)]
            lines.append(f"- {item.get('type', '')} defaults (LimitRange): " + "; ".join(parts))
    egress = in_ns(":networking.istio.io/v1:ServiceEntry")
    lines.append("- Egress (outside the mesh): " + (_destinations(egress) if egress else
                                                    "none of its own"))
    # Who may deploy here: the namespace's RoleBinding to the owners' role (and, from the owner
    # stack, cluster credentials through IAM).
    owners = [f"`{s['kind'].lower()}:{s['name']}`" for b in in_ns(":rbac.authorization.k8s.io/v1:RoleBinding")
              for s in b.get("subjects", [])]
    lines.append("- Owners (deploy into the namespace, cluster credentials from the owner stack): "
                 + (", ".join(owners) if owners else "none: only the environments deployer"))
    return lines


def _tls_line(gateways: list[dict], host: str, out: dict) -> str:
    server = access.serving_server([g["inputs"] for g in gateways], host)
    if server is not None:
        tls = server["tls"]
        mode, minimum = tls["mode"], tls["minProtocolVersion"]
    else:  # attached, SIMPLE: the owner's shared Gateway serves it
        mode, minimum = out.get("tlsMode", "SIMPLE"), out.get("minTlsVersion") or "(the owner's)"
    clients = " (client certificate required)" if mode == "MUTUAL" else ""
    return f"{mode}{clients}, minimum {minimum}, HTTPS only on 443"


def _certificate_line(out: dict) -> str:
    source = out.get("tlsSource") or "?"
    lifetime = out.get("certificateLifetime") or {}
    if source == "provided":
        return f"provided, expires {out.get('certificateNotAfter') or '(unknown)'}"
    if source == "acme":
        return (f"Let's Encrypt through cert-manager, {lifetime.get('validityDays', 90)} days, renewed "
                f"{lifetime.get('renewBeforeDays', 30)} days before expiry")
    if source == "self-signed":
        text = "self-signed (pulumi-tls CA, `caCertificate` output)"
        if lifetime:
            text += (f", leaf valid {lifetime['validityDays']} days, re-issued by the first "
                     f"`pulumi up` in its last {lifetime['renewBeforeDays']} days")
        return text
    return source


def _access(cells: dict, prefix: str, audiences: list[str]) -> str:
    """Who may call a route, read off the request matrix (what the policies answer, not what the
    config meant): the paths under the prefix that answer without a token."""
    open_paths = [path for (path, credential, _), answer in cells.items() if credential == "none"
                  and access.is_open(answer) and (path == prefix or path.startswith(prefix.rstrip("/") + "/"))]
    below = prefix.rstrip("/") + "/x"
    if prefix in open_paths and below in open_paths:
        return "public (no token)"
    token = "token required (aud " + ", ".join(f"`{a}`" for a in audiences) + ")"
    named = [p for p in dict.fromkeys(open_paths) if p != below and not (p.endswith("/x") and p[:-2] in open_paths)]
    parts = [token] + ([f"everything below `{prefix.rstrip('/')}/` public"] if below in open_paths else [])
    return "; ".join(parts + [f"`{p}` public" for p in named])
