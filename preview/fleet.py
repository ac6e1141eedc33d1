"""``python -m preview.fleet`` (``make preview-all``): every stack of a folder, previewed and
policy-checked in one process.

Each ``build/<stack>/`` is what ``make preview STACK=<stack>`` writes (schema checks on), and the
policy pack runs over each plan as ``make policy`` does; ``build/summary.md`` covers the fleet.
Owners go first, then the stacks attached to them: an attached stack reads its owner's plan of
this run, never an older one. A stack that fails is named with its error lines and its
``build/<stack>/`` is removed (an older preview must not pass for this run's); the attached
stacks of a failed owner are reported failed without being previewed. Exit code 1 when any stack
failed or broke a policy, 2 for bad arguments (nothing done).
"""

from __future__ import annotations

import argparse
import gc
import shlex
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from components.config import ConfigError
from components.fleet import check as fleet_check
from components.stackset import StackFile, StackSet, read_stack_file, stack_file_name
from policy.offline import POLICIES, Violation, check_plan, report

from . import PROJECT_DIR, PreviewResult, preview_stack
from .__main__ import USER_ERRORS, StackInputs, error_lines, log, print_rows, result_rows, stack_options

FLEET_SUMMARY = "summary.md"
ROLE_ORDER = {"owner": 0, "unknown": 1}  # then attached
YOUNG_COLLECTION_EVERY = 10_000  # allocations


@dataclass
class StackRun:
    """One stack's part of a fleet run."""

    stack: str
    role: str
    owner: str | None
    result: PreviewResult | None = None
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    owner_failed: bool = False

    @property
    def failed(self) -> bool:
        return self.result is None


def members(project_dir: Path) -> list[StackRun]:
    """Every stack file of the folder, owners first, then the others by name. Each file is read
    on its own: one that cannot be read is "unknown" (its preview says why), not the fleet's end."""
    runs = []
    for name in StackSet.names_in(project_dir):
        path = project_dir / stack_file_name(name)
        try:
            stack = StackFile(name, path, read_stack_file(path))
        except ConfigError:
            runs.append(StackRun(name, "unknown", None))
        else:
            runs.append(StackRun(name, stack.role, stack.owner))
    # Unknown ones before attached: a file that cannot be read may be someone's owner.
    return sorted(runs, key=lambda run: ROLE_ORDER.get(run.role, len(ROLE_ORDER)))


def preview_fleet(project_dir: Path, build_dir: Path, inputs: dict[str, StackInputs],
                  check_schemas: bool = True) -> list[StackRun]:
    """Preview and policy-check every stack of ``project_dir`` into ``build_dir``, printing what
    ``make preview`` and ``make policy`` print for each."""
    runs = members(project_dir)
    thresholds = gc.get_threshold()
    # A preview allocates many small objects that live until it ends: a young collection every
    # 700 allocations (the default) walks them again and again, a sixth of a fleet's time.
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *thresholds[1:])
    failed: set[str] = set()
    try:
        for run in runs:
            if run.owner in failed:  # its plan is gone: never preview against an older one
                run.owner_failed = True
                run.errors = [f"not previewed: its owner {run.owner} failed"]
            else:
                run.result = _preview(run, project_dir, build_dir, inputs.get(run.stack, StackInputs()),
                                      check_schemas)
            if run.result is None:
                failed.add(run.stack)
                print("\n".join(f"error: {run.stack}: {line}" for line in run.errors), file=sys.stderr)
                shutil.rmtree(build_dir / run.stack, ignore_errors=True)
                continue
            run.violations = check_plan(run.result.plan, project_dir)
            print_rows(result_rows(run.result))
            print("\n".join(report(run.stack, run.result.plan, run.violations)) + "\n")
            # What the runs so far left (the SDK and providers, mostly) is not rescanned by every
            # later collection: a third of a fleet's time otherwise, for a few MB held.
            gc.freeze()
    finally:  # a caller that lives on collects as before
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return runs


def _preview(run: StackRun, project_dir: Path, build_dir: Path, inputs: StackInputs,
             check_schemas: bool) -> PreviewResult | None:
    try:
        secrets, overrides = inputs.for_stack(project_dir, run.stack)
        return preview_stack(run.stack, project_dir, build_dir, secrets, log=log, overrides=overrides,
                             check_schemas=check_schemas)
    except USER_ERRORS as err:
        run.errors = error_lines(err)
    except Exception as err:  # a bug in the program: this stack's failure, with where it was
        traceback.print_exc()
        run.errors = [f"{type(err).__name__}: {err}"]
    return None


