"""pydantic's errors as the program's one-line problems: ``<key>: got X; expected Y``. The key is
read off the error's location and the models on it (aliases, ``[i]`` for items, a tagged union's
tag dropped), what is expected off the type there (its bounds, its pattern's meaning, its
choices, a model's keys); our validators' words pass through, at the keys they name."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import Problem
from .types import EXPECTED, show, type_name

# Keys whose absence deserves more than "required".
MISSING = {"environment": "missing; every stack declares its environment (routes and auth)",
           "acme": "missing; tls.source is acme, expected {email: <contact>, server: staging|production}"}


def _strip(kind: Any) -> tuple[Any, list[Any]]:
    """``Annotated[X | None, ...]`` -> (X, its metadata)."""
    metadata: list[Any] = []
    while get_origin(kind) is Annotated or get_origin(kind) in (typing.Union, types.UnionType) \
            and len(get_args(kind)) == 2 and type(None) in get_args(kind):
        kind, *more = get_args(kind) if get_origin(kind) is Annotated else \
            [a for a in get_args(kind) if a is not type(None)]
        metadata += [m for item in more for m in (getattr(item, "metadata", None) or [item])]
    return kind, metadata


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _keys(model: Any) -> dict[str, Any]:
    """The keys a file may write (a derived field is none of them)."""
    return {info.alias or name: info for name, info in model.model_fields.items() if not info.exclude}


def _variants(kind: Any) -> dict[str, Any]:
    """A tagged union's models by tag (its ``source``)."""
    return {get_args(m.model_fields["source"].annotation)[0]: m for m in get_args(kind)
            if _is_model(m) and "source" in m.model_fields}


class _At:
    """Where a location points: the key as written, the type there, the model holding its last key,
    and the tagged union passed on the way (its variants, and the tag given)."""

    def __init__(self, root: Any, loc: Sequence[str | int]) -> None:
        self.key, self.model, self.derived, self.tag, kind = "", None, False, None, root
        self.variants: dict[str, Any] = {}
        key_type: Any = None  # the key type of the mapping the last part was a key of
        for part in loc:
            kind, _ = _strip(kind)
            if part in _variants(kind):  # a tagged union's tag: not a key of the file
                self.variants, self.tag, kind = _variants(kind), str(part), _variants(kind)[part]
                continue
            if _is_model(kind):
                self.tag = self.tag if kind is self.variants.get(self.tag or "") else None
                info = next((i for i in kind.model_fields.values() if i.alias == part), None)
                self.model, self.derived = kind, bool(info and info.exclude)
                kind = info.rebuild_annotation() if info else None
            elif get_origin(kind) in (dict, Mapping):
                # A mapping: pydantic's loc is (…, key, "[key]") for the key itself, (…, key) for its
                # value; "[key]" names no key of the file, the type there is the key's.
                key_type, kind = get_args(kind) or (Any, Any)
            elif part == "[key]" and key_type is not None:
                kind, key_type = key_type, None
                continue
            else:
                kind = get_args(kind)[0] if get_origin(kind) in (tuple, list) else None
            self.key = f"{self.key}[{part!r}]" if isinstance(part, str) and not re.fullmatch(r"[\w-]+", part) \
                else f"{self.key}[{part}]" if isinstance(part, int) else f"{self.key}.{part}" if self.key else part
        self.kind, self.metadata = _strip(kind)
        self.variants = _variants(self.kind) or self.variants

    def expected(self) -> str:
        """What the type at the location takes, in words."""
        kind, patterns = self.kind, [m.pattern for m in self.metadata if getattr(m, "pattern", None)]
        low, high = (next((getattr(m, b) for m in self.metadata if hasattr(m, b)), None) for b in ("ge", "le"))
        if kind is int:
            return f"an integer from {low} to {high}" if low is not None else "an integer"
        if patterns and patterns[-1] in EXPECTED:
            return EXPECTED[patterns[-1]]
        if get_origin(kind) is typing.Literal:
            return f"one of {', '.join(map(str, get_args(kind)))}"
        if _is_model(kind):
            keys = _keys(kind)
            return "a mapping with keys " + ", ".join(sorted(keys, key=lambda a: not keys[a].is_required()))
        if self.variants:
            return f"a mapping with key source (one of {', '.join(self.variants)})"
        if get_origin(kind) in (dict, Mapping):
            return "a mapping"
        return {bool: "true or false", str: "a string"}.get(kind, "a list" if get_origin(kind) in (
            tuple, list) else "a value of another kind")

    def message(self, error: Any) -> str:
        kind, value, ctx, alias = error["type"], error.get("input"), error.get("ctx") or {}, str(error["loc"][-1])
        if kind == "missing":
            return MISSING.get(alias, "missing; this key is required")
        if kind == "extra_forbidden" or self.derived:
            for tag, variant in self.variants.items():
                if self.tag and tag != self.tag and alias in _keys(variant):
                    return (f"set, but tls.source is {self.tag}; {alias} applies to tls.source {tag} "
                            f"only, expected no {alias}")
            allowed = sorted(_keys(self.model)) if self.model else []
            close = difflib.get_close_matches(alias, allowed, n=1)
            return f"unknown key; expected one of {', '.join(allowed)}" + (
                f" (did you mean {close[0]}?)" if close else "")
        if kind == "yaml11":
            return f"got {show(value)}; expected {self.expected()} ({ctx['hint']})"
        if kind in ("string_too_short", "too_short"):
            return f"got {'an empty string' if isinstance(value, str) else 'an empty list'}; expected " + (
                "a non-empty string" if isinstance(value, str) else f"at least {ctx.get('min_length')} item(s)")
        if kind == "string_too_long":
            return f"got a string of {len(value)} characters; expected at most {ctx.get('max_length')}"
        if kind == "union_tag_not_found":
            return f"missing; this key is required (one of {', '.join(self.variants)})"
        if kind == "union_tag_invalid":
            return f"got {show(ctx.get('tag'))}; expected one of {', '.join(self.variants)}"
        return f"got {type_name(value) + ' ' if kind.endswith('_type') else ''}{show(value)}; expected {self.expected()}"


def problems(error: ValidationError, root: Any, stack_file: str) -> Iterator[Problem]:
    """One problem per fault of ``error``, validated against ``root`` (the model at the top)."""
    errors = error.errors(include_url=False)
    # A list whose item is wrong is not also too short (pydantic counts only the valid items).
    wrong = {tuple(e["loc"][:i]) for e in errors for i, part in enumerate(e["loc"]) if isinstance(part, int)}
    # A misspelt key is the unknown key (with "did you mean"), not also the key it was meant to be.
    extra = {(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"}
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "too_short" and loc in wrong or e["type"] == "missing" and difflib.get_close_matches(
                str(loc[-1]), [name for parent, name in extra if parent == loc[:-1]], n=1):
            continue
        at = _At(root, loc)
        if e["type"].startswith("union_tag"):
            at.key += ".source"
        for where, message in e["ctx"]["problems"] if e["type"] == "rules" else [("", at.message(e))]:
            key = where[1:] if where.startswith("/") else ".".join(filter(None, (at.key, where)))
            yield Problem(stack_file, key.replace(".[", "["), message)
