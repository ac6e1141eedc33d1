"""CrossGuard entry point: ``pulumi preview --policy-pack policy`` runs this folder."""

from pack import policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="istio-envs-guardrails", enforcement_level=EnforcementLevel.MANDATORY,
           policies=policies())
