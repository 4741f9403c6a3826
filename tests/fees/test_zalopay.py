"""ZaloPay v2: MACs against ZaloPay's own published example, the requests built field by field, the callback
answered as ZaloPay documents, and a payment made and refunded through the ZaloPay sandbox.

Unit tests fake the wire with `responses`, which hands each request to the sandbox's own route functions
(fees/gateways/zalopay/sandbox.py), so signatures and codes are those the sandbox checks; the end-to-end test
serves the app over HTTP and clicks through the sandbox's pay page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from sqlalchemy import func, select

from core import audit, jobs
from core.models import AuditLog, InboundCallback
from core.settings import Settings
from fees.gateways import attempts, ledger
from fees.gateways.base import (
    DuplicateError,
    MerchantAccount,
    RetryableGatewayError,
    SandboxRequest,
    get_gateway,
)
from fees.gateways.zalopay import ZalopayGateway
from fees.gateways.zalopay import payloads as wire
from fees.gateways.zalopay import sandbox as side
from fees.models import Payment, Refund
from tests.fees.factories import make_payment

APP_ID, KEY1, KEY2 = "2553", "SANDBOXZALOPAYKEY1HCC00000000000", "SANDBOXZALOPAYKEY2HCC00000000000"
FINANCE = audit.Actor(type="user", id="7", name="Kế toán")


@pytest.fixture(autouse=True)
def empty_sandbox():
    ledger.clear()
    yield
    ledger.clear()


# --- Known vectors ---------------------------------------------------------------------------------

# ZaloPay's own example callback (docs.zalopay.vn/docs/specs/callback-api, "Data sample"), signed with the
# key2 of ZaloPay's public demo app 2553 as published in its docs and samples (zalopay-samples,
# docs.zalopay.vn): a test vector, not a credential of ours.
DOC_KEY2 = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz"
DOC_CALLBACK = {
    "data": '{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,'
            '"app_user":"demo","amount":10000,"embed_data":"{\\"merchantinfo\\":\\"embeddata123\\",'
            '\\"promotioninfo\\":\\"\\"}","item":"[{\\"itemid\\":\\"knb\\",\\"itemname\\":\\"kim nguyen bao\\",'
            '\\"itemprice\\":198400,\\"itemquantity\\":1}]","zp_trans_id":200904000000389,'
            '"server_time":1599189413498,"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc",'
            '"user_fee_amount":0,"discount_amount":0}',
    "mac": "d8d33baf449b31d7f9b94fa50d7c942c08cd4d83f28fa185557da21acb104f67",
    "type": 1,
}


def test_the_callback_mac_of_zalopays_published_example_verifies():
    assert wire.verify_callback(DOC_CALLBACK, DOC_KEY2)
    assert wire.callback_data(DOC_CALLBACK)["zp_trans_id"] == 200904000000389
    # One character of the data changed (the amount), the MAC kept: refused.
    tampered = {**DOC_CALLBACK, "data": DOC_CALLBACK["data"].replace('"amount":10000', '"amount":10001')}
    assert not wire.verify_callback(tampered, DOC_KEY2)
    assert not wire.verify_callback(DOC_CALLBACK, KEY2)


def test_each_mac_is_hmac_sha256_over_the_documented_fields_in_order():
    def h(key, text):
        return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()

    order = wire.build_create(app_id="2553", key1=KEY1, app_trans_id="260101_ABCDEFGHJK", app_user="hcc-centre-1",
                              amount=200000, app_time=1767236400000, description="Thanh toán phí",
                              redirect_url="https://hcc.example/pay/ABCDEFGHJK/result",
                              callback_url="https://hcc.example/callbacks/zalopay/callback")
    embed = '{"redirecturl":"https://hcc.example/pay/ABCDEFGHJK/result"}'
    assert order["mac"] == h(KEY1, f"2553|260101_ABCDEFGHJK|hcc-centre-1|200000|1767236400000|{embed}|[]")
    query = wire.build_query(app_id="2553", key1=KEY1, app_trans_id="260101_ABCDEFGHJK")
    assert query["mac"] == h(KEY1, f"2553|260101_ABCDEFGHJK|{KEY1}")
    refund = wire.build_refund(app_id="2553", key1=KEY1, refund_id="260102_2553_RFABC", zp_trans_id="260101000000389",
                               amount=50000, description="Hoàn tiền ABCDEFGHJK", timestamp=1767322800000)
    assert refund["mac"] == h(KEY1, "2553|260101000000389|50000|Hoàn tiền ABCDEFGHJK|1767322800000")
    status = wire.build_query_refund(app_id="2553", key1=KEY1, refund_id="260102_2553_RFABC", timestamp=1767322800001)
    assert status["mac"] == h(KEY1, "2553|260102_2553_RFABC|1767322800001")
    params = {"appid": "2553", "apptransid": "260101_ABCDEFGHJK", "pmcid": "38", "bankcode": "", "amount": "200000",
              "discountamount": "0", "status": "1"}
    assert wire.redirect_checksum(params, KEY2) == h(KEY2, "2553|260101_ABCDEFGHJK|38||200000|0|1")


def test_our_order_reference_travels_in_an_app_trans_id_of_the_vietnamese_day():
    # 23:30 UTC on 31 December is already 1 January in Vietnam (GMT+7).
    day = wire.day_prefix(datetime(2025, 12, 31, 23, 30, tzinfo=UTC))
    assert day == "260101"
    assert wire.app_trans_id("ABCDEFGHJKL2", day) == "260101_ABCDEFGHJKL2"
    assert wire.order_ref_of("260101_ABCDEFGHJKL2") == "ABCDEFGHJKL2"
    assert wire.order_ref_of("ABCDEFGHJK") is None and wire.order_ref_of(260101) is None


# --- The client against the sandbox, over `responses` ------------------------------------------------

def _request(settings, body: bytes, sent: list) -> SandboxRequest:
    form = dict(parse_qsl(body.decode() if isinstance(body, bytes) else body or "", keep_blank_values=True))
    default = get_gateway("zalopay", settings).account
    return SandboxRequest(method="POST", path_args={}, args={}, form=form, json=None, body=body, settings=settings,
                          merchant=lambda _id: default,
                          notify=lambda method, url, **kw: sent.append((method, url, kw)) or 200)


@pytest.fixture
def sandbox(app):
    """The sandbox's routes answering the real client's requests; `sandbox.sent` holds its callbacks."""
    settings = jobs.settings()
    api = get_gateway("zalopay", settings).api_url
    sent: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for route in side.ROUTES:
            if "<" in route.rule:
                continue

            def callback(request, handler=route.handler):
                answer = handler(_request(settings, request.body, sent))
                if answer.json is None:
                    return answer.status, {}, answer.body or b""
                return answer.status, {"Content-Type": "application/json"}, json.dumps(answer.json)

            mock.add_callback(responses.POST, api + route.rule, callback=callback)
        mock.sent = sent
        mock.settings = settings

        def pay(checkout, action="pay"):
            trans_id = urlsplit(checkout.redirect_url).path.rsplit("/", 1)[1]
            req = _request(settings, f"action={action}".encode(), sent)
            return side.pay(SandboxRequest(**{**req.__dict__, "path_args": {"order_id": trans_id}}))

        mock.pay = pay
        yield mock


def test_checkout_sends_the_create_form_field_by_field(sandbox, session):
    payment = make_payment(session, channels=["zalopay"])
    checkout = get_gateway("zalopay", sandbox.settings).checkout(payment, return_url="http://localhost/r",
                                                                 order_ref=payment.code)
    sent = dict(parse_qsl(sandbox.calls[0].request.body, keep_blank_values=True))
    day = wire.day_prefix(datetime.now(UTC))
    assert sandbox.calls[0].request.url.endswith("/sandbox/zalopay/v2/create")
    assert sandbox.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(sent) == {"app_id", "app_user", "app_trans_id", "app_time", "amount", "item", "embed_data",
                         "description", "bank_code", "callback_url", "mac"}
    assert {k: sent[k] for k in ("app_id", "app_user", "app_trans_id", "amount", "item", "embed_data",
                                 "description", "bank_code", "callback_url")} == {
        "app_id": APP_ID, "app_user": f"hcc-centre-{payment.centre_id}", "app_trans_id": f"{day}_{payment.code}",
        "amount": "200000", "item": "[]", "embed_data": '{"redirecturl":"http://localhost/r"}',
        "description": "Thanh toán phí, lệ phí hồ sơ 000.00.01.H26-250101-0001", "bank_code": "",
        "callback_url": "http://localhost/callbacks/zalopay/callback"}
    assert wire.verify_create(sent, KEY1) and not wire.verify_create(sent, KEY2)
    assert checkout.redirect_url == f"http://localhost/sandbox/zalopay/pay/{day}_{payment.code}"
    assert checkout.reference == payment.code and checkout.extra["create_date"] == day


def test_a_taken_app_trans_id_and_a_down_gateway_are_told_apart(sandbox, session):
    payment = make_payment(session, channels=["zalopay"])
    gateway = get_gateway("zalopay", sandbox.settings)
    gateway.checkout(payment, return_url="http://localhost/r", order_ref=payment.code)
    with pytest.raises(DuplicateError):  # ZaloPay's sub_return_code -68: the order exists
        gateway.checkout(payment, return_url="http://localhost/r", order_ref=payment.code)
    with responses.RequestsMock() as down:
        down.add(responses.POST, gateway.api_url + wire.CREATE_PATH, status=503)
        with pytest.raises(RetryableGatewayError):
            gateway.checkout(payment, return_url="http://localhost/r", order_ref=f"{payment.code}L2")


def test_a_unit_with_its_own_app_signs_with_its_own_key1():
    unit = MerchantAccount(gateway="zalopay", owner="unit:STP", merchant_ref="9911",
                           values={"key1": "UNITKEY1", "key2": "UNITKEY2"})
    gateway = ZalopayGateway(Settings.from_env(environ={}), unit)
    assert gateway.app_id == "9911" and gateway.account.merchant_id == "9911"
    assert ZalopayGateway(Settings.from_env(environ={})).unit_account("unit:STP", "9911", {"key1": "A", "key2": "B"}) \
        == MerchantAccount(gateway="zalopay", owner="unit:STP", merchant_ref="9911", values={"key1": "A", "key2": "B"})


def test_production_without_the_keys_names_the_missing_setting():
    from fees.gateways.base import GATEWAYS, GatewayNotConfigured

    settings = Settings.from_env(environ={"HCC_ENV": "production", "HCC_ZALOPAY_APP_ID": "2553"})
    assert GATEWAYS.missing_settings(settings, ["zalopay"]) == {
        "zalopay": ["HCC_ZALOPAY_KEY1", "HCC_ZALOPAY_KEY2", "HCC_ZALOPAY_API_URL"]}
    with pytest.raises(GatewayNotConfigured) as e:
        ZalopayGateway(settings).default_account()
    assert "HCC_ZALOPAY_KEY1" in str(e.value)


# --- The callback, through /callbacks/zalopay/callback --------------------------------------------------

def _callback_for(session, payment, **over) -> dict:
    """The callback the sandbox would send for the payment's order (opened as a checkout opens it)."""
    attempt = attempts.open_attempt(session, payment, "zalopay", merchant_id=APP_ID)
    attempt.create_date = "260101"
    session.commit()
    data = {"app_id": 2553, "app_trans_id": f"260101_{attempt.order_ref}", "app_time": 1767236400000,
            "app_user": "hcc-centre-1", "amount": payment.amount, "embed_data": "{}", "item": "[]",
            "zp_trans_id": 260101000000389, "server_time": 1767236460000, "channel": 38,
            "merchant_user_id": "u", "user_fee_amount": 0, "discount_amount": 0, **over}
    return wire.sign_callback(data, KEY2)


