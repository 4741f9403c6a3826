"""The citizen pages as a phone user meets them (issue 17): the result page that waits out loud, the
receipt PDF that downloads, the tracking page's steps, hotline and carrier link, the friendly 404 with
a box to retry, the VietQR choice with copy buttons; and the shell's skip link, current menu entry and icon."""

from __future__ import annotations

from sqlalchemy import update

from postal.shipments import apply_event
from receipts.issuance import receipt_id_for_payment
from receipts.models import Receipt
from tests.factories import make_user, sign_in
from tests.fees.factories import make_payment
from tests.postal.factories import STAFF, carrier_event, make_shipment
from tests.receipts.factories import paid_payment


def test_a_pending_payment_says_it_is_waiting_and_polls_instead_of_reloading(client, session):
    payment = make_payment(session)
    page = client.get(f"/pay/{payment.code}/result").get_data(as_text=True)
    assert "Đang chờ xác nhận thanh toán…" in page and 'aria-live="polite"' in page
    assert 'http-equiv="refresh"' not in page
    assert "/static/result.js" in page and f'data-poll="/pay/{payment.code}/result.json"' in page
    state = client.get(f"/pay/{payment.code}/result.json").get_json()
    assert state["status"] == "pending" and state["waiting"] is True and state["receipt_pdf"] is None


def test_a_paid_payment_links_the_pdf_download_and_the_receipt_page_separately(client, session):
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    page = client.get(f"/pay/{p.code}/result").get_data(as_text=True)
    assert f'href="/r/{r.lookup_code}/pdf?download=1"' in page and f'href="/r/{r.lookup_code}"' in page
    assert "Đang chờ" not in page.split('id="waiting-text">')[1].split("<")[0]
    pdf = client.get(f"/r/{r.lookup_code}/pdf?download=1")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("attachment;")
    assert client.get(f"/r/{r.lookup_code}/pdf").headers["Content-Disposition"].startswith("inline;")


def test_while_the_receipt_is_being_signed_the_page_waits_for_it(client, session):
    p = paid_payment(session)
    rid = receipt_id_for_payment(session, p.id)
    session.execute(update(Receipt).where(Receipt.id == rid).values(status="pending", storage_key=None))
    session.commit()
    state = client.get(f"/pay/{p.code}/result.json").get_json()
    assert state["status"] == "paid" and state["waiting"] is True
    assert state["receipt_pdf"] is None and state["message"] == "Đang ký số biên lai điện tử…"


def test_the_tracking_page_shows_steps_the_hotline_and_the_carriers_own_link(app, client, session):
    settings = app.extensions["hcc"].settings
    s = make_shipment(session, settings, carrier="ghn", tracking_code="GAB12345")
    apply_event(session, s, carrier_event("picked_up", tracking_code="GAB12345"), source="webhook", actor=STAFF)
    apply_event(session, s, carrier_event("in_transit", hours=2, tracking_code="GAB12345"), source="webhook", actor=STAFF)
    session.commit()
    page = client.get(f"/t/{s.code}").get_data(as_text=True)
    steps = page.split('id="steps"')[1].split("</ol>")[0]
    for word in ("Đã tạo", "Đã lấy hàng", "Đang vận chuyển", "Đang giao", "Đã giao"):
        assert word in steps
    assert 'aria-current="step"' in steps.split("Đang vận chuyển")[0].rsplit("<li", 1)[1]
    assert 'href="tel:02400000000"' in page
    assert 'href="https://donhang.ghn.vn/?order_code=GAB12345"' in page


def test_a_returned_shipment_shows_the_return_path(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    apply_event(session, s, carrier_event("return_to_sender"), source="webhook", actor=STAFF)
    session.commit()
    steps = client.get(f"/t/{s.code}").get_data(as_text=True).split('id="steps"')[1].split("</ol>")[0]
    assert "Đang chuyển hoàn" in steps and "Đã hoàn về trung tâm" in steps and "Đã giao" not in steps


def test_a_mistyped_code_gets_a_friendly_404_with_a_box_to_try_again(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    resp = client.get("/t/NOSUCHCODE1")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 404
    assert "Không tìm thấy mã tra cứu" in page and "NOSUCHCODE1" in page
    assert 'method="get" action="/t/"' in page and 'name="code"' in page
    assert client.get("/t/").status_code == 200
    again = client.get(f"/t/?code={s.code.lower()}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/t/{s.code.lower()}")


def test_the_pay_page_offers_vietqr_as_a_choice_with_copy_buttons(client, session):
    payment = make_payment(session)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    assert '<details class="vietqr" id="vietqr">' in page and 'id="pay-vietqr"' in page
    assert 'data-copy="vietqr-account"' in page and 'data-copy="vietqr-description"' in page
    assert "/static/copy.js" in page


def test_the_shell_has_a_skip_link_an_icon_and_marks_the_current_menu_entry(client, session):
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    page = client.get("/staff/dispatch/").get_data(as_text=True)
    assert 'class="skip-link" href="#main"' in page and 'id="main"' in page
    assert "/static/favicon.svg" in page
    assert 'href="/staff/dispatch/" aria-current="page"' in page
    icon = client.get("/static/favicon.svg")
    assert icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    icon.close()
