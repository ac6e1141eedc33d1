"""The team's Pulumi backend: state in GCS (versioned, private), secrets under Cloud KMS."""

import re

import pulumi
import pulumi_gcp as gcp
from state_backend import StateBackend, StateBackendArgs

NAMESPACE = "istio-envs-bootstrap"
STACK_FILE = f"Pulumi.{pulumi.get_stack()}.yaml"
config = pulumi.Config(NAMESPACE)


def setting(key: str, pattern: str, expected: str, default=None) -> str:
    """One validated value; a bad one stops the program with the file, key and expected form."""
    value = config.get(key) or default
    if value is None or not re.fullmatch(pattern, str(value)):
        raise pulumi.RunError(f"{STACK_FILE}: {NAMESPACE}:{key}: got {value!r}; expected {expected}")
    return str(value)


def whole(key: str, low: int, high: int, default: int) -> int:
    value = int(setting(key, r"[0-9]{1,5}", f"an integer from {low} to {high}", default))
    if not low <= value <= high:
        raise pulumi.RunError(f"{STACK_FILE}: {NAMESPACE}:{key}: got {value}; expected an integer "
                              f"from {low} to {high}")
    return value


args = StateBackendArgs(
    project=setting("project", r"[a-z][-a-z0-9]{4,28}[a-z0-9]", "a GCP project id"),
    location=setting("location", r"[a-z]+-[a-z]+[0-9]+", "a GCP region such as europe-west1"),
    bucket_name=setting("bucketName", r"[a-z0-9][-_a-z0-9]{1,61}[a-z0-9]",
                        "a bucket name (3-63 lowercase letters, digits, '-' and '_')"),
    kept_state_versions=whole("keptStateVersions", 1, 1000, 20),
    # KMS accepts 1 day to 100 years; past 90 days CIS flags the key.
    key_rotation_days=whole("keyRotationDays", 1, 90, 90),
)
provider = gcp.Provider("gcp", project=args.project, region=args.location)
backend = StateBackend("backend", args, opts=pulumi.ResourceOptions(providers={"gcp": provider}))

pulumi.export("stateUrl", backend.state_url)
pulumi.export("secretsProvider", backend.secrets_provider)
