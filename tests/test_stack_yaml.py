"""components.stack_yaml reads a stack file as the Pulumi CLI does (gopkg.in/yaml.v3 v3.0.1,
then the CLI's JSON hand-over to the program) and flags every plain scalar that YAML 1.1
(PyYAML) reads differently. Line numbers in the comments are yaml.v3's resolve.go at v3.0.1."""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import math
import pickle
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from components.stack_yaml import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    STR,
    TIMESTAMP,
    GoTime,
    Yaml11Ambiguous,
    Yaml11AmbiguousFloat,
    Yaml11AmbiguousInt,
    YamlError,
    describe_ambiguous,
    go_resolve,
    is_ambiguous,
    load,
)
from components.stackset import stack_files, stack_folders

FILE = "Pulumi.t.yaml"
NAN = float("nan")
INF = float("inf")


def value_of(scalar: str):
    """The program's value of ``k: <scalar>``."""
    return load(f"k: {scalar}\n", FILE)["k"]


def same(a, b) -> bool:
    """Equal and of the same type, all the way down (True == 1 == 1.0 does not count)."""
    if type(a) is not type(b) and not (is_ambiguous(a) or is_ambiguous(b)):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def stamp(year, month, day, hour=0, minute=0, second=0, nanosecond=0, offset=0):
    return GoTime(year, month, day, hour, minute, second, nanosecond, offset, offset == 0)


# scalar text -> (yaml.v3's tag, yaml.v3's Go value): what the CLI's YAML library resolves.
GO_READINGS = [
    ("true", BOOL, True),                       # :52 the map
    ("True", BOOL, True),                       # :52
    ("TRUE", BOOL, True),                       # :52
    ("false", BOOL, False),                     # :53
    ("FALSE", BOOL, False),                     # :53
    ("tRUE", STR, "tRUE"),                      # hint 'M' (:42), not in the map: :169-171, :264
    ("yes", STR, "yes"),                        # hint 'M', not in the map -> :264
    ("No", STR, "No"),                          # :264
    ("on", STR, "on"),                          # :264
    ("OFF", STR, "OFF"),                        # :264
    ("y", STR, "y"),                            # :264
    ("N", STR, "N"),                            # :264
    ("", NULL, None),                           # :54 (hint 'N', :155-156)
    ("~", NULL, None),                          # :54
    ("null", NULL, None),                       # :54
    ("NULL", NULL, None),                       # :54
    ("nULL", STR, "nULL"),                      # :264
    (".nan", FLOAT, NAN),                       # :55
    (".Inf", FLOAT, INF),                       # :56
    ("+.INF", FLOAT, INF),                      # :57
    ("-.inf", FLOAT, -INF),                     # :58
    (".iNf", STR, ".iNf"),                      # hint '.', ParseFloat fails: :173-178, :264
    (".5", FLOAT, 0.5),                         # :175 ParseFloat(in)
    (".5e3", FLOAT, 500.0),                     # :175 (an unsigned exponent is fine for Go)
    (".1_2", FLOAT, 0.12),                      # :175 (underscore between digits)
    (".5_", STR, ".5_"),                        # :175 underscoreOK fails -> :264
    ("._5", STR, "._5"),                        # :175 underscoreOK fails -> :264
    ("42", INT, 42),                            # :192 ParseInt(plain, 0, 64)
    ("+42", INT, 42),                           # :192
    ("-17", INT, -17),                          # :192
    ("0", INT, 0),                              # :192
    ("1_000", INT, 1000),                       # :191 underscores dropped, :192
    ("0755", INT, 493),                         # :192 base 0: a leading 0 is octal (:233-236)
    ("007", INT, 7),                            # :192
    ("00", INT, 0),                             # :192
    ("08", FLOAT, 8.0),                         # not octal: :192/:200 fail, yamlStyleFloat :204
    ("0o755", INT, 493),                        # :192 base 0 reads 0o
    ("0O17", INT, 15),                          # :192 the prefix in either case
    ("0x1F", INT, 31),                          # :192
    ("0X1F", INT, 31),                          # :192
    ("-0x1F", INT, -31),                        # :192 sign, then prefix
    ("0b101", INT, 5),                          # :192
    ("-0b101", INT, -5),                        # :192
    ("0b-101", INT, -5),                        # :210-211 ParseInt("-101", 2) takes the sign
    ("0o+17", INT, 15),                         # :237-238
    ("18446744073709551615", INT, 2**64 - 1),   # :200-202 ParseUint
    ("18446744073709551616", FLOAT, 2.0**64),   # :204-209 too big for both, a float
    ("-9223372036854775809", FLOAT, -2.0**63),  # :204-209
    ("0x10000000000000000", STR, "0x10000000000000000"),  # no parse, no float -> :264
    ("1.5", FLOAT, 1.5),                        # :204-209
    ("1.", FLOAT, 1.0),                         # :204 [0-9]+(\.[0-9]*)?
    ("+.5", FLOAT, 0.5),                        # :204
    ("1e3", FLOAT, 1000.0),                     # :204 exponent without a point
    ("1.5e1_0", FLOAT, 1.5e10),                 # :191, :204
    ("1e400", STR, "1e400"),                    # :205-206 ParseFloat range error -> :264
    ("1:30", STR, "1:30"),                      # :165-167 no base 60 -> :264
    ("190:20:30.15", STR, "190:20:30.15"),      # :264
    ("2001-12-14", TIMESTAMP, stamp(2001, 12, 14)),                  # :184-189, :298
    ("2001-1-2", TIMESTAMP, stamp(2001, 1, 2)),                      # :298 one-digit fields
    ("2001-12-14T21:59:43.10Z", TIMESTAMP, stamp(2001, 12, 14, 21, 59, 43, 100_000_000)),  # :295
    ("2001-12-14t21:59:43.10-05:00", TIMESTAMP,
     stamp(2001, 12, 14, 21, 59, 43, 100_000_000, -18000)),         # :296
    ("2001-12-14 21:59:43,5", TIMESTAMP, stamp(2001, 12, 14, 21, 59, 43, 500_000_000)),  # :297
    ("2001-12-14 21:59:43.10 -5", STR, "2001-12-14 21:59:43.10 -5"),  # :299 not parsed
    ("2001-02-30", STR, "2001-02-30"),          # day out of range -> ParseInt fails -> :264
    ("2001-12-14T24:00:00Z", STR, "2001-12-14T24:00:00Z"),           # hour out of range
    ("<<", STR, "<<"),                          # '<' has no hint (:155-159); merges are keys
    ("=", STR, "="),                            # :264
    ("0x", STR, "0x"),                          # :264
]


