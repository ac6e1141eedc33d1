"""The team's Pulumi backend (state in GCS, versioned and private; secrets under Cloud KMS) and the
CI identities that use it (GitHub OIDC -> Workload Identity Federation -> one service account per
job kind), with what each may do on the platforms the owner stacks built."""

import json
import re
import sys
from pathlib import Path
from typing import NoReturn

import pulumi
import pulumi_gcp as gcp

# The repository's own modules: the stack files (components/stackset.py) decide which stacks each
# identity deploys, by the rule the workflows route by (tools/ci.py).
REPOSITORY = Path(__file__).resolve().parent.parent
if (REPOSITORY / "components").is_dir() and str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from ci_identities import (  # noqa: E402
    ENVIRONMENT_KEY,
    OWNER_KEY,
    PREVIEW_ENVIRONMENT_KEY,
    CiIdentities,
    CiIdentitiesArgs,
    GitHubRepository,
    StackOwnership,
)
from platform_access import Platform, PlatformAccess, PlatformAccessArgs  # noqa: E402
from state_backend import StateBackend, StateBackendArgs  # noqa: E402

from components.stackset import StackSet  # noqa: E402
from tools.ci import CiError, check_stack_names, platform_stacks  # noqa: E402

NAMESPACE = "istio-envs-bootstrap"
STACK_FILE = f"Pulumi.{pulumi.get_stack()}.yaml"
config = pulumi.Config(NAMESPACE)

