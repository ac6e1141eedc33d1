"""The one error a stack's configuration raises: it names the file, the key, the value and what is
expected. A ``pulumi.RunError``, so ``pulumi up`` prints its one line and no traceback."""

from __future__ import annotations

import pulumi

# The project's name (Pulumi.yaml) and so the namespace of every config key: stated once.
NAMESPACE = "istio-envs"


class ConfigError(pulumi.RunError):
    """A stack file value is wrong. The message names the file, the key, the value and the fix."""

    def __init__(self, stack_file: str, key: str, problem: str) -> None:
        self.stack_file = stack_file
        self.key = key
        # No key: the file as a whole is unreadable.
        super().__init__(f"{stack_file}: {NAMESPACE}:{key}: {problem}" if key else f"{stack_file}: {problem}")
