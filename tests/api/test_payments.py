"""The payments API as an integrating system and finance staff use it."""

from datetime import date

import pytest

from fees.schedule import seed_default
from tests.factories import bearer, make_api_key
from tests.fees.factories import make_payment

BODY = {"dossier_code": "000.00.12.H26-260101-0042",
        "payer": {"name": "Lê Văn Cường", "phone": "0987654321", "email": "cuong@example.vn",
                  "address": "12 Tràng Tiền, Hà Nội"},
        "items": [{"fee_code": "LLTP", "quantity": 1}, {"fee_code": "CT-BANSAO", "quantity": 3}]}


@pytest.fixture
def key(session, centre):
    seed_default(session, centre)
    session.commit()
    return make_api_key(session)


@pytest.fixture
def finance_keys(session, centre):
    return make_api_key(session, roles=("finance",), name="Kế toán 1"), \
        make_api_key(session, roles=("finance",), name="Kế toán 2")


def test_the_fee_schedule_lists_real_fees_with_their_legal_basis(client, key):
    fees = client.get("/api/v1/fees", headers=bearer(key)).get_json()
    assert len(fees) >= 20
    lltp = next(f for f in fees if f["code"] == "LLTP")
    assert lltp["amount"] == 200_000 and lltp["kind"] == "phi" and "244/2016/TT-BTC" in lltp["legal_basis"]
    assert any(f["kind"] == "le_phi" for f in fees)


def test_a_request_is_priced_from_the_schedule_and_answers_pay_url_and_vietqr(client, key):
    resp = client.post("/api/v1/payments", json=BODY, headers=bearer(key))
    assert resp.status_code == 201
    data = resp.get_json()
    assert data["amount"] == 200_000 + 3 * 2_000 and data["status"] == "pending"
    assert data["pay_url"].endswith(f"/pay/{data['code']}") and len(data["code"]) == 10
    assert data["vietqr"].startswith("000201") and data["receipt_id"] is None
    again = client.get(f"/api/v1/payments/{data['id']}", headers=bearer(key)).get_json()
    assert again["code"] == data["code"]


def test_bad_lines_are_named_in_a_problem(client, key):
    body = {**BODY, "items": [{"fee_code": "KHONG-CO", "quantity": 1}], "payer": {"phone": "x"}}
    resp = client.post("/api/v1/payments", json=body, headers=bearer(key))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "payer" in resp.get_json()["errors"]
    resp = client.post("/api/v1/payments", json={**BODY, "items": [{"fee_code": "KHONG-CO"}]}, headers=bearer(key))
    assert resp.status_code == 422 and "items.0.fee_code" in resp.get_json()["errors"]


def test_a_counter_payment_is_one_action_and_only_once(client, key, session):
    payment = make_payment(session)
    resp = client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"}, headers=bearer(key))
    assert resp.status_code == 200 and resp.get_json()["status"] == "paid"
    assert resp.get_json()["channel"] == "counter"
    again = client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"}, headers=bearer(key))
    assert again.status_code == 409


def test_a_card_payment_needs_the_terminal_reference(client, key, session):
    payment = make_payment(session)
    resp = client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "card"}, headers=bearer(key))
    assert resp.status_code == 422 and "terminal_ref" in resp.get_json()["errors"]


def paid_at_counter(client, key, session, amount=200_000):
    payment = make_payment(session, amount=amount)
    client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"}, headers=bearer(key))
    return payment


def test_refunding_more_than_was_paid_is_refused_clearly(client, key, finance_keys, session):
    payment = paid_at_counter(client, key, session)
    resp = client.post(f"/api/v1/payments/{payment.id}/refunds", json={"amount": 200_001, "reason": "nộp thừa"},
                       headers=bearer(finance_keys[0]))
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["type"] == "urn:hcc:problem:refund-exceeds-paid" and "200000" in problem["detail"]


