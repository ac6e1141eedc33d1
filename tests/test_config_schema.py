"""The JSON Schema for editors (schemas/stack-config.schema.json) is the models' own, accepts every
shipped and example stack file, refuses what the program refuses by shape, and agrees with the
README's configuration tables (every key documented, every default the same)."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml
from conftest import ROOT

from components.config.models import TOP_LEVEL_KEYS
from components.config.schema import SCHEMA_PATH, main, schema_text, stack_file_schema
from components.stackset import BOOTSTRAP_DIR, stack_files, stack_folders

NS = "istio-envs"
SCHEMA = stack_file_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
STACK_FILES = [path for folder in stack_folders(ROOT) if folder.name != BOOTSTRAP_DIR
               for path in stack_files(folder)]


def test_the_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == schema_text(), "run: .venv/bin/python -m components.config.schema"
    assert main(["--check"]) == 0
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


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
# The README's tables against the schema


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


NO_DEFAULT = object()


def _leaves(node: dict, prefix: str = "") -> dict[str, tuple[object, bool]]:
    """key path -> (default or NO_DEFAULT, required) of every key that is not a section."""
    node = _resolve(node)
    found: dict[str, tuple[object, bool]] = {}
    for member in node.get("oneOf", []):  # a tagged union: every variant's keys
        found.update(_leaves(member, prefix))
    for name, prop in node.get("properties", {}).items():
        path, target = prefix + name, _resolve(prop)
        required = name in node.get("required", [])
        if "properties" in target or "oneOf" in target:
            found.update(_leaves(target, path + "."))
            continue
        found[path] = (prop.get("default", NO_DEFAULT), required)
        items = _resolve(target.get("items", {}))
        if "properties" in items:
            found.update(_leaves(items, path + "[]."))
    return found


def _configuration_tables() -> dict[str, list[tuple[str, str]]]:
    """heading -> [(key cell, default cell)] of the Configuration section's key tables."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 1)]
    tables: dict[str, list[tuple[str, str]]] = {}
    heading = ""
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            tables.setdefault(heading, []).append((cells[0], cells[1]))
    return tables


def _documented(rows: list[tuple[str, str]]) -> dict[str, str]:
    """key path -> its default as the README says it (``[]`` suffixes of lists dropped)."""
    keys: dict[str, str] = {}
    for key_cell, default_cell in rows:
        names = re.findall(r"`([^`]+)`", key_cell)
        separator = " / " if " / " in key_cell else ", "
        defaults = default_cell.split(separator)
        if len(defaults) != len(names):
            defaults = [default_cell] * len(names)
        prefix = names[0].rsplit(".", 1)[0] + "." if "." in names[0] else ""
        for i, (name, default) in enumerate(zip(names, defaults, strict=True)):
            full = name if i == 0 or "." in name else prefix + name
            keys[full.removesuffix("[]")] = default.strip()
    return keys


def _as_written(value: object) -> str:
    return "true" if value is True else "false" if value is False else \
        json.dumps(value) if isinstance(value, list) else str(value)


def _schema_of(section: str) -> dict[str, tuple[object, bool]]:
    return {k.removesuffix("[]"): v for k, v in _leaves(SCHEMA["$defs"][section]).items()}


@pytest.mark.parametrize("heading, section", [("`istio-envs:environment`", "EnvironmentConfig"),
                                              ("`istio-envs:platform`", "PlatformConfig")])
def test_the_readme_tables_document_every_key_and_its_default(heading, section):
    rows = next(rows for title, rows in _configuration_tables().items() if heading in title)
    documented, schema = _documented(rows), _schema_of(section)
    assert sorted(set(schema) - set(documented)) == [], "keys missing from the README table"
    assert sorted(set(documented) - set(schema)) == [], "README keys the schema does not have"
    for key, said in documented.items():
        default, required = schema[key]
        literal = re.fullmatch(r"`([^`]*)`", said)
        if literal:
            assert default is not NO_DEFAULT and _as_written(default) == literal.group(1), (key, said, default)
        elif said == "required" or said.startswith("required,"):
            assert required and default is NO_DEFAULT, (key, said)
        else:  # computed from other keys, conditional, or none
            assert not required and default in (NO_DEFAULT, None), (key, said, default)


def test_the_readme_lists_every_key_under_config():
    rows = next(rows for title, rows in _configuration_tables().items() if "under `config:`" in title)
    assert [re.findall(r"`([^`]+)`", key)[0] for key, _ in rows] == [f"{NS}:{k}" for k in TOP_LEVEL_KEYS]


def test_a_stale_readme_default_is_caught():
    """The check itself: a default changed in the README (or in the models) fails it."""
    rows = next(rows for title, rows in _configuration_tables().items() if "`istio-envs:environment`" in title)
    documented = _documented([(k, d.replace("`90`", "`30`")) for k, d in rows])
    default, _ = _schema_of("EnvironmentConfig")["tls.clientCertificateDays"]
    assert documented["tls.clientCertificateDays"] == "`30`" and _as_written(default) == "90"
