"""Bank credit notifications: signed, deduplicated on the bank reference; partial and over-payments flagged."""

import json
import time

from fees.gateways.vietqr import sign_notification
from fees.models import Payment
from tests.fees.factories import make_payment

SECRET = "SANDBOXBANKSECRET"


def credit(client, payment, amount, reference, *, secret=SECRET, account="0011000000001"):
    body = json.dumps({"reference": reference, "account": account, "amount": amount,
                       "description": f"HCC {payment.code}"})
    ts = str(int(time.time()))
    return client.post("/callbacks/vietqr/bank", data=body, content_type="application/json",
                       headers={"X-Bank-Timestamp": ts, "X-Bank-Signature": sign_notification(secret, ts, body)})


def reload(session, payment):
    session.expire_all()
    return session.get(Payment, payment.id)


def test_two_partial_transfers_are_flagged_until_the_total_is_reached(client, session):
    payment = make_payment(session, amount=200_000)
    assert credit(client, payment, 150_000, "FT1").get_json()["code"] == "underpaid"
    p = reload(session, payment)
    assert p.status == "pending" and "underpaid" in p.flags
    assert credit(client, payment, 50_000, "FT2").get_json()["code"] == "ok"
    p = reload(session, payment)
    assert p.status == "paid" and "underpaid" not in p.flags and p.paid_amount == 200_000


def test_an_overpayment_pays_and_is_flagged_for_finance(client, session):
    payment = make_payment(session, amount=200_000)
    credit(client, payment, 250_000, "FT9")
    p = reload(session, payment)
    assert p.status == "paid" and "overpaid" in p.flags


def test_the_same_bank_reference_twice_credits_once(client, session):
    payment = make_payment(session, amount=200_000)
    credit(client, payment, 100_000, "FT7")
    assert credit(client, payment, 100_000, "FT7").get_json()["code"] == "duplicate"
    assert reload(session, payment).status == "pending"


def test_a_forged_notification_changes_nothing(client, session):
    payment = make_payment(session, amount=200_000)
    resp = credit(client, payment, 200_000, "FT3", secret="wrong")
    assert resp.status_code == 401
    assert reload(session, payment).status == "pending"


def signed_post(client, body):
    ts = str(int(time.time()))
    return client.post("/callbacks/vietqr/bank", data=body, content_type="application/json",
                       headers={"X-Bank-Timestamp": ts, "X-Bank-Signature": sign_notification(SECRET, ts, body)})


def test_an_amount_that_is_not_whole_dong_is_refused_not_rounded(client, session):
    payment = make_payment(session, amount=200_000)
    for amount in (200_000.9, "200000.5", True):
        body = json.dumps({"reference": f"FT-{amount}", "amount": amount, "description": f"HCC {payment.code}"})
        resp = signed_post(client, body)
        assert resp.status_code == 400 and resp.get_json()["code"] == "malformed"
    p = reload(session, payment)
    assert p.status == "pending" and not (p.extra or {}).get("bank_received")


def test_a_notification_without_a_bank_reference_is_refused(client, session):
    payment = make_payment(session, amount=200_000)
    body = json.dumps({"reference": None, "amount": 200_000, "description": f"HCC {payment.code}"})
    assert signed_post(client, body).get_json()["code"] == "malformed"
    assert reload(session, payment).status == "pending"
