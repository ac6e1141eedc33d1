"""Helpers to write edited copies of the shipped stack files into a temporary project."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Callable
from pathlib import Path

import yaml
from conftest import STACKS

from preview.democert import issue

NS = "istio-envs"

def certificate(names: list[str], days: int = 90, expired: bool = False) -> tuple[str, str]:
    """A throwaway CA-signed certificate chain for ``names`` and its key, PEM."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return issue(names, days, not_before=now - datetime.timedelta(days=days + 10) if expired else None)

def shipped() -> dict[str, dict]:
    return {stack.file_name: yaml.safe_load(stack.path.read_text()) for stack in STACKS}

def platform(files):
    return files["Pulumi.dev.yaml"]["config"][f"{NS}:platform"]

def provided(names, expired=False, with_key=True, days=90, wrong_key=False, key_text=None):
    """Owner uses a provided certificate for ``names``; the matching key (or another one, or
    ``key_text``) becomes the secret stand-in the preview passes for the encrypted value."""
    def edit(files):
        cert, key = certificate(names, days=days, expired=expired)
        platform(files)["tls"] = {"source": "provided"}
        platform(files)["dns"] = {"zone": "create", "caaIssuers": ["digicert.com"]}
        files["Pulumi.dev.yaml"]["config"][f"{NS}:tlsCertificate"] = cert
        if with_key:
            files["Pulumi.dev.yaml"]["config"][f"{NS}:tlsPrivateKey"] = {"secure": "v1:AAAA"}
            stand_in = key_text or (certificate(names)[1] if wrong_key else key)
            files[SECRETS] = {f"{NS}:tlsPrivateKey": stand_in}
    return edit

SECRETS = "secrets.json"

def secrets_for(project: Path) -> dict[str, str]:
    """The stand-ins for encrypted values an edit made (what `--secret` passes)."""
    path = project / SECRETS
    return json.loads(path.read_text()) if path.exists() else {}

def set_key(path: str, value, stack="dev") -> Callable[[dict], None]:
    """Edit one value by a dotted path under the stack's config (``[i]`` for list items)."""
    def edit(files):
        node = files[f"Pulumi.{stack}.yaml"]["config"]
        parts = path.replace("]", "").replace("[", ".").split(".")
        # The first part is a config key with a namespace, e.g. istio-envs:environment.
        keys = [f"{NS}:{parts[0]}"] + [int(p) if p.isdigit() else p for p in parts[1:]]
        for key in keys[:-1]:
            node = node[key]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return edit

DELETE = object()

def write_project(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    files = copy.deepcopy(shipped())
    edit(files)
    secrets = files.pop(SECRETS, None)
    if secrets:
        (tmp_path / SECRETS).write_text(json.dumps(secrets))
    for name, document in files.items():
        (tmp_path / name).write_text(yaml.safe_dump(document, sort_keys=False))
    return tmp_path
