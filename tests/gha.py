"""A small stand-in for the GitHub Actions runner, enough to execute a workflow's cloud-free steps:
its expression language (``${{ }}``, job ``if:``), the step environment a runner builds (workflow,
job and step ``env``, ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``RUNNER_TEMP``), and the shells
(``bash --noprofile --norc -eo pipefail``, ``python``), as docs.github.com "Workflow syntax" and
"Evaluate expressions in workflows and actions" describe them. Commands a step needs from the
cloud (``pulumi``) are fakes put first on ``PATH`` by the tests."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def workflow(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def triggers(document: dict) -> list[str]:
    on = document["on"]
    return [on] if isinstance(on, str) else list(on)


# --- expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|<=|>=|[!<>()\[\].,*])"
                    r"|(?P<name>[A-Za-z_][-\w]*))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"cannot read expression at {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "") or isinstance(value, (list, dict))


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b) or (isinstance(a, (int, float)) and isinstance(b, (int, float))
                              and not isinstance(a, bool) and not isinstance(b, bool)):
        return a == b if not isinstance(a, (list, dict)) else a is b
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return False
    return _number(a) == _number(b)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, context: dict[str, Any]):
        self.tokens = _tokens(text)
        self.i = 0
        self.context = context

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, got {token[1]!r}")
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            if op in ("==", "!="):
                value = _equal(value, right) == (op == "==")
            else:
                a, b = _number(value), _number(right)
                value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if self.peek() == "(":
                self.take("(")
                args = []
                while self.peek() != ")":
                    args.append(self.or_())
                    if self.peek() == ",":
                        self.take()
                self.take(")")
                return _call(text, args, self.context)
            return self.context.get(text)
        raise ValueError(f"unexpected {text!r}")

    def postfix(self, value: Any) -> Any:
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                kind, name = self.take()
                if name == "*":
                    value = _star(value)
                else:
                    value = _property(value, name)
            else:
                if self.peek() == "*":
                    self.take()
                    value = _star(value)
                else:
                    value = _property(value, self.or_())
                self.take("]")
        return value


def _star(value: Any) -> list:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def _property(value: Any, key: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value) \
            and not isinstance(key, float):
        # After `*`: the property of each element (a filter).
        return [v for v in (_property(e, key) for e in value) if v is not None]
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(key, str) and k.casefold() == key.casefold():
                return v
        return None
    if isinstance(value, list) and isinstance(key, float) and key.is_integer() and 0 <= key < len(value):
        return value[int(key)]
    return None


def _call(name: str, args: list, context: dict[str, Any]) -> Any:
    name = name.casefold()
    if name == "contains":
        haystack, needle = args
        if isinstance(haystack, list):
            return any(_equal(item, needle) for item in haystack)
        return _text(needle).casefold() in _text(haystack).casefold()
    if name == "startswith":
        return _text(args[0]).casefold().startswith(_text(args[1]).casefold())
    if name == "endswith":
        return _text(args[0]).casefold().endswith(_text(args[1]).casefold())
    if name == "fromjson":
        return json.loads(args[0])
    if name == "tojson":
        return json.dumps(args[0], indent=2)
    if name == "format":
        return re.sub(r"\{(\d+)\}", lambda m: _text(args[1 + int(m.group(1))]), args[0])
    if name == "join":
        return (args[1] if len(args) > 1 else ",").join(_text(a) for a in args[0])
    if name in ("success", "failure", "cancelled", "always"):
        status = context.get("__status__", "success")
        return {"success": status == "success", "failure": status == "failure",
                "cancelled": status == "cancelled", "always": True}[name]
    if name == "hashfiles":
        return "hash"
    raise ValueError(f"unknown function {name}")


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2]
    return _Parser(text, context).parse()


def interpolate(value: Any, context: dict[str, Any]) -> str:
    """A string with ``${{ }}`` parts, as the runner renders it."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(evaluate(m.group(1), context)), _text(value))


def condition(job_or_step: dict, context: dict[str, Any]) -> bool:
    """A job's or step's ``if:`` (none means ``success()``)."""
    expression = job_or_step.get("if")
    if expression is None:
        return bool(_call("success", [], context))
    if isinstance(expression, bool):
        return expression
    return truthy(evaluate(str(expression), context))


