"""Turning a gateway's verified word into a paid payment, exactly once.

Every channel ends here: the payment row is locked, the order and amount checked, and the one
transition made; what does not fit (an expired or cancelled request, a wrong amount) is kept and
flagged for finance rather than lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import audit
from fees.models import Payment
from fees.payments import add_flag, lock_payment, transition

log = logging.getLogger(__name__)

PAID_STATES = ("paid", "refunded", "partially_refunded")


@dataclass(frozen=True)
class Settled:
    """What became of a gateway's notification.

    result: paid | failed_recorded | already | paid_twice | not_found | amount_mismatch | flagged
    """

    result: str
    payment: Payment | None = None
    detail: str | None = None


def flag_for_finance(session: Session, payment: Payment, flag: str, actor: audit.Actor, **detail) -> None:
    add_flag(payment, flag)
    notes = list((payment.extra or {}).get("finance_notes", []))
    notes.append({"flag": flag, **detail})
    payment.extra = {**(payment.extra or {}), "finance_notes": notes}
    audit.record(session, actor, "payment.flagged", entity_type="payment", entity_id=payment.id,
                 after={"flag": flag, **detail}, centre_id=payment.centre_id)
    log.warning("payment flagged for finance", extra={"payment_id": payment.id, "flag": flag})


def _noted(payment: Payment, flag: str, transaction_ref: str | None) -> bool:
    return any(n.get("flag") == flag and n.get("transaction_ref") == transaction_ref
               for n in (payment.extra or {}).get("finance_notes", []))


def settle_gateway_payment(session: Session, *, channel: str, order_code: str, amount: int, success: bool,
                           transaction_ref: str | None, actor: audit.Actor, extra: dict | None = None,
                           exact_amount: bool = True) -> Settled:
    """Apply a verified gateway result for the payment with citizen code `order_code`.

    Checks in the order gateways expect: order exists, amount, still payable.
    """
    payment = lock_payment(session, code=order_code)
    if payment is None:
        return Settled("not_found", None, f"no payment {order_code}")
    if exact_amount and amount != payment.amount:
        return Settled("amount_mismatch", payment, f"amount {amount} != {payment.amount}")
    if payment.status in PAID_STATES:
        same = payment.channel == channel and (payment.channel_ref or None) == (transaction_ref or None)
        if success and not same:
            # Paid again through another channel or transaction: money twice, finance must return one.
            known = [n.get("transaction_ref") for n in (payment.extra or {}).get("finance_notes", [])]
            if transaction_ref not in known:
                flag_for_finance(session, payment, "paid_twice", actor, channel=channel, amount=amount,
                                 transaction_ref=transaction_ref)
                return Settled("paid_twice", payment, "already paid through another transaction")
        return Settled("already", payment, f"payment is {payment.status}")
    if not success:
        if payment.status == "pending":
            transition(session, payment, "failed", actor=actor, reason=f"{channel}: giao dịch không thành công",
                       channel=channel)
            return Settled("failed_recorded", payment)
        return Settled("already", payment, f"payment is {payment.status}")
    changes = {"channel": channel, "channel_ref": transaction_ref, "paid_amount": amount}
    if extra:
        if payment.status == "cancelled":
            payment.extra = {**(payment.extra or {}), **extra}
        else:
            # Written by the transition's own UPDATE (one statement for the state change and what the
            # gateway said, not one for each).
            changes["extra"] = {**(payment.extra or {}), **extra}
    if payment.status == "cancelled":
        # Money arrived for a request nobody expects to be paid: record it, do not lose it (once per
        # transaction, so the gateway's retries and replays add nothing).
        if _noted(payment, "paid_after_cancel", transaction_ref):
            return Settled("already", payment, "payment after cancellation already recorded")
        flag_for_finance(session, payment, "paid_after_cancel", actor, channel=channel, amount=amount,
                         transaction_ref=transaction_ref)
        return Settled("flagged", payment, "paid after cancellation")
    if payment.status == "expired":
        add_flag(payment, "paid_after_expiry")
    transition(session, payment, "paid", actor=actor, reason=f"{channel}: đã thanh toán", **changes)
    return Settled("paid", payment)
