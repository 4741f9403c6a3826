"""VNPAY 2.1.0: the signature functions and every IPN answer code, from crafted requests."""

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from core.models import AuditLog, InboundCallback
from fees.gateways import vnpay
from tests.fees.factories import make_payment

SECRET = "SANDBOXVNPAYSECRETHCC0000000000"
TMN = "HCCSBX01"


def test_hash_data_sorts_fields_and_encodes_values_like_vnpay():
    params = {"vnp_TxnRef": "ABC", "vnp_Amount": "20000000", "vnp_OrderInfo": "Thanh toan ho so 1/2",
              "vnp_SecureHash": "ignored", "other": "ignored"}
    assert vnpay.hash_data(params) == "vnp_Amount=20000000&vnp_OrderInfo=Thanh+toan+ho+so+1%2F2&vnp_TxnRef=ABC"


def test_signature_is_hex_hmac_sha512_of_the_hash_data():
    params = {"vnp_Amount": "1000000", "vnp_TxnRef": "X"}
    expected = hmac.new(b"KEY", b"vnp_Amount=1000000&vnp_TxnRef=X", hashlib.sha512).hexdigest()
    assert vnpay.sign_params(params, "KEY") == expected
    assert len(expected) == 128


def test_hash_data_of_vnpays_published_return_url_is_that_query_unchanged():
    # VNPAY publishes this return URL but not the secret that signed it, so no hash can be checked:
    # what we can check is that our hash data is the exact string VNPAY's own sample signs.
    query = ("vnp_Amount=1000000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14226112&vnp_CardType=ATM"
             "&vnp_OrderInfo=Thanh+toan+don+hang+thoi+gian%3A+2023-12-07+17%3A00%3A44&vnp_PayDate=20231207170112"
             "&vnp_ResponseCode=00&vnp_TmnCode=CTTVNP01&vnp_TransactionNo=14226112&vnp_TransactionStatus=00"
             "&vnp_TxnRef=166117")
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(query))
    assert vnpay.hash_data(params) == query


def test_pay_url_carries_amount_times_100_and_gmt7_dates():
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    params = vnpay.build_pay_params(tmn_code=TMN, txn_ref="ABCDEFGHJK", amount=200_000, order_info="Phi LLTP",
                                    return_url="https://hcc.example/pay/ABCDEFGHJK/result", ip_addr="1.2.3.4",
                                    create_date=created, expire_date=created)
    assert params["vnp_Amount"] == "20000000"
    assert params["vnp_CreateDate"] == "20260102100405"  # 03:04 UTC is 10:04 in Hà Nội
    url = vnpay.pay_url("https://sandbox.example/vpcpay.html", params, SECRET)
    from urllib.parse import parse_qsl, urlsplit

    back = dict(parse_qsl(urlsplit(url).query))
    assert vnpay.verify_params(back, SECRET)
    assert back["vnp_TxnRef"] == "ABCDEFGHJK"


def test_querydr_and_refund_sign_the_pipe_joined_fields_in_order():
    body = vnpay.build_querydr(tmn_code=TMN, txn_ref="T1", transaction_date="20260101120000", ip_addr="127.0.0.1",
                               secret=SECRET, request_id="R1")
    data = "|".join(["R1", "2.1.0", "querydr", TMN, "T1", "20260101120000", body["vnp_CreateDate"], "127.0.0.1",
                     body["vnp_OrderInfo"]])
    assert body["vnp_SecureHash"] == hmac.new(SECRET.encode(), data.encode(), hashlib.sha512).hexdigest()
    refund = vnpay.build_refund(tmn_code=TMN, txn_ref="T1", amount=50_000, full=False, transaction_no="123",
                                transaction_date="20260101120000", create_by="finance", ip_addr="127.0.0.1",
                                secret=SECRET, request_id="R2")
    assert refund["vnp_TransactionType"] == "03" and refund["vnp_Amount"] == "5000000"
    assert vnpay.verify_pipe_response(refund, vnpay.REFUND_REQUEST_FIELDS, SECRET)


