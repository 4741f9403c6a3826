"""Receipt pages: the public lookup page /r/<code> with its verify form, and finance's register and actions."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.errors import _page as _error_page
from api.i18n import register_messages, t
from api.schemas import paginate
from core.clock import local_day
from core.errors import DomainError
from core.text import content_disposition
from fees.models import CHANNELS
from receipts.content import CHANNEL_LABELS, KIND_LABELS
from receipts.issuance import (
    PAYER_FIELDS,
    adjust_receipt,
    adjustments_of,
    cancel_receipt,
    corrections_of,
    lookup_url,
    read_pdf,
    refunds_of,
    replace_receipt,
)
from receipts.models import RECEIPT_STATUSES, Receipt
from receipts.register import STATUS_LABELS, RegisterFilter, register_query
from receipts.verify import verify_pdf

public = Blueprint("receipt_lookup", __name__)
staff = Blueprint("receipts_staff", __name__, url_prefix="/staff/receipts")
protect_forms(staff)

register_messages({
    "nav.receipts": {"vi": "Sổ biên lai", "en": "Receipt register"},
    "receipts.lookup_title": {"vi": "Tra cứu biên lai điện tử", "en": "Receipt lookup"},
    "receipts.download": {"vi": "Tải biên lai (PDF có chữ ký số)", "en": "Download the signed PDF"},
    "receipts.verify_title": {"vi": "Kiểm tra một tệp biên lai", "en": "Verify a receipt file"},
    "receipts.verify_help": {"vi": "Chọn tệp PDF biên lai để kiểm tra chữ ký số, tính toàn vẹn và trạng thái.",
                             "en": "Choose a receipt PDF to check its signature, integrity and status."},
    "receipts.verify_button": {"vi": "Kiểm tra", "en": "Verify"},
    "receipts.valid": {"vi": "Biên lai hợp lệ: chữ ký số đúng, tài liệu chưa bị thay đổi, khớp với hồ sơ của đơn vị thu.",
                       "en": "Valid receipt: signature correct, document unchanged, matches our record."},
    "receipts.invalid": {"vi": "Biên lai KHÔNG hợp lệ", "en": "The receipt is NOT valid"},
    "receipts.status.issued": {"vi": "Đã phát hành", "en": "Issued"},
    "receipts.status.pending": {"vi": "Đang phát hành", "en": "Being issued"},
    "receipts.status.cancelled": {"vi": "Đã huỷ", "en": "Cancelled"},
    "receipts.status.replaced": {"vi": "Đã bị thay thế", "en": "Replaced"},
    "receipts.cancelled_note": {"vi": "Biên lai này đã bị huỷ. Lý do: {reason}",
                                "en": "This receipt was cancelled. Reason: {reason}"},
    "receipts.replaced_note": {"vi": "Biên lai này đã được thay thế bằng biên lai số {number} (ký hiệu {symbol}).",
                               "en": "This receipt was replaced by receipt no. {number} (symbol {symbol})."},
    "receipts.replaces_note": {"vi": "Biên lai này thay thế biên lai số {number} (ký hiệu {symbol}).",
                               "en": "This receipt replaces receipt no. {number} (symbol {symbol})."},
    "receipts.see_new": {"vi": "Xem biên lai thay thế", "en": "See the replacement"},
    "receipts.register": {"vi": "Sổ biên lai điện tử", "en": "Receipt register"},
    "receipts.filter": {"vi": "Lọc", "en": "Filter"},
    "receipts.export_day": {"vi": "Xuất CSV theo ngày", "en": "Export CSV for a day"},
    "receipts.export_month": {"vi": "Xuất CSV theo tháng", "en": "Export CSV for a month"},
    "receipts.cancel": {"vi": "Huỷ biên lai", "en": "Cancel receipt"},
    "receipts.replace": {"vi": "Lập biên lai thay thế", "en": "Replace receipt"},
    "receipts.reason": {"vi": "Lý do", "en": "Reason"},
    "receipts.cancelled_ok": {"vi": "Đã huỷ biên lai.", "en": "Receipt cancelled."},
    "receipts.replaced_ok": {"vi": "Đã lập biên lai thay thế số {number}.", "en": "Replacement no. {number} issued."},
    "receipts.number": {"vi": "Số", "en": "Number"},
    "receipts.symbol": {"vi": "Ký hiệu", "en": "Symbol"},
    "receipts.template": {"vi": "Ký hiệu mẫu", "en": "Template"},
    "receipts.payer": {"vi": "Người nộp", "en": "Payer"},
    "receipts.amount": {"vi": "Số tiền", "en": "Amount"},
    "receipts.in_words": {"vi": "Bằng chữ", "en": "In words"},
    "receipts.collected": {"vi": "Ngày thu", "en": "Collected on"},
    "receipts.channel": {"vi": "Hình thức thanh toán", "en": "Payment channel"},
    "receipts.channel_ref": {"vi": "Mã giao dịch", "en": "Transaction reference"},
    "receipts.organisation": {"vi": "Đơn vị thu", "en": "Collecting organisation"},
    "receipts.status": {"vi": "Trạng thái", "en": "Status"},
    "receipts.lines": {"vi": "Các khoản thu", "en": "Fee lines"},
    "receipts.all": {"vi": "Tất cả", "en": "All"},
    "receipts.from": {"vi": "Từ ngày", "en": "From"},
    "receipts.to": {"vi": "Đến ngày", "en": "To"},
    "receipts.fee_code": {"vi": "Mã phí", "en": "Fee code"},
    "receipts.none": {"vi": "Chưa có biên lai.", "en": "No receipts yet."},
    "receipts.no_file": {"vi": "Chọn tệp PDF để kiểm tra.", "en": "Choose a PDF file to verify."},
    "receipts.status.valid": {"vi": "Hợp lệ", "en": "Valid"},
    "receipts.refunded_note": {"vi": "Biên lai vẫn hợp lệ. Đã hoàn trả {amount} ngày {date} (mã hoàn tiền {reference}).",
                               "en": "The receipt stays valid. {amount} refunded on {date} (refund reference {reference})."},
    "receipts.refunds": {"vi": "Hoàn trả", "en": "Refunds"},
    "receipts.refund_reason": {"vi": "Lý do hoàn", "en": "Refund reason"},
    "receipts.refund_decided": {"vi": "Quyết định hoàn", "en": "Refund decision"},
    "receipts.refund_paid": {"vi": "Chi trả", "en": "Payout"},
    "receipts.adjusted_note": {"vi": "Biên lai này được điều chỉnh bởi biên lai số {number} (ký hiệu {symbol}).",
                               "en": "This receipt is adjusted by receipt no. {number} (symbol {symbol})."},
    "receipts.adjusts_note": {"vi": "Biên lai điều chỉnh cho biên lai số {number} (ký hiệu {symbol}).",
                              "en": "This receipt adjusts receipt no. {number} (symbol {symbol})."},
    "receipts.see": {"vi": "Xem", "en": "See"},
    "receipts.corrections": {"vi": "Xử lý sai sót và thông báo 04/SS-CTĐT", "en": "Corrections and 04/SS-CTĐT notices"},
    "receipts.correction.cancel": {"vi": "Hủy", "en": "Cancelled"},
    "receipts.correction.replace": {"vi": "Thay thế", "en": "Replaced"},
    "receipts.correction.adjust": {"vi": "Điều chỉnh", "en": "Adjusted"},
    "receipts.notice": {"vi": "Thông báo 04/SS-CTĐT", "en": "04/SS-CTĐT notice"},
    "receipts.tax_status": {"vi": "Cơ quan thuế", "en": "Tax authority"},
    "receipts.tax.none": {"vi": "Chưa gửi", "en": "Not sent"},
    "receipts.tax.pending": {"vi": "Chờ gửi", "en": "Waiting to be sent"},
    "receipts.tax.sent": {"vi": "Đã gửi, chờ kết quả", "en": "Sent, awaiting result"},
    "receipts.tax.accepted": {"vi": "Đã tiếp nhận", "en": "Accepted"},
    "receipts.tax.rejected": {"vi": "Không tiếp nhận", "en": "Rejected"},
    "receipts.refunded_col": {"vi": "Đã hoàn", "en": "Refunded"},
    "receipts.confirm": {"vi": "Xác nhận", "en": "Confirm"},
    "receipts.confirm_cancel": {
        "vi": "Tôi xác nhận biên lai số {number} (ký hiệu {symbol}) lập sai và sẽ bị HỦY: biên lai không còn giá trị, "
              "cơ quan thuế được thông báo theo mẫu 04/SS-CTĐT. Hoàn tiền cho biên lai đúng không cần hủy.",
        "en": "I confirm receipt no. {number} ({symbol}) was made in error and will be CANCELLED: it loses its value and "
              "the tax authority is notified on form 04/SS-CTĐT. A refund of a correct receipt needs no cancellation."},
    "receipts.confirm_replace": {
        "vi": "Tôi xác nhận biên lai số {number} (ký hiệu {symbol}) lập sai và sẽ được THAY THẾ bằng biên lai mới số mới "
              "với dữ liệu đã sửa; biên lai cũ hết giá trị, cơ quan thuế được thông báo theo mẫu 04/SS-CTĐT.",
        "en": "I confirm receipt no. {number} ({symbol}) was made in error and will be REPLACED by a new receipt with a new "
              "number and the corrected data; the old one loses its value and the tax authority is notified (04/SS-CTĐT)."},
    "receipts.confirm_adjust": {
        "vi": "Tôi xác nhận lập biên lai ĐIỀU CHỈNH cho biên lai số {number} (ký hiệu {symbol}) theo phần chênh lệch; "
              "biên lai cũ vẫn giữ giá trị, cơ quan thuế được thông báo theo mẫu 04/SS-CTĐT.",
        "en": "I confirm an ADJUSTING receipt for receipt no. {number} ({symbol}) for the difference; the old one stays "
              "valid and the tax authority is notified (04/SS-CTĐT)."},
    "receipts.confirm_required": {"vi": "Hãy đánh dấu ô xác nhận trước khi thực hiện.",
                                  "en": "Tick the confirmation box first."},
    "receipts.adjust": {"vi": "Lập biên lai điều chỉnh", "en": "Adjust receipt"},
    "receipts.adjusted_ok": {"vi": "Đã lập biên lai điều chỉnh số {number}.", "en": "Adjusting receipt no. {number} issued."},
    "receipts.replace_help": {"vi": "Sửa dữ liệu sai (người nộp, mã số thuế, số định danh, các khoản thu cùng tổng "
                                    "tiền). Số tiền sai thì lập biên lai điều chỉnh.",
                              "en": "Correct what was wrong (payer, tax code, identity number, lines with the same "
                                    "total). A wrong amount is adjusted instead."},
    "receipts.adjust_help": {"vi": "Nhập các khoản thu đúng; biên lai điều chỉnh ghi phần chênh lệch so với biên lai đã lập.",
                             "en": "Enter the correct lines; the adjusting receipt carries the difference."},
    "receipts.payer_address": {"vi": "Địa chỉ người nộp", "en": "Payer's address"},
    "receipts.payer_tax_code": {"vi": "Mã số thuế người nộp", "en": "Payer's tax code"},
    "receipts.payer_id_number": {"vi": "Số định danh cá nhân/CCCD", "en": "Personal identity number"},
    "receipts.line_name": {"vi": "Tên khoản thu", "en": "Line"},
    "receipts.line_kind": {"vi": "Loại", "en": "Kind"},
    "receipts.quantity": {"vi": "Số lượng", "en": "Quantity"},
    "receipts.unit_amount": {"vi": "Đơn giá", "en": "Unit amount"},
    "receipts.back": {"vi": "Quay lại biên lai", "en": "Back to the receipt"},
})


def register_navigation() -> None:
    from api.pages import NAV

    entry = ("receipts_staff.register", "nav.receipts", ("finance", "cashier"))
    if entry not in NAV:
        NAV.append(entry)


def _by_code(code: str) -> Receipt:
    r = db_session().scalar(select(Receipt).where(Receipt.lookup_code == code.strip().upper()))
    if r is None:
        abort(404)
    return r


def _seen(receipt_id: int) -> Receipt:
    """A receipt of one of the user's centres; any other is a 404, as if it did not exist."""
    r = db_session().get(Receipt, receipt_id) if 0 < receipt_id < 2**63 else None
    if r is None or not current_user.sees(r.centre_id):
        abort(404)
    return r


