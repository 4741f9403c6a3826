"""Verify any receipt PDF: our signature, unchanged since signing, the XML inside, our record, its status.

Used by the public lookup page, the API and `hcc receipts verify`; each reason says why a file fails.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from receipts.models import Receipt
from receipts.signing import all_trust_roots, run_async
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
}


@dataclass
class Verification:
    valid: bool = False
    reasons: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    receipt: Receipt | None = None
    signer: str | None = None
    sha256: str = ""

    def fail(self, code: str, extra: str | None = None) -> None:
        self.codes.append(code)
        self.reasons.append(f"{code}: {MESSAGES[code]}" + (f" ({extra})" if extra else ""))

    def as_dict(self) -> dict:
        r = self.receipt
        return {"valid": self.valid, "reasons": self.reasons, "codes": self.codes, "signer": self.signer,
                "sha256": self.sha256,
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


def verify_pdf(session: Session, settings: Settings, data: bytes) -> Verification:
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
    if not sigs:
        out.fail("no-signature")
        return out
    sig = sigs[-1]
    # Any collecting unit's key (or the deployment's) may have signed it: trust every one's CA.
    vc = ValidationContext(trust_roots=all_trust_roots(session, settings), allow_fetching=False, revocation_mode="soft-fail")
    try:
        status = run_async(async_validate_pdf_signature(sig, vc, key_usage_settings=KeyUsageConstraints(),
                                                         skip_diff=True))
    except (SignatureValidationError, PdfError, ValueError, KeyError) as e:
        out.fail("document-modified", type(e).__name__)
        return out
    cert = sig.signer_cert
    out.signer = cert.subject.human_friendly
    if not (status.intact and status.valid):
        out.fail("document-modified")
    else:
        from pyhanko.sign.validation.status import SignatureCoverageLevel

        if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            out.fail("not-whole-document")
    if not status.trusted:
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
