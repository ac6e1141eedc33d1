"""The rules across stack files, in one place: environment names and audiences unique, owner
relations (an attached stack names a stack file that owns a platform), a provided certificate
covering every host of its platform, group owners only on a platform with Google Groups for
RBAC, an environment's Istio revision tag installed by its owner; and each file readable and
valid on its own.

Run by the tests (tests/test_fleet.py), the policy pack (audiences), ``make preview-all`` and
``python -m components.fleet`` (CI), never by one stack's program: a broken file fails this
check and its own stack, and blocks no other stack's preview or deployment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import NAMESPACE, Problem, StackKeys, host_covered, validate
from .config.loading import check_keys
from .config.types import show
from .stackset import BOOTSTRAP_DIR, PLATFORM_KEY, StackFile, StackSet, stack_file_name, stack_folders


@dataclass(frozen=True)
class Member:
    """One stack file, as far as it reads and validates on its own."""

    file: StackFile
    config: StackKeys | None
    problems: tuple[Problem, ...]


def member(stack: StackFile) -> Member:
    """The file's own problems, as its program finds them from the file alone (values set outside
    it, such as a PEM passed on the command line or an encrypted key, are taken as set)."""
    if stack.error is not None:
        return Member(stack, None, tuple(stack.error.problems))
    problems, _ = check_keys(stack.file_name, stack.config, ())
    raw = {key.partition(":")[2]: value for key, value in stack.config.items()
           if key.startswith(f"{NAMESPACE}:")}
    secure = {key for key, value in raw.items() if isinstance(value, dict) and set(value) == {"secure"}}
    raw = {key: (key == "tlsPrivateKey" or None) if key in secure else value for key, value in raw.items()}
    config, found = validate(stack.name, raw, partial=True, stack_file=stack.file_name)
    return Member(stack, config, (*problems, *found))


def audiences(stacks: StackSet) -> dict[str, list[str]]:
    """audience -> the stacks whose environment accepts it (as each file says)."""
    found: dict[str, list[str]] = {}
    for stack in stacks:
        for audience in sorted(stack.audiences):
            found.setdefault(audience, []).append(stack.name)
    return found


def check(project_dir: Path, own: bool = True) -> list[Problem]:
    """Every problem of the stack files of one folder: each file's own (``own``; a preview of
    each stack finds those too), then those across them."""
    stacks = StackSet.load(project_dir)
    members = {stack.name: member(stack) for stack in stacks}
    return [p for m in members.values() if own for p in m.problems] + list(_across(stacks, members))


def _across(stacks: StackSet, members: dict[str, Member]) -> Iterator[Problem]:
    for stack in stacks:
        others = [o for o in stacks.others(stack.name) if o.error is None]
        for other in others:
            if stack.error is None and other.environment_name == stack.environment_name:
                yield Problem(stack.file_name, "environment.name", f"got {show(stack.environment_name)}, "
                              f"already the environment of {other.file_name}; expected a name no other "
                              "stack uses")
        for audience in sorted(stack.audiences):
            sharing = [o.file_name for o in others if audience in o.audiences]
            if sharing:
                yield Problem(stack.file_name, "environment.auth.audiences", f"{show(audience)} is also an "
                              f"audience of {', '.join(sharing)}; expected audiences unique to this "
                              "environment (one environment's tokens must never open another)")
        yield from _owner(stack, stacks, members)
        yield from _coverage(stack, stacks, members)


def _owner(stack: StackFile, stacks: StackSet, members: dict[str, Member]) -> Iterator[Problem]:
    """An attached stack's owner: a stack file of this folder that declares a platform, whose
    certificate covers the attached host, and which resolves group owners."""
    reference, owner = stack.config.get(f"{NAMESPACE}:attachTo"), stack.owner
    if stack.is_owner or owner is None or owner == stack.name:
        return  # an owner, no attachTo (the file's own problem), or itself (the program's)
    owner_file = stack_file_name(owner)
    if owner not in stacks:
        yield Problem(stack.file_name, "attachTo", f"got {show(reference)}, but {owner_file} does not "
                      "exist; expected the stack file of the platform owner")
        return
    if stacks[owner].error is None and PLATFORM_KEY not in stacks[owner].config:
        yield Problem(stack.file_name, "attachTo", f"got {show(reference)}, but {owner_file} has no "
                      f"{PLATFORM_KEY}; expected the stack that owns the platform")
        return
    mine, theirs = members[stack.name].config, members[owner].config
    platform = theirs.platform if theirs else None
    if mine is None or platform is None:
        return  # a file that does not validate is reported as it is
    tag = mine.environment.mesh_revision
    if tag not in platform.mesh.tags:
        yield Problem(stack.file_name, "environment.meshRevision", f"got {show(tag)}, but the platform of "
                      f"{owner_file} installs no Istio revision tagged {tag} (its tags: "
                      f"{', '.join(platform.mesh.tags)}); expected one of them, or a revision tagged {tag} "
                      f"in the owner's platform.mesh.revisions first (the owner deploys before its environments)")
    if platform.cluster.rbac_security_group is None:
        for i, name in enumerate(mine.environment.owners):
            if name.startswith("group:"):
                yield Problem(stack.file_name, f"environment.owners[{i}]", f"got {show(name)}, a group, "
                              f"but the platform of {owner_file} has no Google Groups for RBAC; expected "
                              "platform.cluster.rbacSecurityGroup set on the owner stack, or user: owners")


def _coverage(owner: StackFile, stacks: StackSet, members: dict[str, Member]) -> Iterator[Problem]:
    """A provided certificate covers every environment host of its platform (the owner's own
    host is its program's to check); ``*.api.<domain>`` covers exactly one label."""
    config = members[owner.name].config
    platform = config.platform if config else None
    if platform is None or platform.tls.certificate is None:
        return
    missed = [(host, stack.file_name) for stack in stacks.attached_to(owner.name)
              if (mine := members[stack.name].config) is not None
              and not host_covered(host := platform.host_for(mine.environment.name), platform.tls.dns_names)]
    if missed:
        yield Problem(owner.file_name, "tlsCertificate", "does not cover " + ", ".join(
            f"{host} (the host of {file})" for host, file in missed) + "; expected a certificate for "
            f"every environment host of the platform (its names: {', '.join(platform.tls.dns_names)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", action="append", type=Path,
                        help="a folder of stack files (default: the project and each example set)")
    root = Path(__file__).resolve().parent.parent
    args = parser.parse_args(argv)
    folders = args.project_dir or [f for f in stack_folders(root) if f.name != BOOTSTRAP_DIR]
    problems = [p for folder in folders for p in check(folder)]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"fleet: {sum(len(StackSet.names_in(f)) for f in folders)} stack file(s) in {len(folders)} "
          f"folder(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
