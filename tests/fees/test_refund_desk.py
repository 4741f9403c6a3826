"""The refunds desk: an amount typed with a decimal part is refused, never read as a bigger sum."""

from core import audit
from fees.gateways.counter import record_counter_payment
from fees.models import Refund
from tests.factories import csrf_token, make_user, sign_in
from tests.fees.factories import make_payment


def test_a_typed_amount_with_decimals_is_refused_not_multiplied(client, session):
    make_user(session, roles=("finance",), username="ketoan9")
    payment = make_payment(session, amount=2_000_000)
    record_counter_payment(session, payment.id, method="cash", actor=audit.SYSTEM)
    session.commit()
    sign_in(client, "ketoan9")
    token = csrf_token(client, "/staff/refunds")
    for typed in ("15000.50", "1.5", "15.000,50"):
        client.post("/staff/refunds/request", data={"payment_id": payment.id, "amount": typed, "reason": "thu thừa",
                                                    "q": payment.code, "csrf_token": token})
    assert session.query(Refund).count() == 0
    client.post("/staff/refunds/request", data={"payment_id": payment.id, "amount": "15.000", "reason": "thu thừa",
                                                "q": payment.code, "csrf_token": token})
    assert [r.amount for r in session.query(Refund)] == [15_000]
