"""Transmission to the tax authority: store each message once, send it (the same bytes, the same MTDiep, until the
channel has it), store every answer verbatim and apply it; the sweep re-drives whatever a lost job left.

Exactly once: a message is built and stored before anything is sent, in the transaction that decides it
(`submit`); a retry after a timeout or a crash re-sends those stored bytes, and the T-VAN / tax authority
recognises the MTDiep and answers with the acknowledgement it gave the first time. A receipt has at most one
outgoing data message (a unique index), so no path can build a second one.
"""

from __future__ import annotations

import logging

from lxml import etree
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import events, jobs
from core.clock import utcnow
from core.settings import Setting, register_settings
from tax import codes, envelope
from tax.channel import PermanentChannelError, RetryableChannelError, channel_for, sender_code
from tax.models import ReceiptTaxState, TaxMessage

log = logging.getLogger(__name__)
SWEEP_BATCH = 500
OUT_PENDING = ("queued", "sending")

register_settings(
    Setting("HCC_TAX_SEND_RECEIPTS", "1", "Send each issued receipt's data to the tax authority (`0`: only "
            "registration and reports; for a unit that reports by periodic summary, not supported yet)."),
)


def _settings():
    return jobs.settings()


def _to_element(dlieu) -> etree._Element | list[etree._Element]:
    if isinstance(dlieu, (bytes, str)):
        raw = dlieu.encode() if isinstance(dlieu, str) else dlieu
        return etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    return dlieu


def submit(session: Session, *, unit, mltdiep: int, dlieu, receipt_id: int | None = None,
           series_id: int | None = None, kind: str) -> TaxMessage:
    """Store one outgoing TDiep for `unit` (its tax code is the MST) and send it once the transaction commits.

    `dlieu` is what goes inside DLieu: an lxml element (or a list), or XML bytes. Raises EnvelopeError when
    the message would be over 2 MB, IntegrityError (at flush) when the receipt already has a message of
    this kind. The message is the truth: if the process dies before sending, the sweep sends it.
    """
    settings = _settings()
    mtdiep = envelope.new_mtdiep(sender_code(settings))
    body = envelope.build(mngui=sender_code(settings), mltdiep=mltdiep, mst=unit.tax_code, dlieu=_to_element(dlieu),
                          mtdiep=mtdiep)
    message = TaxMessage(mtdiep=mtdiep, mltdiep=int(mltdiep), direction="out", kind=kind, status="queued",
                         mst=unit.tax_code, unit_id=unit.id, receipt_id=receipt_id, series_id=series_id, body=body,
                         attempts=0, reasons=[])
    session.add(message)
    session.flush()
    if receipt_id is not None and kind == "receipt":
        _set_receipt_state(session, receipt_id, "pending", [], message.id)
    jobs.enqueue_after_commit(session, send_message_job, message.id)
    return message


def _set_receipt_state(session: Session, receipt_id: int, status: str, reasons: list[str], message_id: int) -> None:
    state = session.get(ReceiptTaxState, receipt_id)
    if state is None:
        state = ReceiptTaxState(receipt_id=receipt_id)
        session.add(state)
    state.status, state.reasons, state.message_id = status, list(reasons), message_id
    state.updated_at = utcnow()
    session.flush()


# -- sending ----------------------------------------------------------------------------------------------------

@jobs.job(retries=8)
def send_message_job(message_id: int) -> None:
    """Send a stored message (again, if a try was lost) and apply its acknowledgement; then look for the result."""
    with jobs.session_scope() as session:
        message = session.get(TaxMessage, message_id)
        if message is None or message.direction != "out":
            return
        if message.status == "acknowledged":
            jobs.enqueue_after_commit(session, poll_answers_job, message_id)
            session.commit()
            return
        if message.status not in OUT_PENDING:
            return
        message.status = "sending"
        message.attempts += 1
        body = message.body
        session.commit()
    try:
        ack = channel_for(_settings()).send(body)
    except RetryableChannelError as e:
        _note_error(message_id, str(e))
        raise jobs.RetryableJobError(f"tax message {message_id} not sent: {e}") from e
    except PermanentChannelError as e:
        _note_error(message_id, str(e))
        log.error("tax channel refused a message; left for the sweep and staff", extra={"tax_message_id": message_id})
        return
    record_answers(message_id, [ack])


