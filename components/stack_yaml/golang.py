"""Go's strconv and time parsing as yaml.v3 uses them, and yaml.v3's tags (resolve.go at v3.0.1)."""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

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


