"""The sandbox RFC 3161 time-stamp authority: real requests and replies, a generated test TSA key.

Served at /sandbox/tsa in the embedded default, so PAdES B-T can be tried without a provider:
set HCC_SIGNING_TSA_URL to `<public url>/sandbox/tsa`. Production points it at a real TSA.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from core.clock import utcnow
from core.devcert import DEV_MARKER

_lock = threading.Lock()
_stampers: dict[Path, DummyTimeStamper] = {}


def _make(folder: Path) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEV_MARKER),
                      x509.NameAttribute(NameOID.COMMON_NAME, "HCC sandbox TSA")])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(key, hashes.SHA256()))
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sandbox-tsa.key").write_bytes(key_der)
    (folder / "sandbox-tsa.key").chmod(0o600)
    (folder / "sandbox-tsa.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return key_der, cert.public_bytes(serialization.Encoding.DER)


def stamper(instance_dir: Path) -> DummyTimeStamper:
    folder = instance_dir / "signing"
    with _lock:
        if folder not in _stampers:
            if (folder / "sandbox-tsa.key").exists() and (folder / "sandbox-tsa.der").exists():
                key_der, cert_der = (folder / "sandbox-tsa.key").read_bytes(), (folder / "sandbox-tsa.der").read_bytes()
            else:
                key_der, cert_der = _make(folder)
            _stampers[folder] = DummyTimeStamper(tsa_cert=asn1_x509.Certificate.load(cert_der),
                                                 tsa_key=keys.PrivateKeyInfo.load(key_der))
        return _stampers[folder]


class BadTimeStampRequest(ValueError):
    """Raised when the body is not a DER TimeStampReq."""


def reply(instance_dir: Path, query: bytes) -> bytes:
    """A DER TimeStampResp for a DER TimeStampReq (RFC 3161)."""
    try:
        req = tsp.TimeStampReq.load(query)
        req.native  # parse it all now, so a malformed request fails here  # noqa: B018
    except (ValueError, TypeError) as e:
        raise BadTimeStampRequest(str(e)) from e
    return stamper(instance_dir).request_tsa_response(req).dump()


def tsa_trust_roots(settings) -> list[asn1_x509.Certificate]:
    """The time-stamp authorities trusted when verifying long-term receipts: the sandbox TSA in sandbox mode.

    A real TSA's root is listed in HCC_SIGNING_TRUST_ROOTS, with the signing CAs.
    """
    if not settings.sandbox:
        return []
    path = settings.instance_dir / "signing" / "sandbox-tsa.der"
    return [asn1_x509.Certificate.load(path.read_bytes())] if path.exists() else []
