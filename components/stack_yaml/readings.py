"""The YAML 1.1 (PyYAML) and YAML 1.2 readings of a scalar, and the markers for the ones that differ."""

from __future__ import annotations

import datetime
import json
import math
import re
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import Node, ScalarNode
from yaml.resolver import Resolver

from .golang import GoTime
from .resolve import _YAML_STYLE_FLOAT, _go_g

# ---------------------------------------------------------------------------------------------
# The YAML 1.1 (PyYAML) and YAML 1.2 core readings, to compare with the CLI's.

_Y11_RESOLVERS = Resolver.yaml_implicit_resolvers  # PyYAML's defaults (resolver.py)
_Y11_CONSTRUCTOR = SafeConstructor()


class _Unreadable:
    def __repr__(self) -> str:
        return "<PyYAML cannot read it>"


_NO_READING = _Unreadable()  # PyYAML fails on it (e.g. "2001-02-30", "0b_", "=")

_BOOL_WORD = re.compile(r"(?i:y|yes|on|n|no|off)")
_TRUE_WORDS = ("y", "yes", "on")
# The YAML 1.1 boolean type (https://yaml.org/type/bool.html); PyYAML omits y/Y/n/N.
_YAML11_SPEC_BOOLS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"), True),
                      **dict.fromkeys(("n", "N", "no", "No", "NO", "off", "Off", "OFF"), False)}
_LEADING_ZERO_INT = re.compile(r"[-+]?0[0-9_]+")


def _yaml11(text: str) -> Any:
    """What ``yaml.safe_load`` makes of the plain scalar ``text``."""
    candidates = _Y11_RESOLVERS.get(text[:1], []) + _Y11_RESOLVERS.get(None, [])
    tag = next((tag for tag, regexp in candidates if regexp.match(text)), None)
    if tag is None:
        return text
    construct = _Y11_CONSTRUCTOR.yaml_constructors.get(tag)
    if construct is None:
        return _NO_READING
    try:
        return construct(_Y11_CONSTRUCTOR, ScalarNode(tag, text))
    except Exception:  # PyYAML's own constructors raise ValueError and friends
        return _NO_READING


_C12_INT = re.compile(r"[-+]?[0-9]+")
_C12_OCT = re.compile(r"0o[0-7]+")
_C12_HEX = re.compile(r"0x[0-9a-fA-F]+")
_C12_FLOAT = _YAML_STYLE_FLOAT  # the same expression as the YAML 1.2 core schema's


def _yaml12_number(text: str) -> Any:
    """The YAML 1.2 core schema's reading (spec 1.2.2, 10.3.2) of a scalar the CLI reads as
    a number; a string when the schema does not read it as a number."""
    if _C12_INT.fullmatch(text):
        return int(text, 10)
    if _C12_OCT.fullmatch(text):
        return int(text[2:], 8)
    if _C12_HEX.fullmatch(text):
        return int(text[2:], 16)
    if _C12_FLOAT.fullmatch(text):
        return float(text)
    lowered = text.lstrip("+-")
    if lowered in (".inf", ".Inf", ".INF"):
        return -math.inf if text.startswith("-") else math.inf
    if text in (".nan", ".NaN", ".NAN"):
        return math.nan
    return text


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


# ---------------------------------------------------------------------------------------------
# The flag.


class _Ambiguous:
    """Attributes shared by the flagged values (set by :func:`_flagged`)."""

    text: str
    """The scalar as written in the file."""
    yaml11: Any
    """What YAML 1.1 gives: PyYAML's reading, except that ``y``/``n`` and the other case
    spellings of yes/no/on/off carry the boolean they spell."""
    go: Any
    """What yaml.v3 (the CLI's YAML library) resolves it to (a ``datetime`` for a timestamp)."""
    yaml12: Any
    """The YAML 1.2 core schema's reading, for a scalar the CLI reads as a number; else None."""
    kind: str
    """``"bool-word"``, ``"number"`` (the CLI reads a number), ``"yaml11-typed"`` (YAML 1.1
    reads a typed value the CLI reads as a string) or ``"timestamp"``."""
    file_name: str
    line: int
    column: int
    """1-based position of the scalar."""