def _paid_count(session, payment_id) -> int:
    return session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.paid", AuditLog.entity_id == str(payment_id)))


def test_a_callback_with_a_bad_mac_is_refused_and_changes_nothing(client, session):
    payment = make_payment(session, channels=["zalopay"])
    body = _callback_for(session, payment)
    forged = {**body, "data": body["data"].replace('"amount":200000', '"amount":2000')}
    answer = client.post("/callbacks/zalopay/callback", json=forged)
    assert answer.status_code == 200 and answer.json["return_code"] == -1
    unsigned = {**body, "mac": wire.mac(KEY1, body["data"])}  # signed with the wrong key
    assert client.post("/callbacks/zalopay/callback", json=unsigned).json["return_code"] == -1
    session.refresh(payment)
    assert payment.status == "pending"
    rows = session.scalars(select(InboundCallback).where(InboundCallback.source == "zalopay")).all()
    assert [(r.outcome, r.detail) for r in rows] == [("rejected", "bad signature")] * 2


def test_a_callback_pays_once_and_its_repeat_is_answered_2(client, session):
    payment = make_payment(session, channels=["zalopay"])
    body = _callback_for(session, payment)
    first = client.post("/callbacks/zalopay/callback", json=body)
    assert first.json == {"return_code": 1, "return_message": "success"}
    again = client.post("/callbacks/zalopay/callback", json=body)
    assert again.json["return_code"] == 2  # ZaloPay: this zp_trans_id was handled already
    session.refresh(payment)
    assert (payment.status, payment.channel, payment.channel_ref) == ("paid", "zalopay", "260101000000389")
    assert _paid_count(session, payment.id) == 1


