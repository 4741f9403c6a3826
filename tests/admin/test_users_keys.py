"""Staff users and API keys administered through the API and the pages, within the admin's centres."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from core.accounts import MAX_FAILED_LOGINS, authenticate_user
from core.clock import utcnow
from core.models import ApiClient, AuditLog, User
from tests.admin.conftest import admin_key, make_admin
from tests.factories import bearer, csrf_token, make_api_key, make_user, sign_in

USERS, KEYS = "/api/v1/admin/users", "/api/v1/admin/api-keys"
PASSWORD = "mật-khẩu-ban-đầu-1"


def _new_user(**over):
    return {"username": "thungan.tt", "full_name": "Trần Thị Thu", "email": "thu@hcc.example",
            "roles": ["cashier"], "centre_codes": ["TTPVHCC"], "password": PASSWORD, **over}


def _audit_text(session) -> str:
    rows = session.scalars(select(AuditLog)).all()
    return json.dumps([[r.action, r.before, r.after, r.detail] for r in rows], ensure_ascii=False, default=str)


def _can_sign_in(session, username: str, password: str) -> bool:
    """Whether the password opens the account; the check's bookkeeping is rolled back (the app writes next)."""
    ok = authenticate_user(session, username, password) is not None
    session.rollback()
    return ok


def _user_id(session, username: str) -> int:
    return session.scalar(select(User.id).where(User.username == username))


# ---- API: users -----------------------------------------------------------------------------------------


def test_an_admin_creates_a_user_who_can_sign_in_and_the_password_is_never_answered_nor_audited(
        client, session, province):
    key = admin_key(session, "TTPVHCC")
    created = client.post(USERS, json=_new_user(centre_codes=["TTPVHCC", "PVHCC-KB"]), headers=bearer(key))
    # PVHCC-KB is not the admin's: refused naming the field, nothing written.
    assert created.status_code == 422 and "centre_codes" in created.get_json()["errors"]
    assert _user_id(session, "thungan.tt") is None

    created = client.post(USERS, json=_new_user(), headers=bearer(key))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["centres"] == ["TTPVHCC"] and body["roles"] == ["cashier"] and body["active"] and not body["locked"]
    assert "password" not in body
    assert _can_sign_in(session, "thungan.tt", PASSWORD)
    assert PASSWORD not in _audit_text(session)
    assert session.scalar(select(AuditLog).where(AuditLog.action == "user.created")).actor_type == "api_client"

    again = client.post(USERS, json=_new_user(), headers=bearer(key))
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    short = client.post(USERS, json=_new_user(username="ngan", password="1234567"), headers=bearer(key))
    assert short.status_code == 422 and "password" in short.get_json()["errors"]


def test_an_admin_changes_roles_centres_and_active_and_every_change_is_audited(client, session, province):
    key = admin_key(session, "TTPVHCC", province_wide=True)
    user_id = client.post(USERS, json=_new_user(), headers=bearer(key)).get_json()["id"]
    changed = client.patch(f"{USERS}/{user_id}", headers=bearer(key),
                           json={"roles": ["cashier", "finance"], "centre_codes": ["PVHCC-KB", "TTPVHCC"]})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["centres"] == ["PVHCC-KB", "TTPVHCC"]
    assert changed.get_json()["home_centre"] == "PVHCC-KB"
    assert changed.get_json()["roles"] == ["cashier", "finance"]

    off = client.patch(f"{USERS}/{user_id}", json={"active": False}, headers=bearer(key))
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert not _can_sign_in(session, "thungan.tt", PASSWORD)
    actions = [a for (a,) in session.execute(select(AuditLog.action).where(AuditLog.entity_id == str(user_id)))]
    assert actions.count("user.updated") == 2 and "access.granted" in actions

    wide = client.patch(f"{USERS}/{user_id}", json={"province_wide": True}, headers=bearer(key))
    assert wide.status_code == 200 and wide.get_json()["province_wide"] is True


