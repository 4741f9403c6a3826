"""The one-stop system's signed webhook: a good signature creates or updates the dossier; a bad signature, an
old timestamp and a replay of the same signed request are refused; everything is stored as it came."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from core.accounts import ensure_demo_centre
from core.models import InboundCallback
from dossiers import inbound
from dossiers.models import Dossier
from tests.dossiers.conftest import dossier_body

CODE = "000.00.01.H26-261201-0100"
URL = "/callbacks/onestop/DEMO-HN/dossiers"


@pytest.fixture
def secret(app, session):
    value = inbound.new_webhook_secret(session, app.extensions["hcc"].settings, ensure_demo_centre(session).id)
    session.commit()
    return value


def _body(**overrides) -> bytes:
    return json.dumps({"code": CODE, **dossier_body(delivery="desk", **overrides)}, ensure_ascii=False).encode()


def _post(client, body: bytes, header: str):
    return client.post(URL, data=body, content_type="application/json", headers={inbound.HEADER: header})


def _dossiers(session) -> int:
    return session.scalar(select(func.count()).select_from(Dossier).where(Dossier.code == CODE))


def test_a_signed_push_creates_then_updates_the_dossier(client, session, secret):
    body = _body()
    resp = _post(client, body, inbound.sign(secret, body))
    assert resp.status_code == 201 and resp.get_json()["created"] is True
    body = _body(status="result_ready")
    resp = _post(client, body, inbound.sign(secret, body))
    assert resp.status_code == 200 and resp.get_json()["status"] == "result_ready"
    assert _dossiers(session) == 1
    stored = session.scalars(select(InboundCallback).where(InboundCallback.source == "onestop")
                             .order_by(InboundCallback.id)).all()
    assert [c.outcome for c in stored] == ["accepted", "accepted"] and stored[-1].body == body.decode()


def test_a_bad_signature_is_refused_and_kept(client, session, secret):
    body = _body()
    forged = _post(client, body, inbound.sign("not-the-secret", body))
    assert forged.status_code == 401 and forged.mimetype == "application/problem+json"
    # The body changed after signing (a status pushed forward by someone in between).
    tampered = _post(client, _body(status="returned"), inbound.sign(secret, body))
    assert tampered.status_code == 401
    assert _post(client, body, "v1=abc").status_code == 401
    assert _dossiers(session) == 0
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "onestop")).all()
    assert outcomes == ["rejected"] * 3


def test_a_replay_and_a_stale_request_are_refused(client, session, secret):
    body = _body()
    header = inbound.sign(secret, body)
    assert _post(client, body, header).status_code == 201
    replay = _post(client, body, header)
    assert replay.status_code == 409 and "replay" in replay.get_json()["detail"]
    stale = _body(status="cancelled")
    old = _post(client, stale, inbound.sign(secret, stale, timestamp=int(time.time()) - 3600))
    assert old.status_code == 401
    assert session.scalar(select(Dossier.status).where(Dossier.code == CODE)) == "processing"


def test_a_centre_without_a_secret_or_an_unknown_centre_refuses_alike(client, session):
    body = _body()
    assert _post(client, body, inbound.sign("anything", body)).status_code == 401
    resp = client.post("/callbacks/onestop/KHONG-CO/dossiers", data=body, content_type="application/json",
                       headers={inbound.HEADER: inbound.sign("anything", body)})
    assert resp.status_code == 401


def test_an_invalid_dossier_is_refused_by_field(client, session, secret):
    body = _body(status="teleported")
    resp = _post(client, body, inbound.sign(secret, body))
    assert resp.status_code == 422 and "status" in resp.get_json()["errors"]


def test_a_result_ready_for_post_pushed_by_webhook_gets_its_shipment_once(client, session, secret):
    from postal.models import Shipment

    now = int(time.time())
    # The one-stop system sends "result ready" twice (each a new sending, a second apart: not a replay).
    for i, status in enumerate(("processing", "result_ready", "result_ready")):
        body = json.dumps({"code": CODE, **dossier_body(status=status)}, ensure_ascii=False).encode()
        assert _post(client, body, inbound.sign(secret, body, timestamp=now - 3 + i)).status_code in (200, 201)
    shipments = session.scalars(select(Shipment).where(Shipment.dossier_code == CODE)).all()
    assert len(shipments) == 1 and shipments[0].direction == "outbound"
    assert (shipments[0].recipient_name, shipments[0].ward_name) == ("Trần Thị Bình", "Phường Thanh Xuân")
    assert session.scalar(select(Dossier.result_shipment_id).where(Dossier.code == CODE)) == shipments[0].id


def test_the_secret_is_made_by_the_cli_printed_once_and_stored_encrypted(runner, client, session):
    from dossiers.models import DossierCentre

    result = runner.invoke(args=["dossiers", "webhook-secret", "DEMO-HN"])
    assert result.exit_code == 0, result.output
    value = result.output.strip()
    stored = session.get(DossierCentre, ensure_demo_centre(session).id).webhook_secret
    assert len(value) == 64 and value not in stored
    body = _body()
    assert _post(client, body, inbound.sign(value, body)).status_code == 201
    result = runner.invoke(args=["dossiers", "configure", "DEMO-HN", "--level", "district", "--carrier", "ghn"])
    assert result.exit_code == 0 and "level=district carrier=ghn" in result.output