def test_a_callback_for_another_amount_is_not_a_payment(client, session):
    payment = make_payment(session, channels=["zalopay"])
    answer = client.post("/callbacks/zalopay/callback", json=_callback_for(session, payment, amount=150000))
    assert answer.json["return_code"] == -1
    session.refresh(payment)
    assert payment.status == "pending"


# --- Query and refund against the sandbox --------------------------------------------------------------

def _paid_at_sandbox(sandbox, client, session) -> Payment:
    """A payment checked out, paid on the sandbox's page and settled by the callback it sent."""
    payment = make_payment(session, channels=["zalopay"])
    gateway = get_gateway("zalopay", sandbox.settings)
    attempts.start_checkout(session, payment, gateway, return_url="http://localhost/r", client_ip="127.0.0.1")
    session.commit()
    checkout_url = ledger.all_of("zalopay")[0].order_id
    sandbox.pay(type("C", (), {"redirect_url": f"http://localhost/sandbox/zalopay/pay/{checkout_url}"}))
    (method, url, kw), = sandbox.sent
    assert (method, url) == ("POST", "http://localhost/callbacks/zalopay/callback")
    assert client.post("/callbacks/zalopay/callback", json=kw["json"]).json["return_code"] == 1
    session.refresh(payment)
    assert payment.status == "paid"
    return payment


