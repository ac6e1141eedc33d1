"""The stack config's schema, declared once: :class:`StackKeys`, every ``istio-envs:<key>`` of a
stack file, over the models of the environment (environment.py) and of the platform
(platform.py), with the rules across the top-level keys: one of ``platform`` and ``attachTo``,
and the PEM values. Values derived from other keys are computed in validators, as fields a file
cannot set; the JSON Schema for editors (schema.py) and the README's tables come from the same
models.
"""

from __future__ import annotations

import datetime
from typing import Self

from pydantic import ValidationInfo, model_validator

from . import types as t
from .certificates import Refused, check_client_ca, check_key_matches, host_covered, server_certificate
from .environment import EnvironmentConfig, Model, context, refuse
from .platform import PlatformConfig, ProvidedTls
from .types import show


class StackKeys(Model):
    """Every ``istio-envs:<key>`` of a stack file (the schema of ``config:``), and the rules across
    them: one of platform and attachTo, and the PEM values (read with the validation context's
    ``now``, ``stack``, ``stack_file`` and ``private_key``)."""

    environment: EnvironmentConfig
    platform: PlatformConfig | None = None
    attach_to: t.StackReference | None = None
    tls_certificate: t.PemCertificate | None = None
    tls_private_key: str | None = None
    client_ca_certificate: t.PemCertificate | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        now = context(info, "now") or datetime.datetime.now(datetime.timezone.utc)
        key, env, platform = context(info, "private_key", False), self.environment, self.platform
        partial = context(info, "partial", False)  # the file's values alone: a PEM may be set elsewhere
        found: list[tuple[str, str]] = []
        if (platform is None) == (self.attach_to is None):
            found.append(("platform" if platform is not None else "attachTo", "expected exactly one "
                          "of `platform` (this stack owns the cluster) or `attachTo: <owner stack>` "
                          "(this stack joins the owner's cluster)"))
        if self.attach_to is not None and self.attach_to.rsplit("/", 1)[-1] == context(info, "stack"):
            found.append(("attachTo", f"got {show(self.attach_to)}, this stack itself; expected the "
                                      "stack that owns the platform"))
        source = platform.tls.source if platform else None
        for name in ("tlsCertificate", "tlsPrivateKey"):
            if (self.tls_certificate if name == "tlsCertificate" else key) and source != "provided":
                found.append((name, f"set, but this stack is attached: the certificate is its owner's; "
                              f"expected no {name}" if platform is None else f"set, but platform.tls."
                              f"source is {source}; {name} applies to tls.source provided only, "
                              f"expected no {name}"))
        tls = platform.tls if platform else None
        if isinstance(tls, ProvidedTls) and self.tls_certificate is None and not partial:
            found.append(("tlsCertificate", "missing; tls.source is 'provided', so set the PEM "
                          "certificate chain with `pulumi config set tlsCertificate -- \"$(cat "
                          "fullchain.pem)\"` and the key with `pulumi config set --secret "
                          "tlsPrivateKey -- \"$(cat key.pem)\"`"))
        elif isinstance(tls, ProvidedTls) and platform and self.tls_certificate:
            try:
                cert, facts = server_certificate(self.tls_certificate, now, tls.expiry_warning_days)
                tls = tls.model_copy(update={"certificate": facts, "dns_names": facts.names})
                if key is False and not partial:
                    found.append(("tlsPrivateKey", "missing; tls.source is 'provided', so set the PEM "
                                  "key with `pulumi config set --secret tlsPrivateKey -- \"$(cat key.pem)\"`"))
                elif key is not True:
                    check_key_matches(cert, key)
            except Refused as refused:
                found.append((refused.key or "tlsCertificate", str(refused)))
            host = platform.host_for(env.name)
            if tls.certificate and not host_covered(host, tls.dns_names):
                found.append(("tlsCertificate", f"does not cover {host} (the host of "
                              f"{context(info, 'stack_file', 'this stack file')}); expected a "
                              "certificate for every environment host of the platform (its names: "
                              f"{', '.join(tls.dns_names)})"))
        client = env.tls
        if self.client_ca_certificate and client.client_ca != "provided":
            found.append(("clientCaCertificate", "set, but environment.tls.mode is SIMPLE; expected "
                          "environment.tls.mode: MUTUAL with clientCa: provided" if not client.mutual
                          else "set, but environment.tls.clientCa is self-signed; expected clientCa: "
                          "provided, or no clientCaCertificate"))
        elif client.client_ca == "provided" and client.mutual and not self.client_ca_certificate \
                and not partial:
            found.append(("clientCaCertificate", "missing; environment.tls.clientCa is provided, so "
                          "set the client CA's PEM certificate with `pulumi config set "
                          "clientCaCertificate -- \"$(cat client-ca.pem)\"`"))
        elif client.client_ca == "provided" and client.mutual and self.client_ca_certificate:
            try:
                client = client.model_copy(update={"ca": check_client_ca(self.client_ca_certificate, now)})
            except Refused as refused:
                found.append(("clientCaCertificate", str(refused)))
        if platform and platform.cluster.rbac_security_group is None:
            found += [(f"environment.owners[{i}]", f"got {show(owner)}, a group, but the platform has "
                       "no Google Groups for RBAC; expected platform.cluster.rbacSecurityGroup set on "
                       "the owner stack, or user: owners") for i, owner in enumerate(env.owners)
                      if owner.startswith("group:")]
        refuse(*found)
        return self.model_copy(update={
            "environment": env.model_copy(update={"tls": client}),
            **({"platform": platform.model_copy(update={"tls": tls})} if platform else {})})


TOP_LEVEL_KEYS = tuple(field.alias or name for name, field in StackKeys.model_fields.items())
SECRET_KEYS = ("tlsPrivateKey",)
