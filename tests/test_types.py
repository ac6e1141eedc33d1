"""The code type-checks (ty.toml) against the SDKs' typed inputs: a misspelt argument name, a
wrong argument type or an unknown key at any depth of a dict literal passed to a pulumi-gcp,
pulumi-kubernetes or pulumi-tls constructor (their ``*ArgsDict`` TypedDicts) fails the suite.

One ty process checks the project's folders and a planted-fault module together (~2 s: most of
it is reading the SDKs, which both share)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

TY = Path(sys.executable).parent / "ty"
FOLDERS = ("__main__.py", "components", "bootstrap", "preview", "policy", "tools")  # as ty.toml

# Each fault next to its correct twin: the twin passing shows the error comes from the key alone.
PLANTED = '''\
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

k8s.core.v1.LimitRange("bad", spec={"limits": [{"type": "Container", "defaultRequestt": {}}]})
gcp.container.Cluster("bad", node_config={"machine_typo": "x"})
k8s.core.v1.LimitRange("good", spec={"limits": [{"type": "Container", "default_request": {}}]})
gcp.container.Cluster("good", node_config={"machine_type": "x"})
'''
LIMIT_RANGE_LINE, CLUSTER_LINE, GOOD_LINES = 4, 5, (6, 7)

# ty's concise format: path:line:column: severity[rule] message
DIAGNOSTIC = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<severity>\w+)\[(?P<rule>[\w-]+)\] "
                        r"(?P<message>.*)$")


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    planted = tmp_path_factory.mktemp("types") / "planted_faults.py"
    planted.write_text(PLANTED)
    done = subprocess.run(
        [str(TY), "check", "--no-progress", "--color", "never", "--output-format", "concise",
         "--python", sys.executable, *FOLDERS, str(planted)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done, planted


def _diagnostics(output: str) -> list[re.Match]:
    return [m for line in output.splitlines() if (m := DIAGNOSTIC.match(line))]


def _is(diagnostic: re.Match, path: Path) -> bool:
    return (ROOT / diagnostic["path"]).resolve() == path.resolve()


def test_the_code_type_checks(checked):
    done, planted = checked
    found = _diagnostics(done.stdout)
    assert found or done.returncode == 0, f"ty failed to run (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    errors = [m.group(0) for m in found if m["severity"] == "error" and not _is(m, planted)]
    if errors:
        pytest.fail("ty reports type errors (`.venv/bin/ty check` shows each in full):\n"
                    + "\n".join(errors), pytrace=False)


def test_planted_faults_are_reported(checked):
    done, planted = checked
    on_line: dict[int, list[re.Match]] = {}
    for m in _diagnostics(done.stdout):
        if _is(m, planted):
            on_line.setdefault(int(m["line"]), []).append(m)
    shown = "ty's diagnostics of the planted module:\n" + "\n".join(
        m.group(0) for line in sorted(on_line) for m in on_line[line]) + done.stderr
    # A list item's unknown key is reported on the list's key ("limits"), against the item's type.
    assert any(m["rule"] == "invalid-argument-type" and "LimitRangeSpecArgsDict" in m["message"]
               for m in on_line.get(LIMIT_RANGE_LINE, [])), shown
    assert any(m["rule"] == "unknown-typed-dict-constructor-key" and '"machine_typo"' in m["message"]
               for m in on_line.get(CLUSTER_LINE, [])), shown
    assert not [m.group(0) for line in GOOD_LINES for m in on_line.get(line, [])], shown
    assert set(on_line) <= {LIMIT_RANGE_LINE, CLUSTER_LINE}, shown
