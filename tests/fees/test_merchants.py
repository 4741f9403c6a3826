"""Merchant accounts per collecting unit: a unit's own VNPAY, MoMo and bank accounts, or the deployment's."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select

from core.clock import utcnow
from core.models import InboundCallback
from core.security import new_code
from fees import merchants
from fees.gateways import momo, vietqr, vnpay
from fees.models import FeeType, Payment, PaymentItem
from province import secrets
from province.models import CentreUnit, CollectingUnit

DEFAULT_TMN, DEFAULT_SECRET = "HCCSBX01", "SANDBOXVNPAYSECRETHCC0000000000"
DEFAULT_MOMO = {"partner": "MOMOHCCSBX", "access": "SANDBOXMOMOACCESS", "secret": "SANDBOXMOMOSECRETKEYHCC"}
STP_TMN, STP_SECRET = "STPBN001", "STPVNPAYSECRET00000000000000001"
STP_MOMO = {"partner": "MOMOSTPBN", "access": "STPMOMOACCESS", "secret": "STPMOMOSECRETKEY0001"}


@pytest.fixture
def hcc_settings(app):
    return app.extensions["hcc"].settings


def make_unit(session, settings, centre, *, code="STP", tax_code="2300245389", vnpay_account=None,
              momo_account=None, bank=None):
    """A unit served at `centre`, with its own accounts when given: vnpay_account=(tmn, secret),
    momo_account={"partner", "access", "secret"}, bank=(bin, number, name)."""
    unit = CollectingUnit(code=code, name=f"Sở {code} tỉnh Bắc Ninh", tax_code=tax_code,
                          address="phường Kinh Bắc, tỉnh Bắc Ninh", gateway={}, active=True)
    if bank:
        unit.bank_bin, unit.bank_account_number, unit.bank_account_name = bank
    session.add(unit)
    session.flush()
    session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    gateway = {}
    if vnpay_account:
        gateway["vnpay_tmn_code"] = vnpay_account[0]
        secrets.set_secret(session, settings, "unit", unit.id, "vnpay_hash_secret", vnpay_account[1].encode())
    if momo_account:
        gateway["momo_partner_code"] = momo_account["partner"]
        secrets.set_secret(session, settings, "unit", unit.id, "momo_access_key", momo_account["access"].encode())
        secrets.set_secret(session, settings, "unit", unit.id, "momo_secret_key", momo_account["secret"].encode())
    unit.gateway = gateway
    session.commit()
    return unit


def make_unit_payment(session, centre, *units, amount=200_000, channels=("vnpay", "momo", "vietqr")):
    """A pending request with one fee line of each unit (built directly: the rule under test is ours, not
    creation's)."""
    items = []
    for i, unit in enumerate(units):
        fee = FeeType(centre_id=centre.id, unit_id=unit.id, code=f"F{unit.code}{i}{new_code(6)}", name=f"Phí của {unit.code}",
                      kind="phi", amount=amount, effective_from=date(2020, 1, 1), active=True)
        session.add(fee)
        session.flush()
        items.append(PaymentItem(fee_type_id=fee.id, fee_code=fee.code, name=fee.name, kind="phi",
                                 unit_amount=amount, quantity=1, amount=amount))
    payment = Payment(centre_id=centre.id, code=new_code(10), dossier_code="000.00.12.H26-260101-0042",
                      payer_name="Lê Văn Cường", amount=amount * len(units), status="pending",
                      allowed_channels=list(channels), flags=[], extra={},
                      expires_at=utcnow() + timedelta(hours=24), items=items)
    session.add(payment)
    session.commit()
    return payment


def status_of(session, payment):
    session.expire_all()
    return session.get(Payment, payment.id).status


def vnpay_ipn(payment, *, tmn, secret, txn_no="14226112"):
    params = {"vnp_Amount": str(payment.amount * 100), "vnp_BankCode": "NCB", "vnp_OrderInfo": "Thanh toan",
              "vnp_PayDate": "20260101120000", "vnp_ResponseCode": "00", "vnp_TmnCode": tmn,
              "vnp_TransactionNo": txn_no, "vnp_TransactionStatus": "00", "vnp_TxnRef": payment.code}
    params["vnp_SecureHash"] = vnpay.sign_params(params, secret)
    return params


def momo_ipn(payment, keys, **over):
    ipn = {"partnerCode": keys["partner"], "orderId": payment.code, "requestId": "R1", "amount": payment.amount,
           "orderInfo": "Phí", "orderType": "momo_wallet", "transId": 4088878653, "resultCode": 0,
           "message": "Thành công.", "payType": "qr", "responseTime": 1721720663942, "extraData": "", **over}
    ipn["signature"] = momo.sign(ipn, momo.IPN_FIELDS, keys["access"], keys["secret"])
    return ipn


# --- Which account a payment is paid into ----------------------------------------------------------

def test_a_unit_without_its_own_accounts_uses_the_default_ones(session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre)
    payment = make_unit_payment(session, centre, unit)
    assert merchants.account_for_payment(session, hcc_settings, payment, "vnpay").tmn_code == DEFAULT_TMN
    assert merchants.account_for_payment(session, hcc_settings, payment, "momo").partner_code == DEFAULT_MOMO["partner"]
    assert merchants.account_for_payment(session, hcc_settings, payment, "vietqr").account_number == "0011000000001"
    merchants.check_single_merchant(session, hcc_settings, payment)


def test_a_units_own_account_is_found_with_its_secret_never_shown(session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, unit)
    account = merchants.account_for_payment(session, hcc_settings, payment, "vnpay")
    assert (account.tmn_code, account.hash_secret, account.owner) == (STP_TMN, STP_SECRET, "unit:STP")
    assert STP_SECRET not in repr(account)


def test_fees_of_units_with_different_accounts_are_refused_with_a_clear_message(session, centre, hcc_settings):
    stp = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    sxd = make_unit(session, hcc_settings, centre, code="SXD", tax_code="2300246128",
                    vnpay_account=("SXDBN001", "SXDVNPAYSECRET00000000000000001"))
    payment = make_unit_payment(session, centre, stp, sxd)
    with pytest.raises(merchants.MixedMerchantAccounts) as refused:
        merchants.account_for_payment(session, hcc_settings, payment, "vnpay")
    assert refused.value.message.startswith("Các khoản phí thuộc các đơn vị có tài khoản thu khác nhau; "
                                            "hãy tạo yêu cầu thanh toán riêng cho từng đơn vị")
    assert "unit:STP" in refused.value.message and "unit:SXD" in refused.value.message
    with pytest.raises(merchants.MixedMerchantAccounts):
        merchants.check_single_merchant(session, hcc_settings, payment)
    # MoMo: neither has its own, both use the default; that channel alone would be fine.
    assert merchants.account_for_payment(session, hcc_settings, payment, "momo").owner == "default"


def test_a_unit_with_its_own_account_and_one_without_cannot_share_a_payment(session, centre, hcc_settings):
    stp = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    plain = make_unit(session, hcc_settings, centre, code="SXD", tax_code="2300246128")
    payment = make_unit_payment(session, centre, stp, plain)
    with pytest.raises(merchants.MixedMerchantAccounts) as refused:
        merchants.account_for_payment(session, hcc_settings, payment, "vnpay")
    assert "mặc định" in refused.value.message


def test_units_sharing_one_account_may_share_a_payment(session, centre, hcc_settings):
    stp = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    sxd = make_unit(session, hcc_settings, centre, code="SXD", tax_code="2300246128",
                    vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, stp, sxd)
    assert merchants.account_for_payment(session, hcc_settings, payment, "vnpay").tmn_code == STP_TMN


def test_a_merchant_code_without_its_secret_is_an_incomplete_account(session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre)
    unit.gateway = {"vnpay_tmn_code": STP_TMN}
    session.commit()
    payment = make_unit_payment(session, centre, unit)
    with pytest.raises(merchants.IncompleteMerchantAccount, match="vnpay_hash_secret"):
        merchants.account_for_payment(session, hcc_settings, payment, "vnpay")
    assert merchants.account_for_callback(session, hcc_settings, "vnpay", STP_TMN) is None


def test_a_callback_names_its_account_by_merchant_id(session, centre, hcc_settings):
    make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET), momo_account=STP_MOMO,
              bank=("970415", "113000006789", "SO TU PHAP TINH BAC NINH"))
    assert merchants.account_for_callback(session, hcc_settings, "vnpay", STP_TMN).hash_secret == STP_SECRET
    assert merchants.account_for_callback(session, hcc_settings, "vnpay", DEFAULT_TMN).owner == "default"
    assert merchants.account_for_callback(session, hcc_settings, "momo", "MOMOSTPBN").secret_key == STP_MOMO["secret"]
    assert merchants.account_for_callback(session, hcc_settings, "vietqr", "113000006789").owner == "unit:STP"
    assert merchants.account_for_callback(session, hcc_settings, "vnpay", "NOBODY01") is None