def ipn_params(payment, *, amount=None, response_code="00", txn_no="14226112", tmn=TMN, secret=SECRET, **over):
    params = {"vnp_Amount": str((payment.amount if amount is None else amount) * 100), "vnp_BankCode": "NCB",
              "vnp_OrderInfo": "Thanh toan", "vnp_PayDate": "20260101120000", "vnp_ResponseCode": response_code,
              "vnp_TmnCode": tmn, "vnp_TransactionNo": txn_no, "vnp_TransactionStatus": response_code,
              "vnp_TxnRef": payment.code, **over}
    params["vnp_SecureHash"] = vnpay.sign_params(params, secret)
    return params


def send_ipn(client, params):
    resp = client.get("/callbacks/vnpay/ipn?" + urlencode(params))
    assert resp.status_code == 200
    return resp.get_json()


def paid_audit_rows(session, payment):
    return session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.paid", AuditLog.entity_id == str(payment.id)))


def test_a_valid_ipn_pays_the_request_and_answers_00(client, session):
    payment = make_payment(session)
    assert send_ipn(client, ipn_params(payment)) == {"RspCode": "00", "Message": "Confirm Success"}
    session.refresh(payment)
    assert (payment.status, payment.channel, payment.channel_ref, payment.paid_amount) == \
        ("paid", "vnpay", "14226112", 200_000)


def test_a_replayed_ipn_answers_02_and_changes_nothing(client, session):
    payment = make_payment(session)
    params = ipn_params(payment)
    send_ipn(client, params)
    assert send_ipn(client, params)["RspCode"] == "02"
    assert paid_audit_rows(session, payment) == 1
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "vnpay")
                               .order_by(InboundCallback.id)).all()
    assert outcomes == ["accepted", "duplicate"]


def test_a_tampered_amount_answers_04(client, session):
    payment = make_payment(session)
    assert send_ipn(client, ipn_params(payment, amount=1_000))["RspCode"] == "04"
    session.refresh(payment)
    assert payment.status == "pending"


def test_a_bad_hash_answers_97_and_is_kept_verbatim(client, session):
    payment = make_payment(session)
    params = ipn_params(payment)
    params["vnp_Amount"] = "100"  # changed after signing
    assert send_ipn(client, params)["RspCode"] == "97"
    row = session.scalars(select(InboundCallback).where(InboundCallback.source == "vnpay")).one()
    assert row.outcome == "rejected" and "vnp_Amount=100" in row.query_string
    session.refresh(payment)
    assert payment.status == "pending"


def test_an_unknown_order_answers_01(client, session):
    payment = make_payment(session)
    params = ipn_params(payment, vnp_TxnRef="ZZZZZZZZZZ")
    assert send_ipn(client, params)["RspCode"] == "01"


def test_another_merchants_ipn_answers_01(client, session):
    payment = make_payment(session)
    assert send_ipn(client, ipn_params(payment, tmn="OTHER001"))["RspCode"] == "01"


def test_a_malformed_amount_answers_99(client, session):
    payment = make_payment(session)
    params = ipn_params(payment, vnp_Amount="hai-tram")
    assert send_ipn(client, params)["RspCode"] == "99"


def test_a_failed_payment_is_recorded_and_can_be_paid_later(client, session):
    payment = make_payment(session)
    assert send_ipn(client, ipn_params(payment, response_code="24", txn_no="0"))["RspCode"] == "00"
    session.refresh(payment)
    assert payment.status == "failed"
    assert send_ipn(client, ipn_params(payment, txn_no="999"))["RspCode"] == "00"
    session.refresh(payment)
    assert payment.status == "paid"


@pytest.mark.parametrize("status,flag", [("expired", "paid_after_expiry"), ("cancelled", "paid_after_cancel")])
def test_money_for_an_expired_or_cancelled_request_is_kept_and_flagged(client, session, status, flag):
    from core import audit
    from fees.payments import transition

    payment = make_payment(session)
    transition(session, payment, status, actor=audit.SYSTEM)
    session.commit()
    assert send_ipn(client, ipn_params(payment))["RspCode"] == "00"
    session.refresh(payment)
    assert flag in payment.flags
    assert payment.status == ("paid" if status == "expired" else "cancelled")


