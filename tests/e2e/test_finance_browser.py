"""A finance officer uploads a statement, follows it to its discrepancies, closes a day after confirming, and
downloads the month's XLSX."""

import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from core.clock import local_day
from tests.factories import make_user
from tests.finance.factories import paid_payment

pytestmark = pytest.mark.browser


def test_upload_follow_to_the_discrepancies_close_a_day_and_download(live_server, page, session, tmp_path):
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
    # Matched by the job (run at once in these tests); the import page says how it ended.
    page.wait_for_url(re.compile(r".*/staff/finance/imports/\d+$"))
    assert page.locator("#import-done").inner_text() == "Đã đối chiếu 2 dòng: khớp 1, chênh lệch 1."
    import_id = page.url.rsplit("/", 1)[1]
    assert page.locator("#import-discrepancies").get_attribute("href") == \
        f"/staff/finance/discrepancies?import={import_id}"

    page.goto(f"{live_server}/staff/finance/")
    assert page.locator("#open-count").inner_text() == "1"
    assert page.locator("#open-by-type tbody tr").inner_text().split("\t") == ["Có tiền, không có khoản thu", "1"]
    # A duplicate upload is refused beside the file field.
    page.set_input_files("#import-form input[name=file]", str(statement))
    page.click("#import-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#error-file").inner_text().startswith(f"Tệp này đã được nhập (lần nhập #{import_id}")
    assert page.locator("#import-form input[name=file]").get_attribute("aria-describedby") == "error-file"

    # Closing a day asks first, naming the day and what the close means.
    holiday = local_day() - timedelta(days=3)
    page.goto(f"{live_server}/staff/finance/")
    page.fill("input[name=day]", holiday.isoformat())
    page.check("input[name=allow_empty]")
    page.click("#close-day")
    page.wait_for_selector("#close-form")
    assert page.locator("#close-consequence").inner_text().startswith(
        f"Khoá sổ ngày {holiday:%d/%m/%Y}: sau khi khoá sẽ không thể sửa")
    page.check("#close-form input[name=confirm]")
    page.click("#close-form button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/finance/")
    assert f"Đã khoá sổ ngày {holiday:%d/%m/%Y}." in page.content()

    with page.expect_download() as info:
        page.click("#download-xlsx")
    path = tmp_path / "bao-cao.xlsx"
    info.value.save_as(path)
    ws = load_workbook(path)["Tổng hợp"]
    assert ws["A1"].value == "Chỉ tiêu"
