"""Pages: the public list of a centre's late dossiers and apologies this month, the admin's business calendar."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session
from api.i18n import register_messages
from core import audit
from core.clock import format_local, local_day
from core.errors import InvalidInput
from core.models import Centre
from core.text import content_disposition
from dossiers import apologies, calendar, late
from dossiers.apologies import DossierApology

public = Blueprint("dossier_public", __name__)
admin = Blueprint("calendar_admin", __name__, url_prefix="/staff/admin/calendar")
protect_forms(admin)
staff = Blueprint("dossier_apology_staff", __name__, url_prefix="/staff/dossier-apologies")
protect_forms(staff)

register_messages({
    "nav.calendar": {"vi": "Lịch làm việc", "en": "Business calendar"},
    "nav.dossier_apologies": {"vi": "Xin lỗi, hẹn lại", "en": "Apologies"},
})

MONTH_NAMES = {m: f"tháng {m:02d}" for m in range(1, 13)}  # "tháng 12/2026"


def register_navigation() -> None:
    from api.pages import NAV

    for entry in (("calendar_admin.index", "nav.calendar", ("admin",)),
                  ("dossier_apology_staff.find", "nav.dossier_apologies", ("dispatcher",))):
        if entry not in NAV:
            NAV.append(entry)


def _month(value: str | None) -> date | None:
    if not value:
        return None
    try:
        year, month = (int(x) for x in value.split("-", 1))
        return date(year, month, 1)
    except ValueError:
        abort(404)


@public.get("/tre-han/<centre_code>")
def late_list(centre_code: str):
    """Public, per centre: the dossiers late this month and the apologies issued (no citizen's data)."""
    session = db_session()
    centre = session.scalar(select(Centre).where(Centre.code == centre_code))
    if centre is None:
        abort(404)
    month = _month(request.args.get("month"))
    if month is not None and month > local_day():
        abort(404)
    report = late.late_this_month(session, centre.id, month)
    first = report.month
    previous = (first - timedelta(days=1)).replace(day=1)
    return render_template("dossiers/late_public.html", centre=centre, report=report,
                           month_label=f"{MONTH_NAMES[first.month]}/{first.year}",
                           previous=f"{previous.year}-{previous.month:02d}")


@public.get("/phieu-xin-loi/<lookup_code>")
def apology_slip(lookup_code: str):
    """Public to whoever holds the link sent to the citizen (like a receipt's lookup page): the slip's PDF."""
    session = db_session()
    a = session.scalar(select(DossierApology).where(DossierApology.lookup_code == lookup_code))
    if a is None or a.storage_key is None:
        abort(404)
    return Response(apologies.pdf_bytes(a), mimetype="application/pdf",
                    headers={"Content-Disposition": content_disposition(f"phieu-xin-loi-{a.number}.pdf", inline=True),
                             "Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"})


@admin.route("", methods=["GET", "POST"])
@require_roles("admin")
def index():
    """The year's holidays and make-up days: add, rename or remove one."""
    session = db_session()
    try:
        year = int(request.values.get("year") or local_day().year)
    except ValueError:
        year = local_day().year
    if request.method == "POST":
        actor = current_principal().actor()
        try:
            day = calendar.parse_day(request.form.get("day"))
            if request.form.get("action") == "remove":
                if calendar.remove_day(session, day):
                    audit.record(session, actor, "calendar.day_removed", entity_type="calendar_day",
                                 entity_id=day.isoformat())
                    flash(f"Đã xoá ngày {day.strftime('%d/%m/%Y')}.", "success")
            else:
                row = calendar.set_day(session, day, request.form.get("kind") or "holiday", request.form.get("name"))
                audit.record(session, actor, "calendar.day_set", entity_type="calendar_day", entity_id=day.isoformat(),
                             after={"kind": row.kind, "name": row.name})
                flash(f"Đã ghi ngày {day.strftime('%d/%m/%Y')}.", "success")
            session.commit()
            return redirect(url_for("calendar_admin.index", year=day.year))
        except InvalidInput as e:
            session.rollback()
            flash("; ".join(m for msgs in e.errors.values() for m in msgs) or e.message, "error")
    return render_template("dossiers/calendar_admin.html", year=year, days=calendar.days_of_year(session, year),
                           weekday=lambda d: ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy",
                                              "Chủ nhật")[d.weekday()])


def _staff_dossier(session, code: str):
    """The dossier `code` of one of the signed-in user's centres; any other answers 404."""
    from dossiers.models import Dossier

    stmt = current_principal().scope(select(Dossier).where(Dossier.code == code.strip()), Dossier.centre_id)
    dossier = session.scalars(stmt.order_by(Dossier.id)).first()
    if dossier is None:
        abort(404)
    return dossier


@staff.get("")
@require_roles("dispatcher")
def find():
    """Find a dossier by its code, to see its apologies or issue one."""
    code = (request.args.get("code") or "").strip()
    if code:
        return redirect(url_for("dossier_apology_staff.dossier", code=code))
    return render_template("dossiers/apology_find.html")


@staff.route("/<path:code>", methods=["GET", "POST"])
@require_roles("dispatcher")
def dossier(code: str):
    """The dossier's appointment, whether it is late, its slips, and the button that issues one."""
    session = db_session()
    d = _staff_dossier(session, code)
    if request.method == "POST":
        try:
            a = apologies.issue_apology(session, d, reason=request.form.get("reason"),
                                        new_appointment_date=request.form.get("new_appointment_date"),
                                        actor=current_principal().actor())
            session.commit()
            flash(f"Đã lập phiếu xin lỗi số {a.number}; ngày hẹn trả mới {a.new_appointment_date.strftime('%d/%m/%Y')}.",
                  "success")
            return redirect(url_for("dossier_apology_staff.dossier", code=d.code))
        except InvalidInput as e:
            session.rollback()
            flash("; ".join(m for msgs in e.errors.values() for m in msgs) or e.message, "error")
        except apologies.ApologyRefused as e:
            session.rollback()
            flash("; ".join(m for msgs in e.errors.values() for m in msgs) or e.message, "error")
        d = _staff_dossier(session, code)
    is_late = calendar.is_late(session, d)
    closed = d.status in ("returned", "cancelled") or d.appointment_date is None
    return render_template("dossiers/apology_staff.html", d=d, late=is_late,
                           received=format_local(d.received_at, "%d/%m/%Y"), can_issue=not is_late and not closed,
                           apologies=apologies.for_dossier(session, d.id),
                           earliest=calendar.add_business_days(session, d.appointment_date, 1) if d.appointment_date else None)


@staff.get("/slip/<int:apology_id>.pdf")
@require_roles("dispatcher", "cashier")
def slip(apology_id: int):
    session = db_session()
    a = session.get(DossierApology, apology_id)
    if a is None or a.storage_key is None or not current_principal().sees(a.centre_id):
        abort(404)
    return Response(apologies.pdf_bytes(a), mimetype="application/pdf",
                    headers={"Content-Disposition": content_disposition(f"phieu-xin-loi-{a.number}.pdf", inline=True)})
