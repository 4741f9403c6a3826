"""Receipts made in error, told to the tax authority on form 04/SS-CTĐT ("Thông báo chứng từ điện tử đã lập
sai"), signed with the unit's key and sent through the tax channel; the answer is kept on the correction.

receipts.issuance decides and records the correction (cancel, replace, adjust: `ReceiptCorrection`) and
emits `receipt.cancelled` / `receipt.replaced` / `receipt.adjusted`; this module reacts after the commit:
builds `TBao/DLTBao` with one `DSCTu/CTu` row for the receipt in error, signs it (`DSCKS/NNT`), and submits
it as an error notice (`tax.jobs.submit`, kind "error_notice"). `tax.accepted` / `tax.rejected` for that
message set the correction's notice status and reasons, shown on the staff pages.

Sources (docs/tax/corrections.md): Decree 123/2020/NĐ-CP as amended by Decree 70/2025/NĐ-CP (handling of
e-documents made in error; form 04/SS-CTĐT of its appendix), Circular 32/2025/TT-BTC, and the XML of the
form as the tax authority's own viewer style sheets (iHTKK `TBao/DLTBao/DSCTu/CTu`, `BCTHSDBLai/
DLBCTHSDBLai/NDBCTHSDBLai/DLieu`) and e-document providers' published code read and write it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events, jobs
from core.clock import local_day, utcnow
from core.models import Centre, Province
from core.settings import Setting, Settings, register_settings
from province.models import CollectingUnit
from receipts.issuance import receipt_date, signer_for
from receipts.models import Receipt, ReceiptCorrection

log = logging.getLogger(__name__)

# ============================================================================================================
# THE ONE PLACE for the forms' codes: where each comes from, and what is ASSUMED (docs/tax/corrections.md).
# ------------------------------------------------------------------------------------------------------------
# 04/SS-CTĐT, found: root TBao, content DLTBao (Id), PBan, MSo, Ten, Loai (1 = the issuer's own notice,
# 2 = explanation after the tax authority's notice, then So and NTBCCQT), MCQT, TCQT, TNNT, MST, DDanh,
# NTBao, DSCTu/CTu rows of STT, KHMSCTu, KHCTu, SCTu, NLap, LCTDT, LDo (tax authority's viewer XSL for
# 04/SS-CTĐT; providers' builders).
NOTICE_FORM = "04/SS-CTĐT"
NOTICE_NAME = "Thông báo chứng từ điện tử đã lập sai"
NOTICE_ID = "data"  # Id of DLTBao, as providers' builders write it
NOTICE_OWN = "1"  # Loai: "Thông báo của NNT"
NOTICE_EXPLAIN = "2"  # Loai: "Giải trình của NNT theo thông báo của CQT"
# LCTDT "3": "Biên lai thu thuế, phí, lệ phí không in sẵn mệnh giá theo Nghị định 70" (viewer XSL); our
# e-receipts print the amount collected, not a face value.
LCTDT_RECEIPT = "3"
# ASSUMED: PBan of the form's data. Providers write "2.1.0" for 04/SS-CTĐT.
NOTICE_PBAN = "2.1.0"
# The nature of each row. The invoice form 04/SS-HĐĐT (Decision 1450) has TCTBao 1 cancel, 2 adjust,
# 3 replace, 4 explain per row; the receipt form's rows found carry no such element (the viewer's column
# "Thông báo/Giải trình" shows Loai). ASSUMED therefore: the nature is written at the head of LDo
# ("Hủy: …", "Thay thế: …"); set ROW_NATURE_ELEMENT to "TCTBao" to also write the invoice form's element.
NATURE_CODES = {"cancel": "1", "adjust": "2", "replace": "3", "explain": "4"}
NATURE_LABELS = {"cancel": "Hủy", "adjust": "Điều chỉnh", "replace": "Thay thế", "explain": "Giải trình"}
ROW_NATURE_ELEMENT: str | None = None
# ASSUMED: the signature's container, as in every 1450 form signed by the taxpayer (DSCKS/NNT).
SIGNATURE_CONTAINER = ("DSCKS", "NNT")
# BC26/BLĐT, found: root BCTHSDBLai, content DLBCTHSDBLai with TTChung (NLap) and NDBCTHSDBLai/DLieu rows
# of TLoai (1 "Biên lai thu phí, lệ phí không có mệnh giá", 2 "… có mệnh giá"), KHMCTu, KHCTu, SLuong,
# TgTien (tax authority's viewer XSL for BC26/BLĐT).
REPORT_FORM = "BC26/BLĐT"
REPORT_NAME = "Báo cáo tình hình sử dụng biên lai"
REPORT_ID = "data"
TLOAI_NO_FACE_VALUE = "1"
# ASSUMED: the rest of BC26's TTChung (only NLap is read by the viewer found): PBan, MSo, Ten, TNNT, MST,
# DDanh, LKBCao (Q quarter / T month), KBCao ("4/2026" / "11/2026"), TNgay, DNgay.
REPORT_PBAN = "2.1.0"
PERIOD_KINDS = {"quarter": "Q", "month": "T"}
ASSUMED = ("NOTICE_PBAN", "ROW_NATURE_ELEMENT", "SIGNATURE_CONTAINER", "REPORT_PBAN", "PERIOD_KINDS",
           "MESSAGE_KINDS")
# Kinds of outgoing tax messages (tax.models.TaxMessage.kind) for the two forms.
MESSAGE_KINDS = {"notice": "error_notice", "report": "usage_report"}
# ============================================================================================================

register_settings(
    Setting("HCC_TAX_OFFICE_CODE", "", "Code of the tax office managing the collecting units (MCQT of form "
            "04/SS-CTĐT), from the tax authority's list of offices."),
    Setting("HCC_TAX_OFFICE_NAME", "", "Name of that tax office (TCQT of form 04/SS-CTĐT)."),
    Setting("HCC_TAX_PLACE_NAME", "", "Place name written on notices and reports (DDanh), e.g. `Hà Nội`; the "
            "province's name when empty."),
)


@dataclass(frozen=True)
class NoticeRow:
    """One receipt in a 04/SS-CTĐT: which receipt (template, symbol, number, date), what was done, why."""

    template: str
    symbol: str
    number: str
    day: date
    nature: str  # cancel | adjust | replace | explain
    reason: str


@dataclass(frozen=True)
class Issuer:
    """Who sends a form: the collecting unit (name, tax code) and where (tax office, place name)."""

    name: str
    tax_code: str
    office_code: str
    office_name: str
    place: str


def _sub(parent, tag: str, text=None):
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def issuer_of(session: Session, settings: Settings, unit: CollectingUnit, centre_id: int | None = None) -> Issuer:
    """The unit as it signs a form; the place name is the setting, else the province of the centre."""
    place = settings.get("HCC_TAX_PLACE_NAME") or ""
    centre = session.get(Centre, centre_id) if centre_id is not None else None
    if not place and centre is not None and centre.province_code:
        province = session.get(Province, centre.province_code)
        place = province.name if province is not None else ""
    return Issuer(name=unit.name, tax_code=unit.tax_code, office_code=settings.get("HCC_TAX_OFFICE_CODE") or "",
                  office_name=settings.get("HCC_TAX_OFFICE_NAME") or "", place=place)


def build_notice(issuer: Issuer, rows: list[NoticeRow], *, notice_day: date, explain_of: tuple[str, date] | None = None,
                 ) -> etree._Element:
    """The unsigned `TBao` of form 04/SS-CTĐT. `explain_of` (the tax authority's notice number and date) makes
    it an explanation (Loai 2) instead of the issuer's own notice."""
    root = etree.Element("TBao")
    data = _sub(root, "DLTBao")
    data.set("Id", NOTICE_ID)
    _sub(data, "PBan", NOTICE_PBAN)
    _sub(data, "MSo", NOTICE_FORM)
    _sub(data, "Ten", NOTICE_NAME)
    _sub(data, "Loai", NOTICE_EXPLAIN if explain_of else NOTICE_OWN)
    if explain_of:
        _sub(data, "So", explain_of[0])
        _sub(data, "NTBCCQT", explain_of[1].isoformat())
    _sub(data, "MCQT", issuer.office_code)
    _sub(data, "TCQT", issuer.office_name)
    _sub(data, "TNNT", issuer.name)
    _sub(data, "MST", issuer.tax_code)
    _sub(data, "DDanh", issuer.place)
    _sub(data, "NTBao", notice_day.isoformat())
    listing = _sub(data, "DSCTu")
    for i, row in enumerate(rows, 1):
        item = _sub(listing, "CTu")
        _sub(item, "STT", i)
        _sub(item, "KHMSCTu", row.template)
        _sub(item, "KHCTu", row.symbol)
        _sub(item, "SCTu", row.number)
        _sub(item, "NLap", row.day.isoformat())
        _sub(item, "LCTDT", LCTDT_RECEIPT)
        if ROW_NATURE_ELEMENT:
            _sub(item, ROW_NATURE_ELEMENT, NATURE_CODES[row.nature])
        _sub(item, "LDo", f"{NATURE_LABELS[row.nature]}: {row.reason}"[:255])
    return root


def sign_form(root: etree._Element, signer, *, reference_id: str, when: datetime) -> etree._Element:
    """Sign the form's content (Id `reference_id`) with the unit's key; the signature goes in DSCKS/NNT."""
    from core.xmldsig import sign

    holder = root
    for tag in SIGNATURE_CONTAINER:
        found = holder.find(tag)
        holder = found if found is not None else _sub(holder, tag)
    return sign(root, signer.xml_key(), signer.chain_pems(), reference_id=reference_id, signing_time=when,
                parent=holder)


def row_for(session: Session, correction: ReceiptCorrection) -> NoticeRow:
    """The 04/SS-CTĐT row of a correction: the receipt made in error, and the new one named in the reason."""
    old = session.get(Receipt, correction.receipt_id)
    reason = correction.reason
    if correction.new_receipt_id:
        new = session.get(Receipt, correction.new_receipt_id)
        what = "điều chỉnh" if correction.kind == "adjust" else "thay thế"
        reason = (f"{reason} (biên lai {what}: ký hiệu mẫu {new.template}, ký hiệu {new.symbol}, số {new.number_text}, "
                  f"ngày {local_day(new.created_at).strftime('%d/%m/%Y')})")
    return NoticeRow(template=old.template, symbol=old.symbol, number=old.number_text,
                     day=date.fromisoformat(receipt_date(old)), nature=correction.kind, reason=reason)


def signed_notice(session: Session, settings: Settings, correction: ReceiptCorrection) -> etree._Element:
    """The correction's 04/SS-CTĐT, built and signed with the key of the receipt's unit."""
    old = session.get(Receipt, correction.receipt_id)
    unit = session.get(CollectingUnit, old.unit_id)
    now = utcnow()
    root = build_notice(issuer_of(session, settings, unit, old.centre_id), [row_for(session, correction)],
                        notice_day=local_day(now))
    return sign_form(root, signer_for(session, settings, old), reference_id=NOTICE_ID, when=now)


def _submit(session: Session, *, unit: CollectingUnit, mltdiep_name: str, dlieu: etree._Element, kind: str,
            series_id: int | None = None):
    from tax import codes
    from tax import jobs as tax_jobs

    return tax_jobs.submit(session, unit=unit, mltdiep=getattr(codes, mltdiep_name), dlieu=dlieu, receipt_id=None,
                           series_id=series_id, kind=kind)


def _message_id(message) -> str | None:
    for attr in ("mtdiep", "message_id"):
        value = getattr(message, attr, None)
        if isinstance(value, str):
            return value
    return message if isinstance(message, str) else None


def send_notice(session: Session, correction_id: int, settings: Settings | None = None) -> ReceiptCorrection | None:
    """Build, sign, store and submit the correction's notice once; a notice already submitted is left as is."""
    settings = settings or jobs.settings()
    correction = session.get(ReceiptCorrection, correction_id)
    if correction is None or correction.notice_message_id or correction.notice_status not in ("pending", "failed"):
        return correction
    old = session.get(Receipt, correction.receipt_id)
    unit = session.get(CollectingUnit, old.unit_id) if old.unit_id else None
    if unit is None:
        correction.notice_status, correction.notice_reasons = "failed", ["Biên lai không thuộc đơn vị thu nào."]
        return correction
    try:
        signed = signed_notice(session, settings, correction)
    except Exception as e:  # the unit cannot sign now (expired certificate, token): kept, retried by the sweep
        log.warning("04/SS-CTĐT not signed", extra={"correction_id": correction.id, "error": type(e).__name__})
        correction.notice_status, correction.notice_reasons = "failed", [f"Chưa ký được thông báo: {e}"[:500]]
        return correction
    correction.notice_xml = etree.tostring(signed, encoding="unicode")
    message = _submit(session, unit=unit, mltdiep_name="ERROR_NOTICE", dlieu=signed, kind=MESSAGE_KINDS["notice"])
    correction.notice_message_id = _message_id(message)
    correction.notice_status, correction.notice_reasons, correction.notice_sent_at = "sent", [], utcnow()
    return correction


@jobs.job(retries=8)
def send_notice_job(correction_id: int) -> None:
    with jobs.session_scope() as session:
        send_notice(session, correction_id)


@events.on("receipt.cancelled")
@events.on("receipt.replaced")
@events.on("receipt.adjusted")
def _on_correction(session: Session, correction_id: int | None = None, **_):
    if correction_id is not None:
        jobs.enqueue_after_commit(session, send_notice_job, correction_id)


def _on_answer(session: Session, accepted: bool, data: dict) -> None:
    if data.get("kind") not in (None, MESSAGE_KINDS["notice"]):
        return
    ids = [v for k, v in data.items() if k in ("mtdiep", "message_id", "message") and isinstance(v, str)]
    if isinstance(data.get("message_id"), int):  # tax.jobs names the message by its row id
        from tax.models import TaxMessage

        message = session.get(TaxMessage, data["message_id"])
        if message is not None:
            ids.append(message.mtdiep)
    if not ids:
        return
    correction = session.scalars(select(ReceiptCorrection).where(ReceiptCorrection.notice_message_id.in_(ids))).first()
    if correction is None:
        return
    correction.notice_status = "accepted" if accepted else "rejected"
    correction.notice_reasons = [str(r) for r in (data.get("reasons") or [])]
    correction.notice_answered_at = utcnow()


@events.on("tax.accepted")
def _on_accepted(session: Session, **data):
    _on_answer(session, True, data)


@events.on("tax.rejected")
def _on_rejected(session: Session, **data):
    _on_answer(session, False, data)


@jobs.register_sweeper
def sweep_notices(session: Session) -> int:
    """Corrections whose notice was never submitted (a lost job, a unit that could not sign)."""
    ids = session.scalars(select(ReceiptCorrection.id).where(ReceiptCorrection.notice_message_id.is_(None),
                                                             ReceiptCorrection.notice_status.in_(("pending", "failed")))
                          .order_by(ReceiptCorrection.id).limit(200)).all()
    for cid in ids:
        jobs.enqueue_after_commit(session, send_notice_job, cid)
    return len(ids)


NOTICE_STATUS_LABELS = {"pending": "Chưa gửi cơ quan thuế", "sent": "Đã gửi, chờ cơ quan thuế",
                        "accepted": "Cơ quan thuế đã tiếp nhận", "rejected": "Cơ quan thuế không tiếp nhận",
                        "failed": "Chưa gửi được (sẽ thử lại)"}
