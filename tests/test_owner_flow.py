"""The environment owner's flow from the README, run for real: `make new-env ENV=qa` in a copy of
the project, then the tests CI runs on that pull request, in that copy. Adding an environment
must never turn CI red."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT, scratch_stack_name

# The tests that enumerate the stack files (and used to list them by hand).
STACK_TESTS = ["tests/test_stacks.py", "tests/test_workflows.py", "tests/test_new_env.py",
               "tests/test_hardening.py"]


def test_new_env_then_ci_is_green(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", "build", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"))
    name = scratch_stack_name(copy)
    venv = ROOT / ".venv"
    made = subprocess.run(["make", "new-env", f"ENV={name}", f"VENV={venv}", f"PY={sys.executable}"],
                          cwd=copy, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (copy / f"Pulumi.{name}.yaml").exists()
    tested = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                             *STACK_TESTS], cwd=copy, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    # The new stack is one of the stacks those tests ran over.
    assert f"[{name}] PASSED" in tested.stdout
