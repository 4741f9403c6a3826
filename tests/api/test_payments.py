"""The payments API as an integrating system and finance staff use it."""

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
