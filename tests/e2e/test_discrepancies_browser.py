"""A finance officer works a 20,000-row import: 100 rows a page, filtered by type, all matching resolved at once."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from core.clock import local_day
from finance.models import Discrepancy
from tests.factories import make_user
from tests.finance.test_discrepancy_list import BIG, TYPES, add_discrepancies, add_import

pytestmark = pytest.mark.browser

NOTE = "Phí chuyển khoản liên ngân hàng bị trừ, đã đối chiếu sổ phụ tháng 11"


def test_a_large_import_is_paged_filtered_and_resolved_in_bulk(live_server, page, session, centre):
    make_user(session, roles=("finance",), username="ketoan")
    statement = add_import(session, centre.id)
    add_discrepancies(session, statement, types=TYPES, first_day=local_day() - timedelta(days=40))

    page.goto(f"{live_server}/staff/login?next={quote(f'/staff/finance/discrepancies?import={statement.id}', safe='/')}")
    page.fill("input[name=username]", "ketoan")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/finance/discrepancies?import={statement.id}")

    assert page.locator("#list tbody tr").count() == 100
    assert page.locator("#page-of").inner_text() == "Trang 1/200"
    assert page.locator("#list-title").inner_text() == "20.000 chênh lệch"
    page.click("#page-next")
    page.wait_for_url("**page=2**")
    assert page.locator("#page-of").inner_text() == "Trang 2/200"

    # Only the amount differences: the filter form keeps the import and adds the type.
    page.select_option("#filters select[name=type]", "amount_differs")
    page.click("#apply-filters")
    page.wait_for_url("**type=amount_differs**")
    assert page.locator("#list-title").inner_text() == "3.000 chênh lệch"
    assert page.locator("#page-of").inner_text() == "Trang 1/30"
    assert page.locator("#list tbody tr .status", has_text="Lệch số tiền").count() == 100

    # "Select every row on this page" ticks the page's boxes; then the officer widens it to all 3,000.
    page.check("#select-page")
    assert page.locator("#list tbody input[name=id]:checked").count() == 100
    page.check("#scope-all")
    page.select_option("#bulk-action", "write_off")
    page.fill("#bulk-note", NOTE)
    page.click("#bulk-review")
    page.wait_for_url("**/confirm")
    assert page.locator("#confirm-text").inner_text() == (
        f"Đánh dấu đã xử lý 3.000 chênh lệch với ghi chú “{NOTE}”, cách xử lý: Ghi nhận xử lý khác (có lý do).")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Discrepancy).where(Discrepancy.status == "open")) == BIG

    page.check("#confirm-box")
    page.click("#confirm-resolve")
    page.wait_for_url("**type=amount_differs**")
    # 3,000 rows are more than a request resolves at once: a job does them (inline under the tests' queue).
    assert "Đang đánh dấu đã xử lý 3.000 chênh lệch trong nền" in page.locator(".flash.success").inner_text()
    assert "Đã xong: 3.000 chênh lệch đánh dấu đã xử lý" in page.locator("#bulk-runs").inner_text()
    assert page.locator("#list-title").inner_text() == "0 chênh lệch"

    page.select_option("#filters select[name=status]", "resolved")
    page.click("#apply-filters")
    page.wait_for_url("**status=resolved**")
    assert page.locator("#list-title").inner_text() == "3.000 chênh lệch"
    first = page.locator("#list tbody tr").first
    assert NOTE in first.inner_text() and "Ghi nhận xử lý khác" in first.inner_text()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.status == "open", Discrepancy.type == "amount_differs")) == 0
    assert session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.status == "open")) == BIG - 3_000
