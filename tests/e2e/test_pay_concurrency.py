"""50 identical IPNs at once (a gateway retrying hard) leave exactly one paid transition and one audit row."""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from core.models import AuditLog, InboundCallback
from fees.gateways import vnpay
from fees.models import Payment
from tests.conftest import PG_URL
from tests.fees.factories import make_payment


@pytest.mark.skipif(not PG_URL, reason="row locks are exercised on PostgreSQL (set HCC_TEST_DATABASE_URL)")
def test_fifty_concurrent_identical_ipns_pay_once(live_server, session):
    payment = make_payment(session, amount=200_000)
    params = {"vnp_Amount": "20000000", "vnp_BankCode": "NCB", "vnp_PayDate": "20260101120000",
              "vnp_ResponseCode": "00", "vnp_TmnCode": "HCCSBX01", "vnp_TransactionNo": "14226112",
              "vnp_TransactionStatus": "00", "vnp_TxnRef": payment.code}
    params["vnp_SecureHash"] = vnpay.sign_params(params, "SANDBOXVNPAYSECRETHCC0000000000")
    url = f"{live_server}/callbacks/vnpay/ipn?{urlencode(params)}"

    def send(_):
        return requests.get(url, timeout=60).json()["RspCode"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(send, range(50)))

    assert sorted(set(codes)) == ["00", "02"] and codes.count("00") == 1
    session.expire_all()
    assert session.get(Payment, payment.id).status == "paid"
    assert session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.paid", AuditLog.entity_id == str(payment.id))) == 1
    assert session.scalar(select(func.count()).select_from(InboundCallback).where(
        InboundCallback.source == "vnpay")) == 50


@pytest.mark.skipif(not PG_URL, reason="row locks are exercised on PostgreSQL (set HCC_TEST_DATABASE_URL)")
@pytest.mark.parametrize("needs_approval", ["1", "0"])
def test_concurrent_refunds_never_exceed_what_was_paid(live_server, session, app, needs_approval):
    from core import audit
    from fees.gateways.counter import record_counter_payment
    from fees.models import Refund
    from tests.factories import bearer, make_api_key

    app.extensions["hcc"].settings.extra["HCC_REFUND_NEEDS_APPROVAL"] = needs_approval
    finance = make_api_key(session, roles=("finance",), name="Kế toán")
    payment = make_payment(session, amount=200_000)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    url = f"{live_server}/api/v1/payments/{payment.id}/refunds"

    def send(i):
        return requests.post(url, json={"amount": 150_000, "reason": f"hoàn {i}"}, headers=bearer(finance),
                             timeout=60).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(send, range(20)))

    assert codes.count(201) == 1 and codes.count(422) == 19, codes
    session.expire_all()
    refunds = session.scalars(select(Refund).where(Refund.payment_id == payment.id)).all()
    assert sum(r.amount for r in refunds) == 150_000
    p = session.get(Payment, payment.id)
    assert p.refunded_amount == (150_000 if needs_approval == "0" else 0)
    assert p.status == ("partially_refunded" if needs_approval == "0" else "paid")
