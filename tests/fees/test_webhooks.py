"""Outbound webhooks: a registered system gets signed payment events, retried until it answers 2xx."""

import json

import pytest
import responses

from core import jobs
from fees import webhooks
from fees.models import WebhookDelivery
from tests.factories import bearer, make_api_key
from tests.fakedns import PUBLIC_ADDRESS, FakeDns
from tests.fees.factories import make_payment

HOOK = "https://motcua.example.gov.vn/hcc-events"


@pytest.fixture(autouse=True)
def motcua_dns(monkeypatch):
    """The one-stop system's name resolves to a public address (it is checked at registration and at send)."""
    return FakeDns(monkeypatch, {"motcua.example.gov.vn": PUBLIC_ADDRESS})


def hook_calls():
    """The requests sent to the one-stop system's hook (other systems a payment reaches, such as the tax
    authority's sandbox for the receipt, are not this test's subject)."""
    return [c for c in responses.calls if c.request.url == HOOK]


def register(client, session, events=None):
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    resp = client.post("/api/v1/webhooks", json={"url": HOOK, "events": events or ["payment.paid"]},
                       headers=bearer(admin))
    assert resp.status_code == 201
    return resp.get_json()["secret"], admin


@responses.activate
def test_a_paid_payment_is_announced_with_a_verifiable_signature(client, session):
    secret, admin = register(client, session)
    responses.post(HOOK, status=200)
    payment = make_payment(session)
    client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"}, headers=bearer(admin))
    assert len(hook_calls()) == 1
    sent = hook_calls()[0].request
    body = sent.body.decode() if isinstance(sent.body, bytes) else sent.body
    assert webhooks.verify_header(secret, sent.headers["X-HCC-Signature"], body)
    event = json.loads(body)
    assert event["type"] == "payment.paid" and event["data"]["payment"]["code"] == payment.code
    assert not webhooks.verify_header("another-secret", sent.headers["X-HCC-Signature"], body)


@responses.activate
def test_a_failing_endpoint_is_retried_by_the_sweep_until_it_answers(client, session, db):
    _secret, admin = register(client, session)
    responses.post(HOOK, status=503)
    payment = make_payment(session)
    client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"}, headers=bearer(admin))
    delivery = session.query(WebhookDelivery).one()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 503
    # Backoff: not due yet, the sweep leaves it alone.
    with db.session() as s:
        assert webhooks.due_deliveries(s) == []
    delivery.next_attempt_at = delivery.created_at
    session.commit()
    responses.replace(responses.POST, HOOK, status=204)
    jobs.sweep()
    session.expire_all()
    delivery = session.query(WebhookDelivery).one()
    assert delivery.status == "delivered" and delivery.attempts == 2
    first, second = hook_calls()[0].request, hook_calls()[1].request
    assert first.headers["X-HCC-Event-Id"] == second.headers["X-HCC-Event-Id"]  # the same event, at least once
