"""Registration of a unit's e-receipt use with the tax authority: form 01/ĐKTĐ-CTĐT, signed by the unit, sent as
a TDiep (109); its series becomes registered only when the tax authority accepts (111, TTXNCQT 1).

The form's fields follow the e-document registration (Decree 123/2020 as amended by Decree 70/2025, form
01/ĐKTĐ-CTĐT; XML as e-document vendors build it under Decisions 1306/1271: TKhai/DLTKhai/TTChung +
NDTKhai with DTPHanh, LHSDung/BLaiDTu/DSBLai, HTGDLieu, DSCKS/CKS, and the unit's signature in DSCKS/NNT).
ASSUMED (docs/tax/channel.md): the series list `DSKHBLai/KHBLai` and the authorisation section
`DSUNhiem/UNhiem` (the centre that collects and issues receipts on the unit's behalf), whose field names
follow the authorisation part of the invoice registration (1450: MST, name, purpose, validity, payment).
"""

from __future__ import annotations

from datetime import date

from cryptography import x509
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, events, xmldsig
from core.clock import local_day, utcnow
from core.errors import Conflict
from core.models import Centre
from core.settings import Setting, Settings, register_settings
from province import series as series_sm
from province.models import CentreUnit, CollectingUnit, ReceiptSeries
from tax import codes
from tax.models import TaxMessage

register_settings(
    Setting("HCC_TAX_OFFICE_NAME", "Thuế tỉnh", "Name of the tax office managing the units (CQTQLy of form 01/ĐKTĐ-CTĐT)."),
    Setting("HCC_TAX_OFFICE_CODE", "00000", "Code of that tax office (MCQTQLy, five digits)."),
)

FORM = "01/ĐKTĐ-CTĐT"
FORM_NAME = "Tờ khai đăng ký/thay đổi thông tin sử dụng chứng từ điện tử"
DATA_ID = "DLTKhai"
SIGNATURE_ID = "NNT-sig"
AUTHORISATION_PURPOSE = "Thu phí, lệ phí và lập biên lai điện tử thay đơn vị thu"


class RegistrationError(Conflict):
    """Raised when a unit cannot be registered now (no draft series, a registration already waiting)."""

    code = "tax-registration-not-allowed"


def _sub(parent, tag: str, value=None):
    el = etree.SubElement(parent, tag)
    if value is not None:
        el.text = str(value)
    return el


def _cert_rows(cert_pems: list[bytes]) -> list[dict]:
    cert = x509.load_pem_x509_certificate(cert_pems[0])
    issuer = cert.issuer.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME) or \
        cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return [{"issuer": issuer[0].value if issuer else cert.issuer.rfc4514_string(),
             "serial": format(cert.serial_number, "X"),
             "not_before": cert.not_valid_before_utc.date(), "not_after": cert.not_valid_after_utc.date()}]


def build_form(settings: Settings, unit: CollectingUnit, series: list[ReceiptSeries], centres: list[Centre],
               cert_pems: list[bytes], *, change: bool = False, on_day: date | None = None) -> etree._Element:
    """The unsigned form (TKhai) with an empty DSCKS/NNT for the unit's signature."""
    root = etree.Element("TKhai")
    data = _sub(root, "DLTKhai")
    data.set("Id", DATA_ID)
    head = _sub(data, "TTChung")
    _sub(head, "PBan", codes.PBAN)
    _sub(head, "MSo", FORM)
    _sub(head, "Ten", FORM_NAME)
    _sub(head, "HThuc", 2 if change else 1)
    _sub(head, "TNNT", unit.name)
    _sub(head, "MST", unit.tax_code)
    _sub(head, "CQTQLy", settings.get("HCC_TAX_OFFICE_NAME") or "Thuế tỉnh")
    _sub(head, "MCQTQLy", settings.get("HCC_TAX_OFFICE_CODE") or "00000")
    _sub(head, "NLHe", unit.name)
    _sub(head, "DCLHe", unit.address)
    _sub(head, "DCTDTu", unit.email or "")
    _sub(head, "DTLHe", unit.phone or "")
    _sub(head, "NLap", (on_day or local_day()).isoformat())

    body = _sub(data, "NDTKhai")
    who = _sub(body, "DTPHanh")
    _sub(who, "TCNPHanh", 1)
    _sub(who, "CQTPHanh", 0)
    kinds = _sub(body, "LHSDung")
    _sub(kinds, "CTKTrTNCN", 0)
    _sub(kinds, "CTKTrTMDT", 0)
    _sub(kinds, "BLaiDTu", 1)
    receipts = _sub(kinds, "DSBLai")
    _sub(receipts, "BLKMGia", 1)  # biên lai thu phí, lệ phí không in sẵn mệnh giá: ours print the amount due
    _sub(receipts, "BLCMGia", 0)
    _sub(receipts, "BLTPLPhi", 0)
    how = _sub(body, "HTGDLieu")
    _sub(how, "CongTTDTu", 0)
    _sub(how, "TCTNUT", 1)  # through an intermediary (T-VAN)
    symbols = _sub(body, "DSKHBLai")
    for s in series:
        row = _sub(symbols, "KHBLai")
        _sub(row, "KHMSBLai", s.template)
        _sub(row, "KHBLai", s.symbol)
        _sub(row, "Nam", s.year)
    certs = _sub(body, "DSCKS")
    for i, c in enumerate(_cert_rows(cert_pems), 1):
        row = _sub(certs, "CKS")
        _sub(row, "STT", i)
        _sub(row, "TTCGP", c["issuer"])
        _sub(row, "SSCKS", c["serial"])
        _sub(row, "TNgay", c["not_before"].isoformat())
        _sub(row, "DNgay", c["not_after"].isoformat())
        _sub(row, "HThuc", 1)
    if centres:
        section = _sub(body, "DSUNhiem")
        for i, centre in enumerate(centres, 1):
            row = _sub(section, "UNhiem")
            _sub(row, "STT", i)
            _sub(row, "TTCNUNhiem", centre.name)
            _sub(row, "MST", centre.tax_code)
            _sub(row, "MDUNhiem", AUTHORISATION_PURPOSE)
            _sub(row, "TNgay", (on_day or local_day()).isoformat())
            _sub(row, "DNgay", date((on_day or local_day()).year, 12, 31).isoformat())
            _sub(row, "PThuc", "Đơn vị nhận ủy nhiệm thu tiền và chuyển về tài khoản của đơn vị thu")
    _sub(_sub(root, "DSCKS"), "NNT")
    return root