def _related(r: Receipt) -> dict:
    """Receipts linked to this one (replacement, replaced, adjusting, adjusted) and its refund documents."""
    session = db_session()
    return {"replaced_by": session.get(Receipt, r.replaced_by_id) if r.replaced_by_id else None,
            "replaces": session.get(Receipt, r.replaces_id) if r.replaces_id else None,
            "adjustments": adjustments_of(session, r.id), "refunds": refunds_of(session, [r.id])[r.id]}


def _notice_labels() -> dict:
    from tax.corrections import NOTICE_STATUS_LABELS

    return NOTICE_STATUS_LABELS


def _tax_states(ids: list[int]) -> dict:
    """The tax authority's view of each receipt (tax.status), or nothing where the channel is not there."""
    try:
        from tax.status import for_receipts
    except ImportError:
        return {}
    return for_receipts(db_session(), ids) if ids else {}


@public.route("/r/<code>", methods=["GET", "POST"])
def lookup(code: str):
    """Public: the receipt's details and PDF, and a form that verifies any uploaded receipt PDF."""
    r = _by_code(code)
    result = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(t("receipts.no_file"), "error")
        else:
            result = verify_pdf(db_session(), settings(), upload.read())
    return render_template("receipts/lookup.html", r=r, c=r.content, result=result, **_related(r),
                           status_label=t(f"receipts.status.{r.status}"))


