"""MoMo v2: raw signature strings as documented, and the client's calls faked at the wire."""

import hashlib
import hmac
import json

import pytest
import responses

from core.settings import Settings
from fees.gateways import momo
from fees.gateways.base import DuplicateError, RetryableGatewayError
from tests.fees.factories import make_payment

ACCESS, SECRET = "F8BBA842ECF85", "K951B6PE1waDMi640xX08PD3vg6EkVlz"  # MoMo's public test keys


def test_create_signature_is_hmac_sha256_over_the_documented_raw_string():
    body = momo.build_create(partner_code="MOMO", access_key=ACCESS, secret_key=SECRET, order_id="MM1540456472575",
                             amount=150000, order_info="SDK team.", redirect_url="https://momo.vn",
                             ipn_url="https://momo.vn", request_id="MM1540456472575")
    raw = ("accessKey=F8BBA842ECF85&amount=150000&extraData=&ipnUrl=https://momo.vn&orderId=MM1540456472575"
           "&orderInfo=SDK team.&partnerCode=MOMO&redirectUrl=https://momo.vn&requestId=MM1540456472575"
           "&requestType=captureWallet")
    assert momo.raw_signature(body, momo.CREATE_FIELDS, ACCESS) == raw
    assert body["signature"] == hmac.new(SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()


def test_ipn_signature_verifies_and_a_changed_amount_does_not():
    ipn = {"partnerCode": "MOMO", "orderId": "ABC", "requestId": "R", "amount": 200000, "orderInfo": "Phí",
           "orderType": "momo_wallet", "transId": 4088878653, "resultCode": 0, "message": "Thành công.",
           "payType": "qr", "responseTime": 1721720663942, "extraData": ""}
    ipn["signature"] = momo.sign(ipn, momo.IPN_FIELDS, ACCESS, SECRET)
    assert momo.verify(ipn, momo.IPN_FIELDS, ACCESS, SECRET)
    assert not momo.verify({**ipn, "amount": 1000}, momo.IPN_FIELDS, ACCESS, SECRET)


def test_order_ids_per_attempt_map_back_to_the_citizen_code():
    assert momo.order_id_for("ABCDEFGHJK", 1) == "ABCDEFGHJK"
    assert momo.code_from_order_id(momo.order_id_for("ABCDEFGHJK", 3)) == "ABCDEFGHJK"


@pytest.fixture
def gateway():
    return momo.MomoGateway(Settings.from_env(environ={"HCC_MOMO_API_URL": "https://test-payment.momo.vn",
                                                       "HCC_MOMO_PARTNER_CODE": "MOMO",
                                                       "HCC_MOMO_ACCESS_KEY": ACCESS,
                                                       "HCC_MOMO_SECRET_KEY": SECRET}))


@responses.activate
def test_checkout_posts_a_signed_create_and_returns_the_pay_url(gateway, session):
    payment = make_payment(session)
    responses.post("https://test-payment.momo.vn/v2/gateway/api/create",
                   json={"resultCode": 0, "message": "Thành công.", "payUrl": "https://test-payment.momo.vn/pay/x"})
    checkout = gateway.checkout(payment, return_url="https://hcc.example/r")
    assert checkout.redirect_url == "https://test-payment.momo.vn/pay/x"
    sent = json.loads(responses.calls[0].request.body)
    assert sent["amount"] == 200000 and sent["orderId"] == payment.code
    assert momo.verify(sent, momo.CREATE_FIELDS, ACCESS, SECRET)


@responses.activate
def test_a_duplicate_order_and_a_down_gateway_are_told_apart(gateway, session):
    payment = make_payment(session)
    responses.post("https://test-payment.momo.vn/v2/gateway/api/create", json={"resultCode": 41, "message": "dup"})
    with pytest.raises(DuplicateError):
        gateway.checkout(payment, return_url="https://hcc.example/r")
    responses.replace(responses.POST, "https://test-payment.momo.vn/v2/gateway/api/create", status=503)
    with pytest.raises(RetryableGatewayError):
        gateway.checkout(payment, return_url="https://hcc.example/r")


SANDBOX = {"partner": "MOMOHCCSBX", "access": "SANDBOXMOMOACCESS", "secret": "SANDBOXMOMOSECRETKEYHCC"}


def sandbox_ipn(payment, **over):
    ipn = {"partnerCode": SANDBOX["partner"], "orderId": payment.code, "requestId": "R1", "amount": payment.amount,
           "orderInfo": "Phí", "orderType": "momo_wallet", "transId": 4088878653, "resultCode": 0,
           "message": "Thành công.", "payType": "qr", "responseTime": 1721720663942, "extraData": "", **over}
    ipn["signature"] = momo.sign(ipn, momo.IPN_FIELDS, SANDBOX["access"], SANDBOX["secret"])
    return ipn


def test_a_signed_ipn_pays_and_its_replay_is_a_duplicate(client, session):
    from core.models import InboundCallback

    payment = make_payment(session)
    ipn = sandbox_ipn(payment)
    assert client.post("/callbacks/momo/ipn", json=ipn).status_code == 204
    assert client.post("/callbacks/momo/ipn", json=ipn).status_code == 204
    session.refresh(payment)
    assert (payment.status, payment.channel, payment.channel_ref) == ("paid", "momo", "4088878653")
    outcomes = session.query(InboundCallback.outcome).filter_by(source="momo").order_by(InboundCallback.id).all()
    assert [o for (o,) in outcomes] == ["accepted", "duplicate"]


@pytest.mark.parametrize("over", [{"amount": 200000.9}, {"amount": "200000.0"}, {"resultCode": 0.5}])
def test_an_ipn_with_a_number_that_is_not_whole_changes_nothing(client, session, over):
    from core.models import InboundCallback

    payment = make_payment(session)
    client.post("/callbacks/momo/ipn", json=sandbox_ipn(payment, **over))
    session.refresh(payment)
    assert payment.status == "pending"
    row = session.query(InboundCallback).filter_by(source="momo").one()
    assert row.outcome == "rejected" and "malformed" in row.detail


@responses.activate
def test_query_finds_the_attempt_that_was_paid(gateway, session):
    payment = make_payment(session)
    payment.extra = {"momo_attempts": 3, "momo_order_id": f"{payment.code}-3"}
    answers = {f"{payment.code}-3": {"resultCode": 1000}, f"{payment.code}-2": {"resultCode": 42},
               payment.code: {"resultCode": 0, "amount": 200000, "transId": 4088878653}}
    asked = []

    def answer(request):
        order_id = json.loads(request.body)["orderId"]
        asked.append(order_id)
        return 200, {}, json.dumps({"orderId": order_id, **answers[order_id]})

    responses.add_callback(responses.POST, "https://test-payment.momo.vn/v2/gateway/api/query", callback=answer)
    result = gateway.query(payment)
    assert asked == [f"{payment.code}-3", f"{payment.code}-2", payment.code]
    assert result.success and result.amount == 200000 and result.transaction_ref == "4088878653"
    answers[payment.code] = {"resultCode": 1006}
    assert gateway.query(payment).pending  # nothing paid yet; the newest attempt is still open


@responses.activate
def test_a_merchant_account_given_signs_instead_of_the_settings_keys(gateway, session):
    from fees.gateways.base import MerchantAccount

    unit = MerchantAccount(gateway="momo", owner="unit:STP", partner_code="MOMOSTPBN", access_key="STPACCESS",
                           secret_key="STPSECRETKEY")
    payment = make_payment(session)
    responses.post("https://test-payment.momo.vn/v2/gateway/api/create",
                   json={"resultCode": 0, "message": "Thành công.", "payUrl": "https://test-payment.momo.vn/pay/x"})
    momo.MomoGateway(gateway.settings, unit).checkout(payment, return_url="https://hcc.example/r")
    sent = json.loads(responses.calls[0].request.body)
    assert sent["partnerCode"] == "MOMOSTPBN"
    assert momo.verify(sent, momo.CREATE_FIELDS, "STPACCESS", "STPSECRETKEY")
    assert not momo.verify(sent, momo.CREATE_FIELDS, ACCESS, SECRET)


def test_an_ipn_from_a_partner_we_do_not_have_is_rejected_quietly(client, session):
    from core.models import InboundCallback

    payment = make_payment(session)
    # Signed with our keys but naming another partner: not ours (204, MoMo need not retry); unsigned: 400.
    assert client.post("/callbacks/momo/ipn", json=sandbox_ipn(payment, partnerCode="OTHER")).status_code == 204
    forged = {**sandbox_ipn(payment), "partnerCode": "OTHER"}
    assert client.post("/callbacks/momo/ipn", json=forged).status_code == 400
    session.refresh(payment)
    assert payment.status == "pending"
    details = [d for (d,) in session.query(InboundCallback.detail).filter_by(source="momo").order_by(InboundCallback.id)]
    assert details == ["not our partner code", "bad signature"]
