"""The project's stack files, read once: the one place that knows which stacks exist. Every
``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml`` is a stack: an **owner** declares
``istio-envs:platform``, an **attached** stack names its owner in ``istio-envs:attachTo``. The
program, the preview, the policy pack, ``new-env``, the workflows and the tests all ask this
module, so a new stack file joins everything at once. Only raw YAML values live here
(``components.config`` validates one stack, ``components.fleet`` the rules across them); each file
is read on its own, so one that does not parse fails its own stack and the fleet check only."""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import NAMESPACE, ConfigError

STACK_FILE_GLOB = "Pulumi.*.yaml"
# Besides the project's own stacks: one folder per example stack set (previewed together with
# this project's program), and the bootstrap project (its own program).
EXAMPLES_DIR = "examples"
BOOTSTRAP_DIR = "bootstrap"
PLATFORM_KEY = f"{NAMESPACE}:platform"
ATTACH_KEY = f"{NAMESPACE}:attachTo"
ENVIRONMENT_KEY = f"{NAMESPACE}:environment"


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def stack_name(path: Path) -> str:  # Pulumi.<stack>.yaml -> <stack>
    return path.name[len("Pulumi."):-len(".yaml")]


def short_stack(reference: str) -> str:  # org/project/stack (a StackReference name) -> stack
    return reference.rsplit("/", 1)[-1]


def stack_files(folder: Path) -> list[Path]:
    """The stack files of one folder, by stack name ("qa-x" sorts after "qa", although
    "Pulumi.qa-x.yaml" sorts before "Pulumi.qa.yaml")."""
    return sorted(folder.glob(STACK_FILE_GLOB), key=stack_name)


class Yaml11Number(int):
    """A plain scalar spelled as a number only YAML 1.1 knows (``0755``, ``1_000``, ``0b101``), which
    the Pulumi CLI (yaml.v3) still reads as a number: its value is the CLI's reading (``0755`` is
    493), ``text`` how it was written, so a validator expecting a number refuses it with both."""

    text: str

    def __new__(cls, value: int, text: str) -> Yaml11Number:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle keep the text
        return Yaml11Number, (int(self), self.text)


def _cli_integer(text: str) -> int:
    """yaml.v3's reading: underscores dropped, then Go's base-0 ParseInt (a leading 0 is octal);
    ``08`` is no octal, and the CLI's float 8.0 reaches the program as 8."""
    digits = text.replace("_", "")
    sign, body = (-1, digits[1:]) if digits[:1] == "-" else (1, digits.lstrip("+"))
    if body[:2] in ("0b", "0x", "0o"):
        return sign * int(body, 0)
    octal = len(body) > 1 and body[0] == "0" and set(body) <= set("01234567")
    return sign * int(body, 8 if octal else 10)


_BOOL_WORD = re.compile(r"(?i)y|yes|n|no|on|off")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")


def yaml11_readings(value: Any, boolean: bool) -> str | None:
    """How YAML 1.1 and the Pulumi CLI read a value meant as a boolean (``no``) or a number
    (``1:30``, ``0755``) when they disagree with YAML 1.2, and what to write; None when they agree."""
    text = value.text if isinstance(value, Yaml11Number) else value if isinstance(value, str) else None
    if text is None:
        return None
    if boolean:
        meant = "true" if text.lower() in ("y", "yes", "on") else "false"
        return (f'YAML 1.1 reads {text} as {meant}, the Pulumi CLI as the string "{text}": write {meant}'
                if _BOOL_WORD.fullmatch(text) else None)
    if _SEXAGESIMAL.fullmatch(text):
        sign, whole = (-1 if text.startswith("-") else 1), text.lstrip("+-").replace("_", "")
        integer, _, fraction = whole.partition(".")
        number: float = sum(int(p) * 60 ** i for i, p in enumerate(reversed(integer.split(":"))))
        number = sign * (number + float(f"0.{fraction}") if fraction else int(number))
        return f'YAML 1.1 reads {text} as {number} (base 60), the Pulumi CLI as the string "{text}": write {number}'
    if not isinstance(value, Yaml11Number):
        return None
    decimal = int(text.replace("_", ""), 10) if re.fullmatch(r"[-+]?0[0-7_]+", text) else None
    return (f"YAML 1.1 and the Pulumi CLI read {text} as the octal {int(value)}, YAML 1.2 as {decimal}: "
            f"write {int(value)}, or {decimal} if you meant decimal" if decimal is not None
            else f"YAML 1.1 and the Pulumi CLI read {text} as {int(value)}: write {int(value)}")


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml, as yaml.v3's parser


