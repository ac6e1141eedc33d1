"""summary.md of the bootstrap project (#22, item 8): what ``bootstrap/`` declares, read off its plan.

The bootstrap (bootstrap/Pulumi.yaml, ``python -m preview backend``) is the team's Pulumi backend:
the state bucket (state_backend.py), the key ring and keys that wrap stack secrets, and the CI
identities (ci_identities.py, platform_access.py): GitHub's OIDC token exchanged through a
Workload Identity pool for one service account per job kind. This summary says, from the plan's
resources only: the bucket's location, versioning, lifecycle and retention, public access
prevention, uniform access and protect; each key's purpose, rotation and protect; and for each
service account who may impersonate it (its ``roles/iam.workloadIdentityUser`` principal sets,
read against the pool provider's attribute mapping and condition) and every role it is granted
(on the project, the bucket, the keys, service accounts, DNS zones, Kubernetes RBAC and admission
policies), with each IAM condition's title and expression.

``is_bootstrap(plan)`` tells such a plan from a program stack's; ``summary_lines(plan)`` is the
whole summary.md (join with newlines).
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


def _project_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> project."""
    parts = urn.split("::")
    return parts[1] if len(parts) > 2 else ""


def is_bootstrap(plan: dict) -> bool:
    """A plan of the bootstrap project: its resources' URNs name it, or its components are the
    bootstrap's."""
    resources = plan.get("resources", [])
    return any(_project_of(r.get("urn", "")) == BOOTSTRAP_PROJECT or r["type"].startswith(COMPONENT_PREFIX)
               for r in resources)


def _of(plan: dict, resource_type: str) -> list[dict]:
    return sorted((r for r in plan.get("resources", []) if r["type"] == resource_type and not r.get("read")),
                  key=lambda r: r["name"])


def _code(value: Any) -> str:
    return f"`{value}`"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _days(period: Any) -> str:
    found = re.fullmatch(r"([0-9]+)s", str(period or ""))
    if not found:
        return "none" if not period else _code(period)
    seconds = int(found.group(1))
    return (f"every {seconds // 86400} days ({_code(period)})" if seconds % 86400 == 0
            else f"every {_code(period)}")


# --- the bucket and the keys --------------------------------------------------------------------

def _lifecycle(rules: list[dict]) -> str:
    if not rules:
        return "none"
    said = []
    for rule in rules:
        action = (rule.get("action") or {}).get("type")
        condition = ", ".join(f"{_code(k)} {_code(v)}" for k, v in sorted((rule.get("condition") or {}).items()))
        said.append(f"{_code(action)} when {condition or 'always'}")
    return "; ".join(said)


def _bucket_lines(plan: dict) -> list[str]:
    buckets = _of(plan, BUCKET)
    if not buckets:
        return []
    lines = ["## State bucket", ""]
    for bucket in buckets:
        b = bucket["inputs"]
        versioning = (b.get("versioning") or {}).get("enabled")
        retention = b.get("retentionPolicy")
        lines += [
            f"- {_code(b.get('name'))} in {_code(b.get('location'))} (project {_code(b.get('project'))})",
            f"- Versioning: {'on: every state write keeps the version it replaces' if versioning else 'off'}",
            f"- Lifecycle: {_lifecycle(b.get('lifecycleRules') or [])}",
            "- Retention policy: " + (", ".join(f"{_code(k)} {_code(v)}" for k, v in sorted(retention.items()))
                                      if isinstance(retention, dict) and retention else "none"),
            f"- Public access prevention: {_code(b.get('publicAccessPrevention') or 'inherited')}",
            f"- Uniform bucket-level access: {'on (IAM only, no object ACLs)' if b.get('uniformBucketLevelAccess') else 'off'}",
            f"- Force destroy: {'on' if b.get('forceDestroy') else 'off'}; protect: {_yes(bucket.get('protect'))}",
        ]
    url = (plan.get("outputs") or {}).get("stateUrl")
    if url:
        lines.append(f"- State URL (`pulumi login`): {_code(url)}")
    return lines + [""]


def _key_lines(plan: dict) -> list[str]:
    rings, keys = _of(plan, KEY_RING), _of(plan, CRYPTO_KEY)
    if not rings and not keys:
        return []
    lines = ["## Secrets keys (Cloud KMS)", ""]
    for ring in rings:
        r = ring["inputs"]
        lines.append(f"Key ring {_code(r.get('name'))} in {_code(r.get('location'))} (project "
                     f"{_code(r.get('project'))}), protect: {_yes(ring.get('protect'))}.")
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

