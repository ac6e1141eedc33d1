"""Workflow expressions evaluated by GitHub's own library (@actions/expressions, installed from
tests/actions/package-lock.json by `make`), so a job's ``if:`` is tested for what GitHub would do
with it, not read as a string. The library parses and evaluates; the runner supplies the job
status functions, which are computed here as docs.github.com "Evaluate expressions in
workflows and actions" defines them for a job: ``success()`` every job it needs succeeded,
``failure()`` one failed, ``cancelled()`` the run was cancelled, ``always()``; and an ``if:``
without a status function means ``success() && (...)``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "actions"
STATUS = re.compile(r"\b(success|failure|cancelled|always)\s*\(")


def _strip(expression: str) -> str:
    text = expression.strip()
    return text[3:-2].strip() if text.startswith("${{") and text.endswith("}}") else text


def job_condition(job: dict) -> str:
    """A job's ``if:`` as the runner evaluates it (implicit ``success()`` added)."""
    expression = job.get("if")
    if expression is None:
        return "success()"
    text = _strip(str(expression)) if not isinstance(expression, bool) else str(expression).lower()
    return text if STATUS.search(text) else f"success() && ({text})"


def evaluate(cases: list[tuple[str, dict[str, Any], dict[str, bool]]]) -> list[bool]:
    """(expression, context, status) for each case -> whether each is truthy, in one node process."""
    node = shutil.which("node")
    assert node, "node is needed for the workflow expression tests (apt-get install nodejs)"
    payload = [{"expression": e, "context": c, "status": s} for e, c, s in cases]
    done = subprocess.run([node, str(NODE_DIR / "evaluate.mjs")], input=json.dumps(payload), text=True,
                          capture_output=True, cwd=NODE_DIR, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def status_for(needs: dict[str, dict], cancelled: bool = False) -> dict[str, bool]:
    results = [n.get("result", "success") for n in needs.values()]
    return {"success": all(r == "success" for r in results), "failure": any(r == "failure" for r in results),
            "cancelled": cancelled, "always": True}


def job_runs(jobs: dict[str, dict], job_ids: list[str], *contexts: dict[str, Any],
             cancelled: bool = False) -> list[bool]:
    """Whether each job's ``if:`` holds in each context (``needs`` taken from it), in one node
    process: for contexts c1, c2, the jobs' results under c1, then under c2."""
    cases = []
    for context in contexts:
        for job_id in job_ids:
            job = jobs[job_id]
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            own = {n: context.get("needs", {}).get(n, {"result": "success"}) for n in needs}
            cases.append((job_condition(job), {**context, "needs": own}, status_for(own, cancelled)))
    return evaluate(cases)
