"""Istio and cert-manager objects checked against the vendored upstream CRDs of the pinned versions
(``schemas/crds/``, see each folder's ``SOURCE``), the way the API server checks them:

- the structural OpenAPI v3 schema of the served version the object's ``apiVersion`` names: types
  (``x-kubernetes-int-or-string`` included), enums, required fields, formats (``int32``,
  ``int64``, ``byte``, ``date-time``), bounds, lengths, patterns, list and map sizes, list
  uniqueness (``x-kubernetes-list-type``), ``oneOf``/``anyOf``/``allOf``/``not``, and unknown
  fields: a key the schema does not declare where it neither preserves unknown fields nor has
  ``additionalProperties`` (the API server drops such a key, or refuses it under strict field
  validation), and nulls where the schema is not ``nullable``;
- ``metadata`` against ObjectMeta's fields (the API server's own, not the CRD's);
- the CEL rules (``x-kubernetes-validations``) with ``self`` bound to the value at the node that
  carries the rule, evaluated by ``common-expression-language`` (cel-rust) with the Kubernetes
  CEL functions the CRDs use. Transition rules (those reading ``oldSelf``) need the stored object
  and are skipped: a preview only creates. A rule using a function this module does not provide
  raises ``UnsupportedRule`` when it is compiled, so a CRD update that needs one is noticed.

Problems are ``(path, message)`` with paths such as ``spec.servers[0].tls.credentialName``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from .schemas import Problem, SchemasUnavailable

CRDS_DIR = Path(__file__).resolve().parent.parent / "schemas" / "crds"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~8x faster on these files

# Found by text, so that only the CRDs an object needs are parsed (the Istio file holds 15).
_DOCUMENT = re.compile(r"(?m)^---[ \t]*$")
_GROUP = re.compile(r"(?m)^  group: (\S+)[ \t]*$")
_KIND = re.compile(r"(?m)^  names:\n(?:    .*\n)*?    kind: (\S+)[ \t]*$")


class UnsupportedRule(SchemasUnavailable):
    """A CEL rule of a vendored CRD that cannot be compiled or evaluated here."""


# --- the vendored CRDs ----------------------------------------------------------------------------

@functools.cache
def _documents(path: Path) -> tuple[str, ...]:
    return tuple(_DOCUMENT.split(path.read_text()))


@functools.cache
def _index() -> dict[tuple[str, str], tuple[Path, int]]:
    """(group, kind) -> the file and document index of its CRD."""
    found = {}
    for path in sorted(CRDS_DIR.glob("*/*.yaml")):
        for i, text in enumerate(_documents(path)):
            group, kind = _GROUP.search(text), _KIND.search(text)
            if group and kind:
                found[(group[1], kind[1])] = (path, i)
    if not found:
        raise SchemasUnavailable(f"no CustomResourceDefinition found under {CRDS_DIR}")
    return found


@functools.cache
def crd(group: str, kind: str) -> dict | None:
    """The vendored CRD of ``kind`` in ``group`` (parsed once), or None."""
    where = _index().get((group, kind))
    if where is None:
        return None
    doc = yaml.load(_documents(where[0])[where[1]], Loader=_LOADER)
    if (doc.get("kind"), doc["spec"]["group"], doc["spec"]["names"]["kind"]) != \
            ("CustomResourceDefinition", group, kind):
        raise SchemasUnavailable(f"{where[0]}: document {where[1]} is not the CRD of {group} {kind}")
    return doc


def served_schema(api_version: object, kind: object) -> dict | None:
    """The OpenAPI schema of the served version ``api_version`` (``group/version``) of ``kind``."""
    group, _, version = str(api_version).partition("/")
    doc = crd(group, str(kind))
    for served in (doc or {}).get("spec", {}).get("versions", []):
        if served["name"] == version and served.get("served"):
            return served["schema"]["openAPIV3Schema"]
    return None


def vendored_kinds() -> list[tuple[str, str]]:
    return sorted(_index())


def check(file: str, body: dict) -> list[Problem]:
    """Every problem of one Istio or cert-manager object (``file`` names it in the problems)."""
    schema = served_schema(body.get("apiVersion"), body.get("kind"))
    if schema is None:
        return [Problem(file, "apiVersion", f"no CRD in schemas/crds/ serves {body.get('apiVersion')} "
                                            f"{body.get('kind')}")]
    problems = list(_validate(body, schema, "", root=True))
    if "metadata" in body:
        problems += _validate(body["metadata"], OBJECT_META, "metadata")
    return [Problem(file, path, message) for path, message in problems]


# ObjectMeta as the API server takes it from a manifest (k8s.io/apimachinery/pkg/apis/meta/v1,
# types.go), in the CRDs' schema form: a CRD's own ``metadata`` schema is only ``type: object``.
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META = {"type": "object", "properties": {
    **{name: {"type": "string"} for name in (
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
        "creationTimestamp", "deletionTimestamp")},
    "generation": {"type": "integer", "format": "int64"},
    "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
    "labels": _STRING_MAP,
    "annotations": _STRING_MAP,
    "finalizers": {"type": "array", "items": {"type": "string"}},
    "ownerReferences": {"type": "array", "items": {
        "type": "object", "required": ["apiVersion", "kind", "name", "uid"], "properties": {
            **{name: {"type": "string"} for name in ("apiVersion", "kind", "name", "uid")},
            "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}}}},
    "managedFields": {"type": "array", "items": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
}}


# --- the structural schema ------------------------------------------------------------------------

ROOT_FIELDS = ("apiVersion", "kind", "metadata")  # every object has them; metadata is checked apart
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# RFC 3339 (strfmt.DateTime as the API server's OpenAPI validation accepts it).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", dict: "object", list: "array"}.get(
        type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_problem(value: Any, schema: dict) -> str | None:
    if schema.get("x-kubernetes-int-or-string"):
        return None if _is_int(value) or isinstance(value, str) else \
            f"must be an integer or a string, got {_type_name(value)}"
    expected = schema.get("type")
    fits = {"object": isinstance(value, dict), "array": isinstance(value, list),
            "string": isinstance(value, str), "boolean": isinstance(value, bool),
            "integer": _is_int(value),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool)}.get(expected, True)
    return None if fits else f"must be of type {expected}, got {_type_name(value)}"


def _same(a: Any, b: Any) -> bool:
    """JSON equality (Python's says True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _validate(value: Any, schema: dict, path: str, root: bool = False) -> Iterator[tuple[str, str]]:
    """The problems of ``value`` against one node of a structural schema, its children's and its
    CEL rules'. A value of the wrong type gets that one problem."""
    if value is None:  # the API server would drop it: a null in a rendered manifest is a slip
        if not schema.get("nullable"):
            yield path, "must not be null"
        return
    problem = _type_problem(value, schema)
    if problem:
        yield path, problem
        return
    yield from _value_problems(value, schema, path)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        for key, inner in value.items():
            where = _join(path, key)
            if root and key in ROOT_FIELDS:
                if key != "metadata" and key in properties:
                    yield from _validate(inner, properties[key], where)
                elif key != "metadata" and not isinstance(inner, str):
                    yield where, f"must be of type string, got {_type_name(inner)}"
            elif key in properties:
                yield from _validate(inner, properties[key], where)
            elif isinstance(extra, dict):
                yield from _validate(inner, extra, where)
            elif not preserve:
                yield where, "unknown field"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _validate(item, schema["items"], f"{path}[{i}]")
    yield from _rules(value, schema, path)


def _value_problems(value: Any, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    """The checks of one node that do not descend: what ``anyOf``/``oneOf``/``allOf``/``not``
    may hold too (in a structural schema they only add value checks and ``required``)."""
    if "enum" in schema and not any(_same(value, allowed) for allowed in schema["enum"]):
        allowed = ", ".join(json.dumps(a) for a in schema["enum"])
        yield path, f"must be one of the allowed values: {allowed} (got {json.dumps(value)})"
    if "type" in schema and (problem := _type_problem(value, {"type": schema["type"]})):  # inside anyOf & co
        yield path, problem
        return
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield path, f"may not be longer than {schema['maxLength']} characters"
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield path, f"must be at least {schema['minLength']} characters long"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield path, f"must match the pattern {schema['pattern']}"
        if schema.get("format") == "date-time" and not _DATE_TIME.match(value):
            yield path, "must be a date-time (RFC 3339)"
        if schema.get("format") == "byte":
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                yield path, "must be base64 (format byte)"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield from _number_problems(value, schema, path)
    elif isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield path, f"must have at most {schema['maxItems']} items"
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield path, f"must have at least {schema['minItems']} items"
        yield from _duplicates(value, schema, path)
    elif isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                yield path, f"must have required property {name}"
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            yield path, f"must have at most {schema['maxProperties']} properties"
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield path, f"must have at least {schema['minProperties']} properties"
    yield from _combinations(value, schema, path)


def _number_problems(value: float, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") is True and value == low):
            yield path, f"must be greater than {'' if schema.get('exclusiveMinimum') else 'or equal to '}{low}"
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") is True and value == high):
            yield path, f"must be less than {'' if schema.get('exclusiveMaximum') else 'or equal to '}{high}"
    if schema.get("multipleOf") and value % schema["multipleOf"]:
        yield path, f"must be a multiple of {schema['multipleOf']}"
    if schema.get("format") in _INT_RANGES:
        low, high = _INT_RANGES[schema["format"]]
        if not low <= value <= high:
            yield path, f"must fit in {schema['format']} ({low} to {high})"


def _duplicates(value: list, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    """``uniqueItems`` and ``x-kubernetes-list-type`` set (unique items) and map (unique keys)."""
    kind = schema.get("x-kubernetes-list-type")
    if kind == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        identities = [", ".join(f"{k}={json.dumps(item.get(k))}" for k in keys)
                      if isinstance(item, dict) else None for item in value]
        what = "entry with"
    elif kind == "set" or schema.get("uniqueItems"):
        identities = [json.dumps(item, sort_keys=True) for item in value]
        what = "value"
    else:
        return
    seen: set[str] = set()
    for i, identity in enumerate(identities):
        if identity is not None and identity in seen:
            yield f"{path}[{i}]", f"duplicate {what} {identity}"
        if identity is not None:
            seen.add(identity)


def _nested_problems(value: Any, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    """A schema inside anyOf, oneOf, allOf or not: value checks, also on the properties and items
    it names (a structural schema allows no types, unknown-field rules or CEL rules there)."""
    yield from _value_problems(value, schema, path)
    if isinstance(value, dict):
        for key, inner in schema.get("properties", {}).items():
            if key in value:
                yield from _nested_problems(value[key], inner, _join(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _nested_problems(item, schema["items"], f"{path}[{i}]")


def _matches(value: Any, schema: dict) -> bool:
    return next(iter(_nested_problems(value, schema, "")), None) is None


def _combinations(value: Any, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    for alternative in schema.get("allOf", []):
        yield from _nested_problems(value, alternative, path)
    if "anyOf" in schema and not any(_matches(value, a) for a in schema["anyOf"]):
        yield path, "must match at least one of the anyOf schemas"
    if "oneOf" in schema:
        matched = [a for a in schema["oneOf"] if _matches(value, a)]
        if len(matched) != 1:
            yield path, _one_of_message(schema["oneOf"], value, len(matched))
    if "not" in schema and _matches(value, schema["not"]):
        yield path, "must not match the schema in not"


def _one_of_message(alternatives: list[dict], value: Any, matched: int) -> str:
    """Istio writes "at most one of these fields" as oneOf [not anyOf [required a, ...],
    required a, ...]: say so in those words."""
    fields = [a["required"][0] for a in alternatives if list(a) == ["required"] and len(a["required"]) == 1]
    if len(fields) == len(alternatives) - 1 and isinstance(value, dict):
        present = [f for f in fields if f in value]
        return f"only one of {', '.join(fields)} can be set (got {', '.join(present)})"
    return f"must match exactly one of the oneOf schemas (matched {matched})"


# --- CEL rules ------------------------------------------------------------------------------------

@functools.cache
def _cel():
    # The package's __init__ also imports its interactive command line (typer, rich and
    # prompt_toolkit: ~0.3 s, a third of a preview's checks); the engine needs none of it. A
    # stand-in cel.cli during the import keeps it out, and is dropped after, so that a later
    # `import cel.cli` still loads the real one.
    stand_in = "cel" not in sys.modules and "cel.cli" not in sys.modules
    if stand_in:
        sys.modules["cel.cli"] = types.ModuleType("cel.cli")
    try:
        import cel
        from cel.stdlib import EXTENSIONS
    except ImportError as err:
        raise SchemasUnavailable("CEL rules need common-expression-language "
                                 "(pip install -r requirements-dev.txt)") from err
    finally:
        if stand_in:
            sys.modules.pop("cel.cli", None)
    return cel, EXTENSIONS


# The cel crate logs a warning for each Python function that raises (url() of a bad URL): the rule
# then fails, which is reported as a problem, so the log line is noise.
logging.getLogger("cel").setLevel(logging.ERROR)


# Kubernetes' URL library, k8s.io/apiserver/pkg/cel/library/urls.go (kubernetes.io/docs/reference/
# using-api/cel/#kubernetes-url-library). A URL value is a one-key map here: the cel crate carries
# only CEL values across its Python boundary.
_URL_KEY = "__kubernetes_url__"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _split_url(text: Any) -> tuple[str, str, str, str, str]:
    """(scheme, host, port, escaped path, raw query) as Go's url.ParseRequestURI (what url()
    calls) reads an absolute URI or an absolute path; ValueError where it refuses the text."""
    if not isinstance(text, str) or not (text.startswith("/") or _SCHEME.match(text)) \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"URL parse error during conversion from string: {text!r}")
    try:
        parts = urlsplit(text, allow_fragments=False)  # a request URI has no fragment
    except ValueError as err:
        raise ValueError(f"URL parse error during conversion from string: {err}") from None
    host = parts.netloc.rpartition("@")[2]  # without the userinfo
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        port = port[1:] if port.startswith(":") else port
    else:
        name, _, port = host.partition(":")
    if " " in host or (port and not port.isdigit()):
        raise ValueError(f"URL parse error during conversion from string: bad host {host!r}")
    return parts.scheme, host, port, parts.path, parts.query


def _url(text: str) -> dict:
    _split_url(text)
    return {_URL_KEY: text}


def _is_url(text: str) -> bool:
    try:
        _split_url(text)
    except ValueError:
        return False
    return True


def _url_part(index: int, convert: Callable[[str], Any] = str) -> Callable[[dict], Any]:
    def method(value: dict) -> Any:
        if not isinstance(value, dict) or set(value) != {_URL_KEY}:
            raise TypeError("no such overload: the receiver is not a URL (use url(string))")
        return convert(_split_url(value[_URL_KEY])[index])
    return method


def _hostname(host: str) -> str:
    """Go's URL.Hostname(): the host without its port and an IPv6 address's brackets."""
    return host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]


KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "url": _url,
    "isURL": _is_url,
    "getScheme": _url_part(0),
    "getHost": _url_part(1),
    "getHostname": _url_part(1, _hostname),
    "getPort": _url_part(2),
    "getEscapedPath": _url_part(3),
    "getQuery": _url_part(4, lambda query: parse_qs(query, keep_blank_values=True)),
}
# What the cel crate runs natively (CEL's standard definitions; the macros has, all, exists,
# exists_one, map and filter are expanded by its parser and are not function references).
NATIVE_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double", "string",
    "bytes", "duration", "timestamp", "type", "dyn", "getFullYear", "getMonth", "getDate",
    "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes", "getSeconds",
    "getMilliseconds"})
# cel-go's strings extension (charAt, indexOf, substring, ...), which Kubernetes enables:
# the cel package ships it as cel.stdlib's "strings" library.
STRINGS_EXTENSION = "strings"


@functools.cache
def _context():
    cel, extensions = _cel()
    context = cel.Context()
    for name, function in {**extensions[STRINGS_EXTENSION], **KUBERNETES_FUNCTIONS}.items():
        context.add_function(name, function)
    return context


def available_functions() -> frozenset[str]:
    return NATIVE_FUNCTIONS | set(_cel()[1][STRINGS_EXTENSION]) | set(KUBERNETES_FUNCTIONS)


def _is_operator(name: str) -> bool:
    return name[:1] in ("_", "@", "!", "-")


@functools.cache
def compile_rule(rule: str):
    """The compiled rule, or ``UnsupportedRule`` when it does not parse or calls a function that
    neither the cel crate nor this module provides."""
    cel, _ = _cel()
    try:
        program = cel.compile(rule)
    except ValueError as err:
        raise UnsupportedRule(f"CEL rule {rule!r} does not compile: {err}") from None
    missing = sorted(name for name in program.references()["functions"]
                     if not _is_operator(name) and name not in available_functions())
    if missing:
        raise UnsupportedRule(f"CEL rule {rule!r} calls {', '.join(missing)}, which preview/crds.py "
                              "does not provide (see k8s.io/apiserver/pkg/cel/library)")
    return program


def is_transition_rule(rule: dict) -> bool:
    return "oldSelf" in compile_rule(rule["rule"]).references()["variables"] or \
        bool(rule.get("optionalOldSelf"))


def evaluate(rule: str, value: Any) -> Any:
    context = _context()
    context.add_variable("self", value)
    return compile_rule(rule).execute(context)


def _rules(value: Any, schema: dict, path: str) -> Iterator[tuple[str, str]]:
    for rule in schema.get("x-kubernetes-validations", []):
        if is_transition_rule(rule):
            continue  # needs the stored object: there is none before the first apply
        where = path
        if rule.get("fieldPath"):
            where = f"{path}{rule['fieldPath']}" if rule["fieldPath"][0] in ".[" else \
                _join(path, rule["fieldPath"])
            where = where.lstrip(".")
        try:
            passed = evaluate(rule["rule"], value)
        except Exception as err:  # the cel crate raises RuntimeError, KeyError, TypeError, ...
            yield where, f"{_message(rule, value)} (the rule could not be evaluated: {_reason(err)})"
            continue
        if not isinstance(passed, bool):
            raise UnsupportedRule(f"CEL rule {rule['rule']!r} returned {passed!r}, not a boolean")
        if not passed:
            yield where, _message(rule, value)


def _reason(err: Exception) -> str:
    """The cel crate's error without its boilerplate."""
    if isinstance(err, KeyError):  # a field the rule reads without has()
        return f"no such key: {err.args[0] if err.args else ''}"
    text = re.sub(r"Python function call failed: \w+: ", "", str(err))
    return re.sub(r"\.? Check (function arguments and their types|that the variable).*$", "", text)


def _message(rule: dict, value: Any) -> str:
    """As the API server words it: messageExpression's string, else message, else the rule."""
    if rule.get("messageExpression"):
        compile_rule(rule["messageExpression"])  # UnsupportedRule, as for a rule
        try:
            text = evaluate(rule["messageExpression"], value)
        except Exception:  # the API server falls back to message too
            text = None
        if isinstance(text, str) and text.strip():
            return text
    return rule.get("message") or f"failed rule: {rule['rule']}"
