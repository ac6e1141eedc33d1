"""How the diffs are written out, in one place: a value shown, a change as a row, ``make diff``'s
text, and ``make diff-rev``'s report as text, markdown (the pull request's comment) or JSON (its
dataclasses as they are, for a program).

Secrets are ``[secret]`` in every plan (``preview.engine``) and are shown as ``(secret)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .engine import SECRET

if TYPE_CHECKING:
    from .diff import Change, PlanChanges
    from .revdiff import Report, StackChange


def show(value: Any, limit: int = 70) -> str:
    """A value as JSON, cut at ``limit`` characters."""
    if value == SECRET:
        return "(secret)"
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def row(change: Change) -> str:
    """One changed input: ``path: old → new``, ``path: added …``, ``path: removed (was …)``."""
    if change.kind == "added":
        return f"{change.path}: added {show(change.new, 200)}"
    if change.kind == "removed":
        return f"{change.path}: removed (was {show(change.old, 200)})"
    if change.kind == "order":
        return f"{change.path}: order {', '.join(change.old)} → {', '.join(change.new)}"
    return f"{change.path}: {show(change.old)} → {show(change.new)}"


def output_row(change: Change) -> str:
    """One changed output, a whole value: ``name: old → new``, ``(none)`` on the side without it."""
    old = "(none)" if change.kind == "added" else show(change.old)
    new = "(none)" if change.kind == "removed" else show(change.new)
    return f"{change.path}: {old} → {new}"


# --- make diff ------------------------------------------------------------------------------------

def plan_diff(old_stack: str, new_stack: str, found: PlanChanges) -> list[str]:
    """Two stacks' plans compared, environment names read as ``<env>``."""
    lines = [f"Comparing `{old_stack}` → `{new_stack}`: {found.counts[0]} → {found.counts[1]} resources "
             f"(environment names read as <env>)", ""]
    sections = [(f"Only in {new_stack} ({len(found.added)}):", [f"  + {n}" for n in found.added]),
                (f"Only in {old_stack} ({len(found.removed)}):", [f"  - {n}" for n in found.removed]),
                ("Changed inputs:", [line for name, rows in found.changed.items()
                                     for line in [f"  ~ {name}", *(f"      {row(c)}" for c in rows)]]),
                ("Outputs:", [f"  {output_row(c)}" for c in found.outputs])]
    for title, body in sections:
        if body:
            lines += [title, *body, ""]
    if not found:
        lines.append("No differences.")
    return lines


# --- make diff-rev --------------------------------------------------------------------------------

def _headline(change: StackChange) -> str:
    if change.status == "created":
        return f"created as a whole: {len(change.added)} resources"
    if change.status == "destroyed":
        return f"destroyed as a whole: {len(change.removed)} resources"
    if change.status == "failed":
        return f"preview failed ({change.error})"
    return (f"{len(change.added)} added, {len(change.removed)} removed, "
            f"{len(change.changed)} changed")


def _body(change: StackChange) -> list[str]:
    """A changed stack's resources added, removed and changed, then its outputs (diff notation)."""
    body = [f"+ {n}" for n in change.added] + [f"- {n}" for n in change.removed]
    for name, rows in change.changed.items():
        body += [f"~ {name}"] + [f"    {row(c)}" for c in rows]
    if change.outputs:
        body += ["outputs:"] + [f"    {output_row(c)}" for c in change.outputs]
    if change.access:
        body += ["who can call what:"] + [f"    {line}" for line in change.access]
    if change.cost:
        body += ["cost (estimate):"] + [f"    {line}" for line in change.cost]
    return body


def _report(report: Report, markdown: bool) -> str:
    """``make diff-rev``'s report as text, or as markdown (the pull request's comment)."""
    if markdown:
        lines = [f"### Offline revision diff `{report.base}` → `{report.head}`", ""]
        lines += ([f"**Risks ({len(report.risks)})**", ""] if report.risks else ["**Risks:** none found."])
        lines += [f"- :warning: **{r.kind}** `{r.stack}`: {r.text}" for r in report.risks]
    else:
        lines = [f"Revision diff {report.base} → {report.head}", ""]
        lines.append(f"Risks ({len(report.risks)}):" if report.risks else "Risks: none found.")
        lines += [f"  ! [{r.kind}] {r.stack}: {r.text}" for r in report.risks]
    lines.append("")
    unchanged = [c.stack for c in report.stacks if c.status == "unchanged"]
    for change in (c for c in report.stacks if c.status != "unchanged"):
        if markdown:
            lines.append(f"#### `{change.stack}`: {_headline(change)}")
            lines += [""] if change.status in ("created", "destroyed", "failed") else [
                "<details><summary>details</summary>", "", "```diff", *_body(change), "```", "",
                "</details>", ""]
        else:
            lines.append(f"{change.stack}: {_headline(change)}")
            if change.status not in ("created", "destroyed"):
                lines += [f"  {line}" for line in _body(change)]
    if unchanged and markdown:
        lines.append(f"Unchanged ({len(unchanged)}): {', '.join(f'`{s}`' for s in unchanged)}")
    elif unchanged:
        lines.append(f"unchanged ({len(unchanged)}): {', '.join(unchanged)}")
    return "\n".join(lines).rstrip() + "\n"


def text(report: Report) -> str:
    return _report(report, markdown=False)


def markdown(report: Report) -> str:
    return _report(report, markdown=True)


def as_json(report: Report) -> str:
    """The report's dataclasses as JSON: each change with its path, kind, old and new value."""
    return json.dumps(asdict(report), indent=2) + "\n"