@pytest.mark.parametrize("text, tag, expected", GO_READINGS, ids=[c[0] or "<empty>" for c in GO_READINGS])
def test_go_reading(text, tag, expected):
    got_tag, got = go_resolve(text)
    assert got_tag == tag
    assert same(got, expected), got


def test_explicit_tags_are_checked_as_yaml_v3_checks_them():
    assert go_resolve("5", "!!int") == (INT, 5)
    assert go_resolve("1", "tag:yaml.org,2002:float") == (FLOAT, 1.0)  # :136-147
    assert go_resolve("0755", "!!str") == (STR, "0755")
    assert go_resolve("x", "!custom") == ("!custom", "x")  # :128-130
    with pytest.raises(ValueError):
        go_resolve("yes", "!!bool")  # :150


# Plain scalars the program receives as they are, unflagged (value and type).
UNFLAGGED = [
    ("true", True), ("false", False), ("True", True), ("42", 42), ("+42", 42), ("-17", -17),
    ("0", 0), ("1.5", 1.5), ("null", None), ("~", None), ("", None), ("0o755", 493),
    ("0x1F", 31), ("+.5", 0.5), ("hello", "hello"), ("tRUE", "tRUE"), ("1e400", "1e400"),
    ("=", "="), ("2001-02-30", "2001-02-30"), ("18446744073709551615", 2**64 - 1),
    # The CLI's JSON writes an integral float without a point: the program gets an int.
    ("1.0", 1), ("1e3", 1000), ("1.5e10", 15_000_000_000), ("-0.0", 0),
    # Not plain: quoted and block scalars are strings; "!" resolves like a plain scalar.
    ('"no"', "no"), ("'0755'", "0755"), ("!!str 0755", "0755"), ("! 42", 42), ("! '42'", "42"),
    ('"2001-12-14"', "2001-12-14"), ("|\n  no", "no\n"),
]


