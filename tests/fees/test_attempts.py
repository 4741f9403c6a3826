"""Each checkout is its own gateway order (VNPAY vnp_TxnRef, MoMo orderId), all mapped back to the one payment.

A citizen who cancels at the gateway and pays on a second attempt the same day gets two distinct order
references, one paid payment, one receipt. An older order paid after a newer one (two tabs) is a second
payment of the same fee: recorded, flagged and sent to the refund flow, never an overwrite, never a
second receipt. Checked at the wire (the IPN endpoints with correctly signed parameters) and end to end
through the sandboxes over HTTP.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from core.models import AuditLog
from fees.gateways import ledger
from fees.gateways import momo as momo_wire
from fees.gateways import vnpay as vnpay_wire
from fees.models import GatewayAttempt, Payment, Refund
from tests.fees.factories import make_payment

TMN, SECRET = "HCCSBX01", "SANDBOXVNPAYSECRETHCC0000000000"
MOMO = {"partner": "MOMOHCCSBX", "access": "SANDBOXMOMOACCESS", "secret": "SANDBOXMOMOSECRETKEYHCC"}


@pytest.fixture
def live_server(live_server):
    """The app over real HTTP (tests/conftest.py), with the gateways' sandbox ledger empty before and after."""
    ledger.clear()
    yield live_server
    ledger.clear()


def receipts_of(session, payment_id: int) -> int:
    from receipts.models import Receipt

    return session.scalar(select(func.count()).select_from(Receipt).where(Receipt.payment_id == payment_id))


def paid_rows(session, payment_id: int) -> int:
    return session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.paid", AuditLog.entity_id == str(payment_id)))


def fresh(session, payment_id: int) -> Payment:
    session.expire_all()
    return session.get(Payment, payment_id)


def orders(session, payment_id: int) -> list[GatewayAttempt]:
    session.expire_all()
    return list(session.scalars(select(GatewayAttempt).where(GatewayAttempt.payment_id == payment_id)
                                .order_by(GatewayAttempt.seq)))


def start(http, base: str, code: str, channel: str) -> str:
    """The citizen presses the channel's button: where the gateway's page is (a requests session over HTTP,
    or the Flask test client)."""
    if base:
        resp = http.post(f"{base}/pay/{code}/{channel}", allow_redirects=False, timeout=10)
    else:
        resp = http.post(f"/pay/{code}/{channel}")
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


# --- VNPAY at the wire --------------------------------------------------------------------------------

def vnpay_ipn(txn_ref: str, amount: int, *, response_code="00", txn_no="14226112") -> dict[str, str]:
    params = {"vnp_Amount": str(amount * 100), "vnp_BankCode": "NCB", "vnp_OrderInfo": "Thanh toan",
              "vnp_PayDate": "20260101120000", "vnp_ResponseCode": response_code, "vnp_TmnCode": TMN,
              "vnp_TransactionNo": txn_no, "vnp_TransactionStatus": "00" if response_code == "00" else "02",
              "vnp_TxnRef": txn_ref}
    params["vnp_SecureHash"] = vnpay_wire.sign_params(params, SECRET)
    return params


def send(client, params) -> str:
    return client.get("/callbacks/vnpay/ipn?" + urlencode(params)).get_json()["RspCode"]


def test_a_second_vnpay_attempt_is_a_new_txn_ref_and_a_late_ipn_for_the_first_is_a_second_payment(client, session):
    payment = make_payment(session)
    first = dict(parse_qsl(urlsplit(start(client, "", payment.code, "vnpay")).query))
    assert send(client, vnpay_ipn(first["vnp_TxnRef"], 200_000, response_code="24", txn_no="0")) == "00"  # cancelled
    assert fresh(session, payment.id).status == "failed"
    second = dict(parse_qsl(urlsplit(start(client, "", payment.code, "vnpay")).query))
    assert first["vnp_TxnRef"] != second["vnp_TxnRef"]  # VNPAY refuses a reused reference
    assert {first["vnp_TxnRef"], second["vnp_TxnRef"]} == {payment.code, f"{payment.code}L2"}
    assert send(client, vnpay_ipn(second["vnp_TxnRef"], 200_000, txn_no="14226200")) == "00"
    paid = fresh(session, payment.id)
    assert (paid.status, paid.channel_ref) == ("paid", "14226200")
    assert receipts_of(session, payment.id) == 1

    # The first attempt's order paid after all (the citizen's bank retried it): a second payment of the fee.
    late = vnpay_ipn(first["vnp_TxnRef"], 200_000, txn_no="14226300")
    assert send(client, late) == "00"
    assert send(client, late) == "02"  # VNPAY's retry: nothing more
    paid = fresh(session, payment.id)
    assert (paid.status, paid.channel_ref, paid.paid_amount) == ("paid", "14226200", 200_000)  # never overwritten
    assert "paid_twice" in paid.flags
    assert receipts_of(session, payment.id) == 1 and paid_rows(session, payment.id) == 1
    assert [(o.order_ref, o.outcome, o.transaction_ref) for o in orders(session, payment.id)] == [
        (payment.code, "paid_twice", "14226300"), (f"{payment.code}L2", "paid", "14226200")]
    refund = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).one()
    assert (refund.kind, refund.amount, refund.status, refund.attempt.order_ref) == \
        ("second_payment", 200_000, "requested", payment.code)  # for finance to approve


