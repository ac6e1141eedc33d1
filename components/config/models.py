"""The stack config's schema, declared once: :class:`StackKeys`, every ``istio-envs:<key>`` of a
stack file, over the models of the environment (environment.py) and of the platform
(platform.py), with the rules across the top-level keys: one of ``platform`` and ``attachTo``,
and the PEM values. Values derived from other keys are computed in validators, as fields a file
cannot set; the JSON Schema and docs/configuration.md (schema.py) come from the same models.
"""

from __future__ import annotations

import datetime
from typing import Self

from pydantic import ValidationInfo, model_validator

from . import certificates as x509
from . import types as t
from .environment import EnvironmentConfig
from .platform import PlatformConfig, ProvidedTls
from .types import Model, refuse, show


def _missing(key: str, why: str, command: str) -> tuple[str, str]:
    return key, f"missing; {why}, so set {command}"


class StackKeys(Model):
    """Every ``istio-envs:<key>`` of a stack file (the schema of ``config:``), and the rules across
    them: one of platform and attachTo, and the PEM values (read with the validation context's
    ``now``, ``stack``, ``stack_file``, ``private_key`` and ``partial``: the file's values alone,
    where a PEM may be set outside it)."""

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
                elif isinstance(key, x509.SecretText):
                    x509.check_key_matches(cert, key)
            except x509.Refused as refused:
                found.append((refused.key or "tlsCertificate", str(refused)))
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
                found.append(("clientCaCertificate", str(refused)))
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