# --- VNPAY --------------------------------------------------------------------------------------

def test_a_units_pay_url_carries_its_terminal_code_and_is_signed_with_its_secret(client, session, centre,
                                                                                 hcc_settings):
    unit = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, unit)
    start = client.post(f"/pay/{payment.code}/vnpay")
    assert start.status_code == 302
    query = dict(parse_qsl(urlsplit(start.headers["Location"]).query))
    assert query["vnp_TmnCode"] == STP_TMN
    assert vnpay.verify_params(query, STP_SECRET)
    assert not vnpay.verify_params(query, DEFAULT_SECRET)
    session.expire_all()
    assert session.get(Payment, payment.id).extra[merchants.CHECKOUT_MERCHANT] == STP_TMN


def test_a_unit_without_credentials_gets_the_default_terminal_code(client, session, centre, hcc_settings):
    payment = make_unit_payment(session, centre, make_unit(session, hcc_settings, centre))
    query = dict(parse_qsl(urlsplit(client.post(f"/pay/{payment.code}/vnpay").headers["Location"]).query))
    assert query["vnp_TmnCode"] == DEFAULT_TMN and vnpay.verify_params(query, DEFAULT_SECRET)


def test_an_ipn_for_a_units_payment_is_verified_with_the_units_secret(client, session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, unit)
    # The default merchant's valid IPN for this order: not its order, VNPAY's "order not found".
    answer = client.get("/callbacks/vnpay/ipn?" + urlencode(vnpay_ipn(payment, tmn=DEFAULT_TMN, secret=DEFAULT_SECRET)))
    assert answer.get_json()["RspCode"] == "01"
    # The unit's code signed with another secret: a bad checksum.
    answer = client.get("/callbacks/vnpay/ipn?" + urlencode(vnpay_ipn(payment, tmn=STP_TMN, secret=DEFAULT_SECRET)))
    assert answer.get_json()["RspCode"] == "97"
    assert status_of(session, payment) == "pending"
    answer = client.get("/callbacks/vnpay/ipn?" + urlencode(vnpay_ipn(payment, tmn=STP_TMN, secret=STP_SECRET)))
    assert answer.get_json() == {"RspCode": "00", "Message": "Confirm Success"}
    assert status_of(session, payment) == "paid"
    assert session.get(Payment, payment.id).extra[merchants.PAID_MERCHANT] == STP_TMN