def test_a_partial_refund_approved_by_a_second_person_leaves_the_rest_refundable(client, key, finance_keys, session):
    first, second = finance_keys
    payment = paid_at_counter(client, key, session)
    asked = client.post(f"/api/v1/payments/{payment.id}/refunds", json={"amount": 50_000, "reason": "thu thừa"},
                        headers=bearer(first))
    assert asked.status_code == 201 and asked.get_json()["status"] == "requested"
    refund_id = asked.get_json()["id"]
    # The requester cannot approve their own refund.
    assert client.post(f"/api/v1/refunds/{refund_id}/approve", headers=bearer(first)).status_code == 403
    # While it waits, the amount is reserved: asking for the whole amount again is refused.
    assert client.post(f"/api/v1/payments/{payment.id}/refunds", json={"amount": 200_000, "reason": "x"},
                       headers=bearer(first)).status_code == 422
    done = client.post(f"/api/v1/refunds/{refund_id}/approve", headers=bearer(second)).get_json()
    assert done["status"] == "succeeded"
    got = client.get(f"/api/v1/payments/{payment.id}", headers=bearer(key)).get_json()
    assert got["status"] == "partially_refunded" and got["refundable_amount"] == 150_000


def test_only_finance_may_refund(client, key, session):
    payment = paid_at_counter(client, key, session)
    resp = client.post(f"/api/v1/payments/{payment.id}/refunds", json={"amount": 1_000, "reason": "x"},
                       headers=bearer(key))
    assert resp.status_code == 403


def test_a_pending_request_can_be_cancelled_and_then_not_paid_at_the_counter(client, key, session):
    payment = make_payment(session)
    resp = client.post(f"/api/v1/payments/{payment.id}/cancel", json={"reason": "công dân rút hồ sơ"},
                       headers=bearer(key))
    assert resp.get_json()["status"] == "cancelled"
    assert client.post(f"/api/v1/payments/{payment.id}/counter", json={"method": "cash"},
                       headers=bearer(key)).status_code == 409


def test_cashier_and_finance_cancel_a_request_but_a_dispatcher_may_not(client, session, centre):
    dispatcher = make_api_key(session, roles=("dispatcher",), name="Bộ phận trả kết quả")
    cashier = make_api_key(session, roles=("cashier",), name="Quầy thu")
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    first = make_payment(session, dossier_code="000.00.12.H26-260101-0001")
    second = make_payment(session, dossier_code="000.00.12.H26-260101-0002")
    body = {"reason": "công dân rút hồ sơ"}
    refused = client.post(f"/api/v1/payments/{first.id}/cancel", json=body, headers=bearer(dispatcher))
    assert refused.status_code == 403
    assert client.get(f"/api/v1/payments/{first.id}", headers=bearer(cashier)).get_json()["status"] == "pending"
    for key, payment in ((cashier, first), (finance, second)):
        resp = client.post(f"/api/v1/payments/{payment.id}/cancel", json=body, headers=bearer(key))
        assert resp.status_code == 200 and resp.get_json()["status"] == "cancelled"


def test_the_cancel_operation_says_who_may_cancel(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    description = doc["paths"]["/api/v1/payments/{payment_id}/cancel"]["post"]["description"]
    assert "cashier" in description and "finance" in description and "dispatcher" in description


def test_a_failed_counter_payment_with_an_idempotency_key_answers_at_once_and_replays(client, key):
    # The counter locks the payment row before finding it is not ours; recording the answer for the
    # Idempotency-Key used to wait on that lock (SQLite) and turn the 404 into a 500.
    headers = {**bearer(key), "Idempotency-Key": "quay-1-lan-1"}
    first = client.post("/api/v1/payments/910114/counter", json={"method": "cash"}, headers=headers)
    assert first.status_code == 404 and first.mimetype == "application/problem+json"
    again = client.post("/api/v1/payments/910114/counter", json={"method": "cash"}, headers=headers)
    assert again.status_code == 404 and again.headers.get("Idempotent-Replayed") == "true"


# Collecting units (issue 10): a payment's fees may be of several units served at the centre.

def _unit(session, centre, code, tax_code, *, vnpay=None, series=True, settings=None):
    """A unit served at `centre` with one fee `F-<code>` (its own VNPAY merchant when given), and its
    receipt series of this year registered unless `series` is false."""
    from core.clock import local_day
    from fees.models import FeeType
    from province import secrets
    from province.models import CentreUnit, CollectingUnit
    from province.series import register_series

    unit = CollectingUnit(code=code, name=f"Sở {code} tỉnh Bắc Ninh", tax_code=tax_code,
                          address="phường Kinh Bắc, tỉnh Bắc Ninh", gateway={}, active=True)
    session.add(unit)
    session.flush()
    session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    if vnpay:
        unit.gateway = {"vnpay_tmn_code": vnpay[0]}
        secrets.set_secret(session, settings, "unit", unit.id, "vnpay_hash_secret", vnpay[1].encode())
    session.add(FeeType(centre_id=centre.id, unit_id=unit.id, code=f"F-{code}", name=f"Phí của {code}", kind="phi",
                        amount=50_000, effective_from=date(2020, 1, 1), active=True))
    if series:
        year = local_day().year
        register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year - 1, 12, 1))
    session.commit()
    return unit


