"""Dossier collection by post: the citizen's request, the pickup at the carrier, the fee on pickup, the
centre's receipt (API and receiving desk) recorded once beside the carrier's status, and the webhook."""

from __future__ import annotations

import json

import pytest
import responses
from sqlalchemy import select

from carriers import base
from carriers.base import Carrier, CarrierConfig, CreatedShipment
from core import audit
from core.models import AuditLog
from fees import webhooks
from fees.models import Payment
from postal.models import Shipment
from postal.shipments import apply_event
from tests.factories import bearer, csrf_token, make_api_key, make_centre, make_user, sign_in
from tests.fakedns import PUBLIC_ADDRESS, FakeDns
from tests.postal.factories import carrier_event
from tests.postal.support import shipment_body

HOOK = "https://motcua.example.gov.vn/hcc-events"
_CARRIER = audit.Actor(type="carrier", id="fakepost", name="fakepost")


class PickupCarrier(Carrier):
    """A carrier in memory that sends a postman to the citizen; records what it was asked."""

    has_webhooks = True
    has_pickup = True
    collects_fee_on_pickup = False
    requests: list = []

    def request_pickup(self, request):
        PickupCarrier.requests.append(request)
        return CreatedShipment(tracking_code=f"PK{len(PickupCarrier.requests):08d}", fee=18_000,
                               pickup_window="Ca lấy 03-12-2026 (7h00 - 12h00)")

    def get_label(self, tracking_code):
        raise base.NotSupported("no label")


@pytest.fixture
def pickup(app):
    base.register("fakepost", lambda settings: CarrierConfig(base_url="memory://fakepost"))(PickupCarrier)
    # The API names only real carriers: with none named, a pickup goes to the first that picks up.
    app.extensions["hcc"].settings.extra["HCC_POSTAL_CARRIERS"] = "fakepost,ghn"
    app.extensions["hcc"].settings.extra["HCC_POSTAL_DEFAULT_CARRIER"] = "fakepost"
    PickupCarrier.requests, PickupCarrier.collects_fee_on_pickup = [], False
    yield app.extensions["hcc"].settings
    base._REGISTRY.pop("fakepost", None)


@pytest.fixture
def motcua_dns(monkeypatch):
    return FakeDns(monkeypatch, {"motcua.example.gov.vn": PUBLIC_ADDRESS})


def _request(client, key, **overrides):
    body = shipment_body(direction="inbound", carrier=None, **overrides)
    return client.post("/api/v1/shipments", json=body, headers=bearer(key))


def _collected(client, session, key, **overrides) -> Shipment:
    resp = _request(client, key, **overrides)
    assert resp.status_code == 201, resp.get_json()
    session.expire_all()
    return session.get(Shipment, resp.get_json()["id"])


def _register_hook(client, session, events=("*",)) -> str:
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    resp = client.post("/api/v1/webhooks", json={"url": HOOK, "events": list(events)}, headers=bearer(admin))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["secret"]


def _sent(secret) -> list[dict]:
    out = []
    for call in responses.calls:
        if call.request.url != HOOK:
            continue
        body = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
        assert webhooks.verify_header(secret, call.request.headers["X-HCC-Signature"], body)
        out.append(json.loads(body))
    return out


def test_a_citizen_asks_and_the_carrier_is_sent_a_postman_to_their_address(client, session, pickup):
    key = make_api_key(session)
    s = _collected(client, session, key)
    assert s.direction == "inbound" and s.status == "pending" and s.tracking_code == "PK00000001"
    assert s.pickup_window == "Ca lấy 03-12-2026 (7h00 - 12h00)" and s.received_at is None
    (sent,) = PickupCarrier.requests
    assert sent.sender.name == "Trần Thị Bình" and sent.sender.ward_name == "Phường Thanh Xuân"
    assert sent.receiver.name == s.centre.name and sent.order_number == s.code
    assert s.payment_id is None and s.cod_amount == 0


def test_a_fee_on_pickup_becomes_a_cod_payment_when_the_carrier_collects_it(client, session, pickup):
    PickupCarrier.collects_fee_on_pickup = True
    s = _collected(client, session, make_api_key(session), cod_amount=35_000)
    payment = session.get(Payment, s.payment_id)
    assert s.cod_amount == 35_000 and payment.amount == 35_000 and payment.allowed_channels == ["cod"]
    assert payment.status == "pending" and s.dossier_code in payment.items[0].name


