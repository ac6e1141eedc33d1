"""Stack files are read as YAML 1.2 (components/stackset.py), on which the Pulumi CLI's yaml.v3
agrees for every value the config accepts; the YAML 1.1-only numbers the CLI still reads are
marked, and yamllint (.yamllint) keeps the shipped files free of the spellings that differ."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from components.errors import ConfigError
from components.stackset import Yaml11Number, _parse_stack_file, stack_files, stack_folders

FILE = "Pulumi.t.yaml"


def value_of(scalar: str):
    return _parse_stack_file(f"config:\n  k: {scalar}\n", FILE)["k"]


# scalar -> what the Pulumi CLI hands the program (yaml.v3 v3.0.1's resolve.go, then its JSON):
# the YAML 1.2 reading, for every form a boolean, number or string key accepts.
AGREED = [
    ("true", True), ("True", True), ("FALSE", False), ("42", 42), ("+42", 42), ("-17", -17),
    ("0", 0), ("1.5", 1.5), ("1e3", 1000.0), ("+.5", 0.5), ("0o17", 15), ("0x1F", 31),
    ("null", None), ("~", None), ("", None), ("hello", "hello"),
    # YAML 1.1 booleans, sexagesimals and timestamps: strings for the CLI and for YAML 1.2.
    ("no", "no"), ("Yes", "Yes"), ("on", "on"), ("OFF", "OFF"), ("y", "y"), ("1:30", "1:30"),
    ("2001-12-14", "2001-12-14"),
    # Quoted and block scalars are strings; "!!str" too.
    ('"no"', "no"), ("'0755'", "0755"), ("!!str 0755", "0755"), ("|\n    no", "no\n"),
]


@pytest.mark.parametrize("scalar, expected", AGREED, ids=[c[0] or "<empty>" for c in AGREED])
def test_yaml_1_2_readings_agree_with_the_cli(scalar, expected):
    got = value_of(scalar)
    assert type(got) is type(expected) and got == expected
    assert not isinstance(got, Yaml11Number)


# Numbers only YAML 1.1 spells, which the CLI still reads as numbers: marked, valued as the CLI.
MARKED = [("0755", 493), ("-0755", -493), ("007", 7), ("00", 0), ("08", 8), ("1_000", 1000),
          ("0b101", 5)]


@pytest.mark.parametrize("scalar, cli", MARKED, ids=[c[0] for c in MARKED])
def test_yaml11_only_numbers_are_marked_with_the_cli_value(scalar, cli):
    got = value_of(scalar)
    assert isinstance(got, Yaml11Number) and got == cli and got.text == scalar
    assert json.dumps(got) == str(cli)  # what the offline engine hands the program, as the CLI
    for clone in (copy.deepcopy(got), pickle.loads(pickle.dumps(got))):
        assert isinstance(clone, Yaml11Number) and clone.text == scalar


def test_merge_keys_and_the_first_document():
    config = _parse_stack_file("config:\n  a: &x {b: 1}\n  c:\n    <<: *x\n    d: 2\n---\nz: [\n", FILE)
    assert config == {"a": {"b": 1}, "c": {"b": 1, "d": 2}}


SECRET = "hunter2-very-secret"
MALFORMED = [
    (f"config:\n  a: b\n   c: {SECRET}\n", "line 3, column 5: mapping values are not allowed in this context"),
    (f"config:\n  a: [{SECRET}\n", "line 3, column 1: did not find expected ',' or ']'"),
    (f"config:\n  a: 1\n  a: {SECRET}\n", 'line 3, column 3: mapping key "a" already defined at line 2'),
    (f"config:\n  a: *{SECRET}\n", "line 2, column 6: found undefined alias"),
]


@pytest.mark.parametrize("text, where", MALFORMED, ids=[m[1].split(": ", 1)[1] for m in MALFORMED])
def test_malformed_yaml_names_line_column_and_reason_never_the_text(text, where):
    with pytest.raises(ConfigError) as caught:
        _parse_stack_file(text, FILE)
    assert str(caught.value).startswith(f"{FILE}: not valid YAML at {where}")
    assert SECRET not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# yamllint: the shipped files, and what it catches

STACK_FILES = sorted(path for folder in stack_folders(ROOT) for path in stack_files(folder))


def yamllint(*paths: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yamllint", "-c", str(ROOT / ".yamllint"), "-f",
                           "parsable", *map(str, paths)], capture_output=True, text=True, cwd=ROOT)


def test_yamllint_passes_every_stack_file():
    assert len(STACK_FILES) >= 3
    done = yamllint(*STACK_FILES)
    assert done.returncode == 0, done.stdout + done.stderr


CAUGHT = {"truthy": "config:\n  istio-envs:x:\n    regional: no\n",
          "octal-values": "config:\n  istio-envs:x:\n    port: 0755\n",
          "key-duplicates": "config:\n  istio-envs:x: 1\n  istio-envs:x: 2\n",
          "indentation": "config:\n  istio-envs:x:\n    a: 1\n  istio-envs:y:\n      b: 2\n"}


def test_yamllint_catches_what_the_cli_reads_otherwise(tmp_path):
    """One yamllint run over one file per rule: each file fails on its own rule."""
    for rule, text in CAUGHT.items():
        (tmp_path / f"Pulumi.{rule}.yaml").write_text(text)
    done = yamllint(*(tmp_path / f"Pulumi.{rule}.yaml" for rule in CAUGHT))
    assert done.returncode == 1
    for rule in CAUGHT:
        assert any(f"Pulumi.{rule}.yaml:" in line and f"({rule})" in line for line in done.stdout.splitlines()), \
            done.stdout