def test_a_payment_of_two_units_answers_one_receipt_per_unit_and_why_one_is_missing(client, key, session, centre,
                                                                                  caplog):
    from core.accounts import DEMO_UNIT_CODE

    _unit(session, centre, "STP", "2300245389")
    _unit(session, centre, "SXD", "2300246128", series=False)
    body = {**BODY, "items": [{"fee_code": "LLTP"}, {"fee_code": "F-STP"}, {"fee_code": "F-SXD"}],
            "channels": ["counter"]}
    created = client.post("/api/v1/payments", json=body, headers=bearer(key))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["receipts"] == [] and created.get_json()["receipt_blocked"] == {}
    paid = client.post(f"/api/v1/payments/{created.get_json()['id']}/counter", json={"method": "cash"},
                       headers=bearer(key)).get_json()
    # One receipt per unit that can issue, by unit code, each numbered in its own series.
    assert [r["unit_code"] for r in paid["receipts"]] == sorted([DEMO_UNIT_CODE, "STP"])
    assert all(r["status"] == "issued" and r["number"].endswith("1") and r["symbol"].endswith("T")
               for r in paid["receipts"])
    assert paid["receipt_id"] == paid["receipts"][0]["id"]
    assert paid["receipt_pdf_url"].endswith(f"/api/v1/receipts/{paid['receipt_id']}/pdf")
    # The unit without a registered series is not an error of the desk: staff read why on the payment.
    assert list(paid["receipt_blocked"]) == ["SXD"] and paid["receipt_blocked"]["SXD"]
    assert not [r for r in caplog.records if r.exc_info], "a blocked unit is not a crash"
    assert client.get(f"/api/v1/payments/{paid['id']}", headers=bearer(key)).get_json()["receipts"] == paid["receipts"]

    stp = next(r for r in paid["receipts"] if r["unit_code"] == "STP")
    receipt = client.get(f"/api/v1/receipts/{stp['id']}", headers=bearer(key)).get_json()
    assert receipt["unit"] == {"code": "STP", "name": "Sở STP tỉnh Bắc Ninh", "tax_code": "2300245389"}


def test_fees_of_units_paid_into_different_merchant_accounts_are_refused_at_creation(client, key, session, centre,
                                                                                   settings):
    from fees.models import Payment

    _unit(session, centre, "STP", "2300245389", vnpay=("STPBN001", "STPVNPAYSECRET0000000000000000001"),
          settings=settings)
    _unit(session, centre, "SXD", "2300246128", vnpay=("SXDBN001", "SXDVNPAYSECRET0000000000000000001"),
          settings=settings)
    before = session.query(Payment).count()
    body = {**BODY, "items": [{"fee_code": "F-STP"}, {"fee_code": "F-SXD"}], "channels": ["vnpay", "counter"]}
    resp = client.post("/api/v1/payments", json=body, headers=bearer(key))
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("mixed-merchant-accounts")
    assert session.query(Payment).count() == before
    # At the counter alone the money goes through no merchant account: one request is fine.
    alone = client.post("/api/v1/payments", json={**body, "channels": ["counter"]}, headers=bearer(key))
    assert alone.status_code == 201


