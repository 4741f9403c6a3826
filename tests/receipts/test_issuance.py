"""Issuing receipts: once per paid payment, numbered without gaps, signed, stored and delivered."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from core import audit, jobs
from core.models import OutboundMessage
from receipts.issuance import (
    ReceiptError,
    cancel_receipt,
    issue_receipt,
    read_pdf,
    receipt_id_for_payment,
    replace_receipt,
)
from receipts.models import Receipt
from tests.receipts.factories import paid_payment, pay, pending_payment

FINANCE = audit.Actor(type="user", id="7", name="ketoan")


def test_a_paid_payment_gets_exactly_one_signed_receipt(session, settings):
    p = paid_payment(session)
    receipts = session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).all()
    assert len(receipts) == 1
    r = receipts[0]
    assert r.status == "issued"
    assert r.number_text == "0000001"
    # Circular 32/2025 shape: template EBL01, symbol the year's two digits and T (the demo unit's series).
    assert (r.template, r.symbol) == ("EBL01", f"{r.year % 100:02d}T")
    assert r.amount == 200_000
    data = read_pdf(settings, r)
    assert hashlib.sha256(data).hexdigest() == r.sha256
    assert receipt_id_for_payment(session, p.id) == r.id
    # Calling again (the counter desk, a duplicate job) returns the same receipt.
    assert issue_receipt(session, p.id).id == r.id
    session.commit()
    assert session.scalar(select(Receipt.id).where(Receipt.payment_id == p.id)) == r.id


@pytest.mark.parametrize("channel", ["vnpay", "momo", "vietqr", "counter", "cod"])
def test_every_channel_yields_exactly_one_receipt_naming_it(session, channel):
    """The paid transition, whatever the channel, issues one receipt (its job runs after the commit)."""
    from core.accounts import ensure_demo_centre
    from fees.payments import Payer, create_payment
    from tests.receipts.factories import LINES

    p = create_payment(session, ensure_demo_centre(session), dossier_code=f"KENH-{channel}",
                       payer=Payer("Phạm Văn Kênh", address="Xã Tân Lập"), items=list(LINES),
                       actor=audit.SYSTEM, channels=[channel])
    pay(session, p, channel=channel, channel_ref=f"REF-{channel}")
    session.commit()
    session.expire_all()
    receipts = session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).all()
    assert len(receipts) == 1
    r = receipts[0]
    assert r.status == "issued" and r.channel == channel and r.channel_ref == f"REF-{channel}"
    assert r.content["channel_label"] and r.content["channel_label"] != channel
    # A duplicate job or a second call changes nothing.
    assert issue_receipt(session, p.id).id == r.id
    session.commit()
    assert len(session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).all()) == 1


def test_numbers_follow_each_other_in_the_series(session):
    numbers = [session.get(Receipt, receipt_id_for_payment(session, paid_payment(session).id)).number_text
               for _ in range(3)]
    assert numbers == ["0000001", "0000002", "0000003"]


def test_counter_desk_gets_the_receipt_in_the_same_transaction(session):
    p = pending_payment(session)
    pay(session, p, channel="counter")
    r = issue_receipt(session, p.id)
    assert r.status == "issued" and r.channel == "counter"
    session.commit()
    # The paid event's job ran after commit and found the receipt already there.
    assert len(session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).all()) == 1


def test_an_unpaid_payment_gets_no_receipt(session):
    p = pending_payment(session)
    session.commit()
    with pytest.raises(ReceiptError):
        issue_receipt(session, p.id)


def test_the_payer_gets_an_email_with_the_pdf_and_a_text_with_the_link(session):
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    msgs = session.scalars(select(OutboundMessage).where(OutboundMessage.entity_type == "receipt",
                                                         OutboundMessage.entity_id == str(r.id))).all()
    by_channel = {m.channel: m for m in msgs}
    assert set(by_channel) == {"email", "sms"}
    assert by_channel["email"].status == "sent"
    assert by_channel["email"].attachments[0]["filename"].endswith(".pdf")
    assert f"/r/{r.lookup_code}" in by_channel["sms"].body
    assert f"/r/{r.lookup_code}" in by_channel["email"].body


def test_a_lost_job_is_redriven_by_the_sweep(session, monkeypatch):
    from receipts import jobs as receipt_jobs

    monkeypatch.setattr(receipt_jobs, "_on_payment_paid", lambda *a, **k: None)
    from core import events

    monkeypatch.setitem(events._handlers, "payment.paid", [])
    p = paid_payment(session)
    assert receipt_id_for_payment(session, p.id) is None
    assert jobs.sweep()["sweep_receipts"] == 1
    session.expire_all()
    assert session.get(Receipt, receipt_id_for_payment(session, p.id)).status == "issued"
    assert jobs.sweep()["sweep_receipts"] == 0


def test_a_receipt_left_pending_by_a_dead_worker_is_finished_by_the_sweep(session, monkeypatch):
    from receipts import issuance

    def die(*a, **k):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(issuance, "produce_pdf", die)
    p = paid_payment(session)
    r = session.scalars(select(Receipt).where(Receipt.payment_id == p.id)).one()
    assert r.status == "pending" and r.number_text == "0000001"
    monkeypatch.undo()
    jobs.sweep()
    session.expire_all()
    r = session.get(Receipt, r.id)
    assert r.status == "issued" and r.number_text == "0000001"


def test_cancelling_keeps_the_receipt_and_frees_the_payment(session, settings):
    p = paid_payment(session)
    r = session.get(Receipt, receipt_id_for_payment(session, p.id))
    cancel_receipt(session, r.id, reason="Thu nhầm hồ sơ", actor=FINANCE)
    session.commit()
    assert r.status == "cancelled" and r.cancel_reason == "Thu nhầm hồ sơ"
    assert receipt_id_for_payment(session, p.id) is None
    assert read_pdf(settings, r)  # still retrievable
    # The sweep does not re-issue a deliberately cancelled receipt.
    assert jobs.sweep()["sweep_receipts"] == 0
    with pytest.raises(ReceiptError):
        cancel_receipt(session, r.id, reason="lần hai", actor=FINANCE)


def test_replacing_issues_a_new_number_that_names_the_old_one(session):
    p = paid_payment(session)
    old = session.get(Receipt, receipt_id_for_payment(session, p.id))
    new = replace_receipt(session, old.id, reason="Sai địa chỉ người nộp", actor=FINANCE)
    session.commit()
    assert old.status == "replaced" and old.replaced_by_id == new.id
    assert new.replaces_id == old.id and new.status == "issued"
    assert new.number == old.number + 1
    assert new.content["replaces"]["number"] == old.number_text
    assert receipt_id_for_payment(session, p.id) == new.id


def _succeeded_refund(session, payment, amount):
    """A refund as fees records it when the gateway pays it back, then the payment's transition."""
    from core.clock import utcnow
    from fees.models import Refund
    from fees.payments import lock_payment, transition

    p = lock_payment(session, payment_id=payment.id)
    refund = Refund(payment_id=p.id, amount=amount, reason="Công dân rút hồ sơ", status="succeeded",
                    reference=f"RF{p.id:010d}{amount}"[:40], gateway_ref="14123456", requested_by="user:7",
                    approved_by="user:8", created_at=utcnow(), updated_at=utcnow(), completed_at=utcnow())
    session.add(refund)
    refunded = p.refunded_amount + amount
    transition(session, p, "refunded" if refunded >= p.paid_amount else "partially_refunded", actor=FINANCE,
               refunded_amount=refunded)
    return refund


