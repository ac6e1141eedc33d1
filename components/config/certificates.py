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
    """The PEM value is wrong, in words safe to print; ``key`` is the key to blame when it is not
    the certificate."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SecretText:
    """A secret config value held only to validate it: it never prints, never reaches a
    resource (resources get ``Config.require_secret``) and is not kept in the config."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretText([secret])"

    __str__ = __repr__


@dataclass(frozen=True)
class CertificateFacts:
    """What the program keeps of a provided certificate."""

    chain: str
    names: tuple[str, ...]
    not_after: datetime.datetime
    lifetime_days: int


def _read(pem: str, now: datetime.datetime, kind: Any = None) -> tuple[Any, Any]:
    """The first certificate of a PEM chain (refused when unreadable or expired), and its
    extension of ``kind`` (or None)."""
    from cryptography import x509  # imported only when a stack provides a certificate

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as err:
        raise Refused(f"is not a readable PEM certificate ({err})") from None
    if cert.not_valid_after_utc <= now:
        raise Refused(f"expired on {cert.not_valid_after_utc:%Y-%m-%d}; expected a valid certificate")
    try:
        return cert, cert.extensions.get_extension_for_class(kind).value if kind else None
    except x509.ExtensionNotFound:
        return cert, None


def _facts(pem: str, cert: Any, names: tuple[str, ...] = ()) -> CertificateFacts:
    return CertificateFacts(pem, names, cert.not_valid_after_utc,
                            (cert.not_valid_after_utc - cert.not_valid_before_utc).days)


def server_certificate(pem: str, now: datetime.datetime, warning_days: int) -> tuple[Any, CertificateFacts]:
    """The provided gateway certificate: valid beyond the warning window, with DNS names."""
    from cryptography import x509

    cert, san = _read(pem, now, x509.SubjectAlternativeName)
    if cert.not_valid_after_utc - now < datetime.timedelta(days=warning_days):
        raise Refused(f"expires on {cert.not_valid_after_utc:%Y-%m-%d}, within expiryWarningDays "
                      f"({warning_days}); expected a certificate valid beyond the warning window: renew "
                      "it and set it again")
    names = tuple(san.get_values_for_type(x509.DNSName)) if san else ()
    if not names:
        raise Refused("has no DNS subject alternative names; expected one such as *.api.<domain>")
    return cert, _facts(pem, cert, names)


def check_key_matches(cert: Any, key: SecretText) -> None:
    """The key must be the certificate's: their public keys are compared."""
    from cryptography.hazmat.primitives import serialization

    text = key.reveal()
    if "PRIVATE KEY-----" not in text:
        raise Refused("is not a PEM private key; expected text starting with -----BEGIN PRIVATE "
                      "KEY----- (or EC/RSA PRIVATE KEY)", "tlsPrivateKey")
    try:
        loaded = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        # The parser's message could quote key material: say only what is wrong.
        raise Refused("is not a readable unencrypted PEM private key", "tlsPrivateKey") from None
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if loaded.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise Refused("does not match tlsCertificate (their public keys differ); expected the key "
                      "the certificate was issued for", "tlsPrivateKey")


def check_client_ca(pem: str, now: datetime.datetime) -> CertificateFacts:
    """A provided client CA: readable, valid, and a CA (basicConstraints CA:TRUE)."""
    from cryptography import x509

    cert, constraints = _read(pem, now, x509.BasicConstraints)
    if not getattr(constraints, "ca", False):
        raise Refused("is not a CA certificate (basicConstraints CA:TRUE); expected the CA that "
                      "signs your clients' certificates")
    return _facts(pem, cert)


def host_covered(host: str, names: Sequence[str]) -> bool:
    """True when a certificate name covers ``host``; a wildcard covers exactly one label."""
    return any(name == host or name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]
               for name in names)
