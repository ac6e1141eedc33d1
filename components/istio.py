"""Istio's vocabulary, as this program uses it: API versions, the ingress gateway's selector,
namespace and mTLS identity, and the one way to declare an Istio resource. The installation (the
charts) is components/mesh.py; everything that writes Istio objects reads the names here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .versions import ISTIO_HUB

ISTIO_NAMESPACE = "istio-system"
# The gateway runs apart from the control plane (Istio's security advice for gateways).
GATEWAY_NAMESPACE = "istio-ingress"
GATEWAY_RELEASE = "istio-ingressgateway"
# The gateway chart labels pods `istio: <release name without "istio-">`.
GATEWAY_SELECTOR = {"istio": GATEWAY_RELEASE.removeprefix("istio-")}
# The chart names the gateway's service account after the release; environments allow traffic
# from this identity (mTLS proves it).
GATEWAY_PRINCIPAL = f"cluster.local/ns/{GATEWAY_NAMESPACE}/sa/{GATEWAY_RELEASE}"

# Revisions: one istiod per Istio version, each named after it; a namespace selects a revision
# *tag* (a mutable pointer to a revision: istio.io "Canary upgrades", Stable revision labels),
# never a revision itself, so that moving it is one label (istio.io/istio.io
# content/en/docs/setup/upgrade/canary/index.md, content/en/docs/setup/upgrade/helm/index.md).
REVISION_LABEL = "istio.io/rev"
# The pre-revision label: it takes precedence over istio.io/rev (canary/index.md: "The
# istio-injection label must be removed because it takes precedence"), and every revision tag's
# webhook requires it absent (istiod chart templates/revision-tags-mwc.yaml: `key:
# istio-injection, operator: DoesNotExist`). No environment namespace carries it.
LEGACY_INJECTION_LABEL = "istio-injection"
STABLE, CANARY = "stable", "canary"
MESH_TAGS = (STABLE, CANARY)


def revision_name(version: str) -> str:
    """``1.30.5`` -> ``1-30-5``: a revision names its version, without the dots a revision name
    cannot hold (canary/index.md: "you must replace `.` characters in the revision name")."""
    return version.replace(".", "-")


def proxy_image(version: str) -> str:
    """What istiod's injector at ``version`` puts in a pod: the chart's global.proxy.image (and,
    from 1.31, global.proxy_init.image for istio-validation), both ``proxyv2``, at the hub and tag
    mesh.py sets (injection-template.yaml ``image: "{{ .ProxyImage }}"``)."""
    return f"{ISTIO_HUB}/proxyv2:{version}"


def revision_for(revisions: Sequence[Mapping[str, Any]], tag: str) -> dict[str, Any]:
    """The installed revision (``{revision, version, tags}``, as the owner's ``meshRevisions``
    output lists them) that ``tag`` points at; an error naming what the owner installs."""
    for revision in revisions:
        if tag in revision.get("tags", ()):
            return {"tag": tag, "revision": revision["revision"], "version": revision["version"]}
    installed = ", ".join(f"{r['revision']} ({', '.join(r.get('tags', ())) or 'no tag'})"
                          for r in revisions) or "none"
    raise ValueError(f"environment.meshRevision is {tag!r}, but the platform installs no Istio "
                     f"revision tagged {tag} (installed: {installed}); install it on the owner "
                     f"(platform.mesh) or select a tag it has")


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
