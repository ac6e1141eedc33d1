"""CrossGuard entry point: ``pulumi preview --policy-pack policy`` runs this folder."""

from pulumi_policy import EnforcementLevel, PolicyPack

from pack import policies

PolicyPack(name="istio-envs-guardrails", enforcement_level=EnforcementLevel.MANDATORY,
           policies=policies())
