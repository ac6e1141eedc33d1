"""What istiod's sidecar injector adds to a pod, as data: the pinned injection template
(tests/charts/istio/istiod/files/injection-template.yaml, Istio 1.30.3) rendered by hand for the
values components/mesh.py sets (Istio CNI on: ``pilot.cni.enabled``; ``global.proxy.seccompProfile``
RuntimeDefault; every other value the chart's default) on Kubernetes 1.29 or newer, where
``ENABLE_NATIVE_SIDECARS=auto`` makes ``istio-proxy`` a native sidecar (an init container with
``restartPolicy: Always``; pilot/pkg/features/pilot.go, pkg/kube/inject/webhook.go). Only what
admission reads is here: containers' names, images and security contexts, volumes, annotations
and labels. tests/test_pod_security.py holds each line it depends on against the vendored
template, so a template that changes what it adds fails the tests.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from components.admission import CAPTURE_DEFAULTS, PROXY_UID
from components.istio import LEGACY_INJECTION_LABEL, REVISION_LABEL, STABLE, proxy_image, revision_name
from components.versions import ISTIO_VERSION

# tag -> version of the revision it points at: the shipped platform's (platform.mesh unset).
SHIPPED_TAGS = {STABLE: ISTIO_VERSION}

OPT_OUT = "sidecar.istio.io/inject"
SECCOMP = {"type": "RuntimeDefault"}
# `securityContext` of istio-validation (`if .Values.pilot.cni.enabled`: no capability added,
# read-only, 1337) and of istio-proxy (no TPROXY, no capNetBindService): the same fields.
PROXY_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True, "runAsGroup": PROXY_UID, "runAsUser": PROXY_UID, "runAsNonRoot": True,
    "seccompProfile": SECCOMP}
VOLUMES = [
    {"name": "workload-socket", "emptyDir": {}}, {"name": "credential-socket", "emptyDir": {}},
    {"name": "workload-certs", "emptyDir": {}}, {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
    {"name": "istio-data", "emptyDir": {}},
    {"name": "istio-podinfo", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}},
    {"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
        "path": "istio-token", "expirationSeconds": 43200, "audience": "istio-ca"}}]}},
    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
    {"name": "istio-ca-crl", "configMap": {"name": "istio-ca-crl", "optional": True}},
]


def _opted_out(metadata: dict) -> bool:
    return any((metadata.get(where) or {}).get(OPT_OUT) == "false" for where in ("labels", "annotations"))


def tags_of(plan: dict) -> dict[str, str]:
    """tag -> version, as an owner's plan installs them (each istiod release's revisionTags)."""
    return {tag: r["inputs"]["version"] for r in plan["resources"]
            if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == "istiod"
            for tag in r["inputs"]["values"].get("revisionTags", [])}


def inject(pod: dict[str, Any], namespace: dict[str, Any],
           tags: Mapping[str, str] = SHIPPED_TAGS) -> dict[str, Any]:
    """The pod as admission sees it after the injector (unchanged where no injector answers:
    the namespace selects no installed tag (``tags``: tag -> the version of its revision) or
    carries ``istio-injection``, which every tag's webhook requires absent
    (templates/revision-tags-mwc.yaml); a pod opted out; a host-network pod)."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    version = tags.get(labels.get(REVISION_LABEL, ""))
    if version is None or LEGACY_INJECTION_LABEL in labels or _opted_out(metadata) or spec.get("hostNetwork"):
        return pod
    injected = copy.deepcopy(pod)
    meta, spec = injected.setdefault("metadata", {}), injected["spec"]
    apps = [c["name"] for c in spec.get("containers", []) if c["name"] != "istio-proxy"]
    annotations = meta.setdefault("annotations", {})
    for key, value in CAPTURE_DEFAULTS.items():
        annotations.setdefault(key, value)  # `annotation .ObjectMeta <key> <default>`: a pod's own wins
    # `istio.io/rev: {{ .Revision | default "default" }}`: the revision that injected it.
    annotations.update({REVISION_LABEL: revision_name(version), "sidecar.istio.io/status": "{}"})
    if apps:
        annotations.setdefault("kubectl.kubernetes.io/default-container", apps[0])
        annotations.setdefault("kubectl.kubernetes.io/default-logs-container", apps[0])
    meta.setdefault("labels", {}).setdefault("security.istio.io/tlsMode", "istio")
    image = annotations.get("sidecar.istio.io/proxyImage", proxy_image(version))
    validation = {"name": "istio-validation", "image": image, "securityContext": PROXY_SECURITY_CONTEXT}
    proxy = {"name": "istio-proxy", "image": image, "restartPolicy": "Always",
             "ports": [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}],
             "securityContext": PROXY_SECURITY_CONTEXT}
    spec["initContainers"] = [copy.deepcopy(validation), copy.deepcopy(proxy), *spec.get("initContainers", [])]
    spec["volumes"] = [*spec.get("volumes", []), *copy.deepcopy(VOLUMES)]
    return injected
