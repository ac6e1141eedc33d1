"""summary.md of the bootstrap project (#22, item 8): what ``bootstrap/`` declares, read off its plan.

The bootstrap (``python -m preview backend``) is the team's Pulumi backend: the state bucket, the
keys that wrap stack secrets, and the CI identities (GitHub's OIDC token exchanged through a
Workload Identity pool for one service account per job kind). From the plan's resources only, the
summary says how the bucket and keys are set, and for each service account who may impersonate it
and every role it is granted on what, with each IAM condition.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from . import cost

BOOTSTRAP_PROJECT = "istio-envs-bootstrap"  # bootstrap/Pulumi.yaml name
COMPONENT_PREFIX = "istio-envs:bootstrap:"
BUCKET = "gcp:storage/bucket:Bucket"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
ACCOUNT = "gcp:serviceaccount/account:Account"
POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
FEDERATION_ROLE = "roles/iam.workloadIdentityUser"
RBAC_BINDINGS = ("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                 "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
# What an IAM member resource grants on, by its type's prefix: (words, the input naming it,
# whether only the input's last path segment is said).
GRANTED_ON = (("gcp:projects/", "project", "project", False),
              ("gcp:storage/", "bucket", "bucket", False),
              ("gcp:kms/", "key", "cryptoKeyId", True),
              ("gcp:serviceaccount/", "service account", "serviceAccountId", True),
              ("gcp:dns/", "DNS zone", "managedZone", False))


def is_bootstrap(plan: dict) -> bool:
    """A plan of the bootstrap project: a resource's URN (``urn:pulumi:<stack>::<project>::…``)
    names it, or its components are the bootstrap's."""
    for resource in plan.get("resources", []):
        parts = resource.get("urn", "").split("::")
        if (len(parts) > 2 and parts[1] == BOOTSTRAP_PROJECT) or resource["type"].startswith(COMPONENT_PREFIX):
            return True
    return False


def _code(value: Any) -> str:
    return f"`{value}`"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _pairs(values: dict) -> str:
    return ", ".join(f"{_code(k)} {_code(v)}" for k, v in sorted(values.items()))


def _days(period: Any) -> str:
    found = re.fullmatch(r"([0-9]+)s", str(period or ""))
    if not found:
        return "none" if not period else _code(period)
    seconds = int(found.group(1))
    return f"every {seconds // 86400} days ({_code(period)})" if seconds % 86400 == 0 else f"every {_code(period)}"


def _bucket_lines(plan: dict) -> list[str]:
    lines = []
    for bucket in cost.declared(plan, BUCKET):
        b = bucket["inputs"]
        retention = b.get("retentionPolicy")
        lifecycle = "; ".join(f"{_code((rule.get('action') or {}).get('type'))} when "
                              f"{_pairs(rule.get('condition') or {}) or 'always'}"
                              for rule in b.get("lifecycleRules") or []) or "none"
        lines += [
            f"- {_code(b.get('name'))} in {_code(b.get('location'))} (project {_code(b.get('project'))})",
            "- Versioning: " + ("on: every state write keeps the version it replaces"
                                if (b.get("versioning") or {}).get("enabled") else "off"),
            f"- Lifecycle: {lifecycle}",
            "- Retention policy: " + (_pairs(retention) if isinstance(retention, dict) and retention else "none"),
            f"- Public access prevention: {_code(b.get('publicAccessPrevention') or 'inherited')}",
            "- Uniform bucket-level access: " + ("on (IAM only, no object ACLs)"
                                                 if b.get("uniformBucketLevelAccess") else "off"),
            f"- Force destroy: {'on' if b.get('forceDestroy') else 'off'}; protect: {_yes(bucket.get('protect'))}",
        ]
    if not lines:
        return []
    if url := (plan.get("outputs") or {}).get("stateUrl"):
        lines.append(f"- State URL (`pulumi login`): {_code(url)}")
    return ["## State bucket", "", *lines, ""]


