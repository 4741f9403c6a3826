"""A new API key and a webhook's signing secret are shown in the first answer only: an Idempotency-Key replay
answers null for them, and the database never holds them in clear (the replay store included)."""

from __future__ import annotations

from sqlalchemy import text

from core.accounts import DEMO_CENTRE_CODE
from tests.factories import bearer, make_api_key
from tests.fakedns import PUBLIC_ADDRESS, FakeDns


def _everything_stored(session) -> str:
    conn = session.connection()
    out = []
    for table in ("idempotency_record", "api_client", "audit_log", "webhook_endpoint"):
        out += [repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608
    return "\n".join(out)


def test_a_new_api_key_is_not_kept_for_replays_and_a_replay_does_not_show_it(client, session):
    admin = make_api_key(session, roles=("admin",))
    body = {"name": "Cổng dịch vụ công", "roles": ["cashier"], "centre_codes": [DEMO_CENTRE_CODE]}
    headers = {**bearer(admin), "Idempotency-Key": "tao-khoa-1"}
    first = client.post("/api/v1/admin/api-keys", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    key = first.get_json()["key"]
    assert key and client.get("/api/v1/me", headers=bearer(key)).status_code == 200

    again = client.post("/api/v1/admin/api-keys", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["key"] is None and again.get_json()["id"] == first.get_json()["id"]
    session.expire_all()
    assert key not in _everything_stored(session)
    assert key.split("_")[-1] not in _everything_stored(session)


def test_a_webhook_secret_is_not_kept_for_replays_and_a_replay_does_not_show_it(client, session, monkeypatch):
    FakeDns(monkeypatch, {"motcua.example.vn": PUBLIC_ADDRESS})
    admin = make_api_key(session, roles=("admin",))
    headers = {**bearer(admin), "Idempotency-Key": "webhook-1"}
    body = {"url": "https://motcua.example.vn/hcc-events", "events": ["payment.paid"]}
    first = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert first.status_code == 201, first.get_json()
    secret = first.get_json()["secret"]
    assert secret
    again = client.post("/api/v1/webhooks", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json()["secret"] is None
    session.expire_all()
    replays = "\n".join(repr(tuple(r)) for r in session.connection().execute(text("SELECT * FROM idempotency_record")))
    assert secret not in replays