def _ternary(expression: str) -> list[tuple[str | None, str]]:
    """``a ? 'x' : b ? 'y' : 'z'`` -> [(a, x), (b, y), (None, z)]: a CEL ternary chain split at
    its top-level ``?`` and ``:`` (quoted text kept whole)."""
    parts, current, quoted = [], "", False
    for char in expression:
        if char == "'":
            quoted = not quoted
        if not quoted and char in "?:":
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    found: list[tuple[str | None, str]] = []
    for index in range(0, len(parts) - 1, 2):
        found.append((parts[index], parts[index + 1].strip("'")))
    if len(parts) % 2:
        found.append((None, parts[-1].strip("'")))
    return found


def _pool_context(plan: dict) -> tuple[dict[str, str], str]:
    """The pool provider's attribute mapping and condition."""
    providers = _of(plan, POOL_PROVIDER)
    if not providers:
        return {}, ""
    inputs = providers[0]["inputs"]
    return dict(inputs.get("attributeMapping") or {}), str(inputs.get("attributeCondition") or "")


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
            text += (f" (the mapping's case {_code(case)}"
                     + (f", after {', '.join(earlier)}" if earlier else "") + ")")
            break
    clause = _guard(condition, f"attribute.{attribute} != '{value}' || ")
    if clause:
        text += f", admitted by the provider only if {_code(clause)}"
    return text


