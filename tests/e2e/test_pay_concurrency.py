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
