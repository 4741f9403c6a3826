"""Refunds: full or partial, never more than was paid, with a reason, by finance, maybe approved by a second person.

A refund is requested, (approved,) then sent to the gateway by a job; only the gateway's success moves the
payment to `partially_refunded` or `refunded`. Cash and bank-transfer refunds are paid back by finance
by hand, so they succeed on approval.

An answer that does not say whether the refund went through (VNPAY 94 "duplicate request within the API's
window" or 99, MoMo's duplicate and processing codes, an answer lost on the way) is never read as success:
the refund stays `processing` with `confirmation = "query"`, and every later run (the job's retries, the
sweep) asks the gateway about the transaction instead of sending again, until the query says succeeded
or failed. If the query shows no trace of it long after the gateway's duplicate window, it is sent again
under a new request id.

A second payment of the same fee (an older gateway order paid after a newer one had paid it) is returned
whole by a refund of kind "second_payment" on that order; the payment itself, and its receipt, stay.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, jobs
from core.clock import utcnow
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.security import new_code
from fees.gateways import attempts
from fees.gateways.base import (
    REFUNDING_GATEWAYS,
    GatewayOrder,
    OutcomeUnknown,
    PermanentGatewayError,
    RefundStatus,
    RetryableGatewayError,
    get_gateway,
)
from fees.merchants import (
    IncompleteMerchantAccount,
    MixedMerchantAccounts,
    account_for_callback,
    gateway_for_payment,
)
from fees.models import GatewayAttempt, Payment, Refund
from fees.payments import lock_payment, transition

log = logging.getLogger(__name__)

GATEWAY_REFUNDS = REFUNDING_GATEWAYS  # every registered gateway that overrides refund()
OPEN_STATUSES = ("requested", "approved", "processing")
# A refund the gateway's query does not show is sent again (new request id) only this long after its answer
# was unknown: well past VNPAY's 5-minute duplicate window, and MoMo's, which is not published.
RESEND_AFTER = timedelta(minutes=30)


def _who(actor: audit.Actor) -> str:
    return f"{actor.type}:{actor.id}" if actor.id else actor.type


def reserved_amount(session: Session, payment_id: int) -> int:
    """Money already promised back by refunds not yet finished (so two requests cannot overdraw)."""
    return session.scalar(select(func.coalesce(func.sum(Refund.amount), 0))
                          .where(Refund.payment_id == payment_id, Refund.kind == "payment",
                                 Refund.status.in_(OPEN_STATUSES))) or 0


def refundable(session: Session, payment: Payment) -> int:
    return payment.paid_amount - payment.refunded_amount - reserved_amount(session, payment.id)


def request_refund(session: Session, payment_id: int, *, amount: int, reason: str, actor: audit.Actor,
                   needs_approval: bool, centre_id: int | None = None) -> Refund:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("the refund amount must be a positive whole number of đồng",
                           errors={"amount": ["Số tiền hoàn phải là số nguyên dương (đồng)."]})
    if not (reason or "").strip():
        raise InvalidInput("a refund needs a reason", errors={"reason": ["Cần ghi lý do hoàn tiền."]})
    payment = lock_payment(session, payment_id=payment_id)
    if payment is None or (centre_id is not None and payment.centre_id != centre_id):
        raise NotFound("payment not found")
    if payment.status not in ("paid", "partially_refunded"):
        raise Conflict(f"payment {payment.code} is {payment.status}; only paid payments can be refunded",
                       code="payment-not-refundable")
    available = refundable(session, payment)
    if amount > available:
        raise InvalidInput(f"cannot refund {amount} đồng: only {available} đồng can still be refunded",
                           errors={"amount": [f"Vượt quá số tiền còn được hoàn ({available:,} đồng)."
                                              .replace(",", ".")]}, code="refund-exceeds-paid")
    refund = Refund(payment_id=payment.id, amount=amount, reason=reason.strip(), status="requested",
                    reference=f"RF{new_code(12)}", requested_by=_who(actor), created_at=utcnow(),
                    updated_at=utcnow())
    session.add(refund)
    session.flush()
    audit.record(session, actor, "refund.requested", entity_type="payment", entity_id=payment.id,
                 after={"refund_id": refund.id, "amount": amount}, detail=refund.reason, centre_id=payment.centre_id)
    if not needs_approval:
        _approve(session, refund, actor)
    return refund


def approve_refund(session: Session, refund_id: int, *, actor: audit.Actor, centre_id: int | None = None) -> Refund:
    refund = _get(session, refund_id, centre_id)
    if refund.status != "requested":
        raise Conflict(f"refund {refund.id} is {refund.status}", code="refund-not-pending")
    if refund.requested_by == _who(actor):
        raise PermissionDenied("a refund must be approved by someone other than who requested it",
                               code="refund-needs-second-person")
    _approve(session, refund, actor)
    return refund


def reject_refund(session: Session, refund_id: int, *, actor: audit.Actor, note: str,
                  centre_id: int | None = None) -> Refund:
    refund = _get(session, refund_id, centre_id)
    if refund.status != "requested":
        raise Conflict(f"refund {refund.id} is {refund.status}", code="refund-not-pending")
    refund.status, refund.message, refund.updated_at = "rejected", note, utcnow()
    audit.record(session, actor, "refund.rejected", entity_type="payment", entity_id=refund.payment_id,
                 after={"refund_id": refund.id}, detail=note, centre_id=refund.payment.centre_id)
    return refund


def _get(session: Session, refund_id: int, centre_id: int | None) -> Refund:
    refund = session.get(Refund, refund_id)
    if refund is None or (centre_id is not None and refund.payment.centre_id != centre_id):
        raise NotFound("refund not found")
    return refund


def _approve(session: Session, refund: Refund, actor: audit.Actor) -> None:
    refund.status, refund.approved_by, refund.updated_at = "approved", _who(actor), utcnow()
    audit.record(session, actor, "refund.approved", entity_type="payment", entity_id=refund.payment_id,
                 after={"refund_id": refund.id, "amount": refund.amount}, centre_id=refund.payment.centre_id)
    jobs.enqueue_after_commit(session, send_refund, refund.id)


def refund_second_payment(session: Session, payment: Payment, attempt: GatewayAttempt, *, actor: audit.Actor,
                          needs_approval: bool) -> Refund:
    """A second payment of the payment's fee, through `attempt` (an older order paid after a newer one had
    paid it): the whole of it goes back, through the refund flow (approved by finance when
    HCC_REFUND_NEEDS_APPROVAL). Once per order, whatever the gateway's retries."""
    existing = session.scalars(select(Refund).where(Refund.attempt_id == attempt.id)).first()
    if existing is not None:
        return existing
    refund = Refund(payment_id=payment.id, amount=attempt.amount, kind="second_payment", attempt_id=attempt.id,
                    reason=f"Thanh toán lần hai cho cùng khoản phí (đơn {attempt.order_ref} qua {attempt.gateway}, "
                           f"giao dịch {attempt.transaction_ref}): hoàn lại toàn bộ",
                    status="requested", reference=f"RF{new_code(12)}", requested_by=_who(actor),
                    created_at=utcnow(), updated_at=utcnow())
    session.add(refund)
    session.flush()
    audit.record(session, actor, "refund.requested", entity_type="payment", entity_id=payment.id,
                 after={"refund_id": refund.id, "amount": refund.amount, "kind": "second_payment",
                        "order_ref": attempt.order_ref}, detail=refund.reason, centre_id=payment.centre_id)
    if not needs_approval:
        _approve(session, refund, actor)
    return refund


