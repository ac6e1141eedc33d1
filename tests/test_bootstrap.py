"""The team backend (bootstrap/): a private, versioned, protected state bucket and a rotating
KMS key for stack secrets, previewed offline like the environment stacks."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, one

from preview import locate_stack, preview_stack
from preview.engine import run_program

BOOTSTRAP = ROOT / "bootstrap"


@pytest.fixture(scope="module")
def backend(build_dir):
    assert locate_stack("backend") == BOOTSTRAP
    return preview_stack("backend", BOOTSTRAP, build_dir).plan


def test_state_bucket_is_private_versioned_bounded_and_protected(backend):
    bucket = one(backend, "gcp:storage/bucket:Bucket")
    inputs = bucket["inputs"]
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["versioning"] == {"enabled": True}
    (rule,) = inputs["lifecycleRules"]
    assert rule["action"] == {"type": "Delete"}
    assert rule["condition"] == {"numNewerVersions": 20, "withState": "ARCHIVED"}
    assert inputs["forceDestroy"] is False
    assert bucket["protect"] is True
    # No IAM binding opens it: nothing grants allUsers or allAuthenticatedUsers.
    assert not [r for r in backend["resources"] if "allUsers" in str(r["inputs"])
                or "allAuthenticatedUsers" in str(r["inputs"])]


def test_secrets_key_rotates_and_is_protected(backend):
    key = one(backend, "gcp:kms/cryptoKey:CryptoKey")
    assert key["inputs"]["purpose"] == "ENCRYPT_DECRYPT"
    assert key["inputs"]["rotationPeriod"] == f"{90 * 86400}s"
    assert key["protect"] and one(backend, "gcp:kms/keyRing:KeyRing")["protect"]


def test_outputs_are_what_login_and_stack_init_take(backend):
    outputs = backend["outputs"]
    assert outputs["stateUrl"] == "gs://acme-nonprod-pulumi-state"
    assert outputs["secretsProvider"] == ("gcpkms://projects/acme-nonprod/locations/us-central1/"
                                          "keyRings/pulumi/cryptoKeys/stack-secrets")
    counts = sorted(r["type"] for r in backend["resources"])
    assert counts == ["gcp:kms/cryptoKey:CryptoKey", "gcp:kms/keyRing:KeyRing", "gcp:storage/bucket:Bucket",
                      "istio-envs:bootstrap:StateBackend", "pulumi:providers:gcp"]


@pytest.mark.parametrize("key, value, expected", [
    ("keyRotationDays", 365, "keyRotationDays: got 365; expected an integer from 1 to 90"),
    ("bucketName", "Bad Bucket", "bucketName: got 'Bad Bucket'"),
    ("keptStateVersions", "many", "keptStateVersions: got 'many'"),
])
def test_bad_bootstrap_config_is_refused(tmp_path, key, value, expected):
    for name in ("Pulumi.yaml", "__main__.py", "state_backend.py"):
        (tmp_path / name).write_text((BOOTSTRAP / name).read_text())
    document = yaml.safe_load((BOOTSTRAP / "Pulumi.backend.yaml").read_text())
    document["config"][f"istio-envs-bootstrap:{key}"] = value
    (tmp_path / "Pulumi.backend.yaml").write_text(yaml.safe_dump(document))
    monitors = []
    with pytest.raises(Exception) as caught:
        run_program(tmp_path, "backend", lambda name: ({}, []), on_monitor=monitors.append)
    assert str(caught.value).startswith("Pulumi.backend.yaml: istio-envs-bootstrap:")
    assert expected in str(caught.value)
    assert monitors[0].registrations == []
