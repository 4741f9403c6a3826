"""Gateway orders per payment attempt: each checkout opens its own order at the gateway, all mapped back to
the one payment (fees.models.GatewayAttempt).

A gateway refuses a reused order reference (VNPAY: vnp_TxnRef unique per merchant; MoMo: orderId, resultCode
41), so a citizen who cancels and tries again needs a new one. The first attempt keeps the payment code,
later ones get `order_ref_for(code, n)`; a notification, a query and a refund find the payment and the
order through this table. Orders opened before it (the payment code, MoMo's CODE-2 ...) are still found by
their code, from what the payment's `extra` recorded then.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from fees.gateways.base import (
    ATTEMPT_MARK,
    Checkout,
    DuplicateError,
    GatewayError,
    GatewayOrder,
    PaymentGateway,
    code_from_order_ref,
    order_ref_for,
)
from fees.models import GatewayAttempt, Payment

# What a settled notification or query (fees.settlement.Settled.result) makes of the order it was about.
OUTCOME_OF_SETTLED = {"paid": "paid", "failed_recorded": "failed", "paid_twice": "paid_twice",
                      "flagged": "paid_after_cancel"}


def _legacy_seq(payment: Payment) -> int:
    """How many checkouts were opened before this table: VNPAY's all used the payment code (one order),
    MoMo's were CODE, CODE-2 ... up to `momo_attempts`."""
    extra = payment.extra or {}
    vnpay = 1 if extra.get("vnpay_create_date") or extra.get("vnpay_create_dates") else 0
    return max(vnpay, int(extra.get("momo_attempts") or 0))


def attempts_of(session: Session, payment: Payment, gateway: str | None = None) -> list[GatewayAttempt]:
    """The payment's orders, newest first (of one gateway when named)."""
    stmt = select(GatewayAttempt).where(GatewayAttempt.payment_id == payment.id)
    if gateway is not None:
        stmt = stmt.where(GatewayAttempt.gateway == gateway)
    return list(session.scalars(stmt.order_by(GatewayAttempt.seq.desc())))


def _next_seq(session: Session, payment: Payment) -> int:
    top = session.scalar(select(func.max(GatewayAttempt.seq)).where(GatewayAttempt.payment_id == payment.id)) or 0
    return max(top, _legacy_seq(payment)) + 1


def open_attempt(session: Session, payment: Payment, gateway: str, *, merchant_id: str | None) -> GatewayAttempt:
    """A new order for the payment at `gateway`, with a reference no earlier attempt used.

    The caller holds the payment's lock (fees.payments.lock_payment), so two checkouts at once cannot take
    the same number."""
    seq = _next_seq(session, payment)
    while find(session, gateway, order_ref_for(payment.code, seq)) is not None:
        seq += 1  # taken by a row a notification made for an order we did not open here
    attempt = GatewayAttempt(payment_id=payment.id, seq=seq, gateway=gateway, order_ref=order_ref_for(payment.code, seq),
                             merchant_id=merchant_id, amount=payment.amount, created_at=utcnow(), outcome="open")
    session.add(attempt)
    session.flush()
    return attempt


def find(session: Session, gateway: str, order_ref: str) -> GatewayAttempt | None:
    return session.scalars(select(GatewayAttempt).where(GatewayAttempt.gateway == gateway,
                                                        GatewayAttempt.order_ref == order_ref)).first()


NOT_LOOKED_UP = object()


def payment_code_for(session: Session, gateway: str, order_ref: str, *, attempt=NOT_LOOKED_UP) -> str:
    """The code of the payment a gateway order belongs to: from the table, else (an order from before it)
    from the reference itself. `attempt`: the order's row (or None) when the caller has looked it up."""
    if attempt is NOT_LOOKED_UP:
        attempt = find(session, gateway, order_ref)
    if attempt is not None:
        return attempt.payment.code
    if ATTEMPT_MARK in order_ref:
        return order_ref  # made by this mechanism, so recorded when opened: one we never opened is no payment's
    return code_from_order_ref(order_ref)


def _legacy_vnpay_dates(payment: Payment) -> tuple[str, ...]:
    from fees.gateways.vnpay import transaction_dates

    return tuple(transaction_dates(payment))


def _as_order(attempt: GatewayAttempt, payment: Payment) -> GatewayOrder:
    dates: tuple[str, ...] = (attempt.create_date,) if attempt.create_date else ()
    if attempt.gateway == "vnpay" and not dates and attempt.order_ref == payment.code:
        dates = _legacy_vnpay_dates(payment)  # the order from before this table, seen by its notification
    return GatewayOrder(order_ref=attempt.order_ref, transaction_dates=dates, transaction_ref=attempt.transaction_ref,
                        amount=attempt.amount)


