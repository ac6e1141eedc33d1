"""The environment owner's flow from the README, run for real in a copy of the project: `make
new-env` with every option, then the edits an owner makes (a route added, a port changed, a
second audience, a stack file deleted), then the stack tests CI runs on that pull request, in
that copy. None of it may turn CI red: those tests derive what they expect from each stack's
own config, and pin shipped values only while the shipped file says them (conftest.shipped).

All the edits go into one copy and the stack tests run once, in one process (-n 0). `make
new-env`'s own command (from `make -n`) runs in this process, whose program imports are warm:
one fresh process in all, not two.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import OWNER, ROOT, scratch_stack_name

from components.stackset import StackSet
from tools import new_env

# The tests that read the stack files present and derive their expectations from each one's
# config (the policy pack, the recorded URNs, the bootstrap's grants and the CI rollout too).
STACK_TESTS = ["tests/test_stacks.py", "tests/test_hardening.py", "tests/test_demo.py",
               "tests/test_variants.py", "tests/test_policy.py", "tests/test_urns.py",
               "tests/test_bootstrap.py", "tests/test_ci.py"]
NS = "istio-envs"


def edit(path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document["config"][f"{NS}:environment"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.mark.long
def test_new_env_and_an_owner_s_edits_keep_the_stack_tests_green(tmp_path, capsys):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", "build", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"))
    name = scratch_stack_name(copy)
    attached = [stack.name for stack in StackSet.load(copy).attached_to(OWNER)]
    # A template other than the default (test), deleted afterwards: uat as shipped.
    template = "uat" if "uat" in attached else attached[-1] if attached else OWNER
    recipe = subprocess.run(
        ["make", "-n", "new-env", f"ENV={name}", f"FROM={template}", "QUOTA_CPU=1", "QUOTA_MEMORY=2Gi",
         "QUOTA_PODS=10", f"VENV={ROOT / '.venv'}"], cwd=copy, capture_output=True, text=True, check=True)
    (command,) = [line for line in recipe.stdout.splitlines() if "-m tools.new_env " in line]
    argv = shlex.split(command.split("-m tools.new_env ", 1)[1])
    assert new_env.main([*argv, "--project-dir", str(copy)]) == 0, capsys.readouterr()
    new = copy / f"Pulumi.{name}.yaml"
    assert yaml.safe_load(new.read_text())["config"][f"{NS}:environment"]["quota"] == {
        "cpu": "1", "memory": "2Gi", "pods": 10}

    domain = yaml.safe_load((copy / f"Pulumi.{OWNER}.yaml").read_text())["config"][f"{NS}:platform"]["domain"]
    # A route added (to test, or the new stack without one: a prefix it does not route yet) ...
    def route(env):
        routes = env.setdefault("routes", [])
        path = next(p for p in (f"/payments{i or ''}" for i in range(100))
                    if p not in {r["path"] for r in routes})
        routes.append({"path": path, "service": path[1:], "port": 9090})
    edit(copy / f"Pulumi.{'test' if 'test' in attached and template != 'test' else name}.yaml", route)

    # ... a port changed (the owner's /orders, which dev's pinned tests name) ...
    def port(env):
        routes = env["routes"]
        route = next((r for r in routes if r["path"] == "/orders"), routes[0])
        route["port"] += 1
    edit(copy / f"Pulumi.{OWNER}.yaml", port)
    # ... a second audience, and the template's stack file deleted.
    edit(new, lambda env: env["auth"]["audiences"].append(f"https://{name}-mobile.api.{domain}"))
    if template != OWNER:
        (copy / f"Pulumi.{template}.yaml").unlink()

    tested = subprocess.run([sys.executable, "-m", "pytest", "-v", "-n", "0", "-p", "no:cacheprovider",
                             *STACK_TESTS], cwd=copy, capture_output=True, text=True, timeout=600)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    # The new stack is one of the stacks those tests ran over; the deleted one is not.
    assert f"test_quota_and_limits[{name}] PASSED" in tested.stdout
    assert f"test_environment_namespace_routes_and_jwt[{name}] PASSED" in tested.stdout
    assert not re.search(rf"\[{re.escape(template)}\] ", tested.stdout) or template == OWNER
