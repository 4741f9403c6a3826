"""Receipt background work: issue every unit's receipt of each paid payment, deliver, document refunds (the receipt
stays valid), and the sweep."""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.orm import Session

from core import audit, events, jobs
from core.clock import utcnow
from core.notify import queue_message
from fees.models import Payment, PaymentItem, Refund
from receipts.issuance import (
    RECEIPTABLE,
    UnitCannotIssueError,
    allocate_receipt,
    finish_receipt,
    lookup_url,
    note_blocked,
    receipts_for_payment,
    refunds_of,
    units_of_payment,
)
from receipts.models import Receipt, ReceiptRefund
from receipts.storage import storage_for

log = logging.getLogger(__name__)
SWEEP_BATCH = 500


@events.on("payment.paid")
def _on_payment_paid(session: Session, payment_id: int, **_):
    jobs.enqueue_after_commit(session, issue_receipt_job, payment_id)


@events.on("payment.refunded")
@events.on("payment.partially_refunded")
def _on_payment_refunded(session: Session, payment_id: int, **_):
    """A refund, full or partial, leaves the receipts valid: each gets a refund document for its share.

    Recorded in the same transaction as the refund's success, so it cannot be lost; `record_refunds` is
    idempotent and the sweep calls it again for any refund left without its documents.
    """
    record_refunds(session, payment_id)


# Whether the payment has a succeeded refund not yet documented on a receipt (the query of record_refunds, its id only).
_ANY_UNDOCUMENTED = (select(Refund.id)
                     .where(Refund.payment_id == bindparam("payment_id"), Refund.status == "succeeded",
                            Refund.id.not_in(select(ReceiptRefund.refund_id)))
                     .limit(1))


def record_refunds(session: Session, payment_id: int) -> list[ReceiptRefund]:
    """Link every succeeded refund of the payment not yet documented to the payment's receipts.

    A refund is shared among the payment's current receipts (one per unit, by unit code) up to what each
    still has unrefunded: a full refund gives each receipt its whole amount back. The receipts stay
    issued; only a receipt made in error is cancelled or replaced (receipts.issuance, 04/SS-CTĐT).
    """
    session.flush()  # the existence check below reads the connection directly, as the query after it would
    if session.connection().execute(_ANY_UNDOCUMENTED, {"payment_id": payment_id}).first() is None:
        return []  # the usual case on issuance: no refund at all (one small Core query, no ORM load)
    done = select(ReceiptRefund.refund_id)
    refunds = session.scalars(select(Refund).where(Refund.payment_id == payment_id, Refund.status == "succeeded",
                                                   Refund.id.not_in(done)).order_by(Refund.id)).all()
    if not refunds:
        return []
    receipts = [r for r in receipts_for_payment(session, payment_id) if r.status == "issued"]
    if not receipts:
        return []  # not issued yet: the sweep links the refund once the receipt is signed
    refunded = {r.id: sum(x.amount for x in refunds_of(session, [r.id])[r.id]) for r in receipts}
    out = []
    for refund in refunds:
        left = refund.amount
        for receipt in receipts:
            share = min(left, receipt.amount - refunded[receipt.id])
            if share <= 0:
                continue
            left -= share
            refunded[receipt.id] += share
            doc = ReceiptRefund(centre_id=receipt.centre_id, receipt_id=receipt.id, refund_id=refund.id, amount=share,
                                reason=refund.reason, decided_by=refund.requested_by, approved_by=refund.approved_by,
                                decided_at=refund.created_at, reference=refund.reference, gateway_ref=refund.gateway_ref,
                                paid_at=refund.completed_at, created_at=utcnow())
            session.add(doc)
            session.flush()
            out.append(doc)
            audit.record(session, audit.SYSTEM, "receipt.refund_recorded", entity_type="receipt", entity_id=receipt.id,
                         after={"refund_id": refund.id, "amount": share, "reference": refund.reference,
                                "receipt_amount": receipt.amount, "status": receipt.status},
                         detail="Hoàn trả: biên lai vẫn hợp lệ, chứng từ hoàn trả ghi kèm", centre_id=receipt.centre_id)
            events.emit(session, "receipt.refunded", receipt_id=receipt.id, refund_id=refund.id, amount=share)
            if left == 0:
                break
    return out


@events.on("receipt.issued")
def _on_receipt_issued(session: Session, receipt_id: int, payment_id: int | None = None, **_):
    queue_delivery(session, receipt_id)
    if payment_id is not None:
        record_refunds(session, payment_id)  # a refund that succeeded before the receipt was signed


@jobs.job(retries=8)
def issue_receipt_job(payment_id: int) -> None:
    """Per unit of the payment: take the number (one short transaction), then sign and store (another); all
    idempotent. A unit that cannot issue yet is noted on the payment and left to the sweep."""
    with jobs.session_scope() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status not in RECEIPTABLE:
            return
        unit_ids = [u.id for u in units_of_payment(session, payment)]
    receipt_ids = []
    for unit_id in unit_ids:
        with jobs.session_scope() as session:
            try:
                receipt_ids.append(allocate_receipt(session, payment_id, unit_id).id)
            except UnitCannotIssueError as e:
                session.rollback()
                note_blocked(session, payment_id, e.unit_code, str(e))
    for receipt_id in receipt_ids:
        finish_receipt_job.call_local(receipt_id)


