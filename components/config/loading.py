"""One stack's configuration: :class:`StackKeys`, every ``istio-envs:<key>`` of a stack file over
the models of the environment and the platform, with the rules across the top-level keys (one of
``platform`` and ``attachTo``, the PEM values), and its loading with every problem reported
together. Values come from the engine (Pulumi's config), or from this stack's file where it says
the same (it keeps the marks of YAML 1.1-only numbers such as ``0755``). The rules across stack
files are fleet.py's; an attached stack learns its owner's facts from the owner's outputs."""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pulumi
from pydantic import ValidationError, ValidationInfo, model_validator

from ..errors import NAMESPACE, ConfigError, Problem
from ..stackset import StackSet, read_stack_file, short_stack, stack_file_name
from . import certificates as x509
from . import types as t
from .certificates import SecretText
from .environment import EnvironmentConfig
from .messages import problems as validation_problems
from .platform import PlatformConfig, ProvidedTls
from .types import Model, refuse, show


def _missing(key: str, why: str, command: str) -> tuple[str, str]:
    return key, f"missing; {why}, so set {command}"


class StackKeys(Model):
    """Every ``istio-envs:<key>`` of a stack file (the schema of ``config:``) and the rules across
    them, read with the validation context's ``now``, ``stack``, ``stack_file``, ``private_key``
    and ``partial`` (the file's values alone, where a PEM may be set outside it)."""

    environment: EnvironmentConfig
    """Every stack: its environment (`istio-envs:environment` below)."""
    platform: PlatformConfig | None = None
    """The owner stack: the platform it declares (`istio-envs:platform` below); exactly one of
    `platform` and `attachTo`."""
    attach_to: t.StackReference | None = None
    """An attached stack: the owner stack it joins (`dev`, or `<org>/istio-envs/dev`: with a gs://
    backend the org is always `organization`)."""
    tls_certificate: t.PemCertificate | None = None
    """The PEM certificate chain, with `tls.source: provided` only."""
    tls_private_key: str | None = None
    """Its PEM key, a secret (`pulumi config set --secret`), with `tls.source: provided` only."""
    client_ca_certificate: t.PemCertificate | None = None
    """The client CA's PEM certificate (public), with `environment.tls.clientCa: provided` only."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        given = info.context or {}
        now = given.get("now") or datetime.datetime.now(datetime.timezone.utc)
        key, partial, env, platform = given.get("private_key", False), given.get("partial", False), \
            self.environment, self.platform
        found: list[tuple[str, str]] = []
        if (platform is None) == (self.attach_to is None):
            found.append(("platform" if platform is not None else "attachTo", "expected exactly one "
                          "of `platform` (this stack owns the cluster) or `attachTo: <owner stack>` "
                          "(this stack joins the owner's cluster)"))
        if self.attach_to is not None and self.attach_to.rsplit("/", 1)[-1] == given.get("stack"):
            found.append(("attachTo", f"got {show(self.attach_to)}, this stack itself; expected the "
                                      "stack that owns the platform"))
        tls = platform.tls if platform else None
        for name, value in (("tlsCertificate", self.tls_certificate), ("tlsPrivateKey", key)):
            if value and not isinstance(tls, ProvidedTls):
                found.append((name, f"set, but this stack is attached: the certificate is its owner's; "
                              f"expected no {name}" if tls is None else f"set, but platform.tls.source "
                              f"is {tls.source}; {name} applies to tls.source provided only, expected no {name}"))
        if isinstance(tls, ProvidedTls) and platform and self.tls_certificate:
            try:
                cert, facts = x509.server_certificate(self.tls_certificate, now, tls.expiry_warning_days)
                tls = tls.model_copy(update={"certificate": facts, "dns_names": facts.names})
                if key is False and not partial:
                    found.append(_missing("tlsPrivateKey", "tls.source is 'provided'", "the PEM key with "
                                          "`pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`"))
                elif isinstance(key, SecretText):
                    x509.check_key_matches(cert, key)
            except x509.Refused as refused:
                found.append(refused.args)
            host = platform.host_for(env.name)
            if tls.certificate and not x509.host_covered(host, tls.dns_names):
                found.append(("tlsCertificate", f"does not cover {host} (the host of "
                              f"{given.get('stack_file', 'this stack file')}); expected a certificate for "
                              f"every environment host of the platform (its names: {', '.join(tls.dns_names)})"))
        elif isinstance(tls, ProvidedTls) and not partial:
            found.append(_missing("tlsCertificate", "tls.source is 'provided'", "the PEM certificate chain "
                                  "with `pulumi config set tlsCertificate -- \"$(cat fullchain.pem)\"` and the "
                                  "key with `pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`"))
        client, pem = env.tls, self.client_ca_certificate
        if pem and client.client_ca != "provided":
            found.append(("clientCaCertificate", "set, but environment.tls.mode is SIMPLE; expected "
                          "environment.tls.mode: MUTUAL with clientCa: provided" if not client.mutual
                          else "set, but environment.tls.clientCa is self-signed; expected clientCa: "
                          "provided, or no clientCaCertificate"))
        elif pem and client.mutual:
            try:
                client = client.model_copy(update={"ca": x509.check_client_ca(pem, now)})
            except x509.Refused as refused:
                found.append(refused.args)
        elif client.client_ca == "provided" and client.mutual and not partial:
            found.append(_missing("clientCaCertificate", "environment.tls.clientCa is provided", "the "
                                  "client CA's PEM certificate with `pulumi config set clientCaCertificate "
                                  "-- \"$(cat client-ca.pem)\"`"))
        if platform and env.mesh_revision not in platform.mesh.tags:
            found.append(("environment.meshRevision", f"got {show(env.mesh_revision)}, but platform.mesh "
                          f"installs no revision tagged {env.mesh_revision} (its tags: "
                          f"{', '.join(platform.mesh.tags)}); expected one of them, or a revision "
                          f"tagged {env.mesh_revision} in platform.mesh.revisions"))
        if platform and platform.cluster.rbac_security_group is None:
            found += [(f"environment.owners[{i}]", f"got {show(owner)}, a group, but the platform has "
                       "no Google Groups for RBAC; expected platform.cluster.rbacSecurityGroup set on "
                       "the owner stack, or user: owners") for i, owner in enumerate(env.owners)
                      if owner.startswith("group:")]
        refuse(*found)
        return self.model_copy(update={"environment": env.model_copy(update={"tls": client}),
                                       **({"platform": platform.model_copy(update={"tls": tls})} if platform else {})})


TOP_LEVEL_KEYS = tuple(field.alias or name for name, field in StackKeys.model_fields.items())
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
# The sub-keys of the two sections, for a key that lost its indentation.
SECTION_KEYS = {section: {info.alias for info in model.model_fields.values()}
                for section, model in (("environment", EnvironmentConfig), ("platform", PlatformConfig))}
# Provider keys the program does not read (its providers are explicit): why, and what to set.
PROVIDERS = {"gcp": ("its GCP provider is explicit, configured from istio-envs:platform", "istio-envs:platform"),
             "kubernetes": ("its Kubernetes provider is explicit, built for the platform's cluster",
                            "istio-envs:platform.cluster, or istio-envs:attachTo")}
INSTEAD = {"gcp:project": "istio-envs:platform.project", "gcp:region": "istio-envs:platform.region",
           "gcp:zone": "istio-envs:platform.zones", "kubernetes:namespace": "istio-envs:environment.name "
           "(the namespace is the environment's)"}


@dataclass(frozen=True)
class StackConfig:
    stack: str
    stack_file: str
    environment: EnvironmentConfig
    platform: PlatformConfig | None
    """The platform this stack declares (owner); None when attached: its owner's facts are the
    owner's stack outputs."""
    owner_stack: str | None  # fully qualified StackReference name when attached
    platform_owners: tuple[str, ...] = ()
    """Owner only: every environment owner on this platform (this stack's and each readable stack
    file attached to it), who get cluster credentials from the owner's IAM grants."""

    @property
    def owns_platform(self) -> bool:
        return self.platform is not None


