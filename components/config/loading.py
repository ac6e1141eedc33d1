"""Loading one stack's configuration: its keys, its models, its owner's platform, the rules
across stack files, and every problem found on the way, reported together.

Values come from the engine (Pulumi's config: strings, objects as JSON, secrets decrypted);
where the stack file says the same, the file's value is used, read as the Pulumi CLI reads it
(``components.stackset``), so a YAML 1.1-only number such as ``0755`` is still recognized.
Sibling stack files come from :class:`~components.stackset.StackSet`: the owner's platform (an
attached stack takes its names from it) and the cross-stack rules (environment names and
audiences unique, the provided certificate covers every host of the platform).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from ..errors import NAMESPACE, ConfigError
from ..stackset import ENVIRONMENT_KEY, PLATFORM_KEY, StackSet, short_stack, stack_file_name
from .certificates import SecretText, host_covered
from .keys import check_keys
from .models import (
    ACME_CAA_ISSUER,
    RESERVED_NAMESPACES,
    TLS_SOURCES,
    TOP_LEVEL_KEYS,
    EnvironmentConfig,
    PlatformConfig,
    ProvidedTls,
    StackKeys,
)
from .rules import Checks, default_zone_name
from .types import DNS_LABEL, DNS_LABEL_RULE, OWNER_PATTERN, show
from .validation import annotated, validate

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
PEM_KEYS = ("tlsCertificate", "tlsPrivateKey", "clientCaCertificate")


@dataclass(frozen=True)
class StackConfig:
    stack: str
    stack_file: str
    environment: EnvironmentConfig
    # The platform this environment runs on: declared here (owner) or the owner's, read from its
    # stack file (attached). Attached stacks use it for names only; live values come through
    # the StackReference.
    platform: PlatformConfig
    owns_platform: bool
    owner_stack: str | None  # fully qualified StackReference name when attached
    # Owner only: every environment owner on this platform (this stack's and each attached stack
    # file's), who get cluster credentials from the owner's IAM grants.
    platform_owners: tuple[str, ...] = ()

    @property
    def host(self) -> str:
        return self.platform.host_for(self.environment.name)


def _key_type(alias: str) -> Any:
    info = next(i for n, i in StackKeys.model_fields.items() if (i.alias or n) == alias)
    return annotated(info.annotation, info.metadata)


def _qualified(key: str) -> str:
    return f"{NAMESPACE}:{key}"


def load(
    stack: str,
    project_dir: Path | None = None,
    read: Callable[[str], Any] | None = None,
    known_keys: Sequence[str] | None = None,
    now: datetime.datetime | None = None,
) -> StackConfig:
    """Validate this stack's configuration; raise :class:`ConfigError` with every problem.

    ``read(key)`` returns the raw (decoded) value of ``istio-envs:<key>`` or None, and
    ``known_keys`` lists every config key the engine passed; both default to Pulumi's runtime
    config. Stack files are read from ``project_dir`` (default: the project root).
    """
    stack_file = stack_file_name(stack)
    # The engine runs the program with the project root (Pulumi.yaml, the stack files) set.
    project_dir = project_dir or Path(pulumi.get_root_directory() or PROJECT_DIR)
    if read is None:
        read, known_keys = _pulumi_reader()
    stacks = StackSet.load(project_dir)
    own = stacks.stacks.get(stack)
    file_config = own.config if own is not None else None
    problems, meant = check_keys(stack_file, file_config, known_keys or ())
    checks = Checks(stack_file, now or datetime.datetime.now(datetime.timezone.utc), problems)

    values = {key: _as_in_file(read(key), file_config, key) for key in TOP_LEVEL_KEYS}
    _pem_keys(values, checks)
    platform_raw, attach_raw = values["platform"], values["attachTo"]
    _certificate_applies(platform_raw, attach_raw, values, checks)

    environment: EnvironmentConfig | None = None
    if values["environment"] is None:
        if "environment" not in meant:
            checks.fail("environment", "missing; every stack declares its environment (routes and auth)")
    else:
        _check_stack_name(stack, values["environment"], checks)
        environment = validate(EnvironmentConfig, values["environment"], "environment", checks)

    if (platform_raw is None) == (attach_raw is None) and (
            platform_raw is not None or not {"platform", "attachTo"} & meant):
        checks.fail("platform" if platform_raw is not None else "attachTo",
                    "expected exactly one of `platform` (this stack owns the cluster) or "
                    "`attachTo: <owner stack>` (this stack joins the owner's cluster)")
    platform: PlatformConfig | None = None
    platform_checks, owner_stack = checks, None
    if platform_raw is not None:
        platform = validate(PlatformConfig, platform_raw, "platform", checks)
    elif attach_raw is not None:
        owner_stack = validate(_key_type("attachTo"), attach_raw, "attachTo", checks)
        if owner_stack is not None:
            platform, platform_checks = _owner_platform(stack, owner_stack, stacks, checks)

    if environment is not None:
        environment = _resolve_environment(environment, stack, checks)
        _check_against_other_stacks(environment, stack, stacks, checks)
    config = None
    if environment is not None and platform is not None:
        platform = _resolve_platform(platform, platform_checks)
        config = StackConfig(stack=stack, stack_file=stack_file, environment=environment,
                             platform=platform, owns_platform=platform_raw is not None,
                             owner_stack=owner_stack,
                             platform_owners=_platform_owners(stack, environment, stacks)
                             if platform_raw is not None else ())
        _check_certificate_covers(config, stacks, platform_checks)
        _check_owner_groups(config, checks)
    # A key written in the wrong place is one problem: not also "missing" where it belongs.
    problems = [p for p in checks.problems if not (
        p.stack_file == stack_file and p.key in meant and p.message.startswith("missing"))]
    if problems or config is None:
        raise ConfigError(problems=problems) from None
    return config


def _platform_owners(stack: str, environment: EnvironmentConfig, stacks: StackSet) -> tuple[str, ...]:
    """This owner's environment owners and those of every stack file attached to it (each one's
    own validation refuses a malformed entry; only well-formed ones are granted here)."""
    found = set(environment.owners)
    for other in stacks.attached_to(stack):
        raw = other.environment.get("owners")
        found |= {o for o in raw if isinstance(o, str) and re.match(OWNER_PATTERN, o)} \
            if isinstance(raw, list) else set()
    return tuple(sorted(found))


def _check_owner_groups(config: StackConfig, checks: Checks) -> None:
    """GKE resolves a group subject only with Google Groups for RBAC on the cluster."""
    if config.platform.cluster.rbac_security_group is not None:
        return
    for i, owner in enumerate(config.environment.owners):
        if owner.startswith("group:"):
            checks.fail(f"environment.owners[{i}]",
                        f"got {show(owner)}, a group, but the platform has no Google Groups for "
                        "RBAC; expected platform.cluster.rbacSecurityGroup set on the owner stack, "
                        "or user: owners")


def _as_in_file(engine_value: Any, file_config: Mapping[str, Any] | None, key: str) -> Any:
    """The stack file's value when it says what the engine passed: it keeps the marks of the
    YAML 1.1-only scalars the engine's JSON has lost (``0755`` is 493 in both)."""
    file_value = (file_config or {}).get(_qualified(key))
    return file_value if file_value is not None and file_value == engine_value else engine_value


