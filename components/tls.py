"""The gateway's wildcard certificate, whatever its source, as one ``kubernetes.io/tls`` Secret.

Sources:
- ``self-signed``: a pulumi-tls CA and a leaf for ``*.api.<domain>`` signed by it. The leaf has
  ``early_renewal_hours``: a ``pulumi up`` inside the renewal window issues a new one and the
  Secret follows (istiod's SDS pushes it to the gateway without a restart).
- ``provided``: the PEM chain from config (checked at load time) and the key from secret config.

The Secret lives in the gateway workload's namespace: Istio resolves ``credentialName`` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from .config import TlsConfig

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
    provided_private_key: Optional[pulumi.Output[str]] = None
    """The provided certificate's key, a Pulumi secret (``tls.source: provided`` only)."""


class WildcardCertificate(pulumi.ComponentResource):
    """Outputs: ``secret_name`` (the Gateway credentialName), ``ca_certificate_pem`` (self-signed:
    the CA clients trust; provided: None), ``source``."""

    def __init__(self, name: str, args: WildcardCertificateArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:WildcardCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.tls

        if cfg.source == "self-signed":
            ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
            ca = tls.SelfSignedCert(
                f"{name}-ca",
                private_key_pem=ca_key.private_key_pem,
                is_ca_certificate=True,
                set_subject_key_id=True,
                subject={"common_name": f"{args.domain} environments CA", "organization": args.domain},
                # The CA outlives many leaves; clients trust it once.
                validity_period_hours=cfg.validity_days * 24 * 5,
                allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
                opts=child,
            )
            leaf_key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
            request = tls.CertRequest(
                f"{name}-csr",
                private_key_pem=leaf_key.private_key_pem,
                subject={"common_name": cfg.dns_names[0], "organization": args.domain},
                dns_names=list(cfg.dns_names),
                opts=child,
            )
            leaf = tls.LocallySignedCert(
                f"{name}-cert",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=cfg.validity_days * 24,
                # Inside this window `pulumi up` re-issues the leaf (ready_for_renewal).
                early_renewal_hours=cfg.early_renewal_days * 24,
                set_subject_key_id=True,
                allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
                opts=child,
            )
            chain = pulumi.Output.concat(leaf.cert_pem, ca.cert_pem)
            key = leaf_key.private_key_pem
            self.ca_certificate_pem: Optional[pulumi.Output[str]] = ca.cert_pem
        else:
            assert cfg.provided_certificate_pem is not None and args.provided_private_key is not None
            chain = pulumi.Output.from_input(cfg.provided_certificate_pem)
            key = args.provided_private_key
            self.ca_certificate_pem = None

        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": TLS_SECRET_NAME, "namespace": args.namespace,
                      "labels": {"app.kubernetes.io/managed-by": "pulumi"}},
            type="kubernetes.io/tls",
            # The key is a secret whatever its source: state and previews never show it.
            string_data={"tls.crt": chain, "tls.key": pulumi.Output.secret(key)},
            opts=child,
        )
        self.secret_name: pulumi.Output[str] = secret.metadata.name
        self.source = cfg.source
        self.register_outputs({"secret_name": self.secret_name, "source": self.source})
