"""pydantic's errors as the program's one-line problems: ``<key>: got X; expected Y``.

:func:`problems` turns ``ValidationError.errors()`` into :class:`~components.errors.Problem`\\ s.
The key is read off the error's location and the model at it (aliases, ``[i]`` for items,
``["k"]`` for a mapping's keys, a tagged union's tag dropped); what is expected comes from the
type there (its bounds, its pattern's meaning, its choices, a model's keys) whatever its shape.
Our own validators' messages pass through, each at the key it names (``ctx["at"]``, relative,
or ``ctx["key"]``, from the top); a model's rules raise all their problems at once
(``ctx["problems"]``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError

from ..errors import Problem
from .types import EXPECTED, show, type_name

# Keys whose absence deserves more than "required": (model, key) -> message.
MISSING = {
    ("StackKeys", "environment"): "missing; every stack declares its environment (routes and auth)",
    ("AcmeTls", "acme"): "missing; tls.source is acme, expected {email: <contact>, server: "
                         "staging|production}",
}


def _strip(kind: Any) -> tuple[Any, list[Any]]:
    """``Annotated[X | None, ...]`` -> (X, its metadata)."""
    metadata: list[Any] = []
    while True:
        if get_origin(kind) is Annotated:
            kind, *more = get_args(kind)
            metadata += [m for item in more for m in (getattr(item, "metadata", None) or [item])]
        elif get_origin(kind) in (typing.Union, types.UnionType) and type(None) in get_args(kind) \
                and len(get_args(kind)) == 2:
            kind = next(a for a in get_args(kind) if a is not type(None))
        else:
            return kind, metadata


def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


class _At:
    """Where a location points: the config key, the type there, the model holding its last key."""

    def __init__(self, root: Any, loc: Sequence[str | int]) -> None:
        self.key, self.model, self.kind, self.metadata = "", None, root, []
        self.variants: dict[str, type[BaseModel]] = {}
        self.tag: str | None = None
        mapping: Any = None
        for part in loc:
            kind, self.metadata = _strip(self.kind)
            members = get_args(kind) if get_origin(kind) in (typing.Union, types.UnionType) else ()
            tags = {t: m for m in members if isinstance(m, type) and issubclass(m, BaseModel)
                    for f in m.model_fields.values() for t in get_args(f.annotation)
                    if get_origin(f.annotation) is typing.Literal and f.alias == "source"}
            if part in tags:  # a tagged union's tag: not a key of the file
                self.variants, self.tag, self.kind = tags, str(part), tags[str(part)]
                continue
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                self.model, info = kind, _aliases(kind).get(str(part))
                self.kind = (Annotated[(info.annotation, *info.metadata)] if info.metadata
                             else info.annotation) if info else None
                if self.tag and kind is not self.variants.get(self.tag):
                    self.tag = None
            elif get_origin(kind) in (tuple, list):
                self.kind = get_args(kind)[0]
            elif get_origin(kind) is dict:
                self.kind, mapping = get_args(kind)[1], kind
            elif part == "[key]" and mapping is not None:  # the mapping's key itself is wrong
                self.kind, mapping = get_args(mapping)[0], None
                continue
            else:
                self.kind = None
            self.key = _join(self.key, part)
        self.kind, self.metadata = _strip(self.kind)

    def expected(self) -> str:
        """What the type at the location takes, in words."""
        kind, found = self.kind, {type(m): m for m in self.metadata}
        if kind is int:
            low, high = getattr(found.get(annotated_types.Ge), "ge", None), getattr(
                found.get(annotated_types.Le), "le", None)
            return f"an integer from {low} to {high}" if low is not None else "an integer"
        patterns = [m.pattern for m in self.metadata if getattr(m, "pattern", None)]
        if patterns and patterns[-1] in EXPECTED:
            return EXPECTED[patterns[-1]]
        if kind is bool:
            return "true or false"
        if get_origin(kind) is typing.Literal:
            return f"one of {', '.join(map(str, get_args(kind)))}"
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            fields = _aliases(kind)
            return "a mapping with keys " + ", ".join(
                sorted(fields, key=lambda a: not fields[a].is_required()))
        if self.variants or get_origin(kind) in (typing.Union, types.UnionType):
            return f"a mapping with key source (one of {', '.join(self.variants or ['...'])})"
        if get_origin(kind) is dict:
            return "a mapping"
        return {str: "a string", dict: "a mapping"}.get(kind, "a list" if get_origin(
            kind) in (tuple, list) else "a value of another kind")


def _join(key: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{key}[{part}]"
    if not re.fullmatch(r"[\w-]+", part):
        return f"{key}[{part!r}]"
    return f"{key}.{part}" if key else part


def _message(at: _At, error: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    expected = at.expected()
    if kind == "missing":
        name = at.model.__name__ if at.model else ""
        return MISSING.get((name, at.key.rsplit(".", 1)[-1]), "missing; this key is required")
    if kind == "extra_forbidden":
        alias = at.key.rsplit(".", 1)[-1].rsplit("[", 1)[-1].strip("'[]")
        for tag, variant in at.variants.items():
            if at.tag and tag != at.tag and alias in _aliases(variant):
                return (f"set, but tls.source is {at.tag}; {alias} applies to tls.source {tag} "
                        f"only, expected no {alias}")
        allowed = sorted(_aliases(at.model)) if at.model else []
        close = difflib.get_close_matches(alias, allowed, n=1)
        return f"unknown key; expected one of {', '.join(allowed)}" + (
            f" (did you mean {close[0]}?)" if close else "")
    if kind == "yaml11":
        return f"got {show(value)}; expected {expected} ({ctx['hint']})"
    if kind in ("string_too_short", "too_short"):
        return f"got {'an empty string' if isinstance(value, str) else 'an empty list'}; expected " + (
            "a non-empty string" if isinstance(value, str) else f"at least {ctx.get('min_length')} item(s)")
    if kind == "string_too_long":
        return f"got a string of {len(value)} characters; expected at most {ctx.get('max_length')}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))))
        return f"got {show(ctx.get('tag'))}; expected one of {tags}" if kind == "union_tag_invalid" \
            else f"missing; this key is required (one of {tags})"
    if kind.endswith("_type") or kind in ("model_attributes_type",):
        return f"got {type_name(value)} {show(value)}; expected {expected}"
    return f"got {show(value)}; expected {expected}"


def problems(error: ValidationError, root: Any, stack_file: str) -> Iterator[Problem]:
    """One problem per fault of ``error``, validated against ``root`` (the model at the top)."""
    errors = error.errors(include_url=False)
    # A list whose item is wrong is not also too short.
    wrong_items = {tuple(e["loc"][:i]) for e in errors for i, part in enumerate(e["loc"]) if isinstance(part, int)}
    errors = [e for e in errors if e["type"] != "too_short" or tuple(e["loc"]) not in wrong_items]
    # A misspelt key is the unknown key (with "did you mean"), not also the key it was meant to be.
    extra = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"}
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "missing" and difflib.get_close_matches(
                str(loc[-1]), [name for parent, name in extra if parent == loc[:-1]], n=1):
            continue
        at, ctx = _At(root, loc), e.get("ctx") or {}
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            at.key = _join(at.key, "source")
        if e["type"] not in ("config_value", "rules"):
            yield Problem(stack_file, at.key, _message(at, e))
            continue
        for where, message in ctx.get("problems") or [(ctx.get("at", ""), ctx["message"])]:
            key = where[1:] if where.startswith("/") else ".".join(filter(None, (at.key, where)))
            yield Problem(stack_file, key.replace(".[", "["), message)
