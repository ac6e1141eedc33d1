"""Certificate rotation across `pulumi up` runs: the self-signed leaf is re-issued inside its
renewal window and not before, and the gateway Secret follows it.

The preview's mock provider applies pulumi-tls's documented rule (``ready_for_renewal`` once
``now >= validity_end - early_renewal_hours``) to the certificates of a previous run, which
stand in for existing state; the windows come from the program's own inputs.
"""

from __future__ import annotations

import datetime

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


def test_leaf_is_kept_before_the_window_and_reissued_inside_it(build_dir):
    first, first_chain = deploy(build_dir, PREVIEW_EPOCH)
    assert first.certificates[LEAF].not_after - first.certificates[LEAF].not_before == 90 * DAY

    # Day 59: one day before the 30-day window opens. Nothing changes.
    early, early_chain = deploy(build_dir, PREVIEW_EPOCH + 59 * DAY, first)
    assert early.certificates[LEAF] == first.certificates[LEAF]
    assert early_chain == first_chain

    # Day 61: inside the window. The leaf is re-issued, valid 90 days from now, and the
    # Secret's chain is the new one; the CA (5x longer, no early renewal) stays.
    late, late_chain = deploy(build_dir, PREVIEW_EPOCH + 61 * DAY, first)
    leaf = late.certificates[LEAF]
    assert leaf.reissued and leaf.serial == 2
    assert leaf.not_before == PREVIEW_EPOCH + 61 * DAY and leaf.not_after == leaf.not_before + 90 * DAY
    assert late.certificates[CA] == first.certificates[CA]
    assert late_chain != first_chain and "serial 2" in late_chain

    # And the run after that keeps the new leaf until its own window.
    after, _ = deploy(build_dir, PREVIEW_EPOCH + 120 * DAY, late)
    assert after.certificates[LEAF] == leaf


def test_ca_is_reissued_only_when_it_expires(build_dir):
    first, _ = deploy(build_dir, PREVIEW_EPOCH)
    kept, _ = deploy(build_dir, PREVIEW_EPOCH + 449 * DAY, first)
    assert kept.certificates[CA] == first.certificates[CA]
    expired, _ = deploy(build_dir, PREVIEW_EPOCH + 450 * DAY, first)
    assert expired.certificates[CA].reissued
