"""``make diff FROM=dev TO=uat``: what differs between two stacks' offline previews, in words.

Each stack's environment name is read as ``<env>``, in resource names and in values, so
``dev-namespace`` and ``uat-namespace`` are one resource and only real differences show (quotas,
routes, TLS mode, what one stack declares and the other does not). For matched resources the
changed inputs are listed path by path; secrets are ``[secret]`` in both plans and so never shown.
Either side may also be a path to a ``plan.json``.

The inputs are compared by ``deepdiff``. List items are matched by what they are, not where they
sit: in a list whose items all have a name (a route by its match prefix, an item by its ``path``,
``host``, ``name`` or port ``number``: :func:`_identity`), by that name (deepdiff's
``iterable_compare_func``), and a reordering is reported as such (the routes: Istio takes the
first match); in any other list (policy rules, plain values), by content whatever the order, what
is left over with the most alike item on the other side (its ``ignore_order_func`` and distance),
and in a list where an item repeats, by position. So an item inserted into a list is reported as
added and the items after it stay unchanged.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import CannotCompare

from . import PROJECT_DIR
from .diffview import plan_diff


@dataclass(frozen=True)
class Change:
    """One difference at ``path`` (``spec.http[prefix=/orders].timeout``): ``added`` (``new``),
    ``removed`` (``old``), ``changed`` (``old`` → ``new``), or ``order``, a named list reordered
    (``old`` and ``new`` its names in each order)."""

    path: str
    kind: str
    old: Any = None
    new: Any = None


@dataclass
class PlanChanges:
    """Two plans compared: resources (``type name``) only in the new one, only in the old one,
    the changes of those in both, the outputs' changes (whole values) and how many each has."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)
    outputs: list[Change] = field(default_factory=list)
    counts: tuple[int, int] = (0, 0)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.outputs)


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


def _named(items: list) -> bool:
    names = [_identity(item) for item in items]
    return None not in names and len(set(names)) == len(names)


def _same_item(x: Any, y: Any, level: Any = None) -> bool:
    """deepdiff's ``iterable_compare_func``. In a list kept in order (``level`` given) whose items
    are all named, the same item is the one with the same name; in one with a repeat, the one at
    the same index (deepdiff's own matching would lose a repeated item added). Pairing the
    leftovers of a list matched by content: named items by name, plain values when equal, other
    objects by how alike they are (deepdiff's distance)."""
    names = _identity(x), _identity(y)
    if level is not None and not (_named(level.t1) and _named(level.t2)):
        raise CannotCompare  # deepdiff compares the list by position
    if None not in names:
        return names[0] == names[1]
    if isinstance(x, dict) and isinstance(y, dict):
        raise CannotCompare
    return x == y


def _by_content(level: Any) -> bool:
    """deepdiff's ``ignore_order_func``: a list is matched by content unless all its items are
    named, or an item repeats (deepdiff's matching by content counts no repeats: by position)."""
    sides = (level.t1, level.t2)
    return not all(_named(side) for side in sides) and \
        all(len({json.dumps(v, sort_keys=True) for v in side}) == len(side) for side in sides)


# deepdiff's reports -> our kinds. What JSON cannot hold (sets, attributes) never comes.
KINDS = {"values_changed": "changed", "type_changes": "changed",
         "dictionary_item_added": "added", "iterable_item_added": "added",
         "dictionary_item_removed": "removed", "iterable_item_removed": "removed",
         "iterable_item_moved": "order"}


def _place(level: Any) -> tuple[str, tuple]:
    """The path of a deepdiff level (a list item by its name, else its index, ``i→j`` where it
    moved), and a key that sorts dict keys by name and list items by their new position."""
    path, key, node = "", [], level.all_up
    while node is not level:
        old, new = node.t1_child_rel, node.t2_child_rel
        if isinstance(node.t1 if old else node.t2, list):
            i, j = (old.param if old else None), (new.param if new else None)
            name = _identity(node.t1[i] if old else node.t2[j])
            index = j if i is None else i if j in (None, i) else f"{i}→{j}"
            path += f"[{name if name is not None else index}]"
            key.append((1, j if j is not None else i, j is None))
        else:
            step = (old or new).param
            path, key = f"{path}.{step}" if path else str(step), [*key, (0, str(step))]
        node = node.down
    return path, tuple(key)


