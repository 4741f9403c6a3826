"""Collect on delivery: the carrier's delivered event makes the payment paid once, or flags it."""

from sqlalchemy import func, select

from core import audit
from core.models import AuditLog
from fees.gateways.cod import cancel_cod_payment, record_cod_collection
from tests.fees.factories import make_payment

CARRIER = audit.Actor(type="carrier", id="vnpost", name="vnpost")


def test_cod_request_does_not_expire(session):
    payment = make_payment(session, channels=["cod"])
    assert payment.expires_at is None


def test_collection_of_the_right_amount_pays_once(session):
    payment = make_payment(session, amount=150_000, channels=["cod"])
    record_cod_collection(session, payment.id, 150_000, "vnpost", "EB123456789VN", CARRIER)
    session.commit()
    record_cod_collection(session, payment.id, 150_000, "vnpost", "EB123456789VN", CARRIER)
    session.commit()
    session.refresh(payment)
    assert (payment.status, payment.channel, payment.channel_ref, payment.paid_amount) == \
        ("paid", "cod", "EB123456789VN", 150_000)
    paid_rows = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "payment.paid"))
    assert paid_rows == 1


def test_a_different_amount_is_flagged_and_left_pending(session):
    payment = make_payment(session, amount=150_000, channels=["cod"])
    record_cod_collection(session, payment.id, 100_000, "vnpost", "EB1VN", CARRIER)
    session.commit()
    record_cod_collection(session, payment.id, 100_000, "vnpost", "EB1VN", CARRIER)
    session.commit()
    session.refresh(payment)
    assert payment.status == "pending"
    assert payment.flags == ["cod_amount_mismatch"]


def test_a_returned_parcel_cancels_the_request(session):
    payment = make_payment(session, channels=["cod"])
    cancel_cod_payment(session, payment.id, "bưu gửi chuyển hoàn", CARRIER)
    cancel_cod_payment(session, payment.id, "bưu gửi chuyển hoàn", CARRIER)
    session.commit()
    session.refresh(payment)
    assert payment.status == "cancelled"


def test_an_unpaid_online_request_expires_after_the_configured_time(session, app):
    from datetime import timedelta

    from fees.payments import expire_overdue

    app.extensions["hcc"].settings.extra["HCC_PAYMENT_EXPIRY_MINUTES"] = "30"
    payment = make_payment(session)
    assert timedelta(minutes=29) < payment.expires_at - payment.created_at <= timedelta(minutes=30)
    cod = make_payment(session, channels=["cod"])
    payment.expires_at = payment.created_at - timedelta(seconds=1)
    session.commit()
    assert expire_overdue(session) == 1
    session.commit()
    session.refresh(payment)
    session.refresh(cod)
    assert (payment.status, cod.status) == ("expired", "pending")


def test_a_repeated_delivery_for_a_cancelled_request_is_noted_once(session):
    payment = make_payment(session, amount=150_000, channels=["cod"])
    cancel_cod_payment(session, payment.id, "hủy hồ sơ", CARRIER)
    session.commit()
    for _ in range(2):
        record_cod_collection(session, payment.id, 150_000, "vnpost", "EB9VN", CARRIER)
        session.commit()
    session.refresh(payment)
    assert payment.status == "cancelled" and "paid_after_cancel" in payment.flags
    flagged = session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "payment.flagged", AuditLog.entity_id == str(payment.id)))
    assert flagged == 1
