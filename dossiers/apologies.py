"""Official apology and new appointment slips (Phiếu xin lỗi và hẹn lại ngày trả kết quả) for a dossier.

Before a dossier is late, staff issue the slip with the reason and a new appointment date (a later
business day): the dossier's appointment moves, the slip is numbered per centre and year and counted,
its PDF (the layout of form 04, see `render_apology_pdf` and docs/dossiers-apologies.md) is kept in the
receipts storage and sent to the citizen, and `dossier.apology_issued` is emitted. After the end of the
appointment date it is refused: the dossier is late, and an apology cannot hide it.
"""

from __future__ import annotations

import io
import secrets
from datetime import date, datetime

from reportlab.lib.enums import TA_JUSTIFY
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph
from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import audit, events, jobs
from core.clock import local_day, utcnow
from core.db import Base, UTCDateTime
from core.errors import Conflict, InvalidInput
from core.models import Centre, Province
from core.notify import notify_citizen, queue_message
from core.text import clean_text, markup, printable
from dossiers import calendar
from dossiers.models import Dossier

REASON_MAX = 1000
# The legal basis printed in the PDF's metadata and cited in docs/dossiers-apologies.md. ASSUMPTION: the
# form and its fields are those of Mẫu số 04 (Circular 01/2018/TT-VPCP), kept by the one-stop rules of
# Decree 118/2025/NĐ-CP; see the document for what could not be checked against the primary text.
FORM_BASIS = ("Mẫu Phiếu xin lỗi và hẹn lại ngày trả kết quả (Mẫu số 04, Thông tư 01/2018/TT-VPCP); "
              "Nghị định 118/2025/NĐ-CP")


class DossierApology(Base):
    """One slip issued for a dossier: its number, the reason, and the appointment it moved."""

    __tablename__ = "dossier_apology"
    __table_args__ = (
        UniqueConstraint("centre_id", "year", "seq", name="uq_dossier_apology_centre_year_seq"),
        CheckConstraint("new_appointment_date > previous_appointment_date", name="new_date_later"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id"), index=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(REASON_MAX))
    previous_appointment_date: Mapped[date] = mapped_column(Date)
    new_appointment_date: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    issued_by: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str | None] = mapped_column(String(255))
    # The unguessable part of the citizen's link to the slip (/phieu-xin-loi/<code>), as receipts' lookup codes.
    lookup_code: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_urlsafe(16))


class ApologyRefused(Conflict):
    """Raised when no apology may be issued now (the dossier is late, returned, cancelled or has no date)."""

    code = "apology-refused"


def _storage():
    from receipts.storage import storage_for

    return storage_for(jobs.settings())


def issue_apology(session: Session, dossier: Dossier, *, reason: object, new_appointment_date: object,
                  actor: audit.Actor, now: datetime | None = None) -> DossierApology:
    """Issue the slip and move the appointment, in the caller's transaction (the caller commits)."""
    now = now or utcnow()
    if session.get_bind().dialect.name != "sqlite":
        # The centre's row orders its slips' numbers (two desks at once take one number each); the dossier's
        # row, two apologies for one dossier. SQLite runs one writer at a time.
        session.execute(select(Centre.id).where(Centre.id == dossier.centre_id).with_for_update())
        session.refresh(dossier, with_for_update=True)
    if dossier.status in ("returned", "cancelled"):
        raise ApologyRefused("the dossier is closed", errors={"status": ["Hồ sơ đã trả kết quả hoặc đã hủy."]})
    if dossier.appointment_date is None:
        raise ApologyRefused("the dossier has no appointment date",
                             errors={"appointment_date": ["Hồ sơ chưa có ngày hẹn trả."]})
    if calendar.is_late(session, dossier, now):
        raise ApologyRefused("the dossier is already late: an apology is issued before the appointment date",
                             errors={"appointment_date": ["Hồ sơ đã quá hạn: phiếu xin lỗi phải lập trước ngày hẹn trả."]})
    errors: dict[str, list[str]] = {}
    text = clean_text(reason, REASON_MAX, field="reason", required=True, multiline=True, errors=errors)
    new_date = None
    try:
        new_date = calendar.parse_day(new_appointment_date, "new_appointment_date")
    except InvalidInput as e:
        errors.update(e.errors)
    if new_date is not None:
        if new_date <= dossier.appointment_date:
            errors["new_appointment_date"] = ["Ngày hẹn mới phải sau ngày hẹn trả hiện tại."]
        elif not calendar.is_business_day(session, new_date):
            errors["new_appointment_date"] = ["Ngày hẹn mới phải là ngày làm việc (không phải thứ Bảy, Chủ nhật, ngày lễ)."]
    if errors:
        raise InvalidInput("the apology is incomplete", errors=errors)

    year = local_day(now).year
    seq = (session.scalar(select(func.max(DossierApology.seq)).where(
        DossierApology.centre_id == dossier.centre_id, DossierApology.year == year)) or 0) + 1
    apology = DossierApology(centre_id=dossier.centre_id, dossier_id=dossier.id, year=year, seq=seq,
                             number=f"{seq:02d}/PXL", reason=text, previous_appointment_date=dossier.appointment_date,
                             new_appointment_date=new_date, issued_at=now, issued_by=printable(actor.name or actor.type)[:255])
    session.add(apology)
    dossier.appointment_date = new_date
    session.flush()

    pdf = render_apology_pdf(apology_content(session, dossier, apology))
    apology.storage_key = f"apologies/{dossier.centre_id}/{year}/{apology.id}.pdf"
    storage = _storage()
    storage.put(apology.storage_key, pdf)
    audit.record(session, actor, "dossier.apology_issued", entity_type="dossier", entity_id=dossier.id,
                 centre_id=dossier.centre_id,
                 before={"appointment_date": apology.previous_appointment_date.isoformat()},
                 after={"appointment_date": new_date.isoformat(), "apology": apology.number})
    _notify_citizen(session, dossier, apology, storage.local_path(apology.storage_key))
    events.emit(session, "dossier.apology_issued", apology_id=apology.id, dossier_id=dossier.id)
    session.flush()
    return apology


