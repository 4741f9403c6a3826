"""The citizen's pages: a QR picture to save on a phone, and a result page that waits for the receipt."""

import io

import segno

from core import audit
from fees.gateways.counter import record_counter_payment
from fees.gateways.vietqr import VietqrGateway
from tests.fees.factories import make_payment


def test_the_vietqr_can_be_saved_as_a_picture_of_the_same_payload(client, session, app):
    payment = make_payment(session, amount=200_000)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    assert f'href="/pay/{payment.code}/vietqr.png"' in page and "Số tiền" in page
    resp = client.get(f"/pay/{payment.code}/vietqr.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert f"VietQR-{payment.code}.png" in resp.headers["Content-Disposition"]
    # The picture is the symbol of this request's payload (no decoder here: compare with the symbol made from it).
    out = io.BytesIO()
    segno.make(VietqrGateway(app.extensions["hcc"].settings).qr_payload(payment), error="m").save(
        out, kind="png", scale=8, border=4)
    assert resp.data == out.getvalue()


def test_no_qr_picture_once_the_request_is_paid(client, session):
    payment = make_payment(session)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    assert client.get(f"/pay/{payment.code}/vietqr.png").status_code == 404


def test_the_paid_page_refreshes_until_the_receipt_link_can_be_shown(client, session, monkeypatch):
    from api.fees import pages

    payment = make_payment(session)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    real = pages.receipt_id_of
    monkeypatch.setattr(pages, "receipt_id_of", lambda *_: None)  # the worker has not signed it yet
    waiting = client.get(f"/pay/{payment.code}/result").get_data(as_text=True)
    # It says it is waiting and polls (no blind reload), with no download link before the receipt is signed.
    assert 'data-poll=' in waiting and 'Đang ký số biên lai' in waiting and 'pdf?download=1' not in waiting
    monkeypatch.setattr(pages, "receipt_id_of", real)
    assert real(session, payment.id) is not None  # jobs run at once in tests: the receipt is there
    done = client.get(f"/pay/{payment.code}/result").get_data(as_text=True)
    assert 'data-poll=' not in done and 'pdf?download=1' in done


def test_the_qr_on_the_page_scales_with_the_screen(client, session):
    import re

    payment = make_payment(session)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    svg = re.search(r"<svg[^>]*>", page.split('id="vietqr"', 1)[1]).group(0)
    assert "viewBox" in svg and "width=" not in svg
