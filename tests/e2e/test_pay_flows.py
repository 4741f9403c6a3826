"""End to end in the embedded default: create a request by API and pay it through each sandbox over HTTP."""

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from core.models import AuditLog
from fees.models import Payment
from fees.schedule import seed_default
from tests.factories import bearer, make_api_key


@pytest.fixture
def api_key(session, centre):
    seed_default(session, centre)
    session.commit()
    return make_api_key(session)


def create_request(live_server, key, *, items=None):
    resp = requests.post(f"{live_server}/api/v1/payments", headers=bearer(key), timeout=10, json={
        "dossier_code": "000.00.12.H26-260101-0042",
        "payer": {"name": "Lê Văn Cường", "phone": "0987654321", "email": "cuong@example.vn",
                  "address": "12 Tràng Tiền, Phường Hoàn Kiếm, Hà Nội"},
        "items": items or [{"fee_code": "LLTP", "quantity": 1}]})
    assert resp.status_code == 201, resp.text
    return resp.json()


def paid_rows(session, payment_id):
    return session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.paid", AuditLog.entity_id == str(payment_id)))


def status_of(session, payment_id):
    session.expire_all()
    return session.get(Payment, payment_id).status


def test_pay_through_the_vnpay_sandbox(live_server, api_key, session):
    created = create_request(live_server, api_key)
    assert created["amount"] == 200_000 and created["status"] == "pending"
    assert created["pay_url"] == f"{live_server}/pay/{created['code']}"
    http = requests.Session()
    start = http.post(f"{live_server}/pay/{created['code']}/vnpay", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    gateway_url = start.headers["Location"]
    query = dict(parse_qsl(urlsplit(gateway_url).query))
    assert query["vnp_TxnRef"] == created["code"] and query["vnp_Amount"] == "20000000"
    page = http.get(gateway_url, timeout=10)
    assert page.status_code == 200 and "200.000" in page.text
    done = http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
                     data={"query": urlsplit(gateway_url).query, "action": "pay"})
    assert done.status_code == 200 and "Đã thanh toán" in done.text
    assert status_of(session, created["id"]) == "paid"

    # The IPN the sandbox sent, replayed: "02", nothing changes.
    from core.models import InboundCallback

    sent = session.scalars(select(InboundCallback).where(InboundCallback.source == "vnpay")).one()
    replay = requests.get(f"{live_server}/callbacks/vnpay/ipn?{sent.query_string}", timeout=10).json()
    assert replay["RspCode"] == "02"
    tampered = dict(parse_qsl(sent.query_string))
    tampered["vnp_Amount"] = "100"
    assert requests.get(f"{live_server}/callbacks/vnpay/ipn", params=tampered, timeout=10).json()["RspCode"] == "97"
    assert paid_rows(session, created["id"]) == 1

    got = requests.get(f"{live_server}/api/v1/payments/{created['id']}", headers=bearer(api_key), timeout=10).json()
    # The receipt is issued on payment.paid (jobs run at once in tests): the API now names it.
    assert got["status"] == "paid" and isinstance(got["receipt_id"], int), got


def test_a_tampered_amount_through_the_wire_answers_04(live_server, api_key, session):
    from fees.gateways import vnpay

    created = create_request(live_server, api_key)
    params = {"vnp_Amount": "100000", "vnp_ResponseCode": "00", "vnp_TmnCode": "HCCSBX01",
              "vnp_TransactionNo": "1", "vnp_TransactionStatus": "00", "vnp_TxnRef": created["code"]}
    params["vnp_SecureHash"] = vnpay.sign_params(params, "SANDBOXVNPAYSECRETHCC0000000000")
    assert requests.get(f"{live_server}/callbacks/vnpay/ipn", params=params, timeout=10).json()["RspCode"] == "04"
    assert status_of(session, created["id"]) == "pending"


