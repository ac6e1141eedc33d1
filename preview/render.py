"""Turn a recorded program run into plan.json, one YAML manifest per Kubernetes object and a
reviewer's summary.md. Secret values never reach these files: they become ``"[secret]"``."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml
from pulumi.runtime import rpc

from .engine import SECRET, UNKNOWN, ProgramRun

K8S_NOT_OBJECTS = ("pulumi:providers:kubernetes", "kubernetes:helm.sh/v3:Release")


def clean(value: Any) -> Any:
    """Plain JSON for people and tools: secrets hidden, unknowns named, whole floats as ints
    (the mock engine turns every number into a float: 443 -> 443.0)."""
    if rpc.is_rpc_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        # A secret map (a Secret's stringData) keeps its key names: they say what is inside.
        return {str(k): SECRET for k in sorted(inner)} if isinstance(inner, dict) else SECRET
    if value is rpc.UNKNOWN or value == rpc.UNKNOWN:
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
        entry = {
            "type": reg.type,
            "name": reg.name,
            "urn": reg.urn,
            "parent": reg.parent,
            "custom": reg.custom,
            "provider": reg.provider,
            "dependencies": reg.dependencies,
            "propertyDependencies": reg.property_dependencies,
            "protect": reg.protect,
            "inputs": clean(reg.inputs),
        }
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


def summary(plan_doc: dict) -> str:
    """What a reviewer wants in a pull-request comment, read off the plan itself."""
    out = plan_doc["outputs"]
    owner = bool(_of_type(plan_doc, ":container/cluster:Cluster"))
    lines = [f"# Stack `{plan_doc['stack']}` — offline preview",
             "",
             ("Owns the platform (cluster, Istio, DNS zone, certificate, Gateway) and its environment."
              if owner else "Attached: declares only its environment on the owner's platform."),
             "Fake cloud values (documentation IP ranges, `preview-` names) stand in for what GCP "
             "assigns at deploy time.",
             ""]

    gateways = _of_type(plan_doc, ":networking.istio.io/v1:Gateway")
    for gateway in gateways:
        spec = gateway["inputs"]["spec"]
        for server in spec["servers"]:
            tls = server.get("tls", {})
            lines.append(f"**Gateway** `{gateway['inputs']['metadata']['namespace']}/"
                         f"{gateway['inputs']['metadata']['name']}`: {server['port']['protocol']} on "
                         f"{server['port']['number']} for {', '.join(server['hosts'])}, TLS "
                         f"{tls.get('mode')} ≥ {tls.get('minProtocolVersion')}, certificate Secret "
                         f"`{tls.get('credentialName')}` ({out.get('tlsSource', '?')}).")
    if gateways:
        lines.append("")

    records = {r["inputs"]["name"].rstrip("."): r["inputs"]["rrdatas"] for r in _of_type(plan_doc, ":dns/recordSet:RecordSet")}
    authz = {r["inputs"]["metadata"]["namespace"]: r["inputs"]["spec"] for r in _of_type(plan_doc, ":security.istio.io/v1:AuthorizationPolicy")}
    jwt = {r["inputs"]["metadata"]["namespace"]: r["inputs"]["spec"] for r in _of_type(plan_doc, ":security.istio.io/v1:RequestAuthentication")}
    for vs in _of_type(plan_doc, ":networking.istio.io/v1:VirtualService"):
        ns = vs["inputs"]["metadata"]["namespace"]
        spec = vs["inputs"]["spec"]
        for host in spec["hosts"]:
            lines.append(f"## Environment `{ns}`: https://{host}")
            lines.append("")
            lines.append(f"- DNS: `{host}` A → {', '.join(records.get(host, ['(no record)']))}")
            for rule in jwt.get(ns, {}).get("jwtRules", []):
                lines.append(f"- JWT: issuer `{rule['issuer']}`, audiences "
                             f"{', '.join('`' + a + '`' for a in rule.get('audiences', []))}")
        lines.append("")
        lines.append("| Path prefix | Destination | Access |")
        lines.append("|---|---|---|")
        policy = authz.get(ns, {})
        for http in spec["http"]:
            prefix = http["match"][0]["uri"]["prefix"]
            dest = http["route"][0]["destination"]
            lines.append(f"| `{prefix}` | `{dest['host']}:{dest['port']['number']}` | {_access(policy, prefix)} |")
        lines.append("")

    counts = Counter(r["type"] for r in plan_doc["resources"])
    lines.append(f"## Resources ({sum(counts.values())})")
    lines.append("")
    lines.append("| Type | Count |")
    lines.append("|---|---|")
    for typ, count in sorted(counts.items()):
        lines.append(f"| `{typ}` | {count} |")
    lines.append("")
    protected = [r["name"] for r in plan_doc["resources"] if r["protect"]]
    if protected:
        lines.append(f"Protected from deletion: {', '.join('`' + p + '`' for p in sorted(protected))}.")
        lines.append("")
    return "\n".join(lines)


def _access(policy: dict, prefix: str) -> str:
    """How the AuthorizationPolicy treats requests from outside for this route."""
    public, token = [], []
    for rule in policy.get("rules", []):
        sources = [f.get("source", {}) for f in rule.get("from", [])]
        if not any("principals" in s for s in sources):
            continue
        for to in rule.get("to", []):
            op = to.get("operation", {})
            covered = [p for p in op.get("paths", []) if p in (prefix, f"{prefix}/*") or p.startswith(prefix + "/")]
            if not covered:
                continue
            if any("requestPrincipals" in s for s in sources):
                auds = [v for w in rule.get("when", []) if w["key"] == "request.auth.audiences" for v in w["values"]]
                token.append("token required (aud " + ", ".join(f"`{a}`" for a in auds) + ")")
                public.extend(f"`{p}` public" for p in op.get("notPaths", [])
                              if p.startswith(prefix + "/") and not p.endswith("/*"))
            else:
                public.extend(f"`{p}` public" for p in covered if not p.endswith("/*"))
    parts = sorted(set(token)) + sorted(set(public))
    return "; ".join(parts) if parts else "denied"
