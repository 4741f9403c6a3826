"""Signing keys for receipts: a PKCS#12 file or a PKCS#11 token/HSM, loaded once per process.

Each collecting unit signs its receipts with its own key (`load_unit_signer`): a PKCS#12 kept encrypted
as the unit's credential (province.units.set_signing_pkcs12), or a PKCS#11 token named on the unit. The
deployment's key from settings (`load_signer`) signs for a unit without one, outside production only.

A third kind of credential is a remote signing service, where the key never leaves the provider:
the Cloud Signature Consortium API (pyHanko's CSC signer) or VNPT SmartCA (receipts.remote).

One `ReceiptSigner` signs both the embedded XML (XML-DSig, through `xml_key`) and the PDF (PAdES,
through pyHanko), so the two signatures always come from the same key and certificate.

Levels: PAdES B-B without a time-stamp authority; with one (HCC_SIGNING_TSA_URL), always B-LTA —
the signature gets its RFC 3161 token (B-T), then `extend_long_term` adds the revocation data of
the signer's chain to the document security store (B-LT) and a document time-stamp over it all
(B-LTA), so a receipt still verifies after its certificate has expired. Loading a
key (decrypting a PKCS#12, logging in to a token) is slow and, on a token, stateful; it is done
once and reused, which is also most of the speed of the issuance pipeline.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_der_x509_certificate
from pyhanko.sign import signers
from sqlalchemy import select

from core.settings import Setting, Settings, register_settings
from receipts.signing_base import SigningError, run_async

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_SIGNING_PKCS11_MODULE", "(unset: PKCS#12 is used)", "Path of the PKCS#11 module of the token/HSM holding the receipt signing key (e.g. `/usr/lib/softhsm/libsofthsm2.so`)."),
    Setting("HCC_SIGNING_PKCS11_TOKEN_LABEL", "(any)", "Label of the PKCS#11 token to use."),
    Setting("HCC_SIGNING_PKCS11_SLOT", "(any)", "Slot number of the token, instead of its label."),
    Setting("HCC_SIGNING_PKCS11_PIN", "(none)", "User PIN of the token."),
    Setting("HCC_SIGNING_PKCS11_KEY_LABEL", "(the certificate label)", "Label of the private key on the token."),
    Setting("HCC_SIGNING_PKCS11_CERT_LABEL", "(the key label)", "Label of the signing certificate on the token."),
    Setting("HCC_SMARTCA_POLL_SECONDS", "3", "Remote signing with VNPT SmartCA: seconds between two status checks while the subscriber has not approved in the SmartCA app."),
    Setting("HCC_SMARTCA_WAIT_SECONDS", "120", "Remote signing with VNPT SmartCA: how long one issuance attempt waits for the subscriber's approval; then the receipt stays pending and is retried."),
    Setting("HCC_SIGNING_TRUST_ROOTS", "(the CA certificates of the PKCS#12 file)", "PEM files (separated by `,`) of the CAs whose certificates count as ours when verifying a receipt."),
    Setting("HCC_SIGNING_TSA_URL", "(none: PAdES B-B)", "RFC 3161 time-stamp authority; when set, receipts are signed PAdES B-LTA (time-stamp, the chain's CRLs/OCSP responses in the DSS, a document time-stamp)."),
)


def _load_pem_or_der_certs(path: Path) -> list[asn1_x509.Certificate]:
    data = path.read_bytes()
    if pem.detect(data):
        return [asn1_x509.Certificate.load(der) for _t, _h, der in pem.unarmor(data, multiple=True)]
    return [asn1_x509.Certificate.load(data)]


def _self_signed(cert: asn1_x509.Certificate) -> bool:
    return cert.self_signed in ("maybe", "yes")


class LoadedKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner, but the private key is parsed once instead of on every signature.

    SimpleSigner re-reads the DER key (with RSA consistency checks, tens of milliseconds) each time
    it signs; a receipt is signed twice (XML and PDF), so this is most of the time of a receipt.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._key = serialization.load_der_private_key(self.signing_key.dump(), password=None)
        self._mechanisms: dict[str, str] = {}

    @classmethod
    def from_simple(cls, s: signers.SimpleSigner) -> LoadedKeySigner:
        return cls(signing_cert=s.signing_cert, signing_key=s.signing_key, cert_registry=s.cert_registry)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from pyhanko.sign.general import get_pyca_cryptography_hash

        # The mechanism depends only on the key and the digest: worked out (asn1crypto objects) once.
        mechanism = self._mechanisms.get(digest_algorithm)
        if mechanism is None:
            mechanism = self._mechanisms[digest_algorithm] = \
                self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return super().sign_raw(data, digest_algorithm)  # other key types: pyHanko's own path


class XmlSigningKey:
    """Looks like a cryptography RSA private key to signxml, but signs through the pyHanko signer.

    That way the XML-DSig signature works the same on a PKCS#12 key and on a token that never
    lets the key out.
    """

    def __init__(self, owner: ReceiptSigner):
        self._owner = owner

    def sign(self, data: bytes, padding=None, algorithm=None) -> bytes:
        name = getattr(algorithm, "name", "sha256")
        return self._owner.sign_raw(data, name)

    def public_key(self):
        return load_der_x509_certificate(self._owner.signing_cert.dump()).public_key()

    @property
    def key_size(self) -> int:
        return self.public_key().key_size


@dataclass
class ReceiptSigner:
    """A loaded signing identity with what verification needs to recognise it."""

    signer: signers.Signer
    trust_roots: list[asn1_x509.Certificate]
    kind: str  # "pkcs12", "pkcs11" or "remote"
    tsa_url: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _chain_pems: list[bytes] | None = field(default=None, repr=False)
    # Set by receipts.pdf after the first PAdES signature (see CmsTemplate there).
    cms_template: object | None = field(default=None, repr=False)
    cms_template_tried: bool = field(default=False, repr=False)

    @property
    def bytes_reserved(self) -> int:
        """Room for the CMS signature in the PDF, fixed per key so pyHanko skips its trial signature."""
        certs = sum(len(c.dump()) for c in self.signer.cert_registry) + len(self.signing_cert.dump())
        # A token's CMS came out ~120 bytes over the PKCS#12 allowance once its CA was on the token too (seen in
        # tests/receipts/test_unit_pkcs11.py); not fully explained, so a token gets 1 KiB more room.
        total = certs + 4096 + (1024 if self.kind in ("pkcs11", "remote") else 0) + (12288 if self.tsa_url else 0)
        return total + total % 2

    @property
    def signing_cert(self) -> asn1_x509.Certificate:
        return self.signer.signing_cert

    @property
    def subject(self) -> str:
        return self.signing_cert.subject.human_friendly

    def cert_pem(self) -> bytes:
        return load_der_x509_certificate(self.signing_cert.dump()).public_bytes(serialization.Encoding.PEM)

    def chain_pems(self) -> list[bytes]:
        """Signing certificate first, then the other certificates we hold (for XML KeyInfo)."""
        if self._chain_pems is None:
            self._chain_pems = self._build_chain_pems()
        return self._chain_pems

    def _build_chain_pems(self) -> list[bytes]:
        out = [self.cert_pem()]
        for c in self.signer.cert_registry:
            if c.sha256 != self.signing_cert.sha256:
                out.append(load_der_x509_certificate(c.dump()).public_bytes(serialization.Encoding.PEM))
        return out

    def signer_sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """`sign_raw` for callers already holding the lock (the PDF signing path)."""
        if isinstance(self.signer, signers.SimpleSigner):
            return self.signer.sign_raw(data, digest_algorithm)
        return run_async(self.signer.async_sign_raw(data, digest_algorithm))

    def xml_key(self) -> XmlSigningKey:
        return XmlSigningKey(self)

    def sign_raw(self, data: bytes, digest_algorithm: str = "sha256") -> bytes:
        # A token session is not safe to share between threads; a PKCS#12 key is, but the lock is cheap.
        with self._lock:
            return self.signer_sign_raw(data, digest_algorithm)

    def close(self) -> None:
        """Log out of the token (a PKCS#11 signer); waits for a signature under way. A PKCS#12 key has nothing open."""
        if self.kind != "pkcs11":
            return
        with self._lock:
            try:
                self.signer.pkcs11_session.close()
            except Exception:  # already closed, or the library finalised: nothing is left open either way
                log.debug("PKCS#11 session already closed", exc_info=True)

    def timestamper(self):
        if not self.tsa_url:
            return None
        from pyhanko.sign.timestamps import HTTPTimeStamper

        return HTTPTimeStamper(self.tsa_url, timeout=20)

    def extend_long_term(self, data: bytes) -> bytes:
        """PAdES B-T → B-LTA: revocation data in the DSS (B-LT), then a document time-stamp. Without a TSA, as is."""
        if not self.tsa_url:
            return data
        return run_async(_extend_long_term(data, self))


def _tst_roots(sig) -> list[asn1_x509.Certificate]:
    """Self-signed certificates carried by the signature's time-stamp token (its TSA's root)."""
    out = []
    for attr in sig.signer_info["unsigned_attrs"] or []:
        if attr["type"].native != "signature_time_stamp_token":
            continue
        for token in attr["values"]:
            for choice in token["content"]["certificates"] or []:
                cert = choice.chosen
                if isinstance(cert, asn1_x509.Certificate) and _self_signed(cert):
                    out.append(cert)
    return out


def revocation_context(trust_roots, *, moment=None, other_certs=()):
    """A pyHanko validation context that fetches the chain's CRLs and OCSP responses over HTTP (the URLs in
    the certificates: CRL distribution points, AIA OCSP), soft-fail when a responder is down."""
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    return ValidationContext(trust_roots=list(trust_roots), other_certs=list(other_certs), allow_fetching=True,
                             revocation_mode="soft-fail", moment=moment,
                             fetcher_backend=RequestsFetcherBackend(per_request_timeout=10))


async def _extend_long_term(data: bytes, signer: ReceiptSigner) -> bytes:
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.validation.dss import async_add_validation_info

    from core.text import printable

    sig = [s for s in PdfFileReader(io.BytesIO(data)).embedded_signatures if s.sig_object_type == "/Sig"][-1]
    roots = [*signer.trust_roots, *_tst_roots(sig)]
    vc = revocation_context(roots, other_certs=list(signer.signer.cert_registry))
    lt = await async_add_validation_info(sig, vc, output=io.BytesIO())  # B-LT: the DSS after the signature
    if not (vc.crls or vc.ocsps):
        log.warning("no revocation data could be fetched for the signer's chain; the receipt is PAdES B-T "
                    "with a document time-stamp, not B-LT", extra={"subject": printable(signer.subject)})
    lt.seek(0)
    out = io.BytesIO()
    await PdfTimeStamper(signer.timestamper()).async_timestamp_pdf(
        IncrementalPdfFileWriter(lt), "sha256", validation_context=revocation_context(roots), output=out)
    return out.getvalue()


_cache: dict[tuple, ReceiptSigner] = {}
_cache_lock = threading.Lock()


def _config_key(settings: Settings) -> tuple:
    names = ("HCC_SIGNING_PKCS11_MODULE", "HCC_SIGNING_PKCS11_TOKEN_LABEL", "HCC_SIGNING_PKCS11_SLOT",
             "HCC_SIGNING_PKCS11_PIN", "HCC_SIGNING_PKCS11_KEY_LABEL", "HCC_SIGNING_PKCS11_CERT_LABEL",
             "HCC_SIGNING_TRUST_ROOTS", "HCC_SIGNING_TSA_URL")
    return (str(settings.signing_pkcs12), settings.signing_pkcs12_password, *(settings.get(n) for n in names))


def load_signer(settings: Settings) -> ReceiptSigner:
    """The process's signer for these settings: loaded on first use, then reused."""
    key = _config_key(settings)
    signer = _cache.get(key)
    if signer is not None:
        return signer
    with _cache_lock:
        signer = _cache.get(key)
        if signer is None:
            signer = _cache[key] = _load(settings)
    return signer


def _extra_roots(settings: Settings) -> list[asn1_x509.Certificate]:
    roots: list[asn1_x509.Certificate] = []
    for part in (settings.get("HCC_SIGNING_TRUST_ROOTS") or "").split(","):
        if part.strip():
            try:
                roots.extend(_load_pem_or_der_certs(Path(part.strip())))
            except (OSError, ValueError) as e:
                raise SigningError(f"HCC_SIGNING_TRUST_ROOTS: cannot read {part.strip()!r}") from e
    return roots


def _load(settings: Settings) -> ReceiptSigner:
    tsa = settings.get("HCC_SIGNING_TSA_URL") or None
    module = settings.get("HCC_SIGNING_PKCS11_MODULE")
    if module:
        return _load_pkcs11(settings, module, tsa)
    if settings.signing_pkcs12 is None:
        raise SigningError("no signing key: set HCC_SIGNING_PKCS12 or HCC_SIGNING_PKCS11_MODULE")
    password = settings.signing_pkcs12_password
    try:
        signer = signers.SimpleSigner.load_pkcs12(str(settings.signing_pkcs12),
                                                  passphrase=password.encode() if password else None)
    except OSError as e:
        raise SigningError(f"cannot read the PKCS#12 file: {e}") from e
    if signer is None:
        raise SigningError("cannot load the PKCS#12 file (wrong password?)")
    signer = LoadedKeySigner.from_simple(signer)
    roots = _extra_roots(settings) or [c for c in signer.cert_registry if _self_signed(c)]
    return ReceiptSigner(signer=signer, trust_roots=roots or [signer.signing_cert], kind="pkcs12", tsa_url=tsa)


def _load_pkcs11(settings: Settings, module: str, tsa: str | None) -> ReceiptSigner:
    slot = settings.get("HCC_SIGNING_PKCS11_SLOT")
    key_label = settings.get("HCC_SIGNING_PKCS11_KEY_LABEL")
    return _open_pkcs11(settings, module, tsa, slot=int(slot) if slot else None,
                        label=settings.get("HCC_SIGNING_PKCS11_TOKEN_LABEL"), pin=settings.get("HCC_SIGNING_PKCS11_PIN"),
                        key_label=key_label, cert_label=settings.get("HCC_SIGNING_PKCS11_CERT_LABEL") or key_label)


def _open_pkcs11(settings: Settings, module: str, tsa: str | None, *, slot: int | None, label: str | None,
                 pin: str | None, key_label: str | None, cert_label: str | None,
                 unit_code: str | None = None) -> ReceiptSigner:
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    from core.pkcs11_token import describe

    cert_label = cert_label or key_label
    session = None
    try:
        session = open_pkcs11_session(module, slot_no=slot,
                                      token_criteria=TokenCriteria(label=label) if label else None,
                                      user_pin=pin)
        # Every certificate on the token is pulled: the CA's, when the token carries it, is what verification trusts.
        signer = PKCS11Signer(session, cert_label=cert_label, key_label=key_label or cert_label,
                              other_certs_to_pull=None)
        # Pull the certificate now, so a wrong label fails at start-up rather than at the first receipt.
        run_async(signer.ensure_objects_loaded())
    except Exception as e:  # python-pkcs11 raises many unrelated classes
        if session is not None:
            session.close()  # logged in but unusable (a label wrong): not left open
        whose = f" của đơn vị {unit_code}" if unit_code else ""
        raise SigningError(f"Không mở được khóa ký PKCS#11{whose}: {describe(e)[0]} ({type(e).__name__})") from e
    on_token = [c for c in signer.cert_registry if _self_signed(c)]
    # A unit's token CA is trusted alongside the configured roots, as a unit's PKCS#12 chain is: its receipts
    # must verify. The deployment's token keeps the older rule (the configured roots replace the token's).
    roots = _extra_roots(settings) + on_token if unit_code else _extra_roots(settings) or on_token
    return ReceiptSigner(signer=signer, trust_roots=roots or [signer.signing_cert], kind="pkcs11", tsa_url=tsa)


def _pkcs12_signer(settings: Settings, data: bytes, password: bytes | None, tsa: str | None) -> ReceiptSigner:
    try:
        signer = signers.SimpleSigner.load_pkcs12_data(data, other_certs=[], passphrase=password or None)
    except (ValueError, TypeError, OSError) as e:
        raise SigningError(f"cannot load the PKCS#12 data: {type(e).__name__}") from e
    if signer is None:
        raise SigningError("cannot load the PKCS#12 data (wrong password?)")
    signer = LoadedKeySigner.from_simple(signer)
    # A unit's own chain CA is trusted alongside the configured roots: its receipts must verify.
    roots = _extra_roots(settings) + [c for c in signer.cert_registry if _self_signed(c)]
    return ReceiptSigner(signer=signer, trust_roots=roots or [signer.signing_cert], kind="pkcs12", tsa_url=tsa)


def _remote_signer(settings: Settings, config_json: bytes, tsa: str | None, unit_code: str) -> ReceiptSigner:
    """A unit's remote signing service (receipts.remote): its certificate chain is fetched from the service."""
    from receipts.remote import RemoteConfig, open_remote_signer

    try:
        signer = open_remote_signer(RemoteConfig.from_json(config_json), settings)
    except SigningError:
        raise
    except Exception as e:  # aiohttp, JSON, certificate parsing: the service is unusable now
        raise SigningError(f"Không kết nối được dịch vụ ký số từ xa của đơn vị {unit_code}: {type(e).__name__}") from e
    # The provider's CA (from the chain it returns) is trusted alongside the configured roots, as a unit's
    # PKCS#12 chain is: its receipts must verify.
    roots = _extra_roots(settings) + [c for c in signer.cert_registry if _self_signed(c)]
    return ReceiptSigner(signer=signer, trust_roots=roots or [signer.signing_cert], kind="remote", tsa_url=tsa)


def _unit_signer_key(session, settings: Settings, unit) -> tuple | None:
    """What identifies the unit's loaded key (the credentials' update times), or None if it has none."""
    from province.models import Credential

    names = {"pkcs12": ("signing_pkcs12", "signing_pkcs12_password"), "pkcs11": ("signing_pkcs11_pin",),
             "remote": ("signing_remote",)}
    # Prefixed, so a unit's keys are told from the deployment's (settings tuples) when old ones are dropped.
    if unit is None or unit.signing_kind not in names:
        return None
    rows = dict(session.execute(select(Credential.name, Credential.updated_at).where(
        Credential.owner_type == "unit", Credential.owner_id == unit.id,
        Credential.name.in_(names[unit.signing_kind]))).all())
    if names[unit.signing_kind][0] not in rows:
        return None
    stamps = tuple(rows.get(n) for n in names[unit.signing_kind])
    pkcs11 = (unit.pkcs11_module, unit.pkcs11_slot, unit.pkcs11_token_label, unit.pkcs11_key_label,
              unit.pkcs11_cert_label) if unit.signing_kind == "pkcs11" else ()
    return ("unit", unit.id, unit.signing_kind, stamps, pkcs11, settings.get("HCC_SIGNING_TRUST_ROOTS"),
            settings.get("HCC_SIGNING_TSA_URL"))


def load_unit_signer(session, settings: Settings, unit) -> ReceiptSigner:
    """The signer of a collecting unit's receipts (province.models.CollectingUnit).

    Its own key when it has a signing credential, loaded once per unit and per credential update (a new
    key uploaded is picked up at the next receipt); otherwise, outside production only, the deployment's.
    Checking expiry is the caller's (receipts.issuance), which says so to staff in Vietnamese.
    """
    from province import secrets

    key = _unit_signer_key(session, settings, unit)
    if key is None:
        if unit is not None:
            _drop_unit_signers(unit.id, keep=None)  # its key was removed: a token session is not kept open
        if settings.production:
            label = unit.code if unit is not None else "?"
            raise SigningError(f"Đơn vị thu {label} chưa có khóa ký biên lai (PKCS#12, PKCS#11 hoặc ký số từ xa)")
        return load_signer(settings)
    signer = _cache.get(key)
    if signer is not None:
        return signer
    # An older key of the same unit (renewed certificate, new PIN, another token, PKCS#12 instead) is dropped
    # and its token session closed first: the old key is not kept loaded, nor logged in (a token refuses a
    # second login with the new PIN while the old session is logged in).
    _drop_unit_signers(unit.id, keep=key)
    tsa = settings.get("HCC_SIGNING_TSA_URL") or None
    if unit.signing_kind == "pkcs12":
        data = secrets.get_secret(session, settings, "unit", unit.id, "signing_pkcs12")
        password = secrets.get_secret(session, settings, "unit", unit.id, "signing_pkcs12_password")
        loaded = _pkcs12_signer(settings, data, password, tsa)
    elif unit.signing_kind == "remote":
        loaded = _remote_signer(settings, secrets.get_secret(session, settings, "unit", unit.id, "signing_remote"),
                                tsa, unit.code)
    else:
        pin = secrets.get_secret(session, settings, "unit", unit.id, "signing_pkcs11_pin")
        loaded = _open_pkcs11(settings, unit.pkcs11_module, tsa, slot=unit.pkcs11_slot, label=unit.pkcs11_token_label,
                              pin=pin.decode() if pin else None, key_label=unit.pkcs11_key_label,
                              cert_label=unit.pkcs11_cert_label, unit_code=unit.code)
    with _cache_lock:
        signer = _cache.setdefault(key, loaded)
    if signer is not loaded:
        loaded.close()  # another thread loaded the same key first; this second login is not kept
    return signer


def _drop_unit_signers(unit_id: int, *, keep: tuple | None) -> None:
    with _cache_lock:
        old = [_cache.pop(k) for k in [k for k in _cache if k[:2] == ("unit", unit_id) and k != keep]]
    for signer in old:
        signer.close()


def all_trust_roots(session, settings: Settings) -> list[asn1_x509.Certificate]:
    """The CAs whose certificates count as ours: the deployment's and every unit's (from its key's chain)."""
    from province.models import CollectingUnit

    roots: dict[bytes, asn1_x509.Certificate] = {}
    candidates = []
    try:
        candidates.append(load_signer(settings))
    except SigningError:
        pass  # a deployment without its own key (production): the units' keys are the ones that sign
    for unit in session.scalars(select(CollectingUnit).where(CollectingUnit.signing_kind.is_not(None))
                                .order_by(CollectingUnit.id)):
        try:
            if unit.signing_kind == "remote":
                # From the chain kept when the service was set: verifying never waits on the provider.
                for cert in _remote_roots(session, settings, unit):
                    roots.setdefault(cert.sha256, cert)
                continue
            candidates.append(load_unit_signer(session, settings, unit))
        except Exception:  # an unusable key trusts nothing; the doctor and issuance say why
            log.warning("unit signing key not loadable for verification", extra={"unit_id": unit.id})
    for signer in candidates:
        for cert in signer.trust_roots:
            roots.setdefault(cert.sha256, cert)
    return list(roots.values())


def _remote_roots(session, settings: Settings, unit) -> list[asn1_x509.Certificate]:
    from province import secrets
    from receipts.remote import RemoteConfig

    data = secrets.get_secret(session, settings, "unit", unit.id, "signing_remote")
    if data is None:
        return []
    chain = RemoteConfig.from_json(data).chain_pem.encode("ascii")
    certs = [asn1_x509.Certificate.load(der) for _t, _h, der in pem.unarmor(chain, multiple=True)] if chain else []
    return _extra_roots(settings) + [c for c in certs if _self_signed(c)]


def clear_cache() -> None:
    """Forget loaded signers (tests that switch keys), logging out of their tokens."""
    with _cache_lock:
        old = list(_cache.values())
        _cache.clear()
    for signer in old:
        signer.close()
