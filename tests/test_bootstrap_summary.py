"""The bootstrap's summary describes the bootstrap (#22, item 8): what preview/bootstrap_summary.py
writes for ``python -m preview backend``, checked against the plan's own resources: every service
account with each role it is granted (and each condition's title and expression) and who may
impersonate it, the state bucket and the keys; and no word of a cluster or a platform outside the
values it quotes (code spans)."""

from __future__ import annotations

import re

import pytest
from ci_identity import backend_plan
from conftest import ROOT, SHIPPED_STACKS, of_type

from preview import bootstrap_summary, locate_stack

BOOTSTRAP = ROOT / "bootstrap"


@pytest.fixture(scope="module")
def backend(build_dir) -> dict:
    assert locate_stack("backend") == BOOTSTRAP
    return backend_plan(build_dir)  # the session's preview, when another test made it


@pytest.fixture(scope="module")
def lines(backend) -> list[str]:
    return bootstrap_summary.summary_lines(backend)


def section(lines: list[str], heading: str) -> list[str]:
    """The lines under ``heading`` up to the next heading of the same or a higher level."""
    start = lines.index(heading)
    level = heading.split(" ", 1)[0]
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("#") and len(lines[i].split(" ", 1)[0]) <= len(level)), len(lines))
    return lines[start + 1:end]


def email(account: dict) -> str:
    return f"{account['inputs']['accountId']}@{account['inputs']['project']}.iam.gserviceaccount.com"


def target(grant: dict) -> str:
    """What the IAM member resource grants on, as its inputs name it."""
    inputs = grant["inputs"]
    for key in ("bucket", "managedZone", "cryptoKeyId", "serviceAccountId", "project"):
        if key in inputs:
            return str(inputs[key]).rsplit("/", 1)[-1]
    raise AssertionError(grant["type"])


def test_is_bootstrap_tells_the_bootstrap_from_the_programs_stacks(backend, plans):
    assert bootstrap_summary.is_bootstrap(backend)
    assert not any(bootstrap_summary.is_bootstrap(plans[stack]) for stack in SHIPPED_STACKS)


def test_every_service_account_appears_with_each_role_and_condition(backend, lines):
    accounts = of_type(backend, "gcp:serviceaccount/account:Account")
    assert accounts
    grants = [r for r in backend["resources"] if r["type"].endswith(("IAMMember", "IamMember"))]
    for account in accounts:
        heading = next(line for line in lines if line.startswith(f"### `{email(account)}`"))
        body = section(lines, heading)
        own = [g for g in grants if g["inputs"]["member"] == f"serviceAccount:{email(account)}"]
        assert own, email(account)
        for grant in own:
            role, where = grant["inputs"]["role"], target(grant)
            found = [line for line in body if line.startswith(f"- `{role}` on ") and f"`{where}`" in line]
            assert found, (email(account), role, where)
            condition = grant["inputs"].get("condition")
            if condition:
                assert any(f"only if `{condition['title']}`: `{condition['expression']}`" in line
                           for line in found), (email(account), role)
        # Who may impersonate it: each workloadIdentityUser binding's principal set, by attribute.
        federation = [g for g in grants if g["inputs"]["role"] == "roles/iam.workloadIdentityUser"
                      and g["inputs"]["serviceAccountId"].endswith(f"/{email(account)}")]
        assert federation, email(account)
        impersonate = next(line for line in body if line.startswith("- May impersonate it"))
        for binding in federation:
            attribute, value = re.fullmatch(r".*/attribute\.([a-z_]+)/(.+)", binding["inputs"]["member"]).groups()
            assert f"whose `attribute.{attribute}` is `{value}`" in impersonate


def test_the_pool_provider_condition_and_mapping_appear(backend, lines):
    (provider,) = of_type(backend, ":WorkloadIdentityPoolProvider")
    text = "\n".join(lines)
    assert f"`{provider['inputs']['attributeCondition']}`" in lines
    for name, expression in provider["inputs"]["attributeMapping"].items():
        assert f"| `{name}` | `{expression}` |" in text
    assert f"`{provider['inputs']['oidc']['issuerUri']}`" in text


def test_the_bucket_and_the_keys_appear(backend, lines):
    (bucket,) = of_type(backend, "gcp:storage/bucket:Bucket")
    b = bucket["inputs"]
    body = section(lines, "## State bucket")
    assert f"- `{b['name']}` in `{b['location']}` (project `{b['project']}`)" in body
    assert any(line.startswith("- Versioning: on") for line in body) is b["versioning"]["enabled"]
    for rule in b["lifecycleRules"]:
        for key, value in rule["condition"].items():
            assert any(f"`{key}` `{value}`" in line for line in body if line.startswith("- Lifecycle:"))
    assert f"- Public access prevention: `{b['publicAccessPrevention']}`" in body
    assert any(line.startswith("- Uniform bucket-level access: on") for line in body) is b["uniformBucketLevelAccess"]
    assert f"- Force destroy: off; protect: {'yes' if bucket['protect'] else 'no'}" in body
    keys = section(lines, "## Secrets keys (Cloud KMS)")
    for ring in of_type(backend, "gcp:kms/keyRing:KeyRing"):
        assert any(line.startswith(f"Key ring `{ring['inputs']['name']}` in `{ring['inputs']['location']}`")
                   for line in keys)
    for key in of_type(backend, "gcp:kms/cryptoKey:CryptoKey"):
        k = key["inputs"]
        days = int(k["rotationPeriod"].removesuffix("s")) // 86400
        assert any(line.startswith(f"| `{k['name']}` | `{k['purpose']}` | every {days} days ")
                   and line.endswith(f"| {'yes' if key['protect'] else 'no'} |") for line in keys), k["name"]


def test_nothing_says_cluster_or_platform(lines):
    """Outside the values quoted from the plan (code spans: role and account names, conditions),
    the summary is the bootstrap's: no cluster section, no "owns the platform"."""
    prose = re.sub(r"`[^`]*`", "", "\n".join(lines))
    assert not re.search(r"cluster|platform", prose, re.IGNORECASE), \
        [line for line in prose.splitlines() if re.search(r"cluster|platform", line, re.IGNORECASE)]
    assert lines[0] == "# Stack `backend` — offline preview of the bootstrap"
