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

# What every Istio sidecar requests (the istiod chart's global.proxy.resources.requests at the
# pinned version; tests/charts/istio/istiod/values.yaml holds the test to it): a pod's share of
# its namespace's ResourceQuota includes it.
ISTIO_SIDECAR_REQUESTS = {"cpu": "100m", "memory": "128Mi"}

# environment.demo's echo server: hashicorp/http-echo 1.0 (tag v1.0.0, October 2023), pinned by
# digest. Its image is gcr.io/distroless/static-debian12:nonroot (UID 65532) with one static
# binary: it answers every path with -text, and /health; it listens on -listen (default :5678).
# github.com/hashicorp/http-echo v1.0.0 Dockerfile and main.go. The digest is the one several
# public manifests record for hashicorp/http-echo:1.0; it could not be pulled from this machine.
DEMO_ECHO_IMAGE = ("docker.io/hashicorp/http-echo@sha256:"
                   "fcb75f691c8b0414d670ae570240cbf95502cc18a9ba57e982ecac589760a186")
DEMO_ECHO_UID = 65532
DEMO_ECHO_PORT = 5678