def orders_of(session: Session, payment: Payment, gateway: str) -> list[GatewayOrder]:
    """Every order of the payment at `gateway` a query should ask about, newest first, including those
    opened before this table existed."""
    rows = [a for a in attempts_of(session, payment, gateway) if a.outcome != "refused"]
    orders = [_as_order(a, payment) for a in rows]
    known = {a.order_ref for a in rows}
    legacy = _legacy_seq(payment)
    if gateway == "vnpay" and legacy and payment.code not in known:
        orders.append(GatewayOrder(order_ref=payment.code, transaction_dates=_legacy_vnpay_dates(payment)))
    if gateway == "momo":
        attempts = int((payment.extra or {}).get("momo_attempts") or 0)
        for n in range(attempts, 0, -1):
            ref = payment.code if n == 1 else f"{payment.code}-{n}"  # MoMo's numbering before this table
            if ref not in known:
                orders.append(GatewayOrder(order_ref=ref))
    if not orders and (payment.extra or {}).get("checkout_channel") == gateway:
        # Opened before this table, with nothing else recorded: the payment code's own order.
        orders.append(GatewayOrder(order_ref=payment.code,
                                   transaction_dates=_legacy_vnpay_dates(payment) if gateway == "vnpay" else ()))
    return orders


def start_checkout(session: Session, payment: Payment, gateway: PaymentGateway, *, return_url: str,
                   client_ip: str) -> Checkout:
    """Open a new order at `gateway` for the payment (its own reference, recorded before the citizen is
    sent there) and return where to send them. An order reference the gateway says is taken (MoMo 41) is
    marked refused and the next one tried."""
    for _ in range(3):
        attempt = open_attempt(session, payment, gateway.name, merchant_id=gateway.account.merchant_id or None)
        try:
            checkout = gateway.checkout(payment, return_url=return_url, client_ip=client_ip,
                                        order_ref=attempt.order_ref)
        except DuplicateError:
            attempt.outcome, attempt.outcome_at = "refused", utcnow()
            session.flush()
            continue
        attempt.create_date = checkout.extra.get("create_date")
        attempt.request_id = checkout.extra.get("request_id")
        session.flush()
        return checkout
    raise GatewayError(f"{gateway.name} keeps refusing the order reference")


def paid_order(session: Session, payment: Payment, gateway: str) -> GatewayOrder:
    """The order that paid the payment (what a refund of its money must name), with what was refunded of it."""
    paid = [a for a in attempts_of(session, payment, gateway) if a.outcome == "paid"]
    match = next((a for a in paid if a.transaction_ref == payment.channel_ref), paid[0] if paid else None)
    if match is not None:
        order = _as_order(match, payment)
        return GatewayOrder(order.order_ref, order.transaction_dates, payment.channel_ref, payment.paid_amount)
    # Paid before this table: VNPAY's order was the payment code; MoMo's is remembered in extra.
    ref = (payment.extra or {}).get("momo_order_id") if gateway == "momo" else None
    return GatewayOrder(order_ref=ref or payment.code,
                        transaction_dates=_legacy_vnpay_dates(payment) if gateway == "vnpay" else (),
                        transaction_ref=payment.channel_ref, amount=payment.paid_amount)


def note(session: Session, payment: Payment, gateway: str, order_ref: str, *, outcome: str | None,
         transaction_ref: str | None, raw_status: str | None, amount: int | None = None,
         merchant_id: str | None = None, attempt: GatewayAttempt | None = None) -> GatewayAttempt:
    """Record what the gateway said about one order (making its row if it was opened before this table).

    `outcome` None leaves it as it is (a replay, or an answer that does not change the order). An order that
    paid is never turned back by a later answer."""
    if attempt is None or attempt.order_ref != order_ref or attempt.gateway != gateway:
        attempt = find(session, gateway, order_ref)  # unless the caller looked the row up already
    if attempt is None:
        attempt = GatewayAttempt(payment_id=payment.id, seq=_next_seq(session, payment), gateway=gateway,
                                 order_ref=order_ref, merchant_id=merchant_id,
                                 amount=amount if amount is not None and amount >= 0 else payment.amount,
                                 created_at=utcnow(), outcome="open")
        session.add(attempt)
    if outcome is not None and attempt.outcome not in ("paid", "paid_twice", "paid_after_cancel", "refunded"):
        attempt.outcome, attempt.outcome_at = outcome, utcnow()
        if transaction_ref:
            attempt.transaction_ref = transaction_ref[:64]
        if amount is not None and amount >= 0 and outcome in ("paid_twice", "paid_after_cancel"):
            attempt.amount = amount
    attempt.raw_status = (raw_status or "")[:16] or attempt.raw_status
    session.flush()
    return attempt
