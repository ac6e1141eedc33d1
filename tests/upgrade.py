"""An upgrade of the shipped platform from the pinned Istio to the next one, as the stack-file
edits that make it (docs/operations.md "Upgrading Istio"): the owner installs the new revision
beside the old as `canary`; test, uat and dev move to it, one commit each; `stable` is promoted;
the old revision is removed. And a rollback: an environment moving back to `stable`.

Each edit is a text edit of the stack file (its comments stay), so that the same steps make the
commits of the demonstration (``python tests/upgrade.py <repo>``) and the tests' copies.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.istio import revision_name  # noqa: E402
from components.versions import ISTIO_NEXT_VERSION, ISTIO_VERSION  # noqa: E402

OLD, NEW = ISTIO_VERSION, ISTIO_NEXT_VERSION
OWNER = "dev"
PLATFORM = "  istio-envs:platform:\n"
ENVIRONMENT = "  istio-envs:environment:\n"
MESH = re.compile(r"    # Istio's control planes.*\n(    #.*\n)*    mesh:\n      revisions:\n(        - .*\n)+")
TAG = re.compile(r"    meshRevision: \w+\n")


def mesh(*revisions: tuple[str, tuple[str, ...]]) -> Callable[[str], str]:
    """The owner's platform.mesh.revisions set to ``revisions`` ((version, tags), ...)."""
    block = ("    # Istio's control planes, one istiod per revision (docs/operations.md \"Upgrading\n"
             "    # Istio\"): environments select a tag with environment.meshRevision.\n"
             "    mesh:\n      revisions:\n"
             + "".join(f"        - {{version: {v}, tags: [{', '.join(tags)}]}}\n" for v, tags in revisions))

    def edit(text: str) -> str:
        if MESH.search(text):
            return MESH.sub(lambda _: block, text, count=1)
        assert PLATFORM in text, "not an owner's stack file"
        return text.replace(PLATFORM, PLATFORM + block, 1)
    return edit


def select(tag: str) -> Callable[[str], str]:
    """The environment's meshRevision set to ``tag`` (stable: the key removed, its default)."""
    def edit(text: str) -> str:
        text = TAG.sub("", text)
        if tag == "stable":
            return text
        assert ENVIRONMENT in text
        return text.replace(ENVIRONMENT, ENVIRONMENT + f"    meshRevision: {tag}\n", 1)
    return edit


@dataclass(frozen=True)
class Step:
    name: str
    """What the step does, as its commit says it."""
    edits: dict[str, Callable[[str], str]]
    """Stack name -> the edit of its file."""
    risks: tuple[str, ...]
    """The mesh risk lines `make diff-rev` reports for it (``mesh-revision``)."""
    platform: bool = False
    """It changes the owner's platform.mesh (the istiod releases, the base, CNI and gateway)."""

    def apply(self, project: Path) -> None:
        for stack, edit in self.edits.items():
            path = project / f"Pulumi.{stack}.yaml"
            path.write_text(edit(path.read_text()))


R_OLD, R_NEW = revision_name(OLD), revision_name(NEW)
STEPS = (
    Step(f"the owner installs Istio {NEW} beside {OLD} as the canary revision",
         {OWNER: mesh((OLD, ("stable",)), (NEW, ("canary",)))},
         (f"dev: revision {R_NEW} (Istio {NEW}) is installed beside {R_OLD}, tagged canary",), platform=True),
    Step(f"test moves to Istio {NEW} (canary)", {"test": select("canary")},
         (f"test: test moves to {NEW}: its pods restart",)),
    Step(f"uat moves to Istio {NEW} (canary)", {"uat": select("canary")},
         (f"uat: uat moves to {NEW}: its pods restart",)),
    Step(f"dev moves to Istio {NEW} (canary)", {OWNER: select("canary")},
         (f"dev: dev moves to {NEW}: its pods restart",)),
    Step(f"stable is promoted to Istio {NEW}; the ingress gateway moves last",
         {OWNER: mesh((OLD, ()), (NEW, ("stable", "canary")))},
         (f"dev: tag stable moves to {NEW} (revision {R_NEW}): the ingress gateway restarts on it",), platform=True),
    Step(f"revision {R_OLD} (Istio {OLD}) is removed", {OWNER: mesh((NEW, ("stable", "canary")))},
         (f"dev: revision {R_OLD} (Istio {OLD}) is removed",), platform=True),
)
# A rollback of one environment, from the state after uat moved: the same move backwards.
ROLLBACK_AFTER = 2
ROLLBACK = Step(f"uat rolls back to Istio {OLD} (stable)", {"uat": select("stable")},
                (f"uat: uat moves to {OLD}: its pods restart",))


def copy_project(destination: Path) -> Path:
    """The project's files (as git tracks them, or the working tree without build output)."""
    shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
        ".venv", "build", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules",
        "venv"))
    return destination


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_steps(repo: Path, steps: tuple[Step, ...] = STEPS) -> list[str]:
    """Each step as one commit of ``repo`` (a git work tree of the project); their hashes."""
    hashes = []
    for step in steps:
        step.apply(repo)
        _git(repo, "add", "--", *(f"Pulumi.{stack}.yaml" for stack in step.edits))
        _git(repo, "-c", "user.name=istio-envs", "-c", "user.email=istio-envs@example.com", "commit",
             "-q", "-m", f"Upgrading Istio (#23): {step.name}")
        hashes.append(_git(repo, "rev-parse", "HEAD"))
    return hashes


if __name__ == "__main__":  # python tests/upgrade.py <work tree>: the demonstration's commits
    target = Path(sys.argv[1])
    for commit, step in zip(commit_steps(target), STEPS, strict=True):
        print(commit[:10], step.name)
