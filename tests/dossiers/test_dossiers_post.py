"""A result by post without retyping, over real HTTP: the one-stop system pushes a dossier whose citizen chose
post, then marks it ready; the shipment is created at the carrier's sandbox from the dossier's address with no
further call, and the one-stop system's webhook receiver gets the tracking code (signed, without the citizen's
details). Pushing `result_ready` again creates nothing more."""

from __future__ import annotations

import json

import requests
from sqlalchemy import select

from carriers.sandbox import store_for
from core.accounts import ensure_demo_centre
from dossiers.models import Dossier
from dossiers.service import configure_centre
from postal.models import Shipment
from tests.dossiers.conftest import dossier_body
from tests.factories import bearer, make_api_key
from tests.postal.support import advance

CODE = "000.00.01.H26-261130-0042"


def _put(http, live_server, **overrides):
    resp = http.put(f"{live_server}/api/v1/dossiers/{CODE}", json=dossier_body(**overrides), timeout=30)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def test_a_result_ready_for_post_is_shipped_and_its_tracking_code_reaches_the_one_stop_system(
        live_server, app, session, one_stop):
    settings = app.extensions["hcc"].settings
    configure_centre(session, ensure_demo_centre(session), carrier="ghn", service="2")
    session.commit()
    admin = make_api_key(session, roles=("admin",), name="Quản trị")
    hook = requests.post(f"{live_server}/api/v1/webhooks", json={"url": one_stop.url,
                                                                 "events": ["dossier.shipment_created"]},
                         headers=bearer(admin), timeout=30)
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    with requests.Session() as http:
        http.headers.update(bearer(make_api_key(session)))
        assert _put(http, live_server)["shipments"] == []  # still being processed: nothing to send
        ready = _put(http, live_server, status="result_ready")
        (shipment,) = ready["shipments"]
        assert shipment["direction"] == "outbound" and shipment["carrier"] == "ghn" and shipment["tracking_code"]

        # At the carrier: one parcel under our code, addressed from the dossier, with the centre's service.
        parcel = store_for(settings).by_order("ghn", shipment["code"])
        assert parcel is not None and parcel.tracking_code == shipment["tracking_code"]
        sent = json.dumps(parcel.payload, ensure_ascii=False)
        assert "Trần Thị Bình" in sent and "0912345678" in sent and parcel.payload["service_type_id"] == 2

        # The same push again (the one-stop system retries): still one shipment, one parcel, one announcement.
        again = _put(http, live_server, status="result_ready")
        assert [s["id"] for s in again["shipments"]] == [shipment["id"]]
        assert store_for(settings).count("ghn", shipment["code"]) == 1

    (event,) = one_stop.events(secret, "dossier.shipment_created")
    assert event["data"]["dossier"]["code"] == CODE
    assert event["data"]["shipment"]["tracking_code"] == shipment["tracking_code"]
    assert event["data"]["shipment"]["carrier"] == "ghn"
    assert "Trần Thị Bình" not in json.dumps(event, ensure_ascii=False)

    # Delivered by the postman: the dossier's result is returned, at the delivery time.
    advance(live_server, "ghn", 96)
    with requests.Session() as http:
        http.headers.update(bearer(make_api_key(session)))
        http.get(f"{live_server}/api/v1/shipments/{shipment['id']}", timeout=30)  # the sandbox reports in
        shown = http.get(f"{live_server}/api/v1/dossiers/{CODE}", timeout=30).json()
    assert shown["shipments"][0]["status"] == "delivered"
    assert shown["status"] == "returned" and shown["returned_at"]


def test_a_result_at_the_desk_is_not_posted(client, session):
    key = make_api_key(session)
    for status in ("processing", "result_ready"):
        resp = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk", status=status),
                          headers=bearer(key))
        assert resp.status_code in (200, 201)
    assert session.scalars(select(Shipment)).all() == []
    assert session.scalar(select(Dossier.result_shipment_id).where(Dossier.code == CODE)) is None


def test_two_pushes_of_result_ready_at_once_post_one_result(live_server, app, session):
    """The one-stop system's retry racing its first push (API and webhook at once): one shipment."""
    import threading

    configure_centre(session, ensure_demo_centre(session), carrier="ghn")
    session.commit()
    key = make_api_key(session)
    client = app.test_client()
    assert client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(), headers=bearer(key)).status_code == 201
    answers: list[int] = []
    barrier = threading.Barrier(3)

    def push():
        own = app.test_client()
        barrier.wait()
        answers.append(own.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(status="result_ready"),
                               headers=bearer(key)).status_code)

    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert answers == [200, 200, 200]
    session.expire_all()
    assert len(session.scalars(select(Shipment).where(Shipment.dossier_code == CODE)).all()) == 1
