"""Commands check their arguments before doing any work, and say what they measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from components.stackset import EXAMPLES_DIR, StackSet

VENV = Path(sys.executable).parent.parent


def _examples_and_backend() -> list[str]:
    """The stacks outside the project folder, read off the file system here."""
    return sorted({name for folder in [*(ROOT / EXAMPLES_DIR).iterdir(), ROOT / "bootstrap"]
                   if folder.is_dir() for name in StackSet.names_in(folder)})


def _snapshot(build: Path) -> dict[str, int]:
    """Every path under ``build`` with its modification time ({} when there is none)."""
    return {str(p.relative_to(build)): p.stat().st_mtime_ns for p in build.rglob("*")} if build.exists() else {}


def _make_diff(*variables: str) -> subprocess.CompletedProcess:
    # The test's own venv, taken as installed: make must not rebuild it.
    return subprocess.run(["make", "-s", "diff", *variables, f"VENV={VENV}", "-o", f"{VENV}/.installed"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("variables, says", [
    ((), "usage: make diff FROM=<stack> TO=<stack>"),
    (("FROM=dev",), "usage: make diff FROM=<stack> TO=<stack>"),
    (("FROM=dev", "TO=nope"), "error: no such stack 'nope'"),
])
def test_make_diff_refuses_bad_arguments_before_previewing_anything(variables, says):
    """Item 8: `make diff` with no arguments previewed dev twice before printing its usage, and
    `make diff FROM=dev TO=nope` previewed dev before refusing `nope`. Now: refused at once,
    nothing previewed, nothing written under build/."""
    build = ROOT / "build"
    before = _snapshot(build)
    done = _make_diff(*variables)
    assert done.returncode != 0
    assert says in done.stderr, done.stderr
    # A preview says "… running the program for stack dev" on stderr and rewrites build/<stack>/.
    assert "Traceback" not in done.stderr and "running the program" not in done.stderr
    assert _snapshot(build) == before
    if "nope" in says:
        stacks = done.stderr.split(says, 1)[1]
        for name in StackSet.names_in(ROOT) + _examples_and_backend():
            assert name in stacks, name


def test_preview_of_an_unknown_stack_names_every_stack_and_writes_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "preview", "nope", "--build-dir", str(tmp_path / "build")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: no such stack 'nope'")
    assert "stacks here: " + ", ".join(StackSet.names_in(ROOT)) in line
    assert "examples and the backend: " + ", ".join(_examples_and_backend()) in line
    assert not (tmp_path / "build").exists()


def test_bench_prints_the_machine_it_measures_on(capsys):
    """Item 9: numbers without their machine mislead; `make bench` prints it first (and
    `--machine` prints only that)."""
    from preview.bench import main

    assert main(["--machine"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("machine: ")
    assert f"{len(os.sched_getaffinity(0))} cores" in line
    assert platform.python_version() in line
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [row.split(":", 1)[1].strip() for row in cpuinfo.read_text().splitlines()
                  if row.startswith("model name")]
        if models:
            assert models[0] in line


def test_make_bench_passes_its_options_through():
    done = subprocess.run(["make", "-n", "bench", "SUITE=1", "RUNS=3"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    (command,) = [line for line in done.stdout.splitlines() if "preview.bench" in line]
    assert command.split("preview.bench", 1)[1].split() == ["--suite", "--runs", "3"]