def test_query_says_paid_with_the_amount(sandbox, client, session):
    payment = _paid_at_sandbox(sandbox, client, session)
    result = get_gateway("zalopay", sandbox.settings).query(payment, attempts.orders_of(session, payment, "zalopay"))
    assert (result.found, result.success, result.amount, result.transaction_ref) == (
        True, True, 200_000, payment.channel_ref)
    body = dict(parse_qsl(sandbox.calls[-1].request.body, keep_blank_values=True))
    assert body["app_trans_id"] == ledger.all_of("zalopay")[0].order_id


def _approved_refund(session, payment, amount) -> Refund:
    from fees.refunds import request_refund

    refund = request_refund(session, payment.id, amount=amount, reason="nộp thừa", actor=FINANCE, needs_approval=True)
    refund.status, refund.approved_by = "approved", "user:8"
    session.commit()
    return refund


def _run(session, refund) -> Refund:
    from fees.refunds import execute_refund

    execute_refund(session, refund.id, jobs.settings())
    session.commit()
    session.expire_all()
    return session.get(Refund, refund.id)


def test_a_refund_answered_processing_is_confirmed_by_query_refund(sandbox, client, session):
    payment = _paid_at_sandbox(sandbox, client, session)
    refund = _approved_refund(session, payment, 50_000)
    ledger.inject("zalopay", "refund", wire.PROCESSING, apply=True, refund_status=wire.PROCESSING)
    refund = _run(session, refund)
    assert (refund.status, refund.confirmation) == ("processing", "query")  # 3: not a success yet
    refund = _run(session, refund)  # query_refund: still 3
    assert (refund.status, refund.last_answer) == ("processing", "3")
    sent = dict(parse_qsl(sandbox.calls[-1].request.body, keep_blank_values=True))
    side.settle_refund(sent["m_refund_id"], wire.SUCCESS)
    refund = _run(session, refund)
    assert refund.status == "succeeded"
    assert session.get(Payment, payment.id).status == "partially_refunded"
    assert ledger.all_of("zalopay")[0].refunded == 50_000
    paths = [c.request.url.rsplit("/", 1)[1] for c in sandbox.calls]
    assert paths[-3:] == ["refund", "query_refund", "query_refund"]
    assert sent["m_refund_id"] == f"{wire.day_prefix(refund.created_at.replace(tzinfo=UTC))}_{APP_ID}_{refund.reference}"


def test_a_refund_zalopay_refuses_fails_and_moves_no_money(sandbox, client, session):
    payment = _paid_at_sandbox(sandbox, client, session)
    refund = _approved_refund(session, payment, 50_000)
    ledger.inject("zalopay", "refund", wire.FAIL)
    refund = _run(session, refund)
    assert refund.status == "failed" and session.get(Payment, payment.id).status == "paid"
    assert ledger.all_of("zalopay")[0].refunded == 0


