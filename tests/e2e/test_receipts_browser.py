"""A citizen scans the QR to the lookup page and checks a file; finance replaces a receipt."""

from __future__ import annotations

import pytest

from receipts.issuance import read_pdf, receipt_id_for_payment
from receipts.models import Receipt
from tests.factories import make_user
from tests.receipts.factories import paid_payment

pytestmark = pytest.mark.browser


def test_citizen_looks_up_and_verifies_a_receipt(live_server, page, session, settings, tmp_path):
    p = paid_payment(session, payer_name="Lê Văn Thành")
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    genuine = tmp_path / "bien-lai.pdf"
    genuine.write_bytes(read_pdf(settings, r))
    data = bytearray(genuine.read_bytes())
    data[data.index(b"/Title") + 8] ^= 0x01
    tampered = tmp_path / "bien-lai-sua.pdf"
    tampered.write_bytes(bytes(data))

    page.goto(f"{live_server}/r/{r.lookup_code}")
    assert page.locator("#number").inner_text() == r.number_text
    assert page.locator("#status").inner_text() == "Đã phát hành"
    assert "Hai trăm nghìn đồng" in page.content()
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename.endswith(".pdf")

    page.set_input_files("#verify input[name=file]", str(genuine))
    page.click("#verify button[type=submit]")
    page.wait_for_load_state()
    assert "Biên lai hợp lệ" in page.locator("#verify-result").inner_text()

    page.set_input_files("#verify input[name=file]", str(tampered))
    page.click("#verify button[type=submit]")
    page.wait_for_load_state()
    result = page.locator("#verify-result").inner_text()
    assert "KHÔNG hợp lệ" in result and "thay đổi sau khi ký" in result


def test_finance_replaces_a_receipt_and_the_old_page_points_to_the_new(live_server, page, session):
    make_user(session, roles=("finance",), username="ketoan-bl")
    p = paid_payment(session)
    old = session.get(Receipt, receipt_id_for_payment(session, p.id))

    page.goto(f"{live_server}/staff/login?next=/staff/receipts/")
    page.fill("input[name=username]", "ketoan-bl")
    page.fill("input[name=password]", "mật-khẩu-đủ-dài")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/staff/receipts/")
    page.click(f"text={old.number_text}")
    page.click("#replace-link")
    page.wait_for_load_state()
    # The form comes pre-filled with the receipt's data; the payer's name is corrected.
    assert page.input_value("#replace-form input[name=payer_name]") == old.content["payer"]["name"]
    page.fill("#replace-form input[name=payer_name]", "Trần Thị Bích Ngọc")
    page.fill("#replace-form input[name=reason]", "Sai tên người nộp")
    page.check("#replace-form input[name=confirm]")
    page.click("#replace-form button[type=submit]")
    page.wait_for_load_state()
    assert "Đã lập biên lai thay thế số 0000002" in page.content()
    session.expire_all()
    new = session.get(Receipt, session.get(Receipt, old.id).replaced_by_id)
    assert new.content["payer"]["name"] == "Trần Thị Bích Ngọc"
    pdf = page.request.get(f"{live_server}/r/{new.lookup_code}/pdf").body()
    import subprocess
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Trần Thị Bích Ngọc" in text  # the new PDF carries the corrected name

    page.goto(f"{live_server}/r/{old.lookup_code}")
    assert "đã được thay thế bằng biên lai số 0000002" in page.locator("#fate").inner_text()
    page.click("#fate a")
    page.wait_for_load_state()
    assert page.locator("#number").inner_text() == "0000002"
