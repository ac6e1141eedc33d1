"""A GCS bucket for Pulumi state and a Cloud KMS key for stack secrets."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import kms, storage


@dataclass(frozen=True)
class StateBackendArgs:
    project: str
    location: str
    """Region of the bucket and the key ring (state stays in one jurisdiction)."""
    bucket_name: str
    kept_state_versions: int
    """Noncurrent versions of each state object kept for recovery."""
    key_rotation_days: int


# Key kind -> (resource name suffix, KMS key name).
KEYS = {"owners": ("secrets-key", "stack-secrets"),
        "environments": ("environment-secrets-key", "environment-secrets"),
        "preview-environments": ("preview-environment-secrets-key", "preview-environment-secrets")}


class StateBackend(pulumi.ComponentResource):
    """Outputs: ``state_url`` (``gs://...``, for `pulumi login`), ``secrets_provider``
    (``gcpkms://...``, for `pulumi stack init --secrets-provider`); ``bucket_name`` and ``key_id``
    for the grants on them (ci_identities.py)."""

    def __init__(self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:bootstrap:StateBackend", name, None, opts)
        # State and keys outlive every stack they serve: deleting them loses the fleet.
        keep = pulumi.ResourceOptions(parent=self, protect=True)

        bucket = storage.Bucket(
            f"{name}-state",
            name=args.bucket_name,
            project=args.project,
            location=args.location,
            # IAM only, no object ACLs; and never public, whatever an IAM binding says.
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            # Every state write keeps the previous version: a broken update can be rolled back.
            versioning={"enabled": True},
            lifecycle_rules=[{
                "action": {"type": "Delete"},
                "condition": {"num_newer_versions": args.kept_state_versions, "with_state": "ARCHIVED"},
            }],
            force_destroy=False,
            labels={"managed-by": "pulumi", "purpose": "pulumi-state"},
            opts=keep,
        )
        ring = kms.KeyRing(f"{name}-keyring", name="pulumi", project=args.project,
                           location=args.location, opts=keep)
        # One key per kind of stack (ci_identities.py IDENTITIES says who opens which): the owners'
        # (its name kept from when it was the only key), the attached stacks' and the
        # per-pull-request stacks'. A stack is created with its kind's key; each key wraps the
        # data keys of its stacks only.
        self.key_ids: dict[str, pulumi.Output[str]] = {}
        self.secrets_providers: dict[str, pulumi.Output[str]] = {}
        for kind, (resource, key_name) in KEYS.items():
            key = kms.CryptoKey(
                f"{name}-{resource}",
                name=key_name,
                key_ring=ring.id,
                purpose="ENCRYPT_DECRYPT",
                # A new key version every N days; old versions still decrypt existing secrets.
                rotation_period=f"{args.key_rotation_days * 86400}s",
                version_template={"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protection_level": "SOFTWARE"},
                labels={"managed-by": "pulumi", "purpose": "pulumi-secrets", "stacks": kind},
                opts=keep,
            )
            self.key_ids[kind] = key.id
            # The key's id is projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>.
            self.secrets_providers[kind] = pulumi.Output.concat("gcpkms://", key.id)
        self.bucket_name = bucket.name
        self.key_id = self.key_ids["owners"]
        self.state_url = pulumi.Output.concat("gs://", bucket.name)
        self.secrets_provider = self.secrets_providers["owners"]
        self.register_outputs({"state_url": self.state_url, "secrets_provider": self.secrets_provider,
                               "bucket_name": self.bucket_name, "key_id": self.key_id})
