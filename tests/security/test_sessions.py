"""Staff sessions end for real: sign-out and a new password revoke every copy of the cookie; idle and old ones expire."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from api import auth
from api.cli import main
from core.clock import utcnow
from core.models import AuditLog, User
from tests.factories import csrf_token, make_user, sign_in

FINANCE_PAGE = "/staff/finance/"


@pytest.fixture
def finance_user(session):
    return make_user(session, roles=("finance",), username="ketoan")


def _signed_in_cookie(client, username: str) -> str:
    assert sign_in(client, username).status_code == 302
    assert client.get(FINANCE_PAGE).status_code == 200
    return client.get_cookie("session").value


def _replay(app, cookie: str):
    """What someone who copied the cookie gets: a fresh browser carrying only that cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get(FINANCE_PAGE)


class Clock:
    """The time the sign-in code sees; tests move it forward."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(auth, "utcnow", c)
    return c


def test_a_cookie_captured_before_sign_out_opens_nothing_after_it(app, client, finance_user, session):
    captured = _signed_in_cookie(client, finance_user.username)
    assert _replay(app, captured).status_code == 200  # the copy works while the user is signed in

    r = client.post("/staff/logout", data={"csrf_token": csrf_token(client, FINANCE_PAGE)})
    assert r.status_code == 302

    r = _replay(app, captured)
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    assert session.scalars(select(AuditLog).where(AuditLog.action == "auth.logout")).one().actor_name == "ketoan"


def test_signing_out_ends_the_users_other_sessions_too(app, client, finance_user):
    other_browser = app.test_client()
    _signed_in_cookie(other_browser, finance_user.username)
    _signed_in_cookie(client, finance_user.username)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, FINANCE_PAGE)})
    assert other_browser.get(FINANCE_PAGE).status_code == 302


def test_signing_in_again_after_sign_out_works(client, finance_user):
    _signed_in_cookie(client, finance_user.username)
    client.post("/staff/logout", data={"csrf_token": csrf_token(client, FINANCE_PAGE)})
    _signed_in_cookie(client, finance_user.username)


def test_a_new_password_ends_every_open_session(app, client, runner, finance_user, session):
    captured = _signed_in_cookie(client, finance_user.username)

    result = runner.invoke(main, ["users", "set-password", "ketoan"], input="mật-khẩu-mới-dài\nmật-khẩu-mới-dài\n")
    assert result.exit_code == 0, result.output

    assert _replay(app, captured).status_code == 302
    r = client.get(FINANCE_PAGE)
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]
    assert "Phiên làm việc đã kết thúc" in client.get(r.headers["Location"]).get_data(as_text=True)
    # The old password no longer works, the new one does.
    assert sign_in(client, "ketoan").status_code == 401
    assert sign_in(client, "ketoan", "mật-khẩu-mới-dài").status_code == 302
    row = session.scalars(select(AuditLog).where(AuditLog.action == "user.password_changed")).one()
    assert row.entity_id == str(finance_user.id) and "mật" not in str(row.after or "")


def test_set_password_refuses_a_short_password_and_an_unknown_user(runner, finance_user):
    result = runner.invoke(main, ["users", "set-password", "ketoan"], input="ngắn\nngắn\n")
    assert result.exit_code != 0 and "8 characters" in result.output
    result = runner.invoke(main, ["users", "set-password", "khong-co"], input="mật-khẩu-đủ-dài\nmật-khẩu-đủ-dài\n")
    assert result.exit_code != 0 and "khong-co" in result.output


def test_an_idle_session_ends(client, finance_user, clock):
    _signed_in_cookie(client, finance_user.username)
    clock.now += timedelta(minutes=29)
    assert client.get(FINANCE_PAGE).status_code == 200
    clock.now += timedelta(minutes=31)
    r = client.get(FINANCE_PAGE)
    assert r.status_code == 302 and "/staff/login" in r.headers["Location"]


def test_a_session_in_use_ends_at_its_absolute_lifetime(client, finance_user, clock):
    _signed_in_cookie(client, finance_user.username)
    signed_in = clock.now
    while clock.now - signed_in < timedelta(hours=11, minutes=35):  # busy all day: a click every 25 minutes
        clock.now += timedelta(minutes=25)
        assert client.get(FINANCE_PAGE).status_code == 200, clock.now - signed_in
    clock.now = signed_in + timedelta(hours=12, minutes=1)
    assert client.get(FINANCE_PAGE).status_code == 302


def test_the_idle_time_is_a_setting(app, client, finance_user, clock):
    app.extensions["hcc"].settings.extra["HCC_SESSION_IDLE_MINUTES"] = "5"
    _signed_in_cookie(client, finance_user.username)
    clock.now += timedelta(minutes=6)
    assert client.get(FINANCE_PAGE).status_code == 302


def test_a_session_without_our_marks_is_refused(app, finance_user):
    """A cookie naming the user but not issued by our sign-in (an old cookie, flask-login's remember path)."""
    c = app.test_client()
    with c.session_transaction() as s:
        s["_user_id"] = str(finance_user.id)
        s["_fresh"] = True
    assert c.get(FINANCE_PAGE).status_code == 302


def test_the_session_cookie_is_http_only_and_same_site_lax(client, finance_user):
    sign_in(client, finance_user.username)
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    assert client.get_cookie("remember_token") is None


def test_the_session_version_is_stored_per_user(session, finance_user):
    assert session.get(User, finance_user.id).session_version == 0
