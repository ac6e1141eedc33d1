"""Extract terraform-provider-google-beta's resource schemas for the types this program declares.

    .venv/bin/python -m tools.provider_schema SOURCE_DIR --metadata BRIDGE_METADATA [--out FILE] [TOKEN ...]

SOURCE_DIR is a checkout of terraform-provider-google-beta (the folder holding ``google-beta/``);
BRIDGE_METADATA is pulumi-gcp's ``provider/cmd/pulumi-resource-gcp/bridge-metadata.json``, whose
``auto-aliasing`` table names the Terraform resource of each Pulumi token. Without tokens the
types already in FILE are regenerated (``schemas/provider/SOURCE`` says which refs).

The Go source is parsed with tree-sitter and its schema literals evaluated, not pattern-matched:
the ``registry.Schema{Name: ..., Schema: ...}`` each resource registers, ``schema.Resource`` and
``schema.Schema`` literals, package-level vars, in-module helper functions called with their
parameters bound (``schemaNodeConfig()``, ``tpgiamresource.ResourceIamMember(parentSchema, ...)``)
and ``tpgresource.MergeSchemas``. Anything else (function values, runtime code) stays unknown.
Pulumi names come from the installed pulumi_gcp SDK's input types (renames and plurals included).
"""

from __future__ import annotations

import argparse
import collections.abc
import importlib
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tree_sitter_go
from pulumi import _types as pulumi_types
from tree_sitter import Language, Node, Parser

MODULE = "github.com/hashicorp/terraform-provider-google-beta/"
PARSER = Parser(Language(tree_sitter_go.language()))
FLAGS = ("Required", "Optional", "Computed", "ForceNew")
RULES = ("ExactlyOneOf", "AtLeastOneOf", "ConflictsWith", "RequiredWith", "MaxItems", "MinItems")
RESOURCE_KINDS = ("SchemaTypeResource", "SchemaTypeIAMResource")  # not the data sources
# pulumi-gcp provider/labels.go: every resource's terraform_labels is pulumiLabels in Pulumi.
RENAMES = {"terraform_labels": "pulumiLabels"}


class Enum(tuple):
    """``validation.StringInSlice(values, ignoreCase)`` / ``verify.ValidateEnum(values)``."""
    ignore_case = False


class ForceNewIf(tuple):
    """``customdiff.ForceNewIfChange("field", condition)`` in a resource's CustomizeDiff."""


def _field(node: Node, name: str) -> Node:
    child = node.child_by_field_name(name)
    if child is None:
        raise ValueError(f"no {name} in the {node.type} at {node.start_point}")
    return child


def _text(node: Node | None) -> str:
    return (node.text or b"").decode() if node is not None else ""


def _string(node: Node) -> str:
    """A Go string literal's value (Go's escapes are JSON's, bar a few no schema uses)."""
    try:
        return _text(node)[1:-1] if node.type == "raw_string_literal" else json.loads(_text(node))
    except ValueError:
        return _text(node)[1:-1]


def _type_name(node: Node | None) -> str:
    """``*schema.Schema`` / ``schema.Resource`` -> ``Schema`` / ``Resource``."""
    if node is not None and node.type == "pointer_type":
        return _type_name(node.named_children[0])
    return _text(node.child_by_field_name("name")) if node is not None and node.type == "qualified_type" else _text(node)


def _descendants(node: Node, *kinds: str):
    for child in node.named_children:
        if child.type in kinds:
            yield child
        yield from _descendants(child, *kinds)


class File:
    def __init__(self, go: Go, path: Path):
        self.go, self.path = go, path
        self.rel = path.relative_to(go.root).as_posix()
        self.folder = path.parent.relative_to(go.root).as_posix()  # its package
        self.tree = PARSER.parse(path.read_bytes()).root_node
        self.imports: dict[str, str] = {}  # alias -> import path
        for spec in _descendants(self.tree, "import_spec"):
            target = _string(_field(spec, "path"))
            self.imports[_text(spec.child_by_field_name("name")) or target.rsplit("/", 1)[-1]] = target


class Struct:
    """A composite literal of a struct type; its fields are evaluated when first read."""

    def __init__(self, kind: str, fields: dict[str, Node], file: File, env: dict):
        self.kind, self.nodes, self.file, self.env = kind, fields, file, env

    def get(self, name: str) -> Any:
        node = self.nodes.get(name)
        return None if node is None else self.file.go.eval(node, self.file, self.env)


Env = dict[str, Callable[[], Any]]  # a function's parameters and locals, evaluated when read


