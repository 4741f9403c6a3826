"""End to end in the embedded default: shipments go through the sandbox carriers over real HTTP."""

from __future__ import annotations

import pytest
import requests

from core.jobs import sweep
from fees.models import Payment
from postal.jobs import create_at_carrier, poll_tracking, redrive_creation
from postal.models import Shipment
from tests.factories import bearer, make_api_key
from tests.postal.support import advance, parcels_at_carrier, set_faults, shipment_body


def _api(live_server, session):
    http = requests.Session()
    http.headers.update(bearer(make_api_key(session)))
    http.base = live_server
    return http


def _get(http, path):
    resp = http.get(f"{http.base}{path}", timeout=30)
    assert resp.status_code == 200, resp.text
    return resp


def test_a_result_sent_by_ghn_is_delivered_with_its_label_and_tracking_page(live_server, session):
    with _api(live_server, session) as http:
        created = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(carrier="ghn"), timeout=30)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        assert created.json()["status"] == "pending"

        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        assert shipment["tracking_code"]
        assert shipment["choice"] and shipment["rates"], "rates were compared and the choice recorded"
        label = _get(http, f"/api/v1/shipments/{sid}/label")
        assert label.headers["Content-Type"] == "application/pdf" and label.content.startswith(b"%PDF")

        advance(live_server, "ghn", 30)
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        assert shipment["status"] == "delivered"
        assert [e["status"] for e in shipment["events"] if e["applied"]] == [
            "picked_up", "in_transit", "out_for_delivery", "delivered"]

        page = requests.get(f"{live_server}/t/{shipment['code']}", timeout=30)
        assert page.status_code == 200 and "Đã phát thành công" in page.text
        assert "Trần Thị Bình" not in page.text  # the public page shows no name


def test_a_cod_result_by_viettel_post_makes_its_payment_paid_and_issues_a_receipt(live_server, session):
    with _api(live_server, session) as http:
        body = shipment_body(carrier="viettelpost", cod_amount=150_000)
        sid = http.post(f"{live_server}/api/v1/shipments", json=body, timeout=30).json()["id"]
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        payment = session.get(Payment, shipment["payment_id"])
        assert payment.status == "pending" and payment.allowed_channels == ["cod"] and payment.amount == 150_000

        advance(live_server, "viettelpost", 30)
        assert _get(http, f"/api/v1/shipments/{sid}").json()["status"] == "delivered"
        session.expire_all()
        payment = session.get(Payment, shipment["payment_id"])
        assert payment.status == "paid" and payment.paid_amount == 150_000 and payment.channel == "cod"
        from receipts.issuance import receipt_id_for_payment

        assert receipt_id_for_payment(session, payment.id) is not None


def test_a_returned_vnpost_parcel_cancels_its_cod_payment(live_server, session):
    with _api(live_server, session) as http:
        body = shipment_body(carrier="vnpost", cod_amount=50_000, note="[sandbox:return]")
        sid = http.post(f"{live_server}/api/v1/shipments", json=body, timeout=30).json()["id"]
        assert _get(http, f"/api/v1/shipments/{sid}").json()["tracking_code"]

        advance(live_server, "vnpost", 60)
        sweep()  # VNPost has no webhooks: its tracking feed is polled
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        assert shipment["status"] == "returned"
        assert "delivery_failed" in [e["status"] for e in shipment["events"]]
        session.expire_all()
        assert session.get(Payment, shipment["payment_id"]).status == "cancelled"


def test_a_carrier_that_times_out_after_creating_keeps_exactly_one_parcel(live_server, app, db, session):
    app.extensions["hcc"].settings.extra["HCC_CARRIER_TIMEOUT"] = "0.5"
    set_faults(live_server, "ghn", slow_create=1.5)
    with _api(live_server, session) as http:
        sid = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(carrier="ghn"), timeout=30).json()["id"]
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code is None and "Timeout" in (shipment.last_error or "")
    assert parcels_at_carrier(live_server, "ghn", shipment.code) == 1  # the carrier did create it

    set_faults(live_server, "ghn", slow_create=0)
    create_at_carrier(sid)  # the retry looks the order up by our code before creating
    session.expire_all()
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code
    assert parcels_at_carrier(live_server, "ghn", shipment.code) == 1