def _note_error(message_id: int, error: str) -> None:
    with jobs.session_scope() as session:
        message = session.get(TaxMessage, message_id)
        if message is not None:
            message.last_error = error[:2000]
            session.commit()


@jobs.job(retries=10, backoff=5.0, max_delay=1800.0)
def poll_answers_job(message_id: int) -> None:
    """Ask the channel for the tax authority's answers to an acknowledged message until the result is in."""
    with jobs.session_scope() as session:
        message = session.get(TaxMessage, message_id)
        if message is None or message.status != "acknowledged":
            return
        mtdiep = message.mtdiep
    try:
        answers = channel_for(_settings()).lookup(mtdiep)
    except (RetryableChannelError, PermanentChannelError) as e:
        _note_error(message_id, str(e))
        raise jobs.RetryableJobError(f"tax message {message_id}: no answers yet ({e})") from e
    record_answers(message_id, answers)
    with jobs.session_scope() as session:
        message = session.get(TaxMessage, message_id)
        if message is not None and message.status == "acknowledged":
            raise jobs.RetryableJobError(f"tax message {message_id}: result not in yet")


def record_answers(message_id: int, answers: list[bytes]) -> None:
    """Store each answer verbatim (once: its MTDiep is unique) and apply it to the message it answers."""
    for raw in answers:
        with jobs.session_scope() as session:
            try:
                store_and_apply(session, raw, expected_answer_to=message_id)
                session.commit()
            except IntegrityError:
                session.rollback()  # stored by a concurrent worker: applied there


def store_and_apply(session: Session, raw: bytes, *, expected_answer_to: int | None = None) -> TaxMessage | None:
    """Store an incoming TDiep (ack or notice) and apply it; None when it was stored before (already applied)."""
    env = envelope.parse(raw)
    seen = session.scalar(select(TaxMessage.id).where(TaxMessage.mtdiep == env.mtdiep))
    if seen is not None:
        return None
    answer = envelope.read_answer(env)
    original = session.scalar(select(TaxMessage).where(TaxMessage.mtdiep == answer.answers,
                                                       TaxMessage.direction == "out"))
    if original is None and expected_answer_to is not None:
        log.warning("tax answer names an unknown message", extra={"mtdiep": env.mtdiep})
    kind = "ack" if env.mltdiep == codes.ACK else "notice"
    incoming = TaxMessage(mtdiep=env.mtdiep, mltdiep=env.mltdiep, direction="in", kind=kind, status="received",
                          mtdtchieu=answer.answers, mst=env.mst or "",
                          unit_id=original.unit_id if original else None,
                          receipt_id=None, series_id=original.series_id if original else None,
                          body=raw, attempts=0, reasons=[str(r) for r in answer.reasons])
    session.add(incoming)
    session.flush()
    if original is not None:
        _apply(session, original, answer, incoming)
    incoming.status = "applied"
    return incoming


def _apply(session: Session, original: TaxMessage, answer: envelope.Answer, incoming: TaxMessage) -> None:
    now = utcnow()
    reasons = [str(r) for r in answer.reasons]
    if answer.mltdiep == codes.ACK:
        if original.status not in OUT_PENDING:
            return  # a repeat's acknowledgement: the first one decided
        original.answered_at = now
        if answer.accepted:
            original.status, original.sent_at, original.last_error = "acknowledged", now, None
            if original.receipt_id is not None and original.kind == "receipt":
                _set_receipt_state(session, original.receipt_id, "sent", [], original.id)
            jobs.enqueue_after_commit(session, poll_answers_job, original.id)
        else:
            _decide(session, original, "refused", reasons or ["Cơ quan thuế không tiếp nhận thông điệp"])
        return
    if original.status in ("accepted", "rejected", "refused"):
        return
    final = codes.FINAL_RESULT.get(original.mltdiep)
    original.answered_at = now
    if not answer.accepted:
        _decide(session, original, "rejected", reasons or ["Cơ quan thuế không chấp nhận"])
    elif answer.mltdiep == final or final is None:
        _decide(session, original, "accepted", [])


