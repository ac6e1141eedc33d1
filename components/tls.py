"""The gateway's wildcard certificate, whatever its source, as one ``kubernetes.io/tls`` Secret.

Sources:
- ``self-signed``: a pulumi-tls CA and a leaf for ``*.api.<domain>`` signed by it. The leaf has
  ``early_renewal_hours``: a ``pulumi up`` inside the renewal window issues a new one and the
  Secret follows (istiod's SDS pushes it to the gateway without a restart). The CA certificate
  is a stack output for clients to trust.
- ``provided``: the PEM chain from config (checked at load time) and the key from secret config.
- ``acme``: cert-manager obtains it from Let's Encrypt with a DNS-01 challenge in Cloud DNS and
  renews it 30 days before expiry; cert-manager writes the Secret.

The Secret lives in the gateway workload's namespace: Istio resolves ``credentialName`` there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from .config import AcmeTls, ProvidedTls, SelfSignedTls, TlsConfig, private_key_secret

CERT_MANAGER_API = "cert-manager.io/v1"

# The Gateway's credentialName; derived here once, read by the gateway from this component.
TLS_SECRET_NAME = "api-wildcard-tls"


@dataclass(frozen=True)
class WildcardCertificateArgs:
    tls: TlsConfig
    """Source, names, validity and renewal window."""
    domain: str
    """The platform domain, for the CA's subject."""
    namespace: pulumi.Input[str]
    """The gateway workload's namespace (where the Secret must live)."""
    project: str | None = None
    """``acme`` only: the project of the Cloud DNS zone the DNS-01 solver writes to."""
    dns_zone: pulumi.Input[str] | None = None
    """``acme`` only: the managed zone of the domain."""
    cert_manager_ready: Sequence[pulumi.Resource] = ()
    """``acme`` only: the cert-manager release (its CRDs)."""


class WildcardCertificate(pulumi.ComponentResource):
    """Outputs: ``secret_name`` (the Gateway credentialName), ``ca_certificate_pem`` (self-signed:
    the CA clients trust; otherwise None), ``source``.

    One builder per certificate source, chosen by the config variant's type (decided once, in
    components/config/platform.py TlsConfig); a new source is one variant there (with its
    re-export and the `tls` docstring's list), one builder here and its line in preview/render.py
    (measured: 6 files with its tests)."""

    def __init__(self, name: str, args: WildcardCertificateArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:WildcardCertificate", name, None, opts)
        cfg = args.tls
        builders: dict[type, Any] = {SelfSignedTls: self._self_signed, ProvidedTls: self._provided,
                                     AcmeTls: self._acme}
        self.ca_certificate_pem: pulumi.Output[str] | None = None
        self.source = cfg.source
        self.secret_name: pulumi.Output[str] = builders[type(cfg)](name, args)
        self.register_outputs({"secret_name": self.secret_name, "source": self.source})

    def _self_signed(self, name: str, args: WildcardCertificateArgs) -> pulumi.Output[str]:
        cfg = cast(SelfSignedTls, args.tls)
        child = pulumi.ResourceOptions(parent=self)
        ca_key, ca = self_signed_ca(
            f"{name}-ca", f"{args.domain} environments CA", args.domain,
            leaf_validity_hours=cfg.validity_days * 24, opts=child)
        leaf_key, leaf = signed_leaf(
            name, ca_key, ca, common_name=cfg.dns_names[0], organization=args.domain,
            dns_names=list(cfg.dns_names), usage="server_auth",
            validity_hours=cfg.validity_days * 24,
            renew_hours_before=cfg.early_renewal_days * 24, opts=child)
        self.ca_certificate_pem = ca.cert_pem
        return self._secret(name, args, pulumi.Output.concat(leaf.cert_pem, ca.cert_pem),
                            leaf_key.private_key_pem)

    def _provided(self, name: str, args: WildcardCertificateArgs) -> pulumi.Output[str]:
        cfg = cast(ProvidedTls, args.tls)
        assert cfg.provided_certificate_pem is not None  # checked at load time
        # The key only ever as a Pulumi secret, read here and nowhere else.
        return self._secret(name, args, pulumi.Output.from_input(cfg.provided_certificate_pem),
                            private_key_secret())

    def _secret(self, name: str, args: WildcardCertificateArgs, chain: pulumi.Input[str],
                key: pulumi.Input[str]) -> pulumi.Output[str]:
        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": TLS_SECRET_NAME, "namespace": args.namespace,
                      "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
            type="kubernetes.io/tls",
            # The key is a secret whatever its source: state and previews never show it.
            string_data={"tls.crt": chain, "tls.key": pulumi.Output.secret(key)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret.metadata.name

    def _acme(self, name: str, args: WildcardCertificateArgs) -> pulumi.Output[str]:
        """cert-manager writes the Secret (and re-writes it on every renewal)."""
        cfg = cast(AcmeTls, args.tls)
        assert args.project is not None and args.dns_zone is not None
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.cert_manager_ready))
        issuer_name = f"letsencrypt-{cfg.acme.server}"
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-issuer",
            api_version=CERT_MANAGER_API,
            kind="ClusterIssuer",
            metadata={"name": issuer_name},
            spec={"acme": {
                "server": cfg.acme.directory_url,
                "email": cfg.acme.email,
                # cert-manager generates and keeps the ACME account key here.
                "privateKeySecretRef": {"name": f"{issuer_name}-account-key"},
                "solvers": [{"dns01": {"cloudDNS": {
                    "project": args.project,
                    # Named, so the solver needs no zone listing across the project.
                    "hostedZoneName": args.dns_zone,
                }}}],
            }},
            opts=opts,
        )
        certificate = k8s.apiextensions.CustomResource(
            f"{name}-certificate",
            api_version=CERT_MANAGER_API,
            kind="Certificate",
            metadata={"name": TLS_SECRET_NAME, "namespace": args.namespace},
            spec={
                "secretName": TLS_SECRET_NAME,
                "secretTemplate": {"labels": {"app.kubernetes.io/managed-by": "cert-manager"}},
                "dnsNames": list(cfg.dns_names),
                "issuerRef": {"kind": "ClusterIssuer", "name": cast(Any, issuer).metadata["name"]},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                # Let's Encrypt issues for 90 days; renew with a month to spare.
                "duration": f"{cfg.validity_days * 24}h",
                "renewBefore": f"{cfg.early_renewal_days * 24}h",
            },
            opts=opts,
        )
        return cast(Any, certificate).spec["secretName"]


