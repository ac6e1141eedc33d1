"""``environment.demo``: a small echo workload on the environment's own route, so a fresh
environment has something that answers ``make verify`` before any team deploys to it.

It is held to what the platform asks of every workload (policy rule ``workloads-hardened``):
pinned by digest, non-root, read-only root filesystem, no privilege escalation, no capabilities,
no service account token, requests within the namespace quota (config rules check that the pod,
sidecar included, fits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .config import DEMO_HEALTH_PATH, DEMO_LIMITS, DEMO_REQUESTS, DEMO_ROUTE, demo_text
from .errors import NAMESPACE
from .versions import DEMO_ECHO_IMAGE, DEMO_ECHO_PORT, DEMO_ECHO_UID


@dataclass(frozen=True)
class DemoEchoArgs:
    environment: str
    """The environment's name: what the echo answers."""
    namespace: pulumi.Input[str]
    mesh_ready: Sequence[pulumi.Resource] = ()
    """What the pod must wait for: istiod's injector, or the pod starts without a sidecar and
    STRICT mTLS refuses the gateway's requests to it."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """More labels of the Deployment and the Service (not of their pods)."""
    revision: pulumi.Input[str] | None = None
    """The Istio revision the namespace's tag points at: on the pod template, so a move to another
    revision rolls the demo onto that revision's proxy (injection happens at pod creation)."""


# On the demo's pod template: the revision its sidecar comes from (a change restarts it).
REVISION_ANNOTATION = "istio-envs/mesh-revision"


class DemoEcho(pulumi.ComponentResource):
    """A one-replica Deployment of http-echo and its Service (``DEMO_ROUTE``). Outputs:
    ``verify`` (path, health path and the expected answer, exported as ``demo``)."""

    def __init__(self, name: str, args: DemoEchoArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:environment:DemoEcho", name, None, opts)
        labels = {"app": DEMO_ROUTE.service, "app.kubernetes.io/part-of": NAMESPACE}
        metadata: k8s.meta.v1.ObjectMetaArgsDict = {
            "name": DEMO_ROUTE.service, "namespace": args.namespace, "labels": {**labels, **args.labels}}
        child = pulumi.ResourceOptions(parent=self)
        # The echo's own health endpoint (http-echo serves /health); Istio rewrites the probe to
        # its agent, so it passes the sidecar and the STRICT mTLS policy.
        probe: k8s.core.v1.ProbeArgsDict = {
            "http_get": {"path": "/health", "port": DEMO_ECHO_PORT}, "period_seconds": 10}
        container: k8s.core.v1.ContainerArgsDict = {
            "name": "echo",
            "image": DEMO_ECHO_IMAGE,
            "args": [f"-listen=:{DEMO_ECHO_PORT}", f"-text={demo_text(args.environment)}"],
            "ports": [{"name": "http", "container_port": DEMO_ECHO_PORT}],
            "resources": {"requests": DEMO_REQUESTS, "limits": DEMO_LIMITS},
            "security_context": {"allow_privilege_escalation": False,
                                 "read_only_root_filesystem": True,
                                 "capabilities": {"drop": ["ALL"]}},
            "readiness_probe": probe,
            "liveness_probe": probe,
        }
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata,
            spec={
                "replicas": 1,
                "selector": {"match_labels": {"app": DEMO_ROUTE.service}},
                "template": {
                    "metadata": {"labels": labels, **({"annotations": {REVISION_ANNOTATION: args.revision}}
                                                       if args.revision is not None else {})},
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": {
                            "run_as_non_root": True, "run_as_user": DEMO_ECHO_UID,
                            "run_as_group": DEMO_ECHO_UID,
                            "seccomp_profile": {"type": "RuntimeDefault"}},
                        "containers": [container],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_ready)),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata,
            spec={
                "selector": {"app": DEMO_ROUTE.service},
                # Named http: Istio treats the port as HTTP (routing, JWT checks).
                "ports": [{"name": "http", "port": DEMO_ROUTE.port, "target_port": "http",
                           "app_protocol": "http"}],
            },
            opts=child,
        )
        self.verify = {"path": DEMO_ROUTE.path, "healthPath": DEMO_HEALTH_PATH,
                       "text": demo_text(args.environment)}
        self.register_outputs({"verify": self.verify})
