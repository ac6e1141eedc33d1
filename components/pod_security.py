"""The Pod Security Standard every environment namespace enforces, and the labels that say so.

``restricted``: with Istio CNI (components/mesh.py) the injected pod has no ``istio-init``
(NET_ADMIN, NET_RAW, root: refused even by ``baseline``), only ``istio-validation`` and
``istio-proxy``, both non-root with every capability dropped and a RuntimeDefault seccomp profile
(the istiod value ``global.proxy.seccompProfile``); tests/test_pod_security.py evaluates every pod
the program runs, sidecar included, against the documented controls. Pinned to a Kubernetes
version, so a cluster upgrade never tightens the rules under running workloads.
https://kubernetes.io/docs/concepts/security/pod-security-admission/#pod-security-admission-labels-for-namespaces
"""

from __future__ import annotations

from .versions import PLATFORM_KUBERNETES_MINORS

POD_SECURITY_LEVEL = "restricted"
# The oldest Kubernetes minor the platform runs. Since v1.34 Baseline refuses a probe or lifecycle
# hook with a `host` (the kubelet would send it from the node); since v1.35 Restricted lets a pod
# in its own user namespace (`hostUsers: false`) run as UID 0 (kubernetes/pod-security-admission
# policy/check_hostProbesAndhostLifecycle.go, check_runAsNonRoot.go, check_runAsUser.go @ 8f84a87).
POD_SECURITY_VERSION = f"v{PLATFORM_KUBERNETES_MINORS[0]}"
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "warn", "audit")
    for suffix, value in (("", POD_SECURITY_LEVEL), ("-version", POD_SECURITY_VERSION))
}