def _key_lines(plan: dict) -> list[str]:
    rings, keys = cost.declared(plan, KEY_RING), cost.declared(plan, CRYPTO_KEY)
    if not rings and not keys:
        return []
    lines = ["## Secrets keys (Cloud KMS)", ""]
    lines += [f"Key ring {_code(r['inputs'].get('name'))} in {_code(r['inputs'].get('location'))} (project "
              f"{_code(r['inputs'].get('project'))}), protect: {_yes(r.get('protect'))}." for r in rings]
    if keys:
        lines += ["", "| Key | Purpose | Rotation | Version template | Labels | protect |",
                  "|---|---|---|---|---|---|"]
    for key in keys:
        k = key["inputs"]
        template = k.get("versionTemplate") or {}
        labels = ", ".join(f"{name}={value}" for name, value in sorted((k.get("labels") or {}).items()))
        lines.append(f"| {_code(k.get('name'))} | {_code(k.get('purpose'))} | {_days(k.get('rotationPeriod'))} | "
                     f"{_code(template.get('algorithm'))}, {_code(template.get('protectionLevel'))} | "
                     f"{_code(labels) if labels else ''} | {_yes(key.get('protect'))} |")
    providers = (plan.get("outputs") or {}).get("secretsProviders")
    if isinstance(providers, dict) and providers:
        lines += ["", "Secrets providers (`pulumi stack init --secrets-provider`), by the kind of stack created "
                  "with each: " + "; ".join(f"{_code(kind)} {_code(url)}" for kind, url in sorted(providers.items()))
                  + "."]
    return lines + [""]


# --- the identities -----------------------------------------------------------------------------

def _unquoted(text: str, start: int = 0):
    """(index, character) of ``text`` outside its quoted ('…') parts, from ``start``."""
    quoted = False
    for index in range(start, len(text)):
        quoted ^= text[index] == "'"
        if not quoted:
            yield index, text[index]


def _ternary(expression: str) -> list[tuple[str | None, str]]:
    """``a ? 'x' : b ? 'y' : 'z'`` -> [(a, x), (b, y), (None, z)]: a CEL ternary chain split at
    its top-level ``?`` and ``:``."""
    cuts = [index for index, char in _unquoted(expression) if char in "?:"]
    parts = [expression[a + 1:b].strip() for a, b in zip([-1, *cuts], [*cuts, len(expression)], strict=True)]
    found: list[tuple[str | None, str]] = [(parts[i], parts[i + 1].strip("'")) for i in range(0, len(parts) - 1, 2)]
    return found + ([(None, parts[-1].strip("'"))] if len(parts) % 2 else [])


def _guard(condition: str, opening: str) -> str | None:
    """In ``... && (attribute.x != 'v' || <clause>) && ...``, the clause: what the provider's
    condition asks of a token mapped to ``v`` (parentheses balanced)."""
    start = condition.find("(" + opening)
    if start < 0:
        return None
    depth = 0
    for index, char in _unquoted(condition, start):
        if char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return condition[start + 1 + len(opening):index].strip()
    return None


def _principal(member: str, mapping: dict[str, str], condition: str) -> str:
    """Who a federation member admits, in words, from the mapping and condition it rests on."""
    found = re.fullmatch(r"principalSet://iam\.googleapis\.com/.+/attribute\.([a-z_]+)/(.+)", member)
    if not found:
        subject = re.fullmatch(r"principal://iam\.googleapis\.com/.+/subject/(.+)", member)
        return f"the token whose subject is {_code(subject.group(1))}" if subject else _code(member)
    attribute, value = found.groups()
    repository = re.search(r"assertion\.sub\.startsWith\('repo:([^:']+):'\)", condition)
    text = (f"a token{' of ' + _code(repository.group(1)) if repository else ''} whose "
            f"{_code('attribute.' + attribute)} is {_code(value)}")
    chain = _ternary(mapping.get(f"attribute.{attribute}", ""))
    for index, (case, result) in enumerate(chain):
        if result == value and case:
            earlier = [f"{_code(c)} → {_code(r)}" for c, r in chain[:index] if c]
            text += f" (the mapping's case {_code(case)}" + (f", after {', '.join(earlier)}" if earlier else "") + ")"
            break
    if clause := _guard(condition, f"attribute.{attribute} != '{value}' || "):
        text += f", admitted by the provider only if {_code(clause)}"
    return text