def _pem_keys(values: dict[str, Any], checks: Checks) -> None:
    for key in ("tlsCertificate", "clientCaCertificate"):
        if values[key] is None:
            continue
        pem = validate(_key_type(key), values[key], key, checks)
        if pem is None:
            checks.refused.add(key)
        elif key == "tlsCertificate":
            checks.certificate_pem = pem
        else:
            checks.client_ca_pem = pem
    key = values.pop("tlsPrivateKey")  # never validated by value, never kept
    checks.private_key = SecretText(key) if isinstance(key, str) else key is not None


def _certificate_applies(platform_raw: Any, attach_raw: Any, values: Mapping[str, Any],
                         checks: Checks) -> None:
    """tlsCertificate and tlsPrivateKey belong to an owner with tls.source provided."""
    present = [k for k in ("tlsCertificate", "tlsPrivateKey")
               if values.get(k) is not None or (k == "tlsPrivateKey" and checks.private_key)]
    tls = platform_raw.get("tls") if isinstance(platform_raw, Mapping) else None
    source = tls.get("source") if isinstance(tls, Mapping) else None
    for key in present:
        if platform_raw is None and attach_raw is not None:
            checks.fail(key, "set, but this stack is attached: the certificate is its owner's; "
                             f"expected no {key}")
        elif source in TLS_SOURCES and source != "provided":
            checks.fail(key, f"set, but platform.tls.source is {source}; {key} applies to "
                             f"tls.source provided only, expected no {key}")


def _check_stack_name(stack: str, raw: Any, checks: Checks) -> None:
    """Without environment.name the stack name is the environment name: it must be one."""
    if not isinstance(raw, Mapping) or "name" in raw:
        return
    if DNS_LABEL.match(stack) and stack not in RESERVED_NAMESPACES:
        return
    suggestion = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", stack.lower())).strip("-")
    rename = (f"rename the file to {stack_file_name(suggestion)}, or " if DNS_LABEL.match(suggestion)
              and suggestion not in RESERVED_NAMESPACES else "")
    why = ("a namespace of the cluster or the mesh" if stack in RESERVED_NAMESPACES else
           f"not {DNS_LABEL_RULE}")
    checks.fail("", f"the stack name {show(stack)}, from the file name, is the environment name "
                    f"(istio-envs:environment.name is not set), and it is {why}; expected: {rename}"
                    "set istio-envs:environment.name")