def test_an_order_opened_with_the_default_merchant_is_paid_even_if_the_unit_got_its_own_since(
        client, session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre)
    payment = make_unit_payment(session, centre, unit)
    assert client.post(f"/pay/{payment.code}/vnpay").status_code == 302  # opened with HCCSBX01
    unit = session.get(CollectingUnit, unit.id)
    unit.gateway = {"vnpay_tmn_code": STP_TMN}
    secrets.set_secret(session, hcc_settings, "unit", unit.id, "vnpay_hash_secret", STP_SECRET.encode())
    session.commit()
    params = vnpay_ipn(payment, tmn=DEFAULT_TMN, secret=DEFAULT_SECRET)
    assert client.get("/callbacks/vnpay/ipn?" + urlencode(params)).get_json()["RspCode"] == "00"
    assert client.get("/callbacks/vnpay/ipn?" + urlencode(params)).get_json()["RspCode"] == "02"
    assert status_of(session, payment) == "paid"


def test_a_default_payment_refuses_an_ipn_signed_by_a_units_merchant(client, session, centre, hcc_settings):
    make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, make_unit(session, hcc_settings, centre, code="SXD",
                                                           tax_code="2300246128"))
    answer = client.get("/callbacks/vnpay/ipn?" + urlencode(vnpay_ipn(payment, tmn=STP_TMN, secret=STP_SECRET)))
    assert answer.get_json()["RspCode"] == "01"
    assert status_of(session, payment) == "pending"