def test_a_fee_on_pickup_is_refused_where_no_one_would_collect_it(client, session, pickup):
    resp = _request(client, make_api_key(session), cod_amount=35_000)
    assert resp.status_code == 422 and "cod_amount" in resp.get_json()["errors"]
    assert session.query(Shipment).count() == 0 and session.query(Payment).count() == 0
    assert PickupCarrier.requests == []


@responses.activate
def test_the_centre_confirms_receipt_once_and_the_one_stop_system_hears_it(client, session, pickup, motcua_dns):
    secret = _register_hook(client, session)
    responses.post(HOOK, status=200)
    key = make_api_key(session)
    s = _collected(client, session, key)
    for status, hours in (("picked_up", 1), ("in_transit", 5), ("delivered", 20)):
        apply_event(session, s, carrier_event(status, hours=hours, tracking_code=s.tracking_code),
                    source="webhook", actor=_CARRIER)
    session.commit()
    assert s.status == "delivered" and s.received_at is None  # the carrier delivered; nobody confirmed yet

    resp = client.post(f"/api/v1/shipments/{s.id}/received", json={"note": "Đủ 3 bộ hồ sơ"}, headers=bearer(key))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["received_at"] and "Hệ thống một cửa" in body["received_by"] and body["status"] == "delivered"

    events = [e for e in _sent(secret) if e["type"] == "shipment.received_at_centre"]
    assert len(events) == 1
    shipment = events[0]["data"]["shipment"]
    assert (shipment["dossier_code"], shipment["tracking_code"]) == (s.dossier_code, "PK00000001")
    assert shipment["received_at"] and shipment["received_at"][:19] == body["received_at"][:19]
    assert "Trần Thị Bình" not in json.dumps(events[0], ensure_ascii=False)

    again = client.post(f"/api/v1/shipments/{s.id}/received", json={}, headers=bearer(key))
    assert again.status_code == 409
    assert len([e for e in _sent(secret) if e["type"] == "shipment.received_at_centre"]) == 1
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "shipment.received_at_centre")).all()
    assert len(audit) == 1 and audit[0].entity_id == str(s.id) and audit[0].detail == "Đủ 3 bộ hồ sơ"


def test_a_dossier_handed_over_before_the_carriers_scan_is_received_and_stays_received(client, session, pickup):
    key = make_api_key(session)
    s = _collected(client, session, key)
    apply_event(session, s, carrier_event("picked_up", hours=1, tracking_code=s.tracking_code), source="webhook",
                actor=_CARRIER)
    session.commit()
    assert client.post(f"/api/v1/shipments/{s.id}/received", json={}, headers=bearer(key)).status_code == 200
    apply_event(session, s, carrier_event("delivered", hours=9, tracking_code=s.tracking_code), source="webhook",
                actor=_CARRIER)
    session.commit()
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert s.status == "delivered" and s.received_at is not None


def test_only_a_dossier_coming_to_the_centre_can_be_received(client, session, pickup):
    key = make_api_key(session)
    result = client.post("/api/v1/shipments", json=shipment_body(carrier=None), headers=bearer(key)).get_json()
    assert client.post(f"/api/v1/shipments/{result['id']}/received", json={}, headers=bearer(key)).status_code == 409
    s = _collected(client, session, key)
    assert client.post(f"/api/v1/shipments/{s.id}/cancel", json={}, headers=bearer(key)).status_code == 200
    resp = client.post(f"/api/v1/shipments/{s.id}/received", json={}, headers=bearer(key))
    assert resp.status_code == 409 and session.get(Shipment, s.id).received_at is None


def test_another_centres_dossier_is_not_found(client, session, pickup):
    s = _collected(client, session, make_api_key(session))
    other = make_api_key(session, centre=make_centre(session, "BN-01"))
    assert client.post(f"/api/v1/shipments/{s.id}/received", json={}, headers=bearer(other)).status_code == 404
    session.expire_all()
    assert session.get(Shipment, s.id).received_at is None


