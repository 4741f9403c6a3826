"""Verify any receipt PDF: our signature, unchanged since signing, the XML inside, our record, its status.

Used by the public lookup page, the API and `hcc receipts verify`; each reason says why a file fails.

The PAdES level is reported (`level`: B-B, B-T, B-LT, B-LTA). A B-LT/B-LTA receipt is validated as
ETSI EN 319 102-1 long-term (pyHanko's `ades_lta_validation`): the signer's chain at the time its
time-stamp proves, against the revocation data the document carries, so it stays valid after the
certificate has expired. B-B/B-T are validated now, with the certificates as they are now.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from receipts.models import Receipt
from receipts.signing import all_trust_roots, run_async
from receipts.tsa import tsa_trust_roots
from receipts.xmldata import XML_FILENAME, XmlReceiptError, read_fields, verify_xml

log = logging.getLogger(__name__)

MESSAGES = {
    "not-a-pdf": "Tệp không phải PDF hoặc đã bị hỏng.",
    "no-signature": "Tệp không có chữ ký số.",
    "document-modified": "Tài liệu đã bị thay đổi sau khi ký (chữ ký không khớp nội dung).",
    "not-whole-document": "Chữ ký không bao trùm toàn bộ tài liệu (có nội dung thêm sau khi ký).",
    "untrusted-signer": "Chữ ký không phải của đơn vị thu (chứng thư số không được tin cậy).",
    "no-xml": "Không có dữ liệu XML của biên lai đính kèm.",
    "xml-signature-invalid": "Chữ ký XML của dữ liệu biên lai không hợp lệ.",
    "not-our-record": "Không khớp với biên lai nào trong hệ thống.",
    "cancelled": "Biên lai đã bị huỷ.",
    "replaced": "Biên lai đã được thay thế bằng biên lai khác.",
    "pending": "Biên lai chưa được phát hành xong.",
    "long-term-invalid": "Không xác nhận được chữ ký dài hạn (dấu thời gian, dữ liệu thu hồi chứng thư).",
}

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


@dataclass
class Verification:
    valid: bool = False
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    receipt: Receipt | None = None
    signer: str | None = None
    sha256: str = ""
    level: str | None = None  # PAdES baseline level: B-B, B-T, B-LT or B-LTA

    def fail(self, code: str, extra: str | None = None) -> None:
        self.codes.append(code)
        self.reasons.append(f"{code}: {MESSAGES[code]}" + (f" ({extra})" if extra else ""))

    def as_dict(self) -> dict:
        r = self.receipt
        return {"valid": self.valid, "reasons": self.reasons, "codes": self.codes, "signer": self.signer,
                "sha256": self.sha256, "level": self.level,
                "receipt": None if r is None else {"id": r.id, "number": r.number_text, "symbol": r.symbol,
                                                   "template": r.template, "lookup_code": r.lookup_code,
                                                   "status": r.status}}


def _embedded_xml(reader) -> bytes | None:
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for i in range(0, len(names) - 1, 2):
        spec = names[i + 1].get_object()
        if str(names[i]) == XML_FILENAME or str(spec.get("/UF", "")) == XML_FILENAME:
            return spec["/EF"]["/F"].get_object().data
    return None


def pades_level(reader, sig) -> str:
    """B-B (no time-stamp), B-T (signature time-stamp), B-LT (and revocation data in the DSS), B-LTA (and a
    document time-stamp after the signature)."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    unsigned = sig.signer_info["unsigned_attrs"]
    if not any(a["type"].native == "signature_time_stamp_token" for a in (unsigned or [])):
        return "B-B"
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except (KeyError, ValueError):
        dss = None
    if dss is None or not (dss.crls or dss.ocsps):
        return "B-T"
    later_dts = any(s.sig_object_type == "/DocTimeStamp" and s.signed_revision > sig.signed_revision
                    for s in reader.embedded_signatures)
    return "B-LTA" if later_dts else "B-LT"


