"""Receipt background work: issue on every paid payment, deliver, follow refunds, and the sweep."""

from __future__ import annotations

import logging

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core import audit, events, jobs
from core.notify import queue_message
from fees.models import Payment
from receipts.issuance import (
    RECEIPTABLE,
    ReceiptError,
    allocate_receipt,
    cancel_receipt,
    finish_receipt,
    lookup_url,
)
from receipts.models import Receipt
from receipts.storage import storage_for

log = logging.getLogger(__name__)
SWEEP_BATCH = 500


@events.on("payment.paid")
def _on_payment_paid(session: Session, payment_id: int, **_):
    jobs.enqueue_after_commit(session, issue_receipt_job, payment_id)


@events.on("payment.refunded")
def _on_payment_refunded(session: Session, payment_id: int, **_):
    jobs.enqueue_after_commit(session, cancel_for_refund_job, payment_id)


@events.on("payment.partially_refunded")
def _on_payment_partially_refunded(session: Session, payment_id: int, **_):
    """A partial refund leaves the receipt valid for what was collected; the refund is noted against it."""
    receipt = session.scalars(select(Receipt).where(Receipt.current_payment_id == payment_id)).first()
    payment = session.get(Payment, payment_id)
    if receipt is None or payment is None:
        return
    audit.record(session, audit.SYSTEM, "receipt.refund_noted", entity_type="receipt", entity_id=receipt.id,
                 after={"refunded_amount": payment.refunded_amount, "receipt_amount": receipt.amount},
                 detail="Hoàn trả một phần; biên lai giữ nguyên cho số tiền đã thu", centre_id=receipt.centre_id)


@events.on("receipt.issued")
def _on_receipt_issued(session: Session, receipt_id: int, **_):
    queue_delivery(session, receipt_id)


@jobs.job(retries=8)
def issue_receipt_job(payment_id: int) -> None:
    """Take the number (one short transaction), then sign and store (another); both idempotent."""
    with jobs.session_scope() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status not in RECEIPTABLE:
            return
        receipt_id = allocate_receipt(session, payment_id).id
    finish_receipt_job.call_local(receipt_id)


@jobs.job(retries=8)
def finish_receipt_job(receipt_id: int) -> None:
    with jobs.session_scope() as session:
        try:
            finish_receipt(session, receipt_id)
        except Exception as e:
            session.rollback()
            _note_failure(receipt_id, e)
            raise jobs.RetryableJobError(f"receipt {receipt_id} not signed: {type(e).__name__}") from e


def _note_failure(receipt_id: int, error: Exception) -> None:
    log.warning("receipt signing failed; will retry", extra={"receipt_id": receipt_id,
                                                             "error": type(error).__name__})
    with jobs.session_scope() as session:
        receipt = session.get(Receipt, receipt_id)
        if receipt is not None and receipt.status == "pending":
            receipt.attempts += 1
            receipt.last_error = f"{type(error).__name__}: {error}"[:2000]


@jobs.job(retries=8)
def cancel_for_refund_job(payment_id: int) -> None:
    """A fully refunded payment's receipt is cancelled with the refund as its reason."""
    with jobs.session_scope() as session:
        receipt = session.scalars(select(Receipt).where(Receipt.current_payment_id == payment_id)).first()
        if receipt is None:
            return
        if receipt.status == "pending":
            finish_receipt(session, receipt.id)
            session.commit()
        try:
            cancel_receipt(session, receipt.id, reason="Hoàn trả toàn bộ số tiền đã nộp (hoàn phí)",
                           actor=audit.SYSTEM)
        except ReceiptError:
            return


def queue_delivery(session: Session, receipt_id: int) -> None:
    """E-mail with the PDF and a text with the lookup link; sent by retried jobs after commit."""
    receipt = session.get(Receipt, receipt_id)
    payment = session.get(Payment, receipt.payment_id)
    settings = jobs.settings()
    url = lookup_url(settings, receipt.lookup_code)
    c = receipt.content
    what = "Biên lai thay thế" if receipt.replaces_id else "Biên lai"
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
    """Paid payments without any receipt, and receipts whose signing never finished."""
    unissued = session.scalars(
        select(Payment.id).where(Payment.status.in_(RECEIPTABLE), ~exists().where(Receipt.payment_id == Payment.id))
        .order_by(Payment.id).limit(SWEEP_BATCH)).all()
    pending = session.scalars(select(Receipt.id).where(Receipt.status == "pending")
                              .order_by(Receipt.id).limit(SWEEP_BATCH)).all()
    for pid in unissued:
        jobs.enqueue_after_commit(session, issue_receipt_job, pid)
    for rid in pending:
        jobs.enqueue_after_commit(session, finish_receipt_job, rid)
    return len(unissued) + len(pending)
