"""The one shared Istio Gateway: HTTPS on 443 for every environment host, TLS 1.2 or newer.

One Gateway for all hosts that share the wildcard certificate: several Gateways with the same
certificate make clients reuse HTTP/2 connections across them and get 404s (istioctl IST0138).
No plain-HTTP server exists, so port 80 is refused (the Service does not even expose it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from .istio import GATEWAY_SELECTOR, istio_resource

GATEWAY_NAME = "api-gateway"
# Oldest TLS version accepted; TLS 1.0/1.1 are broken and deprecated (RFC 8996).
MIN_TLS_VERSION = "TLSV1_2"


@dataclass(frozen=True)
class ApiGatewayArgs:
    namespace: pulumi.Input[str]
    """The gateway workload's namespace (the Gateway and its Secret must live there)."""
    hosts: tuple[str, ...]
    """The certificate's names (``*.api.<domain>``): every environment host falls under them."""
    credential_name: pulumi.Input[str]
    """The TLS Secret in the gateway namespace."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """What the Gateway waits for: istiod (its CRDs and validating webhook)."""
    min_tls_version: str = MIN_TLS_VERSION


class ApiGateway(pulumi.ComponentResource):
    """Outputs: ``reference`` (``<namespace>/<name>``, what VirtualServices bind to)."""

    def __init__(self, name: str, args: ApiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:ApiGateway", name, None, opts)
        gateway = https_gateway(f"{name}-gateway", GATEWAY_NAME, args.namespace, https_server(
            "https", list(args.hosts), args.credential_name, min_tls_version=args.min_tls_version),
            pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_ready)))
        self.reference: pulumi.Output[str] = gateway_reference(gateway)
        self.register_outputs({"reference": self.reference})


def https_server(port_name: str, hosts: Sequence[pulumi.Input[str]], credential_name: pulumi.Input[str],
                 mode: str = "SIMPLE", ca_credential_name: pulumi.Input[str] | None = None,
                 min_tls_version: str = MIN_TLS_VERSION) -> dict:
    """One HTTPS server on 443. ``MUTUAL``: clients must present a certificate signed by the CA
    in the ``ca_credential_name`` Secret (``ca.crt``)."""
    if (mode == "MUTUAL") != (ca_credential_name is not None):
        raise ValueError(f"an HTTPS server in mode {mode} takes a client CA credential only with MUTUAL")
    tls: dict = {"mode": mode, "credentialName": credential_name, "minProtocolVersion": min_tls_version}
    if ca_credential_name is not None:
        # Istio >= 1.28: the CA may come from its own Secret, so environments sharing the
        # wildcard server certificate each trust only their own client CA.
        tls["caCertCredentialName"] = ca_credential_name
    return {"port": {"number": 443, "name": port_name, "protocol": "HTTPS"}, "hosts": hosts, "tls": tls}


def https_gateway(resource_name: str, name: str, namespace: pulumi.Input[str], server: dict,
                  opts: pulumi.ResourceOptions):
    return istio_resource(resource_name, "Gateway", name, namespace,
                          {"selector": GATEWAY_SELECTOR, "servers": [server]}, opts)


def gateway_reference(gateway) -> pulumi.Output[str]:
    """``<namespace>/<name>``: how a VirtualService names a Gateway in another namespace."""
    return pulumi.Output.concat(gateway.metadata["namespace"], "/", gateway.metadata["name"])