def signed_form(session: Session, settings: Settings, unit: CollectingUnit, series: list[ReceiptSeries], *,
                change: bool = False) -> etree._Element:
    """The form signed with the unit's own key (its certificate is the one it registers)."""
    from receipts.signing import load_unit_signer

    signer = load_unit_signer(session, settings, unit)
    centres = list(session.scalars(select(Centre).join(CentreUnit, CentreUnit.centre_id == Centre.id)
                                   .where(CentreUnit.unit_id == unit.id).order_by(Centre.id)))
    chain = signer.chain_pems()
    form = build_form(settings, unit, series, centres, chain, change=change)
    xmldsig.sign(form, signer.xml_key(), chain, reference_id=DATA_ID, signing_time=utcnow(),
                 parent=form.find("DSCKS/NNT"), signature_id=SIGNATURE_ID)
    return form


def register_unit(session: Session, settings: Settings, unit: CollectingUnit, *,
                  series: ReceiptSeries | None = None, actor: audit.Actor = audit.SYSTEM) -> TaxMessage:
    """Send the unit's registration for a draft series (the newest one when not named); the series waits in
    'submitted' until the answer. The caller commits; the message goes after the commit."""
    from tax.jobs import submit

    if series is None:
        series = session.scalar(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id,
                                                            ReceiptSeries.state == "draft")
                                .order_by(ReceiptSeries.year.desc(), ReceiptSeries.id.desc()))
    if series is None or series.unit_id != unit.id:
        raise RegistrationError(f"Đơn vị {unit.code} không có ký hiệu biên lai nháp để đăng ký")
    if series.state != "draft":
        raise RegistrationError(f"Ký hiệu {series.template} {series.symbol} đang ở trạng thái {series.state}, "
                                "chỉ đăng ký được ký hiệu nháp")
    accepted_before = session.scalar(select(TaxMessage.id).where(TaxMessage.unit_id == unit.id,
                                                                 TaxMessage.kind == "registration",
                                                                 TaxMessage.status == "accepted"))
    form = signed_form(session, settings, unit, [series], change=accepted_before is not None)
    series_sm.mark_submitted(session, series, actor=actor)
    message = submit(session, unit=unit, mltdiep=codes.REGISTRATION, dlieu=form, series_id=series.id,
                     kind="registration")
    audit.record(session, actor, "tax.registration_sent", entity_type="receipt_series", entity_id=series.id,
                 after={"mtdiep": message.mtdiep, "form": FORM})
    return message


def registration_state(session: Session, unit_id: int) -> dict | None:
    """The unit's latest registration message: its MTDiep, status, reasons and series (for the admin page)."""
    m = session.scalar(select(TaxMessage).where(TaxMessage.unit_id == unit_id, TaxMessage.kind == "registration",
                                                TaxMessage.direction == "out").order_by(TaxMessage.id.desc()))
    if m is None:
        return None
    return {"mtdiep": m.mtdiep, "status": m.status, "reasons": list(m.reasons or []), "series_id": m.series_id,
            "created_at": m.created_at}


@events.on("tax.accepted")
def _registration_accepted(session: Session, kind: str, series_id: int | None = None, **_):
    if kind != "registration" or series_id is None:
        return
    series = session.get(ReceiptSeries, series_id)
    if series is not None and series.state == "submitted":
        series_sm.mark_registered(session, series, local_day())


@events.on("tax.rejected")
def _registration_rejected(session: Session, kind: str, series_id: int | None = None, **_):
    if kind != "registration" or series_id is None:
        return
    series = session.get(ReceiptSeries, series_id)
    if series is not None and series.state == "submitted":
        series_sm.mark_registration_rejected(session, series)


__all__ = ["build_form", "signed_form", "register_unit", "registration_state", "RegistrationError"]
