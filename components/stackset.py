"""The project's stack files, read once: the one place that knows which stacks exist.

Every ``Pulumi.<stack>.yaml`` beside ``Pulumi.yaml`` is a stack. Each one's role comes from its
config: an **owner** declares ``istio-envs:platform``, an **attached** stack names its owner in
``istio-envs:attachTo``. The program's config loading, the preview, the policy pack's offline
side, ``new-env``, the workflow matrices, the bench and the tests all ask this module, so a new
stack file joins everything at once and nothing restates the list.

Only raw YAML values live here (no validation): ``components.config`` validates a stack and
uses its siblings for the cross-stack rules.
"""

from __future__ import annotations

import copy
import functools
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


def stack_name(path: Path) -> str:
    """``Pulumi.<stack>.yaml`` -> ``<stack>``."""
    return path.name[len("Pulumi."):-len(".yaml")]


def short_stack(reference: str) -> str:
    """``org/project/stack`` (a StackReference name) -> ``stack``."""
    return reference.rsplit("/", 1)[-1]


def stack_files(folder: Path) -> list[Path]:
    """The stack files of one folder, by stack name ("qa-x" sorts after "qa", although
    "Pulumi.qa-x.yaml" sorts before "Pulumi.qa.yaml")."""
    return sorted(folder.glob(STACK_FILE_GLOB), key=stack_name)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file, as raw YAML values read as the Pulumi CLI reads them
    (``components/stack_yaml``: yaml.v3's resolution, YAML 1.1-only scalars marked). A file
    that does not parse names the line, the column and the reason."""
    # A copy: callers own what they get, the cache keeps its own.
    return copy.deepcopy(_parse_stack_file(path.read_text(), path.name))


@functools.lru_cache(maxsize=512)
def _parse_stack_file(text: str, file_name: str) -> dict[str, Any]:
    """Parsed once per text in a process: every stack's config load reads every sibling file,
    so a fleet preview of n stacks would parse n² files (keyed by content, never stale)."""
    try:
        document = _load_yaml(text, file_name) or {}
    except yaml.YAMLError as err:
        raise ConfigError(file_name, "", f"not valid YAML at {_yaml_position(err)}") from None
    config = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(file_name, "", "expected a `config:` mapping of config keys")
    return config


def _load_yaml(text: str, file_name: str) -> Any:
    from .stack_yaml import load

    return load(text, file_name)


def _yaml_position(err: yaml.YAMLError) -> str:
    """``line L, column C: reason`` (1-based), never the file's text (it may hold a secret)."""
    line, column, reason = (getattr(err, name, None) for name in ("line", "column", "reason"))
    if line is None:  # PyYAML's own error
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        reason = getattr(err, "problem", None) or getattr(err, "context", None)
    where = f"line {line}, column {column}" if line is not None else "an unknown position"
    return f"{where}: {reason or 'the YAML parser refused it'}"


@dataclass(frozen=True)
class StackFile:
    """One stack file and what it says about its place in the fleet."""

    name: str
    path: Path
    config: Mapping[str, Any]
    """The raw ``config:`` map (``{secure: ...}`` values left as they are)."""

    @property
    def file_name(self) -> str:
        return self.path.name

    @property
    def is_owner(self) -> bool:
        """Declares a platform (a file with both keys is refused by the program itself)."""
        return PLATFORM_KEY in self.config

    @property
    def owner(self) -> str | None:
        """The owner stack an attached stack names, short form; None for an owner."""
        if self.is_owner:
            return None
        reference = self.config.get(ATTACH_KEY)
        return short_stack(reference) if isinstance(reference, str) else None

    @property
    def role(self) -> str:
        return "owner" if self.is_owner else "attached" if self.owner else "unknown"

    @property
    def environment(self) -> Mapping[str, Any]:
        """The raw ``istio-envs:environment`` mapping ({} when absent or not a mapping)."""
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
    def load(cls, project_dir: Path) -> StackSet:
        paths = stack_files(project_dir)
        return cls(project_dir, {stack_name(p): StackFile(stack_name(p), p, read_stack_file(p))
                                 for p in paths})

    @staticmethod
    def names_in(project_dir: Path) -> list[str]:
        """The stack names of a folder without reading the files (for messages and lookups)."""
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

    def rollout_order(self) -> list[str]:
        """Owners first (their outputs feed the others), then attached stacks."""
        return self.owners + self.attached


def stack_folders(project_dir: Path) -> list[Path]:
    """Every folder of stack files the offline tools know: the project, its examples, the
    bootstrap project."""
    examples = project_dir / EXAMPLES_DIR
    return [project_dir,
            *(sorted(p for p in examples.iterdir() if p.is_dir()) if examples.is_dir() else []),
            *([project_dir / BOOTSTRAP_DIR] if (project_dir / BOOTSTRAP_DIR).is_dir() else [])]


def locate(stack: str, project_dir: Path) -> Path | None:
    """The folder holding ``Pulumi.<stack>.yaml`` (the project's own stacks first)."""
    return next((folder for folder in stack_folders(project_dir)
                 if (folder / stack_file_name(stack)).exists()), None)


def every_stack_name(project_dir: Path) -> list[str]:
    """Every stack the offline tools can preview, in every folder."""
    return sorted({name for folder in stack_folders(project_dir)
                   for name in StackSet.names_in(folder)})
