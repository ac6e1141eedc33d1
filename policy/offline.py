"""``make policy STACK=x``: the pack's rules over the offline preview's ``build/x/plan.json``.

The same rule functions CrossGuard runs, over the same camelCase inputs. Offline, ``plan.json``
also says what is secret, so one more check applies: a value holding a PEM private key must be a
secret (``"[secret]"``) wherever it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .rules import OPTIONS_RULES, PEM_KEY_MARKER, RESOURCE_RULES, STACK_RULES, Resource, _strings


@dataclass(frozen=True)
class Violation:
    policy: str
    resource: str
    message: str


def check_plan(plan: dict, project_dir: Path) -> list[Violation]:
    """Every violation of every policy in one stack's plan."""
    found: list[Violation] = []
    recorded = [r for r in plan["resources"] if not r.get("read")]
    resources = [Resource(r["type"], r["name"], r["inputs"]) for r in recorded]
    for resource, entry in zip(resources, recorded, strict=True):
        for name, (_, rule) in RESOURCE_RULES.items():
            found += [Violation(name, resource.name, m) for m in rule(resource.type, resource.props)]
        options = {"ignoreChanges": entry.get("ignoreChanges", [])}
        for name, (_, options_rule) in OPTIONS_RULES.items():
            found += [Violation(name, resource.name, m)
                      for m in options_rule(resource.type, resource.props, options)]
        for path, value in _strings(resource.props, ""):
            if PEM_KEY_MARKER in value and not any(
                    v.policy == "private-keys-only-in-secrets" and v.resource == resource.name for v in found):
                found.append(Violation("private-keys-only-in-secrets", resource.name,
                                       f"{resource.type} {resource.name}: {path.lstrip('.')} holds a PEM "
                                       "private key in clear; expected a Pulumi secret"))
    for name, (_, stack_rule) in STACK_RULES.items():
        found += [Violation(name, "", m) for m in stack_rule(resources, project_dir, plan["stack"])]
    return found


POLICIES = len(RESOURCE_RULES) + len(OPTIONS_RULES) + len(STACK_RULES)


def report(stack: str, plan: dict, violations: list[Violation]) -> list[str]:
    """What ``make policy`` prints: each violation, then the stack's count line."""
    return [*(f"[mandatory] {v.policy}: {v.message}" for v in violations),
            f"stack {stack}: {len(plan['resources'])} resources, {POLICIES} policies, "
            f"{len(violations)} violation(s)"]


def main(argv: list[str] | None = None) -> int:
    from preview import PROJECT_DIR, locate_stack

    parser = argparse.ArgumentParser(prog="make policy", description=__doc__)
    parser.add_argument("stack")
    parser.add_argument("--build-dir", default=str(PROJECT_DIR / "build"))
    args = parser.parse_args(argv)
    plan_path = Path(args.build_dir) / args.stack / "plan.json"
    if not plan_path.exists():
        print(f"error: no offline preview at {plan_path}; run `make preview STACK={args.stack}` first",
              file=sys.stderr)
        return 2
    plan = json.loads(plan_path.read_text())
    violations = check_plan(plan, locate_stack(args.stack))
    print("\n".join(report(args.stack, plan, violations)))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