def test_pay_and_refund_a_units_payment_through_the_vnpay_sandbox(live_server, session, centre, hcc_settings):
    from fees.gateways import ledger
    from fees.refunds import request_refund

    unit = make_unit(session, hcc_settings, centre, vnpay_account=(STP_TMN, STP_SECRET))
    payment = make_unit_payment(session, centre, unit)
    http = requests.Session()
    start = http.post(f"{live_server}/pay/{payment.code}/vnpay", allow_redirects=False, timeout=10)
    gateway_url = start.headers["Location"]
    page = http.get(gateway_url, timeout=10)
    assert page.status_code == 200 and "200.000" in page.text  # the sandbox knows the unit's secret
    done = http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
                     data={"query": urlsplit(gateway_url).query, "action": "pay"})
    assert done.status_code == 200
    assert status_of(session, payment) == "paid"
    sent = session.scalars(select(InboundCallback).where(InboundCallback.source == "vnpay")).one()
    assert sent.outcome == "accepted" and f"vnp_TmnCode={STP_TMN}" in sent.query_string

    from core import audit

    refund = request_refund(session, payment.id, amount=50_000, reason="Nộp thừa", actor=audit.SYSTEM,
                            needs_approval=False)
    session.commit()  # the refund job runs at once in tests, through the unit's merchant
    session.expire_all()
    assert session.get(type(refund), refund.id).status == "succeeded"
    assert ledger.get("vnpay", payment.code).refunded == 50_000
    ledger.clear()


# --- MoMo ---------------------------------------------------------------------------------------

def test_a_momo_ipn_is_verified_with_the_keys_of_the_partner_it_names(client, session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre, momo_account=STP_MOMO)
    payment = make_unit_payment(session, centre, unit)

    def post(ipn):
        return client.post("/callbacks/momo/ipn", data=json.dumps(ipn), content_type="application/json")

    assert post(momo_ipn(payment, {**STP_MOMO, "secret": DEFAULT_MOMO["secret"]})).status_code == 400
    assert post(momo_ipn(payment, DEFAULT_MOMO)).status_code == 204  # valid, but not the default partner's order
    assert status_of(session, payment) == "pending"
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "momo")
                               .order_by(InboundCallback.id)).all()
    assert outcomes == ["rejected", "rejected"]
    assert post(momo_ipn(payment, STP_MOMO)).status_code == 204
    assert status_of(session, payment) == "paid"