@pytest.mark.parametrize("scalar, expected", UNFLAGGED, ids=[c[0] or "<empty>" for c in UNFLAGGED])
def test_unambiguous_values_are_plain(scalar, expected):
    got = value_of(scalar)
    assert not is_ambiguous(got) and describe_ambiguous(got) is None
    assert same(got, expected), repr(got)


# Flagged: (scalar, what the program receives, .yaml11, .kind).
FLAGGED = [
    ("no", "no", False, "bool-word"),
    ("No", "No", False, "bool-word"),
    ("NO", "NO", False, "bool-word"),
    ("yes", "yes", True, "bool-word"),
    ("Yes", "Yes", True, "bool-word"),
    ("YES", "YES", True, "bool-word"),
    ("on", "on", True, "bool-word"),
    ("On", "On", True, "bool-word"),
    ("ON", "ON", True, "bool-word"),
    ("off", "off", False, "bool-word"),
    ("Off", "Off", False, "bool-word"),
    ("OFF", "OFF", False, "bool-word"),
    ("y", "y", True, "bool-word"),        # YAML 1.1 spec bool (PyYAML leaves it a string)
    ("Y", "Y", True, "bool-word"),
    ("n", "n", False, "bool-word"),
    ("N", "N", False, "bool-word"),
    ("yEs", "yEs", True, "bool-word"),    # other case spellings too
    ("oFf", "oFf", False, "bool-word"),
    ("nO", "nO", False, "bool-word"),
    ("1:30", "1:30", 90, "yaml11-typed"),  # sexagesimal
    ("-1:30", "-1:30", -90, "yaml11-typed"),
    ("1:30:00", "1:30:00", 5400, "yaml11-typed"),
    ("190:20:30.15", "190:20:30.15", 685230.15, "yaml11-typed"),
    (".5_", ".5_", 0.5, "yaml11-typed"),
    ("1.0e+400", "1.0e+400", INF, "yaml11-typed"),
    ("2001-12-14 21:59:43.10 -5", "2001-12-14 21:59:43.10 -5",
     datetime.datetime(2001, 12, 14, 21, 59, 43, 100000,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=-5))), "yaml11-typed"),
    ("0755", 493, 493, "number"),          # octal for YAML 1.1 and the CLI, 755 in YAML 1.2
    ("-0755", -493, -493, "number"),
    ("007", 7, 7, "number"),
    ("00", 0, 0, "number"),
    ("08", 8, "08", "number"),             # the CLI reads the float 8.0
    ("0X1F", 31, "0X1F", "number"),
    ("0O17", 15, "0O17", "number"),
    ("-0x1F", -31, -31, "number"),
    ("0b101", 5, 5, "number"),
    ("0b-101", -5, "0b-101", "number"),
    ("1_000", 1000, 1000, "number"),
    (".1_2", 0.12, 0.12, "number"),
    ("123456789012345678901234567890", 1.2345678901234568e29, 123456789012345678901234567890,
     "number"),
    ("2001-12-14", "2001-12-14 00:00:00 +0000 UTC", datetime.date(2001, 12, 14), "timestamp"),
    ("2001-1-2", "2001-01-02 00:00:00 +0000 UTC", "2001-1-2", "timestamp"),
    ("2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.1 -0500 -0500",
     datetime.datetime(2001, 12, 14, 21, 59, 43, 100000,
                       tzinfo=datetime.timezone(datetime.timedelta(hours=-5))), "timestamp"),
    ("2001-12-14T21:59:43+00:00", "2001-12-14 21:59:43 +0000 UTC",  # a zero offset is UTC
     datetime.datetime(2001, 12, 14, 21, 59, 43, tzinfo=datetime.timezone.utc), "timestamp"),
    ("2001-12-14 21:59:43+00:00", "2001-12-14 21:59:43+00:00",  # no zone in Go's layout :297
     datetime.datetime(2001, 12, 14, 21, 59, 43, tzinfo=datetime.timezone.utc), "yaml11-typed"),
]


