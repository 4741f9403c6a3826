"""A citizen on a 390 px phone (issue 17): the receipt and tracking pages fit the screen in one column,
the result page waits out loud and then offers the receipt, a mistyped tracking code gets a box to try
again, and the pay page's VietQR is a choice with copy buttons."""

from __future__ import annotations

import pytest

from postal.shipments import apply_event
from receipts.issuance import receipt_id_for_payment
from receipts.models import Receipt
from tests.fees.factories import make_payment
from tests.postal.factories import STAFF, carrier_event, make_shipment
from tests.receipts.factories import paid_payment, pay, pending_payment

pytestmark = pytest.mark.browser

# Every visible element inside the viewport, and every value column at least 40% of its width.
FIT = """(columns) => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('.visually-hidden, .skip-link, thead')) continue;
    if (r.right > vw + 1 || r.left < -1) wide.push(el.tagName + '#' + el.id + '.' + el.className + ' ' + r.left + '-' + r.right);
  }
  const narrow = [...document.querySelectorAll(columns)].filter(el => el.getBoundingClientRect().width < 0.4 * vw)
    .map(el => el.textContent.trim().slice(0, 40) + ' ' + el.getBoundingClientRect().width);
  return {scroll: document.documentElement.scrollWidth - vw, wide, narrow};
}"""


def _fits(page, columns: str) -> None:
    got = page.evaluate(FIT, columns)
    assert got["scroll"] <= 0 and not got["wide"], got
    assert not got["narrow"], got


def test_the_receipt_page_is_one_column_on_a_phone(live_server, page, session):
    p = paid_payment(session, payer_name="Nguyễn Thị Hồng Nhung")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    page.goto(f"{live_server}/r/{r.lookup_code}")
    assert page.locator("#number").inner_text() == r.number_text
    _fits(page, ".receipt-fields dd, .receipt-lines tbody td:first-child")
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename.endswith(".pdf")


def test_the_tracking_page_on_a_phone_and_a_mistyped_code(live_server, page, session, app):
    settings = app.extensions["hcc"].settings
    s = make_shipment(session, settings, carrier="vnpost", tracking_code="EB123456789VN")
    apply_event(session, s, carrier_event("picked_up", tracking_code="EB123456789VN"), source="webhook", actor=STAFF)
    session.commit()
    page.goto(f"{live_server}/t/{s.code}X")
    assert page.locator("h1").inner_text() == "Không tìm thấy mã tra cứu"
    page.fill("#track-code", "")
    page.click("#retry button[type=submit]")  # the browser's check, said in Vietnamese next to the box
    error_id = page.locator("#track-code").get_attribute("aria-describedby")
    assert page.locator(f"#{error_id}").inner_text() == "Vui lòng nhập thông tin này."
    page.fill("#track-code", s.code.lower())
    page.click("#retry button[type=submit]")
    page.wait_for_selector("#steps")
    assert page.locator("#steps [aria-current=step]").inner_text().strip().startswith("Đã lấy hàng")
    assert page.locator("#carrier-link").get_attribute("href").endswith("key=EB123456789VN")
    assert page.locator("#hotline a").get_attribute("href").startswith("tel:")
    _fits(page, ".track-facts dd, #steps .step")


def test_the_result_page_waits_then_offers_the_pdf_and_the_receipt_page(live_server, page, session):
    payment = pending_payment(session)
    session.commit()
    page.goto(f"{live_server}/pay/{payment.code}/result")
    assert page.locator("#waiting-text").inner_text() == "Đang chờ xác nhận thanh toán…"
    assert page.locator("#receipt-links").is_hidden()
    pay(session, payment)
    session.commit()  # the gateway's confirmation; the receipt is issued (jobs run at once in tests)
    page.wait_for_selector("#receipt-pdf", state="visible")
    assert page.locator("#status").inner_text() == "Đã thanh toán"
    assert page.locator("#receipt-page").get_attribute("href").startswith("/r/")
    with page.expect_download() as info:
        page.click("#receipt-pdf")
    assert info.value.suggested_filename.endswith(".pdf")


def test_the_pay_page_vietqr_choice_and_copy_buttons(live_server, page, session):
    payment = make_payment(session)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.goto(f"{live_server}/pay/{payment.code}")
    assert page.locator("#vietqr .qr").is_hidden()
    page.click("#pay-vietqr")
    assert page.locator("#vietqr .qr svg").is_visible()
    account = page.locator("#vietqr-account").inner_text()
    page.click("button[data-copy=vietqr-account]")
    page.wait_for_function("document.getElementById('copied').textContent.length > 0")
    assert page.locator("#copied").inner_text() == f"Đã sao chép: {account}"
    assert page.evaluate("navigator.clipboard.readText()") == account
    page.click("button[data-copy=vietqr-description]")
    page.wait_for_function("(v) => document.getElementById('copied').textContent.includes(v)",
                           arg=page.locator("#vietqr-description").inner_text())
    _fits(page, ".transfer dd")