@jobs.job(retries=8)
def finish_receipt_job(receipt_id: int) -> None:
    with jobs.session_scope() as session:
        try:
            finish_receipt(session, receipt_id)
        except Exception as e:
            session.rollback()
            _note_failure(receipt_id, e)
            if isinstance(e, UnitCannotIssueError):
                # Its number is taken, but the unit cannot sign now (a wrong PIN, an expired certificate):
                # staff see why on the payment, as when no number could be taken; the sweep retries.
                with jobs.session_scope() as other:
                    receipt = other.get(Receipt, receipt_id)
                    if receipt is not None:
                        note_blocked(other, receipt.payment_id, e.unit_code, str(e))
            raise jobs.RetryableJobError(f"receipt {receipt_id} not signed: {type(e).__name__}") from e


def _note_failure(receipt_id: int, error: Exception) -> None:
    log.warning("receipt signing failed; will retry", extra={"receipt_id": receipt_id,
                                                             "error": type(error).__name__})
    with jobs.session_scope() as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is not None and receipt.status == "pending":
            receipt.attempts += 1
            receipt.last_error = f"{type(error).__name__}: {error}"[:2000]


def queue_delivery(session: Session, receipt_id: int) -> None:
    """E-mail with the PDF and a text with the lookup link; sent by retried jobs after commit."""
    receipt = session.get(Receipt, receipt_id)
    payment = session.get(Payment, receipt.payment_id)
    settings = jobs.settings()
    url = lookup_url(settings, receipt.lookup_code)
    c = receipt.content
    what = {"replace": "Biên lai thay thế", "adjust": "Biên lai điều chỉnh"}.get(receipt.correction or "", "Biên lai")
    if payment.payer_email:
        path = storage_for(settings).local_path(receipt.storage_key)
        queue_message(
            session, channel="email", recipient=payment.payer_email, centre_id=receipt.centre_id,
            subject=f"{what} điện tử số {receipt.number_text} ({receipt.symbol}) - {c['organisation']['name']}",
            body=(f"Kính gửi Ông/Bà {c['payer']['name']},\n\n"
                  f"{c['organisation']['name']} gửi {what.lower()} điện tử thu phí, lệ phí hồ sơ {c['dossier_code']}:\n"
                  f"ký hiệu mẫu {receipt.template}, ký hiệu {receipt.symbol}, số {receipt.number_text}, "
                  f"số tiền {c['total']:,} đồng ({c['total_words']}).\n\n".replace(",", ".") +
                  f"Tra cứu và kiểm tra biên lai: {url}\n\nTrân trọng."),
            attachments=[{"path": str(path), "filename": f"bien-lai-{receipt.symbol}-{receipt.number_text}.pdf",
                          "mimetype": "application/pdf"}] if path else [],
            entity_type="receipt", entity_id=receipt.id, purpose="receipt-issued")
    if payment.payer_phone:
        queue_message(
            session, channel="sms", recipient=payment.payer_phone, centre_id=receipt.centre_id,
            body=(f"{what} so {receipt.number_text} ky hieu {receipt.symbol}: {c['total']:,} dong. "
                  f"Tra cuu: {url}").replace(",", "."),
            entity_type="receipt", entity_id=receipt.id, purpose="receipt-issued")


@jobs.register_sweeper
def sweep_receipts(session: Session) -> int:
    """Paid payments missing a unit's receipt (or any receipt), and receipts whose signing never finished.

    A payment whose unit cannot issue yet (no registered series, expired key) comes back every sweep until
    it can; the reason stays noted on the payment meanwhile.
    """
    unit_without_receipt = exists().where(
        PaymentItem.payment_id == Payment.id, PaymentItem.unit_id.is_not(None),
        ~exists().where(Receipt.payment_id == Payment.id, Receipt.unit_id == PaymentItem.unit_id))
    unissued = session.scalars(
        select(Payment.id).where(Payment.status.in_(RECEIPTABLE),
                                 or_(~exists().where(Receipt.payment_id == Payment.id),
                                     unit_without_receipt))
        .order_by(Payment.id).limit(SWEEP_BATCH)).all()
    pending = session.scalars(select(Receipt.id).where(Receipt.status == "pending")
                              .order_by(Receipt.id).limit(SWEEP_BATCH)).all()
    undocumented = session.scalars(
        select(Refund.payment_id).where(Refund.status == "succeeded",
                                        Refund.id.not_in(select(ReceiptRefund.refund_id)),
                                        exists().where(Receipt.current_payment_id == Refund.payment_id,
                                                       Receipt.status == "issued"))
        .distinct().limit(SWEEP_BATCH)).all()
    for pid in undocumented:
        record_refunds(session, pid)
    for pid in unissued:
        jobs.enqueue_after_commit(session, issue_receipt_job, pid)
    for rid in pending:
        jobs.enqueue_after_commit(session, finish_receipt_job, rid)
    return len(unissued) + len(pending) + len(undocumented)
