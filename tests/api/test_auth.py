"""Who may call what: API keys, staff sessions, roles, and refusals written to the audit log."""

from sqlalchemy import select

from core.models import AuditLog
from tests.factories import bearer, make_api_key, make_user, sign_in

ADDRESS = {"street": "12 Nguyễn Trãi", "ward": "Thanh Xuân", "province": "Hà Nội"}


def test_a_post_without_an_api_key_gets_401_problem_json(client):
    r = client.post("/api/v1/addresses/resolve", json=ADDRESS)
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json"
    assert r.json["status"] == 401 and r.json["type"].startswith("urn:hcc:problem:")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_or_malformed_key_gets_401(client, session):
    make_api_key(session)
    for header in ("Bearer hcc_deadbeef_nope", "Bearer nonsense", "Basic abc"):
        r = client.post("/api/v1/addresses/resolve", json=ADDRESS, headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.mimetype == "application/problem+json"


def test_a_valid_key_is_scoped_to_its_centre(client, session, centre):
    key = make_api_key(session, name="Hệ thống một cửa tỉnh")
    r = client.get("/api/v1/me", headers=bearer(key))
    assert r.status_code == 200
    assert r.json["kind"] == "api_client" and r.json["centre"]["code"] == centre.code


def test_an_api_client_without_the_role_gets_403_and_is_audited(client, session):
    key = make_api_key(session, roles=("dispatcher",))
    r = client.get("/api/v1/audit", headers=bearer(key))
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    rows = session.scalars(select(AuditLog).where(AuditLog.action == "auth.forbidden")).all()
    assert len(rows) == 1 and rows[0].actor_type == "api_client"
    assert "GET /api/v1/audit" in rows[0].detail


def test_a_staff_user_without_the_role_gets_403_on_a_page_and_is_audited(client, session):
    user = make_user(session, roles=("cashier",))
    assert sign_in(client, user.username).status_code == 302
    r = client.get("/staff/audit")
    assert r.status_code == 403
    assert "Bạn không có quyền" in r.get_data(as_text=True)
    row = session.scalars(select(AuditLog).where(AuditLog.action == "auth.forbidden")).one()
    assert row.actor_type == "user" and row.actor_id == str(user.id)


def test_a_staff_user_without_the_role_gets_403_on_the_api_too(client, session):
    user = make_user(session, roles=("cashier",))
    sign_in(client, user.username)
    r = client.get("/api/v1/audit")
    assert r.status_code == 403 and r.mimetype == "application/problem+json"


def test_an_admin_reads_the_audit_log_with_pagination(client, session):
    key = make_api_key(session, roles=("admin",))
    make_user(session, roles=("cashier",))
    r = client.get("/api/v1/audit?per_page=1", headers=bearer(key))
    assert r.status_code == 200
    assert r.json["per_page"] == 1 and len(r.json["items"]) == 1 and r.json["total"] >= 2


def test_pages_need_sign_in(client):
    r = client.get("/staff/")
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_wrong_password_is_refused_and_audited(client, session):
    user = make_user(session)
    r = sign_in(client, user.username, "sai-mật-khẩu")
    assert r.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in r.get_data(as_text=True)
    assert session.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed")).one()


def test_forms_need_a_csrf_token(client, session):
    user = make_user(session)
    r = client.post("/staff/login", data={"username": user.username, "password": "mật-khẩu-đủ-dài"})
    assert r.status_code == 400


def test_session_callers_of_the_api_need_csrf_on_posts(client, session):
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    assert client.post("/api/v1/addresses/resolve", json=ADDRESS).status_code == 400


def test_a_user_name_with_a_nul_byte_is_a_failed_sign_in_not_a_500(client, session):
    # SQLite stores NUL; PostgreSQL refuses it, which was a 500 on the sign-in form.
    r = sign_in(client, "admin\x00")
    assert r.status_code == 401
    assert session.scalars(select(AuditLog).where(AuditLog.action == "auth.login_failed")).one().detail == "username=admin"
