"""The README and docs/ as a newcomer reads them: the README's budget and contents, every relative
link (and anchor) resolving, every section the program's messages cite findable from the README,
`make help` listing every target, and the table of example values to replace before a real
deploy complete and true to the stack files."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
from pathlib import Path

import yaml
from conftest import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
BUDGET = 350
# The README's configuration section: a pointer to docs/configuration.md, at most this long.
CONFIGURATION = "## Configuration"
POINTER_LINES = 10


# Markdown: headings, their anchors, links

def _outside_code(text: str) -> list[str]:
    """The lines of ``text`` outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def headings(text: str) -> list[tuple[int, str]]:
    """(level, text) of each ATX heading outside code blocks."""
    return [(len(m.group(1)), m.group(2).strip()) for line in _outside_code(text)
            if (m := re.match(r"^(#{1,6}) (.+)$", line))]


def plain(heading: str) -> str:
    """A heading's text as rendered: no code or emphasis marks, links as their text."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[`*]", "", heading).strip()


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of ``text`` (github-slugger: lower case, punctuation
    but hyphens and underscores dropped, spaces to hyphens, repeats numbered)."""
    seen: dict[str, int] = {}
    found = set()
    for _, heading in headings(text):
        slug = re.sub(r"[^\w\- ]", "", plain(heading).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file, or anchor in it, does not exist."""
    problems = []
    text = "\n".join(_outside_code(page.read_text()))
    text = re.sub(r"`[^`\n]*`", "", text)  # a link in code is not a link
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{page.name}: {target}: no such heading in {linked.name}")
    return problems


def test_every_relative_link_resolves():
    assert [problem for page in PAGES for problem in broken_links(page)] == []


def test_the_link_check_catches_a_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Its `make x` part\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#its-make-x-part) [top](#the-top) [gone](docs/b.md) "
                    "[bad anchor](docs/a.md#its-part) `[in code](nowhere.md)` [web](https://example.org)\n"
                    "\n## The top\n")
    assert broken_links(page) == ["README.md: docs/b.md: no such file",
                                  "README.md: docs/a.md#its-part: no such heading in a.md"]


def configuration_lines(text: str) -> int:
    """How many lines the README's configuration section takes (0 without one)."""
    if f"\n{CONFIGURATION}" not in text:
        return 0
    section = text[text.index(f"\n{CONFIGURATION}") + 1:]
    end = section.find("\n## ", 1)
    return len((section if end < 0 else section[:end + 1]).splitlines())


def test_the_readme_fits_its_budget():
    """At most 350 lines; the configuration reference is docs/configuration.md, the README's
    section only a pointer to it."""
    text = README.read_text()
    assert len(text.splitlines()) <= BUDGET, f"README.md: {len(text.splitlines())} lines, the budget is {BUDGET}"
    assert 0 < configuration_lines(text) <= POINTER_LINES


def test_the_readme_contents_list_every_section():
    text = README.read_text()
    contents = text[text.index("## Contents"):]
    contents = contents[:contents.index("\n## ", 1)]
    listed = set(re.findall(r"\]\(#([^)]+)\)", contents))
    sections = {re.sub(r"[^\w\- ]", "", plain(h).lower()).replace(" ", "-")
                for level, h in headings(text) if level == 2 and h != "Contents"}
    assert sorted(sections - listed) == [], "sections missing from the README's contents"
    assert sorted(listed - sections) == [], "contents naming no section"


# What the program's messages cite: README "<section>"

SOURCES = ("components", "preview", "policy", "tools", "bootstrap", "tests")
CITATION = re.compile(r"""README[,:]? (?P<quote>["'])(?P<name>[A-Z].*?)(?P=quote)""")


def _strings(path: Path) -> list[str]:
    """Every string constant of a module (implicitly joined literals as one), f-strings' text."""
    tree = ast.parse(path.read_text())
    found = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return [" ".join(s.split()) for s in found]


def citations() -> dict[str, set[str]]:
    """section name -> the modules whose strings (messages, docstrings) cite it as README "…"."""
    cited: dict[str, set[str]] = {}
    # The program's own code: not a virtualenv (.venv, policy/venv, pytest's cache) nor vendored files.
    modules = [ROOT / "__main__.py", *(path for folder in SOURCES for path in (ROOT / folder).glob("**/*.py")
                                       if "venv" not in path.relative_to(ROOT).parts
                                       and "charts" not in path.relative_to(ROOT).parts)]
    for path in sorted(modules):
        relative = path.relative_to(ROOT)
        for text in _strings(path):
            for match in CITATION.finditer(text):
                cited.setdefault(match.group("name").strip(), set()).add(str(relative))
    return cited


def test_every_section_a_message_cites_is_found_from_the_readme():
    """A message saying README "Moving a deployed zone" names a heading of the README or of a page
    of docs/, and the README itself names it (its index says which page holds it)."""
    names = {plain(h).rstrip(".") for page in PAGES for _, h in headings(page.read_text())}
    readme = plain(" ".join(README.read_text().split()))
    problems = []
    cited = citations()
    assert cited, "no message cites a README section: the pattern no longer finds them"
    for name, where in sorted(cited.items()):
        if not any(heading.startswith(name) for heading in names):
            problems.append(f"{name!r} (cited by {', '.join(sorted(where))}): no such heading")
        elif name not in readme:
            problems.append(f"{name!r} (cited by {', '.join(sorted(where))}): the README does not name it")
    assert problems == []


# make help

def make_targets(makefile: Path) -> set[str]:
    """The Makefile's own targets: its rules with a plain name (not a file it makes)."""
    return {m.group(1) for line in makefile.read_text().splitlines()
            if (m := re.match(r"^([a-z][a-z-]*):(?!=)", line))}


def undescribed(makefile: Path, *goal: str) -> list[str]:
    """The targets `make [goal]` does not list with a description."""
    shown = subprocess.run(["make", "--no-print-directory", "-f", str(makefile), *goal], cwd=ROOT,
                           capture_output=True, text=True, timeout=30, check=True).stdout
    described = dict(re.findall(r"^  make (\S+) +(\S.*)$", shown, re.M))
    return sorted(make_targets(makefile) - set(described))


def test_make_help_lists_every_target_with_its_description():
    makefile = ROOT / "Makefile"
    phony = set(re.search(r"^\.PHONY: (.+)$", makefile.read_text(), re.M).group(1).split())
    assert make_targets(makefile) == phony, "a target not in .PHONY, or .PHONY naming no target"
    assert {"preview", "test", "help"} <= phony
    assert undescribed(makefile, "help") == []
    # `make` alone is `make help`.
    assert undescribed(makefile) == []


def test_the_help_check_catches_a_target_without_a_description(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text((ROOT / "Makefile").read_text() + "\nundocumented:\n\t@true\n")
    assert undescribed(makefile, "help") == ["undocumented"]


# What to edit before a real deploy

EXAMPLE = re.compile(r"example[.-](?:com|net|org)\b|\b(?:192\.0\.2|198\.51\.100|203\.0\.113)\.\d"
                     r"|\bacme[-/.][a-z0-9]", re.I)


@dataclasses.dataclass(frozen=True)
class Row:
    """A row of the README's tables of example values: its values, the files and keys they are at."""
    values: tuple[str, ...]
    files: tuple[str, ...]
    keys: frozenset[str]

    def expected(self, root: Path) -> dict[Path, set[str]]:
        """stack file -> the values this row says it holds. As many values as files (more than one):
        the nth value is the nth file's; otherwise every value is any file's."""
        paired = len(self.values) == len(self.files) > 1
        return {path: {self.values[i]} if paired else set(self.values)
                for i, name in enumerate(self.files) for path in _files(root, name)}


def edit_rows(text: str) -> list[Row]:
    section = text[text.index("## What to edit before a real deploy"):]
    section = section[:section.index("\n## ", 1)]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            values, files, keys = (re.findall(r"`([^`]+)`", cell) for cell in cells[:3])
            rows.append(Row(tuple(values), tuple(files), frozenset(keys)))
    return rows


def _files(root: Path, named: str) -> list[Path]:
    """A file the table names, or every stack file under a folder it names (``examples/``)."""
    path = root / named
    return sorted(path.glob("**/Pulumi.*.yaml")) if named.endswith("/") else [path]


def scalars(node, path: str = ""):
    """(key path, value) of every scalar under ``node``: ``a.b[].c``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from scalars(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for value in node:
            yield from scalars(value, f"{path}[]")
    elif node is not None:
        yield path, str(node)


def _held(path: Path, keys) -> set[str]:
    """The values ``path`` holds under ``config:`` at any of ``keys`` (none if it is gone)."""
    if not path.exists():
        return set()
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {value for key, value in scalars(config) if key in keys}


def unlisted(rows: list[Row], root: Path) -> list[str]:
    """Each example-looking value of a stack file that the table does not list: at a key no row
    names for that file, or in place of every value the table lists there (one more beside them,
    such as an owner's second audience, is the owner's). The files scanned: those the table
    names, and every stack file of bootstrap/ and examples/ (not an owner's new environment)."""
    named = {path for row in rows for path in row.expected(root)}
    scanned = named | set(root.glob("bootstrap/Pulumi.*.yaml")) | set(root.glob("examples/**/Pulumi.*.yaml"))
    problems = []
    for path in sorted(p for p in scanned if p.exists()):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        for key, value in scalars(config):
            if not EXAMPLE.search(value):
                continue
            mine = [row for row in rows if key in row.keys and path in row.expected(root)]
            listed = set().union(*(row.expected(root)[path] for row in mine))
            if not mine:
                problems.append(f"{path.relative_to(root)}: {key}: {value}: no row names this key of this file")
            elif value not in listed and not listed & _held(path, set().union(*(row.keys for row in mine))):
                problems.append(f"{path.relative_to(root)}: {key}: {value}: the table lists {', '.join(sorted(listed))}")
    return problems


def stale(rows: list[Row], root: Path) -> list[str]:
    """Each value the table lists that its file no longer holds at the row's keys while it still
    holds an example-looking value there: the example changed and the table did not. A file gone,
    or holding only values of the owner's own there (the README's instruction followed), is
    nothing to report; an example value replaced by another example value is."""
    problems = []
    for row in rows:
        expected = row.expected(root)
        paired = len({frozenset(values) for values in expected.values()}) > 1
        groups = ([({path}, values) for path, values in expected.items()] if paired
                  else [(set(expected), set(row.values))])
        for paths, values in groups:
            held = set().union(*(_held(path, row.keys) for path in paths))
            examples = sorted(v for v in held if EXAMPLE.search(v))
            for value in sorted(values - held):
                if examples:
                    where = ", ".join(sorted(str(p.relative_to(root)) for p in paths))
                    problems.append(f"{value} ({where}: {', '.join(sorted(row.keys))}): not there; "
                                    f"it holds {', '.join(examples)}")
    return problems


def test_the_table_lists_every_example_value_of_the_stack_files():
    rows = edit_rows(README.read_text())
    assert len(rows) > 10
    assert unlisted(rows, ROOT) == []


def test_every_value_the_table_lists_is_in_the_files_it_names():
    assert stale(edit_rows(README.read_text()), ROOT) == []


TABLE = """## What to edit before a real deploy

| Value | File(s) | Key | What to put |
|---|---|---|---|
| `203.0.113.0/24` | `Pulumi.dev.yaml` | `istio-envs:platform.cluster.authorizedNetworks[].cidr` | yours |
| `https://dev.api.example.com`, `https://test.api.example.com` | `Pulumi.dev.yaml`, `Pulumi.test.yaml` | `istio-envs:environment.auth.audiences[]` | yours |

## Next
"""


def _stack(root: Path, name: str, audiences: list[str], platform: str = "", extra: str = "") -> None:
    (root / f"Pulumi.{name}.yaml").write_text(
        f"config:\n{platform}  istio-envs:environment:\n    auth:\n      audiences: {audiences}\n{extra}")


def test_the_table_checks_catch_a_missing_and_a_stale_row(tmp_path):
    rows = edit_rows(TABLE)
    cidr = "  istio-envs:platform:\n    cluster:\n      authorizedNetworks:\n        - {{name: office, cidr: {}}}\n"
    _stack(tmp_path, "dev", ["https://dev.api.example.com"], cidr.format("203.0.113.0/24"))
    _stack(tmp_path, "test", ["https://test.api.example.com"])
    assert unlisted(rows, tmp_path) == [] and stale(rows, tmp_path) == []
    # An example the table has no row for (an issuer, in an example stack) ...
    (tmp_path / "examples" / "x").mkdir(parents=True)
    (tmp_path / "examples" / "x" / "Pulumi.x.yaml").write_text(
        "config:\n  istio-envs:environment:\n    auth: {issuer: 'https://acme-idp.example.com/'}\n")
    # ... and an example changed without the table: another documentation range.
    _stack(tmp_path, "dev", ["https://dev.api.example.com"], cidr.format("198.51.100.0/24"))
    assert unlisted(rows, tmp_path) == [
        "Pulumi.dev.yaml: istio-envs:platform.cluster.authorizedNetworks[].cidr: 198.51.100.0/24: "
        "the table lists 203.0.113.0/24",
        "examples/x/Pulumi.x.yaml: istio-envs:environment.auth.issuer: https://acme-idp.example.com/: "
        "no row names this key of this file"]
    assert stale(rows, tmp_path) == [
        "203.0.113.0/24 (Pulumi.dev.yaml: istio-envs:platform.cluster.authorizedNetworks[].cidr): "
        "not there; it holds 198.51.100.0/24"]
    # An example audience replaced by another example value, in its own file: reported.
    _stack(tmp_path, "test", ["https://orders.api.example.com"])
    assert "https://test.api.example.com (Pulumi.test.yaml: istio-envs:environment.auth.audiences[]): " \
           "not there; it holds https://orders.api.example.com" in stale(rows, tmp_path)
    # The owner's edits: a second audience beside the listed one, a stack file deleted, their own
    # values in place of the examples. Nothing to report.
    (tmp_path / "examples" / "x" / "Pulumi.x.yaml").unlink()
    _stack(tmp_path, "dev", ["https://dev.api.example.com", "https://mobile.api.example.com"],
           cidr.format("10.1.0.0/16"))
    (tmp_path / "Pulumi.test.yaml").unlink()
    assert unlisted(rows, tmp_path) == [] and stale(rows, tmp_path) == []
    _stack(tmp_path, "dev", ["https://dev.api.shop.io"], cidr.format("10.1.0.0/16"))
    _stack(tmp_path, "test", ["https://test.api.shop.io"])
    assert unlisted(rows, tmp_path) == [] and stale(rows, tmp_path) == []