@pytest.mark.parametrize("scalar, program, yaml11, kind", FLAGGED, ids=[c[0] for c in FLAGGED])
def test_yaml11_forms_are_flagged(scalar, program, yaml11, kind):
    got = value_of(scalar)
    assert is_ambiguous(got)
    assert type(got) is {str: Yaml11Ambiguous, int: Yaml11AmbiguousInt,
                         float: Yaml11AmbiguousFloat}[type(program)]
    assert got == program and got.kind == kind and got.text == scalar
    assert type(got.yaml11) is type(yaml11) and got.yaml11 == yaml11
    assert (got.line, got.column, got.file_name) == (1, 4, FILE)
    hint = describe_ambiguous(got)
    assert hint is not None and hint.startswith(f"got {scalar!r}, ")


def test_hints():
    assert describe_ambiguous(value_of("no")) == (
        "got 'no', which YAML 1.1 reads as false and the Pulumi CLI reads as the string \"no\"; "
        "write true or false")
    assert describe_ambiguous(value_of("0755")) == (
        "got '0755', a number with a leading zero, which YAML 1.1 and the Pulumi CLI read as 493 "
        "(octal) but YAML 1.2 reads as 755; write a plain number such as 493, or quote it if you "
        "mean the text")
    assert describe_ambiguous(value_of("1:30")) == (
        "got '1:30', which YAML 1.1 reads as 90 and the Pulumi CLI reads as the string \"1:30\"; "
        "write a plain number such as 90, or quote it if you mean the text")
    assert "looks like the YAML 1.1 boolean true" in (describe_ambiguous(value_of("yEs")) or "")
    assert "quote it" in (describe_ambiguous(value_of("2001-12-14")) or "")
    assert describe_ambiguous("no") is None and describe_ambiguous(False) is None


def test_nested_mappings_and_lists():
    text = ("config:\n"
            "  ns:flags:\n"
            "    regional: no\n"
            "    zones: [a, b, {mode: 0755, on: 1}]\n"
            "    nested: {deep: {list: [1, 2.5, null, true]}}\n"
            "  ns:name: web\n")
    got = load(text, FILE)
    assert same(got, {"config": {"ns:flags": {"regional": "no",
                                              "zones": ["a", "b", {"mode": 493, "on": 1}],
                                              "nested": {"deep": {"list": [1, 2.5, None, True]}}},
                                 "ns:name": "web"}})
    flags = got["config"]["ns:flags"]
    assert (flags["regional"].line, flags["regional"].column) == (3, 15)
    mode = flags["zones"][2]["mode"]
    assert isinstance(mode, Yaml11AmbiguousInt) and (mode.line, mode.column) == (4, 26)
    key = next(k for k in flags["zones"][2] if k == "on")  # a key is flagged too
    assert isinstance(key, Yaml11Ambiguous) and key.yaml11 is True and (key.line, key.column) == (4, 32)
    assert json.loads(json.dumps(got)) == got


def test_keys_the_program_receives_as_text():
    """fmt's %v of the key after the CLI's re-encoding (config/object.go:505-510)."""
    got = load("k:\n  1: a\n  true: b\n  ~: c\n  1.5: d\n  3.0: e\n  1e6: f\n  .inf: g\n"
               "  2001-12-14: h\n", FILE)["k"]
    assert got == {"1": "a", "true": "b", "<nil>": "c", "1.5": "d", "3": "e", "1e+06": "f",
                   "+Inf": "g", "2001-12-14 00:00:00 +0000 UTC": "h"}
    assert all(type(key) in (str, Yaml11Ambiguous) for key in got)


def test_merge_keys_follow_yaml_v3():
    text = ("base: &b {x: 1, y: 2}\n"
            "other: &o {y: 3, z: 4}\n"
            "m:\n  <<: [*b, *o]\n  x: 9\n"   # explicit keys win, then the first merged map
            "quoted: {'<<': 1}\n")             # a quoted << is an ordinary key
    got = load(text, FILE)
    assert got["m"] == {"x": 9, "y": 2, "z": 4}
    assert got["quoted"] == {"<<": 1}


def test_tags_on_collections_are_ignored_and_custom_scalar_tags_give_the_text():
    got = load("a: !!set {x, y}\nb: !custom 42\nc: !!binary aGVsbG8=\nd: !!float 2\n", FILE)
    assert same(got, {"a": {"x": None, "y": None}, "b": "42", "c": "hello", "d": 2})


def test_only_the_first_document_is_read():
    assert load("a: 1\n---\nb: [\n", FILE) == {"a": 1}
    assert load("", FILE) is None and load("# nothing\n", FILE) is None
    assert load("\ufeffa: 1\n", FILE) == {"a": 1}


