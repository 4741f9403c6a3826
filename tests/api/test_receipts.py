"""Receipts over HTTP: read, download, verify (API and public page), register, cancel and replace."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from core.clock import local_day
from receipts.issuance import receipt_id_for_payment
from receipts.models import Receipt
from tests.factories import bearer, csrf_token, make_api_key, make_user, sign_in
from tests.receipts.factories import paid_payment


@pytest.fixture
def receipt(session):
    p = paid_payment(session)
    return session.get(Receipt, receipt_id_for_payment(session, p.id))


@pytest.fixture
def finance_key(session):
    return make_api_key(session, roles=("finance",))


def test_a_system_reads_a_receipt_and_its_pdf(client, session, receipt):
    key = make_api_key(session)
    res = client.get(f"/api/v1/receipts/{receipt.id}", headers=bearer(key))
    assert res.status_code == 200
    body = res.get_json()
    assert body["number"] == "0000001" and body["symbol"] == receipt.symbol
    assert body["template"] == "EBL01" and body["status"] == "issued"
    assert body["amount"] == 200_000 and body["amount_in_words"] == "Hai trăm nghìn đồng"
    assert body["lookup_code"] == receipt.lookup_code and len(body["sha256"]) == 64
    pdf = client.get(f"/api/v1/receipts/{receipt.id}/pdf", headers=bearer(key))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    import hashlib

    assert hashlib.sha256(pdf.data).hexdigest() == body["sha256"]


def test_an_unknown_receipt_is_a_problem_404(client, session):
    res = client.get("/api/v1/receipts/999", headers=bearer(make_api_key(session)))
    assert res.status_code == 404 and res.mimetype == "application/problem+json"


def _verify(client, data: bytes):
    return client.post("/api/v1/receipts/verify", data={"file": (io.BytesIO(data), "bien-lai.pdf")},
                       content_type="multipart/form-data")


def test_anyone_can_verify_a_genuine_receipt(client, settings, receipt):
    from receipts.issuance import read_pdf

    res = _verify(client, read_pdf(settings, receipt))
    assert res.status_code == 200
    assert res.get_json()["valid"] is True and res.get_json()["reasons"] == []


def test_one_changed_byte_is_reported_with_the_reason(client, settings, receipt):
    from receipts.issuance import read_pdf

    data = bytearray(read_pdf(settings, receipt))
    i = data.index(b"/Title")  # inside the signed range, keeps the file parseable
    data[i + 8] ^= 0x01
    body = _verify(client, bytes(data)).get_json()
    assert body["valid"] is False
    assert any(r.startswith("document-modified") for r in body["reasons"])


def test_verify_without_a_file_is_422(client):
    res = client.post("/api/v1/receipts/verify", data={}, content_type="multipart/form-data")
    assert res.status_code == 422


def test_finance_cancels_and_the_lookup_page_says_so(client, session, receipt, finance_key):
    res = client.post(f"/api/v1/receipts/{receipt.id}/cancel", json={"reason": "Thu nhầm hồ sơ"},
                      headers=bearer(finance_key))
    assert res.status_code == 200 and res.get_json()["status"] == "cancelled"
    page = client.get(f"/r/{receipt.lookup_code}").get_data(as_text=True)
    assert "Biên lai này đã bị huỷ. Lý do: Thu nhầm hồ sơ" in page
    again = client.post(f"/api/v1/receipts/{receipt.id}/cancel", json={"reason": "lần nữa"},
                        headers=bearer(finance_key))
    assert again.status_code == 409


def test_a_cashier_may_not_cancel(client, session, receipt):
    res = client.post(f"/api/v1/receipts/{receipt.id}/cancel", json={"reason": "Thu nhầm"},
                      headers=bearer(make_api_key(session, roles=("cashier",))))
    assert res.status_code == 403


def test_replacement_names_the_old_receipt_and_the_old_page_links_to_it(client, session, receipt, finance_key):
    res = client.post(f"/api/v1/receipts/{receipt.id}/replace", json={"reason": "Sai tên người nộp"},
                      headers=bearer(finance_key))
    assert res.status_code == 201
    new = res.get_json()
    assert new["replaces_id"] == receipt.id and new["number"] == "0000002"
    old_page = client.get(f"/r/{receipt.lookup_code}").get_data(as_text=True)
    assert "đã được thay thế bằng biên lai số 0000002" in old_page
    new_page = client.get(f"/r/{new['lookup_code']}").get_data(as_text=True)
    assert "thay thế biên lai số 0000001" in new_page


def test_the_register_filters_and_exports_csv(client, session, finance_key):
    paid_payment(session, channel="vnpay")
    paid_payment(session, channel="counter")
    all_ = client.get("/api/v1/receipts", headers=bearer(finance_key)).get_json()
    assert all_["total"] == 2
    counter = client.get("/api/v1/receipts?channel=counter", headers=bearer(finance_key)).get_json()
    assert [r["channel"] for r in counter["items"]] == ["counter"]
    by_fee = client.get("/api/v1/receipts?fee_code=P-TĐ&status=issued", headers=bearer(finance_key)).get_json()
    assert by_fee["total"] == 2
    today = local_day()
    none = client.get(f"/api/v1/receipts?from={today.replace(year=today.year - 1)}&to="
                      f"{today.replace(year=today.year - 1)}", headers=bearer(finance_key)).get_json()
    assert none["total"] == 0
    res = client.get(f"/api/v1/receipts/register.csv?day={today}", headers=bearer(finance_key))
    assert res.status_code == 200 and res.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["Ký hiệu mẫu", "Ký hiệu", "Số"]
    assert [r[2] for r in rows[1:]] == ["0000001", "0000002"]
    month = client.get(f"/api/v1/receipts/register.csv?month={today:%Y-%m}", headers=bearer(finance_key))
    assert month.status_code == 200 and len(month.get_data(as_text=True).splitlines()) == 3
    assert client.get("/api/v1/receipts/register.csv", headers=bearer(finance_key)).status_code == 422


def test_the_public_page_shows_the_receipt_and_verifies_an_upload(client, settings, receipt):
    from receipts.issuance import read_pdf

    page = client.get(f"/r/{receipt.lookup_code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "0000001" in text and "Hai trăm nghìn đồng" in text
    assert client.get(f"/r/{receipt.lookup_code}/pdf").data == read_pdf(settings, receipt)
    ok = client.post(f"/r/{receipt.lookup_code}", data={"file": (io.BytesIO(read_pdf(settings, receipt)), "a.pdf")},
                     content_type="multipart/form-data").get_data(as_text=True)
    assert "Biên lai hợp lệ" in ok
    bad = client.post(f"/r/{receipt.lookup_code}", data={"file": (io.BytesIO(b"%PDF-1.4 not really"), "b.pdf")},
                      content_type="multipart/form-data").get_data(as_text=True)
    assert "KHÔNG hợp lệ" in bad
    assert client.get("/r/KHONGCOMA").status_code == 404


def test_finance_cancels_from_the_staff_page(client, session, receipt):
    user = make_user(session, roles=("finance",))
    sign_in(client, user.username)
    page = client.get("/staff/receipts/")
    assert page.status_code == 200 and "0000001" in page.get_data(as_text=True)
    token = csrf_token(client, f"/staff/receipts/{receipt.id}")
    # Without its confirmation the cancel is refused and the receipt stays as it was.
    res = client.post(f"/staff/receipts/{receipt.id}/cancel", data={"reason": "Nộp trùng", "csrf_token": token},
                      follow_redirects=True)
    assert session.scalar(select(Receipt.status).where(Receipt.id == receipt.id)) == "issued"
    token = csrf_token(client, f"/staff/receipts/{receipt.id}")
    res = client.post(f"/staff/receipts/{receipt.id}/cancel",
                      data={"reason": "Nộp trùng", "csrf_token": token, "confirm": "1"}, follow_redirects=True)
    assert "Đã huỷ biên lai." in res.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Receipt.status).where(Receipt.id == receipt.id)) == "cancelled"


def test_cli_verifies_a_file_offline(runner, settings, receipt, tmp_path):
    from api.cli import main
    from receipts.issuance import read_pdf

    good = tmp_path / "good.pdf"
    good.write_bytes(read_pdf(settings, receipt))
    res = runner.invoke(main, ["receipts", "verify", str(good)])
    assert res.exit_code == 0 and "valid: yes" in res.output
    bad = tmp_path / "bad.pdf"
    data = bytearray(good.read_bytes())
    data[data.index(b"/Title") + 8] ^= 0x01
    bad.write_bytes(bytes(data))
    res = runner.invoke(main, ["receipts", "verify", str(bad)])
    assert res.exit_code == 1 and "document-modified" in res.output


def test_a_receipt_names_its_collecting_unit_and_centre(client, session, receipt):
    from core.accounts import DEMO_UNIT_CODE

    body = client.get(f"/api/v1/receipts/{receipt.id}", headers=bearer(make_api_key(session))).get_json()
    unit = receipt.unit
    assert body["unit"] == {"code": DEMO_UNIT_CODE, "name": unit.name, "tax_code": unit.tax_code}
    assert body["centre_code"] == receipt.centre.code


def test_a_key_of_two_centres_reads_each_register_one_at_a_time(client, session, receipt):
    from tests.factories import make_centre

    home = make_centre(session, "BN-B")
    key = make_api_key(session, roles=("finance",), centre=home, also=[receipt.centre])
    # The home centre's register by default (none there), the other centre's when named.
    assert client.get("/api/v1/receipts", headers=bearer(key)).get_json()["total"] == 0
    theirs = client.get(f"/api/v1/receipts?centre_id={receipt.centre_id}", headers=bearer(key)).get_json()
    assert [r["id"] for r in theirs["items"]] == [receipt.id]
    day = local_day()
    csv_of = client.get(f"/api/v1/receipts/register.csv?day={day}&centre_code={receipt.centre.code}",
                        headers=bearer(key))
    assert csv_of.status_code == 200 and len(csv_of.get_data(as_text=True).splitlines()) == 2
    # It may cancel there too; a key of its home centre alone may not even see it.
    assert client.post(f"/api/v1/receipts/{receipt.id}/cancel", json={"reason": "Lập nhầm người nộp"},
                       headers=bearer(key)).status_code == 200
    alone = make_api_key(session, roles=("finance",), centre=home)
    assert client.get(f"/api/v1/receipts/{receipt.id}", headers=bearer(alone)).status_code == 404
    assert client.get(f"/api/v1/receipts/register.csv?day={day}&centre_code={receipt.centre.code}",
                      headers=bearer(alone)).status_code == 404