def _owner_platform(stack: str, owner_stack: str, stacks: StackSet,
                    checks: Checks) -> tuple[PlatformConfig | None, Checks]:
    owner = short_stack(owner_stack)
    owner_file = stack_file_name(owner)
    if owner == stack:
        checks.fail("attachTo", f"got {show(owner_stack)}, this stack itself; expected the stack "
                                "that owns the platform")
        return None, checks
    if owner not in stacks:
        checks.fail("attachTo", f"got {show(owner_stack)}, but {owner_file} does not exist; expected "
                                "the stack file of the platform owner")
        return None, checks
    config = stacks[owner].config
    if PLATFORM_KEY not in config:
        checks.fail("attachTo", f"got {show(owner_stack)}, but {owner_file} has no {PLATFORM_KEY}; "
                                "expected the stack that owns the platform")
        return None, checks
    # The owner's problems are the owner file's; its encrypted key cannot be read here.
    owner_checks = Checks(owner_file, checks.now, checks.problems,
                          private_key=_qualified("tlsPrivateKey") in config)
    certificate = config.get(_qualified("tlsCertificate"))
    if certificate is not None:
        owner_checks.certificate_pem = validate(_key_type("tlsCertificate"), certificate,
                                                "tlsCertificate", owner_checks)
        if owner_checks.certificate_pem is None:
            owner_checks.refused.add("tlsCertificate")
    return validate(PlatformConfig, config[PLATFORM_KEY], "platform", owner_checks), owner_checks


def _resolve_environment(env: EnvironmentConfig, stack: str, checks: Checks) -> EnvironmentConfig:
    tls = env.tls.model_copy()
    tls._client_ca_pem = checks.client_ca_pem if tls.client_ca == "provided" else None
    update: dict[str, Any] = {"tls": tls}
    if "name" not in env.model_fields_set:
        update["name"] = stack
    return env.model_copy(update=update)


def _resolve_platform(platform: PlatformConfig, checks: Checks) -> PlatformConfig:
    dns, tls = platform.dns, platform.tls.model_copy()
    defaults: dict[str, Any] = {}
    if "zone_name" not in dns.model_fields_set:
        defaults["zone_name"] = default_zone_name(platform)
    if "caa_issuers" not in dns.model_fields_set:
        # acme: only Let's Encrypt may issue; self-signed: no public CA may issue at all.
        defaults["caa_issuers"] = (ACME_CAA_ISSUER,) if tls.source == "acme" else ()
    facts = checks.certificate
    if isinstance(tls, ProvidedTls) and facts is not None:
        tls._dns_names, tls._chain = facts.names, facts.chain
        tls._not_after, tls._lifetime_days = f"{facts.not_after:%Y-%m-%d}", facts.lifetime_days
    else:
        # The wildcard covers exactly one label: every <env>.api.<domain>.
        tls._dns_names = (f"*.{platform.api_domain}",)
    return platform.model_copy(update={"dns": dns.model_copy(update=defaults), "tls": tls})


def _check_certificate_covers(config: StackConfig, stacks: StackSet, checks: Checks) -> None:
    """The certificate must cover every environment host of its platform: this stack's, and
    (from the owner) every stack file attached to it. A provided one is the one to blame."""
    platform = config.platform
    names = platform.tls.dns_names
    hosts = [(config.host, config.stack_file)]
    if config.owns_platform:
        for sibling in stacks.attached_to(config.stack):
            if ENVIRONMENT_KEY in sibling.config and sibling.environment_name:
                hosts.append((platform.host_for(sibling.environment_name), sibling.file_name))
    missed = [(host, file) for host, file in hosts if not host_covered(host, names)]
    if not missed:
        return
    listed = ", ".join(f"{host} (the host of {file})" for host, file in missed)
    checks.fail("tlsCertificate" if platform.tls.source == "provided" else "environment.name",
                f"does not cover {listed}; expected a certificate for every environment host of the "
                f"platform (its names: {', '.join(names)})")


def _check_against_other_stacks(env: EnvironmentConfig, stack: str, stacks: StackSet,
                                checks: Checks) -> None:
    """Environment names and audiences must be unique across the project's stacks: a shared
    audience would let one environment's tokens open another (the write-ups' isolation rule)."""
    for other in stacks.others(stack):
        if not isinstance(other.config.get(ENVIRONMENT_KEY), Mapping):
            continue
        if other.environment_name == env.name:
            checks.fail("environment.name", f"got {show(env.name)}, already the environment of "
                                            f"{other.file_name}; expected a name no other stack uses")
        shared = sorted(other.audiences & set(env.auth.audiences))
        if shared:
            checks.fail("environment.auth.audiences", f"{show(shared[0])} is also an audience of "
                        f"{other.file_name}; expected audiences unique to this environment")


def _pulumi_reader() -> tuple[Callable[[str], Any], list[str]]:
    """Read values through Pulumi's own config (the engine's decrypted values)."""
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(NAMESPACE)

    def read(key: str) -> Any:
        if key in PEM_KEYS:
            # PEM text, never JSON. The key is only wrapped in SecretText to check it matches.
            return config.get(key)
        try:
            return config.get_object(key)
        except (pulumi.ConfigTypeError, json.JSONDecodeError, ValueError):
            return config.get(key)  # not JSON: a plain string; its type names the expected form

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return read, sorted(keys)


def private_key_secret() -> pulumi.Output[str]:
    """The provided certificate's private key, only ever as a Pulumi secret."""
    return pulumi.Config(NAMESPACE).require_secret("tlsPrivateKey")