def check_keys(stack_file: str, file_config: Mapping[str, Any] | None,
               engine_keys: Iterable[str]) -> tuple[list[Problem], set[str]]:
    """The problems of the keys under ``config:``, and the keys a misplaced one was meant to be
    (``environment``, ``environment.quota``), so that "missing" is not said of them as well."""
    problems: list[Problem] = []
    meant: set[str] = set()
    every = f"expected one of {', '.join(f'{NAMESPACE}:{k}' for k in TOP_LEVEL_KEYS)}"
    for key in dict.fromkeys([*map(str, file_config or {}), *engine_keys]):
        namespace, colon, name = key.partition(":")
        head = re.split(r"[.\[]", name, maxsplit=1)[0]
        sections = [f"{NAMESPACE}:{s}.{name or key}" for s, keys in SECTION_KEYS.items() if (name or key) in keys]
        if namespace == "pulumi" and colon or namespace == NAMESPACE and name in TOP_LEVEL_KEYS:
            continue
        if key == NAMESPACE or namespace == NAMESPACE and not name:
            value = (file_config or {}).get(key)
            meant.update(k for k in value if k in TOP_LEVEL_KEYS) if isinstance(value, Mapping) else None
            problems.append(Problem(stack_file, key, f"a mapping of keys under {NAMESPACE}: is not read; "
                                    f"write each key as {NAMESPACE}:<key> at the config level ({NAMESPACE}"
                                    f":environment:, {NAMESPACE}:platform: ...)", namespace=""))
        elif not colon:
            meant.update([key] if key in TOP_LEVEL_KEYS else [s.split(":")[1] for s in sections])
            hint = f"expected {NAMESPACE}:{key}" if key in TOP_LEVEL_KEYS else f"did you mean " \
                f"{' or '.join(sections)}? (it is indented one level too shallow)" if sections else every
            problems.append(Problem(stack_file, key, f"not read: a config key needs its namespace; {hint}",
                                    namespace=""))
        elif namespace == NAMESPACE and head != name and head in TOP_LEVEL_KEYS:
            meant.add(head)
            problems.append(Problem(stack_file, name, f"config keys are not paths; nest the value under "
                                    f"{NAMESPACE}:{head} (as its YAML mapping), or set it with `pulumi config "
                                    f"set --path '{key}' <value>`"))
        elif namespace == NAMESPACE:
            close = difflib.get_close_matches(name, TOP_LEVEL_KEYS, n=1)
            hint = (f"did you mean {' or '.join(sections)}? ({name} is a key of "
                    f"{' or '.join(s.split(':')[1].split('.')[0] for s in sections)})" if sections
                    else f"did you mean {NAMESPACE}:{close[0]}?" if close else "")
            problems.append(Problem(stack_file, name, f"unknown key; expected one of "
                                    f"{', '.join(TOP_LEVEL_KEYS)}" + (f" ({hint})" if hint else "")))
        elif namespace in PROVIDERS:
            why, default = PROVIDERS[namespace]
            problems.append(Problem(stack_file, name, f"not read: this program ignores {namespace}:* keys "
                                    f"({why}); set {INSTEAD.get(key, default)} instead", namespace=namespace))
        else:
            problems.append(Problem(stack_file, name, f"not read: this program reads {NAMESPACE}:* "
                                    f"keys (and the engine pulumi:*); {every}", namespace=namespace))
    return problems, meant


