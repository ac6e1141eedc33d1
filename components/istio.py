"""Istio's vocabulary, as this program uses it: API versions, the ingress gateway's selector,
namespace and mTLS identity, and the one way to declare an Istio resource. The installation (the
charts) is components/mesh.py; everything that writes Istio objects reads the names here.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

ISTIO_NAMESPACE = "istio-system"
# The gateway runs apart from the control plane (Istio's security advice for gateways).
GATEWAY_NAMESPACE = "istio-ingress"
GATEWAY_RELEASE = "istio-ingressgateway"
# The gateway chart labels pods `istio: <release name without "istio-">`.
GATEWAY_SELECTOR = {"istio": GATEWAY_RELEASE.removeprefix("istio-")}
# The chart names the gateway's service account after the release; environments allow traffic
# from this identity (mTLS proves it).
GATEWAY_PRINCIPAL = f"cluster.local/ns/{GATEWAY_NAMESPACE}/sa/{GATEWAY_RELEASE}"

# GA APIs (the write-ups' authentication.istio.io/v1alpha1 Policy was removed in Istio 1.6).
ISTIO_API_VERSIONS = {
    "Gateway": "networking.istio.io/v1",
    "VirtualService": "networking.istio.io/v1",
    "ServiceEntry": "networking.istio.io/v1",
    "Sidecar": "networking.istio.io/v1",
    "PeerAuthentication": "security.istio.io/v1",
    "RequestAuthentication": "security.istio.io/v1",
    "AuthorizationPolicy": "security.istio.io/v1",
}


def istio_resource(resource_name: str, kind: str, name: str, namespace: pulumi.Input[str],
                   spec: dict, opts: pulumi.ResourceOptions,
                   labels: dict[str, str] | None = None) -> k8s.apiextensions.CustomResource:
    """An Istio custom resource at its GA API version. ``opts`` should depend on istiod: the
    CRDs and the validating webhook come with the charts."""
    metadata: dict = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=ISTIO_API_VERSIONS[kind],
        kind=kind,
        metadata=metadata,
        spec=spec,
        opts=opts,
    )