def _decide(session: Session, original: TaxMessage, status: str, reasons: list[str]) -> None:
    original.status = status
    original.reasons = reasons
    if original.receipt_id is not None and original.kind == "receipt":
        _set_receipt_state(session, original.receipt_id, "accepted" if status == "accepted" else "rejected",
                           reasons, original.id)
    session.flush()
    events.emit(session, "tax.accepted" if status == "accepted" else "tax.rejected", kind=original.kind,
                message_id=original.id, receipt_id=original.receipt_id, series_id=original.series_id,
                reasons=reasons)


# -- receipts ---------------------------------------------------------------------------------------------------

@events.on("receipt.issued")
def _on_receipt_issued(session: Session, receipt_id: int, **_):
    # Built in its own job, not here: reading the signed file must never hold up or break issuance.
    if (_settings().get("HCC_TAX_SEND_RECEIPTS") or "1") != "0":
        jobs.enqueue_after_commit(session, submit_receipt_job, receipt_id)


@jobs.job(retries=8)
def submit_receipt_job(receipt_id: int) -> None:
    """Store the issued receipt's data message (once) and send it."""
    from tax.receipts import receipt_dlieu

    with jobs.session_scope() as session:
        from province.models import CollectingUnit
        from receipts.models import Receipt

        existing = session.scalar(select(TaxMessage).where(TaxMessage.receipt_id == receipt_id,
                                                           TaxMessage.kind == "receipt",
                                                           TaxMessage.direction == "out"))
        if existing is not None:
            if existing.status in OUT_PENDING:
                jobs.enqueue_after_commit(session, send_message_job, existing.id)
                session.commit()
            return
        receipt = session.get(Receipt, receipt_id)
        if receipt is None or receipt.status == "pending" or receipt.unit_id is None:
            return
        unit = session.get(CollectingUnit, receipt.unit_id)
        try:
            dlieu = receipt_dlieu(session, _settings(), receipt)
        except Exception as e:
            log.warning("receipt data not readable for the tax authority; the sweep retries",
                        extra={"receipt_id": receipt_id, "error": type(e).__name__})
            raise jobs.RetryableJobError(f"receipt {receipt_id}: {type(e).__name__}") from e
        try:
            submit(session, unit=unit, mltdiep=codes.RECEIPT_DATA, dlieu=dlieu, receipt_id=receipt_id,
                   series_id=receipt.series_id, kind="receipt")
            session.commit()
        except IntegrityError:
            session.rollback()  # another worker stored it first; it sends it


@jobs.register_sweeper
def sweep_tax_messages(session: Session) -> int:
    """Outgoing messages not yet acknowledged are sent (again); acknowledged ones are asked for their result;
    issued receipts with no data message get one."""
    pending = session.scalars(select(TaxMessage.id).where(TaxMessage.direction == "out",
                                                          TaxMessage.status.in_(OUT_PENDING))
                              .order_by(TaxMessage.id).limit(SWEEP_BATCH)).all()
    waiting = session.scalars(select(TaxMessage.id).where(TaxMessage.direction == "out",
                                                          TaxMessage.status == "acknowledged")
                              .order_by(TaxMessage.id).limit(SWEEP_BATCH)).all()
    for mid in pending:
        jobs.enqueue_after_commit(session, send_message_job, mid)
    for mid in waiting:
        jobs.enqueue_after_commit(session, poll_answers_job, mid)
    unsent: list[int] = []
    settings = _settings()
    if settings is not None and (settings.get("HCC_TAX_SEND_RECEIPTS") or "1") != "0":
        from receipts.models import Receipt

        unsent = session.scalars(
            select(Receipt.id).where(Receipt.status.in_(("issued", "cancelled", "replaced")),
                                     Receipt.unit_id.is_not(None),
                                     ~exists().where(TaxMessage.receipt_id == Receipt.id, TaxMessage.kind == "receipt",
                                                     TaxMessage.direction == "out"))
            .order_by(Receipt.id).limit(SWEEP_BATCH)).all()
        for rid in unsent:
            jobs.enqueue_after_commit(session, submit_receipt_job, rid)
    return len(pending) + len(waiting) + len(unsent)


def messages_of(session: Session, message: TaxMessage) -> list[TaxMessage]:
    """An outgoing message and every answer to it, oldest first."""
    answers = session.scalars(select(TaxMessage).where(TaxMessage.mtdtchieu == message.mtdiep,
                                                       TaxMessage.direction == "in").order_by(TaxMessage.id)).all()
    return [message, *answers]
