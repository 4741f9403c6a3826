"""Fee-collection background work: expiry of unpaid requests, refunds, webhooks, settling stuck payments."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events, jobs
from core.clock import utcnow
from fees import webhooks
from fees.gateways.base import GatewayError, RetryableGatewayError
from fees.models import Payment, Refund
from fees.payments import expire_overdue

log = logging.getLogger(__name__)

jobs.register_sweeper(expire_overdue)


@jobs.job(retries=8)
def send_refund(refund_id: int):
    from fees.refunds import execute_refund

    try:
        with jobs.session_scope() as session:
            refund = execute_refund(session, refund_id, jobs.settings())
            unfinished = refund is not None and refund.status in ("approved", "processing")
    except RetryableGatewayError as e:
        raise jobs.RetryableJobError(str(e)) from e
    if unfinished:
        # Committed as it is (e.g. waiting for the gateway's query to confirm it): ask again later.
        raise jobs.RetryableJobError(f"refund {refund_id} is not finished yet")


@jobs.job(retries=0)
def deliver_webhook(delivery_id: int):
    # Backoff is kept in the row (next_attempt_at), so a restart keeps the schedule; the sweep re-drives.
    with jobs.session_scope() as session:
        done = webhooks.deliver(session, delivery_id,
                                timeout=jobs.settings().get_int("HCC_WEBHOOK_TIMEOUT", 10))
        next_at = None if done else session.get(webhooks.WebhookDelivery, delivery_id).next_attempt_at
    if next_at is not None and not jobs.huey.immediate:
        deliver_webhook.schedule(args=(delivery_id,), delay=max(1.0, (next_at - utcnow()).total_seconds()))


@jobs.job(retries=3)
def query_payment(payment_id: int):
    """Ask the gateway about a request stuck in pending and settle it on the gateway's verified word."""
    from fees.querying import settle_by_query

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
        if (p.extra or {}).get("checkout_channel") in ("vnpay", "momo"):
            jobs.enqueue_after_commit(session, query_payment, p.id)
            count += 1
    return count


jobs.register_sweeper(redrive_refunds)
jobs.register_sweeper(redrive_webhooks)
jobs.register_sweeper(query_stuck_payments)


ONLINE_CHANNELS = ("vnpay", "momo", "vietqr")


@events.on("payment.created")
def _tell_the_citizen_to_pay(session: Session, payment_id: int, **_) -> None:
    """A payment the citizen can pay online: one message (Zalo, else SMS) with the pay link. Not for a
    payment taken at the counter or collected on delivery: the citizen is at the desk or at the door."""
    from core.notify import notify_citizen

    p = session.get(Payment, payment_id)
    settings = jobs.settings()
    if p is None or not p.payer_phone or settings is None or not set(p.allowed_channels or ()) & set(ONLINE_CHANNELS):
        return
    notify_citizen(session, event="payment_requested", phone=p.payer_phone, centre_id=p.centre_id,
                   entity_type="payment", entity_id=p.id,
                   params={"dossier": p.dossier_code, "amount": f"{p.amount:,}".replace(",", "."),
                           "link": f"{settings.public_url}/pay/{p.code}"})
