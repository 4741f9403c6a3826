"""The dossiers API: create-or-update by code, read back with its links, scoped to the caller's centres."""

from __future__ import annotations

from sqlalchemy import func, select

from dossiers.models import Dossier
from tests.dossiers.conftest import dossier_body
from tests.factories import bearer, make_api_key, make_centre
from tests.fees.factories import make_payment

CODE = "000.00.01.H26-261130-0007"


def test_the_same_push_twice_is_one_dossier(client, session):
    key = make_api_key(session)
    first = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk"), headers=bearer(key))
    assert first.status_code == 201, first.get_json()
    again = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk"), headers=bearer(key))
    assert again.status_code == 200
    assert session.scalar(select(func.count()).select_from(Dossier).where(Dossier.code == CODE)) == 1
    assert again.get_json()["status"] == "processing" and again.get_json()["level"] == "province"


def test_an_update_replaces_the_state_and_stamps_when_the_result_was_ready(client, session):
    key = make_api_key(session)
    client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk"), headers=bearer(key))
    ready = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk", status="result_ready",
                                                                     appointment_date="2026-12-10"),
                       headers=bearer(key))
    assert ready.status_code == 200
    shown = client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(key)).get_json()
    assert shown["status"] == "result_ready" and shown["appointment_date"] == "2026-12-10"
    assert shown["resolved_at"] and shown["returned_at"] is None
    assert shown["shipments"] == []  # a result at the desk is not posted


def test_the_dossier_shows_its_payments_and_whether_it_is_late(client, session):
    key = make_api_key(session)
    client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(
        delivery="desk", received_at="2025-03-03T08:00:00+07:00", appointment_date="2025-03-10"),
        headers=bearer(key))
    payment = make_payment(session, dossier_code=CODE)
    shown = client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(key)).get_json()
    assert shown["late"] is True  # not returned, and its appointment is long past
    assert [(p["code"], p["status"], p["amount"]) for p in shown["payments"]] == [(payment.code, "pending", 200_000)]
    assert shown["apologies"] == []


def test_another_centres_key_gets_404(client, session):
    key = make_api_key(session)
    assert client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk"),
                      headers=bearer(key)).status_code == 201
    other = make_centre(session, "HCC-BN")
    stranger = make_api_key(session, centre=other, name="Một cửa Bắc Ninh")
    resp = client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(stranger))
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    # Nor can it write into the other centre by naming it.
    resp = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk", centre_code="DEMO-HN"),
                      headers=bearer(stranger))
    assert resp.status_code == 404
    assert client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(key)).get_json()["citizen"]["name"] == "Trần Thị Bình"


def test_a_result_by_post_needs_an_address_that_resolves(client, session):
    key = make_api_key(session)
    resp = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(
        citizen={"address": {"street": "Số 1", "ward": "Phường Không Có Thật", "province": "Hà Nội"}}),
        headers=bearer(key))
    assert resp.status_code == 422 and "citizen.address.ward" in resp.get_json()["errors"]
    resp = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(citizen={"address": None}), headers=bearer(key))
    assert resp.status_code == 422 and "citizen.address.street" in resp.get_json()["errors"]


def test_a_unit_the_centre_does_not_serve_is_refused(client, session):
    key = make_api_key(session)
    resp = client.put(f"/api/v1/dossiers/{CODE}", json=dossier_body(delivery="desk", unit_code="KHONG-CO"),
                      headers=bearer(key))
    assert resp.status_code == 422 and "unit_code" in resp.get_json()["errors"]
