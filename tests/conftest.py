"""Shared fixtures: the shipped stacks previewed once per session through the real program."""

from __future__ import annotations

import copy
import gc
import shutil
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


def stack_config(stack: str, project: Path = ROOT):
    """The stack's validated config, by the program's own loader (``components.config.load``)
    over its stack file's values: what a test expects of a stack is derived from this, never
    written here."""
    from components.config import load
    from components.stackset import read_stack_file

    raw = read_stack_file(project / f"Pulumi.{stack}.yaml")
    values = {key.split(":", 1)[1]: value for key, value in raw.items() if key.startswith("istio-envs:")}
    return load(stack, project, read=values.get, known_keys=list(raw))


@pytest.fixture(scope="session")
def configs() -> dict:
    """stack -> its validated config (components.config.StackConfig), every stack file present."""
    return {stack: stack_config(stack) for stack in SHIPPED_STACKS}


def platform_of(configs: dict, stack: str):
    """The platform a stack runs on: its own (an owner) or its owner's, from the owner's config."""
    return configs[STACKS[stack].owner or stack].platform


def host_of(configs: dict, stack: str) -> str:
    """``<env>.api.<domain>``: the stack's environment name under its platform's domain."""
    return platform_of(configs, stack).host_for(configs[stack].environment.name)


def shipped(stack: str, key: str, value) -> list[str]:
    """``[stack]`` while ``Pulumi.<stack>.yaml`` exists and still says ``value`` at ``key`` (a
    dotted path under ``istio-envs:``, ``[i]`` for list items) as it shipped; else ``[]``.

    For the few tests that pin a shipped value by name (dev routes /orders with retries): they
    are parametrized over this, so they run over the shipped file only. A deleted file or an
    owner's edit of that value leaves them out (pytest reports an empty parameter set as
    skipped), never failing; the tests that derive what they expect from each stack's own
    config cover the edited stack."""
    if stack not in STACKS:
        return []
    node = STACKS[stack].config
    parts = key.replace("]", "").replace("[", ".").split(".")
    for part in [f"istio-envs:{parts[0]}", *parts[1:]]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return []
    return [stack] if node == value else []


def scratch_stack_name(project: Path, wanted: str = "qa") -> str:
    """A stack name no stack file in ``project`` has: tests that create a stack never collide
    with one a repository happens to contain."""
    taken = set(StackSet.names_in(project)) | set(SHIPPED_STACKS)
    return next(name for name in (wanted, *(f"{wanted}-scratch-{i}" for i in range(1, 100)))
                if name not in taken)


# A stack attached to OWNER that the tests own, for those that need one beside the shipped ones (a
# sibling to collide with, an environment with owners): written into a project from this
# template, never read from a shipped file an owner may delete.
TENANT = scratch_stack_name(ROOT, "tenant")
TENANT_ENVIRONMENT = {
    "routes": [{"path": "/accounts", "service": "accounts", "port": 8080},
               {"path": "/orders", "service": "orders", "port": 8080}],
    "auth": {"issuer": "https://tenant-auth.example.com/",
             "jwksUri": "https://tenant-auth.example.com/.well-known/jwks.json", "audiences": []},
    "quota": {"cpu": "2", "memory": "4Gi", "pods": 20},
    "owners": ["group:tenant-team@example.com"],
}


def attached_document(stack: str, environment: dict | None = None, domain: str | None = None) -> dict:
    """A stack file attached to OWNER: ``environment`` (TENANT_ENVIRONMENT when None), under no
    name of its own (the stack's is the environment's) and with its own audience,
    ``https://<stack>.api.<domain>`` (the owner's domain unless given)."""
    domain = domain or STACKS[OWNER].config["istio-envs:platform"]["domain"]
    environment = copy.deepcopy(TENANT_ENVIRONMENT if environment is None else environment)
    environment.pop("name", None)
    environment["auth"]["audiences"] = [f"https://{stack}.api.{domain}"]
    return {"config": {"istio-envs:attachTo": OWNER, "istio-envs:environment": environment}}


def add_tenant(files: dict) -> None:
    """An edit for stackfiles.write_project: TENANT's file beside the others, under the owner's
    domain in ``files``."""
    domain = files[f"Pulumi.{OWNER}.yaml"]["config"]["istio-envs:platform"]["domain"]
    files[f"Pulumi.{TENANT}.yaml"] = attached_document(TENANT, domain=domain)


