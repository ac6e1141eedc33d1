"""The CI identities: GitHub's OIDC token, exchanged through Workload Identity Federation, for one
service account per job kind; no JSON key exists anywhere (the model: docs/identities.md). Who may
become whom is decided here, in Google Cloud, not in the workflows: a pull request can rewrite any
workflow file, so a rule that lives only in YAML is no rule.

The provider admits one repository's tokens, by its numeric ids, which are never re-used
(google-github-actions/auth docs/SECURITY_CONSIDERATIONS.md). GitHub's token claims are documented
in "About security hardening with OpenID Connect": the ``sub`` of a job bound to an environment is
``repo:<owner>/<repo>:environment:<name>``, of any other pull-request job
``repo:<owner>/<repo>:pull_request``, else ``repo:<owner>/<repo>:ref:<ref>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_gcp import iam, kms, projects, serviceaccount, storage

# The GitHub environments the deploying jobs are bound to, main's ref and the per-pull-request
# stacks' names: one home, which the workflows' commands use too.
from tools.ci import ENVIRONMENTS, MAIN_REF, PLATFORM, PR_STACK_PREFIX, PREVIEW_ENVIRONMENTS

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
POOL_ID = "github"
PROVIDER_ID = "github-actions"
DEPLOYING_ENVIRONMENTS = (PLATFORM, ENVIRONMENTS, PREVIEW_ENVIRONMENTS)
NO_ENVIRONMENT = "none"
# attribute.trigger: what started the run. Only these two reach the preview identity: main's own
# (reviewed) workflows, and pull_request events (a pull request exists and its checks show it).
TRIGGER_MAIN, TRIGGER_PULL_REQUEST, TRIGGER_OTHER = "main", "pull_request", "other"
# The program's Pulumi project (Pulumi.yaml), whose stacks' state the deployers write.
PROGRAM_PROJECT = "istio-envs"
# The only project-level roles an owner stack grants (its node service account's two, and
# environment owners' cluster credentials): the platform identity may add or remove bindings of
# these and of no other (tests/test_bootstrap.py derives the set from the owner stacks' previews).
DELEGATED_PROJECT_ROLES = ("roles/artifactregistry.reader", "roles/container.clusterViewer",
                           "roles/container.defaultNodeServiceAccount")
# The KMS keys (state_backend.py) by the kind of stack that is created with them.
OWNER_KEY, ENVIRONMENT_KEY, PREVIEW_ENVIRONMENT_KEY = "owners", "environments", "preview-environments"


@dataclass(frozen=True)
class GitHubRepository:
    name: str
    """``owner/repo``."""
    id: str
    """Numeric repository id (``gh api repos/<owner>/<repo> --jq .id``)."""
    owner_id: str
    """Numeric id of the owner (``gh api repos/<owner>/<repo> --jq .owner.id``)."""


@dataclass(frozen=True)
class StackOwnership:
    """Which stacks each identity deploys, from the stack files (tools/ci.py ``deployer``)."""

    platform: tuple[str, ...]
    """Owner stacks and the attached stacks that write into the gateway namespace (MUTUAL)."""
    acme: bool
    """An owner uses tls.source acme (its DNS-01 custom role needs role administration)."""


@dataclass(frozen=True)
class CiIdentitiesArgs:
    project: str
    """The project whose resources the stacks manage (roles are granted here)."""
    identity_project: str
    """Where the pool and the service accounts live (may be ``project``)."""
    github: GitHubRepository
    bucket_name: pulumi.Input[str]
    keys: Mapping[str, pulumi.Input[str]]
    """Key kind (``OWNER_KEY``, ...) -> KMS key id."""
    stacks: StackOwnership


@dataclass(frozen=True)
class Grant:
    role: str
    why: str


@dataclass(frozen=True)
class Identity:
    """One CI service account, and everything it is granted beyond the state bucket."""

    account_id: str
    description: str
    roles: tuple[Grant, ...]
    """Project-level roles, each with its reason. The bucket, key, zone, cluster and
    service-account grants are made on those resources alone (below and in platform_access.py)."""
    keys: Mapping[str, str]
    """Key kind -> ``D`` (decrypts) or ``E`` (also encrypts: creates stacks). Every stack an
    identity previews or updates needs its own key and, for an attached stack, its owner's: a
    StackReference reads the owner's outputs, and the owner's kubeconfig output is a secret."""
    principals: tuple[tuple[str, str], ...]
    """(mapped attribute, value) of each principal set bound to it (attribute_mapping)."""


CLUSTER_VIEWER = Grant("roles/container.clusterViewer", "finding the cluster and connecting to its DNS "
                       "endpoint; no Kubernetes object through IAM, so RBAC alone decides")
IDENTITIES: dict[str, Identity] = {
    # Pull requests and the daily drift check: `pulumi preview`, which reads and never writes.
    "preview": Identity(
        "istio-envs-preview", "pulumi preview in pull requests and the daily drift check: reads, never writes", (
            Grant("roles/container.viewer", "the cluster and its Kubernetes objects, read-only through the "
                  "DNS endpoint (not Secrets); a dry run it may not make falls back to a client-side diff"),
            Grant("roles/dns.reader", "the zone lookups a preview makes (getManagedZone, getKeys for the DS "
                  "record)")),
        {OWNER_KEY: "D", ENVIRONMENT_KEY: "D"}, (("trigger", TRIGGER_MAIN), ("trigger", TRIGGER_PULL_REQUEST))),
    # The owner stacks (cluster, mesh, zone, certificate, gateway) and attached stacks whose
    # environment writes into the gateway namespace (MUTUAL). No service-account role at the
    # project: it acts as the node account and administers the DNS-01 account on those two
    # accounts alone (platform_access.py), so it can become no other service account.
    "platform": Identity(
        "istio-envs-platform", "pulumi up of the owner stacks (GitHub environment platform)", (
            Grant("roles/container.admin", "the cluster and node pool, and every Kubernetes object through "
                  "the DNS endpoint (cluster-admin)"),
            Grant("roles/compute.networkAdmin", "the VPC, subnet, router, Cloud NAT and the reserved ingress IP"),
            Grant("roles/compute.securityAdmin", "the firewall rule that lets the control plane reach "
                  "istiod's webhook"),
            Grant("roles/dns.admin", "the managed zone with DNSSEC, its records, and zone-level IAM (the "
                  "acme DNS-01 grant)"),
            Grant("roles/binaryauthorization.policyEditor", "the Binary Authorization policy")),
        {OWNER_KEY: "D", ENVIRONMENT_KEY: "E"}, (("environment", PLATFORM),)),
    # Attached stacks: their namespaces and A records only; Kubernetes RBAC, not IAM, decides what
    # it may touch in the cluster (platform_access.py).
    "environments": Identity(
        "istio-envs-environments", "pulumi up of attached stacks (GitHub environment environments)",
        (CLUSTER_VIEWER,), {OWNER_KEY: "D", ENVIRONMENT_KEY: "E"}, (("environment", ENVIRONMENTS),)),
    # Per-pull-request stacks: pr-* namespaces and their A records (platform_access.py).
    "preview-environments": Identity(
        "istio-envs-pr-environments", "pulumi up of per-pull-request stacks (GitHub environment "
        "preview-environments)", (CLUSTER_VIEWER,), {OWNER_KEY: "D", PREVIEW_ENVIRONMENT_KEY: "E"},
        (("environment", PREVIEW_ENVIRONMENTS),)),
}
# Only where an owner uses tls.source acme: its DNS-01 custom role (components/cert_manager.py).
ACME_ROLE = Grant("roles/iam.roleAdmin", "the DNS-01 custom role of the acme certificate source")
KMS_ROLE = {"D": "roles/cloudkms.cryptoKeyDecrypter", "E": "roles/cloudkms.cryptoKeyEncrypterDecrypter"}


def principal_set(pool_name: str, attribute: str, value: str) -> str:
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.{attribute}/{value}"


def environment_subject(repo: GitHubRepository, environment: str) -> str:
    return f"repo:{repo.name}:environment:{environment}"


def attribute_mapping(repo: GitHubRepository) -> dict[str, str]:
    """Token claims -> Google attributes. ``attribute.environment`` is derived from ``sub``, which
    every GitHub token carries (the ``environment`` claim is absent outside environment jobs);
    ``attribute.trigger`` from ``event_name`` and ``ref``."""
    environment = "'" + NO_ENVIRONMENT + "'"
    for name in reversed(DEPLOYING_ENVIRONMENTS):
        environment = f"assertion.sub == '{environment_subject(repo, name)}' ? '{name}' : {environment}"
    return {
        "google.subject": "assertion.sub",
        "attribute.repository_id": "assertion.repository_id",
        "attribute.ref": "assertion.ref",
        "attribute.environment": environment,
        "attribute.trigger": (f"assertion.event_name == 'pull_request' ? '{TRIGGER_PULL_REQUEST}' : "
                              f"assertion.ref == '{MAIN_REF}' ? '{TRIGGER_MAIN}' : '{TRIGGER_OTHER}'"),
    }


def attribute_condition(repo: GitHubRepository) -> str:
    """Which tokens the provider admits at all: this repository's (numeric ids), and a deploying
    environment's only from its ref: ``platform`` and ``environments`` from main;
    ``preview-environments`` from a pull request's merge ref of a pull_request event. The GitHub
    environments enforce the same (required reviewers, deployment branches); this holds even if
    their settings slip."""
    return (f"assertion.repository_id == '{repo.id}' && assertion.repository_owner_id == '{repo.owner_id}'"
            f" && assertion.sub.startsWith('repo:{repo.name}:')"
            f" && (attribute.environment != '{PLATFORM}' || assertion.ref == '{MAIN_REF}')"
            f" && (attribute.environment != '{ENVIRONMENTS}' || assertion.ref == '{MAIN_REF}')"
            f" && (attribute.environment != '{PREVIEW_ENVIRONMENTS}'"
            " || (assertion.ref.startsWith('refs/pull/') && assertion.event_name == 'pull_request'))")


FOLDERS = ("stacks", "history", "backups")


def state_prefixes(bucket: str, project: str, stack: str) -> tuple[str, ...]:
    """Every object a DIY backend keeps for one stack, as IAM resource-name prefixes: the
    checkpoint (``.json``, ``.json.gz``, ``.json.bak``), its history, backups and locks
    (pulumi/pulumi pkg/backend/diy/store.go projectReferenceStore, lock.go stackLockDir). With a
    ``stack`` ending in ``-`` (a name prefix), every stack whose name starts with it."""
    objects = f"projects/_/buckets/{bucket}/objects/.pulumi"
    tail = "" if stack.endswith("-") else "/"
    return (f"{objects}/stacks/{project}/{stack}" + ("" if stack.endswith("-") else ".json"),
            f"{objects}/history/{project}/{stack}{tail}", f"{objects}/backups/{project}/{stack}{tail}",
            f"{objects}/locks/organization/{project}/{stack}{tail}")


def project_state_prefixes(bucket: str, project: str) -> tuple[str, ...]:
    objects = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return tuple(f"{objects}/{folder}/{project}/" for folder in FOLDERS) + (
        f"{objects}/locks/organization/{project}/",)


def any_of(prefixes: tuple[str, ...]) -> str:
    return "(" + " || ".join(f"resource.name.startsWith('{prefix}')" for prefix in prefixes) + ")"


def none_of(prefixes: tuple[str, ...]) -> str:
    return " && ".join(f"!resource.name.startsWith('{prefix}')" for prefix in prefixes)


def writable_condition(identity: str, bucket: str, stacks: StackOwnership) -> str | None:
    """The objects an identity may write: an allow-list of its own stacks' prefixes. Nothing else
    (not .pulumi/meta.yaml, not another project's state, not the bootstrap's) is writable.

    - platform: the owner and MUTUAL stacks, by name.
    - preview-environments: stacks named pr-*.
    - environments: the program's stacks except those two sets: attached stacks are added by a
      pull request with no bootstrap run in between, so they are not known here by name."""
    own = {"platform": tuple(p for s in stacks.platform for p in state_prefixes(bucket, PROGRAM_PROJECT, s)),
           "preview-environments": state_prefixes(bucket, PROGRAM_PROJECT, PR_STACK_PREFIX)}
    if identity in own:
        return any_of(own[identity]) if own[identity] else "false"
    if identity == "environments":
        others = own["platform"] + own["preview-environments"]
        return any_of(project_state_prefixes(bucket, PROGRAM_PROJECT)) + (f" && {none_of(others)}" if others else "")
    return None


def delegated_grants_condition(roles: tuple[str, ...]) -> str:
    """IAM's "delegated role grants": a setIamPolicy that adds or removes a binding of any other
    role is refused (cloud.google.com/iam/docs/setting-limits-on-granting-roles)."""
    listed = ", ".join(f"'{role}'" for role in sorted(roles))
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{listed}])"


def project_roles(identity: str, stacks: StackOwnership) -> tuple[Grant, ...]:
    return IDENTITIES[identity].roles + ((ACME_ROLE,) if identity == "platform" and stacks.acme else ())


class CiIdentities(pulumi.ComponentResource):
    """Outputs: ``provider_name`` (the ``workload_identity_provider`` of google-github-actions/auth)
    and ``emails`` (identity -> service account email)."""

    def __init__(self, name: str, args: CiIdentitiesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:bootstrap:CiIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repo = args.github

        pool = iam.WorkloadIdentityPool(
            f"{name}-pool", workload_identity_pool_id=POOL_ID, project=args.identity_project,
            display_name="GitHub Actions", description=f"CI of {repo.name}", opts=child)
        provider = iam.WorkloadIdentityPoolProvider(
            f"{name}-github", workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id=PROVIDER_ID, project=args.identity_project,
            display_name="GitHub OIDC", description=f"tokens of {repo.name} only",
            attribute_mapping=attribute_mapping(repo), attribute_condition=attribute_condition(repo),
            # No allowed_audiences: the token's audience must then be this provider's own resource
            # name, which is what google-github-actions/auth requests by default.
            oidc={"issuer_uri": GITHUB_ISSUER}, opts=child)

        self.accounts: dict[str, serviceaccount.Account] = {}
        self.emails: dict[str, pulumi.Output[str]] = {}
        for identity, spec in IDENTITIES.items():
            account = serviceaccount.Account(
                f"{name}-{identity}", account_id=spec.account_id, project=args.identity_project,
                display_name=f"istio-envs CI: {identity}", description=spec.description, opts=child)
            self.accounts[identity] = account
            self.emails[identity] = account.email
            for index, (attribute, value) in enumerate(spec.principals):
                serviceaccount.IAMMember(
                    f"{name}-{identity}-federation" + (f"-{index}" if index else ""),
                    service_account_id=pulumi.Output.concat("projects/", args.identity_project,
                                                            "/serviceAccounts/", account.email),
                    role="roles/iam.workloadIdentityUser",
                    member=pool.name.apply(lambda p, a=attribute, v=value: principal_set(p, a, v)), opts=child)
            for grant in project_roles(identity, args.stacks):
                projects.IAMMember(f"{name}-{identity}-{grant.role.removeprefix('roles/')}",
                                   project=args.project, role=grant.role,
                                   member=_member(account), opts=child)

        # The platform identity grants its node service account's roles, and only those.
        projects.IAMMember(
            f"{name}-platform-projectIamAdmin", project=args.project,
            role="roles/resourcemanager.projectIamAdmin", member=_member(self.accounts["platform"]),
            condition={"title": "owner stacks' grants only",
                       "description": "may add or remove bindings of " + ", ".join(DELEGATED_PROJECT_ROLES),
                       "expression": delegated_grants_condition(DELEGATED_PROJECT_ROLES)},
            opts=child)

        # State: everyone reads it (a preview, a StackReference); each deployer writes its own
        # stacks' objects and nothing else.
        for identity, account in self.accounts.items():
            storage.BucketIAMMember(f"{name}-{identity}-state-reader", bucket=args.bucket_name,
                                    role="roles/storage.objectViewer", member=_member(account), opts=child)
            condition = pulumi.Output.from_input(args.bucket_name).apply(
                lambda bucket, i=identity: writable_condition(i, bucket, args.stacks))
            if identity != "preview":
                storage.BucketIAMMember(
                    f"{name}-{identity}-state-writer", bucket=args.bucket_name,
                    role="roles/storage.objectUser", member=_member(account),
                    condition={"title": f"{identity}: its own stacks' state only",
                               "expression": condition.apply(lambda c: c or "false")},
                    opts=child)
            for kind, access in IDENTITIES[identity].keys.items():
                kms.CryptoKeyIAMMember(
                    f"{name}-{identity}-secrets" + ("" if kind == OWNER_KEY else f"-{kind}"),
                    crypto_key_id=args.keys[kind], member=_member(account), role=KMS_ROLE[access], opts=child)

        self.provider_name = provider.name
        self.register_outputs({"provider_name": self.provider_name, "emails": self.emails})


def _member(account: serviceaccount.Account) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", account.email)
