"""Mutual TLS for one environment's host: its own client CA and its own Gateway server.

The server certificate stays the shared wildcard (``credentialName``); the client CA comes from
a ``<name>-cacert`` Secret through ``caCertCredentialName``, so each environment trusts only its
own clients, and one environment may use MUTUAL while another stays SIMPLE (the SDS write-up's
one-server-per-host layout). Envoy picks the exact-host server over the shared wildcard one, and
the environment's VirtualService binds only to this Gateway, so its routes exist nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .config import ClientTls
from .gateway import gateway_reference, https_gateway, https_server
from .tls import self_signed_ca, signed_leaf


@dataclass(frozen=True)
class MutualTlsHostArgs:
    environment: str
    """The environment name: names its CA, Secret and Gateway."""
    host: pulumi.Input[str]
    """``<env>.api.<domain>``, the only host of the Gateway server."""
    tls: ClientTls
    """MUTUAL settings: client CA source (and PEM when provided)."""
    gateway_namespace: pulumi.Input[str]
    """Where the gateway workload reads credentials (Secrets must live there)."""
    server_credential: pulumi.Input[str]
    """The shared wildcard server certificate's Secret."""
    mesh_ready: Sequence[pulumi.Resource] = ()


class MutualTlsHost(pulumi.ComponentResource):
    """Outputs: ``gateway`` (``<ns>/<name>``), ``client_ca_pem``; self-signed CA only:
    ``client_certificate_pem`` and ``client_private_key_pem`` (secrets) for calling the API."""

    def __init__(self, name: str, args: MutualTlsHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:environment:MutualTlsHost", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.tls

        self.client_certificate_pem: pulumi.Output[str] | None = None
        self.client_private_key_pem: pulumi.Output[str] | None = None
        if cfg.client_ca == "self-signed":
            ca_key, ca = self_signed_ca(
                f"{name}-client-ca", f"{args.environment} clients CA", args.environment,
                leaf_validity_hours=cfg.client_certificate_days * 24, opts=child)
            client_key, client = signed_leaf(
                f"{name}-client", ca_key, ca, common_name=f"{args.environment}-client",
                organization=args.environment, dns_names=[], usage="client_auth",
                validity_hours=cfg.client_certificate_days * 24,
                renew_hours_before=cfg.client_certificate_days * 24 // 3, opts=child)
            ca_pem: pulumi.Input[str] = ca.cert_pem
            self.client_certificate_pem = pulumi.Output.secret(client.cert_pem)
            self.client_private_key_pem = pulumi.Output.secret(client_key.private_key_pem)
        else:
            assert cfg.client_ca_pem is not None
            ca_pem = cfg.client_ca_pem

        # A CA certificate is public; Istio reads `ca.crt` from a Secret named `<x>-cacert`.
        ca_secret = k8s.core.v1.Secret(
            f"{name}-client-ca-secret",
            metadata={"name": f"{args.environment}-client-ca-cacert",
                      "namespace": args.gateway_namespace,
                      "labels": {"app.kubernetes.io/managed-by": "pulumi",
                                 "istio-envs/environment": args.environment}},
            type="Opaque",
            string_data={"ca.crt": ca_pem},
            opts=child,
        )
        gateway = https_gateway(
            f"{name}-gateway", f"{args.environment}-mtls", args.gateway_namespace,
            https_server(f"https-{args.environment}", [args.host], args.server_credential,
                         mode=cfg.mode, ca_credential_name=ca_secret.metadata.name),
            pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_ready)))
        self.gateway = gateway_reference(gateway)
        self.client_ca_pem = pulumi.Output.from_input(ca_pem)
        self.register_outputs({"gateway": self.gateway, "client_ca_pem": self.client_ca_pem})