def citizen_url(apology: DossierApology) -> str:
    """The citizen's link to the slip (public, like a receipt's lookup page: whoever holds the link)."""
    return f"{jobs.settings().public_url.rstrip('/')}/phieu-xin-loi/{apology.lookup_code}"


def _notify_citizen(session: Session, dossier: Dossier, apology: DossierApology, path) -> None:
    """The e-mail with the slip attached, and one text (Zalo, or SMS as fallback) with its link."""
    centre = session.get(Centre, dossier.centre_id)
    when = apology.new_appointment_date.strftime("%d/%m/%Y")
    link = citizen_url(apology)
    if dossier.citizen_email:
        queue_message(
            session, channel="email", recipient=dossier.citizen_email, centre_id=dossier.centre_id,
            subject=printable(f"Phiếu xin lỗi và hẹn lại ngày trả kết quả - hồ sơ {dossier.code}")[:255],
            body=printable(f"Kính gửi Ông/Bà {dossier.citizen_name},") + "\n\n" + printable(
                f"{centre.name} xin lỗi vì chưa trả kết quả hồ sơ {dossier.code} ({dossier.procedure_name}) "
                f"đúng hẹn ngày {apology.previous_appointment_date.strftime('%d/%m/%Y')} và hẹn trả lại "
                f"vào ngày {when}. Lý do: {apology.reason}") + f"\n\nPhiếu xin lỗi số {apology.number} gửi kèm "
            f"thư này, và xem tại: {link}\n\nTrân trọng.",
            attachments=[{"path": str(path), "filename": f"phieu-xin-loi-{apology.id}.pdf",
                          "mimetype": "application/pdf"}] if path else [],
            entity_type="dossier_apology", entity_id=apology.id, purpose="apology-issued")
    notify_citizen(session, event="apology_issued", phone=dossier.citizen_phone, centre_id=dossier.centre_id,
                   entity_type="dossier_apology", entity_id=apology.id, purpose="apology-issued",
                   params={"dossier": dossier.code, "new_date": when, "link": link})


def for_dossier(session: Session, dossier_id: int) -> list[dict]:
    """The dossier's slips, oldest first, as the dossier API shows them."""
    rows = session.scalars(select(DossierApology).where(DossierApology.dossier_id == dossier_id)
                           .order_by(DossierApology.issued_at, DossierApology.id))
    return [as_dict(a) for a in rows]


# The API route of the slip's PDF (api/dossiers/apologies.py), given here so the dossier API shows it too.
PDF_URL = "/api/v1/dossier-apologies/{id}/pdf"


def as_dict(a: DossierApology) -> dict:
    return {"id": a.id, "pdf_url": PDF_URL.format(id=int(a.id)), "number": a.number, "reason": a.reason, "issued_at": a.issued_at.isoformat(),
            "issued_by": a.issued_by, "previous_appointment_date": a.previous_appointment_date.isoformat(),
            "new_appointment_date": a.new_appointment_date.isoformat()}


def pdf_bytes(apology: DossierApology) -> bytes:
    return _storage().get(apology.storage_key)


# The slip's layout.