# A CA lives this many leaf lifetimes: clients trust it once, for a long while.
CA_LIFETIME_IN_LEAVES = 5


def self_signed_ca(name: str, common_name: str, organization: str, leaf_validity_hours: int,
                   opts: pulumi.ResourceOptions) -> tuple[tls.PrivateKey, tls.SelfSignedCert]:
    """A pulumi-tls CA for leaves of ``leaf_validity_hours``: an ECDSA P-256 key (kept in state
    as a secret) and its certificate.

    The CA is renewed once less than one leaf lifetime is left, so a leaf signed on any
    `pulumi up` never outlives its CA: either the CA still has a leaf lifetime to go, or it is
    re-issued in that same run, and the leaf with it (its ``ca_cert_pem`` changed). Clients then
    need the new CA (stack output ``caCertificate``) before the old one expires."""
    key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    cert = tls.SelfSignedCert(
        name,
        private_key_pem=key.private_key_pem,
        is_ca_certificate=True,
        set_subject_key_id=True,
        subject={"common_name": common_name, "organization": organization},
        validity_period_hours=leaf_validity_hours * CA_LIFETIME_IN_LEAVES,
        early_renewal_hours=leaf_validity_hours,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        opts=opts,
    )
    return key, cert


def signed_leaf(name: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert, *, common_name: str,
                organization: str, dns_names: list[str], usage: str, validity_hours: int,
                renew_hours_before: int, opts: pulumi.ResourceOptions
                ) -> tuple[tls.PrivateKey, tls.LocallySignedCert]:
    """A key and a certificate signed by ``ca`` for ``usage`` (server_auth or client_auth)."""
    key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
    request = tls.CertRequest(
        f"{name}-csr",
        private_key_pem=key.private_key_pem,
        subject={"common_name": common_name, "organization": organization},
        dns_names=dns_names,
        opts=opts,
    )
    cert = tls.LocallySignedCert(
        f"{name}-cert",
        cert_request_pem=request.cert_request_pem,
        ca_private_key_pem=ca_key.private_key_pem,
        ca_cert_pem=ca.cert_pem,
        validity_period_hours=validity_hours,
        # Inside this window `pulumi up` re-issues the certificate (ready_for_renewal).
        early_renewal_hours=renew_hours_before,
        set_subject_key_id=True,
        allowed_uses=["digital_signature", "key_encipherment", usage],
        opts=opts,
    )
    return key, cert
