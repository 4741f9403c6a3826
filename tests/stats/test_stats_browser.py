"""On a 390 px phone the statistics page shows its charts and table with no horizontal scrolling, under the CSP,
and its print layout hides the filters; the XLSX link downloads the figures."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import browser, page  # noqa: F401 - the e2e fixtures, reused
from tests.factories import make_user
from tests.stats.factories import seed_month

pytestmark = pytest.mark.browser


def test_the_statistics_page_fits_a_phone_and_prints(app, live_server, page, session, tmp_path):  # noqa: F811
    seed_month(session, app.extensions["hcc"].settings, n=16)
    make_user(session, roles=("dispatcher",), username="thongke")
    page.goto(f"{live_server}/staff/login?next=/staff/stats/")
    page.fill("input[name=username]", "thongke")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/stats/")

    page.fill("input[name=from]", "2026-11-01")
    page.fill("input[name=to]", "2026-11-30")
    page.select_option("select[name=group_by]", "procedure")
    page.click(".stats-filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#stats-table tbody tr").count() >= 2
    # Every chart image decoded (a broken SVG has no natural width), and nothing is wider than the phone.
    widths = page.eval_on_selector_all(".chart img", "imgs => imgs.map(i => i.complete && i.naturalWidth)")
    assert len(widths) >= 3 and all(widths)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.emulate_media(media="print")
    assert not page.locator(".stats-filters").is_visible()
    assert page.locator("#stats-table").is_visible()
    page.emulate_media(media="screen")

    with page.expect_download() as info:
        page.click("#export-xlsx")
    path = tmp_path / "thong-ke.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path).active
    assert ws.cell(ws.max_row, 2).value == "Tổng cộng"
    assert ws.cell(ws.max_row, 3).value == int(page.locator("#total-received").inner_text())