def test_an_order_reference_we_never_opened_answers_01(client, session):
    payment = make_payment(session)
    start(client, "", payment.code, "vnpay")
    assert send(client, vnpay_ipn(f"{payment.code}L9", 200_000)) == "01"  # never opened
    assert fresh(session, payment.id).status == "pending"


def test_the_vnpay_sandbox_refuses_a_reused_txn_ref(client, session):
    ledger.clear()
    payment = make_payment(session)
    url = urlsplit(start(client, "", payment.code, "vnpay"))
    page = f"{url.path}?{url.query}"
    assert client.get(page).status_code == 200
    assert client.get(page).status_code == 200  # the same pay request opened again
    # Another pay request under the same vnp_TxnRef (a new create date), as the old code sent on a retry:
    params = dict(parse_qsl(url.query))
    params["vnp_CreateDate"] = str(int(params["vnp_CreateDate"]) + 1)
    params.pop("vnp_SecureHash")
    again = client.get(f"{url.path}?{vnpay_wire.hash_data(params)}&vnp_SecureHash="
                       f"{vnpay_wire.sign_params(params, SECRET)}")
    assert again.status_code == 400 and "01: Giao dịch đã tồn tại" in again.get_data(as_text=True)
    ledger.clear()


# --- VNPAY end to end ---------------------------------------------------------------------------------

def test_cancelled_at_vnpay_then_paid_on_a_second_attempt_the_same_day(live_server, session):
    payment = make_payment(session)
    http = requests.Session()
    first = start(http, live_server, payment.code, "vnpay")
    assert http.get(first, timeout=10).status_code == 200
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
              data={"query": urlsplit(first).query, "action": "cancel"})
    assert fresh(session, payment.id).status == "failed"
    # The old behaviour sent the same vnp_TxnRef again, which VNPAY refuses: the sandbox does too.
    again = http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
                      data={"query": urlsplit(first).query, "action": "pay"})
    assert again.status_code == 400
    second = start(http, live_server, payment.code, "vnpay")
    refs = [dict(parse_qsl(urlsplit(u).query))["vnp_TxnRef"] for u in (first, second)]
    assert refs[0] != refs[1]
    assert http.get(second, timeout=10).status_code == 200
    done = http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
                     data={"query": urlsplit(second).query, "action": "pay"})
    assert done.status_code == 200 and "Đã thanh toán" in done.text
    paid = fresh(session, payment.id)
    assert paid.status == "paid" and receipts_of(session, payment.id) == 1 and paid_rows(session, payment.id) == 1
    assert [o.outcome for o in orders(session, payment.id)] == ["failed", "paid"]


def test_two_vnpay_tabs_both_paid_the_older_is_refunded_through_the_sandbox(live_server, session, app):
    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    payment = make_payment(session)
    http = requests.Session()
    tab_a = start(http, live_server, payment.code, "vnpay")
    tab_b = start(http, live_server, payment.code, "vnpay")
    for tab in (tab_b, tab_a):  # paid in the newer tab, then in the older one too
        http.get(tab, timeout=10)
        http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
                  data={"query": urlsplit(tab).query, "action": "pay"})
    paid = fresh(session, payment.id)
    ref_a = dict(parse_qsl(urlsplit(tab_a).query))["vnp_TxnRef"]
    ref_b = dict(parse_qsl(urlsplit(tab_b).query))["vnp_TxnRef"]
    assert paid.status == "paid" and paid.channel_ref == ledger.get("vnpay", ref_b).transaction_no
    assert receipts_of(session, payment.id) == 1 and paid_rows(session, payment.id) == 1
    refund = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).one()
    # Sent at once (no approval configured) on the older order, whole, through VNPAY's refund API.
    assert (refund.kind, refund.status, refund.attempt.order_ref) == ("second_payment", "succeeded", ref_a)
    assert ledger.get("vnpay", ref_a).refunded == 200_000 and ledger.get("vnpay", ref_b).refunded == 0
    paid = fresh(session, payment.id)
    assert (paid.status, paid.refunded_amount, paid.refundable_amount) == ("paid", 0, 200_000)
    assert [o.outcome for o in orders(session, payment.id)] == ["refunded", "paid"]


def test_a_refund_of_the_payment_names_the_order_that_paid_it(live_server, session, app):
    from core import audit
    from fees.refunds import request_refund

    payment = make_payment(session)
    http = requests.Session()
    first = start(http, live_server, payment.code, "vnpay")
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
              data={"query": urlsplit(first).query, "action": "cancel"})
    second = start(http, live_server, payment.code, "vnpay")
    http.post(f"{live_server}/sandbox/vnpay/paymentv2/pay", timeout=20,
              data={"query": urlsplit(second).query, "action": "pay"})
    refund = request_refund(session, payment.id, amount=50_000, reason="thu thừa", actor=audit.SYSTEM,
                            needs_approval=False)
    session.commit()  # the refund job runs at once in tests
    session.expire_all()
    assert session.get(Refund, refund.id).status == "succeeded"
    assert ledger.get("vnpay", f"{payment.code}L2").refunded == 50_000


