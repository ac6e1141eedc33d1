"""The JSON Schema of a stack file, from the same models the program validates with.

``python -m components.config.schema`` writes ``schemas/stack-config.schema.json``;
``--check`` exits 1 when the committed file is not what the models say (the tests run it).
Editors use it for completion, hover text and inline errors on ``Pulumi.*.yaml`` (see the
README). It states the shape of every key; the rules across keys and stack files (min <= max,
disjoint ranges, unique audiences, certificates) are the program's, checked when it runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import NAMESPACE
from .models import SECRET_KEYS, StackKeys

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "stack-config.schema.json"
SECURE = {
    "type": "object",
    "description": "An encrypted value (pulumi config set --secret).",
    "properties": {"secure": {"type": "string"}},
    "required": ["secure"],
    "additionalProperties": False,
}


def _clean(node: Any) -> Any:
    """Drop pydantic's generated titles (noise in an editor's hover), and the defaults of whole
    sections (each key in them states its own)."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))
                and not (k == "default" and "$ref" in node)}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def _not_null(schema: dict) -> dict:
    """``X | None = None`` of a top-level key: in the file, the key is set or absent."""
    members = [m for m in schema.get("anyOf", []) if m != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **members[0]} if len(members) == 1 else rest


def stack_file_schema() -> dict:
    keys = StackKeys.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    definitions = keys.pop("$defs")
    definitions["Secure"] = SECURE
    properties: dict[str, Any] = {}
    for alias, schema in keys["properties"].items():
        schema = _not_null(schema)
        if alias in SECRET_KEYS:
            schema = {"description": schema.get("description", ""), "$ref": "#/$defs/Secure"}
        elif alias in ("tlsCertificate", "clientCaCertificate"):
            # A public value may still be set with --secret.
            schema = {"description": schema.pop("description", ""),
                      "anyOf": [schema, {"$ref": "#/$defs/Secure"}]}
        properties[f"{NAMESPACE}:{alias}"] = schema
    platform, attach = f"{NAMESPACE}:platform", f"{NAMESPACE}:attachTo"
    config = {
        "type": "object",
        "description": f"Stack config: the {NAMESPACE}:* keys this program reads, and the engine's "
                       "pulumi:* keys. Any other key is refused.",
        "properties": properties,
        "patternProperties": {"^pulumi:": {"description": "The Pulumi engine's own setting."}},
        "additionalProperties": False,
        "required": [f"{NAMESPACE}:{alias}" for alias in keys.get("required", [])],
        "oneOf": [
            {"required": [platform], "description": "An owner stack: declares the platform."},
            {"required": [attach], "description": "An attached stack: joins an owner's platform."},
        ],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{NAMESPACE} stack file (Pulumi.<stack>.yaml)",
        **_clean({"description": "Generated from components/config/models.py by `python -m "
                       "components.config.schema`; do not edit by hand.",
        "type": "object",
        "properties": {
            "config": config,
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {"description": "Pulumi ESC environments imported by the stack."},
        },
        "additionalProperties": False,
        "$defs": definitions,
    })}


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = schema_text()
    if "--check" in args:
        if not SCHEMA_PATH.exists() or SCHEMA_PATH.read_text() != text:
            print(f"{SCHEMA_PATH.name} is not what the models say: run `python -m "
                  "components.config.schema` and commit it", file=sys.stderr)
            return 1
        return 0
    SCHEMA_PATH.write_text(text)
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
