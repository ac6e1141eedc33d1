"""X.509 checks of the PEM values in config (``cryptography``, imported only when a stack provides
one): a provided certificate (readable, valid beyond the warning window, its DNS names, the key
that belongs to it) and a provided client CA. Each check raises :class:`Refused` in words and
never quotes key material: the key is held in :class:`SecretText` only to compare public keys."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class Refused(Exception):
    """``Refused(key, message)``: the PEM value at ``key`` is wrong, in words safe to print."""


class SecretText:
    """A secret config value held only to validate it: it never prints, never reaches a resource
    (resources get ``Config.require_secret``) and is not kept in the config."""

    def __init__(self, value: str) -> None:
        self.reveal = lambda: value

    def __repr__(self) -> str:
        return "SecretText([secret])"

    __str__ = __repr__


@dataclass(frozen=True)
class CertificateFacts:
    """What the program keeps of a provided certificate."""

    chain: str
    names: tuple[str, ...]
    not_after: datetime.datetime


def _read(key: str, pem: str, now: datetime.datetime, kind: Any) -> tuple[Any, Any, CertificateFacts]:
    """The first certificate of a PEM chain (refused when unreadable or expired), its extension of
    ``kind`` (or None) and its facts (without names)."""
    from cryptography import x509  # imported only when a stack provides a certificate

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as err:
        raise Refused(key, f"is not a readable PEM certificate ({err})") from None
    end = cert.not_valid_after_utc
    if end <= now:
        raise Refused(key, f"expired on {end:%Y-%m-%d}; expected a valid certificate")
    try:
        extension = cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        extension = None
    return cert, extension, CertificateFacts(pem, (), end)


def server_certificate(pem: str, now: datetime.datetime, warning_days: int) -> tuple[Any, CertificateFacts]:
    """The provided gateway certificate: valid beyond the warning window, with DNS names."""
    from cryptography import x509

    cert, san, facts = _read("tlsCertificate", pem, now, x509.SubjectAlternativeName)
    if facts.not_after - now < datetime.timedelta(days=warning_days):
        raise Refused("tlsCertificate", f"expires on {facts.not_after:%Y-%m-%d}, within expiryWarningDays "
                      f"({warning_days}); expected a certificate valid beyond the warning window: renew it "
                      "and set it again")
    names = tuple(san.get_values_for_type(x509.DNSName)) if san else ()
    if not names:
        raise Refused("tlsCertificate", "has no DNS subject alternative names; expected one such as "
                                        "*.api.<domain>")
    return cert, CertificateFacts(pem, names, facts.not_after)


def check_key_matches(cert: Any, key: SecretText) -> None:
    """The key must be the certificate's: their public keys are compared."""
    from cryptography.hazmat.primitives import serialization

    text = key.reveal()
    if "PRIVATE KEY-----" not in text:
        raise Refused("tlsPrivateKey", "is not a PEM private key; expected text starting with -----BEGIN "
                                       "PRIVATE KEY----- (or EC/RSA PRIVATE KEY)")
    try:
        loaded = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        # The parser's message could quote key material: say only what is wrong.
        raise Refused("tlsPrivateKey", "is not a readable unencrypted PEM private key") from None
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if loaded.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise Refused("tlsPrivateKey", "does not match tlsCertificate (their public keys differ); expected "
                                       "the key the certificate was issued for")


def check_client_ca(pem: str, now: datetime.datetime) -> CertificateFacts:
    """A provided client CA: readable, valid, and a CA (basicConstraints CA:TRUE)."""
    from cryptography import x509

    _, constraints, facts = _read("clientCaCertificate", pem, now, x509.BasicConstraints)
    if not getattr(constraints, "ca", False):
        raise Refused("clientCaCertificate", "is not a CA certificate (basicConstraints CA:TRUE); expected "
                                             "the CA that signs your clients' certificates")
    return facts


def host_covered(host: str, names: Sequence[str]) -> bool:
    """True when a certificate name covers ``host``; a wildcard covers exactly one label."""
    return any(name == host or name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]
               for name in names)
