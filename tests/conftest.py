"""Shared fixtures: the shipped stacks previewed once per session through the real program."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.stackset import EXAMPLES_DIR, StackSet, stack_folders  # noqa: E402
from preview import preview_stack  # noqa: E402

# What the tests expect comes from the stack files present, never from a list written here: an
# owner who adds Pulumi.qa.yaml (make new-env) gets the same tests run over qa too.
STACKS = StackSet.load(ROOT)
SHIPPED_STACKS = STACKS.names
# The shipped platform owner whose platform the hardening and platform tests read.
OWNER = "dev"
# Every shipped stack attached to it (test, uat, and any an environment owner adds).
ATTACHED_STACKS = [stack.name for stack in STACKS.attached_to(OWNER)]
# The shipped stacks that turn the demo workload on, from their own files.
DEMO_STACKS = [stack.name for stack in STACKS if stack.config["istio-envs:environment"].get("demo")]


def scratch_stack_name(project: Path, wanted: str = "qa") -> str:
    """A stack name no stack file in ``project`` has: tests that create a stack never collide
    with one a repository happens to contain."""
    taken = set(StackSet.names_in(project)) | set(SHIPPED_STACKS)
    return next(name for name in (wanted, *(f"{wanted}-scratch-{i}" for i in range(1, 100)))
                if name not in taken)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="session")
def plans(build_dir) -> dict[str, dict]:
    """stack -> plan.json of its offline preview (owners first, as a real rollout)."""
    return {stack: preview_stack(stack, ROOT, build_dir).plan for stack in SHIPPED_STACKS}


EXAMPLES = {stack.name: folder for folder in stack_folders(ROOT)
            if folder.parent.name == EXAMPLES_DIR for stack in StackSet.load(folder)}


@pytest.fixture(scope="session")
def example_plans(build_dir) -> dict[str, dict]:
    """stack -> plan.json of every example stack (examples/<mode>/Pulumi.<stack>.yaml)."""
    from preview.__main__ import demo_certificate

    plans = {}
    for stack, folder in EXAMPLES.items():
        secrets, overrides = {}, {}
        if "source: provided" in (folder / f"Pulumi.{stack}.yaml").read_text():
            chain, key = demo_certificate(folder, stack)
            overrides["istio-envs:tlsCertificate"] = chain
            secrets["istio-envs:tlsPrivateKey"] = key
        plans[stack] = preview_stack(stack, folder, build_dir, secrets, overrides=overrides).plan
    return plans


def of_type(plan: dict, type_suffix: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"].endswith(type_suffix)]


def one(plan: dict, type_suffix: str) -> dict:
    found = of_type(plan, type_suffix)
    assert len(found) == 1, f"expected one {type_suffix}, got {[r['name'] for r in found]}"
    return found[0]


def by_urn(plan: dict) -> dict[str, dict]:
    return {r["urn"]: r for r in plan["resources"]}


def a_record(plan: dict) -> dict:
    """The environment's A record (an owner's zone also holds its CAA record)."""
    found = [r for r in of_type(plan, "gcp:dns/recordSet:RecordSet") if r["inputs"]["type"] == "A"]
    assert len(found) == 1, [r["name"] for r in found]
    return found[0]


def named(plan: dict, type_suffix: str, name: str) -> dict:
    """The one object of a type whose Kubernetes metadata.name is ``name``."""
    found = [r for r in of_type(plan, type_suffix) if r["inputs"]["metadata"]["name"] == name]
    assert len(found) == 1, (type_suffix, name, [r["name"] for r in found])
    return found[0]


def demo_pod(plan: dict) -> dict:
    """The pod spec of the demo workload's Deployment (environment.demo)."""
    return named(plan, "apps/v1:Deployment", "demo-echo")["inputs"]["spec"]["template"]["spec"]
