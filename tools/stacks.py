"""``python -m tools.stacks owners|attached``: the stacks in the repository, as a JSON list.

The rollout workflows build their matrices from this, so a new ``Pulumi.<env>.yaml`` joins the
fleet without editing a workflow. Owners (stack files with ``istio-envs:platform``) deploy first;
attached stacks (``istio-envs:attachTo``) after, in parallel.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from components.stackset import StackSet

PROJECT_DIR = Path(__file__).resolve().parent.parent


def stacks(project_dir: Path = PROJECT_DIR) -> dict[str, list[str]]:
    stack_set = StackSet.load(project_dir)
    return {"owners": stack_set.owners, "attached": stack_set.attached}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("owners", "attached", "all"):
        print("usage: python -m tools.stacks owners|attached|all", file=sys.stderr)
        return 2
    found = stacks()
    print(json.dumps(found["owners"] + found["attached"] if argv[0] == "all" else found[argv[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
