"""A refund ends `succeeded` or `failed` only on a word that says so: each answer VNPAY and MoMo document for a
refund, and for the ones that do not tell (VNPAY 94/99, MoMo duplicates and processing codes, a lost answer)
only after a query of the transaction says so; while the query cannot tell, the refund stays pending and
the sweep asks again.

The real client talks to the real sandbox code (fees/gateways/*/sandbox.py) through `responses`, so the wire format,
signatures and codes are those of the sandbox, with faults injected where a gateway would show them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from core import audit, jobs
from core.clock import utcnow
from fees.gateways import attempts, ledger
from fees.gateways import momo as momo_wire
from fees.gateways import vnpay as vnpay_wire
from fees.gateways.base import get_gateway
from fees.gateways.momo import sandbox as momo_side
from fees.gateways.vnpay import sandbox as vnpay_side
from fees.models import Payment, Refund
from fees.payments import transition
from fees.refunds import RESEND_AFTER, execute_refund, request_refund
from tests.fees.factories import make_payment

TMN, SECRET = "HCCSBX01", "SANDBOXVNPAYSECRETHCC0000000000"
MOMO = {"partner": "MOMOHCCSBX", "access": "SANDBOXMOMOACCESS", "secret": "SANDBOXMOMOSECRETKEYHCC"}
FINANCE = audit.Actor(type="user", id="7", name="Kế toán")


@pytest.fixture
def wire(app):
    """The sandboxes' code answering the real clients' HTTP requests (a lost answer is HTTP 504)."""
    ledger.clear()
    settings = jobs.settings()
    vnpay_api = get_gateway("vnpay", settings).api_url
    momo_api = get_gateway("momo", settings).api_url

    def answer(fn):
        def callback(request):
            try:
                return 200, {}, json.dumps(fn(json.loads(request.body)))
            except ledger.AnswerLost:
                return 504, {}, "upstream timed out"
        return callback

    keys = {"access_key": MOMO["access"], "secret_key": MOMO["secret"]}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, vnpay_api, callback=answer(lambda b: vnpay_side.api(b, SECRET, TMN)))
        mock.add_callback(responses.POST, f"{momo_api}/v2/gateway/api/refund",
                          callback=answer(lambda b: momo_side.refund(b, **keys)))
        mock.add_callback(responses.POST, f"{momo_api}/v2/gateway/api/query",
                          callback=answer(lambda b: momo_side.query(b, **keys)))
        mock.gateway_calls = lambda: [c for c in mock.calls if c.request.url.startswith((vnpay_api, momo_api))]
        yield mock
    ledger.clear()


def paid_through(session, gateway: str, amount: int = 200_000) -> Payment:
    """A payment paid through the sandbox on its own order (as the checkout and IPN would leave it)."""
    payment = make_payment(session, amount=amount)
    attempt = attempts.open_attempt(session, payment, gateway, merchant_id=TMN if gateway == "vnpay" else MOMO["partner"])
    txn_no = "14226112" if gateway == "vnpay" else "4088878653"
    attempt.create_date = "20260101100000"
    ledger.put(ledger.SandboxTxn(gateway, attempt.order_ref, amount, status="paid", transaction_no=txn_no,
                                 pay_date="20260101100731", data={"create_date": "20260101100000"}))
    attempts.note(session, payment, gateway, attempt.order_ref, outcome="paid", transaction_ref=txn_no, raw_status="00")
    transition(session, payment, "paid", actor=audit.SYSTEM, channel=gateway, channel_ref=txn_no, paid_amount=amount)
    session.commit()
    return payment


def approved_refund(session, payment: Payment, amount: int) -> Refund:
    refund = request_refund(session, payment.id, amount=amount, reason="nộp thừa", actor=FINANCE, needs_approval=True)
    refund.status, refund.approved_by = "approved", "user:8"  # approved; sent below, not by the job
    session.commit()
    return refund


def run(session, refund: Refund) -> Refund:
    execute_refund(session, refund.id, jobs.settings())
    session.commit()
    session.expire_all()
    return session.get(Refund, refund.id)


def original(payment: Payment, gateway: str) -> ledger.SandboxTxn:
    return ledger.get(gateway, payment.code)


# --- VNPAY ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["02", "03", "04", "13", "91", "93", "95", "97"])
def test_a_vnpay_refusal_fails_the_refund_and_moves_no_money(wire, session, code):
    payment = paid_through(session, "vnpay")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("vnpay", "refund", code)
    refund = run(session, refund)
    assert refund.status == "failed" and code in refund.message
    assert session.get(Payment, payment.id).status == "paid"


def test_vnpay_00_succeeds_without_a_query(wire, session):
    payment = paid_through(session, "vnpay")
    refund = run(session, approved_refund(session, payment, 50_000))
    assert refund.status == "succeeded" and refund.confirmation is None
    assert session.get(Payment, payment.id).status == "partially_refunded"
    assert [c.request.body for c in wire.gateway_calls() if b'"querydr"' in c.request.body] == []


@pytest.mark.parametrize("code", ["94", "98", "99", "lost"])
def test_an_answer_that_does_not_tell_is_confirmed_by_querydr(wire, session, code):
    payment = paid_through(session, "vnpay")
    refund = approved_refund(session, payment, 50_000)
    # The earlier request went through at VNPAY; its answer says "duplicate", "other error", or never comes.
    ledger.inject("vnpay", "refund", code, apply=True, refund_status="05")
    refund = run(session, refund)
    assert (refund.status, refund.confirmation) == ("processing", "query")  # never read as success
    assert session.get(Payment, payment.id).status == "paid"
    refund = run(session, refund)  # querydr: VNPAY is still processing it (05): cannot tell yet
    assert (refund.status, refund.last_answer) == ("processing", "03/05")
    vnpay_side.settle_refund(payment.code, "06")  # VNPAY sent it to the bank
    refund = run(session, refund)
    assert refund.status == "succeeded" and session.get(Payment, payment.id).status == "partially_refunded"
    assert original(payment, "vnpay").refunded == 50_000  # once, whatever was asked
    commands = [json.loads(c.request.body)["vnp_Command"] for c in wire.gateway_calls()]
    assert commands == ["refund", "querydr", "querydr"]  # asked, never sent again


def test_a_refund_vnpay_refused_after_94_fails_on_querydrs_word(wire, session):
    payment = paid_through(session, "vnpay")
    refund = approved_refund(session, payment, 200_000)
    ledger.inject("vnpay", "refund", "94", apply=True, refund_status="09")  # GD hoàn trả bị từ chối
    refund = run(session, run(session, refund))
    assert (refund.status, refund.last_answer) == ("failed", "02/09")  # a full refund (02), refused (09)
    assert session.get(Payment, payment.id).status == "paid"


def test_while_querydr_cannot_tell_the_refund_stays_pending_and_the_sweep_asks_again(wire, session):
    from fees.jobs import redrive_refunds

    payment = paid_through(session, "vnpay")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("vnpay", "refund", "94")  # a duplicate of a request VNPAY has not finished: nothing shows yet
    refund = run(session, refund)
    ledger.inject("vnpay", "querydr", "99")  # the query itself fails once
    refund = run(session, refund)
    assert (refund.status, refund.confirmation) == ("processing", "query")
    refund = run(session, refund)  # querydr: the payment, no refund on it, inside the window: wait
    assert (refund.status, refund.last_answer) == ("processing", "01/00")
    # Long after VNPAY's duplicate window, still no trace: it never arrived; the sweep sends it again.
    refund.unknown_since = utcnow() - RESEND_AFTER - timedelta(minutes=1)
    session.commit()
    assert redrive_refunds(session) >= 1
    session.commit()  # the job runs at once in tests
    session.expire_all()
    refund = session.get(Refund, refund.id)
    assert refund.status == "succeeded" and refund.request_seq == 1
    assert original(payment, "vnpay").refunded == 50_000
    sent = [json.loads(c.request.body) for c in wire.gateway_calls() if json.loads(c.request.body)["vnp_Command"] == "refund"]
    assert [s["vnp_RequestId"] for s in sent] == [refund.reference, f"{refund.reference}-1"]


def test_an_unknown_code_is_not_a_success_either(wire, session):
    payment = paid_through(session, "vnpay")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("vnpay", "refund", "42")  # not in VNPAY's refund table
    assert run(session, refund).confirmation == "query"


# --- MoMo --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [11, 12, 13, 20, 21, 22, 42, 1088])
def test_a_momo_refusal_fails_the_refund(wire, session, code):
    payment = paid_through(session, "momo")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("momo", "refund", code)
    refund = run(session, refund)
    assert refund.status == "failed" and str(code) in refund.message


@pytest.mark.parametrize("code", [10, 1080])
def test_a_momo_refund_not_taken_is_sent_again_under_a_new_order_id(wire, session, code):
    payment = paid_through(session, "momo")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("momo", "refund", code)
    refund = run(session, refund)
    assert (refund.status, refund.request_seq) == ("approved", 1)
    refund = run(session, refund)
    assert refund.status == "succeeded"
    sent = [json.loads(c.request.body)["orderId"] for c in wire.gateway_calls() if c.request.url.endswith("/refund")]
    assert sent == [refund.reference, f"{refund.reference}-1"]


@pytest.mark.parametrize("code", [40, 41, 43, 99, 7000, 7002, 1081, "lost"])
def test_a_momo_answer_that_does_not_tell_is_confirmed_by_the_query(wire, session, code):
    payment = paid_through(session, "momo")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("momo", "refund", code, apply=True, refund_status=7000)  # MoMo has it, still processing
    refund = run(session, refund)
    assert (refund.status, refund.confirmation) == ("processing", "query")
    refund = run(session, refund)  # refundTrans shows it processing: cannot tell yet
    assert (refund.status, refund.last_answer) == ("processing", "7000")
    momo_side.settle_refund(payment.code, refund.reference, 0)
    refund = run(session, refund)
    assert refund.status == "succeeded" and session.get(Payment, payment.id).status == "partially_refunded"
    assert original(payment, "momo").refunded == 50_000
    assert [c.request.url.rsplit("/", 1)[1] for c in wire.gateway_calls()] == ["refund", "query", "query"]


def test_a_momo_refund_the_query_shows_failed_fails(wire, session):
    payment = paid_through(session, "momo")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("momo", "refund", 41, apply=True, refund_status=1080)
    refund = run(session, run(session, refund))
    assert refund.status == "failed" and session.get(Payment, payment.id).status == "paid"


def test_a_momo_refund_never_taken_is_resent_only_after_the_window(wire, session):
    payment = paid_through(session, "momo")
    refund = approved_refund(session, payment, 50_000)
    ledger.inject("momo", "refund", 43)  # "a similar transaction is being processed"; nothing recorded
    refund = run(session, run(session, refund))
    assert (refund.status, refund.request_seq) == ("processing", 0)  # absent, but inside the window
    refund.unknown_since = utcnow() - RESEND_AFTER - timedelta(minutes=1)
    session.commit()
    refund = run(session, refund)
    assert refund.status == "succeeded" and refund.request_seq == 1
    assert original(payment, "momo").refunded == 50_000


def test_momo_9000_is_paid_with_one_step_capture(client, session):
    """MoMo: 9000 "authorized" may be taken as paid for autoCapture=1, the default of captureWallet."""
    payment = make_payment(session)
    ipn = {"partnerCode": MOMO["partner"], "orderId": payment.code, "requestId": "R1", "amount": payment.amount,
           "orderInfo": "Phí", "orderType": "momo_wallet", "transId": 4088878653, "resultCode": 9000,
           "message": "Giao dịch đã được xác nhận thành công.", "payType": "qr", "responseTime": 1721720663942,
           "extraData": ""}
    ipn["signature"] = momo_wire.sign(ipn, momo_wire.IPN_FIELDS, MOMO["access"], MOMO["secret"])
    assert client.post("/callbacks/momo/ipn", json=ipn).status_code == 204
    session.refresh(payment)
    assert (payment.status, payment.channel_ref) == ("paid", "4088878653")
    final = {**ipn, "resultCode": 0, "message": "Thành công."}
    final["signature"] = momo_wire.sign(final, momo_wire.IPN_FIELDS, MOMO["access"], MOMO["secret"])
    assert client.post("/callbacks/momo/ipn", json=final).status_code == 204  # the capture's own IPN: same money
    session.refresh(payment)
    assert payment.status == "paid" and "paid_twice" not in payment.flags
    assert session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all() == []


def test_the_vnpay_codes_of_the_adapter_are_the_documented_ones():
    assert sorted(vnpay_wire.REFUND_ANSWERS) == ["00", "02", "03", "04", "13", "91", "93", "94", "95", "97", "98",
                                                 "99"]
    assert {c for c, m in vnpay_wire.REFUND_ANSWERS.items() if m == "unknown"} == {"94", "98", "99"}
