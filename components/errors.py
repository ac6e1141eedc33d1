"""The error a stack's configuration raises: every problem found, one line each, naming the file,
the key, the value and what is expected. A ``pulumi.RunError``, so ``pulumi up`` prints the
lines and no traceback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

# The project's name (Pulumi.yaml) and so the namespace of every config key: stated once.
NAMESPACE = "istio-envs"
# A file with more problems than this shows the first ones and how many more there are.
SHOWN_PROBLEMS = 10


@dataclass(frozen=True)
class Problem:
    """One wrong value (or key) of one stack file."""

    stack_file: str
    key: str
    """The key inside its namespace, e.g. ``environment.routes[0].port``; "" for the file as a
    whole (unreadable, or misnamed)."""
    message: str
    namespace: str = NAMESPACE
    """The key's namespace: ``istio-envs``, another one (``gcp``), or "" for a key written
    without one."""

    @property
    def config_key(self) -> str:
        """The key as written under ``config:`` (``istio-envs:environment.quota``)."""
        return f"{self.namespace}:{self.key}" if self.namespace else self.key

    def __str__(self) -> str:
        return f"{self.stack_file}: {self.config_key}: {self.message}" if self.key else \
            f"{self.stack_file}: {self.message}"


class ConfigError(pulumi.RunError):
    """Stack file values are wrong. ``problems`` holds every one found; ``stack_file`` and
    ``key`` are the first one's. The message is one line per problem (the first
    :data:`SHOWN_PROBLEMS`, then ``(and N more)``)."""

    def __init__(self, stack_file: str = "", key: str = "", problem: str = "", *,
                 problems: Sequence[Problem] = ()) -> None:
        self.problems: list[Problem] = list(problems) or [Problem(stack_file, key, problem)]
        first = self.problems[0]
        self.stack_file = first.stack_file
        self.key = first.key
        lines = [str(p) for p in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"(and {len(self.problems) - SHOWN_PROBLEMS} more)")
        super().__init__("\n".join(lines))
