"""The JSON Schema of a stack file, from the same models the program validates with, each key
described by its row in the README's configuration tables (the one statement of what it means).

``python -m components.config.schema`` writes ``schemas/stack-config.schema.json``; ``--check``
exits 1 when the committed file is stale (the tests run it). Editors use it for completion,
hover text and inline errors; the rules across keys and stack files are the program's and the
fleet check's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from ..errors import NAMESPACE
from .models import StackKeys

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA_PATH = ROOT / "schemas" / "stack-config.schema.json"
SECURE = {"type": "object", "description": "An encrypted value (pulumi config set --secret).",
          "properties": {"secure": {"type": "string"}}, "required": ["secure"], "additionalProperties": False}


def readme_meanings(readme: Path = ROOT / "README.md") -> dict[str, str]:
    """key path (``environment.routes[].port``, ``attachTo``) -> its Meaning in the README's tables."""
    text = readme.read_text()
    section, found, prefix = text[text.index("## Configuration"):], {}, ""
    for line in section[:section.index("\n## ", 1)].splitlines():
        if line.startswith("### "):
            prefix = next((f"{s}." for s in ("environment", "platform") if f"{NAMESPACE}:{s}`" in line), "")
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            names, meaning = re.findall(r"`([^`]+)`", cells[0]), re.sub(r"\*\*|`", "", cells[2])
            parent = names[0].rsplit(".", 1)[0] + "." if "." in names[0] else ""
            for i, name in enumerate(names):
                key = prefix + (name if i == 0 or "." in name else parent + name).split(":")[-1]
                found[key.removesuffix("[]")] = meaning
    return found


def _resolve(node: dict, definitions: dict) -> dict:
    return definitions[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node else node


def _describe(node: dict, path: str, meanings: dict[str, str], definitions: dict) -> None:
    """Each property's description: its README meaning, then what the model says (a derived default)."""
    node = _resolve(node, definitions)
    for variant in node.get("oneOf", []):
        _describe(variant, path, meanings, definitions)
    for name, prop in node.get("properties", {}).items():
        key = f"{path}{name}"
        if key in meanings:
            prop["description"] = ". ".join(filter(None, (meanings[key].rstrip("."), prop.get("description"))))
        target = _resolve(prop, definitions)
        items = _resolve(target.get("items", {}), definitions)
        if "properties" in target or "oneOf" in target:
            _describe(target, key + ".", meanings, definitions)
        elif "properties" in items:
            _describe(items, key + "[].", meanings, definitions)


def _clean(node: Any) -> Any:
    """Drop pydantic's titles (noise in a hover) and the defaults of whole sections."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()
                if not (k == "title" and isinstance(v, str)) and not (k == "default" and "$ref" in node)}
    return [_clean(v) for v in node] if isinstance(node, list) else node


def stack_file_schema() -> dict:
    keys = StackKeys.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    definitions, meanings = {**keys.pop("$defs"), "Secure": SECURE}, readme_meanings()
    _describe({"properties": {"environment": keys["properties"]["environment"],
                              "platform": {"$ref": "#/$defs/PlatformConfig"}}}, "", meanings, definitions)
    properties: dict[str, Any] = {}
    for alias, schema in keys["properties"].items():
        members = [m for m in schema.get("anyOf", []) if m != {"type": "null"}]
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "default")},
                  **(members[0] if len(members) == 1 else {})}  # set or absent, never null
        description = meanings.get(alias, "")
        if alias == "tlsPrivateKey":
            schema = {"$ref": "#/$defs/Secure"}
        elif alias in ("tlsCertificate", "clientCaCertificate"):  # public, may still be --secret
            schema = {"anyOf": [schema, {"$ref": "#/$defs/Secure"}]}
        properties[f"{NAMESPACE}:{alias}"] = {"description": description, **schema}
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
                "description": "Generated from components/config/ and the README's configuration tables "
                               "by `python -m components.config.schema`; do not edit by hand.",
                "type": "object",
                "properties": {"config": config, "secretsprovider": {"type": "string"},
                               "encryptedkey": {"type": "string"}, "encryptionsalt": {"type": "string"},
                               "environment": {"description": "Pulumi ESC environments imported by the stack."}},
                "additionalProperties": False, "$defs": definitions})}


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    text = schema_text()
    if "--check" in (sys.argv[1:] if argv is None else argv):
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