# --- events --------------------------------------------------------------------------------------

REPOSITORY = "acme/istio-envs"


def pull_request_event(action: str = "synchronize", labels: tuple[str, ...] = (), label: str | None = None,
                       fork: bool = False, number: int = 7, state: str = "open") -> dict[str, Any]:
    head = "someone/istio-envs" if fork else REPOSITORY
    event: dict[str, Any] = {
        "action": action, "number": number,
        "pull_request": {"number": number, "state": state, "labels": [{"name": n} for n in labels],
                         "head": {"repo": {"full_name": head}, "ref": "feature"},
                         "base": {"repo": {"full_name": REPOSITORY}, "ref": "main"}}}
    if label is not None:
        event["label"] = {"name": label}
    return {"event_name": "pull_request", "event": event, "ref": f"refs/pull/{number}/merge"}


def push_event(before: str = "1" * 40, sha: str = "2" * 40) -> dict[str, Any]:
    return {"event_name": "push", "event": {"before": before, "after": sha}, "ref": "refs/heads/main", "sha": sha}


def context_for(github: dict[str, Any], **extra: Any) -> dict[str, Any]:
    base = {"repository": REPOSITORY, "server_url": "https://github.com", "run_id": "1", "sha": "2" * 40,
            "token": "test-token"}
    context: dict[str, Any] = {"github": {**base, **github}, "vars": {}, "inputs": {}, "matrix": {},
                               "needs": {}, "steps": {}, "secrets": {"GITHUB_TOKEN": "test-token"},
                               "runner": {"os": "Linux", "temp": "/tmp"}, "env": {}}
    for key, value in extra.items():
        context[key] = value
    return context


# --- steps ---------------------------------------------------------------------------------------

@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""


def step(document: dict, job: str, name: str) -> dict:
    """A step by its name, id or (part of its) ``run`` text."""
    for candidate in document["jobs"][job]["steps"]:
        if name in (candidate.get("name"), candidate.get("id")):
            return candidate
    raise KeyError(f"{job}: no step {name!r}")


def _outputs(path: Path) -> dict[str, str]:
    outputs, lines = {}, path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            value = []
            i += 1
            while lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            outputs[key] = "\n".join(value)
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


def run_step(document: dict, job: str, name: str, context: dict[str, Any], cwd: Path, tmp: Path,
             path: list[Path] = (), extra_env: dict[str, str] | None = None, timeout: float = 60) -> StepRun:
    """Execute one ``run:`` step as a runner would: its env rendered from workflow, job and step
    ``env`` (later wins), the runner's files, and its shell."""
    spec = step(document, job, name)
    script = spec["run"]
    runner_temp = tmp / "runner-temp"
    runner_temp.mkdir(parents=True, exist_ok=True)
    output, summary = tmp / "github_output", tmp / "step_summary"
    for f in (output, summary):
        f.write_text("")
    env = {"PATH": os.pathsep.join([*map(str, path), str(Path(sys.executable).parent), os.environ["PATH"]]),
           "HOME": str(tmp), "LANG": "C.UTF-8", "CI": "true", "GITHUB_ACTIONS": "true",
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), "RUNNER_TEMP": str(runner_temp),
           "GITHUB_REPOSITORY": context["github"]["repository"], "GITHUB_WORKSPACE": str(cwd),
           "GITHUB_EVENT_NAME": context["github"].get("event_name", "")}
    rendered_env: dict[str, str] = {}
    for level in (document.get("env", {}), document["jobs"][job].get("env", {}), spec.get("env", {})):
        for key, value in level.items():
            rendered_env[key] = interpolate(value, {**context, "env": rendered_env})
    env.update(rendered_env)
    env.update(extra_env or {})
    shell = spec.get("shell", "bash")
    if shell == "python":
        command = [sys.executable, "-c", script]
    else:
        script_file = tmp / "step.sh"
        script_file.write_text(script)
        command = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return StepRun(done.returncode, done.stdout, done.stderr, _outputs(output), summary.read_text())


def fake_command(directory: Path, name: str, script: str) -> Path:
    """An executable ``name`` in ``directory`` running a Python ``script`` (sys.argv as given)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(0o755)
    return directory
