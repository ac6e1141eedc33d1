"""Istio and cert-manager objects checked against the vendored upstream CRDs of the pinned versions
(``schemas/crds/``, see each folder's ``SOURCE``), the way the API server checks them:

- the structural OpenAPI v3 schema of the served version the object's ``apiVersion`` names,
  converted to JSON Schema as kubeconform's ``openapi2jsonschema.py`` converts a CRD
  (``to_json_schema`` says how, and where it departs) and checked by ``jsonschema``: types, enums, required fields,
  bounds, lengths, patterns, list and map sizes, ``oneOf``/``anyOf``/``allOf``/``not``, unknown
  fields (refused where the schema neither preserves them nor has ``additionalProperties``: the
  API server drops such a key, or refuses it under strict field validation) and nulls where the
  schema is not ``nullable``; ``metadata`` against ObjectMeta's fields (the API server's own);
- what JSON Schema has no keyword for, as keywords added to jsonschema's validator: the formats
  the API server checks (``FORMATS``), list uniqueness (``x-kubernetes-list-type`` set and map)
  and the CEL rules (``x-kubernetes-validations``), with ``self`` bound to the value at the node
  that carries the rule, evaluated by ``common-expression-language`` (cel-rust) with the
  Kubernetes CEL functions the vendored rules call. Transition rules (those reading ``oldSelf``)
  need the stored object and are skipped: a preview only creates. A rule using a function this
  module does not provide raises ``UnsupportedRule`` when it is compiled, so a CRD update that
  needs one is noticed.

Problems are ``(path, message)`` with paths such as ``spec.servers[0].tls.credentialName``: the
path of jsonschema's error (``absolute_path``) and its keyword's message in the API server's words
(``MESSAGES``). A value of the wrong type gets that one problem.
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
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import best_match

from .schemas import Problem, SchemasUnavailable, where

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


def definition_sets() -> dict[str, Path]:
    """Each vendored set of CRDs by name: a folder holding a SOURCE (``cert-manager``, and one per
    Istio version whose definitions are vendored, ``istio/1.30.3``), in order."""
    found = {str(source.parent.relative_to(CRDS_DIR)): source.parent
             for source in sorted(CRDS_DIR.rglob("SOURCE"))}
    if not found:
        raise SchemasUnavailable(f"no vendored CRDs (a folder with a SOURCE) under {CRDS_DIR}")
    return found


@functools.cache
def _index() -> dict[tuple[str, str], tuple[tuple[str, Path, int], ...]]:
    """(group, kind) -> (set, file, document index) of each vendored CRD of it."""
    found: dict[tuple[str, str], list[tuple[str, Path, int]]] = {}
    for name, folder in definition_sets().items():
        for path in sorted(folder.glob("*.yaml")):
            for i, text in enumerate(_documents(path)):
                group, kind = _GROUP.search(text), _KIND.search(text)
                if group and kind:
                    found.setdefault((group[1], kind[1]), []).append((name, path, i))
    if not found:
        raise SchemasUnavailable(f"no CustomResourceDefinition found under {CRDS_DIR}")
    return {key: tuple(places) for key, places in found.items()}


def sets_of(group: str, kind: str) -> tuple[str, ...]:
    """The definition sets that hold a CRD of ``kind`` (two for Istio's during an upgrade)."""
    return tuple(name for name, _, _ in _index().get((group, kind), ()))


@functools.cache
def crd(group: str, kind: str, definitions: str | None = None) -> dict | None:
    """The vendored CRD of ``kind`` in ``group`` (parsed once), or None: of the set
    ``definitions``, by default the first that holds it (the pinned Istio's, the older)."""
    places = _index().get((group, kind), ())
    where = next((p for p in places if definitions in (None, p[0])), None)
    if where is None:
        return None
    _, path, index = where
    doc = yaml.load(_documents(path)[index], Loader=_LOADER)
    if (doc.get("kind"), doc["spec"]["group"], doc["spec"]["names"]["kind"]) != \
            ("CustomResourceDefinition", group, kind):
        raise SchemasUnavailable(f"{path}: document {index} is not the CRD of {group} {kind}")
    return doc


def served_schema(api_version: object, kind: object, definitions: str | None = None) -> dict | None:
    """The OpenAPI schema of the served version ``api_version`` (``group/version``) of ``kind``."""
    group, _, version = str(api_version).partition("/")
    doc = crd(group, str(kind), definitions)
    for served in (doc or {}).get("spec", {}).get("versions", []):
        if served["name"] == version and served.get("served"):
            return served["schema"]["openAPIV3Schema"]
    return None


def vendored_kinds() -> list[tuple[str, str]]:
    return sorted(_index())


def check(file: str, body: dict) -> list[Problem]:
    """Every problem of one Istio or cert-manager object (``file`` names it in the problems),
    against every vendored set that defines its kind: both Istio versions' CRDs while two are
    vendored, since an upgrade runs both control planes on one set of objects. A problem only
    some sets have names them."""
    api_version, kind = str(body.get("apiVersion")), str(body.get("kind"))
    group = api_version.partition("/")[0]
    names = sets_of(group, kind) or (None,)
    found: dict[tuple[str, str], list[str]] = {}
    for name in names:
        validator = _validator(api_version, kind, name)
        problems = ([("apiVersion", f"no CRD in schemas/crds/ serves {body.get('apiVersion')} "
                                    f"{body.get('kind')}")] if validator is None else _problems(validator, body))
        for problem in problems:
            found.setdefault(problem, []).append(str(name))
    return [Problem(file, path, message if len(sets) == len(names) else
                    f"{message} ({' and '.join(sets)} CRD only)")
            for (path, message), sets in found.items()]


def validate(value: Any, schema: dict) -> list[tuple[str, str]]:
    """The problems of ``value`` against one OpenAPI v3 schema of a CRD, as :func:`check` finds
    them in an object."""
    return _problems(Validator(to_json_schema(schema), format_checker=FORMAT_CHECKER), value)


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
# Every object has them, whether its CRD declares them or not (Istio's declare only spec and
# status); metadata is always ObjectMeta.
ROOT_PROPERTIES = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}


