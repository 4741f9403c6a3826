"""Fee-collection background work: expiry of unpaid requests, refunds, webhooks, settling stuck payments."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events, jobs
from core.clock import utcnow
from fees import webhooks
from fees.gateways.base import GatewayError, RetryableGatewayError, gateway_class, gateway_names
from fees.models import Payment, Refund
from fees.payments import expire_overdue
from fees.querying import settle_by_query

# The jobs live beside what they do (so neither module imports this one); the sweeps below re-drive them.
from fees.refunds import send_refund
from fees.webhooks import deliver_webhook

__all__ = ["deliver_webhook", "query_payment", "redrive_refunds", "redrive_webhooks", "send_refund"]

log = logging.getLogger(__name__)

jobs.register_sweeper(expire_overdue)


@jobs.job(retries=3)
def query_payment(payment_id: int):
    """Ask the gateway about a request stuck in pending and settle it on the gateway's verified word."""
    try:
        with jobs.session_scope() as session:
            settle_by_query(session, payment_id, jobs.settings())
    except RetryableGatewayError as e:
        raise jobs.RetryableJobError(str(e)) from e
    except GatewayError:
        log.warning("payment query failed", extra={"payment_id": payment_id}, exc_info=True)


def redrive_refunds(session: Session) -> int:
    ids = session.scalars(select(Refund.id).where(Refund.status.in_(("approved", "processing"))).limit(100)).all()
    for rid in ids:
        jobs.enqueue_after_commit(session, send_refund, rid)
    return len(ids)


def redrive_webhooks(session: Session) -> int:
    ids = webhooks.due_deliveries(session)
    for did in ids:
        jobs.enqueue_after_commit(session, deliver_webhook, did)
    return len(ids)


def query_stuck_payments(session: Session) -> int:
    """Online requests opened at a gateway more than 15 minutes ago and still pending: ask the gateway."""
    cutoff = utcnow() - timedelta(minutes=15)
    rows = session.scalars(select(Payment).where(Payment.status == "pending", Payment.updated_at < cutoff,
                                                 Payment.created_at > utcnow() - timedelta(days=2))
                           .limit(100)).all()
    count = 0
    for p in rows:
        channel = (p.extra or {}).get("checkout_channel")
        if channel in gateway_names(online=True) and gateway_class(channel)(jobs.settings()).can_query:
            jobs.enqueue_after_commit(session, query_payment, p.id)
            count += 1
    return count


jobs.register_sweeper(redrive_refunds)
jobs.register_sweeper(redrive_webhooks)
jobs.register_sweeper(query_stuck_payments)


def _online_channels() -> list[str]:
    return gateway_names(online=True)


@events.on("payment.created")
def _tell_the_citizen_to_pay(session: Session, payment_id: int, **_) -> None:
    """A payment the citizen can pay online: one message (Zalo, else SMS) with the pay link. Not for a
    payment taken at the counter or collected on delivery: the citizen is at the desk or at the door."""
    from core.notify import notify_citizen

    p = session.get(Payment, payment_id)
    settings = jobs.settings()
    if p is None or not p.payer_phone or settings is None or not set(p.allowed_channels or ()) & set(_online_channels()):
        return
    notify_citizen(session, event="payment_requested", phone=p.payer_phone, centre_id=p.centre_id,
                   entity_type="payment", entity_id=p.id,
                   params={"dossier": p.dossier_code, "amount": f"{p.amount:,}".replace(",", "."),
                           "link": f"{settings.public_url}/pay/{p.code}"})
