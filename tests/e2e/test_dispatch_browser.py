"""A dispatcher at the desk creates three shipments, batches them and downloads the labels and handover list."""

from __future__ import annotations

import io
import subprocess

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from postal.models import Shipment
from tests.factories import make_user

pytestmark = pytest.mark.browser

CITIZENS = [("Nguyễn Văn An", "0911111111", "Số 1 Hàng Bài", "Hoàn Kiếm"),
            ("Lê Thị Hoa", "0922222222", "Số 2 Láng Hạ", "Đống Đa"),
            ("Phạm Minh Đức", "0933333333", "Số 3 Nguyễn Trãi", "Thanh Xuân")]


def test_a_batch_of_three_with_labels_and_handover_list(live_server, page, session, tmp_path):
    user = make_user(session, roles=("dispatcher",), username="buuchinh")
    page.goto(f"{live_server}/staff/login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.goto(f"{live_server}/staff/dispatch/")
    assert page.locator("h1").inner_text() == "Bàn gửi kết quả qua bưu chính"

    for n, (name, phone, street, ward) in enumerate(CITIZENS, start=1):
        form = page.locator("#new-shipment")
        form.locator("input[name=dossier_code]").fill(f"000.00.01.H26-251124-000{n}")
        form.locator("select[name=carrier]").select_option("vnpost")
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=phone]").fill(phone)
        form.locator("input[name=street]").fill(street)
        form.locator("input[name=ward]").fill(ward)
        form.locator("input[name=province]").fill("Hà Nội")
        form.locator("input[name=cod_amount]").fill(str(n * 10_000))
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        assert "Đã tạo bưu gửi" in page.locator(".flash").inner_text()

    boxes = page.locator("#batch-form input[name=shipment_id]")
    assert boxes.count() == 3
    for i in range(3):
        boxes.nth(i).check()
    page.click("#batch-form button[type=submit]")
    page.wait_for_load_state()
    assert "Đã lập bảng kê" in page.locator(".flash").inner_text()

    with page.expect_download() as labels:
        page.click("#labels-pdf")
    labels_pdf = labels.value.path().read_bytes()
    assert len(PdfReader(io.BytesIO(labels_pdf)).pages) == 3

    with page.expect_download() as handover:
        page.click("#handover-pdf")
    text = subprocess.run(["pdftotext", "-layout", str(handover.value.path()), "-"], capture_output=True, text=True,
                          check=True).stdout
    codes = list(session.scalars(select(Shipment.tracking_code)))
    assert len(codes) == 3 and all(code and code in text for code in codes)
    assert "BẢNG KÊ BÀN GIAO BƯU GỬI" in text and "60.000" in text  # the COD total
