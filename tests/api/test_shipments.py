"""The shipments API as the one-stop system uses it: create, read, validate, roles, batches."""

from __future__ import annotations

from postal.models import Shipment
from tests.factories import bearer, make_api_key
from tests.postal.support import shipment_body


def test_a_shipment_is_created_with_its_id_and_status(client, session):
    key = make_api_key(session)
    resp = client.post("/api/v1/shipments", json=shipment_body(cod_amount=80_000), headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "pending" and body["id"] and body["cod_amount"] == 80_000 and body["payment_id"]
    assert body["tracking_url"].endswith(f"/t/{body['code']}")
    shipment = session.get(Shipment, body["id"])
    assert (shipment.ward_name, shipment.province_name) == ("Phường Thanh Xuân", "Thành phố Hà Nội")
    got = client.get(f"/api/v1/shipments/{body['id']}", headers=bearer(key)).get_json()
    assert got["events"] == [] and got["status"] == "pending"


def test_names_without_diacritics_resolve_too(client, session):
    key = make_api_key(session)
    body = shipment_body(recipient={"name": "Tran Thi Binh", "phone": "0912345678",
                                    "address": {"street": "12 Nguyen Trai", "ward": "thanh xuan", "province": "ha noi"}})
    assert client.post("/api/v1/shipments", json=body, headers=bearer(key)).status_code == 201


def test_bad_input_names_every_field(client, session):
    key = make_api_key(session)
    resp = client.post("/api/v1/shipments", headers=bearer(key), json=shipment_body(
        weight_grams=0, carrier="dhl", cod_amount=-5))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert {"weight_grams", "carrier", "cod_amount"} <= set(resp.get_json()["errors"])
    resp = client.post("/api/v1/shipments", headers=bearer(key), json=shipment_body(
        recipient={"name": "A", "phone": "0912345678", "address": {"street": "1", "ward": "Nowhere", "province": "Hà Nội"}}))
    assert resp.status_code == 422 and "recipient.address.ward" in resp.get_json()["errors"]
    assert session.query(Shipment).count() == 0


def test_only_dispatchers_send_parcels(client, session):
    cashier = make_api_key(session, roles=("cashier",))
    assert client.post("/api/v1/shipments", json=shipment_body(), headers=bearer(cashier)).status_code == 403
    assert client.post("/api/v1/shipments", json=shipment_body()).status_code == 401


def test_the_same_idempotency_key_gives_the_same_shipment(client, session):
    key = make_api_key(session)
    headers = {**bearer(key), "Idempotency-Key": "ho-so-0001"}
    first = client.post("/api/v1/shipments", json=shipment_body(), headers=headers)
    second = client.post("/api/v1/shipments", json=shipment_body(), headers=headers)
    assert first.get_json()["id"] == second.get_json()["id"] and session.query(Shipment).count() == 1


def test_no_label_until_the_carrier_made_one(client, session):
    key = make_api_key(session)
    sid = client.post("/api/v1/shipments", json=shipment_body(), headers=bearer(key)).get_json()["id"]
    assert client.get(f"/api/v1/shipments/{sid}/label", headers=bearer(key)).status_code == 404


def test_a_batch_needs_parcels_created_at_the_carrier(client, session):
    key = make_api_key(session)
    sid = client.post("/api/v1/shipments", json=shipment_body(), headers=bearer(key)).get_json()["id"]
    resp = client.post("/api/v1/shipments/batches", json={"shipment_ids": [sid]}, headers=bearer(key))
    assert resp.status_code == 422 and "chưa có mã vận đơn" in str(resp.get_json()["errors"])


def test_a_batch_gives_its_handover_list_and_labels(client, session):
    key = make_api_key(session)
    ids = []
    for n in range(2):
        sid = client.post("/api/v1/shipments", json=shipment_body(), headers=bearer(key)).get_json()["id"]
        s = session.get(Shipment, sid)
        s.tracking_code = f"G00000000{n}"
        ids.append(sid)
    session.commit()
    resp = client.post("/api/v1/shipments/batches", json={"shipment_ids": ids}, headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    handover = client.get(resp.get_json()["handover_url"], headers=bearer(key))
    assert handover.mimetype == "application/pdf" and handover.data.startswith(b"%PDF")
    labels = client.get(resp.get_json()["labels_url"], headers=bearer(key))
    assert labels.mimetype == "application/pdf"


def test_overdue_results_are_listed_with_their_letter_of_apology(app, client, session):
    from datetime import date

    from tests.postal.factories import make_shipment

    late = make_shipment(session, app.extensions["hcc"].settings, promised_date=date(2026, 1, 5))
    make_shipment(session, app.extensions["hcc"].settings, promised_date=date(2099, 1, 1))
    key = make_api_key(session)
    listed = client.get("/api/v1/shipments/overdue", headers=bearer(key)).get_json()
    assert [s["id"] for s in listed] == [late.id] and "events" not in listed[0]
    letter = client.get(f"/api/v1/shipments/{late.id}/apology.pdf", headers=bearer(key))
    assert letter.mimetype == "application/pdf" and letter.data.startswith(b"%PDF")


def test_ids_beyond_any_row_are_not_found_not_a_server_error(client, session):
    key = make_api_key(session)
    huge = 10**20
    for url in (f"/api/v1/shipments/{huge}", f"/api/v1/shipments/{huge}/label",
                f"/api/v1/shipments/batches/{huge}/handover.pdf"):
        assert client.get(url, headers=bearer(key)).status_code == 404, url
    resp = client.post("/api/v1/shipments/batches", json={"shipment_ids": [huge]}, headers=bearer(key))
    assert resp.status_code == 422
