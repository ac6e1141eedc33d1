"""The JSON Schema of a stack file (for editors: completion, hover text, inline errors) and the
configuration reference docs/configuration.md, both from the models the program validates with:
each key's meaning is its field's description, a section's its model's docstring.

``python -m tools.config_reference`` (``make schema``) writes both; only the reference is
committed (the schema is generated where an editor reads it, so a new key touches one file fewer);
``--check`` exits 1 when the reference is stale (the tests run it). The rules across keys and stack
files are the program's and the fleet check's.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from components.config.environment import EnvironmentConfig
from components.config.loading import StackKeys
from components.config.messages import _is_model, _strip
from components.config.platform import PlatformConfig
from components.config.types import Derived
from components.errors import NAMESPACE

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH, DOC_PATH = ROOT / "schemas" / "stack-config.schema.json", ROOT / "docs" / "configuration.md"
SECURE = {"type": "object", "description": "An encrypted value (pulumi config set --secret).",
          "properties": {"secure": {"type": "string"}}, "required": ["secure"], "additionalProperties": False}
# The write-ups a description names in quotes, linked in the reference.
SEE = {"Changes a running platform cannot take in place": "operations.md#changes-a-running-platform-cannot-take-in-place",
       "Moving a deployed zone": "deploying.md#moving-a-deployed-zone",
       "A verifiable environment": "deploying.md#a-verifiable-environment",
       "Isolation from an environment's own tenants": "isolation.md",
       "Upgrading Istio": "operations.md#upgrading-istio"}


def _clean(node: Any) -> Any:
    """Plain-text descriptions (no Markdown in a hover); no pydantic titles; no section defaults."""
    if isinstance(node, dict):
        # A key's description is a string; a property *named* description is a schema: recurse.
        return {k: re.sub(r"\*\*|`", "", " ".join(v.split())) if k == "description" and isinstance(v, str)
                else _clean(v)
                for k, v in node.items() if not (k == "title" and isinstance(v, str)) and not (
                    k == "default" and "$ref" in node)}
    return [_clean(v) for v in node] if isinstance(node, list) else node


def stack_file_schema() -> dict:
    keys = StackKeys.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    properties: dict[str, Any] = {}
    for alias, schema in keys["properties"].items():
        members = [m for m in schema.pop("anyOf", []) if m != {"type": "null"}]
        schema = {**{k: v for k, v in schema.items() if k != "default"}, **(members[0] if len(members) == 1 else {})}
        if alias == "tlsPrivateKey":  # set or absent, never null; the key only ever encrypted
            schema = {"description": schema["description"], "$ref": "#/$defs/Secure"}
        elif alias in ("tlsCertificate", "clientCaCertificate"):  # public, may still be --secret
            schema = {"description": schema.pop("description"), "anyOf": [schema, {"$ref": "#/$defs/Secure"}]}
        properties[f"{NAMESPACE}:{alias}"] = schema
    platform, attach = f"{NAMESPACE}:platform", f"{NAMESPACE}:attachTo"
    config = {
        "type": "object", "properties": properties,
        "description": f"Stack config: the {NAMESPACE}:* keys this program reads, and the engine's "
                       "pulumi:* keys. Any other key is refused.",
        "patternProperties": {"^pulumi:": {"description": "The Pulumi engine's own setting."}},
        "additionalProperties": False,
        "required": [f"{NAMESPACE}:{alias}" for alias in keys.get("required", [])],
        "oneOf": [{"required": [platform], "description": "An owner stack: declares the platform."},
                  {"required": [attach], "description": "An attached stack: joins an owner's platform."}],
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"{NAMESPACE} stack file (Pulumi.<stack>.yaml)", **_clean({
                "description": "Generated from the models in components/config/ by `python -m "
                               "tools.config_reference`; do not edit by hand.",
                "type": "object",
                "properties": {"config": config, "secretsprovider": {"type": "string"},
                               "encryptedkey": {"type": "string"}, "encryptionsalt": {"type": "string"},
                               "environment": {"description": "Pulumi ESC environments imported by the stack."}},
                "additionalProperties": False, "$defs": {**keys["$defs"], "Secure": SECURE}})}


def _default(info: Any) -> str:
    extra, default = info.json_schema_extra, info.default
    if info.is_required() or isinstance(extra, Derived):
        return extra.rule if isinstance(extra, Derived) else "required"
    return "none" if default is None else "—" if _is_model(type(default)) else f"`{default}`" if isinstance(
        default, str) else f"`{json.dumps(list(default) if isinstance(default, tuple) else default)}`"


def rows(model: Any, prefix: str = "", nested: bool = True) -> Iterator[tuple[str, str, str]]:
    """(key, default, meaning) of every key of ``model``, each section before its keys; a list's
    items as ``key[]``, a tagged union as its tag (``tls.source``) and then every variant's keys."""
    for name, info in model.model_fields.items():
        kind, _ = _strip(info.annotation)
        item = get_args(kind)[0] if get_origin(kind) is tuple else kind
        if info.exclude or get_origin(kind) is Literal and name == "source":  # the union's row says it
            continue
        variants = [m for m in get_args(item) if _is_model(m)] or ([item] if _is_model(item) else [])
        key = prefix + (info.alias or name) + ("[]" if item is not kind else "")
        yield (f"{key}.source" if len(variants) > 1 else key), _default(info), \
            info.description or (item.__doc__ if _is_model(item) else "")
        seen = {key}
        for row in (row for variant in variants if nested for row in rows(variant, key + ".")):
            if row[0] not in seen:
                seen.add(row[0])
                yield row


def _table(title: str, model: Any, prefix: str = "", nested: bool = True) -> str:
    def cell(text: str) -> str:
        text = " ".join(text.split()).replace("|", "\\|")
        return re.sub(r'"([^"]+)"', lambda m: f"[{m[1]}]({SEE[m[1]]})" if m[1] in SEE else m[0], text)
    lines = [f"## {title}", "", "| Key | Default | Meaning |", "|---|---|---|"]
    lines += [f"| `{prefix}{key}` | {cell(default)} | {cell(doc)} |" for key, default, doc in rows(model, "", nested)]
    return "\n".join(lines)


def doc_text() -> str:
    return "\n\n".join([
        f"# Configuration (`Pulumi.<stack>.yaml`, namespace `{NAMESPACE}`)",
        "<!-- Generated from the models in components/config/ by `python -m tools.config_reference`: "
        "edit their descriptions, not this file. -->",
        "Every key a stack file may set, its default and what it means; the same text is the hover text "
        "of the JSON Schema `make schema` writes for your editor. How a stack file is "
        "read and checked, the provided certificate, the TLS modes, attached stacks and completion in "
        "your editor: [stack-files.md](stack-files.md).",
        _table("The keys under `config:`", StackKeys, f"{NAMESPACE}:", nested=False),
        _table(f"Every stack: `{NAMESPACE}:environment`", EnvironmentConfig),
        _table(f"Owner stack: `{NAMESPACE}:platform`", PlatformConfig)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    if "--check" in (sys.argv[1:] if argv is None else argv):
        if DOC_PATH.exists() and DOC_PATH.read_text() == doc_text():
            return 0
        print(f"{DOC_PATH.relative_to(ROOT)} is not what the models say: run `make schema` and commit it",
              file=sys.stderr)
        return 1
    files = {SCHEMA_PATH: json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n", DOC_PATH: doc_text()}
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
