"""Finance dashboard: today's position, the discrepancy queue, imports, reports, day close."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.i18n import register_messages, t
from core.clock import local_day
from core.errors import DomainError
from finance.closing import close_day
from finance.models import FEE_KINDS, RESOLUTION_ACTIONS, SOURCES, ClosedDay, Discrepancy, StatementImport
from finance.reconcile import import_statement, late_days_setting, resolve_discrepancy
from finance.reports import CHANNEL_LABELS, FIGURE_LABELS, summary, to_csv, to_xlsx
from finance.settlements import batches, fee_rates, fees_booked

bp = Blueprint("finance", __name__, url_prefix="/staff/finance")
protect_forms(bp)

register_messages({
    "nav.finance": {"vi": "Kế toán, đối soát", "en": "Finance"},
    "finance.title": {"vi": "Kế toán và đối soát", "en": "Finance and reconciliation"},
    "finance.register": {"vi": "Sổ biên lai (tra cứu, xuất CSV)", "en": "Receipt register (search, CSV)"},
    "finance.today": {"vi": "Hôm nay", "en": "Today"},
    "finance.payments": {"vi": "Số khoản thu", "en": "Payments"},
    "finance.collected": {"vi": "Đã thu", "en": "Collected"},
    "finance.open_discrepancies": {"vi": "Chênh lệch chưa xử lý", "en": "Open discrepancies"},
    "finance.queue": {"vi": "Chênh lệch cần xử lý", "en": "Discrepancy queue"},
    "finance.import": {"vi": "Nhập sao kê, đối soát", "en": "Import a statement"},
    "finance.source": {"vi": "Loại tệp", "en": "File type"},
    "finance.file": {"vi": "Tệp", "en": "File"},
    "finance.upload": {"vi": "Tải lên và đối soát", "en": "Upload and match"},
    "finance.imports": {"vi": "Các tệp đã nhập", "en": "Imported files"},
    "finance.report": {"vi": "Báo cáo tháng", "en": "Monthly report"},
    "finance.month": {"vi": "Tháng", "en": "Month"},
    "finance.show": {"vi": "Xem", "en": "Show"},
    "finance.download_xlsx": {"vi": "Tải XLSX", "en": "Download XLSX"},
    "finance.download_csv": {"vi": "Tải CSV", "en": "Download CSV"},
    "finance.close": {"vi": "Khoá sổ ngày", "en": "Close a day"},
    "finance.close_button": {"vi": "Khoá sổ", "en": "Close"},
    "finance.closed_days": {"vi": "Ngày đã khoá sổ", "en": "Closed days"},
    "finance.allow_empty": {"vi": "Ngày không phát sinh (ngày nghỉ): vẫn khoá sổ",
                            "en": "Nothing happened that day (a holiday): close it anyway"},
    "finance.resolve": {"vi": "Xử lý", "en": "Resolve"},
    "finance.note": {"vi": "Ghi chú", "en": "Note"},
    "finance.payment_code": {"vi": "Mã khoản thu (khi liên kết)", "en": "Payment code (to link)"},
    "finance.by_channel": {"vi": "Theo kênh thanh toán", "en": "By channel"},
    "finance.by_fee": {"vi": "Theo loại phí, lệ phí", "en": "By fee"},
    "finance.refunds": {"vi": "Hoàn tiền", "en": "Refunds"},
    "finance.cod": {"vi": "COD đã thu / bưu chính đã chuyển", "en": "COD collected / remitted"},
    "finance.imported": {"vi": "Đã nhập {name}: khớp {matched} giao dịch, {discrepancies} chênh lệch.",
                         "en": "Imported {name}: matched {matched}, discrepancies {discrepancies}."},
    "finance.already": {"vi": "Tệp này đã được nhập trước đó; không có gì thay đổi.",
                        "en": "This file was imported before; nothing changed."},
    "finance.resolved": {"vi": "Đã xử lý chênh lệch.", "en": "Discrepancy resolved."},
    "finance.day_closed": {"vi": "Đã khoá sổ ngày {day}.", "en": "Day {day} closed."},
    "finance.no_file": {"vi": "Chọn tệp để tải lên.", "en": "Choose a file to upload."},
    "dtype.missing_ours": {"vi": "Có tiền, không có khoản thu", "en": "Missing on our side"},
    "dtype.missing_theirs": {"vi": "Có khoản thu, không có tiền", "en": "Missing on theirs"},
    "dtype.amount_differs": {"vi": "Lệch số tiền", "en": "Amount differs"},
    "dtype.duplicate": {"vi": "Trùng lặp", "en": "Duplicate"},
    "dtype.status_differs": {"vi": "Lệch trạng thái", "en": "Status differs"},
    "dtype.late_settlement": {"vi": "Về tiền muộn", "en": "Late settlement"},
    "dtype.wrong_fee": {"vi": "Phí sai hợp đồng", "en": "Fee differs from the contract"},
    "dtype.net_differs": {"vi": "Lệch số thực nhận", "en": "Net amount differs"},
    "dtype.late_credit": {"vi": "Chưa về tiền đợt quyết toán", "en": "Settlement credit late"},
    "finance.settlements": {"vi": "Đợt quyết toán (cổng thanh toán, COD)", "en": "Settlement batches (gateways, COD)"},
    "finance.fee_ledger": {"vi": "Phí và cước đã khấu trừ trong tháng", "en": "Fees and postage deducted this month"},
    "batch.awaiting_credit": {"vi": "Chờ tiền về", "en": "Awaiting credit"},
    "batch.credited": {"vi": "Đã về tiền", "en": "Credited"},
    "batch.late": {"vi": "Quá hạn, chưa về tiền", "en": "Late"},
    "batch.net_differs": {"vi": "Tiền về lệch", "en": "Credit differs"},
    "action.link": {"vi": "Liên kết với khoản thu", "en": "Link to a payment"},
    "action.refund": {"vi": "Hoàn trả tiền", "en": "Mark for refund"},
    "action.write_off": {"vi": "Ghi nhận xử lý khác (có lý do)", "en": "Write off (with reason)"},
    "action.accept": {"vi": "Chấp nhận", "en": "Accept"},
})


def register_navigation() -> None:
    from api.pages import NAV

    entry = ("finance.dashboard", "nav.finance", ("finance",))
    if entry not in NAV:
        NAV.append(entry)


def _month_bounds(month: str | None) -> tuple[date, date, str]:
    today = local_day()
    try:
        year, mon = (int(x) for x in (month or f"{today:%Y-%m}").split("-"))
        start = date(year, mon, 1)
    except ValueError:
        start = today.replace(day=1)
    end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return start, end, f"{start:%Y-%m}"


def _chosen():
    from api.pages import chosen_centre

    return chosen_centre()


def _back():
    """Back to the dashboard of the centre the form was about."""
    code = request.values.get("centre")
    return redirect(url_for("finance.dashboard", centre=code) if code else url_for("finance.dashboard"))


@bp.get("/")
@require_roles("finance")
def dashboard():
    from api.pages import chosen_centre

    session = db_session()
    # One centre's books at a time: the user's home centre unless `?centre=` names another of theirs.
    chosen = chosen_centre()
    centre_id = chosen.id
    today = local_day()
    start, end, month = _month_bounds(request.args.get("month"))
    open_q = (select(Discrepancy).where(Discrepancy.centre_id == centre_id, Discrepancy.status == "open")
              .order_by(Discrepancy.day.desc(), Discrepancy.id).limit(100))
    open_count = session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.centre_id == centre_id, Discrepancy.status == "open"))
    imports = session.scalars(select(StatementImport).where(StatementImport.centre_id == centre_id)
                              .order_by(StatementImport.id.desc()).limit(10)).all()
    closed = session.scalars(select(ClosedDay).where(ClosedDay.centre_id == centre_id)
                             .order_by(ClosedDay.day.desc()).limit(10)).all()
    report = summary(session, centre_id, start, end)
    top = max([v["amount"] for v in report.by_channel.values()] or [1]) or 1
    return render_template("finance/dashboard.html", today=today, today_summary=summary(session, centre_id, today, today),
                           discrepancies=session.scalars(open_q).all(), open_count=open_count, imports=imports,
                           closed=closed, report=report, month=month, top=top, sources=SOURCES,
                           actions=RESOLUTION_ACTIONS, channel_labels=CHANNEL_LABELS, figure_labels=FIGURE_LABELS,
                           yesterday=today - timedelta(days=1), chosen=chosen)


@bp.get("/settlements")
@require_roles("finance")
def settlements_page():
    """Settlement batches with their gross, fee and net and the bank credit that paid them; the fee ledger."""
    from api.pages import chosen_centre

    session = db_session()
    chosen = chosen_centre()
    start, end, month = _month_bounds(request.args.get("month"))
    return render_template("finance/settlements.html", batches=batches(session, chosen.id, limit=200),
                           fees=fees_booked(session, chosen.id, start, end), month=month, chosen=chosen,
                           channel_labels=CHANNEL_LABELS, fee_kinds=FEE_KINDS)


@bp.post("/import")
@require_roles("finance")
def upload():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(t("finance.no_file"), "error")
        return _back()
    session = db_session()
    try:
        result = import_statement(session, _chosen().id, request.form.get("source", ""), upload.filename,
                                  upload.read(), current_principal().actor(), late_days=late_days_setting(settings()),
                                  rates=fee_rates(settings()))
        session.commit()
    except DomainError as e:
        session.rollback()
        flash(e.message, "error")
        return _back()
    flash(t("finance.imported", name=upload.filename, matched=result.matched, discrepancies=result.discrepancies)
          if result.created
          else t("finance.already"), "success")
    return _back()


@bp.post("/discrepancies/<int:discrepancy_id>/resolve")
@require_roles("finance")
def resolve(discrepancy_id: int):
    session = db_session()
    found = session.get(Discrepancy, discrepancy_id) if 0 < discrepancy_id < 2**63 else None
    if found is None or not current_user.sees(found.centre_id):
        abort(404)
    try:
        resolve_discrepancy(session, discrepancy_id, found.centre_id, action=request.form.get("action", ""),
                            note=request.form.get("note", ""), payment_code=request.form.get("payment_code") or None,
                            actor=current_principal().actor())
        session.commit()
        flash(t("finance.resolved"), "success")
    except DomainError as e:
        session.rollback()
        details = "; ".join(m for msgs in e.errors.values() for m in msgs) if e.errors else e.message
        flash(details, "error")
    return _back()


@bp.post("/close")
@require_roles("finance")
def close():
    session = db_session()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
        close_day(session, _chosen().id, day, current_principal().actor(),
                  allow_empty=request.form.get("allow_empty") == "1")
        session.commit()
        flash(t("finance.day_closed", day=f"{day:%d/%m/%Y}"), "success")
    except ValueError:
        flash("Ngày không hợp lệ.", "error")
    except DomainError as e:
        session.rollback()
        flash(e.message, "error")
    return _back()


@bp.get("/report.<fmt>")
@require_roles("finance")
def report_download(fmt: str):
    start, end, month = _month_bounds(request.args.get("month"))
    s = summary(db_session(), _chosen().id, start, end)
    if fmt == "xlsx":
        return Response(to_xlsx(s), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="bao-cao-{month}.xlsx"'})
    if fmt == "csv":
        return Response(to_csv(s), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="bao-cao-{month}.csv"'})
    return redirect(url_for("finance.dashboard"))