def changes(old: Any, new: Any) -> list[Change]:
    """Every difference between two values (a resource's inputs), in path order. Leftover items
    of a list matched by content are always paired with the most alike (deepdiff's cutoffs at
    their maximum), so that a changed policy rule shows what changed in it."""
    if old == new:  # most resources of two revisions: no need to walk them
        return []
    tree = DeepDiff(old, new, view="tree", threshold_to_diff_deeper=0, iterable_compare_func=_same_item,
                    ignore_order_func=_by_content, cutoff_distance_for_pairs=1.0,
                    cutoff_intersection_for_pairs=1.0)
    found = {(change.path, change.kind): (key, change)
             for report, levels in tree.items() for level in levels
             for key, change in _read(KINDS[report], level)}
    return [change for _, change in sorted(found.values(), key=lambda item: item[0])]


def _read(kind: str, level: Any) -> Iterator[tuple[tuple, Change]]:
    """One of deepdiff's reports as changes, each with its sort key."""
    up = level.up
    if kind == "order":  # one line for the list, if its named items are in another order
        names = [_identity(v) for v in up.t2]
        kept = [n for n in map(_identity, up.t1) if n in names]
        path, key = _place(up)
        if kept != [n for n in names if n in kept]:
            yield key + ((2,),), Change(path, kind, kept, [n for n in names if n in kept])
    elif kind == "changed" and up is not None and isinstance(up.t1, list) \
            and all(isinstance(v, (dict, list)) for v in level):
        # deepdiff reports an item removed and another added at one index as one changed (it
        # descends into an item paired with another): two objects are two items.
        path, key = _place(up)
        i, j = (next(n for n, v in enumerate(side) if v is item)
                for side, item in zip(up, level, strict=True))
        for at, gone, item in ((j, False, level.t2), (i, True, level.t1)):
            name = _identity(item)
            yield key + ((1, at, gone),), Change(f"{path}[{name if name is not None else at}]",
                                                 "removed" if gone else "added",
                                                 item if gone else None, None if gone else item)
    else:
        path, key = _place(level)
        yield key, Change(path, kind, None if kind == "added" else level.t1,
                          None if kind == "removed" else level.t2)


def _whole(name: str, old: dict, new: dict) -> Change | None:
    """An output compared as a whole value."""
    if old.get(name) == new.get(name):  # a null output is one not set
        return None
    if name not in old:
        return Change(name, "added", new=new[name])
    if name not in new:
        return Change(name, "removed", old=old[name])
    return Change(name, "changed", old[name], new[name])


def compare_plans(old: dict | None, new: dict | None, generic: bool = False) -> PlanChanges:
    """What differs from plan ``old`` to ``new`` (None: the stack is absent on that side; its
    outputs are then not compared). ``generic``: each side's environment name read as ``<env>``."""
    envs = [(plan or {}).get("outputs", {}).get("environment", "") if generic else ""
            for plan in (old, new)]
    before, after = ({_key(r, env): r for r in (plan or {}).get("resources", [])}
                     for plan, env in zip((old, new), envs, strict=True))
    found = PlanChanges(added=[f"{t} {n}" for t, n in sorted(set(after) - set(before))],
                        removed=[f"{t} {n}" for t, n in sorted(set(before) - set(after))],
                        counts=(len(before), len(after)))
    for key in sorted(set(before) & set(after)):
        a, b = before[key], after[key]
        rows = changes(_generic(a["inputs"], envs[0]), _generic(b["inputs"], envs[1]))
        if a["protect"] != b["protect"]:
            rows.append(Change("protect", "changed", a["protect"], b["protect"]))
        if rows:
            found.changed[f"{key[0]} {key[1]}"] = rows
    if old is not None and new is not None:
        outputs = [{k: _generic(v, env) for k, v in plan["outputs"].items()}
                   for plan, env in zip((old, new), envs, strict=True)]
        found.outputs = [c for name in sorted(set(outputs[0]) | set(outputs[1]))
                         if (c := _whole(name, *outputs)) is not None]
    return found


def diff(old: dict, new: dict) -> list[str]:
    """``make diff``'s lines."""
    return plan_diff(old["stack"], new["stack"], compare_plans(old, new, generic=True))


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
