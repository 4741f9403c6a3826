"""Receipt pages: the public lookup page /r/<code> with its verify form, and finance's register and actions."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from api.auth import current_principal, protect_forms, require_roles
from api.context import db_session, settings
from api.i18n import register_messages, t
from api.schemas import paginate
from core.clock import local_day
from core.errors import DomainError
from fees.models import CHANNELS
from receipts.content import CHANNEL_LABELS
from receipts.issuance import cancel_receipt, lookup_url, read_pdf, replace_receipt
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
    session = db_session()
    return {"replaced_by": session.get(Receipt, r.replaced_by_id) if r.replaced_by_id else None,
            "replaces": session.get(Receipt, r.replaces_id) if r.replaces_id else None}


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
        abort(404)
    return Response(read_pdf(settings(), r), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="bien-lai-{r.symbol}-{r.number_text}.pdf"'})


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
                       channel=request.args.get("channel") if request.args.get("channel") in CHANNELS else None)
    page = max(1, request.args.get("page", 1, type=int))
    result = paginate(db_session(), register_query(f), page, 50)
    return render_template("receipts/register.html", result=result, f=f, statuses=RECEIPT_STATUSES,
                           channels=CHANNELS, channel_labels=CHANNEL_LABELS, status_labels=STATUS_LABELS, chosen=centre,
                           today=local_day(), qs=urlencode({k: v for k, v in request.args.items() if k != "page"}))


@staff.get("/<int:receipt_id>")
@require_roles("finance", "cashier")
def detail(receipt_id: int):
    r = _seen(receipt_id)
    return render_template("receipts/detail.html", r=r, c=r.content, url=lookup_url(settings(), r.lookup_code),
                           status_label=t(f"receipts.status.{r.status}"), **_related(r))


@staff.post("/<int:receipt_id>/cancel")
@require_roles("finance")
def cancel(receipt_id: int):
    session = db_session()
    centre_id = _seen(receipt_id).centre_id
    try:
        cancel_receipt(session, receipt_id, reason=request.form.get("reason", ""), actor=current_principal().actor(),
                       centre_id=centre_id)
        session.commit()
        flash(t("receipts.cancelled_ok"), "success")
    except DomainError as e:
        session.rollback()
        flash(" ".join(sum(e.errors.values(), [])) or e.message, "error")
    return redirect(url_for("receipts_staff.detail", receipt_id=receipt_id))


@staff.post("/<int:receipt_id>/replace")
@require_roles("finance")
def replace(receipt_id: int):
    session = db_session()
    centre_id = _seen(receipt_id).centre_id
    try:
        new = replace_receipt(session, receipt_id, reason=request.form.get("reason", ""),
                              actor=current_principal().actor(), centre_id=centre_id)
        session.commit()
    except DomainError as e:
        session.rollback()
        flash(" ".join(sum(e.errors.values(), [])) or e.message, "error")
        return redirect(url_for("receipts_staff.detail", receipt_id=receipt_id))
    flash(t("receipts.replaced_ok", number=new.number_text), "success")
    return redirect(url_for("receipts_staff.detail", receipt_id=new.id))
