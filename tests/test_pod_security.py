"""Pod Security: environment namespaces enforce ``restricted``, and the pods the program runs pass
it with the containers the pinned injector adds; without Istio CNI they could not (istio-init).
The controls (tests/pod_security.py) each refuse a pod that breaks them alone."""

from __future__ import annotations

import copy

import pytest
from conftest import OWNER, ROOT, of_type
from injection import PROXY_SECURITY_CONTEXT, inject
from pod_security import CONTROLS, controls_of, violations

from components.admission import CAPTURE_DEFAULTS, PROXY_UID
from components.pod_security import POD_SECURITY_LABELS, POD_SECURITY_LEVEL, POD_SECURITY_VERSION
from components.versions import ISTIO_VERSIONS
from preview.schemas import KUBERNETES_VERSION

TAGS = sorted(set(ISTIO_VERSIONS.values()))


def istiod_file(tag: str, name: str) -> str:
    """A vendored istiod chart file of the definitions ``tag`` (every installable version's)."""
    return (ROOT / "tests" / "charts" / "istio" / tag / "istiod" / name).read_text()
RESTRICTED_POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "dev"},
    "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "app", "image": "i", "securityContext": {
                 "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}
NAMESPACE = {"metadata": {"name": "dev", "labels": {"istio.io/rev": "stable", **POD_SECURITY_LABELS}}}


def test_the_level_is_restricted_at_the_platforms_kubernetes_minor():
    """(Every environment namespace carries these labels: the pack's
    environment-namespaces-pod-security rule, over every plan in tests/test_policy.py.)"""
    assert POD_SECURITY_LEVEL == "restricted" and POD_SECURITY_VERSION == f"v{KUBERNETES_VERSION}"


def test_the_injected_pod_passes_restricted():
    pod = inject(RESTRICTED_POD, NAMESPACE)
    names = [c["name"] for c in pod["spec"]["initContainers"]]
    assert names == ["istio-validation", "istio-proxy"]
    assert violations(pod, "restricted") == []


def test_without_istio_cni_the_injected_init_container_fails_even_baseline():
    """istio-init as the template renders it without pilot.cni.enabled: NET_ADMIN, NET_RAW, root."""
    pod = inject(RESTRICTED_POD, NAMESPACE)
    init = pod["spec"]["initContainers"][0]
    init.update(name="istio-init", securityContext={
        "allowPrivilegeEscalation": False, "privileged": False,
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        "readOnlyRootFilesystem": False, "runAsGroup": 0, "runAsNonRoot": False, "runAsUser": 0})
    assert "Capabilities" in violations(pod, "baseline")
    assert {"Running as Non-root", "Running as Non-root user"} <= set(violations(pod, "restricted"))


@pytest.mark.parametrize("tag", TAGS)
def test_what_the_injection_model_relies_on_is_in_the_vendored_template(tag):
    template = istiod_file(tag, "files/injection-template.yaml")
    configmap = istiod_file(tag, "templates/istiod-injector-configmap.yaml")
    for line in (
        # istio-validation, not istio-init, with CNI; no capability added; 1337, non-root, read-only
        "{{ if .Values.pilot.cni.enabled -}}\n  - name: istio-validation",
        "    {{- if not .Values.pilot.cni.enabled }}\n        add:\n        - NET_ADMIN\n        - NET_RAW",
        "      readOnlyRootFilesystem: true\n      runAsGroup: {{ if $tproxy }} 1337",
        "      runAsNonRoot: true\n    {{- end }}\n    {{- if .Values.global.proxy.seccompProfile }}",
        # the proxy: a native sidecar, every capability dropped, non-root 1337
        "{{ if $nativeSidecar }}restartPolicy: Always{{end}}",
        "      runAsNonRoot: true\n      runAsUser: {{ .ProxyUID | default \"1337\" }}",
        # capture annotations written with CNI (the admission policy holds them to these values)
        "    traffic.sidecar.istio.io/includeInboundPorts: \"{{ annotation .ObjectMeta "
        "`traffic.sidecar.istio.io/includeInboundPorts` .Values.global.proxy.includeInboundPorts }}\",",
        "    sidecar.istio.io/interceptionMode: \"{{ annotation .ObjectMeta `sidecar.istio.io/interceptionMode` "
        ".ProxyConfig.InterceptionMode }}\",",
        # the volumes: emptyDir, downwardAPI, projected, configMap only
        "  - name: istio-podinfo\n    downwardAPI:", "  - name: istio-token\n    projected:",
    ):
        assert line in template, line
    assert "hostPath" not in template and "privileged: true" in template  # only under IPTABLES_TRACE_LOGGING
    # The template reads .Values.pilot.cni from the chart's top-level `cni` (pilot.* is descoped).
    assert '{{ $pilotVals := pick .Values "cni" "env" -}}' in configmap
    assert PROXY_SECURITY_CONTEXT["runAsUser"] == PROXY_UID
    assert set(CAPTURE_DEFAULTS) == {"sidecar.istio.io/interceptionMode", "traffic.sidecar.istio.io/includeInboundPorts",
                                     "traffic.sidecar.istio.io/excludeInboundPorts",
                                     "traffic.sidecar.istio.io/includeOutboundIPRanges"}


