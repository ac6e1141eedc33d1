"""The Cloud DNS zone of the platform: created for ``api.<domain>.`` (DNSSEC on, CAA) or an
existing one looked up; and the check that a created zone is never replaced behind the owner's
back.

A created zone serves only the environments' parent name, ``api.<domain>.`` (every host is
``<env>.api.<domain>``): the rest of the domain (its MX, ``www``, …) stays wherever it is hosted,
and the CAA record limits certificate issuance for ``api.<domain>`` and below only. The parent
zone delegates ``api`` to the zone's name servers (an NS record set) and publishes its DS record.

Environment A records live with their environment (components/environment.py); this module only
owns the zone, so an attached environment needs nothing but the zone's name and project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await
from pulumi_gcp import dns

from .config import ConfigError, DnsConfig, PlatformConfig
from .config.types import show

CAA_TTL_SECONDS = 3600
# The StackReference through which an owner reads its own stack's last deployed outputs.
LAST_DEPLOYMENT = "last-deployment"


@dataclass(frozen=True)
class DnsZoneArgs:
    project: str
    """Project that holds (or will hold) the zone."""
    domain: str
    """The platform domain (hosts are ``<env>.api.<domain>``)."""
    api_domain: str
    """``api.<domain>``, the parent of every host (PlatformConfig.api_domain)."""
    dns: DnsConfig
    """Create a zone (for ``served``), or use the existing one named ``zone_name``."""
    served: str
    """The name a created zone serves (DnsConfig.served_domain): ``api.<domain>``, or the apex
    for a zone deployed so before (``zoneDomain: apex``)."""


class DnsZone(pulumi.ComponentResource):
    """Outputs: ``zone_name`` (managed zone name), ``dns_name`` (the name the zone serves),
    ``name_servers`` (the parent zone delegates ``dns_name`` to these), ``ds_record`` (created
    zones: the parent zone publishes it for DNSSEC)."""

    def __init__(self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:DnsZone", name, None, opts)

        if args.dns.zone == "create":
            dns_name = f"{args.served}."
            # Releasing a deployed zone (dns.releasedZone: its own name): no longer protected, and
            # kept in Cloud DNS when it leaves the stack, so the next `pulumi up` may replace it
            # with the zone for another name (README "Moving a deployed zone").
            releasing = args.dns.released_zone == args.dns.zone_name
            zone = dns.ManagedZone(
                f"{name}-zone",
                name=args.dns.zone_name,
                project=args.project,
                dns_name=dns_name,
                description=f"Environments of {args.domain}, managed by Pulumi",
                visibility="public",
                # DNSSEC: resolvers can tell our answers from a spoofed ones.
                dnssec_config={"state": "on"},
                # The zone holds delegation and DNSSEC keys: deleting it breaks every host.
                opts=pulumi.ResourceOptions(parent=self, protect=not releasing,
                                            retain_on_delete=releasing),
            )
            self.zone_name: pulumi.Output[str] = zone.name
            self.dns_name: pulumi.Output[str] = zone.dns_name
            self.name_servers: pulumi.Output[Sequence[str]] = zone.name_servers
            self.released_zone = args.dns.zone_name if releasing else None
            # CAA at the zone's own name: only the configured CAs may issue for it and every name
            # below it (none at all when the certificate is self-signed), so a mis-issued public
            # certificate for a host is refused; names outside the zone are not affected.
            dns.RecordSet(
                f"{name}-caa",
                name=dns_name,
                type="CAA",
                ttl=CAA_TTL_SECONDS,
                managed_zone=zone.name,
                project=args.project,
                rrdatas=caa_records(args.dns.caa_issuers),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # The DS record the parent zone publishes to complete the DNSSEC chain.
            keys = dns.get_keys_output(managed_zone=zone.name, project=args.project,
                                       opts=pulumi.InvokeOutputOptions(parent=self))
            self.ds_record: pulumi.Output[str | None] | None = keys.key_signing_keys.apply(
                lambda ksks: ksks[0].ds_record if ksks else None)
        else:
            found = dns.get_managed_zone_output(
                name=args.dns.zone_name, project=args.project,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.zone_name = found.name
            self.name_servers = found.name_servers
            self.ds_record = None  # an existing zone's DNSSEC is managed where the zone is
            self.released_zone = None
            # A zone for another domain would take records we can never resolve.
            self.dns_name = found.dns_name.apply(
                lambda actual: _check_zone_domain(args.dns.zone_name, actual, args.api_domain, args.domain))

        self.register_outputs({"zone_name": self.zone_name, "dns_name": self.dns_name,
                               "name_servers": self.name_servers, "ds_record": self.ds_record})


def caa_records(issuers: Sequence[str]) -> list[str]:
    """CAA rrdatas: ``issue`` and ``issuewild`` per CA; ``;`` alone forbids every CA."""
    if not issuers:
        return ['0 issue ";"', '0 issuewild ";"']
    return [f'0 {tag} "{issuer}"' for issuer in issuers for tag in ("issue", "issuewild")]


def _check_zone_domain(zone_name: str, actual: str, api_domain: str, domain: str) -> str:
    """An existing zone must serve the hosts' parent ``api.<domain>.`` or the apex ``<domain>.``
    (a company's own zone for its domain): ``<env>.api.<domain>.`` is a name inside either."""
    if actual and _fqdn(actual) not in (f"{api_domain}.", f"{domain}."):
        raise pulumi.RunError(
            f"Cloud DNS zone {zone_name} serves {actual}, not {api_domain}. or {domain}.; set "
            "istio-envs:platform.dns.zoneName to a zone of the platform domain")
    return actual


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


# --------------------------------------------------------------------------------------------
# A created zone is never replaced behind the owner's back.
#
# Cloud DNS cannot rename a managed zone or change the name it serves (name and dns_name are
# ForceNew in the provider): a changed value replaces the zone, and with it every record, the
# delegation and the DNSSEC keys. The zone is protected, so a real `pulumi up` would stop at it
# part-way through. The program cannot see the stack's state offline, and an old stack file
# cannot say what was deployed from it; the stack's own last deployed outputs can: the owner
# reads them through a StackReference to its own stack (Pulumi serves them like any other
# stack's; pulumi/pulumi#3722) and stops before it declares anything.


def last_deployed_outputs() -> dict[str, Any]:
    """This stack's outputs from its last deployment ({} if it was never deployed)."""
    organization = pulumi.get_organization() or "organization"
    reference = pulumi.StackReference(
        LAST_DEPLOYMENT, stack_name=f"{organization}/{pulumi.get_project()}/{pulumi.get_stack()}")
    # Waited for here, like a synchronous invoke: the check must stop the program before any
    # resource is declared, not fail in an apply after the engine has started on them.
    outputs = _sync_await(reference.outputs.future())
    return dict(outputs or {})


def deployed_zone(outputs: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, DNS name) of the zone the last deployment created; None when it created none
    (never deployed, or a looked-up zone: only a created zone has a DS record output). Outputs
    from before ``dnsName`` existed come from a program whose zone served the apex ``<domain>.``
    (the domain of the ``host`` output, ``<env>.api.<domain>``)."""
    name = outputs.get("dnsZone")
    if not outputs.get("dnsDsRecord") or not isinstance(name, str):
        return None
    served = outputs.get("dnsName")
    if not isinstance(served, str):
        host = outputs.get("host")
        if not isinstance(host, str) or host.count(".") < 2:
            return None
        served = host.split(".", 2)[2]
    return name, _fqdn(served)


def zone_replacement(outputs: Mapping[str, Any], platform: PlatformConfig, stack: str
                     ) -> tuple[str, str] | None:
    """(key, message) when the configured zone would replace the zone the stack's last deployment
    created; None when it is the same zone, none was created, or a migration allows it."""
    dns = platform.dns
    deployed = deployed_zone(outputs) if dns.zone == "create" else None
    if deployed is None:
        return None
    name, served = deployed
    declared = (dns.zone_name, _fqdn(dns.served_domain(platform)))
    if declared == deployed:
        return None
    if dns.released_zone == name:
        if outputs.get("dnsReleasedZone") == name:
            return None  # step 2 of the move: the deployed zone is unprotected and retained
        return ("platform.dns.releasedZone",
                f"got {show(name)}, but stack {stack}'s last deployment still protects that zone; "
                f"expected first a `pulumi up` that releases it (the deployed zone's own zoneDomain "
                f"with releasedZone: {name}), then this one")
    other = "apex" if dns.zone_domain == "api" else "api"
    other_platform = platform.model_copy(update={"dns": dns.model_copy(update={"zone_domain": other})})
    default = "" if "zone_domain" in dns.model_fields_set else " (the default)"
    what = (f"stack {stack}'s last deployment created zone {name} for {served}, and Cloud DNS cannot "
            f"rename a zone or change the name it serves: `pulumi up` would replace the protected "
            f"zone with every record in it")
    move = (f"or move it in two steps (README \"Moving a deployed zone\"): releasedZone: {name} "
            f"with the deployed zone's settings, `pulumi up`, then the new ones")
    if _fqdn(other_platform.dns.served_domain(other_platform)) == served:
        return ("platform.dns.zoneDomain",
                f"got {show(dns.zone_domain)}{default}, a zone for {declared[1]}; but {what}; "
                f"expected {other} (keeps the deployed zone as it is), or move it in two steps "
                f"(README \"Moving a deployed zone\"): zoneDomain: {other} with releasedZone: "
                f"{name}, `pulumi up`, then zoneDomain: {dns.zone_domain}")
    if served == declared[1]:
        return ("platform.dns.zoneName",
                f"got {show(dns.zone_name)}; but {what}; expected {show(name)}, {move}")
    return ("platform.domain",
            f"got {show(platform.domain)}, a zone for {declared[1]}; but {what}; expected the "
            f"deployed zone's domain, {move}")


def refuse_zone_replacement(stack: str, stack_file: str, platform: PlatformConfig) -> None:
    """Stop the program, before anything is declared, if its zone would replace the deployed one."""
    if platform.dns.zone != "create":
        return
    problem = zone_replacement(last_deployed_outputs(), platform, stack)
    if problem is not None:
        raise ConfigError(stack_file, *problem)
