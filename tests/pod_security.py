"""The Pod Security Standards' controls as data, evaluated offline over a pod.

Each control is the documented policy of one row of kubernetes.io/docs/concepts/security/
pod-security-standards/ (v1.35: "Baseline" and "Restricted" tables; the anchor named beside it),
written as a CEL expression over the pod's ``spec``, its ``metadata`` and ``containers`` (every
container, init container and ephemeral container), evaluated with the project's CEL library.
A pod passes a level when it passes every control of that level and of the levels below it. No
maintained Python implementation of the standards exists on PyPI (checked: only unrelated
scanners), so the table is ours and cites its source row by row. What changed after v1.33 is read
off the admission's own checks (kubernetes/pod-security-admission policy/ @ 8f84a87, each
``MinimumVersion``): v1.34 adds "Probes / Lifecycle Hooks" (check_hostProbesAndhostLifecycle.go);
v1.35 relaxes "/proc Mount Type" at Baseline and both "Running as Non-root" controls for a pod in
its own user namespace (``hostUsers: false``, helpers.go relaxPolicyForUserNamespacePod), and
keeps the unconditional "/proc Mount Type" at Restricted in place of Baseline's
(check_procMount_restricted.go ``OverrideCheckIDs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from preview.crds import _cel

SOURCE = "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
LEVELS = ("privileged", "baseline", "restricted")
_BASELINE_CAPABILITIES = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                          "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
_SAFE_SYSCTLS = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                 "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                 "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                 "net.ipv4.tcp_keepalive_probes"]
_RESTRICTED_VOLUMES = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                       "projected", "secret"]
_SELINUX_TYPES = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]


def _sc(obj: str, key: str) -> str:
    return f"has({obj}.securityContext) && has({obj}.securityContext.{key})"


def _selinux_ok(obj: str) -> str:
    se = f"{obj}.securityContext.seLinuxOptions"
    return (f"!({_sc(obj, 'seLinuxOptions')}) || ((!has({se}.type) || {se}.type in {_SELINUX_TYPES}) && "
            f"!has({se}.user) && !has({se}.role))")


def _seccomp_not_unconfined(obj: str) -> str:
    return f"!({_sc(obj, 'seccompProfile')}) || {obj}.securityContext.seccompProfile.type != 'Unconfined'"


def _no_host(handler: str) -> str:
    """A probe or lifecycle handler (``c.livenessProbe``) whose httpGet and tcpSocket name no host."""
    return " && ".join(f"!(has({handler}) && has({handler}.{action}) && has({handler}.{action}.host) && "
                       f"{handler}.{action}.host != '')" for action in ("httpGet", "tcpSocket"))


USER_NAMESPACE = "(has(spec.hostUsers) && spec.hostUsers == false)"


def _apparmor_ok(obj: str) -> str:
    return (f"!({_sc(obj, 'appArmorProfile')}) || "
            f"{obj}.securityContext.appArmorProfile.type in ['RuntimeDefault', 'Localhost']")


@dataclass(frozen=True)
class Control:
    name: str
    level: str
    anchor: str
    expression: str
    overrides: str = ""  # a lower level's control this one replaces at its level


CONTROLS = (
    # --- Baseline ---------------------------------------------------------------------------------
    Control("HostProcess", "baseline", "#baseline",
            "!(" + _sc("spec", "windowsOptions") + " && has(spec.securityContext.windowsOptions.hostProcess) && "
            "spec.securityContext.windowsOptions.hostProcess) && containers.all(c, !(" + _sc("c", "windowsOptions")
            + " && has(c.securityContext.windowsOptions.hostProcess) && c.securityContext.windowsOptions.hostProcess))"),
    Control("Host Namespaces", "baseline", "#baseline",
            "!(has(spec.hostNetwork) && spec.hostNetwork) && !(has(spec.hostPID) && spec.hostPID) && "
            "!(has(spec.hostIPC) && spec.hostIPC)"),
    Control("Privileged Containers", "baseline", "#baseline",
            "containers.all(c, !(" + _sc("c", "privileged") + " && c.securityContext.privileged))"),
    Control("Capabilities", "baseline", "#baseline",
            "containers.all(c, !(" + _sc("c", "capabilities") + " && has(c.securityContext.capabilities.add)) || "
            f"c.securityContext.capabilities.add.all(a, a in {_BASELINE_CAPABILITIES}))"),
    Control("HostPath Volumes", "baseline", "#baseline",
            "!has(spec.volumes) || spec.volumes.all(v, !has(v.hostPath))"),
    Control("Host Ports", "baseline", "#baseline",
            "containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))"),
    Control("AppArmor", "baseline", "#baseline",
            f"({_apparmor_ok('spec')}) && containers.all(c, {_apparmor_ok('c')}) && "
            "metadata.annotations.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || "
            "metadata.annotations[k] == 'runtime/default' || metadata.annotations[k].startsWith('localhost/'))"),
    Control("SELinux", "baseline", "#baseline",
            f"({_selinux_ok('spec')}) && containers.all(c, {_selinux_ok('c')})"),
    Control("/proc Mount Type", "baseline", "#baseline",
            f"{USER_NAMESPACE} || containers.all(c, !(" + _sc("c", "procMount") + ") || "
            "c.securityContext.procMount == 'Default')"),
    Control("Seccomp", "baseline", "#baseline",
            f"({_seccomp_not_unconfined('spec')}) && containers.all(c, {_seccomp_not_unconfined('c')})"),
    Control("Sysctls", "baseline", "#baseline",
            "!(" + _sc("spec", "sysctls") + f") || spec.securityContext.sysctls.all(s, s.name in {_SAFE_SYSCTLS})"),
    Control("Probes / Lifecycle Hooks", "baseline", "#baseline",
            "containers.all(c, " + " && ".join(_no_host(f"c.{probe}") for probe in
                                               ("livenessProbe", "readinessProbe", "startupProbe")) + " && "
            "(!has(c.lifecycle) || (" + " && ".join(_no_host(f"c.lifecycle.{hook}") for hook in
                                                   ("postStart", "preStop")) + ")))"),
    # --- Restricted -------------------------------------------------------------------------------
    Control("Volume Types", "restricted", "#restricted",
            "!has(spec.volumes) || spec.volumes.all(v, v.exists(k, k in " + str(_RESTRICTED_VOLUMES) + "))"),
    Control("Privilege Escalation", "restricted", "#restricted",
            "containers.all(c, " + _sc("c", "allowPrivilegeEscalation")
            + " && c.securityContext.allowPrivilegeEscalation == false)"),
    Control("/proc Mount Type (restricted)", "restricted", "#restricted",
            "containers.all(c, !(" + _sc("c", "procMount") + ") || c.securityContext.procMount == 'Default')",
            overrides="/proc Mount Type"),
    Control("Running as Non-root", "restricted", "#restricted",
            f"{USER_NAMESPACE} || containers.all(c, !(" + _sc("c", "runAsNonRoot") + " && c.securityContext.runAsNonRoot == false)) && "
            "((" + _sc("spec", "runAsNonRoot") + " && spec.securityContext.runAsNonRoot == true) || "
            "containers.all(c, " + _sc("c", "runAsNonRoot") + " && c.securityContext.runAsNonRoot == true))"),
    Control("Running as Non-root user", "restricted", "#restricted",
            f"{USER_NAMESPACE} || !(" + _sc("spec", "runAsUser") + " && spec.securityContext.runAsUser == 0) && "
            "containers.all(c, !(" + _sc("c", "runAsUser") + " && c.securityContext.runAsUser == 0))"),
    Control("Seccomp (restricted)", "restricted", "#restricted",
            "containers.all(c, (" + _sc("c", "seccompProfile") + ") ? c.securityContext.seccompProfile.type in "
            "['RuntimeDefault', 'Localhost'] : (" + _sc("spec", "seccompProfile") + " && "
            "spec.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost']))"),
    Control("Capabilities (restricted)", "restricted", "#restricted",
            "containers.all(c, " + _sc("c", "capabilities") + " && has(c.securityContext.capabilities.drop) && "
            "'ALL' in c.securityContext.capabilities.drop && (!has(c.securityContext.capabilities.add) || "
            "c.securityContext.capabilities.add.all(a, a == 'NET_BIND_SERVICE')))"),
)


def controls_of(level: str) -> list[Control]:
    """Every control a pod must pass at ``level`` (its own and the lower levels')."""
    upto = LEVELS[: LEVELS.index(level) + 1]
    controls = [c for c in CONTROLS if c.level in upto]
    overridden = {c.overrides for c in controls}
    return [c for c in controls if c.name not in overridden]


def violations(pod: dict[str, Any], level: str) -> list[str]:
    """The names of the controls of ``level`` that ``pod`` (a Pod object) fails."""
    cel, _ = _cel()
    spec = pod.get("spec") or {}
    metadata = {"annotations": {}, **(pod.get("metadata") or {})}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
                  *(spec.get("ephemeralContainers") or [])]
    failed = []
    for control in controls_of(level):
        context = cel.Context()
        for name, value in {"spec": spec, "metadata": metadata, "containers": containers}.items():
            context.add_variable(name, value)
        if cel.compile(control.expression).execute(context) is not True:
            failed.append(control.name)
    return failed
