"""The one shared Istio Gateway: HTTPS on 443 for every environment host, TLS 1.2 or newer.

One Gateway for all hosts that share the wildcard certificate: several Gateways with the same
certificate make clients reuse HTTP/2 connections across them and get 404s (istioctl IST0138).
No plain-HTTP server exists, so port 80 is refused (the Service does not even expose it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi

from .mesh import GATEWAY_SELECTOR, istio_resource

GATEWAY_NAME = "api-gateway"


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
    min_tls_version: str = "TLSV1_2"
    """Oldest TLS version accepted; TLS 1.0/1.1 are broken and deprecated (RFC 8996)."""


class ApiGateway(pulumi.ComponentResource):
    """Outputs: ``reference`` (``<namespace>/<name>``, what VirtualServices bind to)."""

    def __init__(self, name: str, args: ApiGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:ApiGateway", name, None, opts)
        gateway = istio_resource(
            f"{name}-gateway", "Gateway", GATEWAY_NAME, args.namespace,
            {
                "selector": GATEWAY_SELECTOR,
                "servers": [{
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": list(args.hosts),
                    "tls": {
                        "mode": "SIMPLE",
                        "credentialName": args.credential_name,
                        "minProtocolVersion": args.min_tls_version,
                    },
                }],
            },
            pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_ready)),
        )
        self.reference: pulumi.Output[str] = pulumi.Output.concat(
            gateway.metadata["namespace"], "/", gateway.metadata["name"])
        self.register_outputs({"reference": self.reference})
