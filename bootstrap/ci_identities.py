"""The CI identities: GitHub's OIDC token, exchanged through Workload Identity Federation, for one
service account per job kind. No JSON key exists anywhere.

Who may become whom is decided here, in Google Cloud, not in the workflows: a pull request can
rewrite any workflow file, so a rule that lives only in YAML is no rule.

- The pool's GitHub provider admits only tokens of one repository (its numeric ids, which are
  never re-used: google-github-actions/auth docs/SECURITY_CONSIDERATIONS.md), and refuses a token
  that names a deploying GitHub environment from the wrong ref (``attribute_condition``).
- Each service account is bound (``roles/iam.workloadIdentityUser``) to one ``principalSet``:
  ``preview`` to every token of the repository; ``platform`` and ``environments`` only to tokens of
  a job bound to that GitHub environment (its required reviewers and branch rule then gate it).

GitHub's token claims (``sub``, ``ref``, ``repository_id``, ...) are documented in "About security
hardening with OpenID Connect"; the ``sub`` of a job bound to an environment is
``repo:<owner>/<repo>:environment:<name>``, of any other pull-request job
``repo:<owner>/<repo>:pull_request``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import iam, kms, projects, serviceaccount, storage

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
POOL_ID = "github"
PROVIDER_ID = "github-actions"
# The GitHub environments the deploying jobs are bound to (.github/workflows/*.yml use the same).
PLATFORM_ENVIRONMENT = "platform"
ENVIRONMENTS_ENVIRONMENT = "environments"
NO_ENVIRONMENT = "none"
# Pulumi project names whose state sits in the bucket (Pulumi.yaml, bootstrap/Pulumi.yaml).
PROGRAM_PROJECT = "istio-envs"
BOOTSTRAP_PROJECT = "istio-envs-bootstrap"
# The only project-level roles an owner stack grants (its node service account's): the platform
# identity may add or remove bindings of these roles and of no other (tests/test_bootstrap.py
# derives the set from the owner stacks' previews).
# The node service account's two roles, and environment owners' cluster credentials.
DELEGATED_PROJECT_ROLES = ("roles/artifactregistry.reader", "roles/container.clusterViewer",
                           "roles/container.defaultNodeServiceAccount")


@dataclass(frozen=True)
class GitHubRepository:
    name: str
    """``owner/repo``."""
    id: str
    """Numeric repository id (``gh api repos/<owner>/<repo> --jq .id``)."""
    owner_id: str
    """Numeric id of the owner (``gh api repos/<owner>/<repo> --jq .owner.id``)."""


@dataclass(frozen=True)
class CiIdentitiesArgs:
    project: str
    """The project whose resources the stacks manage (roles are granted here)."""
    identity_project: str
    """Where the pool and the service accounts live (may be ``project``; a separate one keeps
    them out of reach of the platform identity's service-account and role administration)."""
    github: GitHubRepository
    bucket_name: pulumi.Input[str]
    key_id: pulumi.Input[str]
    owner_stacks: tuple[str, ...]
    """Owner stacks: the environment identity may read their state, never write it."""


@dataclass(frozen=True)
class Grant:
    role: str
    why: str


# Project-level roles of each identity, each with its reason. The bucket, key and zone grants are
# made on those resources alone (below and in platform_access.py).
PROJECT_ROLES: dict[str, tuple[Grant, ...]] = {
    # Pull requests and the daily drift check: `pulumi preview`, which reads and never writes.
    "preview": (
        Grant("roles/container.viewer", "the cluster and its Kubernetes objects, read-only through the "
              "DNS endpoint (not Secrets); a dry run it may not make falls back to a client-side diff"),
        Grant("roles/dns.reader", "the zone lookups a preview makes (getManagedZone, getKeys for the DS "
              "record)"),
    ),
    # The owner stacks (cluster, mesh, zone, certificate, gateway) and attached stacks whose
    # environment writes into the gateway namespace (MUTUAL).
    "platform": (
        Grant("roles/container.admin", "the cluster and node pool, and every Kubernetes object through "
              "the DNS endpoint (cluster-admin)"),
        Grant("roles/compute.networkAdmin", "the VPC, subnet, router, Cloud NAT and the reserved ingress IP"),
        Grant("roles/compute.securityAdmin", "the firewall rule that lets the control plane reach "
              "istiod's webhook"),
        Grant("roles/dns.admin", "the managed zone with DNSSEC, its records, and zone-level IAM (the "
              "acme DNS-01 grant)"),
        Grant("roles/iam.serviceAccountAdmin", "the node and cert-manager service accounts and their "
              "workload-identity bindings"),
        Grant("roles/iam.serviceAccountUser", "running the node pool as the node service account"),
        Grant("roles/iam.roleAdmin", "the DNS-01 custom role of the acme certificate source"),
        Grant("roles/binaryauthorization.policyEditor", "the Binary Authorization policy"),
    ),
    # Attached stacks: their namespaces and A records only; Kubernetes RBAC, not IAM, decides what
    # it may touch in the cluster (platform_access.py).
    "environments": (
        Grant("roles/container.clusterViewer", "finding the cluster and connecting to its DNS endpoint; "
              "no Kubernetes object through IAM, so RBAC alone decides"),
    ),
}


def principal_set(pool_name: str, attribute: str, value: str) -> str:
    return f"principalSet://iam.googleapis.com/{pool_name}/attribute.{attribute}/{value}"


def environment_subject(repo: GitHubRepository, environment: str) -> str:
    return f"repo:{repo.name}:environment:{environment}"


def attribute_mapping(repo: GitHubRepository) -> dict[str, str]:
    """Token claims -> Google attributes. ``attribute.environment`` is derived from ``sub``, which
    every GitHub token carries (the ``environment`` claim is absent outside environment jobs)."""
    platform, environments = (environment_subject(repo, e) for e in
                              (PLATFORM_ENVIRONMENT, ENVIRONMENTS_ENVIRONMENT))
    return {
        "google.subject": "assertion.sub",
        "attribute.repository_id": "assertion.repository_id",
        "attribute.ref": "assertion.ref",
        "attribute.environment": (f"assertion.sub == '{platform}' ? '{PLATFORM_ENVIRONMENT}' : "
                                  f"assertion.sub == '{environments}' ? '{ENVIRONMENTS_ENVIRONMENT}' : "
                                  f"'{NO_ENVIRONMENT}'"),
    }


def attribute_condition(repo: GitHubRepository) -> str:
    """Which tokens the provider admits at all: this repository's (numeric ids), and a deploying
    environment's only from its ref: ``platform`` from main; ``environments`` from main (attached
    stacks) or a pull request's merge ref (per-PR environments). The GitHub environments enforce
    the same (required reviewers, deployment branches); this holds even if their settings slip."""
    return (f"assertion.repository_id == '{repo.id}' && assertion.repository_owner_id == '{repo.owner_id}'"
            f" && assertion.sub.startsWith('repo:{repo.name}:')"
            f" && (attribute.environment != '{PLATFORM_ENVIRONMENT}' || assertion.ref == 'refs/heads/main')"
            f" && (attribute.environment != '{ENVIRONMENTS_ENVIRONMENT}' || assertion.ref == 'refs/heads/main'"
            " || assertion.ref.startsWith('refs/pull/'))")


def state_prefixes(bucket: str, project: str, stack: str) -> tuple[str, ...]:
    """Every object a DIY backend keeps for one stack, as IAM resource-name prefixes: the
    checkpoint (``.json``, ``.json.gz``, ``.json.bak``), its history, backups and locks
    (pulumi/pulumi pkg/backend/diy/store.go projectReferenceStore, lock.go stackLockDir)."""
    objects = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return (f"{objects}/stacks/{project}/{stack}.json", f"{objects}/history/{project}/{stack}/",
            f"{objects}/backups/{project}/{stack}/", f"{objects}/locks/organization/{project}/{stack}/")


def project_state_prefixes(bucket: str, project: str) -> tuple[str, ...]:
    objects = f"projects/_/buckets/{bucket}/objects/.pulumi"
    return tuple(f"{objects}/{folder}/{project}/" for folder in ("stacks", "history", "backups")) + (
        f"{objects}/locks/organization/{project}/",)


def none_of(prefixes: tuple[str, ...]) -> str:
    """A condition true for every resource whose name starts with none of ``prefixes`` (the bucket
    itself included, so listing works)."""
    return " && ".join(f"!resource.name.startsWith('{prefix}')" for prefix in prefixes)


def delegated_grants_condition(roles: tuple[str, ...]) -> str:
    """IAM's "delegated role grants": a setIamPolicy that adds or removes a binding of any other
    role is refused (cloud.google.com/iam/docs/setting-limits-on-granting-roles)."""
    listed = ", ".join(f"'{role}'" for role in sorted(roles))
    return f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{listed}])"


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

        members = {
            "preview": pool.name.apply(lambda p: principal_set(p, "repository_id", repo.id)),
            "platform": pool.name.apply(lambda p: principal_set(p, "environment", PLATFORM_ENVIRONMENT)),
            "environments": pool.name.apply(
                lambda p: principal_set(p, "environment", ENVIRONMENTS_ENVIRONMENT)),
        }
        descriptions = {
            "preview": "pulumi preview in pull requests and the daily drift check: reads, never writes",
            "platform": "pulumi up of the owner stacks (GitHub environment platform)",
            "environments": "pulumi up of attached and per-PR stacks (GitHub environment environments)",
        }
        accounts: dict[str, serviceaccount.Account] = {}
        self.emails: dict[str, pulumi.Output[str]] = {}
        for identity, description in descriptions.items():
            account = serviceaccount.Account(
                f"{name}-{identity}", account_id=f"istio-envs-{identity}", project=args.identity_project,
                display_name=f"istio-envs CI: {identity}", description=description, opts=child)
            accounts[identity] = account
            self.emails[identity] = account.email
            serviceaccount.IAMMember(
                f"{name}-{identity}-federation",
                service_account_id=pulumi.Output.concat("projects/", args.identity_project,
                                                        "/serviceAccounts/", account.email),
                role="roles/iam.workloadIdentityUser", member=members[identity], opts=child)
            for grant in PROJECT_ROLES[identity]:
                projects.IAMMember(f"{name}-{identity}-{grant.role.removeprefix('roles/')}",
                                   project=args.project, role=grant.role,
                                   member=_member(account), opts=child)

        # The platform identity grants its node service account's roles, and only those.
        projects.IAMMember(
            f"{name}-platform-projectIamAdmin", project=args.project,
            role="roles/resourcemanager.projectIamAdmin", member=_member(accounts["platform"]),
            condition={"title": "owner stacks' grants only",
                       "description": "may add or remove bindings of " + ", ".join(DELEGATED_PROJECT_ROLES),
                       "expression": delegated_grants_condition(DELEGATED_PROJECT_ROLES)},
            opts=child)

        # State: everyone reads it (a preview, a StackReference); the deployers write it, never the
        # bootstrap's own (it grants these identities), and the environment identity never an
        # owner's either.
        bootstrap_state = project_state_prefixes_output(args.bucket_name, BOOTSTRAP_PROJECT)
        owner_state = pulumi.Output.from_input(args.bucket_name).apply(
            lambda bucket: tuple(p for stack in args.owner_stacks
                                 for p in state_prefixes(bucket, PROGRAM_PROJECT, stack)))
        writable = {
            "platform": bootstrap_state.apply(none_of),
            "environments": pulumi.Output.all(bootstrap_state, owner_state).apply(
                lambda parts: none_of(parts[0] + parts[1])),
        }
        for identity, account in accounts.items():
            storage.BucketIAMMember(f"{name}-{identity}-state-reader", bucket=args.bucket_name,
                                    role="roles/storage.objectViewer", member=_member(account), opts=child)
            if identity in writable:
                storage.BucketIAMMember(
                    f"{name}-{identity}-state-writer", bucket=args.bucket_name,
                    role="roles/storage.objectUser", member=_member(account),
                    condition={"title": "not the bootstrap's state" + (
                                   "" if identity == "platform" else " nor an owner stack's"),
                               "expression": writable[identity]},
                    opts=child)
            # Decrypting a stack's secrets unwraps its data key; creating a stack (upsert) wraps a
            # new one, which only the deployers do.
            kms.CryptoKeyIAMMember(
                f"{name}-{identity}-secrets", crypto_key_id=args.key_id, member=_member(account),
                role=("roles/cloudkms.cryptoKeyDecrypter" if identity == "preview"
                      else "roles/cloudkms.cryptoKeyEncrypterDecrypter"), opts=child)

        self.provider_name = provider.name
        self.register_outputs({"provider_name": self.provider_name, "emails": self.emails})


def _member(account: serviceaccount.Account) -> pulumi.Output[str]:
    return pulumi.Output.concat("serviceAccount:", account.email)


def project_state_prefixes_output(bucket: pulumi.Input[str], project: str) -> pulumi.Output[tuple[str, ...]]:
    return pulumi.Output.from_input(bucket).apply(lambda name: project_state_prefixes(name, project))