SECRET = "hunter2-very-secret"

MALFORMED = [
    # (text, line, column, words in the reason)
    (f"a: b\n c: {SECRET}\n", 2, 3, "mapping values are not allowed"),
    (f"a: [{SECRET}\n", 2, 1, "did not find expected ',' or ']'"),
    (f"a: '{SECRET}\n", 2, 1, "found unexpected end of stream"),
    (f"a: 1\n\tb: {SECRET}\n", 2, 1, "tab character|cannot start any token"),  # libyaml|PyYAML
    (f"a: {SECRET}\x07\n", 1, 23, "unacceptable character #x0007"),
    (f"a: *{SECRET}\n", 1, 4, "undefined alias"),
    (f"a: 1\n\"a\": {SECRET}\n", 2, 1, 'mapping key "a" already defined at line 1'),  # decode.go:776
    (f"a: !!int {SECRET}\n", 1, 4, "cannot decode !!str as a !!int"),                # :150
    (f"a: !!binary '{SECRET}!'\n", 1, 4, "!!binary value contains invalid base64 data"),
    (f"a: {SECRET}\n<<: 5\n", 2, 5, "map merge requires map or sequence of maps"),
    (f"? [{SECRET}]\n: 2\n", 1, 3, "invalid map key"),
    ("a: .inf\n", 1, 4, "cannot pass .inf or .nan"),
    ("a: [1, .NaN]\n", 1, 8, "cannot pass .inf or .nan"),
]


@pytest.mark.parametrize("text, line, column, reason", MALFORMED, ids=[m[3] for m in MALFORMED])
def test_malformed_yaml_gives_position_and_reason_without_the_text(text, line, column, reason):
    with pytest.raises(YamlError) as caught:
        load(text, FILE)
    err = caught.value
    assert (err.line, err.column, err.file_name) == (line, column, FILE)
    assert any(words in err.reason for words in reason.split("|"))
    assert str(err).startswith(f"{FILE}: line {line}, column {column}: ")
    assert SECRET not in str(err) and "hunter2" not in str(err)
    assert isinstance(err, yaml.YAMLError)  # callers catching PyYAML's errors keep working
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


def test_markers_survive_copy_and_pickle():
    got = load("a: no\nb: 0755\nc: .1_2\n", FILE)
    for clone in (copy.deepcopy(got), pickle.loads(pickle.dumps(got))):
        assert clone == got
        for key in got:
            assert type(clone[key]) is type(got[key])
            assert describe_ambiguous(clone[key]) == describe_ambiguous(got[key])


def test_the_pure_python_loader_reads_the_same(monkeypatch):
    """Without libyaml the module falls back to PyYAML's own parser, with the same readings."""
    import components.stack_yaml.loader as loader_module

    text = "a: no\nb: ! '42'\nc: ! 42\nd: [0755, 1e3, 2001-12-14]\ne: {<<: {x: 1}, y: 2}\n"
    monkeypatch.delattr(yaml, "CSafeLoader")
    pure = importlib.reload(loader_module)
    try:
        assert pure._BaseLoader is yaml.SafeLoader
        assert pure.load(text, FILE) == load(text, FILE)
        assert describe_ambiguous(load(text, FILE)["a"]) == describe_ambiguous(pure.load(text, FILE)["a"])
        with pytest.raises(pure.YamlError) as caught:
            pure.load("a: 1\na: 2\n", FILE)
        assert (caught.value.line, caught.value.column) == (2, 1)
    finally:
        monkeypatch.undo()
        importlib.reload(loader_module)


def shipped_stack_files() -> list[Path]:
    return sorted(path for folder in stack_folders(ROOT) for path in stack_files(folder))


def flagged_in(value) -> list:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in flagged_in(k) + flagged_in(v)]
    if isinstance(value, list):
        return [x for v in value for x in flagged_in(v)]
    return [value] if is_ambiguous(value) else []


@pytest.mark.parametrize("path", shipped_stack_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_stack_files_read_the_same_both_ways(path):
    """They are written unambiguously: switching readers changes nothing for them."""
    text = path.read_text()
    got = load(text, path.name)
    assert same(got, yaml.safe_load(text))
    assert flagged_in(got) == []


def test_there_are_shipped_stack_files():
    assert len(shipped_stack_files()) >= 3