class Go:
    """The module's Go source, read a package (folder) at a time as names are looked up."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[Path, File] = {}
        self.packages: dict[str, dict[str, tuple[Node, File]]] = {}
        self.depth = 0

    def file(self, path: Path) -> File:
        if path not in self.files:
            self.files[path] = File(self, path)
        return self.files[path]

    def package(self, folder: str) -> dict[str, tuple[Node, File]]:
        """name -> (the function declaration, or the var/const value, and its file)."""
        if folder not in self.packages:
            decls: dict[str, tuple[Node, File]] = {}
            for path in sorted(p for p in (self.root / folder).glob("*.go") if not p.name.endswith("_test.go")):
                file = self.file(path)
                for top in file.tree.named_children:
                    if top.type == "function_declaration":
                        decls[_text(top.child_by_field_name("name"))] = (top, file)
                    declares = top.type in ("var_declaration", "const_declaration")
                    for spec in _descendants(top, "var_spec", "const_spec") if declares else ():
                        values = spec.child_by_field_name("value")
                        for name, value in zip(spec.children_by_field_name("name"),
                                               values.named_children if values else [], strict=False):
                            decls[_text(name)] = (value, file)
            self.packages[folder] = decls
        return self.packages[folder]

    def decl(self, node: Node, file: File, env: Env) -> tuple[Node, File] | str | None:
        """What an identifier or ``pkg.Name`` names: an in-module declaration, or for a package
        outside the module its bare name (``schema.TypeList`` -> ``"TypeList"``)."""
        if node.type == "identifier":
            return self.package(file.folder).get(_text(node))
        operand = _field(node, "operand")
        target = file.imports.get(_text(operand)) if operand.type == "identifier" and _text(operand) not in env else None
        if target is None:
            return None
        name = _text(_field(node, "field"))
        return self.package(target[len(MODULE):]).get(name) if target.startswith(MODULE) else name

    def eval(self, node: Node, file: File, env: Env, hint: str = "") -> Any:
        kind = node.type
        if kind in ("literal_element", "parenthesized_expression"):
            return self.eval(node.named_children[0], file, env, hint)
        if kind in ("interpreted_string_literal", "raw_string_literal"):
            return _string(node)
        if kind == "int_literal":
            return int(_text(node), 0)
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "unary_expression" and _text(node.child_by_field_name("operator")) == "&":
            return self.eval(_field(node, "operand"), file, env, hint)
        if kind == "binary_expression" and _text(node.child_by_field_name("operator")) == "+":
            left, right = (self.eval(_field(node, side), file, env) for side in ("left", "right"))
            return left + right if isinstance(left, str) and isinstance(right, str) else None
        if kind == "identifier" and _text(node) in env:
            return env[_text(node)]()
        if kind in ("identifier", "selector_expression"):
            found = self.decl(node, file, env)
            if isinstance(found, tuple) and found[0].type != "function_declaration":
                return self.eval(found[0], found[1], {})
            if found is None and kind == "selector_expression":  # a field of a value
                value = self.eval(_field(node, "operand"), file, env)
                return value.get(_text(_field(node, "field"))) if isinstance(value, Struct) else None
            return found if isinstance(found, str) else None  # a function value stays unknown
        if kind == "composite_literal":
            return self.literal(node.child_by_field_name("type"), _field(node, "body"), file, env)
        if kind == "literal_value" and hint:  # an element whose type its container names
            return self.literal(None, node, file, env, hint)
        if kind == "call_expression":
            return self.call(node, file, env)
        return None

    def literal(self, type_node: Node | None, body: Node, file: File, env: Env, hint: str = "") -> Any:
        items = [c for c in body.named_children if c.type in ("keyed_element", "literal_element")]
        keyed = [(item.named_children[0], item.named_children[1]) for item in items if item.type == "keyed_element"]
        if type_node is not None and type_node.type == "slice_type":
            element = _type_name(type_node.child_by_field_name("element"))
            return [self.eval(item, file, env, element) for item in items]
        if type_node is not None and type_node.type == "map_type":
            value = _type_name(type_node.child_by_field_name("value"))
            return {self.eval(k, file, env): self.eval(v, file, env, value) for k, v in keyed}
        return Struct(_type_name(type_node) or hint, {_text(k): v for k, v in keyed}, file, env)

    def call(self, node: Node, file: File, env: Env) -> Any:
        function = _field(node, "function")
        args = [a for a in _field(node, "arguments").named_children if a.type != "comment"]
        name = _text(function.child_by_field_name("field") if function.type == "selector_expression" else function)
        values = [_cached(lambda a=a: self.eval(a, file, env)) for a in args]
        if name in ("StringInSlice", "ValidateEnum") and values:
            listed = values[0]()
            enum = Enum(listed if isinstance(listed, list) and all(isinstance(v, str) for v in listed) else ())
            enum.ignore_case = len(values) > 1 and values[1]() is True
            return enum or None
        if name in ("ToDiagFunc", "All"):  # a validator wrapped, or all of some: keep each
            return [v for value in values if (v := value()) is not None]
        if name == "ForceNewIfChange" and len(args) == 2:
            return ForceNewIf((values[0](), _text(args[1])))
        if name == "MergeSchemas":
            return {key: s for value in values for key, s in (value() or {}).items()}
        if name == "append":
            return [v for got in (value() for value in values) for v in (got if isinstance(got, list) else [got])]
        found = self.decl(function, file, env) if function.type in ("identifier", "selector_expression") else None
        if not isinstance(found, tuple) or found[0].type != "function_declaration" or self.depth > 40:
            return None
        return self.invoke(*found, values)

    def invoke(self, decl: Node, file: File, args: list[Callable[[], Any]]) -> Any:
        """An in-module function: parameters bound to the arguments, the locals its body declares
        (``x := ...``), and its last top-level ``return`` evaluated."""
        params = [p for p in _field(decl, "parameters").named_children if "parameter" in p.type]
        scope: Env = dict(zip([_text(n) for p in params for n in p.children_by_field_name("name")], args,
                              strict=False))
        body = _field(decl, "body")
        returned = None
        for statement in body.named_children[0].named_children if body.named_child_count else ():
            if statement.type == "short_var_declaration":
                for target, value in zip(_field(statement, "left").named_children,
                                         _field(statement, "right").named_children, strict=False):
                    scope[_text(target)] = _cached(lambda v=value: self.eval(v, file, scope))
            elif statement.type == "return_statement" and statement.named_child_count:
                returned = statement.named_children[0].named_children[0]
        self.depth += 1
        try:
            return self.eval(returned, file, scope) if returned is not None else None
        finally:
            self.depth -= 1


def _cached(compute: Callable[[], Any]) -> Callable[[], Any]:
    cache: list = []
    return lambda: cache[0] if cache else (cache.append(compute()) or cache[0])


def _found(value: Any, kind: type) -> list:
    """Every ``kind`` value in a validator or CustomizeDiff expression (lists are ``All``)."""
    if isinstance(value, kind):
        return [value]
    return [f for v in value for f in _found(v, kind)] if isinstance(value, list) else []


def attributes(schema: Any, file: File) -> dict[str, dict]:
    if not isinstance(schema, dict):
        return {}
    return {name: attribute(value, file) for name, value in sorted(schema.items()) if isinstance(value, Struct)}


def attribute(s: Struct, parent: File) -> dict:
    """One ``schema.Schema``: its type, flags, rules, enum and what its elements are."""
    out: dict[str, Any] = {"type": str(s.get("Type") or "").removeprefix("Type")}
    if s.file.rel != parent.rel:
        out["file"] = s.file.rel
    out.update({flag[0].lower() + flag[1:]: True for flag in FLAGS if s.get(flag) is True})
    for rule in RULES:
        value = s.get(rule)
        if (isinstance(value, int) and not isinstance(value, bool) and value > 0) or (
                isinstance(value, list) and value and all(isinstance(k, str) for k in value)):
            out[rule[0].lower() + rule[1:]] = value
    enums = _found(s.get("ValidateFunc"), Enum) + _found(s.get("ValidateDiagFunc"), Enum)
    if enums:
        out["enum"] = list(enums[0])
        if enums[0].ignore_case:
            out["enumIgnoreCase"] = True
    elem = s.get("Elem")
    if isinstance(elem, Struct) and elem.kind == "Resource":
        out["attributes"] = attributes(elem.get("Schema"), s.file)
    elif isinstance(elem, Struct) and elem.kind == "Schema":
        out["elem"] = attribute(elem, s.file)
    return out


def registrations(go: Go, wanted: set[str]) -> dict[str, tuple[Struct, File]]:
    """Terraform resource name -> its ``schema.Resource``, from the ``registry.Schema``
    literals the services register. Files that name none of ``wanted`` are not parsed."""
    found: dict[str, tuple[Struct, File]] = {}
    for path in sorted((go.root / "google-beta/services").rglob("*.go")):
        if path.name.endswith("_test.go") or not any(f'"{n}"'.encode() in path.read_bytes() for n in wanted):
            continue
        file = go.file(path)
        for literal in _descendants(file.tree, "composite_literal"):
            if _text(literal.child_by_field_name("type")) != "registry.Schema":
                continue
            entry = go.literal(None, _field(literal, "body"), file, {}, "Schema")
            kind = _text(entry.nodes.get("Type")).rsplit(".", 1)[-1]  # registry.SchemaType...
            resource = entry.get("Schema") if kind in RESOURCE_KINDS and entry.get("Name") in wanted else None
            if isinstance(resource, Struct):
                found[entry.get("Name")] = (resource, resource.file)
    return found


# --- Pulumi names, from the installed SDK -------------------------------------------------------

def sdk_state(token: str) -> type:
    """The SDK's ``_<Name>State`` input type: every attribute of the resource, inputs and outputs."""
    _, module_path, name = token.split(":")
    cls = getattr(importlib.import_module(f"pulumi_gcp.{module_path.split('/')[0]}"), name)
    return getattr(sys.modules[cls.__module__], f"_{name}State")