def test_a_second_payment_for_a_paid_request_is_flagged_not_lost(client, session):
    from core import audit
    from fees.gateways.counter import record_counter_payment

    payment = make_payment(session)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    params = ipn_params(payment, txn_no="777")
    # VNPAY's order had not been confirmed: it is now (00), recorded as a second payment; a replay is 02.
    assert send_ipn(client, params)["RspCode"] == "00"
    assert send_ipn(client, params)["RspCode"] == "02"
    session.refresh(payment)
    assert payment.channel == "counter" and "paid_twice" in payment.flags
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "vnpay")
                               .order_by(InboundCallback.id)).all()
    assert outcomes == ["flagged", "duplicate"]
    from fees.models import Refund

    refund = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).one()
    assert (refund.kind, refund.amount, refund.status, refund.attempt.transaction_ref) == \
        ("second_payment", 200_000, "requested", "777")


def test_an_amount_that_is_not_whole_dong_keeps_vnpays_check_order(client, session):
    payment = make_payment(session)
    # Unknown order first (01), even when the amount is also wrong; a known order then gets 04.
    assert send_ipn(client, ipn_params(payment, vnp_Amount="20000050", vnp_TxnRef="ZZZZZZZZZZ"))["RspCode"] == "01"
    assert send_ipn(client, ipn_params(payment, vnp_Amount="20000050"))["RspCode"] == "04"
    assert send_ipn(client, ipn_params(payment, vnp_Amount="20_000_000"))["RspCode"] == "99"
    session.refresh(payment)
    assert payment.status == "pending"


def test_refund_and_querydr_name_the_original_by_the_pay_requests_create_date(session):
    import json
    from types import SimpleNamespace

    import responses

    from core.settings import Settings

    api = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction"
    gw = vnpay.VnpayGateway(Settings.from_env(environ={"HCC_VNPAY_API_URL": api, "HCC_VNPAY_TMN_CODE": TMN,
                                                       "HCC_VNPAY_HASH_SECRET": SECRET}))
    payment = make_payment(session)
    payment.extra = {"vnpay_create_date": "20260101100000", "vnpay_pay_date": "20260101100731"}
    payment.paid_amount, payment.channel_ref = payment.amount, "14226112"
    answer = {"vnp_ResponseId": "r", "vnp_Command": "refund", "vnp_ResponseCode": "00", "vnp_Message": "ok",
              "vnp_TmnCode": TMN, "vnp_TxnRef": payment.code, "vnp_Amount": "5000000", "vnp_BankCode": "NCB",
              "vnp_PayDate": "20260102090000", "vnp_TransactionNo": "14226112", "vnp_TransactionType": "03",
              "vnp_TransactionStatus": "05", "vnp_OrderInfo": "x"}
    answer["vnp_SecureHash"] = vnpay.sign_pipe([answer[k] for k in vnpay.REFUND_RESPONSE_FIELDS], SECRET)
    with responses.RequestsMock() as wire:
        wire.post(api, json=answer)
        gw.refund(payment, SimpleNamespace(amount=50_000, reference="RF1", requested_by="user:1", approved_by=None))
        sent = json.loads(wire.calls[0].request.body)
    assert sent["vnp_TransactionDate"] == "20260101100000"  # the pay's vnp_CreateDate, not vnp_PayDate
    assert sent["vnp_TransactionType"] == "03" and sent["vnp_Amount"] == "5000000"
    assert vnpay.verify_pipe_response(sent, vnpay.REFUND_REQUEST_FIELDS, SECRET)
    query = vnpay.build_querydr(tmn_code=TMN, txn_ref=payment.code, transaction_date=vnpay.transaction_date(payment),
                                ip_addr="127.0.0.1", secret=SECRET)
    assert query["vnp_TransactionDate"] == "20260101100000"