def test_a_full_refund_leaves_the_receipt_valid_and_documents_the_refund(session):
    from receipts.models import ReceiptRefund

    p = paid_payment(session)
    rid = receipt_id_for_payment(session, p.id)
    refund = _succeeded_refund(session, p, p.paid_amount)
    session.commit()
    session.expire_all()
    r = session.get(Receipt, rid)
    assert r.status == "issued" and r.cancelled_at is None
    doc = session.scalars(select(ReceiptRefund).where(ReceiptRefund.receipt_id == rid)).one()
    assert (doc.refund_id, doc.amount, doc.reference, doc.gateway_ref) == (refund.id, 200_000, refund.reference,
                                                                           "14123456")
    assert doc.decided_by == "user:7" and doc.paid_at is not None
    # The sweep neither cancels nor documents it twice.
    jobs.sweep()
    assert session.scalar(select(Receipt.status).where(Receipt.id == rid)) == "issued"
    assert len(session.scalars(select(ReceiptRefund)).all()) == 1


def test_a_partial_refund_keeps_the_receipt_and_documents_the_refund(session):
    from receipts.models import ReceiptRefund

    p = paid_payment(session)
    rid = receipt_id_for_payment(session, p.id)
    _succeeded_refund(session, p, 50_000)
    session.commit()
    assert session.get(Receipt, rid).status == "issued"
    doc = session.scalars(select(ReceiptRefund)).one()
    assert doc.receipt_id == rid and doc.amount == 50_000