class Yaml11Ambiguous(str, _Ambiguous):
    """A plain scalar the CLI reads as a string (``no``, ``1:30``) or a timestamp (the string
    the CLI passes on), while YAML 1.1 reads it differently. The ``str`` value is what the
    program sees."""


class Yaml11AmbiguousInt(int, _Ambiguous):
    """A flagged scalar the CLI passes on as an integer (``0755`` -> 493, ``1_000``)."""


class Yaml11AmbiguousFloat(float, _Ambiguous):
    """A flagged scalar the CLI passes on as a non-integral float (``1_0.5``)."""


def is_ambiguous(value: Any) -> bool:
    """Whether ``value`` came from :func:`load` flagged (any of the three marker types)."""
    return isinstance(value, _Ambiguous)


def _show(value: Any) -> str:
    if value is _NO_READING:
        return "an error"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {json.dumps(str(value))}"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return _go_g(value) if abs(value) >= 1e21 or not value.is_integer() else repr(value)
    if isinstance(value, datetime.datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, GoTime):
        return f"the timestamp {value.rfc3339nano()}"
    return str(int(value)) if isinstance(value, int) else str(value)


def _number_hint(suggestion: Any) -> str:
    if isinstance(suggestion, int) and not isinstance(suggestion, bool) and \
            abs(suggestion) < (1 << 63):
        return f"write a plain number such as {int(suggestion)}, or quote it if you mean the text"
    return "write a plain decimal number, or quote it if you mean the text"


def describe_ambiguous(value: Any) -> str | None:
    """The hint for a flagged scalar (None for anything else), to append to "expected a
    boolean" / "expected a number" errors, e.g. ``got 'no', which YAML 1.1 reads as false and
    the Pulumi CLI reads as the string "no"; write true or false``."""
    if not isinstance(value, _Ambiguous):
        return None
    got = f"got {value.text!r}"
    cli = f"the Pulumi CLI reads as {_show(value.go)}"
    if value.kind == "bool-word":
        if value.text in _YAML11_SPEC_BOOLS:
            return f"{got}, which YAML 1.1 reads as {_show(value.yaml11)} and {cli}; " \
                   "write true or false"
        return f"{got}, which looks like the YAML 1.1 boolean {_show(value.yaml11)} but " \
               f"{cli}; write true or false"
    if value.kind == "timestamp":
        return f"{got}, which YAML 1.1 reads as {_show(value.yaml11)} and the Pulumi CLI " \
               f"passes on as {_show(str(value))}; quote it to keep the text as written"
    if value.kind == "number":
        leading_zero = bool(_LEADING_ZERO_INT.fullmatch(value.text))
        got += ", a number with a leading zero," if leading_zero else ","
        if _same(value.yaml11, value.go):
            octal = " (octal)" if leading_zero and isinstance(value.go, int) else ""
            reading = f"{got} which YAML 1.1 and the Pulumi CLI read as {_show(value.go)}{octal}"
            if not _same(value.yaml12, value.go):
                reading += f" but YAML 1.2 reads as {_show(value.yaml12)}"
        else:
            reading = f"{got} which YAML 1.1 reads as {_show(value.yaml11)} and {cli}"
        return f"{reading}; {_number_hint(value if not isinstance(value, str) else value.go)}"
    # YAML 1.1 reads a bool, number, timestamp or null; the CLI a string.
    if isinstance(value.yaml11, bool):
        fix = "write true or false"
    elif isinstance(value.yaml11, (int, float)):
        fix = _number_hint(value.yaml11)
    else:
        fix = "quote it to keep the text as written"
    return f"{got}, which YAML 1.1 reads as {_show(value.yaml11)} and {cli}; {fix}"


def _flagged(program: Any, text: str, kind: str, yaml11: Any, go: Any, yaml12: Any,
             file_name: str, node: Node) -> Any:
    if isinstance(program, str):
        marker: _Ambiguous = Yaml11Ambiguous(program)
    elif isinstance(program, int):
        marker = Yaml11AmbiguousInt(program)
    else:
        marker = Yaml11AmbiguousFloat(program)
    marker.text, marker.yaml11, marker.kind = text, yaml11, kind
    marker.go = go.to_datetime() if isinstance(go, GoTime) else go
    marker.yaml12, marker.file_name = yaml12, file_name
    marker.line, marker.column = node.start_mark.line + 1, node.start_mark.column + 1
    return marker