def test_the_sandbox_refuses_a_refund_that_names_the_wrong_original():
    from fees.gateways import ledger
    from fees.gateways.vnpay import sandbox

    ledger.clear()
    txn = ledger.put(ledger.SandboxTxn("vnpay", "ABCDEFGHJK", 200_000, status="paid", transaction_no="1",
                                       pay_date="20260101100731", data={"create_date": "20260101100000"}))

    def refund(transaction_date, amount=200_000, full=True, request_id="R1"):
        body = vnpay.build_refund(tmn_code=TMN, txn_ref="ABCDEFGHJK", amount=amount, full=full, transaction_no="1",
                                  transaction_date=transaction_date, create_by="k", ip_addr="127.0.0.1",
                                  secret=SECRET, request_id=request_id)
        return sandbox.api(body, SECRET, TMN)["vnp_ResponseCode"]

    assert refund("20260101100731") == "91"  # vnp_PayDate is not how VNPAY finds the original
    assert refund("20260101100000", amount=50_000, full=True) == "93"  # "02" (full) must be the whole amount
    assert refund("20260101100000", amount=50_000, full=False) == "00"
    assert refund("20260101100000", amount=50_000, full=False) == "94"  # the same request id again
    assert refund("20260101100000", amount=150_000, full=True, request_id="R2") == "04"  # no full after a partial
    assert refund("20260101100000", amount=150_001, full=False, request_id="R3") == "93"  # beyond what is left
    assert txn.refunded == 50_000
    txn.status = "cancelled"
    assert refund("20260101100000", amount=1_000, full=False, request_id="R4") == "95"  # not a success at VNPAY
    ledger.clear()


def test_a_replayed_ipn_for_a_cancelled_request_is_noted_once(client, session):
    from core import audit
    from fees.payments import transition

    payment = make_payment(session)
    transition(session, payment, "cancelled", actor=audit.SYSTEM)
    session.commit()
    params = ipn_params(payment)
    assert send_ipn(client, params)["RspCode"] == "00"
    assert send_ipn(client, params)["RspCode"] == "02"
    session.refresh(payment)
    assert len(payment.extra["finance_notes"]) == 1
    flagged = session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.flagged", AuditLog.entity_id == str(payment.id)))
    assert flagged == 1


def test_the_sandbox_pay_page_checks_what_vnpay_checks():
    from fees.gateways.vnpay import sandbox

    now = datetime.now(UTC)
    from datetime import timedelta

    def check(**over):
        params = vnpay.build_pay_params(tmn_code=TMN, txn_ref="ABCDEFGHJK", amount=200_000, order_info="Phi LLTP",
                                        return_url="https://hcc.example/r", ip_addr="1.2.3.4", create_date=now,
                                        expire_date=now + timedelta(minutes=15))
        params.update(over)
        params = {k: v for k, v in params.items() if v is not None}
        params["vnp_SecureHash"] = vnpay.sign_params(params, SECRET)
        return sandbox.check_pay_request(params, SECRET, TMN)

    assert check() is None
    assert check(vnp_TmnCode="OTHER001").startswith("02")
    for bad in ({"vnp_CreateDate": None}, {"vnp_CreateDate": "2026-01-01"}, {"vnp_CurrCode": "USD"},
                {"vnp_Amount": "20000050"}, {"vnp_Amount": "0"}, {"vnp_ReturnUrl": None},
                {"vnp_ExpireDate": vnpay.vn_time(now - timedelta(minutes=1))}):
        assert check(**bad) is not None, bad


def test_a_merchant_account_given_replaces_the_settings_credentials(session):
    from core.settings import Settings
    from fees.gateways.base import MerchantAccount, get_gateway

    settings = Settings.from_env(environ={"HCC_VNPAY_TMN_CODE": TMN, "HCC_VNPAY_HASH_SECRET": SECRET,
                                          "HCC_VNPAY_PAY_URL": "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html"})
    assert get_gateway("vnpay", settings).account.tmn_code == TMN  # no account given: the settings'
    unit = MerchantAccount(gateway="vnpay", owner="unit:STP", tmn_code="STPBN001", hash_secret="STPSECRET")
    checkout = get_gateway("vnpay", settings, unit).checkout(make_payment(session), return_url="https://hcc.example/r")
    from urllib.parse import parse_qsl, urlsplit

    query = dict(parse_qsl(urlsplit(checkout.redirect_url).query))
    assert query["vnp_TmnCode"] == "STPBN001"
    assert vnpay.verify_params(query, "STPSECRET") and not vnpay.verify_params(query, SECRET)
    assert "STPSECRET" not in repr(unit)
