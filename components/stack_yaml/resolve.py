"""yaml.v3's resolve() (resolve.go:126-265), and what the program sees after the CLI's JSON."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from .golang import (
    _RESOLVABLE,
    BINARY,
    BOOL,
    FLOAT,
    INT,
    MERGE,
    NULL,
    STR,
    TIMESTAMP,
    GoTime,
    _parse_float,
    _parse_int,
    _parse_timestamp,
    _parse_uint,
    _short_tag,
)

# ---------------------------------------------------------------------------------------------
# yaml.v3's resolve() (resolve.go:126-265).

_HINTS = {**dict.fromkeys("+-", "S"), **dict.fromkeys("0123456789", "D"),
          **dict.fromkeys("yYnNtTfFoO~", "M"), ".": "."}  # resolve.go:35-45
_RESOLVE_MAP: dict[str, tuple[str, Any]] = {}  # resolve.go:47-67
for _value, _tag, _spellings in (
        (True, BOOL, ("true", "True", "TRUE")),
        (False, BOOL, ("false", "False", "FALSE")),
        (None, NULL, ("", "~", "null", "Null", "NULL")),
        (math.nan, FLOAT, (".nan", ".NaN", ".NAN")),
        (math.inf, FLOAT, (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")),
        (-math.inf, FLOAT, ("-.inf", "-.Inf", "-.INF")),
        ("<<", MERGE, ("<<",))):
    for _spelling in _spellings:
        _RESOLVE_MAP[_spelling] = (_tag, _value)

_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # :124


class _TagMismatch(ValueError):
    def __init__(self, resolved: str, wanted: str):
        super().__init__(f"cannot decode {resolved} as a {wanted}")


def _resolve_untyped(tag: str, text: str) -> tuple[str, Any]:
    hint = "N" if text == "" else _HINTS.get(text[0])  # resolve.go:155-158
    if hint is not None and tag not in (STR, BINARY):
        item = _RESOLVE_MAP.get(text)  # :161-163
        if item is not None:
            return item
        # Base 60 floats are not supported (:165-167): 1:30 stays a string.
        if hint == ".":  # :173-178, ParseFloat on the text as written
            value = _parse_float(text)
            if value is not None:
                return FLOAT, value
        elif hint in "DS":  # :180-259
            if tag in ("", TIMESTAMP):  # :184-189
                stamp = _parse_timestamp(text)
                if stamp is not None:
                    return TIMESTAMP, stamp
            plain = text.replace("_", "")  # :191
            for parse in (_parse_int, _parse_uint):  # :192-203, base 0
                number = parse(plain, 0)
                if number is not None:
                    return INT, number
            if _YAML_STYLE_FLOAT.fullmatch(plain):  # :204-209
                value = _parse_float(plain)
                if value is not None:
                    return FLOAT, value
            # The explicit prefix branches (:210-259) only matter when ParseInt failed: they
            # retry the digits after the prefix with a fixed base, where ParseInt accepts a
            # sign, so "0b-101" is -5 and "0o+17" is 15.
            for prefix, base in (("0b", 2), ("0o", 8)):
                if plain.startswith(prefix):
                    number = _parse_int(plain[2:], base)
                    if number is None:
                        number = _parse_uint(plain[2:], base)
                    if number is not None:
                        return INT, number
                elif plain.startswith("-" + prefix):
                    number = _parse_int("-" + plain[3:], base)
                    if number is not None:
                        return INT, number
    return STR, text  # :264


def go_resolve(text: str, tag: str = "") -> tuple[str, Any]:
    """yaml.v3's ``resolve(tag, in)``: the short tag and the Go value of a scalar, as Python
    (``None``, ``bool``, ``int``, ``float``, ``str`` or :class:`GoTime`). ``tag`` is ``""``
    for a plain scalar or an explicit tag such as ``"!!int"``. Raises ``ValueError`` when an
    explicit tag does not fit the text (``!!int abc``), as yaml.v3 fails (resolve.go:132-151).
    """
    tag = _short_tag(tag)
    if tag not in _RESOLVABLE:
        return tag, text  # resolve.go:128-130
    rtag, out = _resolve_untyped(tag, text)
    if tag in ("", rtag, STR, BINARY):
        return rtag, out
    if tag == FLOAT and rtag == INT:
        return FLOAT, float(out)
    raise _TagMismatch(rtag, tag)


# ---------------------------------------------------------------------------------------------
# What the program then sees, after the CLI's re-encoding and its JSON.


def _program_float(value: float) -> int | float:
    """Go's JSON writes an integral float64 below 1e21 without a point or an exponent
    (encoding/json floatEncoder uses 'f' there), so ``json.loads`` in the program gives an
    int: yaml.v3 re-encodes 8.0 as ``8`` (encode.go:391-408, 'g') and decodes an int anyway."""
    if float(value).is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _program_time(stamp: GoTime) -> str:
    """The CLI re-encodes a time as RFC 3339 and decodes it again (a zero offset becomes
    ``Z``); ``unmarshalObject`` then stores ``time.Time.String()`` (object.go:490-491). Text
    that no longer parses (an offset over 24 hours) stays the RFC 3339 text."""
    again = _parse_timestamp(stamp.rfc3339nano())
    return again.string() if again is not None else stamp.rfc3339nano()


def _go_g(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64), which is also fmt's %v for a float64."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent = int(exponent) + len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # digits[:point] . digits[point:]
    x = point - 1
    minus = "-" if sign else ""
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"


def _key_text(value: Any) -> str:
    """fmt.Sprintf("%v", key) for a non-string key the program receives (object.go:505-510)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_g(value)
    return str(value)