# --- OpenAPI v3 to JSON Schema --------------------------------------------------------------------

# As yannh/kubeconform scripts/openapi2jsonschema.py @ 6ae8c45 converts a CRD, with the API
# server's exceptions said where they depart.
INT_OR_STRING = [{"type": "string"}, {"type": "integer"}]
# Where a schema holds schemas: keyword -> "map" (name -> schema), "one" or "list".
SUBSCHEMAS = {"properties": "map", "additionalProperties": "one", "items": "one", "allOf": "list",
              "anyOf": "list", "oneOf": "list", "not": "one"}
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")


def to_json_schema(node: Any, in_junctor: bool = False) -> Any:
    """An OpenAPI v3 schema of a CRD as JSON Schema; the input is not changed."""
    if not isinstance(node, dict):
        return node  # additionalProperties: true
    out = dict(node)
    if out.get("x-kubernetes-int-or-string"):
        # The script's replace_int_or_string replaces a `format: int-or-string` node (Kubernetes'
        # own OpenAPI) with this oneOf; a CRD marks the node with an anyOf of the same two types
        # (which the oneOf replaces), and may add value checks (a quantity's pattern), which stay.
        out.pop("anyOf", None)
        out["oneOf"] = INT_OR_STRING
    if out.get("nullable"):
        # OpenAPI 3.0's nullable, in JSON Schema's words. The script defines
        # allow_null_optional_fields (null for every optional field) but never calls it: the API
        # server's rule is nullable's.
        out["type"] = [out["type"], "null"]
    if out.get("properties") and not in_junctor and out.get("additionalProperties") in (None, False) \
            and out.get("x-kubernetes-preserve-unknown-fields") in (None, False):
        # The script's additional_properties (kubectl's rule), with DENY_ROOT_ADDITIONAL_PROPERTIES
        # set: every node with properties refuses other keys. Not where the CRD preserves unknown
        # fields (the API server keeps them there: Istio's status), and not inside anyOf & co,
        # which in a structural schema only add value checks to the node they sit on.
        out["additionalProperties"] = False
    for key, shape in SUBSCHEMAS.items():
        if key in out:
            inner = in_junctor or key in JUNCTORS
            value = out[key]
            out[key] = ({name: to_json_schema(s, inner) for name, s in value.items()} if shape == "map"
                        else [to_json_schema(s, inner) for s in value] if shape == "list"
                        else to_json_schema(value, inner))
    return out


# --- what JSON Schema has no keyword for ----------------------------------------------------------

def _fits(bits: int) -> Callable[[Any], bool]:
    return lambda value: not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


def _base64(value: Any) -> bool:
    try:
        base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except binascii.Error:
        return False
    return True


# RFC 3339 (strfmt.DateTime as the API server's OpenAPI validation accepts it).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# The formats the API server's OpenAPI validation checks (k8s.io/kube-openapi pkg/validation:
# the integer formats' ranges, strfmt's byte and date-time) -> (check, problem). Others (double,
# ...) pass, as they do there.
FORMATS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int32": (_fits(32), f"must fit in int32 ({-2**31} to {2**31 - 1})"),
    "int64": (_fits(64), f"must fit in int64 ({-2**63} to {2**63 - 1})"),
    "byte": (_base64, "must be base64 (format byte)"),
    "date-time": (lambda v: not isinstance(v, str) or bool(_DATE_TIME.match(v)),
                  "must be a date-time (RFC 3339)"),
}
FORMAT_CHECKER = FormatChecker(formats=())
for _name, (_check, _) in FORMATS.items():
    FORMAT_CHECKER.checks(_name)(_check)


