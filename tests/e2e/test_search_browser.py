"""A cashier searches in the real browser for a name typed without diacritics and finds the accented payer."""

import pytest

from tests.factories import make_centre, make_user
from tests.receipts.factories import paid_payment, pending_payment

pytestmark = pytest.mark.browser


def test_a_search_for_an_unaccented_name_finds_the_accented_payer(live_server, page, session):
    paid = paid_payment(session, payer_name="Nguyễn Văn An", payer_phone="0987000111")
    other = pending_payment(session, payer_name="Nguyễn Văn An", centre=make_centre(session, "HCC-KHAC"))
    session.commit()
    make_user(session, roles=("cashier",), username="thungan")
    page.goto(f"{live_server}/staff/")
    page.fill("input[name=username]", "thungan")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/")

    page.click("nav >> text=Tìm kiếm")
    page.fill("input[name=q]", "nguyen van an")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector(f"#payment-{paid.id}")
    assert page.locator(f"#payment-{paid.id} .payer").inner_text() == "Nguyễn Văn An"
    assert page.locator("#found-receipts .payer").first.inner_text() == "Nguyễn Văn An"
    assert other.code not in page.content(), "another centre's payer never appears"