def test_an_admin_unlocks_a_locked_user(client, session, province):
    key = admin_key(session, "TTPVHCC")
    user_id = client.post(USERS, json=_new_user(), headers=bearer(key)).get_json()["id"]
    for _ in range(MAX_FAILED_LOGINS):
        authenticate_user(session, "thungan.tt", "sai-mật-khẩu")
    session.commit()
    assert client.get(f"{USERS}/{user_id}", headers=bearer(key)).get_json()["locked"] is True
    unlocked = client.post(f"{USERS}/{user_id}/unlock", headers=bearer(key))
    assert unlocked.status_code == 200 and unlocked.get_json()["locked"] is False
    assert _can_sign_in(session, "thungan.tt", PASSWORD)
    assert session.scalar(select(AuditLog).where(AuditLog.action == "user.unlocked")) is not None


def test_an_admin_cannot_remove_their_own_admin_role_nor_deactivate_themselves(client, session, province):
    username = make_admin(session, "TTPVHCC")
    sign_in(client, username)
    me = _user_id(session, username)
    headers = {"X-CSRFToken": csrf_token(client)}
    assert client.patch(f"{USERS}/{me}", json={"roles": ["cashier"]}, headers=headers).status_code == 409
    assert client.patch(f"{USERS}/{me}", json={"active": False}, headers=headers).status_code == 409
    assert client.patch(f"{USERS}/{me}", json={"roles": ["admin", "finance"]}, headers=headers).status_code == 200
    session.expire_all()
    assert session.get(User, me).active and "admin" in session.get(User, me).roles


def test_a_centre_admin_neither_sees_nor_manages_another_centres_user_and_cannot_grant_beyond_its_scope(
        client, session, province):
    from core.models import Centre

    kb = session.scalar(select(Centre).where(Centre.code == "PVHCC-KB"))
    tt = session.scalar(select(Centre).where(Centre.code == "TTPVHCC"))
    theirs = make_user(session, roles=("cashier",), username="canbo.kb", centre=kb)
    both = make_user(session, roles=("cashier",), username="canbo.hai", centre=tt, also=[kb])
    wide = make_user(session, roles=("finance",), username="ketoan.tinh", centre=tt, province_wide=True)
    mine = make_user(session, roles=("cashier",), username="canbo.tt", centre=tt)
    key = admin_key(session, "TTPVHCC")

    listed = {u["username"] for u in client.get(USERS, headers=bearer(key)).get_json()}
    assert "canbo.tt" in listed and not listed & {"canbo.kb", "canbo.hai", "ketoan.tinh"}
    for other in (theirs, both, wide):
        assert client.get(f"{USERS}/{other.id}", headers=bearer(key)).status_code == 404
        assert client.patch(f"{USERS}/{other.id}", json={"active": False}, headers=bearer(key)).status_code == 404
        assert client.post(f"{USERS}/{other.id}/unlock", headers=bearer(key)).status_code == 404
    session.expire_all()
    assert session.get(User, theirs.id).active

    beyond = client.patch(f"{USERS}/{mine.id}", json={"centre_codes": ["TTPVHCC", "PVHCC-KB"]}, headers=bearer(key))
    assert beyond.status_code == 422 and "centre_codes" in beyond.get_json()["errors"]
    province_wide = client.patch(f"{USERS}/{mine.id}", json={"province_wide": True}, headers=bearer(key))
    assert province_wide.status_code == 422 and "province_wide" in province_wide.get_json()["errors"]

    # A province admin manages them all.
    everyone = admin_key(session, "TTPVHCC", province_wide=True)
    listed = {u["username"] for u in client.get(USERS, headers=bearer(everyone)).get_json()}
    assert {"canbo.kb", "canbo.hai", "ketoan.tinh", "canbo.tt"} <= listed


# ---- API: keys ------------------------------------------------------------------------------------------


