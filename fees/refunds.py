"""Refunds: full or partial, never more than was paid, with a reason, by finance, maybe approved by a second person.

A refund is requested, (approved,) then sent to the gateway by a job; only the gateway's success moves the
payment to `partially_refunded` or `refunded`. Cash and bank-transfer refunds are paid back by finance
by hand, so they succeed on approval.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, jobs
from core.clock import utcnow
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.security import new_code
from fees.gateways.base import DuplicateError, PermanentGatewayError, RetryableGatewayError
from fees.merchants import IncompleteMerchantAccount, MixedMerchantAccounts, gateway_for_payment
from fees.models import Payment, Refund
from fees.payments import lock_payment, transition

log = logging.getLogger(__name__)

GATEWAY_REFUNDS = ("vnpay", "momo")
OPEN_STATUSES = ("requested", "approved", "processing")


def _who(actor: audit.Actor) -> str:
    return f"{actor.type}:{actor.id}" if actor.id else actor.type


def reserved_amount(session: Session, payment_id: int) -> int:
    """Money already promised back by refunds not yet finished (so two requests cannot overdraw)."""
    return session.scalar(select(func.coalesce(func.sum(Refund.amount), 0))
                          .where(Refund.payment_id == payment_id, Refund.status.in_(OPEN_STATUSES))) or 0


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
    from fees import jobs as fee_jobs

    jobs.enqueue_after_commit(session, fee_jobs.send_refund, refund.id)


def execute_refund(session: Session, refund_id: int, settings) -> Refund:
    """Send an approved refund to its gateway (or complete a manual one); safe to call again."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status not in ("approved", "processing"):
        return refund
    payment = lock_payment(session, payment_id=refund.payment_id)
    session.refresh(refund)
    if refund.status not in ("approved", "processing"):
        return refund
    result_ref, message = None, None
    if payment.channel in GATEWAY_REFUNDS:
        refund.status = "processing"
        try:
            # Through the merchant account that took the money (a unit's own, or the default).
            gateway = gateway_for_payment(session, settings, payment, payment.channel)
            result = gateway.refund(payment, refund)
        except DuplicateError:
            # An earlier attempt got through; the gateway has it under our reference.
            result = None
        except (PermanentGatewayError, IncompleteMerchantAccount, MixedMerchantAccounts) as e:
            # No account to refund through (a unit's secret removed, fees of units with different
            # accounts) is as final as the gateway's no: a person must pay it back.
            refund.status, refund.message, refund.updated_at = "failed", str(e), utcnow()
            audit.record(session, audit.SYSTEM, "refund.failed", entity_type="payment", entity_id=payment.id,
                         after={"refund_id": refund.id}, detail=str(e), centre_id=payment.centre_id)
            return refund
        except RetryableGatewayError:
            raise
        if result is not None:
            result_ref, message = result.reference, result.message
    else:
        message = "hoàn trả trực tiếp (tiền mặt/chuyển khoản) do kế toán thực hiện"
    refunded = payment.refunded_amount + refund.amount
    to = "refunded" if refunded >= payment.paid_amount else "partially_refunded"
    refund.status, refund.gateway_ref, refund.message = "succeeded", result_ref, message
    refund.completed_at = refund.updated_at = utcnow()
    transition(session, payment, to, actor=audit.SYSTEM, reason=refund.reason, refunded_amount=refunded)
    return refund
