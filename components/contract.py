"""The platform -> environment contract, declared once.

An owner stack exports these facts as stack outputs; an attached stack reads them back through a
``StackReference``; ``Environment`` takes them whole. Each field names the stack output that
carries it, and both sides iterate over the fields, so a new shared fact is one field here and
one assignment in the owner (components/platform.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, cast

import pulumi


def stack_output(name: str, secret: bool = False) -> Any:
    """A contract field carried by the owner's stack output ``name``."""
    return field(metadata={"output": name, "secret": secret})


class _StackOutputs:
    """Fields that each name the stack output carrying them (``stack_output``)."""

    # Whether an attached stack fails without the output (or takes None from an older owner).
    REQUIRED: ClassVar[bool] = True

    def outputs(self) -> dict[str, pulumi.Input[Any]]:
        """Stack output name -> value, for the owner to export."""
        return {f.metadata["output"]: getattr(self, f.name) for f in fields(cast(Any, self))}

    @classmethod
    def read(cls, owner: pulumi.StackReference):
        """The owner's values, as an attached stack reads them back."""
        get = owner.require_output if cls.REQUIRED else owner.get_output
        return cls(**{f.name: get(f.metadata["output"]) for f in fields(cast(Any, cls))})

    @classmethod
    def output_names(cls) -> tuple[str, ...]:
        return tuple(f.metadata["output"] for f in fields(cast(Any, cls)))


@dataclass(frozen=True)
class PlatformContract(_StackOutputs):
    """What every environment needs from its platform, whoever declared it."""

    project: pulumi.Input[str] = stack_output("project")
    """GCP project of the platform (and of its DNS zone)."""
    kubeconfig: pulumi.Input[str] = stack_output("kubeconfig", secret=True)
    """How the Kubernetes provider reaches the cluster (DNS-based endpoint, no credentials)."""
    ingress_ip: pulumi.Input[str] = stack_output("ingressIp")
    """The gateway's reserved address, the target of every environment's A record."""
    gateway: pulumi.Input[str] = stack_output("gateway")
    """The shared Gateway as ``<namespace>/<name>``, what VirtualServices bind to."""
    gateway_principal: pulumi.Input[str] = stack_output("gatewayPrincipal")
    """The ingress gateway's mTLS identity: only it may bring outside requests in."""
    dns_zone: pulumi.Input[str] = stack_output("dnsZone")
    """Cloud DNS managed zone that holds the environments' records."""
    gateway_namespace: pulumi.Input[str] = stack_output("gatewayNamespace")
    """The gateway workload's namespace (MUTUAL: an environment's Gateway and CA go there)."""
    tls_credential: pulumi.Input[str] = stack_output("tlsCredential")
    """The shared wildcard certificate's Secret (MUTUAL: served by the environment's Gateway)."""
    api_domain: pulumi.Input[str] = stack_output("apiDomain")
    """The parent of every environment host, ``api.<domain>``: a host is ``<env>.<apiDomain>``."""
    cluster_identifier: pulumi.Input[str] = stack_output("clusterIdentifier")
    """The Kubernetes providers' stable name of the cluster (project/location/name): known at
    preview time (a deployed owner's output), so a changed kubeconfig never replaces a provider."""
    control_plane_cidr: pulumi.Input[str] = stack_output("controlPlaneCidr")
    """The control plane's range (``cluster.masterCidr``), which the egress NetworkPolicy lets through."""

    @classmethod
    def secret_output_names(cls) -> tuple[str, ...]:
        return tuple(f.metadata["output"] for f in fields(cls) if f.metadata["secret"])


@dataclass(frozen=True)
class ReviewFacts(_StackOutputs):
    """The owner's TLS facts an attached stack repeats in its own outputs, for its reviewers
    (optional: an older owner may not export them)."""

    tls_source: pulumi.Input[str | None] = stack_output("tlsSource")
    min_tls_version: pulumi.Input[str | None] = stack_output("minTlsVersion")
    certificate_not_after: pulumi.Input[str | None] = stack_output("certificateNotAfter")
    certificate_lifetime: pulumi.Input[Any] = stack_output("certificateLifetime")

    REQUIRED: ClassVar[bool] = False


@dataclass(frozen=True)
class MeshFacts(_StackOutputs):
    """The owner's istiod revisions, oldest first, each ``{revision, version, tags}``: what an
    environment's ``meshRevision`` tag resolves to (platform.mesh). Optional: an owner deployed
    before revisions exports none, and an attached stack's preview against it must not fail (the
    owner deploys first, and then exports them)."""

    mesh_revisions: pulumi.Input[list | None] = stack_output("meshRevisions")

    REQUIRED: ClassVar[bool] = False