def _gateway(session: Session, settings, payment: Payment, refund: Refund, channel: str):
    """The adapter working for the merchant account that took the money being returned."""
    if refund.attempt is not None and refund.attempt.merchant_id:
        account = account_for_callback(session, settings, channel, refund.attempt.merchant_id)
        if account is not None:
            return get_gateway(channel, settings, account)
    return gateway_for_payment(session, settings, payment, channel)


def _order(session: Session, payment: Payment, refund: Refund, channel: str):
    if refund.attempt is not None:
        a = refund.attempt
        dates = (a.create_date,) if a.create_date else ()
        order = attempts.orders_of(session, payment, channel)
        found = next((o for o in order if o.order_ref == a.order_ref), None)
        return GatewayOrder(order_ref=a.order_ref, transaction_dates=found.transaction_dates if found else dates,
                            transaction_ref=a.transaction_ref, amount=a.amount)
    return attempts.paid_order(session, payment, channel)


def _succeed(session: Session, payment: Payment, refund: Refund, reference: str | None, message: str | None) -> None:
    refund.status, refund.gateway_ref, refund.message = "succeeded", reference, message
    refund.confirmation = None
    refund.completed_at = refund.updated_at = utcnow()
    if refund.kind == "second_payment":
        # The fee is still paid once: the payment, its status and its receipt do not change.
        if refund.attempt is not None:
            refund.attempt.outcome, refund.attempt.outcome_at = "refunded", utcnow()
        audit.record(session, audit.SYSTEM, "refund.succeeded", entity_type="payment", entity_id=payment.id,
                     after={"refund_id": refund.id, "amount": refund.amount, "kind": refund.kind},
                     centre_id=payment.centre_id)
        return
    refunded = payment.refunded_amount + refund.amount
    to = "refunded" if refunded >= payment.paid_amount else "partially_refunded"
    transition(session, payment, to, actor=audit.SYSTEM, reason=refund.reason, refunded_amount=refunded)