def _guard(condition: str, opening: str) -> str | None:
    """In ``... && (attribute.x != 'v' || <clause>) && ...``, the clause: what the provider's
    condition asks of a token mapped to ``v`` (parentheses balanced, quoted text skipped)."""
    start = condition.find("(" + opening)
    if start < 0:
        return None
    depth, quoted = 0, False
    for index in range(start, len(condition)):
        char = condition[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return condition[start + 1 + len(opening):index].strip()
    return None


def _where(resource: dict) -> str:
    """The resource an IAM member resource grants on."""
    i, kind = resource["inputs"], resource["type"]
    if kind.startswith("gcp:projects/"):
        return f"project {_code(i.get('project'))}"
    if kind.startswith("gcp:storage/"):
        return f"bucket {_code(i.get('bucket'))}"
    if kind.startswith("gcp:kms/"):
        return f"key {_code(str(i.get('cryptoKeyId', '')).rsplit('/', 1)[-1])}"
    if kind.startswith("gcp:serviceaccount/"):
        return f"service account {_code(str(i.get('serviceAccountId', '')).rsplit('/', 1)[-1])}"
    if kind.startswith("gcp:dns/"):
        return f"DNS zone {_code(i.get('managedZone'))}"
    return f"{_code(kind)} {_code(resource['name'])}"


def _is_grant(resource: dict) -> bool:
    return ("IAMMember" in resource["type"] or "IamMember" in resource["type"]) and "member" in resource["inputs"]


def grant_text(resource: dict) -> str:
    """``<role> on <where>`` and, for a conditional grant, ``only if **<title>**: <expression>``."""
    inputs = resource["inputs"]
    text = f"{_code(inputs.get('role'))} on {_where(resource)}"
    condition = inputs.get("condition")
    if isinstance(condition, dict) and condition:
        text += f", only if {_code(condition.get('title'))}: {_code(condition.get('expression'))}"
    return text


def _email(account: dict) -> str:
    inputs = account["inputs"]
    return f"{inputs.get('accountId')}@{inputs.get('project')}.iam.gserviceaccount.com"


def _kubernetes_api(plan: dict, resource: dict) -> str:
    """The Kubernetes API a resource is applied to: its provider's clusterIdentifier."""
    provider = resource.get("provider") or ""
    for candidate in plan.get("resources", []):
        if candidate["type"] == "pulumi:providers:kubernetes" and provider.startswith(candidate["urn"]):
            identifier = candidate["inputs"].get("clusterIdentifier")
            return _code(identifier or candidate["name"])
    return _code(provider.rsplit("::", 1)[-1] or "?")


def identity_lines(plan: dict, account: dict) -> list[str]:
    """One service account's section: who may impersonate it and every grant it holds."""
    email = _email(account)
    member = f"serviceAccount:{email}"
    kinds = {v: k for k, v in ((plan.get("outputs") or {}).get("serviceAccounts") or {}).items()}
    kind = kinds.get(email)
    inputs = account["inputs"]
    lines = [f"### {_code(email)}" + (f" ({_code(kind)})" if kind else ""), ""]
    if inputs.get("description"):
        lines += [f"{_code(inputs['description'])}", ""]
    mapping, condition = _pool_context(plan)
    federation = [r for r in plan.get("resources", []) if _is_grant(r) and r["inputs"].get("role") == FEDERATION_ROLE
                  and str(r["inputs"].get("serviceAccountId", "")).endswith(f"/{email}")]
    lines.append(f"- May impersonate it ({_code(FEDERATION_ROLE)}): "
                 + ("; ".join(_principal(str(r["inputs"].get("member")), mapping, condition) for r in federation)
                    if federation else "no one through the pool"))
    grants = [r for r in plan.get("resources", []) if _is_grant(r) and r["inputs"].get("member") == member]
    for grant in sorted(grants, key=lambda r: (_where(r), str(r["inputs"].get("role")))):
        lines.append(f"- {grant_text(grant)}")
    for binding in (r for t in RBAC_BINDINGS for r in _of(plan, t)):
        subjects = binding["inputs"].get("subjects") or []
        if any(s.get("name") == email for s in subjects):
            ref = binding["inputs"].get("roleRef") or {}
            meta = binding["inputs"].get("metadata") or {}
            lines.append(f"- Kubernetes API {_kubernetes_api(plan, binding)}: {_code(binding['inputs'].get('kind'))} "
                         f"{_code(meta.get('name'))} grants {_code(ref.get('kind'))} {_code(ref.get('name'))}"
                         + (f" in namespace {_code(meta['namespace'])}" if meta.get("namespace") else ""))
    for policy in _of(plan, ADMISSION_POLICY):
        conditions = (policy["inputs"].get("spec") or {}).get("matchConditions") or []
        named = [c for c in conditions if email in str(c.get("expression", ""))]
        if not named:
            continue
        name = _code((policy["inputs"].get("metadata") or {}).get("name"))
        applies = any(f"== '{email}'" in str(c.get("expression")) for c in named)
        lines.append(f"- Kubernetes API {_kubernetes_api(plan, policy)}: "
                     + (f"its requests must pass admission policy {name}" if applies
                        else f"exempt from admission policy {name} (its match conditions leave it out)"))
    return lines + [""]


def _identities_lines(plan: dict) -> list[str]:
    accounts = _of(plan, ACCOUNT)
    if not accounts:
        return []
    lines = ["## CI identities", ""]
    for pool in _of(plan, POOL):
        p = pool["inputs"]
        lines.append(f"Workload Identity pool {_code(p.get('workloadIdentityPoolId'))} (project {_code(p.get('project'))}).")
    for provider in _of(plan, POOL_PROVIDER):
        p = provider["inputs"]
        issuer = (p.get("oidc") or {}).get("issuerUri")
        lines += ["", f"Its provider {_code(p.get('workloadIdentityPoolProviderId'))} takes tokens of issuer "
                  f"{_code(issuer)} and admits one only if:", "",
                  f"{_code(p.get('attributeCondition'))}", "",
                  "| Attribute | From the token |", "|---|---|"]
        lines += [f"| {_code(name)} | {_code(value)} |" for name, value in sorted((p.get("attributeMapping") or {}).items())]
    lines.append("")
    roles = _of(plan, CUSTOM_ROLE)
    if roles:
        lines += ["Custom roles: " + "; ".join(
            f"{_code('projects/' + str(r['inputs'].get('project')) + '/roles/' + str(r['inputs'].get('roleId')))} "
            f"({_code(r['inputs'].get('title'))}): " + ", ".join(_code(x) for x in r["inputs"].get("permissions", []))
            for r in roles) + ".", ""]
    for account in accounts:
        lines += identity_lines(plan, account)
    return lines


def summary_lines(plan: dict) -> list[str]:
    """The bootstrap's whole summary.md: the bucket, the keys, each CI identity, what it costs,
    the resources by type and what is protected."""
    lines = [f"# Stack `{plan.get('stack', '?')}` — offline preview of the bootstrap", "",
             "The team's Pulumi backend (`bootstrap/`): the state bucket, the keys that encrypt stack "
             "secrets, and the CI identities that use them: GitHub's OIDC token, exchanged through "
             "Workload Identity Federation, for one service account per job kind (no key exists).",
             "Fake cloud values (`preview-` names, a zero project number) stand in for what GCP assigns "
             "at deploy time.", ""]
    lines += _bucket_lines(plan)
    lines += _key_lines(plan)
    lines += _identities_lines(plan)
    estimate = cost.estimate(plan)
    lines += cost.summary_lines(estimate)
    if estimate.has_table:
        lines += ["The bucket's storage and operations are usage, not included.", ""]
    counts = Counter(r["type"] for r in plan.get("resources", []))
    read = Counter(r["type"] for r in plan.get("resources", []) if r.get("read"))
    lines += [f"## Resources ({sum(counts.values())})", "", "| Type | Count |", "|---|---|"]
    lines += [f"| `{kind}` | {count}" + (f" ({read[kind]} read only, not managed here)" if read[kind] else "") + " |"
              for kind, count in sorted(counts.items())]
    lines.append("")
    protected = sorted(r["name"] for r in plan.get("resources", []) if r.get("protect"))
    if protected:
        lines += [f"Protected from deletion: {', '.join(_code(p) for p in protected)}.", ""]
    return lines
