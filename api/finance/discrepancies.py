"""The discrepancy list page: paged, filtered by type, day, channel, status and import, resolved in bulk.

Resolving in bulk is two steps: the list's form asks (`confirm`) and a page names how many rows will be
resolved, how and with which note; only that page's form, with its confirmation box, changes anything
(`resolve`). Without the box the answer is 400 and nothing changes.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session
from api.i18n import register_messages, t
from core.errors import DomainError, NotFound
from finance import discrepancies as dl
from finance import discrepancy_jobs
from finance.models import DISCREPANCY_TYPES, RESOLUTION_ACTIONS, StatementImport
from finance.reports import CHANNEL_LABELS

bp = Blueprint("finance_discrepancies", __name__, url_prefix="/staff/finance/discrepancies")
protect_forms(bp)

register_messages({
    "disc.title": {"vi": "Danh sách chênh lệch", "en": "Discrepancies"},
    "disc.back": {"vi": "Về trang kế toán", "en": "Back to finance"},
    "disc.filters": {"vi": "Bộ lọc", "en": "Filters"},
    "disc.type": {"vi": "Loại chênh lệch", "en": "Type"},
    "disc.day": {"vi": "Ngày", "en": "Day"},
    "disc.from": {"vi": "Từ ngày", "en": "From"},
    "disc.to": {"vi": "Đến ngày", "en": "To"},
    "disc.channel": {"vi": "Kênh thanh toán", "en": "Channel"},
    "disc.status": {"vi": "Trạng thái", "en": "Status"},
    "disc.import": {"vi": "Tệp sao kê đã nhập", "en": "Imported statement"},
    "disc.any": {"vi": "Tất cả", "en": "All"},
    "disc.status.open": {"vi": "Chưa xử lý", "en": "Open"},
    "disc.status.resolved": {"vi": "Đã xử lý", "en": "Resolved"},
    "disc.status.all": {"vi": "Tất cả", "en": "All"},
    "disc.apply": {"vi": "Lọc", "en": "Filter"},
    "disc.clear": {"vi": "Bỏ lọc", "en": "Clear filters"},
    "disc.bad_filters": {"vi": "Bộ lọc có giá trị không hợp lệ; sửa các ô được đánh dấu rồi lọc lại.",
                         "en": "Some filters are not valid; correct the marked fields and filter again."},
    "disc.total": {"vi": "{total} chênh lệch", "en": "{total} discrepancies"},
    "disc.page": {"vi": "Trang {page}/{pages}", "en": "Page {page}/{pages}"},
    "disc.rows": {"vi": "dòng {first}–{last}", "en": "rows {first}–{last}"},
    "disc.of_total": {"vi": "tổng số", "en": "of"},
    "disc.pager": {"vi": "Phân trang", "en": "Pages"},
    "disc.none": {"vi": "Không có chênh lệch nào theo bộ lọc này.", "en": "No discrepancy matches these filters."},
    "disc.select_page": {"vi": "Chọn tất cả trên trang", "en": "Select every row on this page"},
    "disc.select_row": {"vi": "Chọn chênh lệch #{id}: {type}, ngày {day}", "en": "Select discrepancy #{id}: {type}, {day}"},
    "disc.bulk": {"vi": "Xử lý hàng loạt", "en": "Resolve in bulk"},
    "disc.scope": {"vi": "Áp dụng cho", "en": "Apply to"},
    "disc.scope.selected": {"vi": "Các dòng đã chọn trên trang", "en": "The rows selected on this page"},
    "disc.scope.all": {"vi": "Tất cả {total} kết quả theo bộ lọc", "en": "All {total} results of the filters"},
    "disc.action": {"vi": "Cách xử lý", "en": "Action"},
    "disc.note": {"vi": "Ghi chú (bắt buộc)", "en": "Note (required)"},
    "disc.payment_code": {"vi": "Mã khoản thu (khi liên kết một dòng)", "en": "Payment code (to link one row)"},
    "disc.review": {"vi": "Xem lại và xác nhận", "en": "Review and confirm"},
    "disc.confirm_title": {"vi": "Xác nhận xử lý chênh lệch", "en": "Confirm the resolution"},
    "disc.confirm_text": {"vi": "Đánh dấu đã xử lý {count} chênh lệch với ghi chú “{note}”, cách xử lý: {action}.",
                          "en": "Mark {count} discrepancies resolved with the note “{note}”, action: {action}."},
    "disc.confirm_link": {"vi": "Liên kết chênh lệch #{id} với khoản thu {code}, ghi chú “{note}”.",
                          "en": "Link discrepancy #{id} to payment {code}, note “{note}”."},
    "disc.confirm_closed": {"vi": "{closed} chênh lệch thuộc ngày đã khoá sổ sẽ không thay đổi.",
                            "en": "{closed} discrepancies of closed days stay as they are."},
    "disc.confirm_box": {"vi": "Tôi xác nhận đánh dấu đã xử lý {count} chênh lệch như trên; không hoàn tác được.",
                         "en": "I confirm marking these {count} discrepancies resolved; this cannot be undone."},
    "disc.confirm_button": {"vi": "Xác nhận xử lý {count} chênh lệch", "en": "Resolve {count} discrepancies"},
    "disc.cancel": {"vi": "Quay lại danh sách", "en": "Back to the list"},
    "disc.confirm_required": {"vi": "Hãy đánh dấu ô xác nhận trước khi thực hiện; chưa có gì thay đổi.",
                              "en": "Tick the confirmation box first; nothing has changed."},
    "disc.done": {"vi": "Đã đánh dấu đã xử lý {count} chênh lệch.", "en": "{count} discrepancies resolved."},
    "disc.queued": {"vi": "Đang đánh dấu đã xử lý {count} chênh lệch trong nền; danh sách sẽ cập nhật khi xong.",
                    "en": "Resolving {count} discrepancies in the background; the list updates when it is done."},
    "disc.bulk_runs": {"vi": "Các lần xử lý hàng loạt gần đây", "en": "Recent bulk resolutions"},
    "disc.bulk_run.queued": {"vi": "Đang chờ xử lý: {count} chênh lệch, ghi chú “{note}”.",
                             "en": "Waiting: {count} discrepancies, note “{note}”."},
    "disc.bulk_run.running": {"vi": "Đang xử lý: {done}/{count} chênh lệch, ghi chú “{note}”.",
                              "en": "Running: {done}/{count} discrepancies, note “{note}”."},
    "disc.bulk_run.done": {"vi": "Đã xong: {done} chênh lệch đánh dấu đã xử lý, ghi chú “{note}”.",
                           "en": "Done: {done} discrepancies resolved, note “{note}”."},
    "disc.resolved_by": {"vi": "{who}, {at}", "en": "{who}, {at}"},
    "disc.col.id": {"vi": "#", "en": "#"},
    "disc.col.day": {"vi": "Ngày", "en": "Day"},
    "disc.col.type": {"vi": "Loại", "en": "Type"},
    "disc.col.channel": {"vi": "Kênh", "en": "Channel"},
    "disc.col.detail": {"vi": "Chi tiết", "en": "Detail"},
    "disc.col.ours": {"vi": "Hệ thống", "en": "Ours"},
    "disc.col.theirs": {"vi": "Đối tác", "en": "Theirs"},
    "disc.col.status": {"vi": "Xử lý", "en": "Resolution"},
    "disc.col.import": {"vi": "Tệp", "en": "File"},
})


def number(n: int) -> str:
    """20000 -> '20.000' (Vietnamese digit grouping)."""
    return f"{n:,}".replace(",", ".")


def _chosen():
    """The centre shown: `?centre=CODE`, else the centre of the import named (a link from the import page
    carries only `?import=`), if it is one of the user's, else the user's home centre."""
    from flask_login import current_user

    from api.pages import chosen_centre
    from core.models import Centre

    raw = (request.values.get("import") or "").strip()
    if not (request.values.get("centre") or "").strip() and raw.isdigit() and 0 < int(raw) < 2**31:
        statement = db_session().get(StatementImport, int(raw))
        if statement is not None and current_user.sees(statement.centre_id):
            return db_session().get(Centre, statement.centre_id)
    return chosen_centre()


def _imports(session, centre_id: int, current: StatementImport | None) -> list[StatementImport]:
    rows = list(session.scalars(select(StatementImport).where(StatementImport.centre_id == centre_id)
                                .order_by(StatementImport.id.desc()).limit(100)))
    if current is not None and current not in rows:
        rows.append(current)
    return rows


def _list_url(filters: dl.Filters, chosen, **extra) -> str:
    from flask_login import current_user

    args = filters.as_args()
    if current_user.many_centres:
        args["centre"] = chosen.code
    args.update({k: str(v) for k, v in extra.items() if v is not None})
    return url_for("finance_discrepancies.index", **args)


def _render(session, chosen, filters: dl.Filters, page_number: int, *, filter_errors=None, bulk=None,
            bulk_errors=None, status: int = 200):
    """The list page; with filter errors, the filter form alone (no rows shown under a filter not applied)."""
    current = None
    if not filter_errors:
        try:
            current = dl.import_of(session, filters)
        except NotFound:
            abort(404)
    page = None if filter_errors else dl.page_of(session, filters, page_number)
    raw = {name: request.values.get(name, "") for name in ("type", "day", "from", "to", "channel", "status", "import")}
    return render_template(
        "finance/discrepancies.html", chosen=chosen, filters=filters, page=page, raw=raw, current_import=current,
        filter_errors=filter_errors or {}, bulk=bulk or {}, bulk_errors=bulk_errors or {},
        imports=_imports(session, chosen.id, current), types=DISCREPANCY_TYPES, channels=dl.CHANNELS,
        statuses=dl.STATUSES, actions=RESOLUTION_ACTIONS, channel_labels=CHANNEL_LABELS, number=number,
        keep=filters.as_args(), list_url=lambda **kw: _list_url(filters, chosen, **kw),
        bulk_runs=discrepancy_jobs.recent(session, chosen.id)), status


@bp.get("")
@require_roles("finance")
def index():
    session = db_session()
    chosen = _chosen()
    filters, page_number, errors = dl.parse_filters(request.args, chosen.id)
    return _render(session, chosen, filters, page_number, filter_errors=errors, status=400 if errors else 200)


def _bulk_form() -> dict:
    return {"scope": request.form.get("scope", "selected"), "action": request.form.get("action", ""),
            "note": request.form.get("note", ""), "payment_code": (request.form.get("payment_code") or "").strip(),
            "ids": request.form.getlist("id")}


def _form_filters(chosen):
    filters, page_number, errors = dl.parse_filters(request.form, chosen.id)
    if errors:
        abort(400)
    return filters, page_number


@bp.post("/confirm")
@require_roles("finance")
def confirm():
    """The confirmation step: what will be resolved, how and with which note. Changes nothing."""
    session = db_session()
    chosen = _chosen()
    filters, page_number = _form_filters(chosen)
    try:
        dl.import_of(session, filters)
    except NotFound:
        abort(404)
    form = _bulk_form()
    ids = None if form["scope"] == "all" else form["ids"]
    plan = dl.plan_bulk(session, filters, ids=ids, action=form["action"], note=form["note"],
                        payment_code=form["payment_code"])
    if plan.errors:
        return _render(session, chosen, filters, page_number, bulk=form, bulk_errors=plan.errors, status=400)
    return render_template("finance/discrepancies_confirm.html", chosen=chosen, plan=plan, form=form,
                           filters=filters, page_number=page_number, keep=filters.as_args(), number=number,
                           back=_list_url(filters, chosen, page=page_number),
                           note=dl.check_resolution(form["action"], form["note"], form["payment_code"], {}))


@bp.post("/resolve")
@require_roles("finance")
def resolve():
    """Resolve what the confirmation page named; refused (400, nothing changed) without its confirmation box."""
    session = db_session()
    chosen = _chosen()
    filters, page_number = _form_filters(chosen)
    try:
        dl.import_of(session, filters)
    except NotFound:
        abort(404)
    if request.form.get("confirm") not in ("1", "on", "yes"):
        flash(t("disc.confirm_required"), "error")
        return _render(session, chosen, filters, page_number, bulk=_bulk_form(), status=400)
    form = _bulk_form()
    expected, max_id = (request.form.get(name, "").strip() for name in ("expected", "max_id"))
    # Row counts and ids: small non-negative integers (a database refuses a bind beyond 64 bits with a 500).
    if not (expected.isdigit() and max_id.isdigit() and int(expected) < 2**31 and int(max_id) < 2**31):
        abort(400)
    expected, max_id = int(expected), int(max_id)
    ids = None if form["scope"] == "all" else form["ids"]
    try:
        if expected > dl.INLINE_MAX:
            # Too many for the request: stored, and a job resolves them in batches (finance.discrepancy_jobs).
            discrepancy_jobs.request_bulk_resolve(session, filters, ids=ids, action=form["action"], note=form["note"],
                                                  actor=current_principal().actor(), expected=expected, max_id=max_id)
            message = t("disc.queued", count=number(expected))
        else:
            done = dl.bulk_resolve(session, filters, ids=ids, action=form["action"], note=form["note"],
                                   payment_code=form["payment_code"] or None, actor=current_principal().actor(),
                                   expected=expected, max_id=max_id)
            message = t("disc.done", count=number(done))
        session.commit()
    except DomainError as e:
        session.rollback()
        flash(" ".join(m for msgs in e.errors.values() for m in msgs) if e.errors else e.message, "error")
        return redirect(_list_url(filters, chosen, page=page_number), 303)
    flash(message, "success")
    return redirect(_list_url(filters, chosen, page=page_number), 303)