def _where(resource: dict) -> str:
    """The resource an IAM member resource grants on."""
    for prefix, words, name, last in GRANTED_ON:
        if resource["type"].startswith(prefix):
            value = resource["inputs"].get(name, "" if last else None)
            return f"{words} {_code(str(value).rsplit('/', 1)[-1] if last else value)}"
    return f"{_code(resource['type'])} {_code(resource['name'])}"


def grant_text(resource: dict) -> str:
    """``<role> on <where>`` and, for a conditional grant, ``only if **<title>**: <expression>``."""
    inputs = resource["inputs"]
    text = f"{_code(inputs.get('role'))} on {_where(resource)}"
    condition = inputs.get("condition")
    if isinstance(condition, dict) and condition:
        text += f", only if {_code(condition.get('title'))}: {_code(condition.get('expression'))}"
    return text


def _kubernetes_api(plan: dict, resource: dict) -> str:
    """The Kubernetes API a resource is applied to: its provider's clusterIdentifier."""
    provider = resource.get("provider") or ""
    for candidate in plan.get("resources", []):
        if candidate["type"] == "pulumi:providers:kubernetes" and provider.startswith(candidate["urn"]):
            return _code(candidate["inputs"].get("clusterIdentifier") or candidate["name"])
    return _code(provider.rsplit("::", 1)[-1] or "?")


def identity_lines(plan: dict, account: dict) -> list[str]:
    """One service account's section: who may impersonate it and every grant it holds."""
    inputs = account["inputs"]
    email = f"{inputs.get('accountId')}@{inputs.get('project')}.iam.gserviceaccount.com"
    kind = {v: k for k, v in ((plan.get("outputs") or {}).get("serviceAccounts") or {}).items()}.get(email)
    lines = [f"### {_code(email)}" + (f" ({_code(kind)})" if kind else ""), ""]
    if inputs.get("description"):
        lines += [f"{_code(inputs['description'])}", ""]
    # Who is admitted rests on the pool provider's attribute mapping and condition.
    provider = next(iter(cost.declared(plan, POOL_PROVIDER)), {"inputs": {}})["inputs"]
    mapping, condition = dict(provider.get("attributeMapping") or {}), str(provider.get("attributeCondition") or "")
    grants = [r for r in plan.get("resources", []) if ("IAMMember" in r["type"] or "IamMember" in r["type"])
              and "member" in r["inputs"]]
    federation = [r for r in grants if r["inputs"].get("role") == FEDERATION_ROLE
                  and str(r["inputs"].get("serviceAccountId", "")).endswith(f"/{email}")]
    lines.append(f"- May impersonate it ({_code(FEDERATION_ROLE)}): "
                 + ("; ".join(_principal(str(r["inputs"].get("member")), mapping, condition) for r in federation)
                    if federation else "no one through the pool"))
    held = [r for r in grants if r["inputs"].get("member") == f"serviceAccount:{email}"]
    lines += [f"- {grant_text(r)}" for r in sorted(held, key=lambda r: (_where(r), str(r["inputs"].get("role"))))]
    for binding in (r for t in RBAC_BINDINGS for r in cost.declared(plan, t)):
        if any(s.get("name") == email for s in binding["inputs"].get("subjects") or []):
            ref = binding["inputs"].get("roleRef") or {}
            meta = binding["inputs"].get("metadata") or {}
            lines.append(f"- Kubernetes API {_kubernetes_api(plan, binding)}: {_code(binding['inputs'].get('kind'))} "
                         f"{_code(meta.get('name'))} grants {_code(ref.get('kind'))} {_code(ref.get('name'))}"
                         + (f" in namespace {_code(meta['namespace'])}" if meta.get("namespace") else ""))
    for policy in cost.declared(plan, ADMISSION_POLICY):
        conditions = (policy["inputs"].get("spec") or {}).get("matchConditions") or []
        named = [str(c.get("expression", "")) for c in conditions if email in str(c.get("expression", ""))]
        if named:
            name = _code((policy["inputs"].get("metadata") or {}).get("name"))
            lines.append(f"- Kubernetes API {_kubernetes_api(plan, policy)}: "
                         + (f"its requests must pass admission policy {name}" if any(f"== '{email}'" in e for e in named)
                            else f"exempt from admission policy {name} (its match conditions leave it out)"))
    return lines + [""]