def _fail(session: Session, payment: Payment, refund: Refund, message: str) -> None:
    refund.status, refund.message, refund.updated_at = "failed", message, utcnow()
    refund.confirmation = None
    audit.record(session, audit.SYSTEM, "refund.failed", entity_type="payment", entity_id=payment.id,
                 after={"refund_id": refund.id}, detail=message, centre_id=payment.centre_id)


def _unknown(session: Session, payment: Payment, refund: Refund, raw: str | None, message: str) -> None:
    """The gateway's answer did not tell: the refund waits for a query, never for a guess."""
    if refund.confirmation != "query":
        refund.unknown_since = utcnow()
        audit.record(session, audit.SYSTEM, "refund.unconfirmed", entity_type="payment", entity_id=payment.id,
                     after={"refund_id": refund.id, "answer": raw}, detail=message, centre_id=payment.centre_id)
    refund.confirmation, refund.last_answer = "query", (raw or "")[:16] or None
    refund.message, refund.updated_at = message, utcnow()


def _apply(session: Session, payment: Payment, refund: Refund, status: RefundStatus) -> bool:
    """What the query says. True when the refund must be sent again (the gateway never had it)."""
    refund.last_answer = (status.raw_status or "")[:16] or None
    if status.state == "succeeded":
        _succeed(session, payment, refund, status.reference, status.message or "xác nhận qua truy vấn giao dịch")
    elif status.state == "failed":
        _fail(session, payment, refund, f"Cổng thanh toán từ chối hoàn tiền ({status.raw_status}). {status.message or ''}"
              .strip())
    elif status.state == "absent" and refund.unknown_since is not None \
            and utcnow() - refund.unknown_since >= RESEND_AFTER:
        refund.confirmation, refund.request_seq = None, refund.request_seq + 1
        return True
    else:
        refund.message, refund.updated_at = f"chờ xác nhận: {status.state} ({status.raw_status})", utcnow()
    return False


def execute_refund(session: Session, refund_id: int, settings) -> Refund:
    """Send an approved refund to its gateway (or complete a manual one), or, when an earlier answer did not
    tell, ask the gateway what became of it; safe to call again. A refund whose outcome is not known yet
    is left `processing` (the caller retries later)."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status not in ("approved", "processing"):
        return refund
    payment = lock_payment(session, payment_id=refund.payment_id)
    session.refresh(refund)
    if refund.status not in ("approved", "processing"):
        return refund
    channel = refund.attempt.gateway if refund.attempt is not None else payment.channel
    if channel not in GATEWAY_REFUNDS:
        _succeed(session, payment, refund, None, "hoàn trả trực tiếp (tiền mặt/chuyển khoản) do kế toán thực hiện")
        return refund
    refund.status = "processing"
    try:
        # Through the merchant account that took the money (a unit's own, or the default).
        gateway = _gateway(session, settings, payment, refund, channel)
        order = _order(session, payment, refund, channel)
        if refund.confirmation == "query":
            if not _apply(session, payment, refund, gateway.refund_status(payment, refund, order)):
                return refund
        result = gateway.refund(payment, refund, order)
    except OutcomeUnknown as e:
        _unknown(session, payment, refund, e.raw_status, str(e))
        return refund
    except (PermanentGatewayError, IncompleteMerchantAccount, MixedMerchantAccounts) as e:
        # No account to refund through (a unit's secret removed, fees of units with different
        # accounts) is as final as the gateway's no: a person must pay it back.
        _fail(session, payment, refund, str(e))
        return refund
    except RetryableGatewayError as e:
        if refund.confirmation == "query":
            raise  # the query could not be made: nothing is known, nothing changes; asked again later
        # Not taken (MoMo 10 maintenance, 1080 failed while processing): sent again later under a new id.
        refund.status, refund.request_seq = "approved", refund.request_seq + 1
        refund.message, refund.updated_at = f"gửi lại sau: {e}", utcnow()
        return refund
    _succeed(session, payment, refund, result.reference, result.message)
    return refund


@jobs.job(retries=8)
def send_refund(refund_id: int):
    """Send an approved refund to its gateway, or ask what became of one already sent (fees.jobs re-drives)."""
    try:
        with jobs.session_scope() as session:
            refund = execute_refund(session, refund_id, jobs.settings())
            unfinished = refund is not None and refund.status in ("approved", "processing")
    except RetryableGatewayError as e:
        raise jobs.RetryableJobError(str(e)) from e
    if unfinished:
        # Committed as it is (e.g. waiting for the gateway's query to confirm it): ask again later.
        raise jobs.RetryableJobError(f"refund {refund_id} is not finished yet")
