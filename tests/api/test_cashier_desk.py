"""The cashier desk: find a payment by phone or name, create a counter payment from the catalogue and take it
on the same screen (its receipt issued), cash and refund approval refused without their confirmation."""

import re

from sqlalchemy import select

from core import audit
from fees.models import Payment, Refund
from receipts.models import Receipt
from tests.factories import csrf_token, make_user, sign_in
from tests.fees.factories import make_fee, make_payment


def _cashier(client, session, name="thungan"):
    make_user(session, roles=("cashier",), username=name)
    sign_in(client, name)
    return csrf_token(client, "/staff/cashier")


def test_a_counter_payment_is_created_from_the_catalogue_and_taken_with_its_confirmation(client, session):
    make_fee(session, code="CTHT", name="Lệ phí chứng thực bản sao", amount=10_000, kind="le_phi")
    make_fee(session, code="LLTP", name="Phí cung cấp thông tin lý lịch tư pháp", amount=130_000)
    token = _cashier(client, session)
    page = client.get("/staff/cashier").get_data(as_text=True)
    assert "Lệ phí chứng thực bản sao" in page and 'name="qty_CTHT"' in page

    resp = client.post("/staff/cashier/new", data={
        "csrf_token": token, "dossier_code": "000.00.12.H26-261202-0042", "payer_name": "Nguyễn Văn An",
        "payer_phone": "0912 000 111", "qty_CTHT": "2", "qty_LLTP": "1"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    payment = session.scalars(select(Payment).where(Payment.dossier_code == "000.00.12.H26-261202-0042")).one()
    assert payment.amount == 150_000 and payment.allowed_channels == ["counter"]
    assert payment.code in page and "Xác nhận đã thu 150.000 đồng tiền mặt?" in page

    refused = client.post(f"/staff/cashier/{payment.id}/pay", data={"csrf_token": token, "method": "cash",
                                                                    "q": payment.code}, follow_redirects=True)
    assert "hãy đánh dấu ô xác nhận" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Payment, payment.id).status == "pending"

    done = client.post(f"/staff/cashier/{payment.id}/pay", data={"csrf_token": token, "method": "cash", "confirm": "1",
                                                                 "q": payment.code}, follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Đã ghi nhận thanh toán." in page
    session.expire_all()
    assert session.get(Payment, payment.id).status == "paid"
    receipt = session.scalars(select(Receipt).where(Receipt.payment_id == payment.id)).one()
    assert receipt.content["payer"]["name"] == "Nguyễn Văn An" and receipt.amount == 150_000
    assert re.search(rf'id="receipt-link" href="/api/v1/receipts/{receipt.id}/pdf"', page)


def test_no_fee_picked_creates_nothing(client, session):
    make_fee(session, code="CTHT", name="Lệ phí chứng thực bản sao", amount=10_000, kind="le_phi")
    token = _cashier(client, session)
    resp = client.post("/staff/cashier/new", data={"csrf_token": token, "dossier_code": "HS-1", "payer_name": "An",
                                                   "qty_CTHT": "0"}, follow_redirects=True)
    assert "Chọn ít nhất một khoản phí" in resp.get_data(as_text=True)
    assert session.scalars(select(Payment)).first() is None


def test_the_desk_finds_a_payment_by_phone_or_by_a_name_without_diacritics(client, session):
    payment = make_payment(session, dossier_code="000.00.12.H26-260101-0077")  # payer Trần Thị Bình, 0912345678
    _cashier(client, session)
    assert payment.code in client.get("/staff/cashier?q=tran thi binh").get_data(as_text=True)
    assert payment.code in client.get("/staff/cashier?q=0912345678").get_data(as_text=True)
    assert payment.code not in client.get("/staff/cashier?q=le van tam").get_data(as_text=True)


def test_card_payment_also_needs_its_confirmation(client, session):
    payment = make_payment(session)
    token = _cashier(client, session)
    client.post(f"/staff/cashier/{payment.id}/pay", data={"csrf_token": token, "method": "card",
                                                         "terminal_ref": "POS-1"})
    session.expire_all()
    assert session.get(Payment, payment.id).status == "pending"


def test_refund_approval_is_refused_without_its_confirmation(app, session):
    from fees.gateways.counter import record_counter_payment
    from fees.refunds import request_refund

    make_user(session, roles=("finance",), username="ketoan1")
    make_user(session, roles=("finance",), username="ketoan2")
    payment = make_payment(session, amount=200_000)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    refund = request_refund(session, payment.id, amount=50_000, reason="thu thừa",
                            actor=audit.Actor(type="user", id="999", name="khác"), needs_approval=True,
                            centre_id=payment.centre_id)
    session.commit()

    second = app.test_client()
    sign_in(second, "ketoan2")
    page = second.get("/staff/refunds").get_data(as_text=True)
    assert f"Xác nhận duyệt hoàn 50.000 đồng cho khoản thu {payment.code}?" in page
    token = csrf_token(second, "/staff/refunds")
    refused = second.post(f"/staff/refunds/{refund.id}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "hãy đánh dấu ô xác nhận hoàn tiền" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Refund, refund.id).status == "requested"
    second.post(f"/staff/refunds/{refund.id}/approve", data={"csrf_token": token, "confirm": "1"})
    session.expire_all()
    assert session.get(Refund, refund.id).status != "requested"
