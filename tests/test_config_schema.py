"""The JSON Schema for editors (what `make schema` writes) and the configuration reference
(docs/configuration.md, committed) are the models' own, the reference current; the schema accepts every shipped and
example stack file and refuses what the program refuses by shape; every key of the models has a
description, and a row of the reference with its default."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml
from conftest import ROOT

from components.config import TOP_LEVEL_KEYS
from components.stackset import BOOTSTRAP_DIR, stack_files, stack_folders
from tools import config_reference as schema
from tools.config_reference import DOC_PATH, SCHEMA_PATH, SEE, doc_text, main, stack_file_schema

NS = "istio-envs"
SCHEMA = stack_file_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
STACK_FILES = [path for folder in stack_folders(ROOT) if folder.name != BOOTSTRAP_DIR
               for path in stack_files(folder)]


def test_the_committed_reference_is_the_generated_one_and_make_schema_writes_both(tmp_path, monkeypatch, capsys):
    assert DOC_PATH.read_text() == doc_text(), "run: make schema"
    assert main(["--check"]) == 0
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "docs").mkdir()
    monkeypatch.setattr(schema, "ROOT", tmp_path)
    monkeypatch.setattr(schema, "SCHEMA_PATH", tmp_path / "schemas" / SCHEMA_PATH.name)
    monkeypatch.setattr(schema, "DOC_PATH", tmp_path / "docs" / DOC_PATH.name)
    assert main(["--check"]) == 1  # no reference yet
    assert main([]) == 0
    assert json.loads(schema.SCHEMA_PATH.read_text()) == SCHEMA
    assert main(["--check"]) == 0
    # A model's description or default changed without regenerating: --check names the file.
    schema.DOC_PATH.write_text(schema.DOC_PATH.read_text().replace("`90`", "`30`"))
    capsys.readouterr()
    assert main(["--check"]) == 1
    assert "docs/configuration.md" in capsys.readouterr().err


@pytest.mark.parametrize("path", STACK_FILES, ids=[p.relative_to(ROOT).as_posix() for p in STACK_FILES])
def test_every_shipped_and_example_stack_file_is_valid(path):
    assert [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))] == []


def _dev() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())


def _edit(change) -> dict:
    document = copy.deepcopy(_dev())
    change(document["config"])
    return document


@pytest.mark.parametrize("change", [
    lambda c: c[f"{NS}:environment"].update(rotues=[]),                      # misspelt nested key
    lambda c: c.update({f"{NS}:enviroment": {}}),                             # misspelt top-level key
    lambda c: c.update(environment=c.pop(f"{NS}:environment")),               # no namespace
    lambda c: c.update({"gcp:project": "acme"}),                              # a provider's key
    lambda c: c[f"{NS}:environment"]["auth"].update(jwks_uri="https://x/"),   # Python name
    lambda c: c[f"{NS}:platform"]["cluster"].update(regional="no"),           # a string as boolean
    lambda c: c[f"{NS}:environment"]["routes"][0].update(port="8080"),        # a string as port
    lambda c: c[f"{NS}:platform"]["tls"].update(source="provided"),           # validityDays: not provided's
    lambda c: c.update({f"{NS}:attachTo": "test"}),                           # owner and attached
    lambda c: c.update({f"{NS}:tlsPrivateKey": "-----BEGIN PRIVATE KEY-----"}),  # a key in clear
], ids=["nested typo", "top-level typo", "no namespace", "gcp key", "python name", "string boolean",
        "string port", "key of another source", "platform and attachTo", "clear-text key"])
def test_the_schema_refuses_what_the_program_refuses_by_shape(change):
    assert list(VALIDATOR.iter_errors(_edit(change)))


def test_secure_values_and_engine_keys_are_accepted():
    def change(config):
        config[f"{NS}:platform"]["tls"] = {"source": "provided", "expiryWarningDays": 20}
        config[f"{NS}:tlsCertificate"] = "-----BEGIN CERTIFICATE-----\n..."
        config[f"{NS}:tlsPrivateKey"] = {"secure": "v1:AAAA"}
        config["pulumi:disable-default-providers"] = ["*"]
    assert [e.message for e in VALIDATOR.iter_errors(_edit(change))] == []


# ---------------------------------------------------------------------------------------------
# Every key described, and documented with its default


def _resolve(node: dict) -> dict:
    """The schema a node stands for: its $ref's, or the one not null of an optional key."""
    while "$ref" in node or len(node.get("anyOf", [])) == 2 and {"type": "null"} in node["anyOf"]:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else next(
            m for m in node["anyOf"] if m != {"type": "null"})
    return node


