"""Offline preview: the real program under Pulumi's mock engine, written out for reviewers.

``python -m preview STACK`` (``make preview STACK=...``) writes ``build/<stack>/plan.json``,
``build/<stack>/manifests/*.yaml`` and ``build/<stack>/summary.md``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.config import ConfigError
from components.stackset import locate
from components.versions import CERT_MANAGER_VERSION, ISTIO_VERSIONS

from . import access, cost, render
from .engine import PROJECT, SECRET, PreviewError, ProgramRun, run_program, stack_file_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


def locate_stack(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """The folder holding ``Pulumi.<stack>.yaml``: the project itself, one of its examples (each
    example folder is a set of stack files previewed together), or the bootstrap project."""
    return locate(stack, project_dir) or project_dir


@dataclass
class PreviewResult:
    stack: str
    out_dir: Path
    plan: dict
    seconds: float


def owner_of(project_dir: Path, stack: str) -> str | None:
    """The owner stack an attached stack names (None for an owner, or when unreadable: the
    program's own validation then reports it)."""
    try:
        config = stack_file_config(project_dir / f"Pulumi.{stack}.yaml")
    except (PreviewError, ConfigError):
        return None
    if f"{PROJECT}:platform" in config:
        return None  # an owner (a file with both keys is refused by the program itself)
    value = config.get(f"{PROJECT}:attachTo")
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else None


def owner_outputs(build_dir: Path) -> Callable[[str], tuple[dict, list[str]]]:
    """Serves a StackReference from the owner's preview, as the real one serves the owner's
    state: secret outputs stay secret (their values are "[secret]" placeholders). A stack's
    reference to itself never gets here (``engine.run_program``: offline nothing is deployed)."""

    def read(name: str) -> tuple[dict, list[str]]:
        stack = name.rsplit("/", 1)[-1]
        plan_path = build_dir / stack / "plan.json"
        if not plan_path.exists():
            raise PreviewError(f"no preview of owner stack {stack!r} at {plan_path}; run "
                               f"`make preview STACK={stack}` first")
        plan_doc = json.loads(plan_path.read_text())
        return plan_doc["outputs"], plan_doc["secretOutputs"]

    return read


def _refuse(what: str, problems: list) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PreviewError(f"{what} {problems[0]}{more}")


def preview_stack(stack: str, project_dir: Path = PROJECT_DIR, build_dir: Path | None = None,
                  secrets: dict[str, str] | None = None, log: Callable[[str], None] = lambda m: None,
                  _chain: tuple[str, ...] = (), overrides: dict[str, str] | None = None,
                  check_schemas: bool = False) -> PreviewResult:
    """Preview ``stack`` (previewing its owner first when the owner has no preview yet) and write
    the build folder. Nothing is written when the program fails: the previous build stays."""
    build_dir = build_dir or project_dir / "build"
    owner = owner_of(project_dir, stack)
    if owner and owner != stack and owner not in _chain and (project_dir / f"Pulumi.{owner}.yaml").exists() \
            and not (build_dir / owner / "plan.json").exists():
        log(f"{stack} attaches to {owner}: previewing {owner} first")
        preview_stack(owner, project_dir, build_dir, secrets, log, _chain + (stack,), overrides)

    log(f"running the program for stack {stack} under the mock engine")
    started = time.perf_counter()
    run: ProgramRun = run_program(project_dir, stack, owner_outputs(build_dir), secrets,
                                  overrides=overrides)
    plan_doc = render.plan(run)
    files = render.manifests(plan_doc)
    # Who can call what, from the rendered objects and the owner's Gateway (its preview).
    owner_path = build_dir / (owner or stack) / "plan.json"
    owner_plan = json.loads(owner_path.read_text()) if owner and owner != stack and owner_path.exists() else None
    plan_doc["access"] = access.document(access.plan_objects(plan_doc, owner_plan))
    summary = render.summary(plan_doc, cost.estimate(plan_doc, owner_plan=owner_plan))
    if check_schemas and files:
        from .schemas import KUBERNETES_VERSION, check

        log(f"checking {len(files)} manifests: Kubernetes {KUBERNETES_VERSION} schemas, "
            f"Istio {' and '.join(ISTIO_VERSIONS.values())} CRDs (for Istio "
            f"{', '.join(ISTIO_VERSIONS)}: each object against both) "
            f"and cert-manager {CERT_MANAGER_VERSION} CRDs (schemas and CEL rules)")
        _refuse("invalid manifest", check(files))
    if check_schemas:
        # What the real provider's Check refuses at the first `pulumi preview`.
        from . import provider_rules

        log(f"checking gcp inputs against the provider's rules ({provider_rules.source_ref()})")
        _refuse("the provider would refuse", provider_rules.check(plan_doc))

    build_dir.mkdir(parents=True, exist_ok=True)
    out_dir = build_dir / stack
    staging = Path(tempfile.mkdtemp(prefix=f".{stack}-", dir=build_dir))
    try:
        (staging / "manifests").mkdir()
        (staging / "plan.json").write_text(json.dumps(plan_doc, indent=2, sort_keys=True) + "\n")
        for name, text in sorted(files.items()):
            (staging / "manifests" / name).write_text(text)
        (staging / "summary.md").write_text(summary)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return PreviewResult(stack, out_dir, plan_doc, time.perf_counter() - started)


__all__ = ["PreviewError", "PreviewResult", "locate_stack", "preview_stack", "SECRET"]