class _Loader(_BaseLoader):
    """The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution), on which the
    Pulumi CLI's yaml.v3 agrees: ``no`` and ``on`` are strings, ``1:30`` a string, no timestamps.
    Plus merge keys (yaml.v3 has them), duplicate keys refused (yaml.v3 refuses them), and the
    YAML 1.1-only numbers marked (:class:`Yaml11Number`)."""

    yaml_implicit_resolvers: dict = {}
    yaml_constructors = dict(_BaseLoader.yaml_constructors)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                first = seen.setdefault(key_node.value, key_node)
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'mapping key "{key_node.value}" already defined at line '
                        f"{first.start_mark.line + 1}", key_node.start_mark)
        return super().construct_mapping(node, deep)


_YAML11_NUMBER = "tag:istio-envs:yaml11-number"
for _tag, _pattern, _first in (
        (_YAML11_NUMBER, r"[-+]?0[0-9_]+|[-+]?[0-9][0-9_]*_[0-9_]*|[-+]?0b[01_]+", "+-0123456789"),
        ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
        ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("tag:yaml.org,2002:int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "+-0123456789"),
        ("tag:yaml.org,2002:float", r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
         r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)", "+-.0123456789"),
        ("tag:yaml.org,2002:merge", r"<<", "<")):
    _Loader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))
_Loader.add_constructor(_YAML11_NUMBER, lambda loader, node: Yaml11Number(
    _cli_integer(node.value), node.value))