@public.get("/r/<code>/pdf")
def lookup_pdf(code: str):
    r = _by_code(code)
    if r.storage_key is None:
        if r.status != "pending":
            abort(404)
        # Its number is taken and the signature is seconds away: say so, never "not found".
        body, status = _error_page(409, "Biên lai đang được ký số. Vui lòng tải lại sau ít giây.")
        return body, status, {"Retry-After": "5"}
    # ?download=1 (the result page's link) saves the file; without it the phone's viewer opens it.
    disposition = content_disposition(f"bien-lai-{r.symbol}-{r.number_text}.pdf",
                                      inline=request.args.get("download") != "1")
    return Response(read_pdf(settings(), r), mimetype="application/pdf", headers={"Content-Disposition": disposition})


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args[name]) if request.args.get(name) else None
    except ValueError:
        return None


@staff.get("/")
@require_roles("finance", "cashier")
def register():
    from api.pages import chosen_centre

    # One centre's register at a time (numbering is per unit's series, kept by the centre that collected).
    centre = chosen_centre()
    f = RegisterFilter(centre_id=centre.id, start=_date_arg("from"), end=_date_arg("to"),
                       status=request.args.get("status") if request.args.get("status") in RECEIPT_STATUSES else None,
                       fee_code=request.args.get("fee_code") or None,
                       channel=request.args.get("channel") if request.args.get("channel") in CHANNELS else None,
                       text=(request.args.get("q") or "").strip()[:200] or None)
    page = max(1, request.args.get("page", 1, type=int))
    result = paginate(db_session(), register_query(f), page, 50)
    ids = [r.id for r in result["items"]]
    return render_template("receipts/register.html", result=result, f=f, statuses=RECEIPT_STATUSES,
                           tax_states=_tax_states(ids), refunds=refunds_of(db_session(), ids),
                           corrections=corrections_of(db_session(), ids), notice_labels=_notice_labels(),
                           channels=CHANNELS, channel_labels=CHANNEL_LABELS, status_labels=STATUS_LABELS, chosen=centre,
                           today=local_day(), qs=urlencode({k: v for k, v in request.args.items() if k != "page"}))