def _nested(tp: Any) -> tuple[type | None, bool]:
    """(the input type inside an annotation, whether it is a list)."""
    if isinstance(tp, type) and pulumi_types.is_input_type(tp):
        return tp, False
    is_list = typing.get_origin(tp) in (list, collections.abc.Sequence)
    return next((inner for arg in typing.get_args(tp) if (inner := _nested(arg)[0])), None), is_list


def pulumi_tree(tf: dict[str, dict], cls: type | None, gaps: list[str], where: str) -> dict[str, dict]:
    """The attribute tree keyed by Pulumi name: the camelCase Terraform name, plural for a list
    or set whose MaxItems is not 1, which the bridge flattens to one object (``flat``); each name
    as the SDK spells it. A name the SDK lacks is guessed and listed in ``gaps``."""
    sdk: dict[str, tuple[type | None, bool]] = {}
    if cls is not None:
        types = pulumi_types.input_type_types(cls)
        sdk = {name: _nested(types[name]) for name in pulumi_types.input_type_py_to_pulumi_names(cls).values()}
    out: dict[str, dict] = {}
    for name, node in tf.items():
        is_list = node["type"] in ("List", "Set")
        plural = [name + "s", name + "es", name[:-1] + "ies"] if is_list and node.get("maxItems") != 1 else []
        wanted = [RENAMES.get(name, _camel(n)) for n in (*plural, name)]
        key = next((n for n in wanted if n in sdk), None)
        if key is None:
            gaps.append(f"{where}{name}: not in the installed SDK")
            key, (nested_cls, sdk_list) = wanted[0], (None, node.get("maxItems") != 1)
        else:
            nested_cls, sdk_list = sdk.pop(key)
        out[key] = {"tf": name, **node, **({"flat": True} if is_list and not sdk_list else {})}
        if "attributes" in node:
            out[key]["attributes"] = pulumi_tree(node["attributes"], nested_cls, gaps, f"{where}{name}.")
    for name in sdk:
        gaps.append(f"{where}{name}: in the SDK only")
        out[name] = {"sdkOnly": True}
    return dict(sorted(out.items()))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def extract(source: Path, metadata: dict, tokens: list[str]) -> tuple[dict, list[str]]:
    by_token = {entry["current"]: tf for tf, entry in metadata["auto-aliasing"]["resources"].items()}
    wanted = {by_token[token]: token for token in tokens}
    found = registrations(Go(source), set(wanted))
    out, gaps = {}, []
    for tf_name, token in sorted(wanted.items(), key=lambda item: item[1]):
        if tf_name not in found:
            gaps.append(f"{token}: {tf_name} not registered in the source")
            continue
        resource, file = found[tf_name]
        tree = attributes(resource.get("Schema"), file)
        for key, condition in _found(resource.get("CustomizeDiff"), ForceNewIf):
            if key in tree:
                tree[key]["forceNewIf"] = condition
        out[token] = {"tf": tf_name, "file": file.rel,
                      "attributes": pulumi_tree(tree, sdk_state(token), gaps, f"{token}: ")}
    return out, gaps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a terraform-provider-google-beta checkout")
    parser.add_argument("--metadata", type=Path, required=True, help="pulumi-gcp's bridge-metadata.json")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "schemas/provider/google-beta.json")
    parser.add_argument("tokens", nargs="*", help="Pulumi type tokens (default: those in --out)")
    args = parser.parse_intermixed_args(argv)
    tokens = args.tokens or sorted(json.loads(args.out.read_text()))
    schemas, gaps = extract(args.source, json.loads(args.metadata.read_text()), tokens)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(schemas, indent=1, sort_keys=True) + "\n")
    for gap in gaps:
        print(gap, file=sys.stderr)
    print(f"{args.out}: {len(schemas)} resource types", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
