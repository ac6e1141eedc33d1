"""The project's Binary Authorization policy, declared as code.

The cluster enforces the project-singleton policy (``PROJECT_SINGLETON_POLICY_ENFORCE``); without
this resource that policy is the project's default, which admits every image. Here:

- Google-maintained system images are admitted through global policy evaluation (GKE's own
  add-ons keep working whatever the default rule says).
- The registries that serve the pinned Istio and cert-manager images are allowlisted, derived
  from the same constants the charts are told to pull from (components/versions.py), and the
  demo workload's one image digest.
- The default rule needs attestations once the team has attestors. Before that it denies, in
  dry-run: nothing is blocked, and every image that would be is written to the audit log. With
  ``enforcement: enforce`` the rule blocks.

The policy is one per project: two platforms in one project would fight over it, so each
platform owns its project (the examples use distinct projects).
https://cloud.google.com/binary-authorization/docs/policy-yaml-reference
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_gcp import binaryauthorization

from .config import BinaryAuthorizationConfig
from .versions import CERT_MANAGER_IMAGE_NAMESPACE, CERT_MANAGER_REGISTRY, DEMO_ECHO_IMAGE, ISTIO_HUB

# Images the platform itself runs; '*' matches one path level after the registry.
PLATFORM_IMAGE_PATTERNS = (
    f"{ISTIO_HUB}/*",
    f"{CERT_MANAGER_REGISTRY}/{CERT_MANAGER_IMAGE_NAMESPACE}/*",
    # environment.demo's echo server: that one digest, no wildcard (no other tag or digest).
    DEMO_ECHO_IMAGE,
)
ENFORCEMENT_MODES = {
    "dry-run": "DRYRUN_AUDIT_LOG_ONLY",
    "enforce": "ENFORCED_BLOCK_AND_AUDIT_LOG",
}


@dataclass(frozen=True)
class ImageAdmissionPolicyArgs:
    project: str
    """The project whose singleton policy this is (the cluster's project)."""
    config: BinaryAuthorizationConfig
    """Default rule enforcement, attestors, extra allowlisted image patterns."""


class ImageAdmissionPolicy(pulumi.ComponentResource):
    """Outputs: ``policy_id``, ``default_rule`` (evaluation and enforcement, for reviewers)."""

    def __init__(self, name: str, args: ImageAdmissionPolicyArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:ImageAdmissionPolicy", name, None, opts)
        cfg = args.config
        # REQUIRE_ATTESTATION needs at least one attestor (the API refuses it with none), so a
        # team without attestors gets ALWAYS_DENY: in dry-run, an audit trail of what would fail.
        default_rule: binaryauthorization.PolicyDefaultAdmissionRuleArgsDict = {
            "evaluation_mode": "REQUIRE_ATTESTATION" if cfg.attestors else "ALWAYS_DENY",
            "enforcement_mode": ENFORCEMENT_MODES[cfg.enforcement],
        }
        if cfg.attestors:
            default_rule["require_attestations_bies"] = list(cfg.attestors)
        policy = binaryauthorization.Policy(
            f"{name}-policy",
            project=args.project,
            description="Managed by Pulumi (istio-envs): platform images allowlisted, the rest "
                        "attested",
            global_policy_evaluation_mode="ENABLE",
            admission_whitelist_patterns=[
                {"name_pattern": pattern}
                for pattern in (*PLATFORM_IMAGE_PATTERNS, *cfg.allowlist)
            ],
            default_admission_rule=default_rule,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy = policy
        self.default_rule = {"evaluation": default_rule["evaluation_mode"],
                             "enforcement": default_rule["enforcement_mode"]}
        self.register_outputs({"policy_id": policy.id, "default_rule": self.default_rule})