def summary(runs: list[StackRun], folder: str) -> str:
    """``build/summary.md``: one row per stack, then each failure's lines and each violation."""
    failed = [run for run in runs if run.failed]
    broken = [run for run in runs if run.violations]
    lines = [f"# Offline preview of every stack: {folder}", "",
             f"{len(runs)} stack(s): {len(runs) - len(failed)} previewed, {len(failed)} failed; policy "
             f"pack ({POLICIES} policies): {sum(len(r.violations) for r in runs)} violation(s) in "
             f"{len(broken)} stack(s).", "",
             "| stack | role | owner | resources | result | summary |", "|---|---|---|---|---|---|"]
    lines += [_row(run) for run in runs]
    if failed:
        lines += ["", "## Failed"]
        for run in failed:
            lines += ["", f"`{run.stack}`:", "", "```", *run.errors, "```"]
    if broken:
        lines += ["", "## Policy violations"]
        for run in broken:
            lines += ["", f"`{run.stack}`:", "", *(f"- `{v.policy}`: {v.message}" for v in run.violations)]
    return "\n".join(lines) + "\n"


def _row(run: StackRun) -> str:
    owner = f"`{run.owner}`" if run.owner else ""
    if run.result is None:
        result = "**failed** (its owner failed)" if run.owner_failed else "**failed**"
        resources, link = "", "not written"
    else:
        count = len(run.violations)
        result = f"**{count} policy violation(s)**" if count else "ok"
        resources = str(len(run.result.plan["resources"]))
        link = f"`{run.stack}/summary.md`"  # a path: a relative link breaks in a PR comment
    return f"| `{run.stack}` | {run.role} | {owner} | {resources} | {result} | {link} |"


def _stack_inputs(items: list[str]) -> dict[str, StackInputs]:
    """``--stack-flags STACK=FLAGS``: ``make preview``'s own stack options for one stack.
    Raises ValueError (argparse exits 2 itself on an unknown option)."""
    found = {}
    for item in items:
        stack, sep, flags = item.partition("=")
        if not sep or not stack:
            raise ValueError(f"--stack-flags {item!r}: expected STACK=FLAGS, e.g. provided=--demo-certificate")
        args = stack_options(prog=f"--stack-flags {stack}=").parse_args(shlex.split(flags))
        found[stack] = StackInputs.from_args(args)
    return found


def _folder_name(project_dir: Path) -> str:
    resolved = project_dir.resolve()
    if resolved == PROJECT_DIR:
        return "the project"
    return str(resolved.relative_to(PROJECT_DIR)) if resolved.is_relative_to(PROJECT_DIR) else str(resolved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make preview-all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project-dir", default=str(PROJECT_DIR),
                        help="folder of the stack files (default: this project), e.g. examples/mutual")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    parser.add_argument("--stack-flags", action="append", default=[], metavar="STACK=FLAGS",
                        help="make preview's options for one stack, e.g. provided=--demo-certificate "
                             "(ignored for a stack not in the folder: make passes every PREVIEW_FLAGS_<stack>)")
    parser.add_argument("--no-schemas", action="store_true", help="skip the manifest schema checks")
    args = parser.parse_args(argv)
    project_dir, build_dir = Path(args.project_dir), Path(args.build_dir)
    try:
        inputs = _stack_inputs(args.stack_flags)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not StackSet.names_in(project_dir):  # before any work: nothing previewed, nothing written
        print(f"error: no stack files ({stack_file_name('<stack>')}) in {project_dir}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    # An interrupted run must not leave the previous run's summary looking like its own.
    (build_dir / FLEET_SUMMARY).unlink(missing_ok=True)
    runs = preview_fleet(project_dir, build_dir, inputs, check_schemas=not args.no_schemas)
    # The rules across the stack files (components/fleet.py): names, audiences, owners, certificates.
    across = fleet_check(project_dir, own=False)  # each file's own: its preview's
    print("\n".join(f"error: fleet: {problem}" for problem in across), file=sys.stderr)
    build_dir.mkdir(parents=True, exist_ok=True)
    text = summary(runs, _folder_name(project_dir))
    if across:
        text += "\n## Fleet check\n\n" + "".join(f"- {problem}\n" for problem in across)
    (build_dir / FLEET_SUMMARY).write_text(text)
    failed = [run.stack for run in runs if run.failed]
    broken = [run.stack for run in runs if run.violations] + (["fleet check"] if across else [])
    print(f"fleet: {len(runs)} stack(s), {len(runs) - len(failed)} previewed"
          + (f", failed: {', '.join(failed)}" if failed else "")
          + (f", policy violations: {', '.join(broken)}" if broken else "")
          + f"; wrote {build_dir / FLEET_SUMMARY}; took {time.perf_counter() - started:.2f}s")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main())
