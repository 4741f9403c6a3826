"""The cashier desk and the citizen pages, through the test client."""

import re

from fees.models import Payment
from tests.factories import csrf_token, make_user, sign_in
from tests.fees.factories import make_payment


def test_cashier_finds_a_request_by_dossier_and_takes_cash(client, session):
    make_user(session, roles=("cashier",), username="thungan")
    sign_in(client, "thungan")
    payment = make_payment(session, dossier_code="000.00.12.H26-260101-0099")
    page = client.get("/staff/cashier?q=000.00.12.H26-260101-0099").get_data(as_text=True)
    assert payment.code in page and "Thu tiền mặt" in page
    token = csrf_token(client, "/staff/cashier?q=x")
    resp = client.post(f"/staff/cashier/{payment.id}/pay", data={"method": "cash", "q": payment.code,
                                                                 "csrf_token": token, "confirm": "1"}, follow_redirects=True)
    assert "Đã ghi nhận thanh toán." in resp.get_data(as_text=True)
    session.expire_all()
    assert session.get(Payment, payment.id).status == "paid"


def test_the_desk_needs_a_cashier(client, session):
    make_user(session, roles=("dispatcher",), username="buuchinh")
    sign_in(client, "buuchinh")
    assert client.get("/staff/cashier").status_code == 403


def test_a_form_without_its_csrf_token_is_refused(client, session):
    make_user(session, roles=("cashier",), username="thungan2")
    sign_in(client, "thungan2")
    payment = make_payment(session)
    assert client.post(f"/staff/cashier/{payment.id}/pay", data={"method": "cash"}).status_code == 400
    session.expire_all()
    assert session.get(Payment, payment.id).status == "pending"


def test_the_pay_page_shows_fees_total_and_channels_in_vietnamese_then_english(client, session):
    payment = make_payment(session, amount=200_000)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    assert "Phí cung cấp thông tin lý lịch tư pháp" in page and "200.000 ₫" in page
    assert "Thanh toán qua VNPAY" in page and "ví MoMo" in page and "<svg" in page
    client.set_cookie("lang", "en")
    assert "Pay with VNPAY" in client.get(f"/pay/{payment.code}").get_data(as_text=True)


def test_the_result_page_trusts_our_state_not_the_query_string(client, session):
    payment = make_payment(session)
    page = client.get(f"/pay/{payment.code}/result?vnp_ResponseCode=00&vnp_TransactionStatus=00")
    assert "Chờ thanh toán" in page.get_data(as_text=True)


def test_an_unknown_code_is_a_404(client):
    assert client.get("/pay/ZZZZZZZZZZ").status_code == 404


