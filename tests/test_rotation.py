"""Certificate rotation across `pulumi up` runs: the self-signed leaf is re-issued inside its
renewal window and not before, and the gateway Secret follows it.

The preview's mock provider applies pulumi-tls's documented rule (``ready_for_renewal`` once
``now >= validity_end - early_renewal_hours``) to the certificates of a previous run, which
stand in for existing state; the windows come from the program's own inputs.
"""

from __future__ import annotations

import datetime

import pytest
from conftest import ROOT

from preview import owner_outputs
from preview.engine import PREVIEW_EPOCH, run_program

DAY = datetime.timedelta(days=1)
LEAF, CA = "platform-tls-cert", "platform-tls-ca"  # dev: validityDays 90, earlyRenewalDays 30


def deploy(build_dir, clock, previous=None):
    run = run_program(ROOT, "dev", owner_outputs(build_dir), clock=clock,
                      certificates=previous.certificates if previous else None)
    secret = next(r for r in run.registrations if r.type == "kubernetes:core/v1:Secret")
    # The whole stringData is a secret (wrapped); the chain itself is public.
    return run, secret.inputs["stringData"]["value"]["tls.crt"]


@pytest.fixture(scope="module")
def day_0(build_dir):
    """The first `pulumi up` (no previous certificates), which every scenario starts from; its
    run is only read."""
    return deploy(build_dir, PREVIEW_EPOCH)


@pytest.fixture(scope="module")
def day_61(build_dir, day_0):
    """The run 61 days after ``day_0``: inside the leaf's renewal window."""
    return deploy(build_dir, PREVIEW_EPOCH + 61 * DAY, day_0[0])


def test_leaf_is_kept_before_the_window_and_reissued_inside_it(build_dir, day_0, day_61):
    first, first_chain = day_0
    assert first.certificates[LEAF].not_after - first.certificates[LEAF].not_before == 90 * DAY

    # Day 59: one day before the 30-day window opens. Nothing changes.
    early, early_chain = deploy(build_dir, PREVIEW_EPOCH + 59 * DAY, first)
    assert early.certificates[LEAF] == first.certificates[LEAF]
    assert early_chain == first_chain

    # Day 61: inside the window. The leaf is re-issued, valid 90 days from now, and the
    # Secret's chain is the new one; the CA (5x longer, far from its own window) stays.
    late, late_chain = day_61
    leaf = late.certificates[LEAF]
    assert leaf.reissued and leaf.serial == 2
    assert leaf.not_before == PREVIEW_EPOCH + 61 * DAY and leaf.not_after == leaf.not_before + 90 * DAY
    assert late.certificates[CA] == first.certificates[CA]
    assert late_chain != first_chain and "serial 2" in late_chain

    # And the run after that keeps the new leaf until its own window.
    after, _ = deploy(build_dir, PREVIEW_EPOCH + 120 * DAY, late)
    assert after.certificates[LEAF] == leaf


def test_ca_is_renewed_a_leaf_lifetime_before_it_expires_and_the_leaf_with_it(build_dir, day_0):
    first, _ = day_0
    ca = first.certificates[CA]
    assert ca.not_after - ca.not_before == 450 * DAY
    # Day 359: 91 days left, more than a leaf's 90: the CA stays.
    kept, _ = deploy(build_dir, PREVIEW_EPOCH + 359 * DAY, first)
    assert kept.certificates[CA] == ca
    # Day 361: 89 days left; a leaf issued now would outlive it, so the CA is renewed, and the
    # leaf is re-signed by the new CA in the same run (its ca_cert_pem changed).
    renewed, chain = deploy(build_dir, PREVIEW_EPOCH + 361 * DAY, kept)
    assert renewed.certificates[CA].reissued and renewed.certificates[CA].serial == 2
    assert renewed.certificates[LEAF].not_before == PREVIEW_EPOCH + 361 * DAY
    assert renewed.certificates[LEAF].not_after <= renewed.certificates[CA].not_after
    leaf_pem, ca_pem = chain.split("-----END CERTIFICATE-----\n")[:2]
    assert f"serial {renewed.certificates[LEAF].serial}" in leaf_pem and "serial 2" in ca_pem


def test_no_leaf_ever_outlives_its_ca(build_dir, day_0):
    """Two CA lifetimes of `pulumi up` every 90 days: at every run the served leaf expires no later
    than the CA that signed it."""
    run, _ = day_0
    renewals = 0
    for day in range(90, 2 * 450 + 1, 90):
        previous_ca = run.certificates[CA]
        run, _ = deploy(build_dir, PREVIEW_EPOCH + day * DAY, run)
        leaf, ca = run.certificates[LEAF], run.certificates[CA]
        assert leaf.not_after <= ca.not_after, f"day {day}: leaf outlives its CA"
        renewals += ca != previous_ca
    assert renewals >= 2  # the CA did roll over, more than once


def _revealed(value):
    """Registration inputs with secrets unwrapped: what the provider diffs (plans mask them)."""
    from preview import sdk

    if sdk.is_secret(value):
        return _revealed(sdk.unwrap_secret(value))
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revealed(item) for item in value]
    return value


def _replacing_changes(old_run, new_run, resource_type, provider_inputs=None) -> list[str]:
    """The inputs of ``resource_type`` that changed between two runs and that, by the vendored
    pulumi-kubernetes rule, replace it."""
    from preview.risks import at, replacing_inputs

    def registered(run):
        return {r.urn: r for r in run.registrations if r.type == resource_type}

    def provider_of(run, resource):
        provider = next(r for r in run.registrations if r.urn == resource.provider)
        return provider_inputs if provider_inputs is not None else _revealed(provider.inputs)

    changed = []
    for urn, new in registered(new_run).items():
        old_inputs, new_inputs = _revealed(registered(old_run)[urn].inputs), _revealed(new.inputs)
        assert old_inputs != new_inputs, "the rotation did not change the Secret"
        changed += [path for path, _ in replacing_inputs(resource_type, None, new_inputs,
                                                         provider_of(new_run, new))
                    if at(old_inputs, path) != at(new_inputs, path)]
    return changed


def test_a_rotation_updates_the_gateway_secret_in_place(day_0, day_61):
    """pulumi-kubernetes replaces a Secret whose data changes, delete-first, unless its provider
    sets enableSecretMutable: a rotation must be an update, or every environment is left without
    a certificate between the delete and the create. The replacement decision is the vendored
    pulumi-kubernetes rule (preview.risks.replacing_inputs), over the two runs' inputs."""
    (first, _), (rotated, _) = day_0, day_61
    assert rotated.certificates[LEAF].reissued
    assert _replacing_changes(first, rotated, "kubernetes:core/v1:Secret") == []
    # The same rotation under a provider without enableSecretMutable replaces the Secret.
    assert _replacing_changes(first, rotated, "kubernetes:core/v1:Secret", provider_inputs={}) \
        == ["stringData"]


def test_every_kubernetes_provider_lets_secrets_change_in_place(plans, example_plans):
    for stack, plan in {**plans, **example_plans}.items():
        for provider in (r for r in plan["resources"] if r["type"] == "pulumi:providers:kubernetes"):
            assert provider["inputs"].get("enableSecretMutable") == "true", (stack, provider["name"])