_Loader.add_constructor("tag:yaml.org,2002:int", lambda loader, node: int(
    node.value, 16 if node.value.startswith("0x") else 8 if node.value.startswith("0o") else 10))


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file as the Pulumi CLI reads it (a copy: the cache keeps its
    own); a file that does not parse names the line, the column and the reason."""
    return copy.deepcopy(_parse_stack_file(path.read_text(), path.name))


# The keys of a stack file (the Pulumi CLI's ProjectStack): everything this program reads is
# under config:.
FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


@functools.lru_cache(maxsize=512)  # keyed by content: never stale
def _parse_stack_file(text: str, file_name: str) -> dict[str, Any]:
    loader = _Loader(text)
    try:
        # The first document only, as yaml.v3's Unmarshal.
        document = loader.construct_document(loader.get_node()) if loader.check_node() else None
    except yaml.YAMLError as err:
        raise ConfigError(file_name, "", f"not valid YAML at {_yaml_position(err, text)}") from None
    finally:
        loader.dispose()
    expected = f"expected a `config:` mapping with {NAMESPACE}:environment and {NAMESPACE}:platform or " \
               f"{NAMESPACE}:attachTo"
    if document is None:
        raise ConfigError(file_name, "", ("has only comments" if text.strip() else "is empty") + f"; {expected}")
    if not isinstance(document, dict):
        raise ConfigError(file_name, "", expected)
    for key in (k for k in document if k not in FILE_KEYS):
        close = difflib.get_close_matches(str(key), FILE_KEYS, n=1)
        raise ConfigError(file_name, "", f"{key!s}: " + (
            "outside `config:`; indent it under config:" if ":" in str(key) or key in FILE_KEYS else
            f"not a key of a stack file (did you mean {close[0]}?)" if close else
            f"not a key of a stack file; expected {', '.join(FILE_KEYS)}"))
    config = document.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError(file_name, "", expected)
    return config


# libyaml's reason -> what to do about it.
_HINTS = {"while scanning an alias": "an unquoted value starting with * is a YAML alias; quote it, "
                                     "e.g. host: '*.example.com'",
          "did not find expected key": "this line is indented less than the keys above it and more "
                                       "than their parent: indent it as the keys it belongs with",
          "mapping values are not allowed": "this line is indented deeper than the key above it (or a "
                                            "value holds ': '): indent it as its siblings, or quote the value"}


def _yaml_position(err: yaml.YAMLError, text: str = "") -> str:
    """``line L, column C: reason`` (1-based), never the file's text (it may hold a secret)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    reason = getattr(err, "problem", None) or getattr(err, "context", None)
    context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
    if reason and context and context != reason and context_mark is not None:
        reason += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    hint = next((h for words, h in _HINTS.items() if words in f"{reason} {context}"), None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"
    return f"{where}: {reason or 'the YAML parser refused it'}" + (f"; {hint}" if hint else "")


@dataclass(frozen=True)
class StackFile:
    """One stack file and what it says about its place in the fleet."""

    name: str
    path: Path
    config: Mapping[str, Any]  # raw (``{secure: ...}`` left as it is); {} when unreadable
    error: ConfigError | None = None  # why the file cannot be read: its own stack and the fleet check fail

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def is_owner(self) -> bool:  # a file with both keys is refused by the program itself
        return PLATFORM_KEY in self.config

    @property
    def owner(self) -> str | None:  # the owner an attached stack names, short form
        if self.is_owner:
            return None
        reference = self.config.get(ATTACH_KEY)
        return short_stack(reference) if isinstance(reference, str) else None

    @property
    def role(self) -> str:
        return "owner" if self.is_owner else "attached" if self.owner else "unknown"

    @classmethod
    def read(cls, path: Path) -> StackFile:  # a broken file is a StackFile with its error
        try:
            return cls(stack_name(path), path, read_stack_file(path))
        except ConfigError as err:
            return cls(stack_name(path), path, {}, err)

    @property
    def environment(self) -> Mapping[str, Any]:  # raw; {} when absent or not a mapping
        raw = self.config.get(ENVIRONMENT_KEY)
        return raw if isinstance(raw, Mapping) else {}

    @property
    def environment_name(self) -> str | None:
        name = self.environment.get("name", self.name)
        return name if isinstance(name, str) else None

    @property
    def audiences(self) -> set[str]:
        auth = self.environment.get("auth")
        values = auth.get("audiences", []) if isinstance(auth, Mapping) else []
        return {a for a in values if isinstance(a, str)} if isinstance(values, list) else set()


@dataclass(frozen=True)
class StackSet:
    """Every stack file of one project folder, by stack name (sorted)."""

    project_dir: Path
    stacks: Mapping[str, StackFile]

    @classmethod
    def load(cls, project_dir: Path) -> StackSet:  # each file on its own: a broken one blocks nobody
        return cls(project_dir, {stack_name(p): StackFile.read(p) for p in stack_files(project_dir)})

    @staticmethod
    def names_in(project_dir: Path) -> list[str]:  # without reading the files
        return sorted(stack_name(p) for p in stack_files(project_dir))

    def __iter__(self) -> Iterator[StackFile]:
        return iter(self.stacks.values())

    def __contains__(self, name: object) -> bool:
        return name in self.stacks

    def __getitem__(self, name: str) -> StackFile:
        return self.stacks[name]

    @property
    def names(self) -> list[str]:
        return list(self.stacks)

    @property
    def owners(self) -> list[str]:
        return [s.name for s in self if s.is_owner]

    @property
    def attached(self) -> list[str]:
        return [s.name for s in self if not s.is_owner]

    def others(self, name: str) -> list[StackFile]:
        return [s for s in self if s.name != name]

    def attached_to(self, owner: str) -> list[StackFile]:
        return [s for s in self if s.owner == owner]

    def rollout_order(self) -> list[str]:  # owners first: their outputs feed the others
        return self.owners + self.attached


def stack_folders(project_dir: Path) -> list[Path]:
    """The folders of stack files the offline tools know: the project, its examples, bootstrap."""
    examples = project_dir / EXAMPLES_DIR
    return [project_dir,
            *(sorted(p for p in examples.iterdir() if p.is_dir()) if examples.is_dir() else []),
            *([project_dir / BOOTSTRAP_DIR] if (project_dir / BOOTSTRAP_DIR).is_dir() else [])]


def locate(stack: str, project_dir: Path) -> Path | None:
    """The folder holding ``Pulumi.<stack>.yaml`` (the project's own stacks first)."""
    return next((folder for folder in stack_folders(project_dir)
                 if (folder / stack_file_name(stack)).exists()), None)


def every_stack_name(project_dir: Path) -> list[str]:  # every stack the offline tools preview
    return sorted({name for folder in stack_folders(project_dir)
                   for name in StackSet.names_in(folder)})