def test_the_vietqr_is_of_the_units_bank_account(client, key, session, centre):
    from fees.models import Payment

    unit = _unit(session, centre, "STP", "2300245389")
    unit.bank_bin, unit.bank_account_number, unit.bank_account_name = "970415", "113366668888", "SO TU PHAP BAC NINH"
    session.commit()
    resp = client.post("/api/v1/payments", json={**BODY, "items": [{"fee_code": "F-STP"}], "channels": ["vietqr"]},
                       headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    assert "113366668888" in resp.get_json()["vietqr"]
    assert session.get(Payment, resp.get_json()["id"]) is not None


def test_a_units_payment_whose_ipn_was_lost_is_settled_by_asking_the_units_merchant(live_server, key, session,
                                                                                    centre, settings, client):
    import json
    from urllib.parse import urlsplit

    import requests
    import responses

    _unit(session, centre, "STP", "2300245389", vnpay=("STPBN001", "STPVNPAYSECRET0000000000000000001"),
          settings=settings)
    # VNPAY's notification never arrives (a port nothing listens on): only querydr can tell us.
    settings.extra["HCC_VNPAY_SANDBOX_IPN_URL"] = "http://127.0.0.1:9/callbacks/vnpay/ipn"
    created = client.post("/api/v1/payments", json={**BODY, "items": [{"fee_code": "F-STP"}], "channels": ["vnpay"]},
                          headers=bearer(key)).get_json()
    http = requests.Session()
    gateway_url = http.post(f"{live_server}/pay/{created['code']}/vnpay", allow_redirects=False,
                            timeout=10).headers["Location"]
    assert "vnp_TmnCode=STPBN001" in gateway_url
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", data={"query": urlsplit(gateway_url).query,
                                                                  "action": "pay"}, timeout=20)
    assert client.get(f"/api/v1/payments/{created['id']}", headers=bearer(key)).get_json()["status"] == "pending"

    # VNPAY's API as seen on the wire: each question is noted, then answered by the sandbox.
    api = "https://vnpay.example/merchant_webapi/api/transaction"
    settings.extra["HCC_VNPAY_API_URL"] = api
    asked_as = []

    def forward(request):
        body = json.loads(request.body)
        asked_as.append(body["vnp_TmnCode"])
        answer = requests.post(f"{live_server}/sandbox/vnpay/merchant_webapi/api/transaction", json=body, timeout=10)
        return answer.status_code, {"Content-Type": "application/json"}, answer.text

    with responses.RequestsMock() as wire:
        wire.add_passthru(live_server)
        wire.add_callback(responses.POST, api, callback=forward)
        asked = client.post(f"/api/v1/payments/{created['id']}/query", headers=bearer(key))
    assert asked.status_code == 200, asked.get_json()
    assert asked.get_json()["status"] == "paid" and asked.get_json()["channel"] == "vnpay"
    # Asked as the unit's merchant, the account the order was opened with, not the deployment's default.
    assert asked_as == ["STPBN001"]


def test_a_second_payment_is_listed_as_a_refund_of_its_order_and_leaves_the_payment_refundable(
        client, key, finance_keys, session):
    from urllib.parse import urlencode

    from fees.gateways import vnpay

    payment = make_payment(session)
    client.post("/pay/" + payment.code + "/vnpay")  # first checkout: the payment code
    client.post("/pay/" + payment.code + "/vnpay")  # second: its own vnp_TxnRef

    def ipn(txn_ref, txn_no):
        params = {"vnp_Amount": "20000000", "vnp_ResponseCode": "00", "vnp_TmnCode": "HCCSBX01",
                  "vnp_TransactionNo": txn_no, "vnp_TransactionStatus": "00", "vnp_TxnRef": txn_ref}
        params["vnp_SecureHash"] = vnpay.sign_params(params, "SANDBOXVNPAYSECRETHCC0000000000")
        return client.get("/callbacks/vnpay/ipn?" + urlencode(params)).get_json()["RspCode"]

    assert ipn(f"{payment.code}L2", "14226200") == "00"
    assert ipn(payment.code, "14226300") == "00"  # the older order, paid after the newer one
    first, _second = finance_keys
    rows = client.get(f"/api/v1/payments/{payment.id}/refunds", headers=bearer(first)).get_json()
    assert [(r["kind"], r["order_ref"], r["amount"], r["status"], r["awaiting_confirmation"]) for r in rows] == \
        [("second_payment", payment.code, 200_000, "requested", False)]
    assert rows[0]["payment_status"] == "paid" and rows[0]["refundable_amount"] == 200_000