def test_finance_requests_a_refund_and_a_colleague_approves_it(app, session):
    from core import audit
    from fees.gateways.counter import record_counter_payment

    make_user(session, roles=("finance",), username="ketoan1")
    make_user(session, roles=("finance",), username="ketoan2")
    payment = make_payment(session, amount=200_000)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()

    first = app.test_client()
    sign_in(first, "ketoan1")
    token = csrf_token(first, "/staff/refunds")
    resp = first.post("/staff/refunds/request", data={"payment_id": payment.id, "amount": "250.000",
                                                      "reason": "thu thừa", "q": payment.code, "csrf_token": token},
                      follow_redirects=True)
    assert "Vượt quá số tiền còn được hoàn (200.000 đồng)." in resp.get_data(as_text=True)
    resp = first.post("/staff/refunds/request", data={"payment_id": payment.id, "amount": "50.000",
                                                      "reason": "thu thừa", "q": payment.code, "csrf_token": token},
                      follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert "Đã tạo đề nghị hoàn tiền." in page and "Chờ người khác duyệt" in page

    second = app.test_client()
    sign_in(second, "ketoan2")
    page = second.get("/staff/refunds").get_data(as_text=True)
    refund_id = int(re.search(r'/staff/refunds/(\d+)/approve', page).group(1))
    resp = second.post(f"/staff/refunds/{refund_id}/approve", data={"csrf_token": csrf_token(second, "/staff/refunds"),
                                                                    "confirm": "1"},
                       follow_redirects=True)
    assert "Đã duyệt hoàn tiền." in resp.get_data(as_text=True)
    session.expire_all()
    paid = session.get(Payment, payment.id)
    assert (paid.status, paid.refundable_amount) == ("partially_refunded", 150_000)


def test_a_cashier_of_two_centres_finds_and_takes_a_request_of_either_and_sees_whose_it_is(client, session):
    from tests.factories import make_centre

    other = make_centre(session, "BN-B")
    payment = make_payment(session, dossier_code="000.00.01.H26-250101-0077")
    user = make_user(session, roles=("cashier",), centre=other, also=[payment.centre])
    sign_in(client, user.username)
    page = client.get(f"/staff/cashier?q={payment.dossier_code}").get_data(as_text=True)
    # Rows of several centres say whose each is.
    assert payment.code in page and payment.centre.code in page
    resp = client.post(f"/staff/cashier/{payment.id}/pay", data={"method": "cash", "csrf_token": csrf_token(client),
                                                                 "confirm": "1"})
    assert resp.status_code == 302
    session.expire_all()
    assert session.get(Payment, payment.id).status == "paid"


def test_a_cashier_of_another_centre_neither_finds_nor_takes_a_request(client, session):
    from tests.factories import make_centre

    payment = make_payment(session, dossier_code="000.00.01.H26-250101-0078")
    user = make_user(session, roles=("cashier",), centre=make_centre(session, "BN-B"))
    sign_in(client, user.username)
    assert payment.code not in client.get(f"/staff/cashier?q={payment.dossier_code}").get_data(as_text=True)
    resp = client.post(f"/staff/cashier/{payment.id}/pay", data={"method": "cash", "csrf_token": csrf_token(client)})
    assert resp.status_code == 404
    session.expire_all()
    assert session.get(Payment, payment.id).status == "pending"


def test_finance_of_two_centres_keeps_one_centres_books_at_a_time(client, session):
    from datetime import timedelta

    from core.clock import local_day
    from finance.closing import is_closed
    from tests.factories import make_centre

    other = make_centre(session, "BN-B")
    payment = make_payment(session)
    home = payment.centre
    user = make_user(session, roles=("finance",), centre=home, also=[other])
    sign_in(client, user.username)
    dashboard = client.get("/staff/finance/").get_data(as_text=True)
    assert 'name="centre"' in dashboard and other.code in dashboard and home.name in dashboard
    assert other.name in client.get(f"/staff/finance/?centre={other.code}").get_data(as_text=True)
    assert client.get("/staff/finance/?centre=KHONG-CO").status_code == 404
    # Closing a day closes the chosen centre's day only.
    day = local_day() - timedelta(days=400)
    client.post("/staff/finance/close", data={"day": day.isoformat(), "allow_empty": "1", "confirm": "1", "centre": other.code,
                                              "csrf_token": csrf_token(client, "/staff/finance/")})
    assert is_closed(session, other.id, day) and not is_closed(session, home.id, day)


def test_finance_sees_a_second_payment_to_return_and_a_refund_awaiting_the_gateways_confirmation(app, session):
    from urllib.parse import urlencode

    from core import audit
    from fees.gateways import vnpay
    from fees.gateways.counter import record_counter_payment
    from fees.models import Refund

    make_user(session, roles=("finance",), username="ketoan1")
    payment = make_payment(session, amount=200_000)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    # Paid again through VNPAY (a correctly signed IPN for the payment's order): money to give back.
    params = {"vnp_Amount": "20000000", "vnp_ResponseCode": "00", "vnp_TmnCode": "HCCSBX01",
              "vnp_TransactionNo": "14226112", "vnp_TransactionStatus": "00", "vnp_TxnRef": payment.code}
    params["vnp_SecureHash"] = vnpay.sign_params(params, "SANDBOXVNPAYSECRETHCC0000000000")
    assert app.test_client().get("/callbacks/vnpay/ipn?" + urlencode(params)).get_json()["RspCode"] == "00"
    session.expire_all()
    refund = session.query(Refund).filter_by(payment_id=payment.id).one()
    refund.confirmation, refund.last_answer = "query", "94"  # as if VNPAY had answered a duplicate
    session.commit()
    desk = app.test_client()
    sign_in(desk, "ketoan1")
    page = desk.get("/staff/refunds").get_data(as_text=True)
    assert f"Thanh toán lần hai (đơn {payment.code}): hoàn lại toàn bộ, khoản thu vẫn giữ nguyên" in page
    assert "Chờ cổng thanh toán xác nhận qua tra cứu giao dịch (trả lời 94)" in page
