"""Every pinned upstream version, chart repository and image registry, stated once. Charts, CRDs and proxies follow these pins; the
vendored chart values and CRDs (``tests/charts/``, ``schemas/crds/``) name their tag in a
``SOURCE`` file that the tests hold against these constants, and the README is tested against
them too."""

# Istio 1.30.5 (2026-09-21): the newest 1.30 patch whose release notes are published
# (istio/istio.io content/en/news/releases/1.30.x/announcing-1.30.5). 1.30.4 (2026-08-26,
# ISTIO-SECURITY-2026-006) fixed Envoy path-matching bypasses of RBAC rules (CVE-2026-73553,
# -73551, -73511, -73552: the kind of rule publicPaths renders) and istiod reporting ready before
# its webhook server accepts connections (istio/istio#61049). 1.31.0 is GA since 2026-08-31 and
# 1.31.1 is out; a minor is supported until six weeks after the second minor after it
# (istio.io "Supported releases"), so 1.30 lasts until six weeks after 1.32. Moving to 1.31 is a
# canary upgrade, environment by environment (docs/operations.md "Upgrading Istio").
ISTIO_VERSION = "1.30.5"
# What the pin's vendored Istio definitions were taken from (chart values in
# tests/charts/istio/1.30.3/, CRDs in schemas/crds/istio/1.30.3/): the newest 1.30 tag in the upstream snapshot available here. Istio
# changes no API, CRD or chart value within a minor (patches are bug and security fixes), so
# they stand for the pin's whole line: the tests hold their tag to the pin's minor, and the
# preview prints which tag it checked against.
ISTIO_DEFINITIONS_VERSION = "1.30.3"
# The next minor, which an owner installs beside the pin as the canary revision
# (platform.mesh): Istio 1.31.1 (2026-09-21, istio/istio.io content/en/news/releases/1.31.x/
# announcing-1.31.1; its upgrade notes from 1.30: .../announcing-1.31/upgrade-notes, none touching
# what this program sets). Its definitions are 1.31.0-rc.0's, the newest 1.31 tag in the upstream
# snapshot here: between rc.0 and GA only release fixes land, and the checks of a release
# candidate's values and CRDs are the nearest to 1.31.1's that can be read offline (a weaker
# claim than the pin's "same minor, same API"; vendor a 1.31 GA tag when the snapshot has one).
# Istio 1.31 keeps istioctl's MinK8SVersion at 32 (istioctl/pkg/install/k8sversion/version.go at
# 1.31.0-rc.0); its support table is not in the snapshot, so the platform's range is the pin's.
ISTIO_NEXT_VERSION = "1.31.1"
# Every Istio version an owner may install as a revision (istiod per revision, beside the pin
# during an upgrade: docs/operations.md "Upgrading Istio"), each with the tag its vendored
# definitions come from (tests/charts/istio/<tag>/, schemas/crds/istio/<tag>/). A version is
# installable only with definitions the checks can read.
ISTIO_VERSIONS = {ISTIO_VERSION: ISTIO_DEFINITIONS_VERSION, ISTIO_NEXT_VERSION: "1.31.0-rc.0"}
# Istio's Helm charts, every version: https://blob.istio.io/istio-release/charts (OCI:
# ghcr.io/istio/release/charts). The old istio-release.storage.googleapis.com/charts loses them
# in December 2026, and 1.31 was never published there (istio/istio.io
# content/en/blog/2026/retirement-of-gcp/index.md, 2026-08-21).
ISTIO_CHARTS = "https://blob.istio.io/istio-release/charts"
# Istio's images: docker.io/istio only, from 1.31 (same post; gcr.io/istio-release and
# registry.istio.io are decommissioned in December 2026). Set explicitly, so the Binary
# Authorization allowlist and the charts name the same registry.
ISTIO_HUB = "docker.io/istio"
# What the program installs from those charts and runs from that hub: Istio's charts
# (components/mesh.py; tests/test_versions.py holds the plans' releases to them) and the images
# they deploy at the pinned hub and tag (the charts' default names: `image:` in
# tests/charts/istio/*/values.yaml). The daily operations run checks that each is still served
# (tools/ci.py upstream-findings).
ISTIO_CHART_NAMES = ("base", "cni", "istiod", "gateway")
ISTIO_IMAGES = ("pilot", "proxyv2", "install-cni")
# Kubernetes minors Istio 1.30 supports: istio.io data/compatibility/supportStatus.yml lists
# 1.32-1.36 for 1.30, and istioctl's MinK8SVersion is 32 at 1.30.3
# (istioctl/pkg/install/k8sversion/version.go).
ISTIO_KUBERNETES_MINORS = ("1.32", "1.33", "1.34", "1.35", "1.36")
# Since when GKE holds minor upgrades of the cluster (components/cluster.py): the day this Istio
# pin was set. A fixed instant, so the maintenance exclusion never drifts.
MINOR_UPGRADE_HOLD_SINCE = "2026-12-01T00:00:00Z"

# cert-manager: the chart brings its CRDs at the same version. Charts: cert-manager's own Helm
# repository (cert-manager.io "Installing with Helm"); images: quay.io/jetstack, the chart's
# default registry and namespace, stated so the Binary Authorization allowlist derives from them.
CERT_MANAGER_VERSION = "v1.21.1"
CERT_MANAGER_CHARTS = "https://charts.jetstack.io"
CERT_MANAGER_REGISTRY = "quay.io"
CERT_MANAGER_IMAGE_NAMESPACE = "jetstack"
# The images the chart deploys (its `name:` defaults in tests/charts/cert-manager/values.yaml; the
# acmesolver image runs only for HTTP-01 challenges, which this platform does not use).
CERT_MANAGER_IMAGES = ("cert-manager-controller", "cert-manager-webhook", "cert-manager-cainjector",
                       "cert-manager-startupapicheck")
# Kubernetes minors cert-manager 1.21 supports (cert-manager.io "Supported releases",
# cert-manager/website content/docs/releases/README.md): 1.33-1.36.
CERT_MANAGER_KUBERNETES_MINORS = ("1.33", "1.34", "1.35", "1.36")

# Kubernetes minors GKE still gives standard support (the GKE release schedule, read 2026-12-04;
# schemas/support-windows.yaml has each one's end): 1.33 ended on 2026-08-03 and 1.34 on
# 2026-10-01, so no cluster runs them any more and checking against them checks nothing real.
# Moving this on is a deliberate step when the daily upstream job reports a minor's end.
GKE_KUBERNETES_MINORS = ("1.35", "1.36")

# The Kubernetes minors the platform supports: those every component and GKE support. GKE's minor
# upgrades are held inside it (components/cluster.py), the manifests and the namespaces' Pod
# Security version are the oldest of them (preview/schemas.py, components/pod_security.py).
PLATFORM_KUBERNETES_MINORS = tuple(minor for minor in ISTIO_KUBERNETES_MINORS
                                   if minor in CERT_MANAGER_KUBERNETES_MINORS and minor in GKE_KUBERNETES_MINORS)

# What every Istio sidecar requests (the istiod chart's global.proxy.resources.requests at the
# pinned version; tests/charts/istio/<tag>/istiod/values.yaml holds the test to it, for every
# installable version): a pod's share of
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
