"""The stack-file loader: PyYAML's parser, yaml.v3's resolution, errors with line and column."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from .golang import _LONG_PREFIX, BINARY, FLOAT, INT, TIMESTAMP, _short_tag
from .readings import (
    _BOOL_WORD,
    _LEADING_ZERO_INT,
    _NO_READING,
    _TRUE_WORDS,
    _YAML11_SPEC_BOOLS,
    _flagged,
    _same,
    _yaml11,
    _yaml12_number,
)
from .resolve import _go_g, _key_text, _program_float, _program_time, _TagMismatch, go_resolve

# libyaml's parser when PyYAML has it (yaml.v3's parser is a port of libyaml), else PyYAML's own.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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