def test_a_created_key_is_shown_once_works_and_answers_401_once_revoked(client, session, province):
    admin = admin_key(session, "TTPVHCC")
    created = client.post(KEYS, json={"name": "Một cửa điện tử", "roles": ["cashier"], "centre_codes": ["TTPVHCC"]},
                          headers=bearer(admin))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    key, key_id = body["key"], body["id"]
    assert key.startswith(body["prefix"])
    row = session.get(ApiClient, key_id)
    assert key not in (row.key_hash, row.key_prefix)

    assert client.get("/api/v1/payments", headers=bearer(key)).status_code == 200
    one = client.get(f"{KEYS}/{key_id}", headers=bearer(admin)).get_json()
    assert "key" not in one and one["last_used_at"] is not None
    assert key not in client.get(KEYS, headers=bearer(admin)).get_data(as_text=True)
    assert key not in _audit_text(session)

    revoked = client.post(f"{KEYS}/{key_id}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.get_json()["active"] is False
    assert client.get("/api/v1/payments", headers=bearer(key)).status_code == 401
    assert session.scalar(select(AuditLog).where(AuditLog.action == "api_client.revoked")) is not None


def test_a_key_cannot_revoke_itself(client, session, province):
    admin = admin_key(session, "TTPVHCC")
    me = next(k for k in client.get(KEYS, headers=bearer(admin)).get_json() if k["roles"] == ["admin"])
    assert client.post(f"{KEYS}/{me['id']}/revoke", headers=bearer(admin)).status_code == 409


def test_a_centre_admin_neither_sees_nor_revokes_another_centres_key_nor_creates_one_beyond_its_scope(
        client, session, province):
    from core.models import Centre

    kb = session.scalar(select(Centre).where(Centre.code == "PVHCC-KB"))
    theirs = make_api_key(session, roles=("cashier",), name="Một cửa Kiến Bình", centre=kb)
    their_id = session.scalar(select(ApiClient.id).where(ApiClient.name == "Một cửa Kiến Bình"))
    admin = admin_key(session, "TTPVHCC")

    assert "Kiến Bình" not in client.get(KEYS, headers=bearer(admin)).get_data(as_text=True)
    assert client.get(f"{KEYS}/{their_id}", headers=bearer(admin)).status_code == 404
    assert client.post(f"{KEYS}/{their_id}/revoke", headers=bearer(admin)).status_code == 404
    assert client.get("/api/v1/payments", headers=bearer(theirs)).status_code == 200
    beyond = client.post(KEYS, json={"name": "Vượt phạm vi", "centre_codes": ["PVHCC-KB"]}, headers=bearer(admin))
    assert beyond.status_code == 422 and "centre_codes" in beyond.get_json()["errors"]
    wide = client.post(KEYS, json={"name": "Toàn tỉnh", "province_wide": True}, headers=bearer(admin))
    assert wide.status_code == 422 and "province_wide" in wide.get_json()["errors"]


# ---- pages ----------------------------------------------------------------------------------------------


def test_the_overview_links_the_users_and_keys_pages_in_vietnamese(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    overview = client.get("/staff/admin/").get_data(as_text=True)
    assert "/staff/admin/users" in overview and "/staff/admin/api-keys" in overview
    for path in ("/staff/admin/users", "/staff/admin/users/new", "/staff/admin/api-keys", "/staff/admin/api-keys/new"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'lang="vi"' in page.get_data(as_text=True) and "style=" not in page.get_data(as_text=True)
    assert "Người dùng cán bộ" in client.get("/staff/admin/users").get_data(as_text=True)
    assert "Khóa API" in client.get("/staff/admin/api-keys").get_data(as_text=True)


def test_pages_create_edit_and_unlock_a_user(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/users/new")
    assert client.post("/staff/admin/users/new", data={"username": "x"}).status_code == 400  # no CSRF token
    form = {"csrf_token": token, "username": "canbo.moi", "full_name": "Lê Văn Mới", "email": "",
            "password": PASSWORD, "roles": ["dispatcher"], "home_centre": "TTPVHCC"}
    short = client.post("/staff/admin/users/new", data={**form, "password": "ngắn"})
    assert short.status_code == 422 and 'id="form-errors"' in short.get_data(as_text=True)
    assert "ngắn" not in short.get_data(as_text=True)
    done = client.post("/staff/admin/users/new", data=form, follow_redirects=True)
    assert "Đã tạo người dùng canbo.moi" in done.get_data(as_text=True)
    user_id = _user_id(session, "canbo.moi")
    assert PASSWORD not in _audit_text(session)

    edit = client.get(f"/staff/admin/users/{user_id}")
    assert edit.status_code == 200 and "Lê Văn Mới" in edit.get_data(as_text=True)
    saved = client.post(f"/staff/admin/users/{user_id}", follow_redirects=True,
                        data={"csrf_token": token, "full_name": "Lê Văn Mới", "roles": ["dispatcher", "cashier"],
                              "home_centre": "TTPVHCC"})
    assert "Đã lưu người dùng canbo.moi" in saved.get_data(as_text=True)
    session.expire_all()
    user = session.get(User, user_id)
    assert user.roles == ["cashier", "dispatcher"] and user.active is False  # the box "active" left unticked

    user.locked_at, user.failed_logins, user.active = utcnow(), MAX_FAILED_LOGINS, True
    session.commit()
    listing = client.get("/staff/admin/users").get_data(as_text=True)
    assert "Bị khóa từ" in listing and f"/staff/admin/users/{user_id}/unlock" in listing
    client.post(f"/staff/admin/users/{user_id}/unlock", data={"csrf_token": token})
    session.expire_all()
    assert session.get(User, user_id).locked_at is None


def test_pages_create_a_key_shown_once_with_a_warning_then_revoke_it(client, session, province):
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/api-keys/new")
    created = client.post("/staff/admin/api-keys/new", data={"csrf_token": token, "name": "Cổng dịch vụ công",
                                                             "roles": ["cashier"], "home_centre": "TTPVHCC"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    assert "lần duy nhất" in page
    key = re.search(r'id="api-key">([^<]+)<', page).group(1)
    assert client.application.test_client().get("/api/v1/payments", headers=bearer(key)).status_code == 200

    listing = client.get("/staff/admin/api-keys").get_data(as_text=True)
    assert "Cổng dịch vụ công" in listing and key not in listing
    key_id = session.scalar(select(ApiClient.id).where(ApiClient.name == "Cổng dịch vụ công"))
    revoked = client.post(f"/staff/admin/api-keys/{key_id}/revoke", data={"csrf_token": token}, follow_redirects=True)
    assert "Đã thu hồi khóa Cổng dịch vụ công" in revoked.get_data(as_text=True)
    assert client.application.test_client().get("/api/v1/payments", headers=bearer(key)).status_code == 401
    assert key not in _audit_text(session)


def test_pages_answer_404_for_another_centres_user_and_key_and_refuse_granting_its_centre(client, session, province):
    from core.models import Centre

    kb = session.scalar(select(Centre).where(Centre.code == "PVHCC-KB"))
    theirs = make_user(session, roles=("cashier",), username="canbo.kb", centre=kb)
    make_api_key(session, roles=("cashier",), name="Một cửa Kiến Bình", centre=kb)
    their_key = session.scalar(select(ApiClient.id).where(ApiClient.name == "Một cửa Kiến Bình"))
    sign_in(client, make_admin(session, "TTPVHCC"))
    token = csrf_token(client, "/staff/admin/users")

    assert "canbo.kb" not in client.get("/staff/admin/users").get_data(as_text=True)
    assert "Kiến Bình" not in client.get("/staff/admin/api-keys").get_data(as_text=True)
    assert client.get(f"/staff/admin/users/{theirs.id}").status_code == 404
    assert client.post(f"/staff/admin/users/{theirs.id}", data={"csrf_token": token, "roles": ["admin"]}).status_code == 404
    assert client.post(f"/staff/admin/users/{theirs.id}/unlock", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/staff/admin/api-keys/{their_key}/revoke", data={"csrf_token": token}).status_code == 404
    refused = client.post("/staff/admin/users/new", data={"csrf_token": token, "username": "vuot.pham.vi",
                                                          "full_name": "Vượt Phạm Vi", "password": PASSWORD,
                                                          "roles": ["cashier"], "home_centre": "PVHCC-KB"})
    assert refused.status_code == 422 and _user_id(session, "vuot.pham.vi") is None
    session.expire_all()
    assert session.get(ApiClient, their_key).active and "admin" not in session.get(User, theirs.id).roles
