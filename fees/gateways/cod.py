"""Collect on delivery: the postman collects the fees; the carrier's delivered event makes the payment paid.

The postal package calls `record_cod_collection` when a carrier reports a delivery with its COD amount,
and `cancel_cod_payment` when the parcel comes back.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from core import audit
from core.errors import NotFound
from fees.gateways.base import PaymentGateway, register_gateway
from fees.models import Payment
from fees.payments import TransitionError, add_flag, lock_payment, transition

log = logging.getLogger(__name__)


@register_gateway
class CodGateway(PaymentGateway):
    """No checkout and no refund through a gateway: money moves through the carrier's remittance."""

    name = "cod"
    display_name = "Thu hộ khi giao (COD)"
    online = False


def record_cod_collection(session: Session, payment_id: int, collected_amount: int, carrier: str,
                          tracking_code: str, actor: audit.Actor) -> Payment:
    """The carrier collected `collected_amount` đồng for this payment on delivery of `tracking_code`.

    Idempotent: a repeat of the same delivery changes nothing. An amount that differs from the
    request is flagged `cod_amount_mismatch` and the payment stays pending for finance to resolve.
    """
    payment = lock_payment(session, payment_id=payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    if payment.channel == "cod" and payment.channel_ref == tracking_code and payment.status != "pending":
        return payment  # already recorded
    if payment.status in ("paid", "refunded", "partially_refunded"):
        # Paid by another channel before the postman collected: money twice, finance must refund one.
        if "cod_collected_after_paid" not in (payment.flags or []):
            add_flag(payment, "cod_collected_after_paid")
            audit.record(session, actor, "payment.flagged", entity_type="payment", entity_id=payment.id,
                         after={"flag": "cod_collected_after_paid", "collected": collected_amount,
                                "carrier": carrier, "tracking_code": tracking_code},
                         centre_id=payment.centre_id)
        return payment
    if collected_amount != payment.amount:
        if "cod_amount_mismatch" not in (payment.flags or []):
            add_flag(payment, "cod_amount_mismatch")
            payment.extra = {**(payment.extra or {}), "cod": {"collected": collected_amount, "carrier": carrier,
                                                               "tracking_code": tracking_code}}
            audit.record(session, actor, "payment.flagged", entity_type="payment", entity_id=payment.id,
                         after={"flag": "cod_amount_mismatch", "collected": collected_amount,
                                "expected": payment.amount, "carrier": carrier, "tracking_code": tracking_code},
                         centre_id=payment.centre_id)
            log.warning("COD amount differs from the request", extra={"payment_id": payment.id})
        return payment
    changes = {"channel": "cod", "channel_ref": tracking_code, "paid_amount": collected_amount}
    if payment.status == "cancelled":
        # Money was collected for a cancelled request: keep the fact, flag it, do not lose it (once).
        if (payment.extra or {}).get("cod", {}).get("tracking_code") == tracking_code \
                and "paid_after_cancel" in (payment.flags or []):
            return payment
        add_flag(payment, "paid_after_cancel")
        payment.extra = {**(payment.extra or {}), "cod": {"collected": collected_amount, "carrier": carrier,
                                                           "tracking_code": tracking_code}}
        audit.record(session, actor, "payment.flagged", entity_type="payment", entity_id=payment.id,
                     after={"flag": "paid_after_cancel", "collected": collected_amount}, centre_id=payment.centre_id)
        return payment
    if payment.status == "expired":
        add_flag(payment, "paid_after_expiry")
    transition(session, payment, "paid", actor=actor, reason=f"thu hộ COD qua {carrier}", **changes)
    return payment


def cancel_cod_payment(session: Session, payment_id: int, reason: str, actor: audit.Actor) -> Payment:
    """The parcel came back undelivered: nothing was collected, the request is cancelled (idempotent)."""
    payment = lock_payment(session, payment_id=payment_id)
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    if payment.status in ("cancelled", "expired"):
        return payment
    if payment.status not in ("pending", "failed"):
        raise TransitionError(payment, "cancelled")
    transition(session, payment, "cancelled", actor=actor, reason=reason)
    return payment
