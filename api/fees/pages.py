"""Citizen payment pages (/pay/<code>) and the cashier desk (/staff/cashier)."""

from __future__ import annotations

import io
import logging

import segno
from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import or_, select

from api.auth import protect_forms, require_roles
from api.context import db_session, settings
from api.fees.v1 import issue_receipt_now, receipt_id_of
from api.i18n import MESSAGES, register_messages, t
from core import audit
from core.errors import DomainError
from fees import merchants
from fees.gateways import attempts
from fees.gateways.base import GatewayError, gateway_class, gateway_names, get_gateway
from fees.gateways.counter import record_counter_payment
from fees.models import Payment
from fees.payments import lock_payment
from fees.schedule import parse_whole_dong

log = logging.getLogger(__name__)

citizen = Blueprint("fees_pages", __name__)
desk = Blueprint("fees_desk", __name__)
protect_forms(desk)

PAYABLE = ("pending", "failed")


def _online() -> list[str]:
    """The registered gateways a citizen pays through, in registration order (core.registry)."""
    return gateway_names(online=True)


def _label(name: str) -> str:
    """A gateway's button: its own message when it has one ("pay.vnpay"), else "Thanh toán qua <name>"."""
    key = f"pay.{name}"
    return t(key) if key in MESSAGES else t("pay.via", name=gateway_class(name).display_name or name)


def _payment_by_code(code: str) -> Payment:
    payment = db_session().scalars(select(Payment).where(Payment.code == code.upper())).first()
    if payment is None:
        abort(404)
    return payment


def qr_svg(payload: str) -> Markup:
    out = io.BytesIO()
    # omitsize: a viewBox instead of a fixed 185px, so the CSS width scales the modules, not just the box
    # (the fixed size left the code off-centre over a blank band on a phone); 4 modules of quiet zone.
    segno.make(payload, error="m").save(out, kind="svg", scale=5, border=4, xmldecl=False, svgns=True,
                                        title="VietQR", omitsize=True)
    # segno's own SVG of QR modules (no caller text inside), safe to inline.
    return Markup(out.getvalue().decode())  # noqa: S704


def _usable_channels(payment: Payment) -> tuple[list[str], dict[str, merchants.MerchantAccount]]:
    """The payment's online channels that have one account to pay into, and those accounts.

    A channel whose fees would go to different units' accounts is left out (a request made before the
    check at creation); the page says why when none is left.
    """
    channels, accounts = [], {}
    for channel in (c for c in _online() if c in (payment.allowed_channels or [])):
        try:
            accounts[channel] = merchants.account_for_payment(db_session(), settings(), payment, channel)
        except (merchants.MixedMerchantAccounts, merchants.IncompleteMerchantAccount) as e:
            log.warning("channel not offered", extra={"payment_id": payment.id, "channel": channel, "reason": e.code})
            continue
        channels.append(channel)
    return channels, accounts


@citizen.get("/pay/<code>")
def pay(code: str):
    payment = _payment_by_code(code)
    channels, accounts = _usable_channels(payment)
    vietqr = None
    if "vietqr" in channels and payment.status in PAYABLE:
        # The unit's own bank account when the payment's fees are all of units with that account.
        checkout = get_gateway("vietqr", settings(), accounts["vietqr"]).checkout(payment, return_url="")
        vietqr = {"svg": qr_svg(checkout.qr_payload), **checkout.extra}
    # Every gateway that sends the citizen to its own page (VNPAY, MoMo, ...): one button each.
    redirect_channels = [(c, _label(c)) for c in channels if gateway_class(c).checkout_kind == "redirect"]
    return render_template("fees/pay.html", payment=payment, channels=channels, vietqr=vietqr,
                           redirect_channels=redirect_channels, payable=payment.status in PAYABLE,
                           sandbox=settings().sandbox)