def test_pay_a_units_payment_through_the_momo_sandbox(live_server, session, centre, hcc_settings):
    from fees.gateways import ledger

    unit = make_unit(session, hcc_settings, centre, momo_account=STP_MOMO)
    payment = make_unit_payment(session, centre, unit)
    http = requests.Session()
    start = http.post(f"{live_server}/pay/{payment.code}/momo", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    pay_page = start.headers["Location"]
    assert "/sandbox/momo/pay/" in pay_page
    assert ledger.get("momo", payment.code).data["partnerCode"] == STP_MOMO["partner"]
    done = http.post(pay_page, data={"action": "pay"}, timeout=20)
    assert done.status_code == 200
    assert status_of(session, payment) == "paid"
    sent = session.scalars(select(InboundCallback).where(InboundCallback.source == "momo")).one()
    assert json.loads(sent.body)["partnerCode"] == STP_MOMO["partner"]
    ledger.clear()


# --- VietQR -------------------------------------------------------------------------------------

STP_BANK = ("970415", "113000006789", "SO TU PHAP TINH BAC NINH")


def test_the_pay_page_shows_the_units_bank_account(client, session, centre, hcc_settings):
    unit = make_unit(session, hcc_settings, centre, bank=STP_BANK)
    payment = make_unit_payment(session, centre, unit)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    assert "113000006789" in page and "SO TU PHAP TINH BAC NINH" in page and "0011000000001" not in page
    account = merchants.account_for_payment(session, hcc_settings, payment, "vietqr")
    payload = vietqr.VietqrGateway(hcc_settings, account).qr_payload(payment)
    beneficiary = vietqr.parse_tlv(vietqr.parse_tlv(vietqr.parse_tlv(payload)["38"])["01"])
    assert beneficiary == {"00": "970415", "01": "113000006789"}


def test_the_pay_page_shows_the_default_account_for_a_unit_without_one(client, session, centre, hcc_settings):
    payment = make_unit_payment(session, centre, make_unit(session, hcc_settings, centre))
    assert "0011000000001" in client.get(f"/pay/{payment.code}").get_data(as_text=True)


def test_a_payment_of_units_with_different_banks_offers_no_vietqr(client, session, centre, hcc_settings):
    stp = make_unit(session, hcc_settings, centre, bank=STP_BANK)
    other = make_unit(session, hcc_settings, centre, code="SXD", tax_code="2300246128")
    payment = make_unit_payment(session, centre, stp, other)
    page = client.get(f"/pay/{payment.code}").get_data(as_text=True)
    assert 'id="vietqr"' not in page and 'id="pay-vnpay"' in page
    assert client.get(f"/pay/{payment.code}/vietqr.png").status_code == 404


def bank_credit(client, settings, *, account, amount, description, reference):
    body = json.dumps({"reference": reference, "account": account, "amount": amount, "description": description})
    ts = str(int(time.time()))
    return client.post("/callbacks/vietqr/bank", data=body, content_type="application/json", headers={
        "X-Bank-Timestamp": ts, "X-Bank-Signature": vietqr.sign_notification("SANDBOXBANKSECRET", ts, body)})


def test_a_credit_to_the_units_account_pays_and_one_to_another_account_is_flagged(client, session, centre,
                                                                                   hcc_settings):
    unit = make_unit(session, hcc_settings, centre, bank=STP_BANK)
    payment = make_unit_payment(session, centre, unit)
    wrong = bank_credit(client, hcc_settings, account="0011000000001", amount=payment.amount,
                        description=f"HCC {payment.code}", reference="FT1")
    assert wrong.get_json() == {"success": True, "code": "other-account"}
    session.expire_all()
    assert status_of(session, payment) == "pending"
    assert "paid_to_other_account" in session.get(Payment, payment.id).flags
    right = bank_credit(client, hcc_settings, account="113000006789", amount=payment.amount,
                        description=f"HCC {payment.code}", reference="FT2")
    assert right.get_json() == {"success": True, "code": "ok"}
    assert status_of(session, payment) == "paid"


def test_the_vietqr_payload_for_the_api_names_the_units_account_or_none(session, centre, hcc_settings):
    stp = make_unit(session, hcc_settings, centre, bank=STP_BANK)
    single = make_unit_payment(session, centre, stp)
    payload = merchants.vietqr_payload(session, hcc_settings, single)
    assert "113000006789" in vietqr.parse_tlv(vietqr.parse_tlv(payload)["38"])["01"]
    mixed = make_unit_payment(session, centre, stp, make_unit(session, hcc_settings, centre, code="SXD",
                                                              tax_code="2300246128"))
    assert merchants.vietqr_payload(session, hcc_settings, mixed) is None