NO_DEFAULT = object()


def _keys(node: dict, prefix: str = "") -> dict[str, tuple[dict, object, bool]]:
    """key path (a list's items as ``key[]``) -> (its schema, default or NO_DEFAULT, required), of
    every key and section; a tagged union's keys under its own, its tag as ``key.source``."""
    node = _resolve(node)
    found: dict[str, tuple[dict, object, bool]] = {}
    for member in node.get("oneOf", []):  # a tagged union: every variant's keys
        found.update({k: v for k, v in _keys(member, prefix).items() if k != prefix + "source"})
    for name, prop in node.get("properties", {}).items():
        target, required = _resolve(prop), name in node.get("required", [])
        items = _resolve(target.get("items", {}))
        path = prefix + name + ("[]" if target.get("type") == "array" else "")
        found[path + (".source" if "oneOf" in target else "")] = (prop, prop.get("default", NO_DEFAULT), required)
        if "properties" in target or "oneOf" in target or "properties" in items:
            found.update(_keys(items if "properties" in items else target, path + "."))
    return found


def _reference() -> dict[str, dict[str, tuple[str, str]]]:
    """heading -> key -> (default cell, meaning cell) of docs/configuration.md's tables."""
    tables: dict[str, dict[str, tuple[str, str]]] = {}
    heading = ""
    for line in DOC_PATH.read_text().splitlines():
        if line.startswith("## "):
            heading = line
        elif line.startswith("| `"):
            key, default, meaning = (c.strip() for c in line.strip("|").split(" | "))
            tables.setdefault(heading, {})[key.strip("`")] = (default, meaning)
    return tables


def _as_written(value: object) -> str:
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


@pytest.mark.parametrize("heading, section", [("`istio-envs:environment`", "EnvironmentConfig"),
                                              ("`istio-envs:platform`", "PlatformConfig")])
def test_every_key_has_a_description_and_a_row_with_its_default(heading, section):
    rows = next(rows for title, rows in _reference().items() if heading in title)
    keys = _keys(SCHEMA["$defs"][section])
    assert sorted(set(keys) - set(rows)) == [], "keys missing from docs/configuration.md"
    assert sorted(set(rows) - set(keys)) == [], "rows of keys the schema does not have"
    for key, (prop, default, required) in keys.items():
        said, meaning = rows[key]
        description = prop.get("description") or _resolve(prop).get("description")
        assert description and meaning and meaning != "—", f"{key} has no description"
        if required:
            assert said == "required" and default is NO_DEFAULT, (key, said)
        elif default is not NO_DEFAULT and "$ref" not in prop:
            assert said == ("none" if default is None else _as_written(default)), (key, said, default)
        else:  # a section (its keys' defaults), or a default computed from other keys
            assert said and said != "required" and "Default: " in description or "$ref" in prop, (key, said)


def test_the_reference_lists_every_key_under_config_with_its_description():
    rows = next(rows for title, rows in _reference().items() if "under `config:`" in title)
    assert list(rows) == [f"{NS}:{k}" for k in TOP_LEVEL_KEYS]
    assert all(SCHEMA["properties"]["config"]["properties"][key]["description"] for key in rows)


def test_the_write_ups_a_description_names_are_where_the_reference_links():
    """A description says (see "Moving a deployed zone"); the reference links it: the heading is
    there (docs/ may be reorganized)."""
    for title, target in SEE.items():
        page, _, anchor = target.partition("#")
        headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / page).read_text(), re.M)
        assert title in headings, (title, page)
        assert not anchor or anchor == re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-"), target
    assert f'"{title}"' not in DOC_PATH.read_text()


def test_a_key_named_description_or_title_is_a_property_not_a_text():
    """The cleaning of descriptions and titles touches strings only: a config key called
    `description` (or `title`) keeps its schema (a future optional key crashed the generator)."""
    from tools.config_reference import _clean

    node = {"properties": {"description": {"type": "string", "description": "a **b** `c`", "title": "D"},
                           "title": {"type": "string"}}}
    assert _clean(node) == {"properties": {"description": {"type": "string", "description": "a b c"},
                                           "title": {"type": "string"}}}
