"""``make diff FROM=dev TO=uat``: what differs between two stacks' offline previews, in words.

Each stack's environment name is read as ``<env>``, in resource names and in values, so
``dev-namespace`` and ``uat-namespace`` are one resource and only real differences show (quotas,
routes, TLS mode, what one stack declares and the other does not). For matched resources the
changed inputs are listed path by path; secrets are ``[secret]`` in both plans and so never shown.
Either side may also be a path to a ``plan.json``.

List items are matched by what they are, not where they sit: a route by its match prefix, an
item by its ``path``, ``host``, ``name`` or port ``number``, anything else (a policy rule, a plain
value) by its content, and what is left over with the most alike item on the other side. So an
item inserted into a list is reported as added, the items after it stay unchanged, and a
reordering of named items (the routes: Istio takes the first match) is reported as such.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import PROJECT_DIR

SECRET = "[secret]"


def load_plan(ref: str, build_dir: Path) -> dict:
    path = Path(ref) if ref.endswith(".json") else build_dir / ref / "plan.json"
    if not path.exists():
        raise FileNotFoundError(f"no plan at {path}; run `make preview STACK={ref}` first")
    return json.loads(path.read_text())


def _key(resource: dict, environment: str) -> tuple[str, str]:
    name = resource["name"]
    if environment and (name == environment or name.startswith(environment + "-")):
        name = "<env>" + name[len(environment):]
    return resource["type"], name


def _generic(value: Any, environment: str) -> Any:
    """``value`` with the environment's name read as ``<env>`` (hosts, namespaces, audiences)."""
    if not environment:
        return value
    if isinstance(value, str):
        return re.sub(rf"(?<![a-z0-9-]){re.escape(environment)}(?![a-z0-9])", "<env>", value)
    if isinstance(value, dict):
        return {k: _generic(v, environment) for k, v in value.items()}
    if isinstance(value, list):
        return [_generic(v, environment) for v in value]
    return value


def _show(value: Any, limit: int = 70) -> str:
    if value == SECRET:
        return "(secret)"
    text = json.dumps(value, separators=(", ", ": "))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _identity(item: Any) -> str | None:
    """What names a list item, whatever its position: a route's match prefix (or path), a
    ``host``, a ``name``, a port ``number``. None: the item is known by its content (a policy
    rule, a plain value)."""
    if not isinstance(item, dict):
        return None
    match = item.get("match")
    if isinstance(match, list) and match and isinstance(match[0], dict):
        uri = match[0].get("uri")
        if isinstance(uri, dict):
            for kind in ("prefix", "exact", "regex"):
                if isinstance(uri.get(kind), str):
                    return f"{kind}={uri[kind]}"
    for key in ("path", "host", "name", "number", "port"):
        if isinstance(item.get(key), (str, int)) and not isinstance(item.get(key), bool):
            return f"{key}={item[key]}"
    destination = item.get("destination")
    if isinstance(destination, dict) and isinstance(destination.get("host"), str):
        return f"destination={destination['host']}"
    return None


