"""A citizen on a phone pays a request on /pay/<code> through the VNPAY sandbox and sees the paid page."""

import pytest

from tests.fees.factories import make_payment

pytestmark = pytest.mark.browser


def test_citizen_pays_through_vnpay_and_sees_the_paid_page(live_server, page, session):
    payment = make_payment(session, amount=200_000)
    page.goto(f"{live_server}/pay/{payment.code}")
    assert page.locator("#total").inner_text() == "200.000 ₫"
    assert page.locator("#vietqr svg").count() == 1
    page.click("#pay-vnpay")
    page.wait_for_selector("#vnpay-confirm")
    assert "200.000" in page.locator("#vnpay-amount").inner_text()
    page.click("#vnpay-confirm")
    page.wait_for_url(f"**/pay/{payment.code}/result**")
    assert page.locator("#status").inner_text() == "Đã thanh toán"


def test_a_cancelled_payment_at_the_gateway_shows_the_failure_and_the_way_back(live_server, page, session):
    payment = make_payment(session)
    page.goto(f"{live_server}/pay/{payment.code}")
    page.click("#pay-vnpay")
    page.click("#vnpay-cancel")
    page.wait_for_url(f"**/pay/{payment.code}/result**")
    assert page.locator("#status").inner_text() == "Thanh toán không thành công"
    page.click(f"a[href='/pay/{payment.code}']")
    assert page.locator("#pay-vnpay").is_visible()
