"""A staff member signs in through the real browser and switches the language."""

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.browser


def test_sign_in_and_switch_to_english(live_server, page, session):
    admin = make_user(session, roles=("admin",), username="quantri")
    page.goto(f"{live_server}/staff/")
    assert page.locator("h1").inner_text() == "Đăng nhập cán bộ"
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/")
    assert "Xin chào" in page.content()
    page.click("text=English")
    page.wait_for_load_state()
    assert "Hello" in page.content()
