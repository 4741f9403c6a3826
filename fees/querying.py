"""Settling requests stuck in pending by asking the gateway (VNPAY querydr, MoMo query)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit
from fees.merchants import gateway_for_payment
from fees.models import Payment
from fees.settlement import Settled, settle_gateway_payment


def settle_by_query(session: Session, payment_id: int, settings) -> Settled | None:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status not in ("pending", "failed", "expired"):
        return None
    channel = (payment.extra or {}).get("checkout_channel")
    if channel not in ("vnpay", "momo"):
        return None
    # The account the order was opened with (a unit's own merchant), not the deployment's default.
    result = gateway_for_payment(session, settings, payment, channel).query(payment)
    if not result.found or result.pending or not result.success:
        # Remember the question, so the sweep asks again only after a pause (updated_at moves).
        from core.clock import utcnow

        payment.extra = {**(payment.extra or {}), "queried_at": utcnow().isoformat(),
                         "query_status": result.raw_status}
        return Settled("unchanged", payment, result.raw_status)
    return settle_gateway_payment(session, channel=channel, order_code=payment.code, amount=result.amount,
                                  success=True, transaction_ref=result.transaction_ref,
                                  actor=audit.Actor(type="gateway", id=channel, name=f"{channel} query"))
