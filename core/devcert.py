"""A development CA and receipt-signing certificate, generated on first start, never for production."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from core.clock import utcnow

# Every development certificate carries this in its organisation unit, so production can refuse it.
DEV_MARKER = "HCC DEVELOPMENT - NOT FOR PRODUCTION"


@dataclass(frozen=True)
class DevSigningFiles:
    pkcs12: Path
    password: str
    ca_cert: Path


def _name(common_name: str, organisation: str, development: bool = True) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]
    if development:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEV_MARKER))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_ca(common_name: str = "HCC Development CA", key_size: int = 2048, development: bool = True):
    """A self-signed CA (tests make non-development ones to stand in for a real provider's)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    now = utcnow()
    name = _name(common_name, "HCC Development", development)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_signing_cert(ca_key, ca_cert, organisation: str, common_name: str, key_size: int = 2048, days: int = 1825,
                      development: bool = True):
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation, development)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ensure_dev_signing(instance_dir: Path, organisation: str = "Trung tâm Phục vụ hành chính công (DEMO)") -> DevSigningFiles:
    """Create (once) instance/signing/ with a development CA and a PKCS#12 signing identity."""
    folder = instance_dir / "signing"
    p12_path, pw_path, ca_path = folder / "dev-signing.p12", folder / "dev-signing.password", folder / "dev-ca.pem"
    if p12_path.exists() and pw_path.exists() and ca_path.exists():
        return DevSigningFiles(p12_path, pw_path.read_text().strip(), ca_path)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_key, ca_cert = make_ca()
    key, cert = make_signing_cert(ca_key, ca_cert, organisation, "Ký biên lai điện tử (DEV)")
    password = secrets.token_urlsafe(24)
    blob = pkcs12.serialize_key_and_certificates(
        b"hcc-dev-signing", key, cert, [ca_cert],
        serialization.BestAvailableEncryption(password.encode()),
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pw_path.write_text(password)
    pw_path.chmod(0o600)
    p12_path.write_bytes(blob)
    p12_path.chmod(0o600)
    return DevSigningFiles(p12_path, password, ca_path)


class UnreadablePkcs12(Exception):
    """Raised when a PKCS#12 file cannot be opened (missing, unreadable, wrong password, not PKCS#12, no key)."""


def is_development_pkcs12(path: Path, password: str | None) -> bool:
    """True when the PKCS#12 file holds one of our development certificates.

    Raises UnreadablePkcs12 when the file cannot be opened: "could not look" must never pass for "not a
    development certificate" (a production start-up check relies on this).
    """
    try:
        blob = path.read_bytes()
    except OSError as e:
        raise UnreadablePkcs12(f"cannot read {path}: {e.strerror or e}") from e
    try:
        key, cert, _chain = pkcs12.load_key_and_certificates(blob, password.encode() if password else None)
    except (ValueError, TypeError) as e:
        raise UnreadablePkcs12(f"cannot open {path}: wrong or missing password, or not a PKCS#12 file") from e
    if cert is None or key is None:
        raise UnreadablePkcs12(f"{path} holds no {'certificate' if cert is None else 'private key'}")
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(u.value == DEV_MARKER for u in units)
