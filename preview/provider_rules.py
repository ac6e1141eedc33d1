"""The provider's own input rules, checked offline against a plan's ``gcp:`` resources.

A real ``pulumi preview`` sends each resource's inputs to pulumi-gcp's ``Check``, which validates
them with the Terraform schema of terraform-provider-google-beta (terraform-plugin-sdk
``schemaMap.Validate``). The mock engine does not, so this does it with the schema vendored in
``schemas/provider/google-beta.json`` (``tools/provider_schema.py``; ``schemas/provider/SOURCE``):
unknown attributes, Required (at the top and inside every block that is set), Computed-only
attributes set, ExactlyOneOf, AtLeastOneOf, ConflictsWith, RequiredWith, enums, MaxItems and
MinItems. As in the SDK, rule keys are absolute Terraform paths (``maintenance_policy.0.x``), a
value unknown until deployed counts as set for ExactlyOneOf/AtLeastOneOf/RequiredWith and never
conflicts (on either side), and unknown or secret values are not compared with an enum. Unlike
the SDK, a block holding an unknown value is still checked inside: the SDK defers that until the
value is known, and then fails the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .engine import SECRET, UNKNOWN

SCHEMA = Path(__file__).resolve().parent.parent / "schemas/provider/google-beta.json"
SOURCE = SCHEMA.with_name("SOURCE")  # the upstream ref it was extracted from
OPAQUE = (SECRET, UNKNOWN)  # a value the plan cannot show: present, not comparable


@dataclass(frozen=True)
class Violation:
    stack: str
    resource: str  # "<type> <name>"
    path: str  # the input path (Pulumi names), "" for the resource itself
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


def source_ref() -> str:
    """``terraform-provider-google-beta v7.45.0 (3dc173a)``: what schemas/provider/SOURCE names."""
    fields = dict(line.split(": ", 1) for line in SOURCE.read_text().splitlines()
                  if ": " in line and not line.startswith("#"))
    return f"terraform-provider-google-beta {fields['ref']} ({fields['commit'][:7]})"


@cache
def schemas() -> dict[str, dict]:
    """Pulumi type token -> {"tf", "file", "attributes"} (attributes keyed by Pulumi name)."""
    return json.loads(SCHEMA.read_text())


def check(plan: dict) -> list[Violation]:
    """Every rule the provider's Check would refuse in ``plan`` (a plan.json document)."""
    found: dict[str, Violation] = {}
    for resource in plan["resources"]:
        if not resource["type"].startswith("gcp:") or resource.get("read"):
            continue  # a read (``.get``) sends no inputs to Check
        label = f"{resource['type']} {resource['name']}"

        def report(path: str, rule: str, text: str, label: str = label) -> None:
            message = f"{plan['stack']}: {label}: {path + ': ' if path else ''}{rule} — {text}"
            found.setdefault(message, Violation(plan["stack"], label, path, rule, message))

        schema = schemas().get(resource["type"])
        if schema is None:
            report("", "schema", "no vendored provider schema (run tools/provider_schema.py with this type)")
            continue
        _Walk(schema["attributes"], resource["inputs"], report).block(schema["attributes"], resource["inputs"])
    return list(found.values())