def summary_lines(plan: dict) -> list[str]:
    """The bootstrap's whole summary.md (join with newlines): the bucket, the keys, each CI
    identity, what it costs, the resources by type and what is protected."""
    lines = [f"# Stack `{plan.get('stack', '?')}` — offline preview of the bootstrap", "",
             "The team's Pulumi backend (`bootstrap/`): the state bucket, the keys that encrypt stack "
             "secrets, and the CI identities that use them: GitHub's OIDC token, exchanged through "
             "Workload Identity Federation, for one service account per job kind (no key exists).",
             "Fake cloud values (`preview-` names, a zero project number) stand in for what GCP assigns "
             "at deploy time.", ""]
    lines += _bucket_lines(plan) + _key_lines(plan)
    accounts = cost.declared(plan, ACCOUNT)
    if accounts:
        lines += ["## CI identities", ""]
        lines += [f"Workload Identity pool {_code(p['inputs'].get('workloadIdentityPoolId'))} (project "
                  f"{_code(p['inputs'].get('project'))})." for p in cost.declared(plan, POOL)]
        for provider in cost.declared(plan, POOL_PROVIDER):
            p = provider["inputs"]
            lines += ["", f"Its provider {_code(p.get('workloadIdentityPoolProviderId'))} takes tokens of issuer "
                      f"{_code((p.get('oidc') or {}).get('issuerUri'))} and admits one only if:", "",
                      f"{_code(p.get('attributeCondition'))}", "", "| Attribute | From the token |", "|---|---|"]
            lines += [f"| {_code(k)} | {_code(v)} |" for k, v in sorted((p.get("attributeMapping") or {}).items())]
        lines.append("")
        if roles := cost.declared(plan, CUSTOM_ROLE):
            lines += ["Custom roles: " + "; ".join(
                f"{_code('projects/' + str(r['inputs'].get('project')) + '/roles/' + str(r['inputs'].get('roleId')))} "
                f"({_code(r['inputs'].get('title'))}): " + ", ".join(_code(x) for x in r["inputs"].get("permissions", []))
                for r in roles) + ".", ""]
        for account in accounts:
            lines += identity_lines(plan, account)
    estimate = cost.estimate(plan)
    lines += cost.summary_lines(estimate)
    if estimate.has_table:
        lines += ["The bucket's storage and operations are usage, not included.", ""]
    return lines + resource_lines(plan, show_reads=True)


def resource_lines(plan: dict, show_reads: bool = False) -> list[str]:
    """A summary's last section: the resources by type (``show_reads``: with how many of each are
    only read), then those protected from deletion."""
    counts = Counter(r["type"] for r in plan.get("resources", []))
    read = Counter(r["type"] for r in plan.get("resources", []) if r.get("read") and show_reads)
    lines = [f"## Resources ({sum(counts.values())})", "", "| Type | Count |", "|---|---|"]
    lines += [f"| `{kind}` | {count}" + (f" ({read[kind]} read only, not managed here)" if read[kind] else "") + " |"
              for kind, count in sorted(counts.items())]
    lines.append("")
    if protected := sorted(r["name"] for r in plan.get("resources", []) if r.get("protect")):
        lines += [f"Protected from deletion: {', '.join(_code(p) for p in protected)}.", ""]
    return lines
