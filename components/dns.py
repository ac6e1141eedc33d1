"""The Cloud DNS zone for the platform domain: created (DNSSEC on) or an existing one looked up.

Environment A records live with their environment (components/environment.py); this module only
owns the zone, so an attached environment needs nothing but the zone's name and project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_gcp import dns

from .config import DnsConfig

CAA_TTL_SECONDS = 3600


@dataclass(frozen=True)
class DnsZoneArgs:
    project: str
    """Project that holds (or will hold) the zone."""
    domain: str
    """The platform domain; the zone serves ``<domain>.``."""
    dns: DnsConfig
    """Create a zone, or use the existing one named ``zone_name``."""


class DnsZone(pulumi.ComponentResource):
    """Outputs: ``zone_name`` (managed zone name), ``name_servers`` (delegate the domain to
    these), ``ds_record`` (created zones: publish it at the registrar for DNSSEC)."""

    def __init__(self, name: str, args: DnsZoneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("istio-envs:platform:DnsZone", name, None, opts)
        dns_name = f"{args.domain}."

        if args.dns.mode == "create":
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
                opts=pulumi.ResourceOptions(parent=self, protect=True),
            )
            self.zone_name: pulumi.Output[str] = zone.name
            self.name_servers: pulumi.Output[Sequence[str]] = zone.name_servers
            # CAA: only the configured CAs may issue for the domain (none at all when the
            # certificate is self-signed), so a mis-issued public certificate is refused.
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
            # The DS record the parent zone (your registrar) publishes to complete the DNSSEC chain.
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
            # A zone for another domain would take records we can never resolve.
            found.dns_name.apply(lambda actual: _check_zone_domain(args.dns.zone_name, actual, dns_name))

        self.register_outputs({"zone_name": self.zone_name, "name_servers": self.name_servers,
                               "ds_record": self.ds_record})


def caa_records(issuers: Sequence[str]) -> list[str]:
    """CAA rrdatas: ``issue`` and ``issuewild`` per CA; ``;`` alone forbids every CA."""
    if not issuers:
        return ['0 issue ";"', '0 issuewild ";"']
    return [f'0 {tag} "{issuer}"' for issuer in issuers for tag in ("issue", "issuewild")]


def _check_zone_domain(zone_name: str, actual: str, expected: str) -> None:
    if actual and actual != expected:
        raise pulumi.RunError(
            f"Cloud DNS zone {zone_name} serves {actual}, not {expected}; set "
            "istio-envs:platform.dns.zoneName to the zone of the platform domain")