@staff.get("/<int:receipt_id>")
@require_roles("finance", "cashier")
def detail(receipt_id: int):
    r = _seen(receipt_id)
    return render_template("receipts/detail.html", r=r, c=r.content, url=lookup_url(settings(), r.lookup_code),
                           status_label=t(f"receipts.status.{r.status}"), **_related(r),
                           corrections=corrections_of(db_session(), [r.id])[r.id], notice_labels=_notice_labels(),
                           tax_state=_tax_states([r.id]).get(r.id))


def _confirmed() -> bool:
    """The confirmation box the cancel, replace and adjust forms carry; the server refuses without it."""
    return request.form.get("confirm") in ("1", "on", "yes")


def _error(e: DomainError) -> None:
    flash(" ".join(sum(e.errors.values(), [])) or e.message, "error")


@staff.post("/<int:receipt_id>/cancel")
@require_roles("finance")
def cancel(receipt_id: int):
    session = db_session()
    centre_id = _seen(receipt_id).centre_id
    if not _confirmed():
        flash(t("receipts.confirm_required"), "error")
        return redirect(url_for("receipts_staff.detail", receipt_id=receipt_id))
    try:
        cancel_receipt(session, receipt_id, reason=request.form.get("reason", ""), actor=current_principal().actor(),
                       centre_id=centre_id)
        session.commit()
        flash(t("receipts.cancelled_ok"), "success")
    except DomainError as e:
        session.rollback()
        _error(e)
    return redirect(url_for("receipts_staff.detail", receipt_id=receipt_id))