def apology_content(session: Session, dossier: Dossier, apology: DossierApology) -> dict:
    centre = session.get(Centre, dossier.centre_id)
    agency = centre.name
    if dossier.unit_id is not None:
        from province.models import CollectingUnit

        unit = session.get(CollectingUnit, dossier.unit_id)
        agency = unit.name if unit is not None else agency
    province = session.get(Province, centre.province_code) if centre.province_code else None
    place = province.name if province is not None else ""
    for prefix in ("Thành phố ", "Tỉnh "):
        place = place.removeprefix(prefix)
    return {
        "governing": centre.name if agency != centre.name else (province.name if province else ""),
        "agency": agency, "place": place, "number": apology.number,
        "issued_on": local_day(apology.issued_at), "citizen": dossier.citizen_name, "dossier_code": dossier.code,
        "procedure": dossier.procedure_name, "received_on": local_day(dossier.received_at),
        "appointment": apology.previous_appointment_date, "reason": apology.reason,
        "new_appointment": apology.new_appointment_date,
    }


def _long_date(day: date) -> str:
    return f"ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def render_apology_pdf(content: dict) -> bytes:
    """One A4 page in the layout of form 04; every outside value is drawn as text, never as markup."""
    from receipts.render import FONT, register_fonts

    register_fonts()
    buf = io.BytesIO()
    width, height = A4
    c = canvas.Canvas(buf, pagesize=A4, invariant=0)
    c.setTitle("Phiếu xin lỗi và hẹn lại ngày trả kết quả")
    c.setSubject(printable(f"Hồ sơ {content['dossier_code']}"))
    c.setAuthor(printable(content["agency"]))
    c.setKeywords(FORM_BASIS)
    left, right = 20 * mm, width - 15 * mm
    col_left, col_right = left + 35 * mm, right - 50 * mm

    def put(x, y, s, size=11, bold=False, align="centre"):
        c.setFont(FONT, size)
        if bold:
            c.setLineWidth(size * 0.04)
        draw = {"left": c.drawString, "centre": c.drawCentredString}[align]
        draw(x, y, printable(s), mode=2 if bold else None)

    def lines(x, y, s, max_w, size=11, bold=False):
        for line in simpleSplit(printable(s), FONT, size, max_w) or [""]:
            put(x, y, line, size, bold)
            y -= size * 1.3
        return y

    top = height - 18 * mm
    y = top
    if content["governing"]:
        y = lines(col_left, y, content["governing"].upper(), 75 * mm, 10.5)
    y = lines(col_left, y, content["agency"].upper(), 75 * mm, 10.5, bold=True)
    c.line(col_left - 12 * mm, y + 8, col_left + 12 * mm, y + 8)
    put(col_left, y - 6, f"Số: {content['number']}", 11)
    put(col_right, top, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 10.5, bold=True)
    put(col_right, top - 14, "Độc lập - Tự do - Hạnh phúc", 11.5, bold=True)
    c.line(col_right - 30 * mm, top - 18, col_right + 30 * mm, top - 18)
    place = f"{content['place']}, " if content["place"] else ""
    put(col_right, top - 36, f"{place}{_long_date(content['issued_on'])}", 11)

    y = min(y - 40, top - 80)
    put(width / 2, y, "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", 14, bold=True)
    y -= 26
    put(width / 2, y, f"Kính gửi: {content['citizen']}", 12)
    y -= 28

    style = ParagraphStyle("body", fontName=FONT, fontSize=11.5, leading=17, alignment=TA_JUSTIFY,
                           firstLineIndent=10 * mm, spaceAfter=4)

    def para(text_markup: str) -> None:
        nonlocal y
        p = Paragraph(text_markup, style)
        _, h = p.wrap(right - left, y)
        p.drawOn(c, left, y - h)
        y -= h + style.spaceAfter

    agency = markup(content["agency"])
    para(f"{agency} tiếp nhận hồ sơ của Ông/Bà: {markup(content['citizen'])}.")
    para(f"Mã hồ sơ: {markup(content['dossier_code'])}.")
    para(f"Nội dung yêu cầu giải quyết: {markup(content['procedure'])}.")
    para(f"Ngày nhận hồ sơ: {content['received_on'].strftime('%d/%m/%Y')}.")
    para(f"Ngày hẹn trả kết quả: {content['appointment'].strftime('%d/%m/%Y')}.")
    para(f"Tuy nhiên đến nay, {agency} chưa trả kết quả giải quyết hồ sơ của Ông/Bà đúng hẹn.")
    para(f"Lý do: {markup(content['reason'])}")
    para("Sự chậm trễ này đã gây phiền hà cho Ông/Bà.")
    para(f"{agency} xin lỗi Ông/Bà và sẽ trả kết quả giải quyết hồ sơ cho Ông/Bà vào "
         f"{_long_date(content['new_appointment'])}.")
    para("Xin trân trọng cảm ơn./.")

    y -= 14
    put(col_right, y, "ĐẠI DIỆN CƠ QUAN, ĐƠN VỊ", 11, bold=True)
    put(col_right, y - 14, "(Ký, ghi rõ họ tên và đóng dấu)", 10)
    c.showPage()
    c.save()
    return buf.getvalue()