@citizen.get("/pay/<code>/vietqr.png")
def vietqr_png(code: str):
    """The QR as an image to save: on the phone that shows this page the citizen cannot scan the screen,
    but every banking app can read a QR from a saved picture."""
    payment = _payment_by_code(code)
    channels, accounts = _usable_channels(payment)
    if "vietqr" not in channels or payment.status not in PAYABLE:
        abort(404)
    out = io.BytesIO()
    segno.make(get_gateway("vietqr", settings(), accounts["vietqr"]).qr_payload(payment), error="m").save(
        out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="VietQR-{payment.code}.png"', "Cache-Control": "no-store"})


@citizen.post("/pay/<code>/<channel>")
def start(code: str, channel: str):
    if channel not in _online() or gateway_class(channel).checkout_kind != "redirect":
        abort(404)
    session = db_session()
    found = _payment_by_code(code)
    payment = lock_payment(session, payment_id=found.id)
    if payment.status not in PAYABLE or channel not in (payment.allowed_channels or []):
        session.rollback()
        return redirect(url_for("fees_pages.result", code=payment.code))
    return_url = f"{settings().public_url}/pay/{payment.code}/result"
    try:
        account = merchants.account_for_payment(session, settings(), payment, channel)
    except (merchants.MixedMerchantAccounts, merchants.IncompleteMerchantAccount) as e:
        session.rollback()
        flash(e.message, "error")
        return redirect(url_for("fees_pages.pay", code=payment.code))
    gateway = get_gateway(channel, settings(), account)
    try:
        # Each checkout is its own order at the gateway (a reused vnp_TxnRef/orderId is refused there).
        checkout = attempts.start_checkout(session, payment, gateway, return_url=return_url,
                                           client_ip=request.remote_addr or "127.0.0.1")
    except GatewayError:
        session.rollback()
        flash(t("pay.gateway_down"), "error")
        return redirect(url_for("fees_pages.pay", code=payment.code))
    extra = dict(payment.extra or {})
    extra["checkout_channel"] = channel
    # Which merchant the order was opened with: a later query asks that account.
    extra[merchants.CHECKOUT_MERCHANT] = account.merchant_id
    payment.extra = extra
    audit.record(session, audit.Actor(type="citizen", ip=request.remote_addr), "payment.checkout",
                 entity_type="payment", entity_id=payment.id, after={"channel": channel, "order_ref": checkout.reference},
                 centre_id=payment.centre_id)
    session.commit()
    return redirect(checkout.redirect_url)


register_messages({
    "pay.via": {"vi": "Thanh toán qua {name}", "en": "Pay with {name}"},
    "result.waiting": {"vi": "Đang chờ xác nhận thanh toán…", "en": "Waiting for the payment to be confirmed…"},
    "result.waiting_receipt": {"vi": "Đang ký số biên lai điện tử…", "en": "The e-receipt is being signed…"},
    "result.auto_update": {"vi": "Trang này tự cập nhật, ông/bà không cần tải lại.",
                           "en": "This page updates itself; no need to reload."},
    "result.receipt_pdf": {"vi": "Tải biên lai (PDF)", "en": "Download the receipt (PDF)"},
    "result.receipt_page": {"vi": "Xem biên lai trên trang tra cứu", "en": "See the receipt's lookup page"},
    "result.check_again": {"vi": "Kiểm tra lại", "en": "Check again"},
    "pay.copy": {"vi": "Sao chép", "en": "Copy"},
    "pay.copied": {"vi": "Đã sao chép", "en": "Copied"},
    "pay.copy_account": {"vi": "Sao chép số tài khoản", "en": "Copy the account number"},
    "pay.copy_description": {"vi": "Sao chép nội dung chuyển khoản", "en": "Copy the transfer description"},
})


def _result_state(payment: Payment) -> dict:
    """What the result page shows, also served as JSON to the page's polling script."""
    receipt = None
    receipt_id = receipt_id_of(db_session(), payment.id) if payment.status == "paid" else None
    if receipt_id is not None and "receipt_lookup.lookup" in current_app.view_functions:
        from receipts.models import Receipt

        receipt = db_session().get(Receipt, receipt_id)
    code = getattr(receipt, "lookup_code", None)
    # The PDF link only once the receipt is signed: before that /r/<code>/pdf answers 409.
    signed = bool(code and getattr(receipt, "storage_key", None))
    waiting = payment.status == "pending" or (payment.status == "paid" and not signed
                                               and "receipt_lookup.lookup" in current_app.view_functions)
    return {
        "status": payment.status,
        "status_label": t("status." + payment.status),
        "waiting": waiting,
        "message": t("result.waiting") if payment.status == "pending" else t("result.waiting_receipt") if waiting else "",
        "receipt_id": receipt_id,
        "receipt_page": url_for("receipt_lookup.lookup", code=code) if code else None,
        "receipt_pdf": url_for("receipt_lookup.lookup_pdf", code=code, download=1) if signed else None,
    }


@citizen.get("/pay/<code>/result")
def result(code: str):
    """What happened, from our own state (the gateway's query string on this URL decides nothing)."""
    payment = _payment_by_code(code)
    state = _result_state(payment)
    # While waiting, api/static/result.js polls result.json and updates the page (no blind reload).
    return render_template("fees/result.html", payment=payment, state=state, receipt_id=state["receipt_id"],
                           receipt_url=state["receipt_page"], awaiting_receipt=state["waiting"])


@citizen.get("/pay/<code>/result.json")
def result_json(code: str):
    payment = _payment_by_code(code)
    state = _result_state(payment)
    state.pop("receipt_id")
    return jsonify(state), 200, {"Cache-Control": "no-store"}


def _register_desk_messages() -> None:
    from api.i18n import register_messages

    register_messages({
        "desk.search": {"vi": "Mã thanh toán, mã hồ sơ, số điện thoại hoặc tên người nộp (gõ không dấu cũng được)",
                        "en": "Payment code, dossier code, phone or payer name (diacritics optional)"},
        "desk.payer": {"vi": "Người nộp", "en": "Payer"},
        "desk.phone": {"vi": "Điện thoại", "en": "Phone"},
        "desk.new": {"vi": "Tạo khoản thu tại quầy", "en": "New counter payment"},
        "desk.new_help": {"vi": "Cho người dân đang ở quầy: chọn khoản phí, số lượng, rồi thu tiền ngay bên dưới.",
                          "en": "For a citizen at the desk: pick the fees and quantities, then take the money below."},
        "desk.dossier": {"vi": "Mã hồ sơ", "en": "Dossier code"},
        "desk.payer_name": {"vi": "Họ tên người nộp", "en": "Payer's name"},
        "desk.payer_phone": {"vi": "Số điện thoại", "en": "Phone number"},
        "desk.fee": {"vi": "Khoản phí, lệ phí", "en": "Fee"},
        "desk.unit_amount": {"vi": "Mức thu", "en": "Amount"},
        "desk.quantity": {"vi": "Số lượng", "en": "Quantity"},
        "desk.create": {"vi": "Tạo khoản thu", "en": "Create the payment"},
        "desk.created": {"vi": "Đã tạo khoản thu {code}: {amount} đồng. Thu tiền bên dưới.",
                         "en": "Payment {code} created: {amount} đồng. Take the money below."},
        "desk.no_fee": {"vi": "Chọn ít nhất một khoản phí (số lượng lớn hơn 0).",
                        "en": "Pick at least one fee (quantity above 0)."},
        "desk.no_catalogue": {"vi": "Trung tâm chưa có danh mục phí đang áp dụng.",
                              "en": "The centre has no fee in force."},
        "desk.confirm_cash": {"vi": "Xác nhận đã thu {amount} đồng tiền mặt?",
                              "en": "Confirm {amount} đồng taken in cash?"},
        "desk.confirm_card": {"vi": "Xác nhận đã thu {amount} đồng qua máy POS?",
                              "en": "Confirm {amount} đồng taken by card?"},
        "desk.confirm_required": {"vi": "Chưa thu: hãy đánh dấu ô xác nhận số tiền đã thu trước.",
                                  "en": "Not recorded: tick the box confirming the amount taken first."},
        "desk.confirm_approve": {"vi": "Xác nhận duyệt hoàn {amount} đồng cho khoản thu {code}? Tiền sẽ được trả lại, "
                                       "không huỷ được.",
                                 "en": "Confirm refunding {amount} đồng of payment {code}? The money is paid back; "
                                       "this cannot be undone."},
        "desk.approve_required": {"vi": "Chưa duyệt: hãy đánh dấu ô xác nhận hoàn tiền trước.",
                                  "en": "Not approved: tick the refund confirmation box first."},
    })


_register_desk_messages()


def dong(amount: int) -> str:
    """150000 -> '150.000' (the amount as the confirmations name it, followed by 'đồng')."""
    return f"{amount:,}".replace(",", ".")


def _confirmed() -> bool:
    """The confirmation box every irreversible desk form carries; the server refuses without it."""
    return request.form.get("confirm") in ("1", "on", "yes")


def _desk_catalogue(centre_id: int) -> list:
    """The fees in force today of the units served at the centre, by unit and name."""
    from core.clock import local_day
    from fees.models import FeeType
    from province.units import unit_ids_served_at

    day = local_day()
    units = unit_ids_served_at(db_session(), {centre_id})
    # A unit's fees, or a fee row from before units kept under the centre (as fees.payments.fee_in_force).
    owned = or_(FeeType.unit_id.in_(sorted(units)), (FeeType.unit_id.is_(None)) & (FeeType.centre_id == centre_id))
    rows = db_session().scalars(
        select(FeeType).where(owned, FeeType.active.is_(True),
                              FeeType.effective_from <= day,
                              or_(FeeType.effective_to.is_(None), FeeType.effective_to >= day))
        .order_by(FeeType.unit_id, FeeType.name, FeeType.effective_from.desc()))
    seen, fees = set(), []
    for fee in rows:  # the newest version of each code
        if (fee.unit_id, fee.code) not in seen:
            seen.add((fee.unit_id, fee.code))
            fees.append(fee)
    return fees


def _desk_find(q: str) -> list[Payment]:
    """Payments of the user's centres by exact code or dossier code, or by phone or name (core.search)."""
    from core import search

    found = or_(Payment.code == q.upper(), Payment.dossier_code == q, search.matches(Payment.search_text, q))
    return list(db_session().scalars(current_user.scope(select(Payment), Payment.centre_id).where(found)
                                     .order_by(Payment.id.desc()).limit(20)))


@desk.route("/staff/cashier", methods=["GET"])
@require_roles("cashier")
def cashier():
    q = (request.args.get("q") or "").strip()[:200]
    rows: list[Payment] = _desk_find(q) if q else []
    last = request.args.get("paid", type=int)
    last_payment = db_session().get(Payment, last) if last else None
    if last_payment is not None and not current_user.sees(last_payment.centre_id):
        last_payment = None
    receipt_id = receipt_id_of(db_session(), last_payment.id) if last_payment else None
    return render_template("fees/cashier.html", q=q, rows=rows, last=last_payment, receipt_id=receipt_id,
                           payable=PAYABLE + ("expired",), catalogue=_desk_catalogue(current_user.centre_id),
                           dong=dong, form={})


@desk.post("/staff/cashier/new")
@require_roles("cashier")
def cashier_new():
    """A counter payment for a citizen at the desk, from the centre's fee catalogue; then taken on the same screen."""
    from fees.payments import ItemRequest, Payer, create_payment

    session = db_session()
    centre = current_user.centre(session, None)
    codes = {fee.code for fee in _desk_catalogue(centre.id)}
    items = []
    for code in sorted(codes):
        quantity = request.form.get(f"qty_{code}", type=int) or 0
        if quantity > 0:
            items.append(ItemRequest(fee_code=code, quantity=min(quantity, 999)))
    if not items:
        flash(t("desk.no_fee"), "error")
        return redirect(url_for("fees_desk.cashier"))
    try:
        payment = create_payment(session, centre, dossier_code=request.form.get("dossier_code", ""),
                                 payer=Payer(request.form.get("payer_name", ""),
                                             phone=request.form.get("payer_phone") or None),
                                 items=items, actor=_staff_actor(), channels=["counter"])
        session.commit()
    except DomainError as e:
        session.rollback()
        flash(f"{t('cashier.failed')}: {_problem_text(e)}", "error")
        return redirect(url_for("fees_desk.cashier"))
    flash(t("desk.created", code=payment.code, amount=dong(payment.amount)), "success")
    return redirect(url_for("fees_desk.cashier", q=payment.code))


@desk.post("/staff/cashier/<int:payment_id>/pay")
@require_roles("cashier")
def cashier_pay(payment_id: int):
    session = db_session()
    centre_id = _seen_payment(payment_id).centre_id
    if not _confirmed():
        flash(t("desk.confirm_required"), "error")
        return redirect(url_for("fees_desk.cashier", q=request.form.get("q", "")))
    actor = audit.Actor(type="user", id=str(current_user.id), name=current_user.username,
                        centre_id=current_user.centre_id, ip=request.remote_addr)
    try:
        payment = record_counter_payment(session, payment_id, method=request.form.get("method", ""), actor=actor,
                                         terminal_ref=request.form.get("terminal_ref"), centre_id=centre_id)
        session.commit()
    except DomainError as e:
        session.rollback()
        detail = "; ".join(m for msgs in e.errors.values() for m in msgs) or e.message
        flash(f"{t('cashier.failed')}: {detail}", "error")
        return redirect(url_for("fees_desk.cashier", q=request.form.get("q", "")))
    issue_receipt_now(session, payment.id)
    session.commit()
    flash(t("cashier.recorded"), "success")
    return redirect(url_for("fees_desk.cashier", q=request.form.get("q", ""), paid=payment.id))


def _seen_payment(payment_id: int) -> Payment:
    """A payment of one of the user's centres; any other is a 404, as if it did not exist."""
    payment = db_session().get(Payment, payment_id) if 0 < payment_id < 2**63 else None
    if payment is None or not current_user.sees(payment.centre_id):
        abort(404)
    return payment


def _staff_actor() -> audit.Actor:
    return audit.Actor(type="user", id=str(current_user.id), name=current_user.username,
                       centre_id=current_user.centre_id, ip=request.remote_addr)


@desk.get("/staff/refunds")
@require_roles("finance")
def refunds():
    from fees.models import Refund
    from fees.refunds import refundable

    session = db_session()
    q = (request.args.get("q") or "").strip()
    found = None
    if q:
        # By code, dossier code, phone or a name without diacritics, like the cashier's search: the newest.
        found = next(iter(_desk_find(q[:200])), None)
    rows = list(session.scalars(current_user.scope(select(Refund).join(Payment), Payment.centre_id)
                                .order_by(Refund.id.desc()).limit(50)))
    me = f"user:{current_user.id}"
    return render_template("fees/refunds.html", q=q, found=found, rows=rows, me=me,
                           available=refundable(session, found) if found else 0, dong=dong)


@desk.post("/staff/refunds/request")
@require_roles("finance")
def refund_request():
    from fees.refunds import request_refund

    session = db_session()
    # "15.000,50" or "15000.5" must not become 1500050 đồng: None (refused below) unless whole đồng.
    amount = parse_whole_dong(request.form.get("amount") or "") or 0
    payment_id = request.form.get("payment_id", type=int) or 0
    payment = session.get(Payment, payment_id) if 0 < payment_id < 2**63 else None
    # Another centre's payment is looked up under the home centre: "not found", as for no payment at all.
    centre_id = payment.centre_id if payment is not None and current_user.sees(payment.centre_id) \
        else current_user.centre_id
    try:
        request_refund(session, payment_id, amount=amount,
                       reason=request.form.get("reason", ""), actor=_staff_actor(),
                       needs_approval=settings().get_bool("HCC_REFUND_NEEDS_APPROVAL", True),
                       centre_id=centre_id)
        session.commit()
        flash(t("refunds.requested"), "success")
    except DomainError as e:
        session.rollback()
        flash(_problem_text(e), "error")
    return redirect(url_for("fees_desk.refunds", q=request.form.get("q", "")))


@desk.post("/staff/refunds/<int:refund_id>/<action>")
@require_roles("finance")
def refund_decide(refund_id: int, action: str):
    from fees.models import Refund
    from fees.refunds import approve_refund, reject_refund

    session = db_session()
    refund = session.get(Refund, refund_id) if 0 < refund_id < 2**63 else None
    if refund is None or not current_user.sees(refund.payment.centre_id):
        abort(404)
    centre_id = refund.payment.centre_id
    if action == "approve" and not _confirmed():
        flash(t("desk.approve_required"), "error")
        return redirect(url_for("fees_desk.refunds"))
    try:
        if action == "approve":
            approve_refund(session, refund_id, actor=_staff_actor(), centre_id=centre_id)
        elif action == "reject":
            reject_refund(session, refund_id, actor=_staff_actor(), note=request.form.get("note") or "từ chối",
                          centre_id=centre_id)
        else:
            abort(404)
        session.commit()
        flash(t(f"refunds.{action}d"), "success")
    except DomainError as e:
        session.rollback()
        flash(_problem_text(e), "error")
    return redirect(url_for("fees_desk.refunds"))


def _problem_text(e: DomainError) -> str:
    return "; ".join(m for msgs in e.errors.values() for m in msgs) or e.message
