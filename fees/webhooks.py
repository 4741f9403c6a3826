"""Outbound webhooks: integrating systems registered a URL and get signed payment events, at least once.

Signature header: `X-HCC-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; the
event id (`X-HCC-Event-Id`) lets the receiver drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events, jobs, outbound
from core.clock import utcnow
from core.errors import InvalidInput
from core.settings import Settings
from fees.models import Payment, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

PAYMENT_EVENTS = ("payment.created", "payment.paid", "payment.failed", "payment.expired", "payment.cancelled",
                  "payment.refunded", "payment.partially_refunded")
# Packages built on fees announce their own events through `publish` (receipts, shipments); the names
# are listed here so that endpoints can subscribe to them.
EVENTS = PAYMENT_EVENTS + (
    "receipt.issued", "receipt.cancelled", "receipt.replaced",
    "shipment.picked_up", "shipment.in_transit", "shipment.out_for_delivery", "shipment.delivery_failed",
    "shipment.on_hold", "shipment.ready_for_pickup", "shipment.delivered", "shipment.return_to_sender",
    "shipment.returned", "shipment.cancelled", "shipment.received_at_centre",
    # dossiers: a result sent by post, with its carrier and tracking code (dossiers.service).
    "dossier.shipment_created",
)
MAX_ATTEMPTS = 12
BACKOFF_SECONDS = 30


def signature(secret: str, timestamp: int, body: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, body: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},v1={signature(secret, ts, body)}"


def verify_header(secret: str, header: str, body: str, *, tolerance: int = 300, now: int | None = None) -> bool:
    """What a receiver does (also used by our tests): check the signature and that it is recent."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or int(time.time())) - ts) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, ts, body))


def _policy(settings: Settings | None) -> outbound.Policy:
    return outbound.Policy.from_settings(settings or jobs.settings())


def register_endpoint(session: Session, centre_id: int, url: str, *, events_: list[str] | None = None,
                      description: str | None = None, created_by: str | None = None,
                      settings: Settings | None = None) -> WebhookEndpoint:
    """Register `url` for the centre's events. The URL must lead to a public address (or one inside
    HCC_WEBHOOK_ALLOWED_NETWORKS): the service posts there, and must not be made to post inside its own network."""
    try:
        outbound.check_url(url, _policy(settings))
    except outbound.OutboundRefused as e:
        raise InvalidInput(f"the webhook URL is refused: {e}",
                           errors={"url": [f"URL không được chấp nhận: {e}"]}) from e
    chosen = events_ or ["*"]
    unknown = [e for e in chosen if e != "*" and e not in EVENTS]
    if unknown:
        raise InvalidInput(f"unknown events {unknown}", errors={"events": [f"Không có sự kiện: {unknown}"]})
    endpoint = WebhookEndpoint(centre_id=centre_id, url=url, secret=secrets.token_hex(32), events=chosen,
                               active=True, description=description, created_by=created_by, created_at=utcnow())
    session.add(endpoint)
    session.flush()
    return endpoint


def payment_payload(payment: Payment) -> dict:
    return {"id": payment.id, "code": payment.code, "dossier_code": payment.dossier_code, "status": payment.status,
            "amount": payment.amount, "paid_amount": payment.paid_amount,
            "refunded_amount": payment.refunded_amount, "channel": payment.channel,
            "paid_at": payment.paid_at.isoformat() if payment.paid_at else None}


def _enqueue_event(session: Session, name: str, payment_id: int, **_ignored) -> None:
    payment = session.get(Payment, payment_id)
    if payment is None:
        return
    publish(session, payment.centre_id, name, {"payment": payment_payload(payment)})


def publish(session: Session, centre_id: int, name: str, data: dict) -> None:
    """Queue event `name` with `data` for every endpoint of the centre that wants it (sent after commit).

    `data` goes to integrating systems as it is: ids, codes, statuses and amounts, never names,
    phones or addresses.
    """
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.centre_id == centre_id,
                                                              WebhookEndpoint.active.is_(True))).all()
    for endpoint in endpoints:
        if "*" not in endpoint.events and name not in endpoint.events:
            continue
        event_id = f"evt_{secrets.token_hex(12)}"
        body = json.dumps({"id": event_id, "type": name, "created_at": utcnow().isoformat(),
                           "data": data}, ensure_ascii=False, sort_keys=True)
        delivery = WebhookDelivery(endpoint_id=endpoint.id, event_id=event_id, event=name, body=body,
                                   status="pending", attempts=0, next_attempt_at=utcnow(), created_at=utcnow())
        session.add(delivery)
        session.flush()
        jobs.enqueue_after_commit(session, deliver_webhook, delivery.id)


@jobs.job(retries=0)
def deliver_webhook(delivery_id: int):
    """Send one delivery. Backoff is kept in the row (next_attempt_at), so a restart keeps the schedule; the
    sweep (fees.jobs) re-drives."""
    with jobs.session_scope() as session:
        done = deliver(session, delivery_id, timeout=jobs.settings().get_int("HCC_WEBHOOK_TIMEOUT", 10))
        next_at = None if done else session.get(WebhookDelivery, delivery_id).next_attempt_at
    if next_at is not None and not jobs.huey.immediate:
        deliver_webhook.schedule(args=(delivery_id,), delay=max(1.0, (next_at - utcnow()).total_seconds()))


def _subscribe(name: str) -> None:
    events.on(name)(lambda session, payment_id, _name=name, **data: _enqueue_event(session, _name, payment_id))


for _event in PAYMENT_EVENTS:
    _subscribe(_event)


def deliver(session: Session, delivery_id: int, *, timeout: int = 10, settings: Settings | None = None) -> bool:
    """Try one delivery; True when done (delivered or given up), False when it should be retried later.

    The URL is checked again now and the connection pinned to the checked address (core.outbound); a
    redirect is a failed attempt. A refused URL is never connected to: when the URL itself is at fault
    (scheme, user info, an internal address written in it) the delivery is given up at once, since no
    retry can change that; when DNS answered an internal address (or none), it is retried like an
    unreachable endpoint, since a DNS answer can change, and each retry is checked again.
    """
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.status != "pending":
        return True
    endpoint = delivery.endpoint
    delivery.attempts += 1
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "hcc-webhooks/1",
               "X-HCC-Event": delivery.event, "X-HCC-Event-Id": delivery.event_id,
               "X-HCC-Signature": signature_header(endpoint.secret, delivery.body)}
    try:
        resp = outbound.post(endpoint.url, policy=_policy(settings), data=delivery.body.encode("utf-8"),
                             headers=headers, timeout=timeout)
        delivery.last_status_code = resp.status_code
        ok = 200 <= resp.status_code < 300
        delivery.last_error = None if ok else f"HTTP {resp.status_code}"
    except outbound.OutboundRefused as e:
        ok = False
        delivery.last_status_code, delivery.last_error = None, f"refused: {e}"[:500]
        log.warning("webhook URL refused", extra={"delivery_id": delivery.id, "endpoint_id": endpoint.id,
                                                  "reason": str(e)})
        if e.permanent:
            delivery.status, delivery.next_attempt_at = "failed", None
            return True
    except requests.RequestException as e:
        ok = False
        delivery.last_error = e.__class__.__name__
    if ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
        return True
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = "failed", None
        log.warning("webhook delivery given up", extra={"delivery_id": delivery.id})
        return True
    delivery.next_attempt_at = utcnow() + timedelta(seconds=min(6 * 3600, BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)))
    return False


def due_deliveries(session: Session) -> list[int]:
    return list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                                                 WebhookDelivery.next_attempt_at <= utcnow())
                                .limit(200)))