def validate(stack: str, raw: Mapping[str, Any], now: datetime.datetime | None = None,
             stack_file: str | None = None, partial: bool = False) -> tuple[StackKeys | None, list[Problem]]:
    """``raw`` (top-level key -> value, ``tlsPrivateKey`` a str, True when set but unreadable)
    as a validated :class:`StackKeys`, or None with every problem. ``partial``: the values are
    the file's alone, and a PEM missing there may be set outside it (the fleet check)."""
    stack_file = stack_file or stack_file_name(stack)
    values = {k: v for k, v in raw.items() if v is not None and k != "tlsPrivateKey"}
    key = raw.get("tlsPrivateKey")
    context = {"stack": stack, "stack_file": stack_file, "now": now, "partial": partial,
               "private_key": SecretText(key) if isinstance(key, str) else key is not None}
    try:
        return StackKeys.model_validate(values, context=context, by_alias=True, by_name=False), []
    except ValidationError as err:
        return None, list(validation_problems(err, StackKeys, stack_file))


def load(stack: str, project_dir: Path | None = None, read: Callable[[str], Any] | None = None,
         known_keys: Sequence[str] | None = None, now: datetime.datetime | None = None) -> StackConfig:
    """Validate this stack's configuration; raise :class:`ConfigError` with every problem. ``read(key)``
    (the decoded value of ``istio-envs:<key>`` or None) and ``known_keys`` (every key the engine
    passed) default to Pulumi's runtime config; the stack file is read from ``project_dir``."""
    stack_file = stack_file_name(stack)
    # The engine runs the program with the project root (Pulumi.yaml, the stack files) set.
    project_dir = project_dir or Path(pulumi.get_root_directory() or PROJECT_DIR)
    if read is None:
        read, known_keys = _pulumi_reader()
    path = project_dir / stack_file
    file_config = (read_stack_file(path) if path.exists() else None) or {}
    problems, meant = check_keys(stack_file, file_config, known_keys or ())

    def value(key: str) -> Any:
        """The file's value when it says what the engine passed: it keeps the marks of the YAML
        1.1-only numbers the engine's JSON has lost (``0755`` is 493 in both)."""
        engine, written = read(key), file_config.get(f"{NAMESPACE}:{key}")
        return written if written is not None and written == engine else engine

    keys, found = validate(stack, {key: value(key) for key in TOP_LEVEL_KEYS}, now, stack_file)
    # A key written in the wrong place is one problem: not also "missing" where it belongs.
    problems += [p for p in found if not (p.key in meant and p.message.startswith(("missing", "expected exactly one")))]
    if problems or keys is None:
        raise ConfigError(problems=problems) from None
    owners = set(keys.environment.owners)
    for other in StackSet.load(project_dir).attached_to(short_stack(stack)) if keys.platform else ():
        # Each readable owner of an attached file (a broken one is its own and the fleet check's).
        raw = other.environment.get("owners")
        owners |= {o for o in raw if isinstance(o, str) and o.partition(":")[0] in ("user", "group")
                   and "@" in o} if isinstance(raw, list) else set()
    return StackConfig(stack=stack, stack_file=stack_file, environment=keys.environment, platform=keys.platform,
                       owner_stack=keys.attach_to, platform_owners=tuple(sorted(owners)) if keys.platform else ())


def _pulumi_reader() -> tuple[Callable[[str], Any], list[str]]:
    """Read values through Pulumi's own config (the engine's decrypted values)."""
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(NAMESPACE)

    def read(key: str) -> Any:
        if key in ("tlsCertificate", "tlsPrivateKey", "clientCaCertificate"):
            return config.get(key)  # PEM text, never JSON
        try:
            return config.get_object(key)
        except (pulumi.ConfigTypeError, json.JSONDecodeError, ValueError):
            return config.get(key)  # not JSON: a plain string; its type names the expected form

    return read, sorted(set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env()))


def private_key_secret() -> pulumi.Output[str]:
    """The provided certificate's private key, only ever as a Pulumi secret."""
    return pulumi.Config(NAMESPACE).require_secret("tlsPrivateKey")
