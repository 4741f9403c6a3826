"""The sandbox front page, and the messages a citizen would have received."""

from tests.factories import make_user, sign_in
from tests.receipts.factories import paid_payment


def test_the_front_page_lists_every_sandbox(client):
    page = client.get("/sandbox/").get_data(as_text=True)
    for name in ("VNPAY", "MoMo", "VietQR", "VNPost", "Viettel Post", "GHN", "/sandbox/tsa"):
        assert name in page


def test_staff_see_the_receipt_e_mail_and_text_a_payer_was_sent(client, session):
    paid_payment(session)  # the payer has an e-mail and a phone: both are told
    assert client.get("/sandbox/messages").status_code == 302  # staff only
    make_user(session, username="xem")
    sign_in(client, "xem")
    page = client.get("/sandbox/messages").get_data(as_text=True)
    assert "nhung@example.vn" in page and "0912345678" in page and ".pdf" in page


def test_no_sandbox_pages_in_production_mode(app, client):
    app.extensions["hcc"].settings.sandbox = False
    assert client.get("/sandbox/").status_code == 404
    assert client.get("/sandbox/messages").status_code == 404
