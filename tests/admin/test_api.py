"""/api/v1/admin: centres, units, fees, series, credentials, carrier accounts, province file, doctor; scoped."""

from __future__ import annotations

import base64
import io

from sqlalchemy import select, text

from province.models import CollectingUnit
from tests.admin.conftest import EXAMPLE, admin_key
from tests.factories import bearer, make_api_key


def test_a_centre_admin_sees_its_centre_and_the_units_served_there_only(client, session, province):
    key = admin_key(session, "TTPVHCC")

    centres = client.get("/api/v1/admin/centres", headers=bearer(key)).get_json()
    assert [c["code"] for c in centres] == ["TTPVHCC"] and centres[0]["units"] == ["SNNMT", "STP"]
    units = client.get("/api/v1/admin/units", headers=bearer(key)).get_json()
    assert [u["code"] for u in units] == ["SNNMT", "STP"]
    assert client.get("/api/v1/admin/units/STP", headers=bearer(key)).get_json()["tax_code"] == "2300245389"


def test_another_centres_unit_and_centre_answer_404_on_every_route(client, session, province):
    key = bearer(admin_key(session, "TTPVHCC"))
    for method, path, kwargs in [
        ("get", "/api/v1/admin/centres/PVHCC-KB", {}),
        ("get", "/api/v1/admin/centres/PVHCC-KB/carrier-accounts", {}),
        ("post", "/api/v1/admin/centres/PVHCC-KB/carrier-accounts", {"json": {"carrier": "ghn"}}),
        ("put", "/api/v1/admin/centres/PVHCC-KB/carrier-accounts/vnpost/token", {"json": {"value": "x"}}),
        ("get", "/api/v1/admin/units/UBND-KB", {}),
        ("get", "/api/v1/admin/units/UBND-KB/fees", {}),
        ("get", "/api/v1/admin/units/UBND-KB/fees/export", {}),
        ("get", "/api/v1/admin/units/UBND-KB/series", {}),
        ("post", "/api/v1/admin/units/UBND-KB/series", {"json": {"template": "EBL01", "symbol": "27T", "year": 2027}}),
        ("get", "/api/v1/admin/units/UBND-KB/credentials", {}),
        ("put", "/api/v1/admin/units/UBND-KB/credentials/vnpay_hash_secret", {"json": {"value": "x"}}),
    ]:
        response = getattr(client, method)(path, headers=key, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "Kinh Bắc" not in response.get_data(as_text=True)


def test_a_province_admin_sees_every_centre_and_unit(client, session, province):
    key = admin_key(session, "TTPVHCC", province_wide=True)
    codes = {c["code"] for c in client.get("/api/v1/admin/centres", headers=bearer(key)).get_json()}
    assert {"TTPVHCC", "PVHCC-KB"} <= codes
    units = {u["code"] for u in client.get("/api/v1/admin/units", headers=bearer(key)).get_json()}
    assert {"STP", "SNNMT", "UBND-KB"} <= units


def test_admin_routes_need_the_admin_role(client, session, province):
    key = make_api_key(session, roles=("cashier", "dispatcher", "finance"))
    assert client.get("/api/v1/admin/units", headers=bearer(key)).status_code == 403


def test_series_are_created_as_drafts_registered_and_closed(client, session, province):
    key = bearer(admin_key(session, "PVHCC-KB"))
    created = client.post("/api/v1/admin/units/UBND-KB/series", headers=key,
                          json={"template": "EBL01", "symbol": "27T", "year": 2027})
    assert created.status_code == 201 and created.get_json()["state"] == "draft"
    sid = created.get_json()["id"]
    again = client.post("/api/v1/admin/units/UBND-KB/series", headers=key,
                        json={"template": "EBL01", "symbol": "27T", "year": 2027})
    assert again.status_code == 409
    bad = client.post("/api/v1/admin/units/UBND-KB/series", headers=key,
                      json={"template": "EBL01", "symbol": "28T", "year": 2027})
    assert bad.status_code == 422 and "symbol" in bad.get_json()["errors"]

    registered = client.post(f"/api/v1/admin/units/UBND-KB/series/{sid}/register", headers=key,
                             json={"registered_on": "2026-12-01"})
    assert registered.get_json()["state"] == "registered"
    closed = client.post(f"/api/v1/admin/units/UBND-KB/series/{sid}/close", headers=key)
    assert closed.get_json()["state"] == "closed"
    assert client.post(f"/api/v1/admin/units/UBND-KB/series/{sid}/close", headers=key).status_code == 409
    # Another unit's series id under this unit's path is not found.
    other = session.execute(text("SELECT receipt_series.id FROM receipt_series JOIN collecting_unit u "
                                 "ON u.id = unit_id WHERE u.code = 'STP'")).scalars().first()
    assert client.post(f"/api/v1/admin/units/UBND-KB/series/{other}/close", headers=key).status_code == 404


def test_fees_import_reports_every_bad_line_and_writes_nothing(client, session, province):
    key = bearer(admin_key(session, "PVHCC-KB"))
    before = client.get("/api/v1/admin/units/UBND-KB/fees", headers=key).get_json()
    csv_ = ("code,procedure,name,kind,amount\nCT-MOI,2.000815,Phí mới,phi,5000\n"
            "CT-SAI,2.000815,Phí sai,phi,-1\n,2.000815,Không mã,phi,1000\n").encode()
    response = client.post("/api/v1/admin/units/UBND-KB/fees", headers=key,
                           data={"file": (io.BytesIO(csv_), "phi.csv")}, content_type="multipart/form-data")
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert "line 3" in errors and "line 4" in errors and "line 2" not in errors
    assert client.get("/api/v1/admin/units/UBND-KB/fees", headers=key).get_json() == before


def test_fees_import_and_export_round_trip(client, session, province):
    key = bearer(admin_key(session, "PVHCC-KB"))
    csv_ = "code,procedure,name,kind,amount\nCT-MOI,2.000815,Phí chứng thực mới,phi,5000\n".encode()
    response = client.post("/api/v1/admin/units/UBND-KB/fees", headers=key,
                           data={"file": (io.BytesIO(csv_), "phi.csv")}, content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["created"][0].startswith("CT-MOI")
    exported = client.get("/api/v1/admin/units/UBND-KB/fees/export?format=csv", headers=key)
    assert exported.mimetype == "text/csv" and "CT-MOI" in exported.get_data(as_text=True)
    xlsx = client.get("/api/v1/admin/units/UBND-KB/fees/export?format=xlsx", headers=key)
    assert xlsx.data[:2] == b"PK"


def test_a_secret_is_write_only_and_encrypted(client, session, province):
    key = bearer(admin_key(session, "TTPVHCC"))
    secret = "hash-secret-cua-vnpay-999"
    response = client.put("/api/v1/admin/units/STP/credentials/vnpay_hash_secret", headers=key, json={"value": secret})
    assert response.status_code == 200 and secret not in response.get_data(as_text=True)
    listing = client.get("/api/v1/admin/units/STP/credentials", headers=key)
    assert [c["name"] for c in listing.get_json()] == ["vnpay_hash_secret"]
    assert secret not in listing.get_data(as_text=True)
    assert secret not in session.execute(text("SELECT ciphertext FROM credential")).scalar_one()
    assert client.put("/api/v1/admin/units/STP/credentials/carrier_token", headers=key,
                      json={"value": "x"}).status_code == 404


def test_a_signing_file_shows_its_certificate_on_the_unit(client, session, province, signing_files):
    key = bearer(admin_key(session, "TTPVHCC"))
    p12 = base64.b64encode(signing_files.pkcs12.read_bytes()).decode()
    wrong = client.put("/api/v1/admin/units/STP/credentials/signing_pkcs12", headers=key,
                       json={"value": p12, "encoding": "base64", "password": "sai"})
    assert wrong.status_code == 422
    ok = client.put("/api/v1/admin/units/STP/credentials/signing_pkcs12", headers=key,
                    json={"value": p12, "encoding": "base64", "password": signing_files.password})
    assert ok.status_code == 200
    unit = client.get("/api/v1/admin/units/STP", headers=key).get_json()
    assert unit["signing_kind"] == "pkcs12" and unit["cert_subject"] and unit["cert_not_after"]


def test_carrier_accounts_and_their_masked_tokens(client, session, province):
    key = bearer(admin_key(session, "TTPVHCC"))
    put = client.put("/api/v1/admin/centres/TTPVHCC/carrier-accounts/vnpost/token", headers=key,
                     json={"value": "token-bi-mat"})
    assert put.status_code == 200
    accounts = client.get("/api/v1/admin/centres/TTPVHCC/carrier-accounts", headers=key)
    body = accounts.get_data(as_text=True)
    assert "token-bi-mat" not in body and accounts.get_json()[0]["token"]["hint"].startswith("•")
    created = client.post("/api/v1/admin/centres/TTPVHCC/carrier-accounts", headers=key,
                          json={"carrier": "ghn", "customer_code": "GHN-1"})
    assert created.status_code == 200 and created.get_json()["token"] is None


def test_the_province_file_exports_and_a_dry_run_import_writes_nothing(client, session, province):
    key = bearer(admin_key(session, "TTPVHCC", province_wide=True))
    exported = client.get("/api/v1/admin/province", headers=key)
    assert exported.status_code == 200 and {u["code"] for u in exported.get_json()["units"]} >= {"STP", "UBND-KB"}

    data = EXAMPLE.read_text(encoding="utf-8").replace("Sở Tư pháp tỉnh Bắc Ninh", "Sở Tư pháp Bắc Ninh")
    dry = client.post("/api/v1/admin/province?dry_run=true", headers={**key, "Content-Type": "application/yaml"},
                      data=data.encode())
    assert dry.status_code == 200 and dry.get_json()["changed"] and dry.get_json()["counts"]["units"]["updated"] == 1
    session.expire_all()
    assert session.scalar(select(CollectingUnit.name).where(CollectingUnit.code == "STP")) == "Sở Tư pháp tỉnh Bắc Ninh"

    same = client.post("/api/v1/admin/province", headers=key, json=exported.get_json())
    assert same.status_code == 200 and not same.get_json()["changed"]
    bad = client.post("/api/v1/admin/province", headers=key, json={"units": [{"code": "X"}], "centres": []})
    assert bad.status_code == 422 and any(k.startswith("units[0]") for k in bad.get_json()["errors"])


def test_only_a_province_admin_may_read_or_import_the_province_file(client, session, province):
    key = bearer(admin_key(session, "TTPVHCC"))
    assert client.get("/api/v1/admin/province", headers=key).status_code == 403
    assert client.post("/api/v1/admin/province", headers=key, json={"units": [], "centres": []}).status_code == 403


def test_doctor_lists_blockers_within_the_callers_scope(client, session, province):
    key = bearer(admin_key(session, "PVHCC-KB"))
    body = client.get("/api/v1/admin/doctor", headers=key).get_json()
    assert body["ready"] is False
    scopes = {b["scope"] for b in body["blockers"]}
    assert "deployment" in scopes and "unit UBND-KB" in scopes
    assert "unit STP" not in scopes and "centre TTPVHCC" not in scopes


def test_every_change_is_audited_under_the_callers_name_and_never_with_a_secret(client, session, province):
    from core.models import AuditLog

    key = bearer(admin_key(session, "TTPVHCC"))
    client.put("/api/v1/admin/units/STP/credentials/momo_access_key", headers=key, json={"value": "khoa-momo-bi-mat"})
    client.post("/api/v1/admin/centres/TTPVHCC/carrier-accounts", headers=key, json={"carrier": "ghn"})
    client.post("/api/v1/admin/units/STP/series", headers=key, json={"template": "EBL02", "symbol": "27T", "year": 2027})
    csv_ = "code,procedure,name,kind,amount\nLLTP-2,2.000488,Phí thử,phi,1000\n".encode()
    client.post("/api/v1/admin/units/STP/fees", headers=key, data={"file": (io.BytesIO(csv_), "phi.csv")},
                content_type="multipart/form-data")

    rows = session.scalars(select(AuditLog).where(AuditLog.actor_type == "api_client")).all()
    assert {"credential.set", "carrier_account.created", "series.created", "fee.created"} <= {r.action for r in rows}
    assert all("khoa-momo-bi-mat" not in repr((r.before, r.after)) for r in rows)


def test_a_unit_served_at_several_centres_is_changed_only_by_an_admin_of_all_of_them(client, session, province):
    # SNNMT is served at TTPVHCC and at the ward desk PVHCC-KB: the ward's admin sees it but may not close the
    # series or replace the key the provincial centre issues with.
    ward = bearer(admin_key(session, "PVHCC-KB"))
    assert client.get("/api/v1/admin/units/SNNMT", headers=ward).status_code == 200
    sid = session.execute(text("SELECT receipt_series.id FROM receipt_series JOIN collecting_unit u "
                               "ON u.id = unit_id WHERE u.code = 'SNNMT'")).scalars().first()
    for method, path, kwargs in (
            ("post", f"/api/v1/admin/units/SNNMT/series/{sid}/close", {}),
            ("post", "/api/v1/admin/units/SNNMT/series", {"json": {"template": "EBL01", "symbol": "27T",
                                                                    "year": 2027}}),
            ("put", "/api/v1/admin/units/SNNMT/credentials/momo_secret_key", {"json": {"value": "ke-gian"}})):
        refused = getattr(client, method)(path, headers=ward, **kwargs)
        assert refused.status_code == 403, (path, refused.get_json())
        assert "SNNMT" in refused.get_json()["detail"]
    assert session.execute(text("SELECT state FROM receipt_series WHERE id = :i"), {"i": sid}).scalar_one() != "closed"
    assert session.execute(text("SELECT count(*) FROM credential")).scalar_one() == 0
    # Its own unit, served only there, it changes; a province admin changes the shared one.
    assert client.post("/api/v1/admin/units/UBND-KB/series", headers=ward,
                       json={"template": "EBL01", "symbol": "27T", "year": 2027}).status_code == 201
    province_admin = bearer(admin_key(session, "TTPVHCC", province_wide=True))
    assert client.post(f"/api/v1/admin/units/SNNMT/series/{sid}/close", headers=province_admin).status_code == 200
