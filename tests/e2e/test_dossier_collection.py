"""End to end over real HTTP: a dossier collected by VNPost, from the one-stop system's request to the
centre's "received" and the one-stop system's webhook.

API request → pickup created at the VNPost sandbox in the background (a collection order, sendType 1,
the citizen as sender, the fee as the order's COD add-on) → sandbox time advanced until VNPost says
delivered (its signed webhooks reach /callbacks/vnpost) → the receiving desk confirms → the one-stop
system's receiver (a real HTTP endpoint here) gets `shipment.received_at_centre`, signed, with the
dossier and tracking codes.
"""

from __future__ import annotations

import json
import re

import requests

from carriers.sandbox import store_for
from fees.models import Payment
from tests.factories import bearer, make_api_key, make_user
from tests.postal.support import advance, shipment_body


def _get(http, url):
    resp = http.get(url, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_dossier_collected_by_vnpost_runs_from_request_to_received_at_centre(live_server, app, session,
                                                                                 one_stop):
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    hook = requests.post(f"{live_server}/api/v1/webhooks", json={"url": one_stop.url, "events": ["*"]},
                         headers=bearer(admin), timeout=30)
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    with requests.Session() as http:
        http.headers.update(bearer(make_api_key(session)))
        body = shipment_body(direction="inbound", carrier="vnpost", cod_amount=25_000,
                             dossier_code="000.00.01.H26-251202-0042")
        created = http.post(f"{live_server}/api/v1/shipments", json=body, timeout=30)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]

        shipment = _get(http, f"{live_server}/api/v1/shipments/{sid}")
        assert shipment["carrier"] == "vnpost" and shipment["direction"] == "inbound"
        assert shipment["tracking_code"] and shipment["pickup_window"] and shipment["status"] == "pending"
        # At the carrier: a collection order whose sender is the citizen, to the centre, with the fee.
        parcel = store_for(app.extensions["hcc"].settings).by_order("vnpost", shipment["code"])
        info = parcel.payload["informationOrder"]
        assert info["sendType"] == "1" and info["senderName"] == "Trần Thị Bình"
        assert info["receiverName"].startswith("Trung tâm") and parcel.cod_amount == 25_000
        payment = session.get(Payment, shipment["payment_id"])
        assert payment.amount == 25_000 and payment.allowed_channels == ["cod"]

        advance(live_server, "vnpost", 48)
        shipment = _get(http, f"{live_server}/api/v1/shipments/{sid}")
        assert shipment["status"] == "delivered" and shipment["received_at"] is None
        assert one_stop.events(secret, "shipment.received_at_centre") == []

        # The receiving desk: the dossier is listed; confirming it is one step with a confirmation.
        user = make_user(session, roles=("dispatcher",))
        with requests.Session() as desk:
            page = desk.get(f"{live_server}/staff/login", timeout=30).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            desk.post(f"{live_server}/staff/login", timeout=30,
                      data={"username": user.username, "password": "mật-khẩu-đủ-dài", "csrf_token": token})
            listing = desk.get(f"{live_server}/staff/dispatch/receiving", timeout=30).text
            assert "000.00.01.H26-251202-0042" in listing and "Hồ sơ đã đến trung tâm" in listing
            confirm = desk.get(f"{live_server}/staff/dispatch/receiving/{sid}", timeout=30).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', confirm).group(1)
            done = desk.post(f"{live_server}/staff/dispatch/receiving/{sid}", data={"csrf_token": token},
                             timeout=30)
            assert done.status_code == 200 and "đã đến trung tâm" in done.text

        shipment = _get(http, f"{live_server}/api/v1/shipments/{sid}")
        assert shipment["received_at"] and user.username in shipment["received_by"]
        again = http.post(f"{live_server}/api/v1/shipments/{sid}/received", json={}, timeout=30)
        assert again.status_code == 409  # recorded once

    (event,) = one_stop.events(secret, "shipment.received_at_centre")
    data = event["data"]["shipment"]
    assert data["tracking_code"] == shipment["tracking_code"]
    assert data["dossier_code"] == "000.00.01.H26-251202-0042" and data["received_at"]
    assert "Trần Thị Bình" not in json.dumps(event, ensure_ascii=False)
    # The carrier's own statuses reached the one-stop system too, before the centre's receipt.
    assert [e["type"] for e in (json.loads(b) for _h, b in one_stop.received)][-1] == "shipment.received_at_centre"
    assert one_stop.events(secret, "shipment.delivered")
