"""Every pinned upstream version, stated once. Charts, CRDs and proxies follow these pins; the
vendored chart values and CRDs (``tests/charts/``, ``schemas/crds/``) name their tag in a
``SOURCE`` file that the tests hold against these constants, and the README is tested against
them too."""

# 1.30.3 is the newest 1.30 tag in the upstream repository snapshot (istio/istio, August 2026;
# 1.31 is still a release candidate there). istio.io's supportStatus.yml expects 1.30's end of
# life around November 2026 and lists a 1.30.4: move to 1.31.x as soon as its tag and charts are
# confirmed (README: "Upgrading Istio").
ISTIO_VERSION = "1.30.3"
ISTIO_CHARTS = "https://istio-release.storage.googleapis.com/charts"
# Where the release charts pull Istio's images from (set explicitly, so the Binary Authorization
# allowlist and the charts name the same registry).
ISTIO_HUB = "docker.io/istio"
# Kubernetes minors Istio 1.30 supports: istio.io data/compatibility/supportStatus.yml lists
# 1.32-1.36 for 1.30, and istioctl's MinK8SVersion is 32 at 1.30.3
# (istioctl/pkg/install/k8sversion/version.go).
ISTIO_KUBERNETES_MINORS = ("1.32", "1.33", "1.34", "1.35", "1.36")
# Since when GKE holds minor upgrades of the cluster (components/cluster.py): the day this Istio
# pin was set. A fixed instant, so the maintenance exclusion never drifts.
MINOR_UPGRADE_HOLD_SINCE = "2026-12-01T00:00:00Z"

# cert-manager: the chart brings its CRDs at the same version.
CERT_MANAGER_VERSION = "v1.21.1"
CERT_MANAGER_CHARTS = "https://charts.jetstack.io"
# The chart's image registry and namespace, stated (they are the chart's defaults) so the Binary
# Authorization allowlist derives from them.
CERT_MANAGER_REGISTRY = "quay.io"
CERT_MANAGER_IMAGE_NAMESPACE = "jetstack"
