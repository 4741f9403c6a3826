"""A finance officer uploads a statement, resolves a discrepancy and downloads the month's XLSX."""

from datetime import timedelta

import pytest
from openpyxl import load_workbook

from core.clock import local_day
from tests.factories import make_user
from tests.finance.factories import paid_payment

pytestmark = pytest.mark.browser


def test_upload_resolve_and_download(live_server, page, session, tmp_path):
    make_user(session, roles=("finance",), username="ketoan")
    day = local_day() - timedelta(days=1)
    p = paid_payment(session, on=day, amount=200_000)
    session.commit()
    statement = tmp_path / "sao-ke.csv"
    statement.write_text("date,reference,amount,description\n"
                         f"{day},FT100,200000,HCC {p.code} nop phi\n{day},FT101,50000,chuyen khoan khong ro\n")

    page.goto(f"{live_server}/staff/login?next=/staff/finance/")
    page.fill("input[name=username]", "ketoan")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/finance/")

    page.select_option("#import-form select[name=source]", "bank-csv")
    page.set_input_files("#import-form input[name=file]", str(statement))
    page.click("#import-form button[type=submit]")
    page.wait_for_load_state()
    assert "khớp 1 giao dịch, 1 chênh lệch" in page.content()
    assert page.locator("#open-count").inner_text() == "1"

    row = page.locator("#queue tbody tr").first
    row.locator("select[name=action]").select_option("write_off")
    row.locator("input[name=note]").fill("Tiền chuyển nhầm, đã hoàn lại cho người chuyển")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Đã xử lý chênh lệch" in page.content()
    assert page.locator("#open-count").inner_text() == "0"

    with page.expect_download() as info:
        page.click("#download-xlsx")
    path = tmp_path / "bao-cao.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path)["Tổng hợp"]
    assert ws["A1"].value == "Chỉ tiêu"