def _leaves(value: Any, path: str = "") -> set[tuple[str, str]]:
    if isinstance(value, dict) and value:
        return {leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")}
    if isinstance(value, list) and value:
        return {leaf for v in value for leaf in _leaves(v, f"{path}[]")}
    return {(path, json.dumps(value, sort_keys=True))}


def _pair(old: list, new: list) -> list[tuple[int | None, int | None]]:
    """Old and new list items matched by identity, not position: by name (route prefix, host,
    name, port), else by equal content; items left over are paired with the most alike one on
    the other side (a rule that changed), or are added or removed."""
    keys_old, keys_new = [_identity(v) for v in old], [_identity(v) for v in new]
    keyed = (None not in keys_old and None not in keys_new
             and len(set(keys_old)) == len(old) and len(set(keys_new)) == len(new))
    pairs: list[tuple[int | None, int | None]] = []
    if keyed:
        where = {k: j for j, k in enumerate(keys_new)}
        pairs = [(i, where.get(k)) for i, k in enumerate(keys_old)]
        taken = {j for _, j in pairs if j is not None}
        return pairs + [(None, j) for j in range(len(new)) if j not in taken]
    left_new = list(range(len(new)))
    left_old = []
    for i, value in enumerate(old):
        j = next((j for j in left_new if new[j] == value), None)
        if j is None:
            left_old.append(i)
        else:
            pairs.append((i, j))
            left_new.remove(j)
    # What remains changed (or is new): pair by how much of their content they share.
    if all(isinstance(v, dict) for v in old + new):
        scored = sorted(((len(_leaves(old[i]) & _leaves(new[j])), i, j) for i in left_old for j in left_new),
                        key=lambda t: (-t[0], t[1], t[2]))
        for score, i, j in scored:
            if score and i in left_old and j in left_new:
                pairs.append((i, j))
                left_old.remove(i)
                left_new.remove(j)
    if left_old and len(left_old) == len(left_new) and len(old) == len(new):
        pairs += list(zip(left_old, left_new, strict=True))  # the same slots, other values: shown as changes
        left_old, left_new = [], []
    return pairs + [(i, None) for i in left_old] + [(None, j) for j in left_new]


def _compare(a: Any, b: Any, path: str) -> Iterator[str]:
    """One line per difference between ``a`` and ``b`` (a path, then what changed)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            inner = f"{path}.{key}" if path else key
            if key not in a:
                yield f"{inner}: added {_show(b[key], 200)}"
            elif key not in b:
                yield f"{inner}: removed (was {_show(a[key], 200)})"
            else:
                yield from _compare(a[key], b[key], inner)
    elif isinstance(a, list) and isinstance(b, list):
        pairs = _pair(a, b)

        def label(i: int | None, j: int | None) -> str:
            name = _identity(a[i] if i is not None else b[j])
            if name is not None:
                return name
            return str(j) if i is None else str(i) if j is None or i == j else f"{i}→{j}"

        for i, j in sorted(pairs, key=lambda p: (p[1] if p[1] is not None else p[0], p[1] is None)):
            inner = f"{path}[{label(i, j)}]"
            if i is None:
                yield f"{inner}: added {_show(b[j], 200)}"
            elif j is None:
                yield f"{inner}: removed (was {_show(a[i], 200)})"
            else:
                yield from _compare(a[i], b[j], inner)
        kept = [(i, j) for i, j in pairs if i is not None and j is not None]
        old_order = [label(i, j) for i, j in sorted(kept)]
        new_order = [label(i, j) for i, j in sorted(kept, key=lambda p: p[1])]
        if old_order != new_order and any(_identity(v) for v in a):
            yield f"{path}: order {', '.join(old_order)} → {', '.join(new_order)}"
    elif a != b:
        yield f"{path}: {_show(a)} → {_show(b)}"


def diff(old: dict, new: dict) -> list[str]:
    old_env, new_env = old["outputs"].get("environment", ""), new["outputs"].get("environment", "")
    before = {_key(r, old_env): r for r in old["resources"]}
    after = {_key(r, new_env): r for r in new["resources"]}
    lines = [f"Comparing `{old['stack']}` → `{new['stack']}`: {len(before)} → {len(after)} resources "
             f"(environment names read as <env>)", ""]

    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    if added:
        lines.append(f"Only in {new['stack']} ({len(added)}):")
        lines += [f"  + {typ} {name}" for typ, name in added]
        lines.append("")
    if removed:
        lines.append(f"Only in {old['stack']} ({len(removed)}):")
        lines += [f"  - {typ} {name}" for typ, name in removed]
        lines.append("")
    changed = []
    for key in sorted(set(before) & set(after)):
        rows = [f"      {line}" for line in _compare(_generic(before[key]["inputs"], old_env),
                                                     _generic(after[key]["inputs"], new_env), "")]
        if before[key]["protect"] != after[key]["protect"]:
            rows.append(f"      protect: {before[key]['protect']} → {after[key]['protect']}")
        if rows:
            changed.append(f"  ~ {key[0]} {key[1]}")
            changed += rows
    if changed:
        lines.append("Changed inputs:")
        lines += changed
        lines.append("")
    out_rows = []
    for name in sorted(set(old["outputs"]) | set(new["outputs"])):
        a = _generic(old["outputs"].get(name), old_env)
        b = _generic(new["outputs"].get(name), new_env)
        if a != b:
            out_rows.append(f"  {name}: {_show(a) if name in old['outputs'] else '(none)'} → "
                            f"{_show(b) if name in new['outputs'] else '(none)'}")
    if out_rows:
        lines.append("Outputs:")
        lines += out_rows
        lines.append("")
    if not (added or removed or changed or out_rows):
        lines.append("No differences.")
    return lines


USAGE = "usage: make diff FROM=<stack> TO=<stack>, e.g. make diff FROM=dev TO=uat"


def check_refs(refs: list[str], project_dir: Path = PROJECT_DIR) -> str | None:
    """Why ``refs`` cannot be diffed (None: they can): two of them, each a stack that can be
    previewed or an existing plan.json. Checked before anything is previewed."""
    from .__main__ import unknown_stack

    if len(refs) != 2 or not all(refs):
        return USAGE
    for ref in refs:
        if ref.endswith(".json"):
            if not Path(ref).is_file():
                return f"no plan at {ref}"
        elif (problem := unknown_stack(ref, project_dir)) is not None:
            return problem
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make diff", description=__doc__)
    parser.add_argument("old", nargs="?", default="",
                        help="stack name (its build/<stack>/plan.json) or a plan.json path")
    parser.add_argument("new", nargs="?", default="")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    parser.add_argument("--check", action="store_true",
                        help="only check that both are stacks that can be previewed (or plan.json "
                             "files), as `make diff` does before previewing them")
    args = parser.parse_args(argv)
    problem = check_refs([args.old, args.new])
    if problem:
        print(problem if problem == USAGE else f"error: {problem}", file=sys.stderr)
        return 2
    if args.check:
        return 0
    try:
        old, new = (load_plan(ref, Path(args.build_dir)) for ref in (args.old, args.new))
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(diff(old, new)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
