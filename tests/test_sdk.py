"""The SDK internals the offline engine uses are where preview/sdk.py expects them: a pulumi
release that moves one fails here, naming it, instead of breaking the preview somewhere deep."""

from __future__ import annotations

import importlib

import pytest

from preview import sdk


def test_the_installed_sdk_has_every_internal_the_engine_uses():
    gone = sdk.missing()
    assert not gone, ("this pulumi release moved SDK internals the offline engine relies on: "
                      f"{', '.join(gone)}; update preview/sdk.py and the pulumi pin in "
                      "requirements.txt together")


@pytest.mark.parametrize("module, attribute", sdk.INTERNALS[::6])
def test_a_moved_internal_is_named(monkeypatch, module, attribute):
    monkeypatch.delattr(importlib.import_module(module), attribute)
    assert f"{module}.{attribute}" in sdk.missing()


def test_the_pulumi_pin_is_the_tested_release():
    from importlib.metadata import version

    from conftest import ROOT

    (pin,) = [line for line in (ROOT / "requirements.in").read_text().splitlines()
              if line.startswith("pulumi>")]
    low, high = (part.split("=")[-1].lstrip("<") for part in pin.removeprefix("pulumi").split(","))
    installed = tuple(int(x) for x in version("pulumi").split(".")[:2])
    assert tuple(int(x) for x in low.split(".")[:2]) <= installed < tuple(int(x) for x in high.split("."))
