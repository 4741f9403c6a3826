"""Guessing is slow: sign-in locks accounts and throttles addresses; bad API keys, lookups and uploads get 429."""

import io

import pytest
from sqlalchemy import select

from api.cli import main
from core.models import AuditLog, User
from core.settings import Settings, SettingsError
from tests.factories import bearer, csrf_token, make_api_key, make_user, sign_in


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _locked(session, user) -> bool:
    session.expire_all()
    return session.get(User, user.id).locked_at is not None


def test_thirty_wrong_passwords_lock_the_account_even_from_many_addresses(client, session):
    user = make_user(session, username="thungan", roles=("cashier",))
    for i in range(30):
        assert sign_in(_from(client, f"10.0.0.{i + 1}"), "thungan", "đoán-mò-mật-khẩu").status_code == 401

    r = sign_in(_from(client, "10.0.1.1"), "thungan")  # the right password, from a fresh address
    assert r.status_code == 401
    # The same words as a wrong password: a guesser learns nothing about the lock.
    assert "Sai tên đăng nhập hoặc mật khẩu" in r.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302
    assert _locked(session, user)
    row = session.scalars(select(AuditLog).where(AuditLog.action == "user.locked")).one()
    assert row.entity_id == str(user.id) and "10 failed" in row.detail


def test_a_successful_sign_in_starts_the_failure_count_over(client, session):
    user = make_user(session, username="dieuphoi")
    for _round in range(2):
        for i in range(9):
            sign_in(_from(client, f"10.0.2.{i + 1}"), "dieuphoi", "sai")
        assert sign_in(_from(client, "10.0.3.1"), "dieuphoi").status_code == 302
        client.post("/staff/logout", data={"csrf_token": csrf_token(client, "/staff/")})
    assert not _locked(session, user)


def test_hcc_users_unlock_lets_the_user_sign_in_again_and_is_audited(client, runner, session, monkeypatch):
    import api.cli as cli

    # Only the unlock is under test; the embedded preparation is covered by the CLI tests.
    monkeypatch.setattr(cli, "prepare_embedded", lambda app: None)
    user = make_user(session, username="khoa")
    for i in range(10):
        sign_in(_from(client, f"10.0.4.{i + 1}"), "khoa", "sai")
    assert _locked(session, user)

    result = runner.invoke(main, ["users", "unlock", "khoa"])
    assert result.exit_code == 0, result.output
    assert not _locked(session, user)
    assert sign_in(_from(client, "10.0.5.1"), "khoa").status_code == 302
    row = session.scalars(select(AuditLog).where(AuditLog.action == "user.unlocked")).one()
    assert row.actor_type == "system" and row.before["failed_logins"] == 10


def test_an_administrator_unlocks_from_the_users_page(app, client, session):
    user = make_user(session, username="bikhoa", roles=("cashier",))
    admin = make_user(session, username="quantri", roles=("admin",))
    attacker = _from(app.test_client(), "10.0.6.1")
    for _ in range(10):
        sign_in(attacker, "bikhoa", "sai")

    sign_in(_from(client, "10.0.7.1"), admin.username)
    page = client.get("/staff/users").get_data(as_text=True)
    assert "Bị khoá từ" in page and "Mở khoá" in page
    r = client.post(f"/staff/users/{user.id}/unlock", data={"csrf_token": csrf_token(client, "/staff/users")})
    assert r.status_code == 302
    assert "Đã mở khoá tài khoản bikhoa" in client.get("/staff/users").get_data(as_text=True)
    assert not _locked(session, user)
    row = session.scalars(select(AuditLog).where(AuditLog.action == "user.unlocked")).one()
    assert row.actor_name == "quantri"


def test_only_an_administrator_may_unlock(client, session):
    user = make_user(session, username="nguoikhac", roles=("cashier",))
    make_user(session, username="dieuphoi2", roles=("dispatcher",))
    sign_in(client, "dieuphoi2")
    r = client.post(f"/staff/users/{user.id}/unlock", data={"csrf_token": csrf_token(client, "/staff/")})
    assert r.status_code == 403


def test_many_failed_sign_ins_from_one_address_are_throttled(client, session):
    make_user(session, username="nhanvien")
    codes = [sign_in(client, f"khong-ton-tai-{i}", "sai").status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    r = sign_in(client, "nhanvien")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Vui lòng đợi" in r.get_data(as_text=True)
    # Another address is not held up by this one.
    assert sign_in(_from(client, "10.0.8.1"), "nhanvien").status_code == 302


def test_thirty_bad_api_keys_get_429_with_retry_after(client, session):
    key = make_api_key(session)
    codes = [client.get("/api/v1/me", headers=bearer(f"hcc_deadbeef_{i}")).status_code for i in range(30)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    r = client.get("/api/v1/me", headers=bearer("hcc_deadbeef_more"))
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    assert r.json["status"] == 429 and r.json["type"] == "urn:hcc:problem:too-many-requests"
    # The guessing address waits even with a good key; others are served.
    assert client.get("/api/v1/me", headers=bearer(key)).status_code == 429
    assert _from(client, "10.0.9.1").get("/api/v1/me", headers=bearer(key)).status_code == 200


def test_a_good_api_key_is_not_throttled_by_its_own_traffic(client, session):
    key = make_api_key(session)
    assert all(client.get("/api/v1/me", headers=bearer(key)).status_code == 200 for _ in range(40))


def test_a_flood_of_receipt_lookups_gets_429(client):
    codes = [client.get(f"/r/KHONGCO{i:04d}").status_code for i in range(31)]
    assert codes[:30] == [404] * 30 and codes[30] == 429
    r = client.get("/r/KHONGCO9999")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "Bạn đã thao tác quá nhiều lần" in r.get_data(as_text=True)


def test_a_flood_of_verification_uploads_gets_429(client):
    codes = []
    for _ in range(11):
        r = client.post("/api/v1/receipts/verify", data={"file": (io.BytesIO(b"%PDF-1.7 not really"), "x.pdf")},
                        content_type="multipart/form-data")
        codes.append(r.status_code)
    assert 429 not in codes[:10] and codes[10] == 429
    assert r.mimetype == "application/problem+json" and "Retry-After" in r.headers


def test_a_flood_of_pay_page_views_gets_429(client):
    codes = [client.get(f"/pay/KHONGCO{i:04d}").status_code for i in range(61)]
    assert codes[:60] == [404] * 60 and codes[60] == 429


def test_limits_are_settings(app, client):
    app.extensions["hcc"].settings.extra["HCC_RATELIMIT_API_KEY_FAILURES"] = "2 per minute"
    codes = [client.get("/api/v1/me", headers=bearer(f"hcc_deadbeef_{i}")).status_code for i in range(3)]
    assert codes == [401, 401, 429]


def test_production_refuses_in_memory_throttling(settings, monkeypatch):
    from api import create_app

    monkeypatch.setattr(Settings, "check_production", lambda self: None)
    settings.env = "production"
    with pytest.raises(SettingsError, match="HCC_RATELIMIT_STORAGE_URL"):
        create_app({"settings": settings})
