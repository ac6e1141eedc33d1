"""The lock files: every install (make, .ci/run, each workflow step, Pulumi's own install of the
program's requirements.txt) takes exact versions with every file's hash, and the locks agree."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCKS = {"requirements.txt": "requirements.in", "requirements-tools.txt": "requirements-tools.in",
         "requirements-dev.txt": "requirements-dev.in", "requirements-uv.txt": "requirements-uv.in",
         "policy/requirements.txt": "policy/requirements.in"}


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    found = {}
    for block in re.split(r"\n(?=\S)", text):
        if block.startswith("#") or not block.strip():
            continue
        head = block.split(" ;")[0].split(" \\")[0].strip()
        name, version = head.split("==")
        assert "--hash=sha256:" in block, (lock, name)
        found[canonicalize_name(name)] = version
    return found


def wanted(source: str) -> list[Requirement]:
    found = []
    for line in (ROOT / source).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += wanted(str((ROOT / source).parent.relative_to(ROOT) / line[3:]))
        elif line:
            found.append(Requirement(line))
    return found


@pytest.mark.parametrize("lock, source", LOCKS.items())
def test_each_lock_pins_what_its_source_asks_for_with_hashes(lock, source):
    locked = pins(lock)
    for requirement in wanted(source):
        version = locked[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (lock, requirement, version)


def test_the_locks_agree():
    program = pins("requirements.txt")
    for lock in ("requirements-tools.txt", "requirements-dev.txt"):
        assert {n: v for n, v in pins(lock).items() if n in program} == program, lock
    shared = set(pins("policy/requirements.txt")) & set(program)
    assert {n: pins("policy/requirements.txt")[n] for n in shared} == {n: program[n] for n in shared}
    assert pins("requirements-uv.txt")["uv"] == pins("requirements-dev.txt")["uv"]