def test_the_receiving_desk_lists_dossiers_on_their_way_and_records_who_received_one(client, session, pickup):
    key = make_api_key(session)
    waiting = _collected(client, session, key, dossier_code="H26-CHO-NHAN")
    not_yet = _collected(client, session, key, dossier_code="H26-CHUA-LAY")
    apply_event(session, waiting, carrier_event("delivered", hours=3, tracking_code=waiting.tracking_code),
                source="webhook", actor=_CARRIER)
    session.commit()
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    desk = client.get("/staff/dispatch/receiving").get_data(as_text=True)
    assert "H26-CHO-NHAN" in desk and "Hồ sơ đã đến trung tâm" in desk
    assert "H26-CHUA-LAY" not in desk  # the postman has not collected it yet

    confirm = client.get(f"/staff/dispatch/receiving/{waiting.id}").get_data(as_text=True)
    assert "Xác nhận đã nhận hồ sơ" in confirm and "Không thể huỷ xác nhận" in confirm
    assert client.post(f"/staff/dispatch/receiving/{waiting.id}", data={}).status_code in (400, 403)
    session.expire_all()
    assert session.get(Shipment, waiting.id).received_at is None  # no CSRF token, nothing recorded

    token = csrf_token(client, f"/staff/dispatch/receiving/{waiting.id}")
    done = client.post(f"/staff/dispatch/receiving/{waiting.id}", data={"csrf_token": token}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Đã ghi nhận hồ sơ H26-CHO-NHAN đã đến trung tâm" in page
    session.expire_all()
    received = session.get(Shipment, waiting.id)
    assert received.received_at is not None and user.username in received.received_by
    assert 'id="receiving-done"' in page and page.rfind("H26-CHO-NHAN") > page.index('id="receiving-done"')
    again = client.get(f"/staff/dispatch/receiving/{waiting.id}").get_data(as_text=True)
    assert 'id="confirm-received"' not in again and 'id="received-at"' in again
    assert session.get(Shipment, not_yet.id).received_at is None
    tracking = client.get(f"/t/{received.code}").get_data(as_text=True)  # the citizen's page says so too
    assert "Trung tâm đã nhận hồ sơ" in tracking and user.username not in tracking


def test_another_centres_dossier_is_not_on_the_desk_and_cannot_be_received_there(client, session, pickup):
    s = _collected(client, session, make_api_key(session))
    apply_event(session, s, carrier_event("delivered", hours=3, tracking_code=s.tracking_code), source="webhook",
                actor=_CARRIER)
    session.commit()
    stranger = make_user(session, roles=("dispatcher",), centre=make_centre(session, "BN-02"))
    sign_in(client, stranger.username)
    assert s.dossier_code not in client.get("/staff/dispatch/receiving").get_data(as_text=True)
    assert client.get(f"/staff/dispatch/receiving/{s.id}").status_code == 404
    token = csrf_token(client, "/staff/dispatch/receiving")
    assert client.post(f"/staff/dispatch/receiving/{s.id}", data={"csrf_token": token}).status_code == 404
    session.expire_all()
    assert session.get(Shipment, s.id).received_at is None


def test_the_desk_form_orders_a_pickup_with_its_fee(client, session, pickup):
    PickupCarrier.collects_fee_on_pickup = True
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    token = csrf_token(client, "/staff/dispatch/")
    assert "Nhận hồ sơ qua bưu chính" in client.get("/staff/dispatch/").get_data(as_text=True)  # in the menu
    resp = client.post("/staff/dispatch/shipments", data={
        "csrf_token": token, "dossier_code": "H26-QUAY", "direction": "inbound", "carrier": "fakepost",
        "name": "Trần Thị Bình", "phone": "0912345678", "street": "12 Nguyễn Trãi", "ward": "Thanh Xuân",
        "province": "Hà Nội", "weight_grams": "250", "cod_amount": "50.000"}, follow_redirects=True)
    assert "Đã tạo bưu gửi" in resp.get_data(as_text=True)
    s = session.scalars(select(Shipment)).one()
    assert (s.direction, s.cod_amount, s.tracking_code) == ("inbound", 50_000, "PK00000001")
    assert session.get(Payment, s.payment_id).amount == 50_000
