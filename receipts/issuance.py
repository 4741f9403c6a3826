"""Receipt issuance, cancellation and replacement.

Contract other packages rely on:
- `issue_receipt(session, payment_id) -> Receipt`: idempotent; returns the existing receipt if the
  payment already has one. The counter desk calls it in the same request as the paid transition.
- `receipt_id_for_payment(session, payment_id) -> int | None`: the current receipt of a payment.

Issuance has two steps. `allocate_receipt` takes the next number of the series under the counter's
row lock and inserts the receipt row (status pending) in the same transaction, so a number is
never skipped or taken twice. `finish_receipt` renders, signs and stores the PDF and marks the
receipt issued; it runs outside the counter lock so several workers sign in parallel, and the
sweep re-drives any receipt left pending by a worker that died.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import audit, events, jobs
from core.clock import local_day, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Centre
from core.security import new_code
from core.settings import Settings
from fees.models import Payment
from receipts.content import build_content, symbol_for
from receipts.models import Receipt, ReceiptCounter
from receipts.pdf import sign_receipt_pdf
from receipts.render import render_pdf
from receipts.signing import load_signer
from receipts.storage import storage_for
from receipts.xmldata import sign_xml

log = logging.getLogger(__name__)

# A payment in one of these has money behind it, so it gets a receipt.
RECEIPTABLE = ("paid", "partially_refunded", "refunded")
LOOKUP_CODE_LENGTH = 12
# session.info key: receipts allocated in the session's current transaction (invisible to others).
FRESH = "hcc_receipts_allocated"


class ReceiptError(Conflict):
    """Raised when a receipt cannot be issued, cancelled or replaced as asked."""

    code = "receipt-not-allowed"


def _settings() -> Settings:
    s = jobs.settings()
    if s is None:
        raise RuntimeError("receipts need settings: call core.jobs.configure (create_app does)")
    return s


def lookup_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url.rstrip('/')}/r/{code}"


def receipt_id_for_payment(session: Session, payment_id: int) -> int | None:
    return session.scalar(select(Receipt.id).where(Receipt.current_payment_id == payment_id))


def _lock_counter(session: Session, centre_id: int, template: str, symbol: str, year: int) -> ReceiptCounter:
    """The series' counter row, created if missing, locked for the rest of the transaction.

    PostgreSQL: SELECT ... FOR UPDATE, so concurrent workers queue on the row. SQLite: the INSERT OR
    IGNORE, even when it inserts nothing, takes the database write lock, which serialises writers
    the same way.
    """
    values = {"centre_id": centre_id, "template": template, "symbol": symbol, "year": year, "last_number": 0}
    dialect = session.get_bind().dialect.name
    cond = (ReceiptCounter.centre_id == centre_id, ReceiptCounter.template == template,
            ReceiptCounter.symbol == symbol, ReceiptCounter.year == year)
    if dialect == "postgresql":
        session.execute(pg_insert(ReceiptCounter).values(**values).on_conflict_do_nothing(
            constraint="uq_receipt_counter_series"))
        stmt = select(ReceiptCounter).where(*cond).with_for_update()
    else:
        session.execute(sqlite_insert(ReceiptCounter).values(**values).on_conflict_do_nothing())
        stmt = select(ReceiptCounter).where(*cond)
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def allocate_receipt(session: Session, payment_id: int, *, replaces: Receipt | None = None,
                     actor: audit.Actor = audit.SYSTEM, audited: bool = True, insert: bool = True) -> Receipt:
    """Take the next number and insert the pending receipt row (idempotent per payment).

    The caller commits; until then the counter row stays locked. With `insert=False` (issue_receipt,
    which signs in this same transaction) a new receipt is only added to the session, not yet
    written: its row goes in once, already issued, instead of an INSERT and then an UPDATE.
    """
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("payment not found")
    if payment.status not in RECEIPTABLE:
        raise ReceiptError(f"payment {payment.code} is {payment.status}; only paid payments get a receipt")
    centre = session.get(Centre, payment.centre_id)
    now = utcnow()
    year = local_day(now).year
    template, symbol = centre.receipt_template, symbol_for(centre.receipt_symbol, year)
    counter = _lock_counter(session, centre.id, template, symbol, year)
    # Under the lock: a receipt committed by a racing worker is visible now.
    if replaces is None:
        existing = session.scalars(select(Receipt).where(Receipt.payment_id == payment_id)
                                   .order_by(Receipt.id.desc())).first()
        if existing is not None:
            return existing
    counter.last_number += 1
    number = counter.last_number
    width = centre.receipt_number_width or 7
    code = new_code(LOOKUP_CODE_LENGTH)
    collected_at = payment.paid_at or now
    replaced = None
    if replaces is not None:
        replaced = {"id": replaces.id, "template": replaces.template, "symbol": replaces.symbol,
                    "number": replaces.number_text}
    content = build_content(payment=payment, centre=centre, template=template, symbol=symbol,
                            number_text=str(number).zfill(width), lookup_code=code,
                            lookup_url=lookup_url(_settings(), code), collected_at=collected_at, replaces=replaced)
    receipt = Receipt(
        centre_id=centre.id, payment_id=payment.id, current_payment_id=payment.id, template=template, symbol=symbol,
        year=year, number=number, number_width=width, lookup_code=code, status="pending", amount=content["total"],
        channel=payment.channel, channel_ref=payment.channel_ref, collected_at=collected_at, content=content,
        fee_codes=",".join(sorted({x["fee_code"] for x in content["lines"]}))[:500],
        replaces_id=replaces.id if replaces is not None else None, created_at=now, attempts=0,
    )
    session.add(receipt)
    if not insert and not audited:
        return receipt
    session.flush()
    session.info.setdefault(FRESH, {})[receipt.id] = session.get_transaction()
    if not audited:  # the caller signs in this transaction; its "receipt.issued" row says it all
        return receipt
    audit.record(session, actor, "receipt.allocated", entity_type="receipt", entity_id=receipt.id,
                 after={"number": receipt.number_text, "symbol": symbol, "template": template,
                        "payment_id": payment.id}, centre_id=centre.id)
    return receipt


@dataclass(frozen=True)
class SignedReceipt:
    data: bytes
    sha256: str
    signer_subject: str


def produce_pdf(settings: Settings, content: dict) -> SignedReceipt:
    """Render, build and sign the XML, embed it, sign the PDF. No database access."""
    signer = load_signer(settings)
    xml = sign_xml(content, signer.xml_key(), signer.chain_pems())
    note = None
    if content.get("replaces"):
        note = f"(Thay thế biên lai số {content['replaces']['number']}, ký hiệu {content['replaces']['symbol']})"
    data = sign_receipt_pdf(render_pdf(content, title_note=note), xml, signer,
                            location=content["organisation"]["address"][:120])
    return SignedReceipt(data, hashlib.sha256(data).hexdigest(), signer.subject)


def finish_receipt(session: Session, receipt_id: int, *, settings: Settings | None = None) -> Receipt:
    """Sign and store a pending receipt; a receipt already signed is returned as it is."""
    settings = settings or _settings()
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound("receipt not found")
    if receipt.status != "pending":
        return receipt
    signed, values = _sign_and_store(settings, receipt)
    if session.info.get(FRESH, {}).get(receipt.id) is session.get_transaction():
        # Allocated in this very transaction (the counter desk): nobody else can see it yet, so no
        # condition is needed; the row is written now and the object told so without a reload.
        session.execute(update(Receipt).where(Receipt.id == receipt.id).values(**values)
                        .execution_options(synchronize_session=False))
        for k, v in values.items():
            set_committed_value(receipt, k, v)
    else:
        result = session.execute(
            update(Receipt).where(Receipt.id == receipt.id, Receipt.status == "pending").values(**values)
            .execution_options(synchronize_session=False))
        session.refresh(receipt)
        if result.rowcount != 1:
            return receipt  # another worker finished it first; its file is the receipt
    _record_issued(session, receipt, signed)
    return receipt


def _sign_and_store(settings: Settings, receipt: Receipt) -> tuple[SignedReceipt, dict]:
    """Produce and store the signed file; the column values that mark the receipt issued."""
    signed = produce_pdf(settings, receipt.content)
    # The key names the bytes, so a racing worker's file never overwrites the one that won.
    key = f"{receipt.centre_id}/{receipt.year}/{receipt.symbol}-{receipt.number_text}-{signed.sha256[:16]}.pdf"
    storage_for(settings).put(key, signed.data)
    values = dict(status="issued", issued_at=utcnow(), storage_key=key, sha256=signed.sha256, size=len(signed.data),
                  signer_subject=signed.signer_subject[:500], attempts=receipt.attempts + 1, last_error=None)
    return signed, values


def _record_issued(session: Session, receipt: Receipt, signed: SignedReceipt) -> None:
    audit.record(session, audit.SYSTEM, "receipt.issued", entity_type="receipt", entity_id=receipt.id,
                 after={"status": "issued", "sha256": signed.sha256, "number": receipt.number_text},
                 centre_id=receipt.centre_id)
    events.emit(session, "receipt.issued", receipt_id=receipt.id, payment_id=receipt.payment_id)


def issue_receipt(session: Session, payment_id: int) -> Receipt:
    """The payment's receipt, issued now if it has none (signed, stored, delivery queued).

    Usable in the caller's transaction (the counter desk); the caller commits.
    """
    # Held for the whole call: the session's identity map is weak, and delivery needs the payment again.
    payment = session.get(Payment, payment_id)
    receipt = allocate_receipt(session, payment_id, audited=False, insert=False)
    if receipt.id is None:
        # New in this transaction and not written yet: sign and store, then insert the row issued.
        signed, values = _sign_and_store(_settings(), receipt)
        for k, v in values.items():
            setattr(receipt, k, v)
        session.flush()
        _record_issued(session, receipt, signed)
    elif receipt.status == "pending":
        receipt = finish_receipt(session, receipt.id)
    del payment
    return receipt


def _lock_receipt(session: Session, receipt_id: int, centre_id: int | None) -> Receipt:
    stmt = select(Receipt).where(Receipt.id == receipt_id).execution_options(populate_existing=True)
    if centre_id is not None:
        stmt = stmt.where(Receipt.centre_id == centre_id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    else:
        session.execute(update(Receipt).where(Receipt.id == receipt_id).values(status=Receipt.status))
    receipt = session.scalars(stmt).first()
    if receipt is None:
        raise NotFound("receipt not found")
    return receipt


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("a reason is required", errors={"reason": ["Nhập lý do (ít nhất 3 ký tự)."]})
    return reason[:2000]


def cancel_receipt(session: Session, receipt_id: int, *, reason: str, actor: audit.Actor,
                   centre_id: int | None = None) -> Receipt:
    """Cancel an issued receipt (huỷ biên lai); it stays retrievable and its page says it was cancelled."""
    reason = _check_reason(reason)
    receipt = _lock_receipt(session, receipt_id, centre_id)
    if receipt.status != "issued":
        raise ReceiptError(f"receipt {receipt.number_text} is {receipt.status}; only an issued receipt can be cancelled")
    receipt.status, receipt.cancelled_at, receipt.cancel_reason = "cancelled", utcnow(), reason
    receipt.current_payment_id = None
    session.flush()
    audit.record(session, actor, "receipt.cancelled", entity_type="receipt", entity_id=receipt.id,
                 before={"status": "issued"}, after={"status": "cancelled"}, detail=reason,
                 centre_id=receipt.centre_id)
    events.emit(session, "receipt.cancelled", receipt_id=receipt.id, payment_id=receipt.payment_id)
    return receipt


def replace_receipt(session: Session, receipt_id: int, *, reason: str, actor: audit.Actor,
                    centre_id: int | None = None) -> Receipt:
    """Replace an issued receipt by a new one (new number) that names it; the old one is kept as replaced.

    The replacement is rendered from the payment as it stands now (payer details corrected there).
    """
    reason = _check_reason(reason)
    old = _lock_receipt(session, receipt_id, centre_id)
    if old.status != "issued":
        raise ReceiptError(f"receipt {old.number_text} is {old.status}; only an issued receipt can be replaced")
    old.status, old.cancelled_at, old.cancel_reason = "replaced", utcnow(), reason
    old.current_payment_id = None
    session.flush()
    new = allocate_receipt(session, old.payment_id, replaces=old, actor=actor)
    old.replaced_by_id = new.id
    audit.record(session, actor, "receipt.replaced", entity_type="receipt", entity_id=old.id,
                 before={"status": "issued"}, after={"status": "replaced", "replaced_by": new.id}, detail=reason,
                 centre_id=old.centre_id)
    events.emit(session, "receipt.replaced", receipt_id=old.id, replacement_id=new.id, payment_id=old.payment_id)
    return finish_receipt(session, new.id)


def read_pdf(settings: Settings, receipt: Receipt) -> bytes:
    if receipt.storage_key is None:
        raise NotFound("the receipt is not signed yet")
    return storage_for(settings).get(receipt.storage_key)