def _list_type(validator: Any, kind: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``x-kubernetes-list-type``: a set's items and a map's ``x-kubernetes-list-map-keys`` are
    unique (k8s.io/apiextensions-apiserver pkg/apiserver/schema/listtype), named at the repeat."""
    if kind not in ("set", "map") or not validator.is_type(instance, "array"):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for i, item in enumerate(instance):
        if kind == "map" and not isinstance(item, dict):
            continue
        identity = ", ".join(f"{k}={json.dumps(item.get(k))}" for k in keys) if kind == "map" \
            else json.dumps(item, sort_keys=True)
        if identity in seen:
            yield ValidationError(f"duplicate {'entry with' if kind == 'map' else 'value'} {identity}",
                                  path=[i])
        seen.add(identity)


_FIELD_PATH = re.compile(r"\.([^.\[]+)|\['([^']*)'\]")


def _cel_rules(validator: Any, rules: list[dict], instance: Any, schema: dict) -> Iterator[ValidationError]:
    """``x-kubernetes-validations`` at one node, ``self`` its value; a rule's ``fieldPath``
    (``.a['b.c']``) says where. Not on null (dropped by the API server) and, in effect, not on a
    value of the wrong type: only its type problem is kept (:func:`_problems`)."""
    if instance is None:
        return
    for rule in rules:
        if is_transition_rule(rule):
            continue  # needs the stored object: there is none before the first apply
        where = [a or b for a, b in _FIELD_PATH.findall(rule.get("fieldPath", ""))]
        try:
            passed = evaluate(rule["rule"], instance)
        except Exception as err:  # the cel crate raises RuntimeError, KeyError, TypeError, ...
            yield ValidationError(f"{_message(rule, instance)} (the rule could not be evaluated: "
                                  f"{_reason(err)})", path=where)
            continue
        if not isinstance(passed, bool):
            raise UnsupportedRule(f"CEL rule {rule['rule']!r} returned {passed!r}, not a boolean")
        if not passed:
            yield ValidationError(_message(rule, instance), path=where)


# OpenAPI 3.0's schema object is JSON Schema Wright draft 00 (draft 5), whose validation keywords
# are draft 4's (exclusiveMinimum a boolean, integer excluding 1.0).
Validator = validators.extend(Draft4Validator, {"x-kubernetes-list-type": _list_type,
                                                "x-kubernetes-validations": _cel_rules})


@functools.cache
def _validator(api_version: str, kind: str, definitions: str | None = None) -> Any:
    """The validator of the served version ``api_version`` of ``kind`` (in the set
    ``definitions``, by default the first holding it), or None."""
    schema = served_schema(api_version, kind, definitions)
    if schema is None:
        return None
    root = {**schema, "properties": {**ROOT_PROPERTIES, **schema.get("properties", {}),
                                     "metadata": OBJECT_META}}
    return Validator(to_json_schema(root), format_checker=FORMAT_CHECKER)


# --- jsonschema's errors in the API server's words ------------------------------------------------

def _type_name(value: Any) -> str:
    """The JSON type of a value, by jsonschema's own type checker."""
    return next(t for t in ("null", "boolean", "integer", "number", "string", "object", "array")
                if Validator.TYPE_CHECKER.is_type(value, t))


def _type(e: ValidationError) -> str:
    if e.instance is None:
        return "must not be null"
    expected = [e.validator_value] if isinstance(e.validator_value, str) else e.validator_value
    return f"must be of type {' or '.join(t for t in expected if t != 'null')}, got {_type_name(e.instance)}"


def _node(e: ValidationError) -> dict:
    """The schema node of an error (a boolean schema to jsonschema's types; never here)."""
    return e.schema if isinstance(e.schema, dict) else {}


def _bound(word: str, exclusive: str) -> Callable[[ValidationError], str]:
    return lambda e: f"must be {word} than {'' if _node(e).get(exclusive) else 'or equal to '}" \
                     f"{e.validator_value}"


def _one_of(e: ValidationError) -> str:
    """Istio writes "at most one of these fields" as oneOf [not anyOf [required a, ...],
    required a, ...]: said in those words."""
    if _node(e).get("x-kubernetes-int-or-string"):
        return f"must be an integer or a string, got {_type_name(e.instance)}"
    alternatives = e.validator_value
    fields = [a["required"][0] for a in alternatives if list(a) == ["required"] and len(a["required"]) == 1]
    if len(fields) == len(alternatives) - 1 and isinstance(e.instance, dict):
        present = [f for f in fields if f in e.instance]
        return f"only one of {', '.join(fields)} can be set (got {', '.join(present)})"
    if e.context:
        return f"must match exactly one of the oneOf schemas (none does: {best_match(e.context).message})"
    return "must match exactly one of the oneOf schemas (more than one does)"


# keyword -> its problem, for every keyword the vendored CRDs use outside anyOf & co (test_crds
# holds this list to them); jsonschema's own message for any other.
MESSAGES: dict[str, Callable[[ValidationError], str]] = {
    "type": _type,
    "enum": lambda e: "must be one of the allowed values: "
                      f"{', '.join(json.dumps(a) for a in e.validator_value)} (got {json.dumps(e.instance)})",
    "minimum": _bound("greater", "exclusiveMinimum"),
    "maximum": _bound("less", "exclusiveMaximum"),
    "maxLength": lambda e: f"may not be longer than {e.validator_value} characters",
    "minLength": lambda e: f"must be at least {e.validator_value} characters long",
    "pattern": lambda e: f"must match the pattern {e.validator_value}",
    "maxItems": lambda e: f"must have at most {e.validator_value} items",
    "minItems": lambda e: f"must have at least {e.validator_value} items",
    "maxProperties": lambda e: f"must have at most {e.validator_value} properties",
    "minProperties": lambda e: f"must have at least {e.validator_value} properties",
    "format": lambda e: FORMATS[e.validator_value][1],
    "oneOf": _one_of,
}


def _wrong_type(e: ValidationError) -> bool:
    return e.validator == "type" or \
        (e.validator == "oneOf" and bool(_node(e).get("x-kubernetes-int-or-string")))


def _described(e: ValidationError) -> Iterator[tuple[str, str]]:
    """One error as problems: an unknown field or a missing property each its own."""
    if e.validator == "additionalProperties":
        for key in (k for k in e.instance if k not in _node(e).get("properties", {})):
            yield where(ValidationError("", path=[*e.absolute_path, key])), "unknown field"
    elif e.validator == "required":  # jsonschema's error per missing name does not say which
        for name in (n for n in e.validator_value if n not in e.instance):
            yield where(e), f"must have required property {name}"
    else:
        yield where(e), MESSAGES.get(str(e.validator), lambda e: e.message)(e)


def _problems(validator: Any, instance: Any) -> list[tuple[str, str]]:
    errors = list(validator.iter_errors(instance))
    mistyped = {tuple(e.absolute_path) for e in errors if _wrong_type(e)}
    found = (p for e in errors if _wrong_type(e) or tuple(e.absolute_path) not in mistyped
             for p in _described(e))
    return list(dict.fromkeys(found))


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
# using-api/cel/#kubernetes-url-library), as far as the vendored rules use it. A URL value is a
# one-key map here: the cel crate carries only CEL values across its Python boundary.
_URL_KEY = "__kubernetes_url__"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _scheme(text: Any) -> str:
    """The scheme of an absolute URI, "" of an absolute path, as Go's url.ParseRequestURI (what
    url() calls) reads them; ValueError where it refuses the text."""
    if not isinstance(text, str) or not (text.startswith("/") or _SCHEME.match(text)) \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError(f"URL parse error during conversion from string: {text!r}")
    try:
        parts = urlsplit(text, allow_fragments=False)  # a request URI has no fragment
    except ValueError as err:
        raise ValueError(f"URL parse error during conversion from string: {err}") from None
    host = parts.netloc.rpartition("@")[2]  # without the userinfo
    port = host[1:].partition("]")[2].removeprefix(":") if host.startswith("[") else host.partition(":")[2]
    if " " in host or (port and not port.isdigit()):
        raise ValueError(f"URL parse error during conversion from string: bad host {host!r}")
    return parts.scheme


def _url(text: str) -> dict:
    _scheme(text)
    return {_URL_KEY: text}


def _is_url(text: str) -> bool:
    try:
        _scheme(text)
    except ValueError:
        return False
    return True


def _get_scheme(value: dict) -> str:
    if not isinstance(value, dict) or set(value) != {_URL_KEY}:
        raise TypeError("no such overload: the receiver is not a URL (use url(string))")
    return _scheme(value[_URL_KEY])


# Only the functions the vendored rules call (test_crds holds this to them); another one, once a
# CRD update calls it, raises UnsupportedRule until it is added here.
KUBERNETES_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "url": _url,
    "isURL": _is_url,
    "getScheme": _get_scheme,
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