class _Walk:
    def __init__(self, root: dict, inputs: dict, report):
        self.root, self.inputs, self.report = root, inputs, report

    def resolve(self, key: str) -> tuple[str, str]:
        """An absolute Terraform key (``a.0.b``) -> (its Pulumi path, "set" | "unknown" | "absent")."""
        attrs, value, path, parts, state = self.root, self.inputs, [], key.split("."), "set"
        while parts:
            name = parts.pop(0)
            pulumi, node = next(((p, n) for p, n in attrs.items() if n.get("tf") == name), (name, {}))
            path.append(pulumi)
            index = int(parts.pop(0)) if parts and parts[0].isdigit() else None
            attrs = node.get("attributes", {})
            if state != "set":
                continue  # only the path is still wanted
            value = value.get(pulumi) if isinstance(value, dict) else None
            if index is not None and isinstance(value, list):  # a flat block is its item 0 itself
                value = value[index] if index < len(value) else None
            if value == UNKNOWN or (value == SECRET and parts):  # a secret block's insides: unknown
                state = "unknown"
            elif _absent(value):
                state = "absent"
        return ".".join(path), state

    def block(self, attrs: dict, value: dict, path: str = "") -> None:
        where = f"{path}." if path else ""
        for key in value:
            if key not in attrs:
                self.report(where + key, "unknown attribute", "not in the provider schema")
        for name, node in attrs.items():
            if not node.get("sdkOnly"):
                self.attribute(node, value.get(name), where + name, path)

    def attribute(self, node: dict, value: Any, path: str, parent: str) -> None:
        tf_key = self.tf_key(path)
        for rule in ("exactlyOneOf", "atLeastOneOf"):
            if rule in node:
                keys = [*node[rule], *([tf_key] if tf_key not in node[rule] else [])]
                states = {shown: state for shown, state in map(self.resolve, keys)}
                names = ", ".join(_relative(shown, parent) for shown in states)
                set_ = [_relative(shown, parent) for shown, state in states.items() if state == "set"]
                title = f"{rule[0].upper()}{rule[1:]}({names})"
                if not set_ and "unknown" not in states.values():
                    self.report(parent, title, "none set")
                elif rule == "exactlyOneOf" and len(set_) > 1:
                    self.report(parent, title, f"{len(set_)} set: {', '.join(set_)}")
        if _absent(value):
            if node.get("required"):
                self.report(path, "Required", "not set")
            return
        if node.get("computed") and not (node.get("optional") or node.get("required")):
            self.report(path, "Computed", "set, but only the provider sets it")
        for key in node.get("requiredWith", ()):
            shown, state = self.resolve(key)
            if state == "absent":
                self.report(path, f"RequiredWith({_relative(shown, parent)})", f"{_relative(shown, parent)} not set")
        if value == UNKNOWN:
            return
        for key in node.get("conflictsWith", ()):
            shown, state = self.resolve(key)
            if state == "set":
                self.report(path, f"ConflictsWith({_relative(shown, parent)})", "both set")
        if value == SECRET:
            return
        self.values(node, value, path)

    def values(self, node: dict, value: Any, path: str) -> None:
        if "enum" in node and isinstance(value, str) and not _in_enum(node, value):
            self.report(path, f"enum({', '.join(repr(v) for v in node['enum'])})", f"{value!r} is not one of them")
        if node.get("type") not in ("List", "Set"):
            return
        items = [value] if node.get("flat") else value if isinstance(value, list) else []
        if not node.get("flat") and "maxItems" in node and len(items) > node["maxItems"]:
            self.report(path, f"MaxItems({node['maxItems']})", f"{len(items)} given")
        if not node.get("flat") and "minItems" in node and len(items) < node["minItems"]:
            self.report(path, f"MinItems({node['minItems']})", f"{len(items)} given")
        for i, item in enumerate(items):
            at = path if node.get("flat") else f"{path}[{i}]"
            if "attributes" in node and isinstance(item, dict):
                self.block(node["attributes"], item, at)
            elif "elem" in node and item not in OPAQUE:
                self.values(node["elem"], item, at)

    def tf_key(self, path: str) -> str:
        """The Terraform key of a Pulumi path (``a.b[2].c`` -> ``a.0.b.2.c``), as rules name it."""
        attrs, parts = self.root, []
        for segment in path.split("."):
            name, _, index = segment.partition("[")
            node = attrs.get(name, {})
            parts.append(node.get("tf", name))
            if node.get("flat") or index:
                parts.append(index.rstrip("]") or "0")
            attrs = node.get("attributes", {})
        return ".".join(parts)


def _absent(value: Any) -> bool:
    return value is None or value == []


def _in_enum(node: dict, value: str) -> bool:
    if node.get("enumIgnoreCase"):
        return value.lower() in (v.lower() for v in node["enum"])
    return value in node["enum"]


def _relative(path: str, parent: str) -> str:
    return path[len(parent) + 1:] if parent and path.startswith(parent + ".") else path
