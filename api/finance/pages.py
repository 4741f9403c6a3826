"""Finance dashboard: today's position, the discrepancy queue, imports, reports, day close."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.i18n import register_messages, t
from core.clock import local_day
from core.errors import DomainError
from finance.closing import close_day
from finance.imports import queue_statement
from finance.models import (
    DISCREPANCY_TYPES,
    FEE_KINDS,
    RESOLUTION_ACTIONS,
    SETTLEMENT_SOURCES,
    SOURCES,
    ClosedDay,
    Discrepancy,
    StatementImport,
)
from finance.reconcile import import_statement, late_days_setting, resolve_discrepancy
from finance.reports import CHANNEL_LABELS, FIGURE_LABELS, DailyTrend, daily_by_channel, summary, to_csv, to_xlsx
from finance.settlements import batches, fee_rates, fees_booked

# F2's discrepancy list (finance_discrepancies.index), linked by its path.
DISCREPANCY_LIST = "/staff/finance/discrepancies"

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
    "finance.not_imported": {"vi": "Chưa nhập tệp: hãy sửa lỗi ghi bên cạnh ô nhập.",
                             "en": "Not imported: correct the errors shown beside the fields."},
    "finance.uploading": {"vi": "Đang tải tệp lên…", "en": "Uploading…"},
    "finance.import_title": {"vi": "Đối chiếu tệp {name}", "en": "Matching {name}"},
    "finance.import_progress": {"vi": "Tiến độ đối chiếu", "en": "Matching progress"},
    "finance.import_queued": {"vi": "Đang chờ đối chiếu {total} dòng…", "en": "Waiting to match {total} lines…"},
    "finance.import_running": {"vi": "Đã đối chiếu {processed}/{total} dòng…",
                               "en": "Matched {processed} of {total} lines…"},
    "finance.import_done": {"vi": "Đã đối chiếu {total} dòng: khớp {matched}, chênh lệch {discrepancies}.",
                            "en": "Matched {total} lines: {matched} matched, {discrepancies} discrepancies."},
    "finance.import_failed": {"vi": "Đối chiếu không hoàn tất: {message}", "en": "Matching failed: {message}"},
    "finance.import_list": {"vi": "Xem danh sách chênh lệch của tệp này", "en": "See this file's discrepancies"},
    "finance.import_refresh": {"vi": "Cập nhật tiến độ", "en": "Refresh progress"},
    "finance.import_back": {"vi": "Về trang kế toán", "en": "Back to finance"},
    "finance.state": {"vi": "Trạng thái", "en": "State"},
    "import_state.queued": {"vi": "Chờ đối chiếu", "en": "Queued"},
    "import_state.running": {"vi": "Đang đối chiếu", "en": "Matching"},
    "import_state.done": {"vi": "Xong", "en": "Done"},
    "import_state.failed": {"vi": "Lỗi", "en": "Failed"},
    "finance.by_type": {"vi": "Chênh lệch chưa xử lý theo loại", "en": "Open discrepancies by type"},
    "finance.all_discrepancies": {"vi": "Xem, lọc và xử lý chênh lệch", "en": "See, filter and resolve discrepancies"},
    "finance.trend": {"vi": "Số tiền thu theo ngày và kênh thanh toán", "en": "Collected per day, by channel"},
    "finance.trend_table": {"vi": "Bảng số liệu theo ngày", "en": "Figures per day"},
    "finance.day": {"vi": "Ngày", "en": "Day"},
    "finance.total": {"vi": "Tổng", "en": "Total"},
    "finance.confirm_close": {"vi": "Khoá sổ ngày {day}: sau khi khoá sẽ không thể sửa khoản thu, biên lai và kết quả "
                                    "đối soát của ngày này, cũng không thể mở lại; hoàn tiền, huỷ biên lai hay tiền về "
                                    "muộn sau đó được ghi vào ngày phát sinh.",
                              "en": "Close {day}: once closed, that day's payments, receipts and matches cannot be "
                                    "changed and the day cannot be reopened; later refunds, cancellations and late "
                                    "money are booked on the day they happen."},
    "finance.confirm_close_title": {"vi": "Xác nhận khoá sổ ngày {day}", "en": "Confirm closing {day}"},
    "finance.confirm_close_box": {"vi": "Tôi xác nhận khoá sổ ngày {day}.", "en": "I confirm closing {day}."},
    "finance.confirm_close_required": {"vi": "Chưa khoá sổ: hãy đánh dấu ô xác nhận khoá sổ ngày {day}.",
                                       "en": "Not closed: tick the box confirming the close of {day} first."},
    "finance.cancel": {"vi": "Huỷ, không khoá sổ", "en": "Cancel, do not close"},
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
    return _dashboard()


def _dashboard(errors: dict[str, list[str]] | None = None, status: int = 200, chosen_source: str | None = None):
    from api.pages import chosen_centre

    session = db_session()
    # One centre's books at a time: the user's home centre unless `?centre=` names another of theirs.
    chosen = chosen_centre()
    centre_id = chosen.id
    today = local_day()
    start, end, month = _month_bounds(request.args.get("month"))
    # Counts by type, not the rows: one import can bring thousands; the discrepancy list pages them.
    by_type = dict(session.execute(select(Discrepancy.type, func.count()).where(
        Discrepancy.centre_id == centre_id, Discrepancy.status == "open").group_by(Discrepancy.type)).all())
    open_by_type = [(k, by_type[k]) for k in DISCREPANCY_TYPES if by_type.get(k)]
    imports = session.scalars(select(StatementImport).where(StatementImport.centre_id == centre_id)
                              .order_by(StatementImport.id.desc()).limit(10)).all()
    closed = session.scalars(select(ClosedDay).where(ClosedDay.centre_id == centre_id)
                             .order_by(ClosedDay.day.desc()).limit(10)).all()
    report = summary(session, centre_id, start, end)
    top = max([v["amount"] for v in report.by_channel.values()] or [1]) or 1
    trend = daily_by_channel(session, centre_id, start, end)
    return render_template("finance/dashboard.html", today=today, today_summary=summary(session, centre_id, today, today),
                           open_by_type=open_by_type, open_count=sum(by_type.values()), imports=imports,
                           closed=closed, report=report, month=month, top=top, sources=SOURCES,
                           actions=RESOLUTION_ACTIONS, channel_labels=CHANNEL_LABELS, figure_labels=FIGURE_LABELS,
                           yesterday=today - timedelta(days=1), chosen=chosen, discrepancy_list=DISCREPANCY_LIST,
                           trend=trend, trend_chart=_trend_chart(trend), errors=errors or {},
                           chosen_source=chosen_source), status


def _trend_chart(trend: DailyTrend) -> str | None:
    """The month's money per day as a stacked bar per channel: pygal SVG as a data: URI, as /staff/stats does."""
    from api.stats.charts import _config, _pygal, _uri

    if not trend.channels:
        return None
    pygal = _pygal()
    chart = pygal.StackedBar(**{**_config(t("finance.trend") + " (đồng)", columns=3), "width": 720, "height": 360,
                                "x_label_rotation": 0, "show_minor_x_labels": False},
                             value_formatter=lambda v: f"{v:,.0f}".replace(",", "."))
    chart.x_labels = [f"{d:%d}" for d in trend.days]
    # Every fifth day labelled (and the first): 31 labels do not fit a phone.
    chart.x_labels_major = [f"{d:%d}" for d in trend.days if d.day == 1 or d.day % 5 == 0]
    for channel in trend.channels:
        chart.add(CHANNEL_LABELS.get(channel, channel), trend.amounts[channel])
    return _uri(chart)


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
    """Validate the file in the request, then queue its matching and show its progress (issue 17).

    Settlement reports and COD remittances (one day's batch each) are still read in the request."""
    upload = request.files.get("file")
    source = request.form.get("source", "")
    if upload is None or not upload.filename:
        return _refused({"file": [t("finance.no_file")]}, source)
    session = db_session()
    centre = _chosen()
    actor = current_principal().actor()
    try:
        if source in SETTLEMENT_SOURCES:
            result = import_statement(session, centre.id, source, upload.filename, upload.read(), actor,
                                      late_days=late_days_setting(settings()), rates=fee_rates(settings()))
            if not result.created:
                session.rollback()
                return _refused({"file": [t("finance.already")]}, source)
            statement = result.statement
        else:
            statement = queue_statement(session, centre.id, source, upload.filename, upload.read(), actor)
        session.commit()
    except DomainError as e:
        session.rollback()
        errors = {k: v for k, v in (e.errors or {}).items() if k in ("file", "source")} or {"file": [e.message]}
        return _refused(errors, source)
    return redirect(url_for("finance.import_page", import_id=statement.id, centre=request.values.get("centre")))


