"""Read a stack file ``Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

The Pulumi CLI (Go) reads stack files with ``gopkg.in/yaml.v3 v3.0.1`` (``pkg/go.mod``,
``sdk/go.mod``; no ``replace``): ``workspace.LoadProjectStack`` ->
``LoadProjectStackBytes`` (``sdk/go/common/workspace/loaders.go:151,173``) ->
``encoding.YAML.Unmarshal`` = ``yaml.Unmarshal`` (``sdk/go/common/encoding/marshal.go:115``)
into ``any``; the result is re-encoded with ``yamlutil.YamlEncode`` (loaders.go:219) and
decoded again into ``ProjectStack``, whose ``config.Value.UnmarshalYAML`` decodes each value
into ``any`` once more and stores it as a string: scalars as their JSON text, objects as JSON
(``sdk/go/common/resource/config/object.go:403-463``). The engine hands the program that
``map[string]string`` (``PULUMI_CONFIG``), and ``pulumi.Config.get_object`` JSON-decodes it.

yaml.v3 resolves plain scalars with YAML 1.2-ish rules (``resolve.go`` at v3.0.1), PyYAML with
YAML 1.1 rules, so the same text can mean two things (``regional: no`` is ``False`` for PyYAML
and the string ``"no"`` for the CLI). :func:`load` parses with PyYAML's (C) parser -- yaml.v3's
parser is a port of libyaml, so syntax agrees -- but resolves and constructs every value as
the CLI does, and returns what the program then sees:

* plain scalars follow yaml.v3's ``resolve()`` (ported below as :func:`go_resolve`, each
  branch citing ``resolve.go``); quoted and block scalars are strings; ``! x`` resolves like
  a plain scalar; ``!!int``-style tags are checked as yaml.v3 checks them; unknown tags on
  scalars give the text; tags on mappings and sequences are ignored (``decode.go:767``);
* floats arrive as the JSON the CLI writes: an integral float below 1e21 is an ``int``
  (``1.0`` and ``1e3`` reach the program as ``1`` and ``1000``); ``.inf``/``.nan`` make the
  CLI fail (Go's JSON refuses them), so they raise :class:`YamlError` here;
* timestamps (``2001-12-14``) reach the program as Go's ``time.Time.String()``
  (``"2001-12-14 00:00:00 +0000 UTC"``), always flagged;
* mapping keys that are not strings are passed on as Go's ``%v`` text (``1`` -> ``"1"``,
  ``true`` -> ``"true"``, ``object.go:505-510``); duplicate keys are an error (yaml.v3 checks
  ``uniqueKeys``, ``decode.go:769-779``); merge keys ``<<`` work as in yaml.v3 (explicit keys
  win, then the first merged map, ``decode.go:800-862,960-996``);
* only the first document is read (``yaml.go:156-173``); a leading BOM is dropped.

A plain scalar whose YAML 1.1 reading differs from the CLI's (or that is a YAML 1.1-only
spelling, below) comes back flagged: a ``str``/``int``/``float`` subclass (see
:class:`Yaml11Ambiguous`) whose value is what the program sees, carrying the YAML 1.1 reading
and the position. A validator that expects a boolean or a number calls
:func:`describe_ambiguous` and refuses the value with the hint it returns.

Flagged (``go`` is yaml.v3's reading, ``yaml11`` PyYAML's):

* ``y``, ``n``, ``yes``, ``no``, ``on``, ``off`` in any case (the CLI: strings);
* any scalar YAML 1.1 reads as a bool, number, timestamp or null that the CLI reads
  differently (``1:30`` is 90 in YAML 1.1 and the string ``"1:30"`` for the CLI; ``.5_``;
  ``1.0e+400``; integers beyond 64 bits, which the CLI reads as a float);
* any scalar the CLI reads as a number that YAML 1.2 reads differently: leading-zero octals
  (``0755`` is 493 for the CLI and for YAML 1.1 but 755 in YAML 1.2), ``0b101``, digit
  underscores (``1_000``), signed or upper-case base prefixes (``-0x1F``, ``0X1F``), and
  Go-only readings such as ``08`` (a float 8.0: not octal, so ``ParseFloat`` takes it);
* every other multi-digit integer with a leading zero (``007``) and every timestamp.

Not flagged: YAML 1.2 spellings that YAML 1.1 merely does not know -- ``0o755``, ``1e3``,
``+.5`` -- since the CLI and YAML 1.2 agree on them and a YAML 1.1 reader sees a string,
which no boolean or number check would accept silently.

Left to the caller (not YAML): the CLI passes a top-level config key whose value is null as the
empty string (a zero ``config.Value``; ``LoadProjectStackBytes`` warns about it), namespaces keys
written without ``<project>:``, and Go's JSON sorts object keys (dicts here keep file order).
A timestamp with a non-zero offset prints its zone as the offset (``-0500 -0500``), which is what
a CLI whose local zone is UTC prints; elsewhere Go may name the zone (``-0500 EST``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

# libyaml's parser when PyYAML has it (yaml.v3's parser is a port of libyaml), else PyYAML's own.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = [
    "GoTime",
    "YamlError",
    "Yaml11Ambiguous",
    "Yaml11AmbiguousFloat",
    "Yaml11AmbiguousInt",
    "describe_ambiguous",
    "go_resolve",
    "is_ambiguous",
    "load",
]

# yaml.v3 short tags (resolve.go:70-81).
NULL, BOOL, STR, INT, FLOAT, TIMESTAMP, SEQ, MAP, BINARY, MERGE = (
    "!!null", "!!bool", "!!str", "!!int", "!!float", "!!timestamp", "!!seq", "!!map",
    "!!binary", "!!merge")
_LONG_PREFIX = "tag:yaml.org,2002:"
_RESOLVABLE = frozenset(("", STR, BOOL, INT, FLOAT, NULL, TIMESTAMP))  # resolve.go:116-122

_MAX_UINT64 = (1 << 64) - 1


def _short_tag(tag: str) -> str:
    """resolve.go:96-104."""
    return "!!" + tag[len(_LONG_PREFIX):] if tag.startswith(_LONG_PREFIX) else tag


# ---------------------------------------------------------------------------------------------
# Go's timestamps: what yaml.v3 resolves (resolve.go:292-326 with Go's time.Parse) and how the
# CLI prints them (time.Time.String()).


@dataclass(frozen=True)
class GoTime:
    """A Go ``time.Time`` as yaml.v3 parses it: wall clock fields plus the zone.

    ``offset`` is seconds east of UTC; ``utc`` is True for the UTC location (a ``Z``, no zone,
    or -- once the CLI has re-encoded it -- any zero offset)."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanosecond: int
    offset: int
    utc: bool

    def _fraction(self) -> str:
        return ("." + f"{self.nanosecond:09d}".rstrip("0")) if self.nanosecond else ""

    def _numeric_zone(self, colon: bool) -> str:
        zone = abs(self.offset) // 60
        sign = "-" if self.offset < 0 else "+"
        return f"{sign}{zone // 60:02d}{':' if colon else ''}{zone % 60:02d}"

    def rfc3339nano(self) -> str:
        """``Format(time.RFC3339Nano)``: what yaml.v3's encoder writes (encode.go:385-389)."""
        zone = "Z" if self.offset == 0 else self._numeric_zone(colon=True)
        return (f"{self.year:04d}-{self.month:02d}-{self.day:02d}T{self.hour:02d}:"
                f"{self.minute:02d}:{self.second:02d}{self._fraction()}{zone}")

    def string(self) -> str:
        """``time.Time.String()`` (``"2006-01-02 15:04:05.999999999 -0700 MST"``); a zone
        without a name prints its offset again, as Go does for a fixed zone."""
        numeric = self._numeric_zone(colon=False)
        name = "UTC" if self.utc else numeric
        return (f"{self.year:04d}-{self.month:02d}-{self.day:02d} {self.hour:02d}:"
                f"{self.minute:02d}:{self.second:02d}{self._fraction()} {numeric} {name}")

    def to_datetime(self) -> datetime.datetime | None:
        """The same instant as an aware ``datetime`` (microseconds), or None if Python cannot
        hold it (year 0, offsets of 24 hours or more)."""
        try:
            zone = datetime.timezone(datetime.timedelta(seconds=self.offset))
            return datetime.datetime(self.year, self.month, self.day, self.hour, self.minute,
                                     self.second, self.nanosecond // 1000, tzinfo=zone)
        except (ValueError, OverflowError):
            return None


# The layouts yaml.v3 tries, in order (resolve.go:294-301), as chunks of Go's time.Parse.
_YEAR, _MONTH, _DAY, _HOUR, _MINUTE, _SECOND, _FRAC9, _ZONE = range(8)
_LAYOUTS = (
    (_YEAR, "-", _MONTH, "-", _DAY, "T", _HOUR, ":", _MINUTE, ":", _SECOND, _FRAC9, _ZONE),
    (_YEAR, "-", _MONTH, "-", _DAY, "t", _HOUR, ":", _MINUTE, ":", _SECOND, _FRAC9, _ZONE),
    (_YEAR, "-", _MONTH, "-", _DAY, " ", _HOUR, ":", _MINUTE, ":", _SECOND, _FRAC9),
    (_YEAR, "-", _MONTH, "-", _DAY),
)


def _isdigit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _getnum(s: str, fixed: bool) -> tuple[int, str] | None:
    """time.getnum: one or two digits (two if fixed)."""
    if not _isdigit(s, 0):
        return None
    if not _isdigit(s, 1):
        return None if fixed else (int(s[0]), s[1:])
    return int(s[:2]), s[2:]


def _skip(value: str, prefix: str) -> str | None:
    """time.skip: a literal, where a space matches a run of one or more spaces."""
    while prefix:
        if prefix[0] == " ":
            if value and value[0] != " ":
                return None
            prefix, value = prefix.lstrip(" "), value.lstrip(" ")
            continue
        if not value or value[0] != prefix[0]:
            return None
        prefix, value = prefix[1:], value[1:]
    return value


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _parse_layout(layout: tuple, value: str) -> GoTime | None:
    """Go's time.Parse for one of yaml.v3's layouts (time/format.go ``parse``): ``None`` on
    any error. Zone offsets are assumed not to be the CLI machine's local zone (true on a UTC
    machine for every offset but zero, which the CLI's re-encoding turns into ``Z``)."""
    year = month = day = hour = minute = second = nsec = 0
    offset, utc = 0, True
    for chunk in layout:
        if isinstance(chunk, str):
            rest = _skip(value, chunk)
            if rest is None:
                return None
            value = rest
            continue
        if chunk == _YEAR:
            if len(value) < 4 or not value[:4].isascii() or not value[:4].isdigit():
                return None
            year, value = int(value[:4]), value[4:]
            continue
        if chunk == _FRAC9:
            if len(value) < 2 or value[0] not in ".," or not _isdigit(value, 1):
                continue  # fractional second omitted
            i = 1
            while _isdigit(value, i):
                i += 1
            digits = value[1:i][:9]
            nsec, value = int(digits) * 10 ** (9 - len(digits)), value[i:]
            continue
        if chunk == _ZONE:
            if value[:1] == "Z":
                value, offset, utc = value[1:], 0, True
                continue
            if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
                return None
            hh, mm = _getnum(value[1:3], True), _getnum(value[4:6], True)
            if hh is None or mm is None or hh[0] > 24 or mm[0] > 60:
                return None
            offset = (hh[0] * 60 + mm[0]) * 60 * (-1 if value[0] == "-" else 1)
            utc, value = offset == 0, value[6:]
            continue
        got = _getnum(value, False)
        if got is None:
            return None
        number, value = got
        if chunk == _MONTH:
            if not 1 <= number <= 12:
                return None
            month = number
        elif chunk == _DAY:
            day = number
        elif chunk == _HOUR:
            if number >= 24:
                return None
            hour = number
        elif chunk == _MINUTE:
            if number >= 60:
                return None
            minute = number
        else:  # _SECOND
            if number >= 60:
                return None
            second = number
    if value:  # extra text
        return None
    if not 1 <= day <= _days_in(month, year):
        return None
    return GoTime(year, month, day, hour, minute, second, nsec, offset, utc)


def _parse_timestamp(s: str) -> GoTime | None:
    """resolve.go:306-326: four digits and a dash, then the first layout that parses."""
    i = 0
    while _isdigit(s, i):
        i += 1
    if i != 4 or i == len(s) or s[i] != "-":
        return None
    for layout in _LAYOUTS:
        parsed = _parse_layout(layout, s)
        if parsed is not None:
            return parsed
    return None


# ---------------------------------------------------------------------------------------------
# Go's strconv, as yaml.v3 uses it.


def _lower(c: str) -> str:
    """strconv.lower on a byte: only ASCII letters fold."""
    return chr(ord(c) | 0x20) if ord(c) < 0x80 else c


def _underscore_ok(s: str) -> bool:
    """strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw, i = "^", 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and _lower(s[1]) in "box":
        i, saw, hexa = 2, "0", _lower(s[1]) == "x"
    while i < len(s):
        c = s[i]
        if "0" <= c <= "9" or (hexa and "a" <= _lower(c) <= "f"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
        i += 1
    return saw != "_"


def _parse_uint(s: str, base: int) -> int | None:
    """strconv.ParseUint(s, base, 64); None on any error. Base 0 reads ``0b``/``0o``/``0x``
    (either case) and a bare leading ``0`` as octal, and allows underscores."""
    if not s:
        return None
    base0, s0 = base == 0, s
    if base0:
        base = 10
        if s[0] == "0":
            prefix = _lower(s[1]) if len(s) >= 3 else ""
            if prefix in ("b", "o", "x"):
                base, s = {"b": 2, "o": 8, "x": 16}[prefix], s[2:]
            else:
                base, s = 8, s[1:]
    n, underscores = 0, False
    for c in s:
        if c == "_" and base0:
            underscores = True
            continue
        if "0" <= c <= "9":
            d = ord(c) - ord("0")
        elif "a" <= _lower(c) <= "z":
            d = ord(_lower(c)) - ord("a") + 10
        else:
            return None
        if d >= base:
            return None
        n = n * base + d
        if n > _MAX_UINT64:
            return None  # ErrRange
    if underscores and not _underscore_ok(s0):
        return None
    return n


def _parse_int(s: str, base: int) -> int | None:
    """strconv.ParseInt(s, base, 64); None on any error."""
    if not s:
        return None
    negative = s[0] == "-"
    magnitude = _parse_uint(s[1:] if s[0] in "+-" else s, base)
    if magnitude is None:
        return None
    if magnitude > (1 << 63) - (0 if negative else 1):
        return None  # ErrRange
    return -magnitude if negative else magnitude


_GO_DECIMAL_FLOAT = re.compile(r"[+-]?[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9][0-9_]*)?")


def _parse_float(s: str) -> float | None:
    """strconv.ParseFloat(s, 64) for the inputs yaml.v3 gives it: decimal text (a leading
    ``.`` or already matched by ``yamlStyleFloat``), so neither ``inf``/``nan`` nor hex
    floats can occur. None on a syntax error or on overflow (ErrRange, which yaml.v3 treats
    as "not a float"); underflow quietly gives 0 as in Go."""
    if not _GO_DECIMAL_FLOAT.fullmatch(s):
        return None
    mantissa = s.split("e")[0].split("E")[0]
    if not any("0" <= c <= "9" for c in mantissa):
        return None
    if "_" in s and not _underscore_ok(s):
        return None
    value = float(s.replace("_", ""))
    return None if math.isinf(value) else value


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


# ---------------------------------------------------------------------------------------------
# Errors.


class YamlError(yaml.YAMLError):
    """A stack file the CLI would not load: a reason and a 1-based position, never the
    file's text (a value there could be a secret)."""

    def __init__(self, file_name: str, line: int, column: int, reason: str):
        self.file_name, self.line, self.column, self.reason = file_name, line, column, reason
        super().__init__(f"{file_name}: line {line}, column {column}: {reason}")

    def __reduce__(self):
        return type(self), (self.file_name, self.line, self.column, self.reason)


def _error(loader: _Loader, node: Node, reason: str) -> YamlError:
    mark = node.start_mark
    return YamlError(loader.file_name, mark.line + 1, mark.column + 1, reason)


def _position(text: str, offset: int, in_bytes: bool) -> tuple[int, int]:
    before = text.encode("utf-8")[:offset].decode("utf-8", "replace") if in_bytes \
        else text[:offset]
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def _from_pyyaml(err: yaml.YAMLError, text: str, file_name: str, c_loader: bool) -> YamlError:
    if isinstance(err, ReaderError):
        line, column = _position(text, err.position, in_bytes=c_loader)
        what = f"#x{err.character:04x}" if isinstance(err.character, int) else "byte"
        return YamlError(file_name, line, column, f"unacceptable character {what}: {err.reason}")
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        reason = err.problem or err.context or "invalid YAML"
        if err.context and err.problem and err.context_mark is not None:
            reason += (f" ({err.context} at line {err.context_mark.line + 1}, "
                       f"column {err.context_mark.column + 1})")
        if mark is not None:
            return YamlError(file_name, mark.line + 1, mark.column + 1, reason)
        return YamlError(file_name, 1, 1, reason)
    return YamlError(file_name, 1, 1, "invalid YAML")


# ---------------------------------------------------------------------------------------------
# The loader.

_PLAIN = "tag:pulumi-cli:plain"  # our private tag for untagged plain scalars
_STR_LONG = _LONG_PREFIX + "str"
_MERGE_LONG = _LONG_PREFIX + "merge"


class _Loader(_BaseLoader):
    yaml_implicit_resolvers: dict = {}
    yaml_constructors: dict = {}
    yaml_multi_constructors: dict = {}
    file_name = ""

    def resolve(self, kind, value, implicit):
        """Untagged plain scalars and ``!``-tagged scalars (libyaml's "plain implicit") get
        the CLI's resolution; other untagged scalars are strings."""
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR_LONG
        return super().resolve(kind, value, implicit)


def _is_plain(node: ScalarNode) -> bool:
    return node.style in (None, "")


def _scalar(loader: _Loader, node: ScalarNode, key: bool) -> Any:
    """Construct a scalar as the CLI reads it (decode.go:565-620)."""
    text = node.value
    if node.tag == _PLAIN and not _is_plain(node):
        return text  # quoted, or a block scalar, with "!" (decode.go:463-467)
    if node.tag == _PLAIN:
        return _plain(loader, node, text, key)
    tag = _short_tag(node.tag)
    if tag == BINARY:  # decode.go:573-579
        try:
            data = base64.b64decode(re.sub(r"[\r\n]", "", text), validate=True)
        except (binascii.Error, ValueError):
            raise _error(loader, node, "!!binary value contains invalid base64 data") from None
        return data.decode("utf-8", "replace")
    try:
        rtag, out = go_resolve(text, tag)
    except _TagMismatch as mismatch:
        raise _error(loader, node, str(mismatch)) from None
    return _finish(loader, node, rtag, out, key)


def _finish(loader: _Loader, node: Node, rtag: str, out: Any, key: bool) -> Any:
    """The CLI's value -> what the program receives."""
    if key and rtag == FLOAT:
        return _go_g(out)  # re-encoded with 'g', decoded again, printed with %v: the same text
    if rtag == FLOAT:
        if not math.isfinite(out):
            raise _error(loader, node, "the Pulumi CLI cannot pass .inf or .nan: it hands "
                         "config to the program as JSON, which has neither; write a finite "
                         "number, or quote it if you mean the text")
        out = _program_float(out)
    elif rtag == TIMESTAMP:
        out = _program_time(out)
    return _key_text(out) if key and not isinstance(out, str) else out


def _plain(loader: _Loader, node: ScalarNode, text: str, key: bool) -> Any:
    if text and text[0] not in "+-0123456789.yYnNtTfFoO~<=":
        return text  # no resolver of either reading starts with this character
    rtag, go = go_resolve(text)
    program = _finish(loader, node, rtag, go, key)
    yaml11 = _yaml11(text)
    yaml12 = None
    kind = None
    if _BOOL_WORD.fullmatch(text):
        kind = "bool-word"
        yaml11 = _YAML11_SPEC_BOOLS.get(text, text.lower() in _TRUE_WORDS)
    elif rtag == TIMESTAMP:
        kind = "timestamp"
    elif rtag in (INT, FLOAT):
        yaml12 = _yaml12_number(text)
        if not _same(yaml12, go) or _LEADING_ZERO_INT.fullmatch(text) or (
                yaml11 is not _NO_READING and not isinstance(yaml11, str)
                and not _same(yaml11, go)):
            kind = "number"
    elif yaml11 is not _NO_READING and not isinstance(yaml11, str) and not _same(yaml11, go):
        kind = "yaml11-typed"
    if kind is None:
        return program
    return _flagged(program, text, kind, yaml11, go, yaml12, loader.file_name, node)


def _is_merge_key(node: Node) -> bool:
    """decode.go:998-1000 with parser.go's default tag for a plain ``<<`` (decode.go:239-243)."""
    return isinstance(node, ScalarNode) and node.value == "<<" and (
        (node.tag == _PLAIN and _is_plain(node)) or node.tag == _MERGE_LONG)


def _check_unique(loader: _Loader, node: MappingNode) -> None:
    """decode.go:769-779: two keys of the same kind with the same text."""
    seen: dict[tuple[str, str], Node] = {}
    for key_node, _ in node.value:
        signature = (key_node.id, key_node.value if isinstance(key_node, ScalarNode) else "")
        first = seen.setdefault(signature, key_node)
        if first is not key_node:
            raise _error(loader, key_node, f"mapping key {json.dumps(signature[1])} already "
                         f"defined at line {first.start_mark.line + 1}")


def _pairs(loader: _Loader, node: MappingNode, active: set[int]) -> list[tuple[Node, Node]]:
    """The mapping's entries with merges applied, lowest precedence first (later entries
    win): yaml.v3 keeps explicit keys over merged ones and the first merged map over later
    ones (decode.go:800-862, 960-996)."""
    if id(node) in active:
        raise _error(loader, node, "a merge refers to the mapping it is in")
    _check_unique(loader, node)
    explicit, merge = [], None
    for key_node, value_node in node.value:
        if _is_merge_key(key_node):
            merge = value_node
        else:
            explicit.append((key_node, value_node))
    if merge is None:
        return explicit
    if isinstance(merge, MappingNode):
        sources = [merge]
    elif isinstance(merge, SequenceNode) and all(isinstance(n, MappingNode) for n in merge.value):
        sources = list(merge.value)
    else:
        raise _error(loader, merge, "map merge requires map or sequence of maps as the value")
    merged: list[tuple[Node, Node]] = []
    active.add(id(node))
    for source in reversed(sources):
        merged.extend(_pairs(loader, source, active))
    active.discard(id(node))
    return merged + explicit


def _construct_key(loader: _Loader, node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(loader, node, key=True)
    raise _error(loader, node, "invalid map key: a mapping or sequence")  # decode.go:841-847


def _construct_any(loader: _Loader, node: Node) -> Any:
    """Every node: tags on collections are ignored as yaml.v3 ignores them."""
    if isinstance(node, ScalarNode):
        return _scalar(loader, node, key=False)
    if isinstance(node, SequenceNode):
        return _sequence(loader, node)
    if isinstance(node, MappingNode):
        return _mapping(loader, node)
    raise _error(loader, node, "cannot decode this node")


def _sequence(loader: _Loader, node: SequenceNode):
    data: list = []
    yield data
    data.extend(loader.construct_object(child) for child in node.value)


def _mapping(loader: _Loader, node: MappingNode):
    data: dict = {}
    yield data
    for key_node, value_node in _pairs(loader, node, set()):
        data[_construct_key(loader, key_node)] = loader.construct_object(value_node)


_Loader.add_constructor(None, _construct_any)


def load(text: str, file_name: str) -> Any:
    """Parse a stack file's text as the Pulumi CLI does and return what its program sees
    (see the module docstring); None for an empty file. Raises :class:`YamlError` with the
    position and the parser's reason for anything the CLI would not load."""
    text = text.removeprefix("\ufeff")
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
        loader.file_name = file_name
        if not loader.check_node():
            return None
        return loader.construct_document(loader.get_node())  # the first document only
    except YamlError:
        raise
    except yaml.YAMLError as err:
        raise _from_pyyaml(err, text, file_name, _BaseLoader is not yaml.SafeLoader) from None
    finally:
        if loader is not None:
            loader.dispose()
