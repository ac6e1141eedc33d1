"""From pydantic's errors to the program's messages, every one of them.

:func:`validate` builds a model from a raw value; each pydantic error becomes one problem
``<key>: <message>`` in the program's wording: locations read as config keys (aliases, ``[i]``
for list items, the ``tls.source`` tag of the tagged union dropped), error types read as what
is expected (a missing key, an unknown key and the keys allowed, a key that belongs to another
``tls.source``, a wrong type, an empty list, a value not among the choices). The value types
raise their own messages (types.py), passed on as they are.

When a model does not build, the parts of it that did still get their rules checked (a wrong
domain does not hide an autoscaling minimum above the maximum).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from .rules import Checks, check, join
from .types import show, type_name

# Keys whose absence deserves more than "required".
MISSING = {
    ("AcmeTls", "acme"): "missing; tls.source is acme, expected {email: <contact>, server: "
                         "staging|production}",
}


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    kind = _unwrap(annotation)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _fields(model: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """alias -> (field name, field)."""
    return {info.alias or name: (name, info) for name, info in model.model_fields.items()}


def _variants(union: Any, discriminator: str) -> dict[str, type[BaseModel]]:
    """tag -> model of a tagged union."""
    found = {}
    for member in get_args(_unwrap(union)):
        for tag in get_args(member.model_fields[discriminator].annotation):
            found[tag] = member
    return found


class Place:
    """Where a pydantic location points: the config key, and the model and field there."""

    def __init__(self, root: Any, loc: Sequence[str | int]) -> None:
        self.parts: list[str | int] = []
        self.container: type[BaseModel] | None = None  # the model holding the last key
        self.field: FieldInfo | None = None
        self.annotation: Any = root  # what is expected at the location (None: unknown key)
        self.tag: str | None = None  # the tag of the variant that is ``container``
        self.union: str | None = None  # the tagged union passed last, as "tls.source"
        self.variants: dict[str, type[BaseModel]] = {}  # and its variants by tag
        items = list(loc)
        while items:
            item = items.pop(0)
            model = _model(self.annotation)
            if self.tag is not None and model is not self.variants.get(self.tag):
                self.tag = None  # below the variant: its keys are no longer the union's
            if model is not None and isinstance(item, str):
                self.container, self.parts = model, [*self.parts, item]
                name_field = _fields(model).get(item)
                self.field = name_field[1] if name_field else None
                self.annotation = self.field.annotation if self.field else None
                if self.field is not None and self.field.discriminator and items:
                    variants = _variants(self.annotation, str(self.field.discriminator))
                    if items[0] in variants:
                        self.tag, self.variants = str(items.pop(0)), variants
                        self.union = f"{item}.{self.field.discriminator}"
                        self.annotation = variants[self.tag]
                continue
            origin = get_origin(_unwrap(self.annotation))
            if origin in (tuple, list) and isinstance(item, int):
                self.parts.append(item)
                self.annotation = get_args(_unwrap(self.annotation))[0]
            else:
                self.parts.append(item)
                self.annotation = None

    def key(self, prefix: str) -> str:
        key = prefix
        for part in self.parts:
            key = join(key, part)
        return key


def _keys_of(annotation: Any) -> str:
    model = _model(annotation)
    if model is None:
        return "its keys"
    required = [a for a, (_, f) in _fields(model).items() if f.is_required()]
    optional = [a for a, (_, f) in _fields(model).items() if not f.is_required()]
    return ", ".join(required + optional)


def message(root: Any, error: Any, prefix: str) -> tuple[str, str]:
    """(key, message) of one pydantic error."""
    place = Place(root, error["loc"])
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = place.key(prefix)
    if kind == "config_value":
        return key, error["msg"]
    if kind == "missing":
        alias = place.parts[-1] if place.parts else ""
        hint = MISSING.get((place.container.__name__ if place.container else "", str(alias)))
        return key, hint or "missing; this key is required"
    if kind == "extra_forbidden":
        return key, _unknown(place)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if place.field is not None and place.field.discriminator:
            expected = (f"a mapping with key {place.field.discriminator} (one of "
                        f"{', '.join(_variants(place.annotation, str(place.field.discriminator)))}) "
                        "and that source's keys")
        else:
            expected = f"a mapping with keys {_keys_of(place.annotation)}"
        return key, f"got {type_name(value)} {show(value)}; expected {expected}"
    if kind in ("tuple_type", "list_type"):
        return key, f"got {type_name(value)} {show(value)}; expected a list"
    if kind == "too_short":
        return key, f"got an empty list; expected at least {ctx.get('min_length', 1)} item(s)"
    if kind == "literal_error":
        choices = [str(c) for c in get_args(_unwrap(place.annotation))] if get_origin(
            _unwrap(place.annotation)) is Literal else [str(ctx.get("expected", ""))]
        return key, f"got {show(value)}; expected one of {', '.join(choices)}"
    if kind in ("union_tag_invalid", "union_tag_not_found") and place.field is not None:
        discriminator = str(place.field.discriminator)
        tags = ", ".join(_variants(place.annotation, discriminator))
        if kind == "union_tag_not_found":
            return join(key, discriminator), f"missing; this key is required (one of {tags})"
        return join(key, discriminator), f"got {show(ctx.get('tag'))}; expected one of {tags}"
    text = str(error["msg"])
    return key, f"got {type_name(value)} {show(value)}; {text[:1].lower()}{text[1:]}"


def _unknown(place: Place) -> str:
    alias = str(place.parts[-1])
    allowed = sorted(_fields(place.container)) if place.container is not None else []
    if place.tag is not None and place.union is not None:
        # A key of another variant: it belongs to another tls.source.
        for tag, variant in place.variants.items():
            if tag != place.tag and alias in _fields(variant):
                return (f"set, but {place.union} is {place.tag}; {alias} applies to {place.union} "
                        f"{tag} only, expected no {alias}")
    close = difflib.get_close_matches(alias, allowed, n=1)
    return (f"unknown key; expected one of {', '.join(allowed)}"
            + (f" (did you mean {close[0]}?)" if close else ""))


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(annotation: Any, cache_key: Any = None) -> TypeAdapter:
    cache_key = annotation if cache_key is None else cache_key
    if cache_key not in _ADAPTERS:
        _ADAPTERS[cache_key] = TypeAdapter(annotation)
    return _ADAPTERS[cache_key]


def _validate(adapter: TypeAdapter, raw: Any) -> Any:
    # Stack files name keys by their aliases only (camelCase), never by the Python names.
    return adapter.validate_python(raw, by_alias=True, by_name=False)


def validate(annotation: Any, raw: Any, key: str, checks: Checks) -> Any | None:
    """The model of ``raw`` with its rules checked, or None with every problem in ``checks``."""
    try:
        value = _validate(_adapter(annotation), raw)
    except ValidationError as err:
        errors = _one_per_fault(err.errors(include_url=False))
        for error in errors:
            checks.fail(*message(annotation, error, key))
        _salvage(annotation, raw, [tuple(e["loc"]) for e in errors], key, checks)
        return None
    check(value, key, checks)
    return value


def _one_per_fault(errors: list[Any]) -> list[Any]:
    """One fault, one problem: a misspelt key is the unknown key (with "did you mean"), not also
    the required key it was meant to be; a list whose item is wrong is not also too short."""
    lists_with_wrong_items = {tuple(e["loc"])[:i] for e in errors
                              for i, part in enumerate(e["loc"]) if isinstance(part, int)}
    errors = [e for e in errors
              if e["type"] != "too_short" or tuple(e["loc"]) not in lists_with_wrong_items]
    missing = {tuple(e["loc"]): e for e in errors if e["type"] == "missing"}
    echoes = set()
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] != "extra_forbidden" or not loc or not isinstance(loc[-1], str):
            continue
        siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
        for meant in difflib.get_close_matches(loc[-1], siblings, n=1):
            echoes.add((*loc[:-1], meant))
    return [e for e in errors if tuple(e["loc"]) not in echoes or e["type"] != "missing"]


def _field_adapter(model: type[BaseModel], name: str, info: FieldInfo) -> TypeAdapter:
    """The type of one field, with its constraints (and its union's discriminator)."""
    metadata = [*info.metadata, *([FieldInfo(discriminator=info.discriminator)]
                                  if info.discriminator else [])]
    return _adapter(annotated(info.annotation, metadata), (model, name))


def annotated(annotation: Any, metadata: Sequence[Any]) -> Any:
    """``Annotated[annotation, *metadata]``, built at run time (or the bare annotation)."""
    return typing.cast(Any, Annotated)[(annotation, *metadata)] if metadata else annotation


def _salvage(annotation: Any, raw: Any, locs: list[tuple], key: str, checks: Checks) -> None:
    """Check the rules of the parts of ``raw`` that built, below a model that did not."""
    model = _model(annotation)
    if model is None or not isinstance(raw, dict):
        return
    for alias, (name, info) in _fields(model).items():
        if alias not in raw:
            continue
        below = [loc[1:] for loc in locs if loc and loc[0] == alias]
        at = join(key, alias)
        if not below:
            try:
                check(_validate(_field_adapter(model, name, info), raw[alias]), at, checks)
            except ValidationError:
                pass
            continue
        inner: Any = info.annotation
        if info.discriminator and isinstance(raw[alias], dict):
            variants = _variants(inner, str(info.discriminator))
            tag = raw[alias].get(info.discriminator)
            if tag not in variants:
                continue
            inner, below = variants[tag], [loc[1:] for loc in below if loc and loc[0] == tag]
        element = get_args(_unwrap(inner))[0] if get_origin(_unwrap(inner)) in (tuple, list) else None
        if element is not None and isinstance(raw[alias], list) and _model(element) is not None:
            for i, item in enumerate(raw[alias]):
                item_locs = [loc[1:] for loc in below if loc and loc[0] == i]
                if item_locs:
                    _salvage(element, item, item_locs, join(at, i), checks)
                else:
                    try:
                        check(_validate(_adapter(element), item), join(at, i), checks)
                    except ValidationError:
                        pass
        else:
            _salvage(inner, raw[alias], below, at, checks)
