"""A 20,000-line bank statement is matched in the background with a progress bar, while a citizen pays a fee
online and opens the receipt: the service keeps answering (issue 17)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from core.clock import local_day
from tests.factories import make_user
from tests.fees.factories import make_payment
from tests.finance.factories import paid_payment

pytestmark = pytest.mark.browser

LINES = 20_000


def a_big_statement(path, session) -> tuple[int, int]:
    """Yesterday's bank file: five transfers paying our payments, the rest money nobody announced."""
    day = local_day() - timedelta(days=1)
    ours = [paid_payment(session, on=day, amount=150_000) for _ in range(5)]
    session.commit()
    rows = [f"{day},FT{i:06d},150000,HCC {p.code} nop phi" for i, p in enumerate(ours)]
    rows += [f"{day},FTX{i:06d},{10_000 + i},chuyen tien khong ro {i}" for i in range(LINES - len(ours))]
    path.write_text("date,reference,amount,description\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return len(ours), LINES - len(ours)


def progress(page) -> tuple[int, int]:
    return tuple(page.evaluate("() => { const b = document.getElementById('import-progress');"
                         " return [Number(b.value), Number(b.max)]; }"))


def test_a_big_import_shows_progress_while_a_citizen_pays_and_gets_the_receipt(live_server, job_worker, browser,
                                                                               page, session, tmp_path):
    make_user(session, roles=("finance",), username="ketoan")
    statement = tmp_path / "sao-ke-thang.csv"
    matched, unknown = a_big_statement(statement, session)
    payment = make_payment(session, amount=200_000)
    session.commit()

    page.set_default_timeout(60_000)
    page.goto(f"{live_server}/staff/login?next=/staff/finance/")
    page.fill("input[name=username]", "ketoan")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/finance/")
    page.select_option("#import-form select[name=source]", "bank-csv")
    page.set_input_files("#import-form input[name=file]", str(statement))
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/staff/finance/imports/\d+$"))
    import_id = int(page.url.rsplit("/", 1)[1])

    # The bar moves: a reading strictly between nothing and everything.
    page.wait_for_function("() => { const b = document.getElementById('import-progress');"
                           " return b.value > 0 && b.value < b.max; }")
    processed, total = progress(page)
    assert 0 < processed < total == LINES

    # Meanwhile, in another browser, a citizen pays through the VNPAY sandbox and opens the receipt.
    citizen_context = browser.new_context(locale="vi-VN", viewport={"width": 390, "height": 844})
    try:
        citizen = citizen_context.new_page()
        citizen.set_default_timeout(60_000)
        citizen.goto(f"{live_server}/pay/{payment.code}")
        citizen.click("#pay-vnpay")
        citizen.wait_for_selector("#vnpay-confirm")
        citizen.click("#vnpay-confirm")
        citizen.wait_for_url(f"**/pay/{payment.code}/result**")
        assert citizen.locator("#status").inner_text() == "Đã thanh toán"
        citizen.wait_for_selector("#receipt-page[href]", state="visible")
        citizen.click("#receipt-page")
        citizen.wait_for_url(re.compile(r".*/r/[^/]+$"))
        receipt_page = citizen.content()
        assert "200.000" in receipt_page and "Trần Thị Bình" in receipt_page
        assert "database is locked" not in receipt_page
        citizen_done_at = progress(page)[0]
    finally:
        citizen_context.close()

    # The import ends with its counts, announced in the live region, and the link to its discrepancies.
    page.wait_for_selector("#import-discrepancies:not([hidden])", timeout=600_000)
    missing_theirs = 0  # every payment of ours on that day is in the file
    discrepancies = f"{unknown + missing_theirs:,}".replace(",", ".")
    assert page.locator("#import-done").inner_text() == \
        f"Đã đối chiếu 20.000 dòng: khớp {matched}, chênh lệch {discrepancies}."
    assert page.locator("#import-done").get_attribute("role") == "status"
    assert progress(page) == (LINES, LINES)
    assert page.locator("#import-discrepancies").get_attribute("href") == \
        f"/staff/finance/discrepancies?import={import_id}"
    print(f"lines matched when the citizen had the receipt: {citizen_done_at} of {LINES}")