PROJECT_ID = (r"[a-z][-a-z0-9]{4,28}[a-z0-9]", "a GCP project id")
REGION = (r"[a-z]+-[a-z]+[0-9]+", "a GCP region such as europe-west1")
# Stack names, cluster and zone names: lowercase letters, digits and '-'.
NAME = (r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", "a name of lowercase letters, digits and '-'")
LOCATION = (r"[a-z]+-[a-z]+[0-9]+(-[a-z])?", "a GCP region or zone such as us-central1")


def refuse(key: str, value, expected: str) -> NoReturn:
    raise pulumi.RunError(f"{STACK_FILE}: {NAMESPACE}:{key}: got {value!r}; expected {expected}")


def setting(key: str, pattern: str, expected: str, default=None) -> str:
    """One validated value; a bad one stops the program with the file, key and expected form."""
    value = config.get(key) or default
    if value is None or not re.fullmatch(pattern, str(value)):
        refuse(key, value, expected)
    return str(value)


def whole(key: str, low: int, high: int, default: int) -> int:
    expected = f"an integer from {low} to {high}"
    value = int(setting(key, r"[0-9]{1,5}", expected, default))
    if not low <= value <= high:
        refuse(key, value, expected)
    return value


def platforms(key: str = "platforms") -> tuple[Platform, ...]:
    """The owner stacks' platforms: what the environment identity may touch (platform_access.py).
    Absent until the owner's first deploy has made the zone and the cluster."""
    raw = config.get_object(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        refuse(key, raw, "a list of {stack, location, cluster, dnsZone[, environment]}")
    fields = {"stack": NAME, "location": LOCATION, "cluster": NAME, "dnsZone": NAME, "environment": NAME}
    found = []
    for index, entry in enumerate(raw):
        where = f"{key}[{index}]"
        if not isinstance(entry, dict):
            refuse(where, entry, "a mapping {stack, location, cluster, dnsZone[, environment]}")
        unknown = sorted(set(entry) - set(fields))
        if unknown:
            refuse(f"{where}.{unknown[0]}", entry[unknown[0]], "one of " + ", ".join(fields))
        values = {"environment": entry.get("stack"), **entry}
        for name, (pattern, expected) in fields.items():
            if not isinstance(values.get(name), str) or not re.fullmatch(pattern, values[name]):
                refuse(f"{where}.{name}", values.get(name), expected)
        found.append(Platform(stack=values["stack"], location=values["location"], cluster=values["cluster"],
                              dns_zone=values["dnsZone"], environment=values["environment"]))
    stacks = [p.stack for p in found]
    if len(set(stacks)) != len(stacks):
        refuse(key, stacks, "each owner stack once")
    return tuple(found)


project = setting("project", *PROJECT_ID)
args = StateBackendArgs(
    project=project,
    location=setting("location", *REGION),
    bucket_name=setting("bucketName", r"[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]",
                        "a bucket name (3-63 lowercase letters, digits, '-' and '_')"),
    kept_state_versions=whole("keptStateVersions", 1, 1000, 20),
    # KMS accepts 1 day to 100 years; past 90 days CIS flags the key.
    key_rotation_days=whole("keyRotationDays", 1, 90, 90),
)
github = GitHubRepository(
    name=setting("githubRepository", r"[A-Za-z0-9][-A-Za-z0-9]{0,38}/[-._A-Za-z0-9]{1,100}",
                 "owner/repository, as in the repository's URL"),
    id=setting("githubRepositoryId", r"[1-9][0-9]{0,19}",
               "the repository's numeric id (gh api repos/OWNER/REPO --jq .id)"),
    owner_id=setting("githubOwnerId", r"[1-9][0-9]{0,19}",
                     "the owner's numeric id (gh api repos/OWNER/REPO --jq .owner.id)"),
)
owner_platforms = platforms()


def stack_ownership(project_dir: Path) -> StackOwnership:
    """Who deploys which stack, from the project's stack files (not from ``platforms``, which
    lists only what already exists)."""
    stacks = StackSet.load(project_dir)
    try:
        check_stack_names(stacks)
    except CiError as err:
        raise pulumi.RunError(f"{STACK_FILE}: {err}") from None
    acme = any(isinstance(tls := stacks[o].config.get("istio-envs:platform", {}).get("tls"), dict)
               and tls.get("source") == "acme" for o in stacks.owners)
    return StackOwnership(platform=tuple(platform_stacks(stacks)), acme=acme)


ownership = stack_ownership(REPOSITORY)
provider = gcp.Provider("gcp", project=args.project, region=args.location)
on_gcp = pulumi.ResourceOptions(providers={"gcp": provider})
backend = StateBackend("backend", args, opts=on_gcp)
identities = CiIdentities("ci", CiIdentitiesArgs(
    project=project,
    identity_project=setting("identityProject", *PROJECT_ID, default=project),
    github=github, bucket_name=backend.bucket_name, keys=backend.key_ids, stacks=ownership), opts=on_gcp)
if owner_platforms:
    PlatformAccess("access", PlatformAccessArgs(
        project=project, platforms=owner_platforms, acme=ownership.acme,
        environments_email=identities.emails["environments"],
        preview_environments_email=identities.emails["preview-environments"],
        platform_email=identities.emails["platform"]), opts=on_gcp)

pulumi.export("stateUrl", backend.state_url)
pulumi.export("secretsProvider", backend.secrets_provider)
pulumi.export("secretsProviders", backend.secrets_providers)
pulumi.export("workloadIdentityProvider", identities.provider_name)
pulumi.export("serviceAccounts", identities.emails)
# What `gh variable set` takes, by where it is set: the repository (every job) or one GitHub
# environment (only jobs bound to it). The deploying identities' emails sit in their environment.
pulumi.export("githubVariables", {
    "repository": {
        "PULUMI_BACKEND_URL": backend.state_url,
        # Stacks are created with their kind's key: owners (by the platform admin), attached
        # stacks (deploy.yml), per-pull-request stacks (preview-environment.yml).
        "PULUMI_SECRETS_PROVIDER": backend.secrets_providers[OWNER_KEY],
        "PULUMI_ENVIRONMENT_SECRETS_PROVIDER": backend.secrets_providers[ENVIRONMENT_KEY],
        "PULUMI_PREVIEW_ENVIRONMENT_SECRETS_PROVIDER": backend.secrets_providers[PREVIEW_ENVIRONMENT_KEY],
        "GCP_WORKLOAD_IDENTITY_PROVIDER": identities.provider_name,
        "GCP_PREVIEW_SERVICE_ACCOUNT": identities.emails["preview"],
        # Risk classes that fail a pull request's offline revision diff (preview/risks.py).
        "BLOCKING_RISKS": "protected-delete",
        # The stacks whose state only the platform identity may write: deploy.yml refuses to hand
        # any other stack to it (tools/ci.py rollout).
        "PLATFORM_STACKS": json.dumps(list(ownership.platform)),
    },
    "platform": {"GCP_PLATFORM_SERVICE_ACCOUNT": identities.emails["platform"]},
    "environments": {"GCP_ENVIRONMENTS_SERVICE_ACCOUNT": identities.emails["environments"]},
    "preview-environments": {
        "GCP_PREVIEW_ENVIRONMENTS_SERVICE_ACCOUNT": identities.emails["preview-environments"]},
})
