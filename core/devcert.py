"""A development CA and receipt-signing certificate, generated on first start, never for production.

The CA publishes revocation data, so receipts signed with its certificates can be PAdES B-LT: each
certificate it issues names a CRL distribution point (`crl_url`), and `write_crl` keeps the CA's
current CRL (RFC 5280, DER) under instance/signing/crl/, which the sandbox serves at
/sandbox/ca/<name>.crl (api/receipts/sandbox.py). The CA key is kept beside it (0600) for that.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from core.clock import utcnow

# Every development certificate carries this in its organisation unit, so production can refuse it.
DEV_MARKER = "HCC DEVELOPMENT - NOT FOR PRODUCTION"


# Where the sandbox serves a CA's CRL, under the public URL: /sandbox/ca/<crl_name(ca)>.crl
CRL_PATH = "/sandbox/ca/{name}.crl"
CRL_DAYS = 7


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
                      development: bool = True, crl_url: str | None = None, not_after: datetime | None = None):
    """A signing certificate from `ca_key`; with `crl_url`, it names where its CA's CRL is published.

    `not_after` overrides `days` (tests that need a certificate expiring within minutes).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    now = utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation, development)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(not_after or now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None, crl_issuer=None)]),
            critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def crl_name(ca_cert) -> str:
    """The file name (without .crl) under which a CA's CRL is published: its key identifier in hex."""
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return ski.hex()


def crl_url(public_url: str, ca_cert) -> str:
    """The CRL distribution point of the certificates `ca_cert` issues, served by the sandbox."""
    return public_url.rstrip("/") + CRL_PATH.format(name=crl_name(ca_cert))


def make_crl(ca_key, ca_cert, revoked_serials: tuple[int, ...] = (), *, days: int = CRL_DAYS) -> bytes:
    """A DER CRL (RFC 5280) signed by the CA, listing `revoked_serials`, valid for `days`."""
    now = utcnow()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - timedelta(minutes=5)).next_update(now + timedelta(days=days))
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
               .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False))
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - timedelta(minutes=1)).build())
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def write_crl(instance_dir: Path, ca_key, ca_cert, revoked_serials: tuple[int, ...] = ()) -> Path:
    """Publish (write) a CA's current CRL where the sandbox serves it; returns the file."""
    folder = instance_dir / "signing" / "crl"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{crl_name(ca_cert)}.crl"
    path.write_bytes(make_crl(ca_key, ca_cert, revoked_serials))
    return path


_CRL_NAME = re.compile(r"[0-9a-f]{16,128}")


def published_crl(instance_dir: Path, name: str) -> bytes | None:
    """The CRL published under `name`, renewed first when it has expired and the CA key is at hand; None if none."""
    if not _CRL_NAME.fullmatch(name):
        return None
    path = instance_dir / "signing" / "crl" / f"{name}.crl"
    if not path.exists():
        return None
    data = path.read_bytes()
    crl = x509.load_der_x509_crl(data)
    if crl.next_update_utc is not None and crl.next_update_utc <= utcnow():
        folder = instance_dir / "signing"
        ca_path, key_path = folder / "dev-ca.pem", folder / "dev-ca.key"
        if ca_path.exists() and key_path.exists():
            ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
            if crl_name(ca_cert) == name:
                ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                data = write_crl(instance_dir, ca_key, ca_cert).read_bytes()
    return data


def ensure_dev_signing(instance_dir: Path, organisation: str = "Trung tâm Phục vụ hành chính công (DEMO)",
                       public_url: str = "http://127.0.0.1:5000") -> DevSigningFiles:
    """Create (once) instance/signing/ with a development CA and a PKCS#12 signing identity.

    The signing certificate names the CA's CRL at `public_url`/sandbox/ca/<name>.crl, and that CRL is
    published at once (the CA key is kept, 0600, to renew it).
    """
    folder = instance_dir / "signing"
    p12_path, pw_path, ca_path = folder / "dev-signing.p12", folder / "dev-signing.password", folder / "dev-ca.pem"
    if p12_path.exists() and pw_path.exists() and ca_path.exists():
        return DevSigningFiles(p12_path, pw_path.read_text().strip(), ca_path)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_key, ca_cert = make_ca()
    key, cert = make_signing_cert(ca_key, ca_cert, organisation, "Ký biên lai điện tử (DEV)",
                                  crl_url=crl_url(public_url, ca_cert))
    key_path = folder / "dev-ca.key"
    key_path.write_bytes(ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    key_path.chmod(0o600)
    write_crl(instance_dir, ca_key, ca_cert)
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
