"""``make diff FROM=dev TO=uat``: what differs between two stacks' offline previews, in words.

Each stack's environment name is read as ``<env>``, in resource names and in values, so
``dev-namespace`` and ``uat-namespace`` are one resource and only real differences show (quotas,
routes, TLS mode, what one stack declares and the other does not). For matched resources the
changed inputs are listed path by path; secrets are ``[secret]`` in both plans and so never shown. Either side may also be a path to a ``plan.json``.
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


def _flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from _flatten(value[key], f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        for i, inner in enumerate(value):
            yield from _flatten(inner, f"{path}[{i}]")
    else:
        yield path, value


def _show(value: Any) -> str:
    if value == SECRET:
        return "(secret)"
    text = json.dumps(value)
    return text if len(text) <= 70 else text[:67] + "..."


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
        a = dict(_flatten(_generic(before[key]["inputs"], old_env)))
        b = dict(_flatten(_generic(after[key]["inputs"], new_env)))
        rows = []
        for path in sorted(set(a) | set(b)):
            if a.get(path, None) != b.get(path, None):
                if path not in a:
                    rows.append(f"      {path}: added {_show(b[path])}")
                elif path not in b:
                    rows.append(f"      {path}: removed (was {_show(a[path])})")
                else:
                    rows.append(f"      {path}: {_show(a[path])} → {_show(b[path])}")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make diff", description=__doc__)
    parser.add_argument("old", help="stack name (its build/<stack>/plan.json) or a plan.json path")
    parser.add_argument("new")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    args = parser.parse_args(argv)
    try:
        old, new = (load_plan(ref, Path(args.build_dir)) for ref in (args.old, args.new))
    except (FileNotFoundError, json.JSONDecodeError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(diff(old, new)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
