"""Settling requests stuck in pending by asking the gateway (VNPAY querydr, MoMo query) about every order
the payment opened there (one per checkout attempt, fees.gateways.attempts)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from fees.gateways import attempts
from fees.gateways.base import QUERYABLE_GATEWAYS
from fees.merchants import gateway_for_payment
from fees.models import Payment
from fees.settlement import Settled, settle_gateway_payment

QUERIED_GATEWAYS = QUERYABLE_GATEWAYS  # every registered gateway that overrides query()


def _gateways_to_ask(session: Session, payment: Payment) -> list[str]:
    """The gateway of the last checkout first, then any other where the payment opened an order."""
    last = (payment.extra or {}).get("checkout_channel")
    names = [last] if last in QUERIED_GATEWAYS else []
    names += [a.gateway for a in attempts.attempts_of(session, payment)
              if a.gateway in QUERIED_GATEWAYS and a.gateway not in names]
    return list(dict.fromkeys(names))


def settle_by_query(session: Session, payment_id: int, settings) -> Settled | None:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status not in ("pending", "failed", "expired"):
        return None
    asked = None
    for channel in _gateways_to_ask(session, payment):
        orders = attempts.orders_of(session, payment, channel)
        if not orders:
            continue
        # The account the order was opened with (a unit's own merchant), not the deployment's default.
        result = gateway_for_payment(session, settings, payment, channel).query(payment, orders)
        asked = result
        if result.found and result.success and not result.pending:
            actor = audit.Actor(type="gateway", id=channel, name=f"{channel} query")
            settled = settle_gateway_payment(session, channel=channel, order_code=payment.code, amount=result.amount,
                                             success=True, transaction_ref=result.transaction_ref, actor=actor)
            if result.order_ref and settled.result == "paid":
                attempts.note(session, payment, channel, result.order_ref, outcome="paid",
                              transaction_ref=result.transaction_ref, raw_status=result.raw_status,
                              amount=result.amount)
            return settled
    if asked is None:
        return None
    # Remember the question, so the sweep asks again only after a pause (updated_at moves).
    payment.extra = {**(payment.extra or {}), "queried_at": utcnow().isoformat(), "query_status": asked.raw_status}
    return Settled("unchanged", payment, asked.raw_status)
