"""Schema checks for rendered manifests: no unknown fields, right types, allowed values.

- Kubernetes objects: ``kubernetes-validate`` (strict) with the schemas of the cluster's minor
  version.
- Istio and cert-manager objects: ``preview/crds.py`` against the upstream CRDs of the pinned
  versions (``components/versions.py``), vendored in ``schemas/crds/``: their structural OpenAPI
  schema converted to JSON Schema as kubeconform does and checked by ``jsonschema`` (types, enums,
  required fields, formats, bounds, unknown fields), and their CEL rules
  (``x-kubernetes-validations``, evaluated by ``common-expression-language``).

Both report a problem where jsonschema's error places it (:func:`where`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import yaml

from components.versions import PLATFORM_KUBERNETES_MINORS

# The oldest Kubernetes minor the platform supports (every component's range, intersected):
# objects valid there are valid on every minor GKE may run the cluster at.
KUBERNETES_VERSION = PLATFORM_KUBERNETES_MINORS[0]
CUSTOM_GROUPS = ("istio.io/", "cert-manager.io/")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(object)'}: {self.message}"


def where(error: Any) -> str:
    """A jsonschema error's place in the object, ``spec.servers[0].tls`` (its JSONPath without
    the ``$.``; a key that is not a plain name is quoted: ``metadata.labels['app.kubernetes.io/name']``)."""
    return error.json_path.removeprefix("$").removeprefix(".")


class SchemasUnavailable(Exception):
    """A checker cannot run here: its CEL library is not installed, the vendored CRDs are missing,
    or a CRD has a CEL rule the checker cannot compile (``preview.crds.UnsupportedRule``)."""


def check(files: dict[str, str]) -> list[Problem]:
    """Every schema problem in ``files`` (manifest file name -> YAML text)."""
    kubernetes_validate = _kubernetes_validate()
    problems: list[Problem] = []
    custom = []
    for name, text in sorted(files.items()):
        body = yaml.load(text, Loader=_LOADER)
        if any(group in body["apiVersion"] for group in CUSTOM_GROUPS):
            custom.append({"file": name, "body": body})
            continue
        try:
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(Problem(name, where(err), err.message))
    if custom:
        problems += _check_custom(custom)
    return problems


def _kubernetes_validate():
    """kubernetes-validate, reading each JSON schema once per process: it re-reads the schema and
    its 1.4 MB ``_definitions.json`` on every object otherwise (they never change; read-only)."""
    import kubernetes_validate
    from kubernetes_validate import utils

    if not hasattr(utils.schema_contents, "cache_info"):
        cached: Any = functools.cache(utils.schema_contents)  # same arguments, same result
        utils.schema_contents = cached
    return kubernetes_validate


def _check_custom(items: list[dict]) -> list[Problem]:
    from . import crds

    return [problem for item in items for problem in crds.check(item["file"], item["body"])]