def _refused(errors: dict[str, list[str]], source: str):
    flash(t("finance.not_imported"), "error")
    return _dashboard(errors=errors, status=400, chosen_source=source)


def _seen_import(import_id: int) -> StatementImport:
    """The import if it exists and is of one of the caller's centres; 404 otherwise, whatever the role."""
    found = db_session().get(StatementImport, import_id) if 0 < import_id < 2**63 else None
    if found is None or not current_user.sees(found.centre_id):
        abort(404)
    return found


def _import_status(s: StatementImport) -> dict:
    total = s.line_count or 0
    processed = total if s.state == "done" else min(s.processed or 0, total)
    figures = {"total": _n(total), "processed": _n(processed), "matched": _n(s.matched_count or 0),
               "discrepancies": _n(s.discrepancy_count or 0)}
    if s.state == "done":
        message = t("finance.import_done", **figures)
    elif s.state == "failed":
        message = t("finance.import_failed", message=s.message or "")
    elif s.state == "running":
        message = t("finance.import_running", **figures)
    else:
        message = t("finance.import_queued", **figures)
    return {"id": s.id, "state": s.state, "state_label": t(f"import_state.{s.state}"), "processed": processed,
            "total": total, "matched": s.matched_count or 0, "discrepancies": s.discrepancy_count or 0,
            "message": message,
            "discrepancies_url": f"{DISCREPANCY_LIST}?import={s.id}" if s.state == "done" else None}


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