def preview_written(folder: Path, build_dir: Path, stack: str, document: dict):
    """Preview ``document`` as ``Pulumi.<stack>.yaml`` beside the shipped stack files (in
    ``folder``), its owner's outputs read from the owner's plan in ``build_dir`` (``plans``):
    the PreviewResult, written under ``folder``/build."""
    from stackfiles import write_project

    project = folder / "project"
    project.mkdir()
    write_project(project, lambda files: files.update({f"Pulumi.{stack}.yaml": document}))
    build = folder / "build"
    shutil.copytree(build_dir / OWNER, build / OWNER)
    return preview_stack(stack, project, build)


@pytest.fixture(scope="session")
def tenant(shipped_plans, build_dir, tmp_path_factory):
    """TENANT's preview (PreviewResult), attached to the shipped owner."""
    return preview_written(tmp_path_factory.mktemp("tenant"), build_dir, TENANT, attached_document(TENANT))


# Run first (pytest.ini: --dist worksteal): the few tests of many seconds each, so that no worker
# starts one when the others are nearly done. Whole modules move, in their own order, so their
# module-scoped fixtures are still set up once.
def pytest_collection_modifyitems(items):
    modules = list(dict.fromkeys(item.module for item in items))
    first = {module for module in modules if any(item.get_closest_marker("long") for item in items
                                                 if item.module is module)}
    rank = {module: (module not in first, i) for i, module in enumerate(modules)}
    items.sort(key=lambda item: rank[item.module])


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build")


def freeze_heap() -> None:
    """Every object alive now (the program's modules, the providers' thousands of classes, the
    session's previews) out of the cyclic garbage collector's reach (gc.freeze, after a full
    collection so no garbage is kept): each full collection then scans only what later tests
    make, instead of ~0.25 s over the whole heap several times per preview. Nothing a test
    checks changes; the objects frozen stay alive as they would have."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session):
    freeze_heap()


@pytest.fixture(scope="session")
def shipped_plans(build_dir) -> dict[str, dict]:
    """stack -> plan.json of its offline preview (owners first, as a real rollout)."""
    plans = {stack: preview_stack(stack, ROOT, build_dir).plan for stack in SHIPPED_STACKS}
    freeze_heap()  # the provider modules the first previews imported
    return plans


@pytest.fixture(scope="session")
def plans(shipped_plans) -> dict[str, dict]:
    """``shipped_plans`` (a module may add to this name, as the tenancy tests add TENANT's)."""
    return shipped_plans


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
    freeze_heap()
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


@pytest.fixture(scope="session")
def upgrade_projects(tmp_path_factory) -> list[Path]:
    """A copy of the project after each step of the Istio upgrade (tests/upgrade.py STEPS), in
    order, the steps applied one after another; then the rollback's, from its step."""
    import shutil

    from upgrade import ROLLBACK, ROLLBACK_AFTER, STEPS, copy_project

    base = tmp_path_factory.mktemp("upgrade")
    project = copy_project(base / "shipped")
    states = []
    for index, step in enumerate(STEPS):
        folder = base / f"step-{index + 1}"
        shutil.copytree(project, folder)
        step.apply(folder)
        states.append(folder)
        project = folder
    rollback = base / "rollback"
    shutil.copytree(states[ROLLBACK_AFTER], rollback)
    ROLLBACK.apply(rollback)
    return [*states, rollback]


def _upgrade_plan(folder: Path, stack: str) -> dict:
    """One stack's schema-checked plan in an upgrade state (previewed once per session)."""
    import json

    done = folder / "build" / stack / "plan.json"
    if done.exists():
        return json.loads(done.read_text())
    return preview_stack(stack, folder, folder / "build", check_schemas=True).plan


@pytest.fixture(scope="session")
def upgrade_owner_plans(upgrade_projects) -> dict[str, dict]:
    """The owner's plan in each state of the upgrade where its platform changes (canary installed,
    stable promoted, old revision removed), schema-checked: state folder name -> plan."""
    from upgrade import OWNER, STEPS

    return {folder.name: _upgrade_plan(folder, OWNER)
            for folder, step in zip(upgrade_projects, STEPS, strict=False) if step.platform}


@pytest.fixture(scope="session")
def upgrade_plans(upgrade_projects, shipped_plans) -> dict[str, dict[str, dict]]:
    """Every stack's plan in each state of the upgrade, the shipped state first (the session's
    previews of the same files, whose schema checks tests/test_preview_all.py runs), every later
    state's schema-checked: state folder name -> stack -> plan."""
    return {"shipped": shipped_plans, **{
        folder.name: {stack: _upgrade_plan(folder, stack) for stack in StackSet.names_in(folder)}
        for folder in upgrade_projects}}
