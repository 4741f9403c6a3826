"""Citizen payment pages (/pay/<code>) and the cashier desk (/staff/cashier)."""

from __future__ import annotations

import io
import logging

import segno
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import or_, select

from api.auth import protect_forms, require_roles
from api.context import db_session, settings
from api.fees.v1 import issue_receipt_now, receipt_id_of
from api.i18n import t
from core import audit
from core.errors import DomainError
from fees import merchants
from fees.gateways import attempts
from fees.gateways.base import GatewayError, get_gateway
from fees.gateways.counter import record_counter_payment
from fees.gateways.vietqr import VietqrGateway
from fees.models import Payment
from fees.payments import lock_payment
from fees.schedule import parse_whole_dong

log = logging.getLogger(__name__)

citizen = Blueprint("fees_pages", __name__)
desk = Blueprint("fees_desk", __name__)
protect_forms(desk)

PAYABLE = ("pending", "failed")
ONLINE = ("vnpay", "momo", "vietqr")


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
    for channel in (c for c in ONLINE if c in (payment.allowed_channels or [])):
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
        checkout = VietqrGateway(settings(), accounts["vietqr"]).checkout(payment)
        vietqr = {"svg": qr_svg(checkout.qr_payload), **checkout.extra}
    return render_template("fees/pay.html", payment=payment, channels=channels, vietqr=vietqr,
                           payable=payment.status in PAYABLE, sandbox=settings().sandbox)


@citizen.get("/pay/<code>/vietqr.png")
def vietqr_png(code: str):
    """The QR as an image to save: on the phone that shows this page the citizen cannot scan the screen,
    but every banking app can read a QR from a saved picture."""
    payment = _payment_by_code(code)
    channels, accounts = _usable_channels(payment)
    if "vietqr" not in channels or payment.status not in PAYABLE:
        abort(404)
    out = io.BytesIO()
    segno.make(VietqrGateway(settings(), accounts["vietqr"]).qr_payload(payment), error="m").save(
        out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), mimetype="image/png", headers={
        "Content-Disposition": f'attachment; filename="VietQR-{payment.code}.png"', "Cache-Control": "no-store"})


@citizen.post("/pay/<code>/<channel>")
def start(code: str, channel: str):
    if channel not in ("vnpay", "momo"):
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


@citizen.get("/pay/<code>/result")
def result(code: str):
    """What happened, from our own state (the gateway's query string on this URL decides nothing)."""
    payment = _payment_by_code(code)
    receipt_id = receipt_id_of(db_session(), payment.id) if payment.status == "paid" else None
    receipt_url = _citizen_receipt_url(payment, receipt_id)
    # The receipt is signed by a worker a few seconds after the IPN: refresh until its link can be shown.
    awaiting_receipt = (payment.status == "paid" and receipt_url is None
                        and "receipt_lookup.lookup" in current_app.view_functions)
    return render_template("fees/result.html", payment=payment, receipt_id=receipt_id, receipt_url=receipt_url,
                           awaiting_receipt=awaiting_receipt)


def _citizen_receipt_url(payment: Payment, receipt_id: int | None) -> str | None:
    """The citizen's copy: the receipts work serves it at /r/<lookup code>."""
    if receipt_id is None or "receipt_lookup.lookup" not in current_app.view_functions:
        return None
    from receipts.models import Receipt

    receipt = db_session().get(Receipt, receipt_id)
    code = getattr(receipt, "lookup_code", None)
    return url_for("receipt_lookup.lookup", code=code) if code else None


@desk.route("/staff/cashier", methods=["GET"])
@require_roles("cashier")
def cashier():
    q = (request.args.get("q") or "").strip()
    rows: list[Payment] = []
    if q:
        rows = list(db_session().scalars(
            current_user.scope(select(Payment), Payment.centre_id)
            .where(or_(Payment.code == q.upper(), Payment.dossier_code == q))
            .order_by(Payment.id.desc()).limit(20)))
    last = request.args.get("paid", type=int)
    last_payment = db_session().get(Payment, last) if last else None
    if last_payment is not None and not current_user.sees(last_payment.centre_id):
        last_payment = None
    receipt_id = receipt_id_of(db_session(), last_payment.id) if last_payment else None
    return render_template("fees/cashier.html", q=q, rows=rows, last=last_payment, receipt_id=receipt_id,
                           payable=PAYABLE + ("expired",))


@desk.post("/staff/cashier/<int:payment_id>/pay")
@require_roles("cashier")
def cashier_pay(payment_id: int):
    session = db_session()
    centre_id = _seen_payment(payment_id).centre_id
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
        found = session.scalars(current_user.scope(select(Payment), Payment.centre_id)
                                .where(or_(Payment.code == q.upper(), Payment.dossier_code == q))
                                .order_by(Payment.id.desc())).first()
    rows = list(session.scalars(current_user.scope(select(Refund).join(Payment), Payment.centre_id)
                                .order_by(Refund.id.desc()).limit(50)))
    me = f"user:{current_user.id}"
    return render_template("fees/refunds.html", q=q, found=found, rows=rows, me=me,
                           available=refundable(session, found) if found else 0)


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