def _long_term_trusted(sig, roots, moment: datetime | None) -> tuple[bool, str]:
    """ETSI EN 319 102-1 validation with long-term data (pyHanko's AdES LTA validation), as of `moment`."""
    from pyhanko.sign.ades.report import AdESPassed
    from pyhanko.sign.validation import ades
    from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec, SignatureValidationSpec
    from pyhanko_certvalidator import policy_decl as pd
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
    from pyhanko_certvalidator.registry import SimpleTrustManager

    spec = PdfSignatureValidationSpec(SignatureValidationSpec(cert_validation_policy=CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(roots),
        revinfo_policy=pd.CertRevTrustPolicy(revocation_checking_policy=pd.REQUIRE_REVINFO,
                                             freshness_req_type=pd.FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION))))
    timing = ValidationTimingInfo.now() if moment is None else \
        ValidationTimingInfo(validation_time=moment, best_signature_time=moment, point_in_time_validation=False)
    result = run_async(ades.ades_lta_validation(sig, pdf_validation_spec=spec, timing_info=timing))
    return result.ades_subindic == AdESPassed.OK, str(result.ades_subindic)


def _chains_to(cert, roots) -> bool:
    return any(cert.issuer == r.subject for r in roots)


def verify_pdf(session: Session, settings: Settings, data: bytes, *, moment: datetime | None = None) -> Verification:
    """`moment`: verify as of then (default now); a B-LT receipt checked years later is the point of it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import load_der_x509_certificate
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko_certvalidator import ValidationContext

    out = Verification(sha256=hashlib.sha256(data).hexdigest())
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
    except Exception as e:  # pyHanko raises many kinds on a broken file
        out.fail("not-a-pdf", type(e).__name__)
        return out
    # The receipt's signature is the last approval signature; B-LTA document time-stamps come after it.
    sigs = [s for s in sigs if s.sig_object_type != "/DocTimeStamp"]
    if not sigs:
        out.fail("no-signature")
        return out
    sig = sigs[-1]
    try:
        out.level = pades_level(reader, sig)
    except Exception as e:  # a broken DSS or time-stamp: the signature's own checks below say what is wrong
        log.info("PAdES level not determined", extra={"error": type(e).__name__}, exc_info=True)
    long_term = out.level in ("B-LT", "B-LTA")
    # Any collecting unit's key (or the deployment's) may have signed it: trust every one's CA.
    roots = all_trust_roots(session, settings)
    vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail", moment=moment)
    try:
        # Updates after the signature may only be long-term data (the DSS, document time-stamps): pyHanko's
        # difference analysis tells those from any other change (nothing to compare when there are none).
        status = run_async(async_validate_pdf_signature(sig, vc, key_usage_settings=KeyUsageConstraints(),
                                                         skip_diff=False))
    except (SignatureValidationError, PdfError, ValueError, KeyError) as e:
        out.fail("document-modified", type(e).__name__)
        return out
    cert = sig.signer_cert
    out.signer = cert.subject.human_friendly
    if not (status.intact and status.valid):
        out.fail("document-modified")
    else:
        from pyhanko.sign.diff_analysis import ModificationLevel
        from pyhanko.sign.validation.status import SignatureCoverageLevel

        # After the signed revision, only revisions adding long-term data (and nothing after the last of them).
        whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
            status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
            and status.modification_level == ModificationLevel.LTA_UPDATES and data.rstrip().endswith(b"%%EOF"))
        if not whole:
            out.fail("not-whole-document")
    if long_term:
        try:
            ok, why = _long_term_trusted(sig, [*roots, *tsa_trust_roots(settings)], moment)
        except Exception as e:  # pyHanko's AdES validation raises many kinds on broken validation data
            ok, why = False, type(e).__name__
        if not ok:
            # Our own CA but the long-term data does not hold: say so; another CA is simply not ours.
            out.fail("long-term-invalid" if status.trusted or _chains_to(cert, roots) else "untrusted-signer", why)
    elif not status.trusted:
        out.fail("untrusted-signer")
    fields_ = None
    try:
        xml = _embedded_xml(reader)
    except Exception:
        xml = None
    if xml is None:
        out.fail("no-xml")
    else:
        cert_pem = load_der_x509_certificate(cert.dump()).public_bytes(serialization.Encoding.PEM)
        try:
            fields_ = read_fields(verify_xml(xml, cert_pem))
        except XmlReceiptError:
            out.fail("xml-signature-invalid")
    receipt = session.scalars(select(Receipt).where(Receipt.sha256 == out.sha256)).first()
    if receipt is None and fields_ and fields_.get("lookup_code"):
        receipt = session.scalars(select(Receipt).where(Receipt.lookup_code == fields_["lookup_code"])).first()
    out.receipt = receipt
    if receipt is None or receipt.sha256 != out.sha256:
        out.fail("not-our-record")
    elif receipt.status in ("cancelled", "replaced", "pending"):
        out.fail(receipt.status)
    out.valid = not out.codes
    return out
