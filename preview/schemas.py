"""Schema checks for rendered manifests: no unknown fields, right types, allowed values.

- Kubernetes objects: ``kubernetes-validate`` (strict) with the schemas of the cluster's minor
  version.
- Istio and cert-manager objects: ``schemas/check.mjs`` with the ``@kubernetes-models`` packages
  generated from Istio 1.29's and cert-manager 1.20's CRDs (validators for types, enums and
  required fields; their TypeScript declarations for unknown fields). It needs Node.js and
  ``npm ci --prefix schemas`` (the Makefile does it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

# GKE's REGULAR channel runs 1.33-1.35 during 2026; validate against the oldest we target.
KUBERNETES_VERSION = "1.33"
CUSTOM_GROUPS = ("istio.io/", "cert-manager.io/")
CHECKER = Path(__file__).resolve().parent.parent / "schemas" / "check.mjs"


@dataclass(frozen=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(object)'}: {self.message}"


class SchemasUnavailable(Exception):
    """A checker cannot run here (no Node.js or `npm ci --prefix schemas` not done)."""


def check(files: dict[str, str]) -> list[Problem]:
    """Every schema problem in ``files`` (manifest file name -> YAML text)."""
    import kubernetes_validate

    problems: list[Problem] = []
    custom = []
    for name, text in sorted(files.items()):
        body = yaml.safe_load(text)
        if any(group in body["apiVersion"] for group in CUSTOM_GROUPS):
            custom.append({"file": name, "body": body})
            continue
        try:
            kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(Problem(name, ".".join(str(p) for p in err.path), err.message))
    if custom:
        problems += _check_custom(custom)
    return problems


def _check_custom(items: list[dict]) -> list[Problem]:
    node = shutil.which("node")
    if node is None or not (CHECKER.parent / "node_modules").is_dir():
        raise SchemasUnavailable("Istio/cert-manager schema checks need Node.js and "
                                 "`npm ci --prefix schemas` (make does it)")
    done = subprocess.run([node, str(CHECKER)], input=json.dumps(items), capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise SchemasUnavailable(f"schemas/check.mjs failed: {done.stderr.strip()[:300]}")
    return [Problem(**found) for found in json.loads(done.stdout)]