def test_a_carrier_without_look_up_answers_the_retry_with_the_existing_order(live_server, app, session):
    app.extensions["hcc"].settings.extra["HCC_CARRIER_TIMEOUT"] = "0.5"
    set_faults(live_server, "viettelpost", slow_create=1.5)
    with _api(live_server, session) as http:
        body = shipment_body(carrier="viettelpost")
        sid = http.post(f"{live_server}/api/v1/shipments", json=body, timeout=30).json()["id"]
    shipment = session.get(Shipment, sid)
    # The first attempt timed out after Viettel Post made the order: otherwise this proves nothing.
    assert shipment.tracking_code is None and "Timeout" in (shipment.last_error or "")
    assert parcels_at_carrier(live_server, "viettelpost", shipment.code) == 1
    set_faults(live_server, "viettelpost", slow_create=0)
    create_at_carrier(sid)
    session.expire_all()
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code
    assert parcels_at_carrier(live_server, "viettelpost", shipment.code) == 1


def test_a_carrier_that_is_down_delays_creation_and_never_loses_it(live_server, db, session):
    set_faults(live_server, "vnpost", down=50)
    with _api(live_server, session) as http:
        sid = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(carrier="vnpost"), timeout=30).json()["id"]
    shipment = session.get(Shipment, sid)
    assert shipment.status == "pending" and shipment.tracking_code is None and "503" in shipment.last_error

    with db.session() as s:  # still down: the sweep tries again and waits
        from datetime import timedelta

        assert redrive_creation(s, min_age=timedelta(0)) == 1
    session.expire_all()
    assert session.get(Shipment, sid).tracking_code is None

    set_faults(live_server, "vnpost", down=0)
    with db.session() as s:
        redrive_creation(s, min_age=timedelta(0))
    session.expire_all()
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code and shipment.label_fetched_at is not None
    assert parcels_at_carrier(live_server, "vnpost", shipment.code) == 1
    with db.session() as s:
        poll_tracking(s)


def test_auto_picks_the_cheapest_quote_and_records_why(live_server, session):
    with _api(live_server, session) as http:
        sid = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(carrier="auto"), timeout=30).json()["id"]
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
    cheapest = min(shipment["rates"], key=lambda r: r["fee"])
    assert {r["carrier"] for r in shipment["rates"]} == {"vnpost", "viettelpost", "ghn"}
    assert (shipment["carrier"], shipment["service"]) == (cheapest["carrier"], cheapest["service"])
    assert "rẻ nhất" in shipment["choice"] and shipment["tracking_code"]


@pytest.mark.parametrize("carrier", ["ghn", "viettelpost"])
def test_a_dossier_pickup_is_requested_and_tracked_until_it_reaches_the_centre(live_server, app, session, carrier):
    from carriers.sandbox import store_for

    with _api(live_server, session) as http:
        sid = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(direction="inbound", carrier=carrier),
                        timeout=30).json()["id"]
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        assert shipment["tracking_code"] and shipment["pickup_window"] and shipment["status"] == "pending"
        parcel = store_for(app.extensions["hcc"].settings).by_order(carrier, shipment["code"])
        sender, receiver, cod = {"ghn": ("from_name", "to_name", "cod_amount"),
                                 "viettelpost": ("SENDER_FULLNAME", "RECEIVER_FULLNAME", "MONEY_COLLECTION")}[carrier]
        assert parcel.payload[sender] == "Trần Thị Bình" and parcel.payload[receiver].startswith("Trung tâm")
        assert parcel.payload[cod] == 0 and shipment["payment_id"] is None

        advance(live_server, carrier, 30)
        shipment = _get(http, f"/api/v1/shipments/{sid}").json()
        assert shipment["status"] == "delivered"  # the dossier is at the centre
        assert [e["status"] for e in shipment["events"] if e["applied"]][0] == "picked_up"


def test_two_workers_creating_the_same_shipment_make_one_parcel(live_server, session):
    import threading

    set_faults(live_server, "ghn", down=2)  # the first attempt fails: the shipment waits, uncreated
    with _api(live_server, session) as http:
        sid = http.post(f"{live_server}/api/v1/shipments", json=shipment_body(carrier="ghn"), timeout=30).json()["id"]
    assert session.get(Shipment, sid).tracking_code is None
    set_faults(live_server, "ghn", down=0, slow_create=0.3)  # slow enough for the two to overlap

    workers = [threading.Thread(target=create_at_carrier, args=(sid,)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    session.expire_all()
    shipment = session.get(Shipment, sid)
    assert shipment.tracking_code
    assert parcels_at_carrier(live_server, "ghn", shipment.code) == 1
