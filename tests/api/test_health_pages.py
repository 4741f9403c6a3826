"""Health probes and the staff layout (Vietnamese first, English switchable)."""

from tests.factories import make_user, sign_in


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["checks"] == {"database": "ok", "queue": "ok"}


def test_sign_in_page_is_vietnamese_first(client):
    page = client.get("/staff/login").get_data(as_text=True)
    assert "Đăng nhập cán bộ" in page and 'lang="vi"' in page


def test_language_switch_to_english_and_back(client):
    client.get("/lang/en?next=/staff/login")
    assert "Staff sign-in" in client.get("/staff/login").get_data(as_text=True)
    client.get("/lang/vi")
    assert "Đăng nhập cán bộ" in client.get("/staff/login").get_data(as_text=True)


def test_signed_in_admin_sees_users_and_audit_in_the_menu(client, session):
    admin = make_user(session, roles=("admin",))
    r = sign_in(client, admin.username)
    assert r.status_code == 302
    page = client.get("/staff/").get_data(as_text=True)
    assert "Nhật ký" in page and "Người dùng" in page and "Trung tâm Phục vụ hành chính công" in page


def test_the_next_parameter_cannot_send_staff_elsewhere(client, session):
    user = make_user(session)
    import re

    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/staff/login?next=https://evil.example/", data={"username": user.username,
                                                                      "password": "mật-khẩu-đủ-dài", "csrf_token": token})
    assert r.headers["Location"] == "/staff/"