# --- MoMo -------------------------------------------------------------------------------------------------

def momo_ipn(order_id: str, amount: int, *, result_code=0, trans_id=4088878653) -> dict:
    ipn = {"partnerCode": MOMO["partner"], "orderId": order_id, "requestId": "R1", "amount": amount,
           "orderInfo": "Phí", "orderType": "momo_wallet", "transId": trans_id, "resultCode": result_code,
           "message": "Thành công." if result_code == 0 else "Người dùng đã từ chối.", "payType": "qr",
           "responseTime": 1721720663942, "extraData": ""}
    ipn["signature"] = momo_wire.sign(ipn, momo_wire.IPN_FIELDS, MOMO["access"], MOMO["secret"])
    return ipn


def test_a_second_momo_attempt_is_a_new_order_id_and_a_late_ipn_for_the_first_is_a_second_payment(
        live_server, session):
    payment = make_payment(session)
    http = requests.Session()
    first = start(http, live_server, payment.code, "momo")
    http.post(first, data={"action": "cancel"}, timeout=20)  # declined in the MoMo app
    assert fresh(session, payment.id).status == "failed"
    second = start(http, live_server, payment.code, "momo")
    assert first.rsplit("/", 1)[1] != second.rsplit("/", 1)[1]
    done = http.post(second, data={"action": "pay"}, timeout=20)
    assert done.status_code == 200 and fresh(session, payment.id).status == "paid"
    assert receipts_of(session, payment.id) == 1
    sent = [(o.order_ref, o.request_id is not None, o.outcome) for o in orders(session, payment.id)]
    assert sent == [(payment.code, True, "failed"), (f"{payment.code}L2", True, "paid")]

    # At the wire: a correctly signed IPN for the first orderId, paid after all.
    late = momo_ipn(payment.code, 200_000, trans_id=4099999999)
    assert requests.post(f"{live_server}/callbacks/momo/ipn", json=late, timeout=10).status_code == 204
    assert requests.post(f"{live_server}/callbacks/momo/ipn", json=late, timeout=10).status_code == 204
    paid = fresh(session, payment.id)
    assert paid.status == "paid" and paid.channel_ref == ledger.get("momo", f"{payment.code}L2").transaction_no
    assert "paid_twice" in paid.flags and receipts_of(session, payment.id) == 1 and paid_rows(session, payment.id) == 1
    refund = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).one()
    assert (refund.kind, refund.amount, refund.attempt.transaction_ref) == ("second_payment", 200_000, "4099999999")


def test_two_momo_orders_both_paid_the_older_is_refunded_through_the_sandbox(live_server, session, app):
    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = "0"
    payment = make_payment(session)
    http = requests.Session()
    tab_a = start(http, live_server, payment.code, "momo")
    tab_b = start(http, live_server, payment.code, "momo")
    http.post(tab_b, data={"action": "pay"}, timeout=20)
    http.post(tab_a, data={"action": "pay"}, timeout=20)
    order_a = tab_a.rsplit("/", 1)[1]
    refund = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).one()
    assert (refund.kind, refund.status, refund.attempt.order_ref) == ("second_payment", "succeeded", order_a)
    assert ledger.get("momo", order_a).refunded == 200_000
    paid = fresh(session, payment.id)
    assert (paid.status, paid.refunded_amount) == ("paid", 0) and receipts_of(session, payment.id) == 1


def test_momo_refuses_a_reused_order_id_and_the_next_attempt_is_taken(live_server, session):
    payment = make_payment(session)
    # An order MoMo already has under the next reference (opened elsewhere): 41, then the one after.
    ledger.put(ledger.SandboxTxn("momo", payment.code, 200_000))
    location = start(requests.Session(), live_server, payment.code, "momo")
    assert location.endswith(f"/{payment.code}L2")
    assert [(o.order_ref, o.outcome) for o in orders(session, payment.id)] == [
        (payment.code, "refused"), (f"{payment.code}L2", "open")]


def test_order_references_share_one_mechanism():
    from fees.gateways.base import code_from_order_ref, order_ref_for

    assert momo_wire.order_id_for("ABCDEFGHJK", 1) == order_ref_for("ABCDEFGHJK", 1) == "ABCDEFGHJK"
    assert momo_wire.order_id_for("ABCDEFGHJK", 3) == order_ref_for("ABCDEFGHJK", 3) == "ABCDEFGHJKL3"
    assert order_ref_for("ABCDEFGHJK", 12).isalnum()  # VNPAY's vnp_TxnRef is alphanumeric
    for ref in ("ABCDEFGHJK", "ABCDEFGHJKL3", "ABCDEFGHJK-3"):  # the last: MoMo orders from before
        assert code_from_order_ref(ref) == "ABCDEFGHJK"
