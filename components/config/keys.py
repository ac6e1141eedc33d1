"""Every key under ``config:`` is one the program reads, or an error that names it.

Pulumi passes a program every key of its stack file, whatever the namespace; a key the program
never reads would be ignored without a word. So each key of the stack file (and each key the
engine passed) is one of:

- ``istio-envs:<key>`` for a key of :data:`TOP_LEVEL_KEYS`;
- ``pulumi:*``, the engine's own;
- anything else, refused with what was meant: a key without the namespace (``environment:``, or
  a ``quota:`` block indented one level too shallow), a nested ``istio-envs:`` mapping, a path
  such as ``istio-envs:environment.routes[0].path``, or a key of a provider this program
  configures explicitly (``gcp:project`` -> ``istio-envs:platform.project``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import NAMESPACE, Problem
from .models import TOP_LEVEL_KEYS, EnvironmentConfig, PlatformConfig

ENGINE_NAMESPACE = "pulumi"
# The sub-keys of the two sections, for a key that lost its indentation.
SECTION_KEYS = {section: tuple(info.alias or name for name, info in model.model_fields.items())
                for section, model in (("environment", EnvironmentConfig), ("platform", PlatformConfig))}
# Provider keys the program does not read (its providers are explicit), and what to set instead.
PROVIDER_KEYS = {
    "gcp": ("its GCP provider is explicit, configured from istio-envs:platform", {
        "project": "istio-envs:platform.project", "region": "istio-envs:platform.region",
        "zone": "istio-envs:platform.zones"}, "istio-envs:platform"),
    "kubernetes": ("its Kubernetes provider is explicit, built for the platform's cluster", {
        "namespace": "istio-envs:environment.name (the namespace is the environment's)",
        "context": "istio-envs:attachTo (the owner's cluster) or istio-envs:platform.cluster",
        "kubeconfig": "istio-envs:attachTo (the owner's cluster) or istio-envs:platform.cluster"},
        "istio-envs:platform.cluster, or istio-envs:attachTo"),
}


def _qualified(key: str) -> str:
    return f"{NAMESPACE}:{key}"


def _suggest_section(name: str, prefixed: bool = False) -> str | None:
    sections = [s for s, keys in SECTION_KEYS.items() if name in keys]
    if not sections:
        return None
    meant = " or ".join(_qualified(f"{s}.{name}") for s in sections)
    why = f"{name} is a key of {' or '.join(sections)}" if prefixed else \
        "it is indented one level too shallow"
    return f"did you mean {meant}? ({why})"


def check_keys(stack_file: str, file_config: Mapping[str, Any] | None,
               engine_keys: Iterable[str]) -> tuple[list[Problem], set[str]]:
    """The problems of the keys, and the keys that a misplaced one was meant to be
    (``environment``, ``environment.quota``), so that "missing" is not said of them as well."""
    problems: list[Problem] = []
    meant: set[str] = set()
    keys = list(dict.fromkeys([*(str(k) for k in (file_config or {})), *engine_keys]))
    for key in keys:
        namespace, colon, name = key.partition(":")
        if namespace == ENGINE_NAMESPACE and colon:
            continue
        if not colon:
            value = (file_config or {}).get(key)
            problems.append(_without_namespace(stack_file, key, value, meant))
        elif namespace == NAMESPACE:
            if name in TOP_LEVEL_KEYS:
                continue
            problems.append(_unknown(stack_file, name, meant))
        elif namespace in PROVIDER_KEYS:
            why, instead, default = PROVIDER_KEYS[namespace]
            problems.append(Problem(stack_file, name, f"not read: this program ignores {namespace}:* "
                                    f"keys ({why}); set {instead.get(name, default)} instead",
                                    namespace=namespace))
        else:
            problems.append(Problem(stack_file, name, f"not read: this program reads "
                                    f"{NAMESPACE}:* keys (and the engine pulumi:*); expected one of "
                                    f"{', '.join(_qualified(k) for k in TOP_LEVEL_KEYS)}",
                                    namespace=namespace))
    return problems, meant


def _without_namespace(stack_file: str, key: str, value: Any, meant: set[str]) -> Problem:
    if key == NAMESPACE:
        if isinstance(value, Mapping):
            meant.update(k for k in value if k in TOP_LEVEL_KEYS)
        return Problem(stack_file, key, "a mapping of keys under istio-envs: is not read; write "
                       f"each key as {NAMESPACE}:<key> at the config level ({NAMESPACE}:environment:, "
                       f"{NAMESPACE}:platform: ...)", namespace="")
    if key in TOP_LEVEL_KEYS:
        meant.add(key)
        return Problem(stack_file, key, "not read: a config key needs its namespace; expected "
                       f"{_qualified(key)}", namespace="")
    hint = _suggest_section(key)
    if hint:
        meant.update(f"{section}.{key}" for section, keys in SECTION_KEYS.items() if key in keys)
    return Problem(stack_file, key, "not read: a config key needs its namespace; "
                   + (hint or f"expected one of {', '.join(_qualified(k) for k in TOP_LEVEL_KEYS)}"),
                   namespace="")


def _unknown(stack_file: str, name: str, meant: set[str]) -> Problem:
    head = re.split(r"[.\[]", name, maxsplit=1)[0]
    if head != name and head in TOP_LEVEL_KEYS:
        meant.add(head)
        return Problem(stack_file, name, "config keys are not paths; nest the value under "
                       f"{_qualified(head)} (as its YAML mapping), or set it with "
                       f"`pulumi config set --path '{_qualified(name)}' <value>`")
    if not name:
        return _without_namespace(stack_file, NAMESPACE, None, meant)
    close = difflib.get_close_matches(name, TOP_LEVEL_KEYS, n=1)
    hint = _suggest_section(name, prefixed=True) or (f"did you mean {_qualified(close[0])}?" if close else "")
    return Problem(stack_file, name, f"unknown key; expected one of {', '.join(TOP_LEVEL_KEYS)}"
                   + (f" ({hint})" if hint else ""))