def test_a_lost_refund_answer_waits_for_query_refund(sandbox, client, session):
    payment = _paid_at_sandbox(sandbox, client, session)
    refund = _approved_refund(session, payment, 200_000)
    ledger.inject("zalopay", "refund", "lost", apply=True, refund_status=wire.SUCCESS)
    refund = _run(session, refund)
    assert (refund.status, refund.confirmation) == ("processing", "query")
    refund = _run(session, refund)
    assert refund.status == "succeeded" and session.get(Payment, payment.id).status == "refunded"
    assert sum(1 for c in sandbox.calls if c.request.url.endswith("/v2/refund")) == 1  # never sent twice


# --- End to end: the citizen pays through the ZaloPay sandbox over HTTP ----------------------------------


def test_pay_through_the_zalopay_sandbox_issues_one_receipt(live_server, session):
    payment = make_payment(session, channels=["zalopay"])
    http = requests.Session()
    page = http.get(f"{live_server}/pay/{payment.code}", timeout=10)
    assert f"/pay/{payment.code}/zalopay" in page.text  # ZaloPay is offered on the pay page
    start = http.post(f"{live_server}/pay/{payment.code}/zalopay", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    pay_page = start.headers["Location"]
    assert pay_page.startswith(f"{live_server}/sandbox/zalopay/pay/")
    shown = http.get(pay_page, timeout=10)
    assert shown.status_code == 200 and "200.000" in shown.text and "Thanh toán" in shown.text
    done = http.post(pay_page, data={"action": "pay"}, timeout=20)
    assert done.status_code == 200
    back = urlsplit(done.url)
    assert back.path == f"/pay/{payment.code}/result"
    params = dict(parse_qsl(back.query))
    assert params["status"] == "1" and wire.verify_redirect(params, KEY2)
    session.expire_all()
    paid = session.get(Payment, payment.id)
    assert (paid.status, paid.channel) == ("paid", "zalopay")
    assert _paid_count(session, payment.id) == 1

    from api.fees.v1 import receipt_id_of

    assert isinstance(receipt_id_of(session, payment.id), int)  # issued on payment.paid (jobs run at once)

    # The callback the sandbox sent, delivered again: answered 2, still one payment and one receipt.
    sent = session.scalars(select(InboundCallback).where(InboundCallback.source == "zalopay")).one()
    replay = requests.post(f"{live_server}/callbacks/zalopay/callback", data=sent.body.encode(),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert replay.json()["return_code"] == 2
    session.expire_all()
    assert _paid_count(session, payment.id) == 1
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "zalopay")
                               .order_by(InboundCallback.id)).all()
    assert outcomes == ["accepted", "duplicate"]


def test_a_cancelled_payment_sends_no_callback_and_stays_payable(live_server, session):
    payment = make_payment(session, channels=["zalopay"])
    http = requests.Session()
    pay_page = http.post(f"{live_server}/pay/{payment.code}/zalopay", allow_redirects=False,
                         timeout=10).headers["Location"]
    done = http.post(pay_page, data={"action": "cancel"}, timeout=20)
    assert dict(parse_qsl(urlsplit(done.url).query))["status"] != "1"
    session.expire_all()
    assert session.get(Payment, payment.id).status == "pending"
    assert session.scalar(select(func.count()).select_from(InboundCallback)
                          .where(InboundCallback.source == "zalopay")) == 0


def test_a_callback_naming_an_app_we_do_not_have_pays_nothing(client, session):
    payment = make_payment(session, channels=["zalopay"])
    answer = client.post("/callbacks/zalopay/callback", json=_callback_for(session, payment, app_id=9999))
    assert answer.json["return_code"] == -1  # signed with our key2, but not our app: nothing to settle
    session.refresh(payment)
    assert payment.status == "pending"
    row = session.scalars(select(InboundCallback).where(InboundCallback.source == "zalopay")).one()
    assert (row.outcome, row.detail) == ("rejected", "not our app_id")


def test_the_sandbox_pay_page_shows_what_an_order_carried_as_text(app):
    ledger.put(ledger.SandboxTxn("zalopay", "260101_ABCDEFGHJK", 200_000, data={
        "app_id": APP_ID, "description": '<script>alert("x")</script> Phí & lệ phí'}))
    req = _request(jobs.settings(), b"", [])
    page = side.pay_page(SandboxRequest(**{**req.__dict__, "method": "GET",
                                           "path_args": {"order_id": "260101_ABCDEFGHJK"}})).body.decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Phí &amp; lệ phí" in page
    assert "200.000" in page and 'value="pay"' in page
