"""Carrier webhooks: stored verbatim, a bad token refused and changing nothing, replays and old events ignored."""

from __future__ import annotations

import json

from sqlalchemy import select

from carriers.viettelpost.payloads import format_time
from core.models import InboundCallback
from postal.models import Shipment
from tests.postal.factories import T0, make_shipment

GHN_SECRET = "sandbox-ghn-webhook"
VTP_SECRET = "sandbox-vtp-webhook"


def ghn(s, status, hours, type_="switch_status", cod=0):
    from datetime import timedelta

    return {"Type": type_, "OrderCode": s.tracking_code, "ClientOrderCode": s.code, "Status": status,
            "Time": (T0 + timedelta(hours=hours)).isoformat(), "CODAmount": cod, "ShopID": 885}


def vtp(s, code, hours, token=VTP_SECRET, cod=0):
    from datetime import timedelta

    return {"DATA": {"ORDER_NUMBER": s.tracking_code, "ORDER_REFERENCE": s.code, "ORDER_STATUS": code,
                     "ORDER_STATUSDATE": format_time(T0 + timedelta(hours=hours)), "STATUS_NAME": "",
                     "MONEY_COLLECTION": cod}, "TOKEN": token}


def test_a_ghn_webhook_with_a_bad_token_is_refused_and_changes_nothing(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    resp = client.post("/callbacks/ghn?token=guess", json=ghn(s, "delivered", 22))
    assert resp.status_code == 401
    session.expire_all()
    assert session.get(Shipment, s.id).status == "pending"
    stored = session.scalar(select(InboundCallback).where(InboundCallback.source == "ghn"))
    assert stored.outcome == "rejected" and json.loads(stored.body)["Status"] == "delivered"


def test_a_viettel_post_webhook_moves_the_shipment_and_a_replay_changes_nothing(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings, carrier="viettelpost", tracking_code="1000000001")
    assert client.post("/callbacks/viettelpost", json=vtp(s, 500, 20)).status_code == 200
    assert client.post("/callbacks/viettelpost", json=vtp(s, 500, 20)).status_code == 200
    assert client.post("/callbacks/viettelpost", json=vtp(s, 501, 22, token="forged")).status_code == 401
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert s.status == "out_for_delivery" and len(s.events) == 1
    outcomes = list(session.scalars(select(InboundCallback.outcome).order_by(InboundCallback.id)))
    assert outcomes == ["accepted", "duplicate", "rejected"]


def test_out_of_order_ghn_webhooks_never_move_a_shipment_back(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    for status, hours in (("delivering", 20), ("delivered", 22), ("transporting", 5), ("picked", 2)):
        assert client.post(f"/callbacks/ghn?token={GHN_SECRET}", json=ghn(s, status, hours)).status_code == 200
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert s.status == "delivered"
    assert [(e.carrier_status, e.applied) for e in s.events] == [
        ("delivering", True), ("delivered", True), ("transporting", False), ("picked", False)]


def test_a_webhook_for_an_order_we_do_not_know_is_answered_and_recorded(client, session):
    body = {"Type": "switch_status", "OrderCode": "GXXXX", "ClientOrderCode": "NOPE", "Status": "delivered",
            "Time": T0.isoformat()}
    assert client.post(f"/callbacks/ghn?token={GHN_SECRET}", json=body).status_code == 200
    assert session.scalar(select(InboundCallback.detail)) == "unknown order"


def test_malformed_webhook_bodies_are_refused_not_a_server_error(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    at = T0.isoformat()
    broken = [
        ("ghn", {"Type": "switch_status", "OrderCode": {"a": 1}, "Status": "delivered", "Time": at}),
        ("ghn", {"Type": "switch_status", "OrderCode": s.tracking_code, "Status": "delivered", "Time": at,
                 "CODAmount": "abc"}),
        ("ghn", {"Type": "switch_status", "OrderCode": s.tracking_code, "ClientOrderCode": [s.code],
                 "Status": "delivered", "Time": at}),
        ("viettelpost", {"DATA": {"ORDER_NUMBER": s.tracking_code, "ORDER_STATUS": 501, "MONEY_COLLECTION": "x",
                                  "ORDER_STATUSDATE": "20/11/2026 08:00:00"}, "TOKEN": VTP_SECRET}),
        ("viettelpost", {"DATA": {"ORDER_NUMBER": {"a": 1}, "ORDER_REFERENCE": [1], "ORDER_STATUS": 501,
                                  "ORDER_STATUSDATE": "20/11/2026 08:00:00"}, "TOKEN": VTP_SECRET}),
        ("viettelpost", {"DATA": "x", "TOKEN": VTP_SECRET}),
        ("viettelpost", {"DATA": {}, "TOKEN": [VTP_SECRET]}),
    ]
    for carrier, body in broken:
        resp = client.post(f"/callbacks/{carrier}?token={GHN_SECRET}", json=body)
        assert resp.status_code == 401, (body, resp.get_data(as_text=True))
    session.expire_all()
    assert session.get(Shipment, s.id).status == "pending"
    outcomes = set(session.scalars(select(InboundCallback.outcome)))
    assert outcomes == {"rejected"}


def test_an_event_for_another_parcel_under_our_order_number_changes_nothing(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    body = dict(ghn(s, "cancel", 3), OrderCode="G999999999")
    assert client.post(f"/callbacks/ghn?token={GHN_SECRET}", json=body).status_code == 200
    session.expire_all()
    assert session.get(Shipment, s.id).status == "pending"
    assert session.scalar(select(InboundCallback.detail)) == "unknown order"