def test_the_mesh_installs_istio_cni_for_gke_and_tells_the_injector(plans):
    releases = {r["inputs"]["chart"]: r for r in of_type(plans[OWNER], "helm.sh/v3:Release")}
    cni, istiod = releases["cni"], releases["istiod"]
    assert cni["inputs"]["values"]["cniBinDir"] == "/home/kubernetes/bin"
    assert cni["inputs"]["values"]["resourceQuotas"] == {"enabled": True}
    assert istiod["inputs"]["values"]["pilot"]["cni"] == {"enabled": True}
    assert istiod["inputs"]["values"]["global"]["proxy"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert cni["urn"] in istiod["dependencies"]  # the node agent is there before pods are injected


BREAKING = {
    "HostProcess": lambda s, c: s.update(securityContext={**s["securityContext"], "windowsOptions": {"hostProcess": True}}),
    "Host Namespaces": lambda s, c: s.update(hostIPC=True),
    "Privileged Containers": lambda s, c: c["securityContext"].update(privileged=True),
    "Capabilities": lambda s, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
    "HostPath Volumes": lambda s, c: s.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
    "Host Ports": lambda s, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]),
    "AppArmor": lambda s, c: c["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
    "SELinux": lambda s, c: c["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    "/proc Mount Type": lambda s, c: c["securityContext"].update(procMount="Unmasked"),
    "Seccomp": lambda s, c: c["securityContext"].update(seccompProfile={"type": "Unconfined"}),
    "Sysctls": lambda s, c: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "Probes / Lifecycle Hooks": lambda s, c: c.update(lifecycle={"preStop": {"httpGet": {"host": "10.0.0.1", "port": 80}}}),
    # In its own user namespace Baseline lets /proc be unmasked; Restricted does not.
    "/proc Mount Type (restricted)": lambda s, c: (s.update(hostUsers=False),
                                                   c["securityContext"].update(procMount="Unmasked")),
    "Volume Types": lambda s, c: s.update(volumes=[{"name": "n", "nfs": {"server": "x", "path": "/"}}]),
    "Privilege Escalation": lambda s, c: c["securityContext"].pop("allowPrivilegeEscalation"),
    "Running as Non-root": lambda s, c: s["securityContext"].pop("runAsNonRoot"),
    "Running as Non-root user": lambda s, c: c["securityContext"].update(runAsUser=0),
    "Seccomp (restricted)": lambda s, c: s["securityContext"].pop("seccompProfile"),
    "Capabilities (restricted)": lambda s, c: c["securityContext"]["capabilities"].update(add=["CHOWN"]),
}


def test_every_control_has_a_case():
    assert set(BREAKING) == {c.name for c in CONTROLS}
    assert len(controls_of("baseline")) == 12 and len(controls_of("restricted")) == len(CONTROLS) - 1


@pytest.mark.parametrize("control", sorted(BREAKING))
def test_a_pod_breaking_one_control_fails_that_control_alone(control):
    pod = copy.deepcopy(RESTRICTED_POD)
    BREAKING[control](pod["spec"], pod["spec"]["containers"][0])
    # A baseline break is also a restricted one where restricted narrows the same field.
    also = {"Seccomp": ["Seccomp (restricted)"], "Capabilities": ["Capabilities (restricted)"],
            "HostPath Volumes": ["Volume Types"]}.get(control, [])
    # Restricted checks /proc with its own control in place of Baseline's (no second line).
    at_restricted = "/proc Mount Type (restricted)" if control == "/proc Mount Type" else control
    assert violations(pod, "restricted") == sorted([at_restricted, *also], key=[c.name for c in CONTROLS].index)
    level = next(c.level for c in CONTROLS if c.name == control)
    assert violations(pod, "baseline") == ([control] if level == "baseline" else [])


def test_a_pod_in_its_own_user_namespace_may_run_as_root_and_nothing_else_relaxes():
    """v1.35 (check_runAsNonRoot.go, check_runAsUser.go): UID 0 in a user namespace maps to an
    unprivileged host UID, so Restricted allows it; capabilities, escalation and seccomp still hold."""
    pod = copy.deepcopy(RESTRICTED_POD)
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    spec["securityContext"].pop("runAsNonRoot")
    container["securityContext"].update(runAsUser=0)
    assert violations(pod, "restricted") == ["Running as Non-root", "Running as Non-root user"]
    spec["hostUsers"] = False
    assert violations(pod, "restricted") == []
    container["securityContext"].pop("allowPrivilegeEscalation")
    assert violations(pod, "restricted") == ["Privilege Escalation"]
