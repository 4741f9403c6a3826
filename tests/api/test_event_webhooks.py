"""Integrating systems hear of receipts and parcels too, signed like payment events, without PII."""

import json

import pytest
import responses

from core import audit
from fees import webhooks
from postal.shipments import transition as ship_transition
from tests.factories import bearer, make_api_key
from tests.fakedns import PUBLIC_ADDRESS, FakeDns
from tests.postal.factories import make_shipment
from tests.receipts.factories import paid_payment

HOOK = "https://motcua.example.gov.vn/hcc-events"


@pytest.fixture(autouse=True)
def motcua_dns(monkeypatch):
    """The one-stop system's name resolves to a public address (it is checked at registration and at send)."""
    return FakeDns(monkeypatch, {"motcua.example.gov.vn": PUBLIC_ADDRESS})


def register(client, session, events):
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    resp = client.post("/api/v1/webhooks", json={"url": HOOK, "events": events}, headers=bearer(admin))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["secret"]


def sent_events(secret):
    out = []
    for call in responses.calls:
        if call.request.url != HOOK:
            continue
        body = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
        assert webhooks.verify_header(secret, call.request.headers["X-HCC-Signature"], body)
        out.append(json.loads(body))
    return out


@responses.activate
def test_an_issued_receipt_is_announced(client, session):
    secret = register(client, session, ["receipt.issued"])
    responses.post(HOOK, status=200)
    payment = paid_payment(session)
    events = sent_events(secret)
    assert [e["type"] for e in events] == ["receipt.issued"]
    receipt = events[0]["data"]["receipt"]
    assert receipt["payment_id"] == payment.id and receipt["status"] == "issued" and len(receipt["sha256"]) == 64


@responses.activate
def test_a_parcel_status_change_is_announced_without_the_recipients_details(client, session, settings):
    secret = register(client, session, ["shipment.picked_up"])
    responses.post(HOOK, status=200)
    shipment = make_shipment(session, settings)
    ship_transition(session, shipment, "picked_up", actor=audit.SYSTEM)
    session.commit()
    events = sent_events(secret)
    assert [e["type"] for e in events] == ["shipment.picked_up"]
    body = json.dumps(events[0], ensure_ascii=False)
    assert events[0]["data"]["shipment"]["code"] == shipment.code
    assert "Trần Thị Bình" not in body and "0912345678" not in body and "Nguyễn Trãi" not in body


def test_unknown_event_names_are_refused(client, session):
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    resp = client.post("/api/v1/webhooks", json={"url": HOOK, "events": ["shipment.teleported"]},
                       headers=bearer(admin))
    assert resp.status_code == 422