def _lines_from_form() -> list[dict] | None:
    """Lines posted as line-<i>-<field>; None when the form carries none (the receipt's lines stay)."""
    def num(i: int, name: str) -> int:
        raw = request.form.get(f"line-{i}-{name}", "").replace(".", "").replace(" ", "").strip()
        return int(raw) if raw.isdigit() else -1

    out = []
    i = 0
    while f"line-{i}-fee_code" in request.form:
        out.append({"fee_code": request.form.get(f"line-{i}-fee_code", ""), "name": request.form.get(f"line-{i}-name", ""),
                    "kind": request.form.get(f"line-{i}-kind", ""), "quantity": num(i, "quantity"),
                    "unit_amount": num(i, "unit_amount")})
        i += 1
    return out or None


def _form_page(r: Receipt, action: str):
    return render_template("receipts/correct.html", r=r, c=r.content, action=action, form=request.form,
                           payer_fields=PAYER_FIELDS, kinds=KIND_LABELS)


@staff.route("/<int:receipt_id>/replace", methods=["GET", "POST"])
@require_roles("finance")
def replace(receipt_id: int):
    """GET: the replacement form, pre-filled with the receipt's data. POST: issue the corrected replacement."""
    session = db_session()
    r = _seen(receipt_id)
    if request.method == "GET":
        return _form_page(r, "replace")
    if not _confirmed():
        flash(t("receipts.confirm_required"), "error")
        return _form_page(r, "replace"), 422
    corrections = {f: request.form.get(f"payer_{f}") for f in PAYER_FIELDS if request.form.get(f"payer_{f}") is not None}
    lines = _lines_from_form()
    if lines is not None:
        corrections["lines"] = lines
    try:
        new = replace_receipt(session, receipt_id, reason=request.form.get("reason", ""),
                              actor=current_principal().actor(), centre_id=r.centre_id, corrections=corrections)
        session.commit()
    except DomainError as e:
        session.rollback()
        _error(e)
        return _form_page(_seen(receipt_id), "replace"), 422
    flash(t("receipts.replaced_ok", number=new.number_text), "success")
    return redirect(url_for("receipts_staff.detail", receipt_id=new.id))


@staff.route("/<int:receipt_id>/adjust", methods=["GET", "POST"])
@require_roles("finance")
def adjust(receipt_id: int):
    """GET: the receipt's lines to correct. POST: issue the adjusting receipt for the difference."""
    session = db_session()
    r = _seen(receipt_id)
    if request.method == "GET":
        return _form_page(r, "adjust")
    if not _confirmed():
        flash(t("receipts.confirm_required"), "error")
        return _form_page(r, "adjust"), 422
    try:
        new = adjust_receipt(session, receipt_id, reason=request.form.get("reason", ""), lines=_lines_from_form() or [],
                             actor=current_principal().actor(), centre_id=r.centre_id)
        session.commit()
    except DomainError as e:
        session.rollback()
        _error(e)
        return _form_page(_seen(receipt_id), "adjust"), 422
    flash(t("receipts.adjusted_ok", number=new.number_text), "success")
    return redirect(url_for("receipts_staff.detail", receipt_id=new.id))