def test_pay_through_the_momo_sandbox(live_server, api_key, session):
    created = create_request(live_server, api_key)
    http = requests.Session()
    start = http.post(f"{live_server}/pay/{created['code']}/momo", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text
    pay_page = start.headers["Location"]
    assert "/sandbox/momo/pay/" in pay_page
    assert "200.000" in http.get(pay_page, timeout=10).text
    done = http.post(pay_page, data={"action": "pay"}, timeout=20)
    assert done.status_code == 200 and "Đã thanh toán" in done.text
    assert status_of(session, created["id"]) == "paid"
    payment = session.get(Payment, created["id"])
    assert payment.channel == "momo" and payment.channel_ref

    from core.models import InboundCallback

    sent = session.scalars(select(InboundCallback).where(InboundCallback.source == "momo")).one()
    replay = requests.post(f"{live_server}/callbacks/momo/ipn", data=sent.body.encode(),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert replay.status_code == 204  # MoMo wants 204 whatever we made of it: the stored outcome tells
    session.expire_all()
    outcomes = session.scalars(select(InboundCallback.outcome).where(InboundCallback.source == "momo")
                               .order_by(InboundCallback.id)).all()
    assert outcomes == ["accepted", "duplicate"]
    forged = sent.body.replace('"amount": 200000', '"amount": 1000')
    assert requests.post(f"{live_server}/callbacks/momo/ipn", data=forged.encode(),
                         headers={"Content-Type": "application/json"}, timeout=10).status_code == 400
    assert paid_rows(session, created["id"]) == 1


def test_pay_by_vietqr_transfer_and_bank_notification(live_server, api_key, session):
    created = create_request(live_server, api_key)
    page = requests.get(created["pay_url"], timeout=10).text
    assert "<svg" in page and f"HCC {created['code']}" in page
    assert created["vietqr"].startswith("000201010212") and "A000000727" in created["vietqr"]
    http = requests.Session()
    form = http.get(f"{live_server}/sandbox/bank/transfer", timeout=10,
                    params={"amount": 200000, "description": f"HCC {created['code']}"})
    assert form.status_code == 200
    # A banking app keeps the description but adds its own words and lower-cases it.
    sent = http.post(f"{live_server}/sandbox/bank/transfer", timeout=20,
                     data={"amount": "200000", "description": f"NGUYEN VAN A chuyen tien hcc {created['code'].lower()}"})
    assert re.search(r"HTTP 200", sent.text)
    assert status_of(session, created["id"]) == "paid"

    from core.models import InboundCallback

    note = session.scalars(select(InboundCallback).where(InboundCallback.source == "vietqr")).one()
    again = requests.post(f"{live_server}/callbacks/vietqr/bank", data=note.body.encode(), timeout=10,
                          headers={k: v for k, v in note.headers.items() if k.startswith("X-Bank")})
    assert again.json() == {"success": True, "code": "duplicate"}
    assert paid_rows(session, created["id"]) == 1


def pay_with_vnpay_sandbox(live_server, code):
    http = requests.Session()
    start = http.post(f"{live_server}/pay/{code}/vnpay", allow_redirects=False, timeout=10)
    query = urlsplit(start.headers["Location"]).query
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", data={"query": query, "action": "pay"}, timeout=20)


def test_partial_then_full_refund_through_the_vnpay_sandbox(live_server, api_key, session, app):
    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    created = create_request(live_server, api_key)
    pay_with_vnpay_sandbox(live_server, created["code"])
    url = f"{live_server}/api/v1/payments/{created['id']}/refunds"
    first = requests.post(url, json={"amount": 50_000, "reason": "thu thừa phí"}, headers=bearer(finance), timeout=20)
    assert first.status_code == 201 and first.json()["status"] == "succeeded", first.text
    assert first.json()["payment_status"] == "partially_refunded" and first.json()["refundable_amount"] == 150_000
    too_much = requests.post(url, json={"amount": 150_001, "reason": "x"}, headers=bearer(finance), timeout=10)
    assert too_much.status_code == 422
    assert too_much.json()["type"].endswith("refund-exceeds-paid") and "amount" in too_much.json()["errors"]
    rest = requests.post(url, json={"amount": 150_000, "reason": "hủy hồ sơ"}, headers=bearer(finance), timeout=20)
    assert rest.json()["payment_status"] == "refunded" and rest.json()["refundable_amount"] == 0


def test_refund_through_the_momo_sandbox(live_server, api_key, session, app):
    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    created = create_request(live_server, api_key)
    http = requests.Session()
    pay_page = http.post(f"{live_server}/pay/{created['code']}/momo", allow_redirects=False,
                         timeout=10).headers["Location"]
    http.post(pay_page, data={"action": "pay"}, timeout=20)
    resp = requests.post(f"{live_server}/api/v1/payments/{created['id']}/refunds", headers=bearer(finance),
                         json={"amount": 200_000, "reason": "nộp nhầm"}, timeout=20)
    assert resp.json()["status"] == "succeeded" and resp.json()["payment_status"] == "refunded", resp.text


def test_a_request_stuck_in_pending_is_settled_by_querydr(live_server, api_key, session, app):
    # The citizen paid at VNPAY but the IPN never arrived: querydr settles it on VNPAY's signed word.
    app.extensions["hcc"].settings.extra["HCC_VNPAY_SANDBOX_IPN_URL"] = f"{live_server}/nowhere"
    created = create_request(live_server, api_key)
    pay_with_vnpay_sandbox(live_server, created["code"])
    assert status_of(session, created["id"]) == "pending"
    resp = requests.post(f"{live_server}/api/v1/payments/{created['id']}/query", headers=bearer(api_key), timeout=20)
    assert resp.status_code == 200 and resp.json()["status"] == "paid", resp.text


def test_paid_in_the_first_of_two_vnpay_tabs_querydr_and_refund_still_find_it(live_server, api_key, session, app):
    # Two pay requests (two create dates) for one code; the citizen pays the first, the IPN is lost.
    app.extensions["hcc"].settings.extra["HCC_VNPAY_SANDBOX_IPN_URL"] = f"{live_server}/nowhere"
    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    created = create_request(live_server, api_key)
    http = requests.Session()
    first = urlsplit(http.post(f"{live_server}/pay/{created['code']}/vnpay", allow_redirects=False,
                               timeout=10).headers["Location"]).query
    import time

    time.sleep(1.1)  # vnp_CreateDate has one-second resolution
    second = urlsplit(http.post(f"{live_server}/pay/{created['code']}/vnpay", allow_redirects=False,
                                timeout=10).headers["Location"]).query
    assert dict(parse_qsl(first))["vnp_CreateDate"] != dict(parse_qsl(second))["vnp_CreateDate"]
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", data={"query": first, "action": "pay"}, timeout=20)
    resp = requests.post(f"{live_server}/api/v1/payments/{created['id']}/query", headers=bearer(api_key), timeout=20)
    assert resp.json()["status"] == "paid", resp.text
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    refund = requests.post(f"{live_server}/api/v1/payments/{created['id']}/refunds", headers=bearer(finance),
                           json={"amount": 50_000, "reason": "thu thừa"}, timeout=20)
    assert refund.json()["status"] == "succeeded" and refund.json()["payment_status"] == "partially_refunded", \
        refund.text


def test_a_refund_whose_answer_is_lost_is_confirmed_by_querydr_not_sent_twice(live_server, api_key, session, app):
    # VNPAY takes the refund but its answer never arrives (the sandbox answers 504): the refund waits for
    # querydr, the sweep asks, and VNPAY's word ends it; the money goes back once.
    from fees.gateways import ledger
    from fees.jobs import redrive_refunds

    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    created = create_request(live_server, api_key)
    pay_with_vnpay_sandbox(live_server, created["code"])
    ledger.inject("vnpay", "refund", "lost", apply=True)
    url = f"{live_server}/api/v1/payments/{created['id']}/refunds"
    first = requests.post(url, json={"amount": 50_000, "reason": "thu thừa phí"}, headers=bearer(finance), timeout=20)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["awaiting_confirmation"]) == ("processing", True)
    assert first.json()["payment_status"] == "paid"  # nothing assumed
    assert redrive_refunds(session) == 1
    session.commit()  # the job runs at once in tests: querydr over HTTP
    got = requests.get(url, headers=bearer(finance), timeout=10).json()
    assert [(r["status"], r["awaiting_confirmation"]) for r in got] == [("succeeded", False)]
    assert got[0]["payment_status"] == "partially_refunded" and got[0]["refundable_amount"] == 150_000
    assert ledger.get("vnpay", created["code"]).refunded == 50_000