@bp.get("/imports/<int:import_id>")
@require_roles("finance")
def import_page(import_id: int):
    """One import: its progress bar (fed by progress.js from the JSON below) and, once done, its counts."""
    statement = _seen_import(import_id)
    return render_template("finance/import.html", s=statement, status=_import_status(statement),
                           sources=SOURCES, centre=request.args.get("centre"))


@bp.get("/imports/<int:import_id>.json")
@require_roles("finance")
def import_status(import_id: int):
    response = jsonify(_import_status(_seen_import(import_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


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


def _confirmed() -> bool:
    """The confirmation box every irreversible form carries (as the cashier's desk); refused without it."""
    return request.form.get("confirm") in ("1", "on", "yes")


@bp.post("/close")
@require_roles("finance")
def close():
    """Close a day, once confirmed: without the box ticked the answer is 400 and a page naming what will happen."""
    session = db_session()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash("Ngày không hợp lệ.", "error")
        return _back()
    shown = f"{day:%d/%m/%Y}"
    if not _confirmed():
        return render_template("finance/close_confirm.html", day=day, shown=shown, chosen=_chosen(),
                               allow_empty=request.form.get("allow_empty") == "1",
                               refused=t("finance.confirm_close_required", day=shown)), 400
    try:
        close_day(session, _chosen().id, day, current_principal().actor(),
                  allow_empty=request.form.get("allow_empty") == "1")
        session.commit()
        flash(t("finance.day_closed", day=shown), "success")
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
