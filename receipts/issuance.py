"""Receipt issuance, cancellation and replacement, one receipt per collecting unit of a payment.

Contract other packages rely on:
- `issue_receipts(session, payment_id) -> list[Receipt]`: idempotent; every unit among the payment's
  lines gets its receipt (in its own series, signed with its own key). A unit that cannot issue yet (no
  registered series, expired certificate) gets none: the reason is kept on the payment
  (`extra["receipt_blocked"]`, flag `receipt_blocked`), the payment stays paid and the sweep retries.
- `issue_receipt(session, payment_id) -> Receipt`: the same, returning the first receipt (by unit code).
- `receipts_for_payment(session, payment_id) -> list[Receipt]`: the current receipts, by unit code.
- `receipt_id_for_payment(session, payment_id) -> int | None`: the first of them.

Issuance has two steps. `allocate_receipt` takes the next number of the unit's series under the
series counter's row lock and inserts the receipt row (status pending) in the same transaction, so a
number is never skipped or taken twice. `finish_receipt` renders, signs and stores the PDF and marks the
receipt issued; it runs outside the counter lock so several workers sign in parallel, and the sweep
re-drives any receipt left pending by a worker that died.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from core import audit, events, jobs
from core.clock import local_day, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Centre
from core.security import new_code
from core.settings import Settings
from core.text import clean_text
from fees.models import Payment, PaymentItem
from province.models import CollectingUnit, ReceiptSeries
from province.series import USABLE, NoSeriesError, series_for_issue
from province.units import units_served_at
from receipts.content import (
    KIND_LABELS,
    amount_in_words,
    build_content,
    format_amount,
    normal_id_number,
    normal_tax_code,
)
from receipts.leanpdf import signed_receipt_pdf
from receipts.models import Receipt, ReceiptCorrection, ReceiptCounter, ReceiptRefund
from receipts.pdf import sign_receipt_pdf
from receipts.render import render_pdf
from receipts.signing import ReceiptSigner, SigningError, load_signer, load_unit_signer
from receipts.storage import storage_for
from receipts.xmldata import sign_xml

log = logging.getLogger(__name__)

# A payment in one of these has money behind it, so it gets a receipt.
RECEIPTABLE = ("paid", "partially_refunded", "refunded")
LOOKUP_CODE_LENGTH = 12
# session.info key: receipts allocated in the session's current transaction (invisible to others).
FRESH = "hcc_receipts_allocated"
BLOCKED = "receipt_blocked"  # payment flag and extra key: units whose receipt cannot be issued yet, and why


class ReceiptError(Conflict):
    """Raised when a receipt cannot be issued, cancelled or replaced as asked."""

    code = "receipt-not-allowed"


class UnitCannotIssueError(ReceiptError):
    """Raised when a unit cannot issue a receipt now (no registered series, no or expired key); no number is taken."""

    code = "unit-cannot-issue"

    def __init__(self, unit_code: str, message: str):
        super().__init__(message)
        self.unit_code = unit_code


def _settings() -> Settings:
    s = jobs.settings()
    if s is None:
        raise RuntimeError("receipts need settings: call core.jobs.configure (create_app does)")
    return s


def lookup_url(settings: Settings, code: str) -> str:
    return f"{settings.public_url.rstrip('/')}/r/{code}"


def _current(payment_id: int):
    return (select(Receipt).outerjoin(CollectingUnit, CollectingUnit.id == Receipt.unit_id)
            .where(Receipt.current_payment_id == payment_id).order_by(CollectingUnit.code, Receipt.id))


def receipts_for_payment(session: Session, payment_id: int) -> list[Receipt]:
    """The payment's current receipts (pending or issued), one per unit, ordered by unit code."""
    return list(session.scalars(_current(payment_id)))


def receipt_id_for_payment(session: Session, payment_id: int) -> int | None:
    """The first current receipt of a payment (by unit code); there is one per unit."""
    return session.scalar(_current(payment_id).with_only_columns(Receipt.id).limit(1))


def units_of_payment(session: Session, payment: Payment) -> list[CollectingUnit]:
    """The units among a payment's lines, by code. A line without a unit (written before units, at a centre
    then serving none) is the centre's only unit's; raises ReceiptError when there is no such single unit."""
    ids = {i.unit_id for i in payment.items}
    if None in ids:
        served = units_served_at(session, payment.centre_id, active_only=False)
        if len(served) != 1:
            raise ReceiptError(f"payment {payment.code} has lines without a collecting unit, and its centre does "
                               f"not serve exactly one unit to attribute them to")
        ids = (ids - {None}) | {served[0].id}
    return list(session.scalars(_UNITS, {"ids": list(ids)}))


_UNITS = (select(CollectingUnit).where(CollectingUnit.id.in_(bindparam("ids", expanding=True)))
          .order_by(CollectingUnit.code))


def _items_of_unit(session: Session, payment: Payment, unit: CollectingUnit) -> list[PaymentItem]:
    if all(i.unit_id is not None for i in payment.items):  # every line names its unit: no query needed
        return [i for i in payment.items if i.unit_id == unit.id]
    units = units_of_payment(session, payment)
    only = len(units) == 1
    return [i for i in payment.items if i.unit_id == unit.id or (i.unit_id is None and only)]


def _check_certificate(unit: CollectingUnit, now) -> None:
    if unit.cert_not_after is not None and unit.cert_not_after < now:
        day = unit.cert_not_after.strftime("%d/%m/%Y")
        raise UnitCannotIssueError(unit.code, f"Chứng thư số của đơn vị {unit.code} ({unit.name}) đã hết hạn ngày "
                                              f"{day}; ngừng cấp biên lai cho đơn vị cho đến khi cập nhật khóa ký mới.")


def _counter_upsert(dialect: str):
    """The counter's create-or-lock statement for a dialect, built once (its values are bound per call)."""
    stmt = _COUNTER_UPSERT.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = ReceiptCounter.__table__
        # Insert the row, or on conflict "update" it to itself, which takes the row lock as
        # SELECT ... FOR UPDATE does (PostgreSQL) or the write lock (SQLite), and return it either way.
        # A Core statement on the table: the counter is read and written only here, so it needs none of
        # the ORM's bookkeeping.
        stmt = _COUNTER_UPSERT[dialect] = (
            insert(table).values(series_id=bindparam("series_id"), centre_id=None, template=bindparam("template"),
                                 symbol=bindparam("symbol"), year=bindparam("year"), last_number=0)
            .on_conflict_do_update(index_elements=[table.c.series_id], set_={"last_number": table.c.last_number})
            .returning(table.c.id, table.c.last_number))
    return stmt


_COUNTER_UPSERT: dict = {}
_COUNTER_TAKE = (update(ReceiptCounter.__table__).where(ReceiptCounter.__table__.c.id == bindparam("counter_id"))
                 .values(last_number=bindparam("number")))


# The payment's latest receipt of a unit, if any (allocate_receipt's idempotency check, under the counter lock).
_EXISTING = (select(Receipt.id).where(Receipt.payment_id == bindparam("payment_id"), Receipt.unit_id == bindparam("unit_id"))
             .order_by(Receipt.id.desc()).limit(1))


@dataclass(frozen=True)
class _LockedCounter:
    id: int
    last_number: int


def _lock_counter(session: Session, series) -> _LockedCounter:
    """The counter row (its id and last number) of a series (a ReceiptSeries, or a row with its id, template,
    symbol and year), created if missing, locked for the rest of the transaction.

    PostgreSQL: the upsert locks the row as SELECT ... FOR UPDATE would, so concurrent workers queue on
    it. SQLite: the upsert takes the database write lock, which serialises writers the same way.
    """
    session.flush()  # what is pending goes first, as the ORM's autoflush did before this Core statement
    conn = session.connection()
    row = conn.execute(_counter_upsert(conn.dialect.name), {"series_id": series.id, "template": series.template,
                                                            "symbol": series.symbol, "year": series.year}).one()
    return _LockedCounter(row.id, row.last_number)


def _take_number(session: Session, counter: _LockedCounter) -> int:
    """The next number of the locked counter, written at once (the caller still holds the lock)."""
    number = counter.last_number + 1
    session.connection().execute(_COUNTER_TAKE, {"counter_id": counter.id, "number": number})
    return number


# The unit's usable series of a year, as province.series.usable_series reads them, but only the columns the
# counter needs: the candidate is read without the ORM, locked, then read again (as objects) under the lock.
_CANDIDATES = (select(ReceiptSeries.id, ReceiptSeries.template, ReceiptSeries.symbol, ReceiptSeries.year,
                      ReceiptSeries.state, ReceiptSeries.registered_on)
               .where(ReceiptSeries.unit_id == bindparam("unit_id"), ReceiptSeries.year == bindparam("year"),
                      ReceiptSeries.state.in_(USABLE)))


def _candidate_series(session: Session, unit_id: int, day) -> list:
    """usable_series(session, unit_id, day.year, day) as rows (id, template, symbol, year, state, registered_on)."""
    session.flush()  # a series changed in this transaction counts, as with the ORM's autoflush
    rows = session.connection().execute(_CANDIDATES, {"unit_id": unit_id, "year": day.year}).all()
    rows = [r for r in rows if r.registered_on is None or r.registered_on <= day]
    return sorted(rows, key=lambda r: (r.state != "in_use", r.id))


def _series_and_counter(session: Session, unit: CollectingUnit, now) -> tuple[ReceiptSeries, _LockedCounter]:
    """The unit's series for `now` and its counter, locked. The series is chosen again under the lock, so
    its first use (registered → in_use) happens once even with racing workers."""
    day = local_day(now)
    candidates = _candidate_series(session, unit.id, day)
    try:
        if not candidates:
            series_for_issue(session, unit.id, now)  # raises NoSeriesError with the message staff need
        counter = _lock_counter(session, candidates[0])
        for row in candidates:  # read again under the lock: a racing worker may have put one in use
            loaded = session.identity_map.get(identity_key(ReceiptSeries, row.id))
            if loaded is not None:
                session.expire(loaded)
        series = series_for_issue(session, unit.id, now)
    except NoSeriesError as e:
        raise UnitCannotIssueError(unit.code, str(e)) from e
    if series.id != candidates[0].id:  # another series went into use meanwhile
        counter = _lock_counter(session, series)
    return series, counter


def _note_unblocked(payment: Payment, unit: CollectingUnit) -> None:
    blocked = dict((payment.extra or {}).get(BLOCKED) or {})
    if unit.code in blocked:
        del blocked[unit.code]
        payment.extra = {**(payment.extra or {}), BLOCKED: blocked}
        if not blocked:
            payment.flags = [f for f in (payment.flags or []) if f != BLOCKED]


def note_blocked(session: Session, payment_id: int, unit_code: str, message: str) -> None:
    """Keep on the payment why a unit's receipt is not issued, for staff (audited when the reason changes)."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        return
    blocked = dict((payment.extra or {}).get(BLOCKED) or {})
    if blocked.get(unit_code) == message:
        return
    blocked[unit_code] = message
    payment.extra = {**(payment.extra or {}), BLOCKED: blocked}
    if BLOCKED not in (payment.flags or []):
        payment.flags = [*(payment.flags or []), BLOCKED]
    audit.record(session, audit.SYSTEM, "receipt.blocked", entity_type="payment", entity_id=payment.id,
                 detail=message, after={"unit_code": unit_code}, centre_id=payment.centre_id)
    log.warning("receipt not issued for a unit", extra={"payment_id": payment.id, "unit_code": unit_code})


def receipt_date(receipt: Receipt) -> str:
    """The receipt's date (ngày lập), Vietnamese calendar day, as YYYY-MM-DD."""
    return local_day(receipt.issued_at or receipt.created_at).isoformat()


def reference_to(old: Receipt, kind: str) -> dict:
    """How a replacing or adjusting receipt names the receipt it corrects (its content["replaces"])."""
    return {"id": old.id, "template": old.template, "symbol": old.symbol, "number": old.number_text,
            "date": receipt_date(old), "kind": kind}


def allocate_receipt(session: Session, payment_id: int, unit_id: int | None = None, *,
                     replaces: Receipt | None = None, actor: audit.Actor = audit.SYSTEM, audited: bool = True,
                     insert: bool = True, correction: str = "replace") -> Receipt:
    """Take the next number of the unit's series and insert the pending receipt row (idempotent per
    payment and unit). Without `unit_id`: the replaced receipt's unit, else the payment's first unit.

    The caller commits; until then the counter row stays locked. With `insert=False` (issue_receipts,
    which signs in this same transaction) a new receipt is only added to the session, not yet
    written: its row goes in once, already issued, instead of an INSERT and then an UPDATE.
    Raises UnitCannotIssueError (nothing taken) when the unit has no registered series or its
    certificate has expired. With `replaces`, the new receipt corrects that one: `correction` "replace"
    (it becomes the payment's current receipt) or "adjust" (the old one stays current; this one is not).
    """
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("payment not found")
    if payment.status not in RECEIPTABLE:
        raise ReceiptError(f"payment {payment.code} is {payment.status}; only paid payments get a receipt")
    if unit_id is None:
        unit_id = replaces.unit_id if replaces is not None and replaces.unit_id else units_of_payment(session, payment)[0].id
    unit = session.get(CollectingUnit, unit_id)
    if unit is None:
        raise NotFound("collecting unit not found")
    centre = session.get(Centre, payment.centre_id)
    now = utcnow()
    _check_certificate(unit, now)
    series, counter = _series_and_counter(session, unit, now)
    # Under the lock: a receipt committed by a racing worker is visible now.
    if replaces is None:
        # Its id by a Core query (usually there is none), the object from the session's identity map or one load.
        session.flush()
        existing = session.connection().execute(_EXISTING, {"payment_id": payment_id, "unit_id": unit.id}).scalar()
        if existing is not None:
            return session.get(Receipt, existing)
    items = _items_of_unit(session, payment, unit)
    number = _take_number(session, counter)
    width = series.number_width or 7
    code = new_code(LOOKUP_CODE_LENGTH)
    collected_at = payment.paid_at or now
    replaced = None
    if replaces is not None:
        replaced = reference_to(replaces, correction)
    content = build_content(payment=payment, unit=unit, centre=centre, items=items, template=series.template,
                            symbol=series.symbol, number_text=str(number).zfill(width), lookup_code=code,
                            lookup_url=lookup_url(_settings(), code), collected_at=collected_at, replaces=replaced)
    adjusting = replaces is not None and correction == "adjust"
    receipt = Receipt(
        centre_id=centre.id, payment_id=payment.id, current_payment_id=None if adjusting else payment.id,
        unit_id=unit.id, correction=correction if replaces is not None else None,
        series_id=series.id, template=series.template, symbol=series.symbol, year=series.year, number=number,
        number_width=width, lookup_code=code, status="pending", amount=content["total"],
        channel=payment.channel, channel_ref=payment.channel_ref, collected_at=collected_at, content=content,
        fee_codes=",".join(sorted({x["fee_code"] for x in content["lines"]}))[:500],
        replaces_id=replaces.id if replaces is not None else None, created_at=now, attempts=0,
    )
    session.add(receipt)
    _note_unblocked(payment, unit)
    if not insert and not audited:
        return receipt
    session.flush()
    session.info.setdefault(FRESH, {})[receipt.id] = session.get_transaction()
    if not audited:  # the caller signs in this transaction; its "receipt.issued" row says it all
        return receipt
    audit.record(session, actor, "receipt.allocated", entity_type="receipt", entity_id=receipt.id,
                 after={"number": receipt.number_text, "symbol": series.symbol, "template": series.template,
                        "unit_code": unit.code, "payment_id": payment.id}, centre_id=centre.id)
    return receipt


@dataclass(frozen=True)
class SignedReceipt:
    data: bytes
    sha256: str
    signer_subject: str


def signer_for(session: Session, settings: Settings, receipt: Receipt) -> ReceiptSigner:
    """The key that signs this receipt: its unit's (see receipts.signing.load_unit_signer).

    Raises UnitCannotIssueError when the unit's certificate has expired or its key cannot be used.
    """
    unit = session.get(CollectingUnit, receipt.unit_id) if receipt.unit_id is not None else None
    if unit is not None:
        _check_certificate(unit, utcnow())
    try:
        return load_unit_signer(session, settings, unit)
    except SigningError as e:
        raise UnitCannotIssueError(unit.code if unit else "?", str(e)) from e


def produce_pdf(settings: Settings, content: dict, signer: ReceiptSigner | None = None) -> SignedReceipt:
    """Render, build and sign the XML, embed it, sign the PDF. No database access.

    `signer` is the unit's (`signer_for`); without it, the deployment's key from settings.
    """
    signer = signer or load_signer(settings)
    xml = sign_xml(content, signer.xml_key(), signer.chain_pems())
    note = None
    if content.get("replaces"):
        r = content["replaces"]
        what = "Điều chỉnh cho" if r.get("kind") == "adjust" else "Thay thế"
        day = f", ngày {'/'.join(reversed(r['date'].split('-')))}" if r.get("date") else ""
        note = f"({what} biên lai số {r['number']}, ký hiệu mẫu {r['template']}, ký hiệu {r['symbol']}{day})"
    location = content["organisation"]["address"][:120]
    if signer.tsa_url:  # B-LTA: pyHanko's incremental path (time-stamp, DSS, document time-stamp)
        data = sign_receipt_pdf(render_pdf(content, title_note=note), xml, signer, location=location)
    else:  # B-B: written and signed in one pass (receipts.leanpdf)
        data = signed_receipt_pdf(content, xml, signer, title_note=note, location=location)
    return SignedReceipt(data, hashlib.sha256(data).hexdigest(), signer.subject)


def finish_receipt(session: Session, receipt_id: int, *, settings: Settings | None = None) -> Receipt:
    """Sign and store a pending receipt; a receipt already signed is returned as it is."""
    settings = settings or _settings()
    receipt = session.get(Receipt, receipt_id)
    if receipt is None:
        raise NotFound("receipt not found")
    if receipt.status != "pending":
        return receipt
    signed, values = _sign_and_store(session, settings, receipt)
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
    unit = session.get(CollectingUnit, receipt.unit_id) if receipt.unit_id is not None else None
    payment = session.get(Payment, receipt.payment_id)
    if unit is not None and payment is not None:
        _note_unblocked(payment, unit)  # signed at last: the reason noted on the payment no longer holds
    return receipt


def _sign_and_store(session: Session, settings: Settings, receipt: Receipt) -> tuple[SignedReceipt, dict]:
    """Produce and store the signed file; the column values that mark the receipt issued."""
    signed = produce_pdf(settings, receipt.content, signer_for(session, settings, receipt))
    # The key names the bytes, so a racing worker's file never overwrites the one that won.
    unit = f"{receipt.unit_id}-" if receipt.unit_id is not None else ""
    key = (f"{receipt.centre_id}/{receipt.year}/{unit}{receipt.template}-{receipt.symbol}-{receipt.number_text}-"
           f"{signed.sha256[:16]}.pdf")
    storage_for(settings).put(key, signed.data)
    values = dict(status="issued", issued_at=utcnow(), storage_key=key, sha256=signed.sha256, size=len(signed.data),
                  signer_subject=signed.signer_subject[:500], attempts=receipt.attempts + 1, last_error=None)
    return signed, values


def _record_issued(session: Session, receipt: Receipt, signed: SignedReceipt) -> None:
    audit.record(session, audit.SYSTEM, "receipt.issued", entity_type="receipt", entity_id=receipt.id,
                 after={"status": "issued", "sha256": signed.sha256, "number": receipt.number_text,
                        "symbol": receipt.symbol, "unit_id": receipt.unit_id},
                 centre_id=receipt.centre_id)
    events.emit(session, "receipt.issued", receipt_id=receipt.id, payment_id=receipt.payment_id)


def _issue_for_unit(session: Session, payment_id: int, unit_id: int) -> Receipt:
    receipt = allocate_receipt(session, payment_id, unit_id, audited=False, insert=False)
    if receipt.id is None:
        # New in this transaction and not written yet: sign and store, then insert the row issued.
        signed, values = _sign_and_store(session, _settings(), receipt)
        for k, v in values.items():
            setattr(receipt, k, v)
        session.flush()
        _record_issued(session, receipt, signed)
    elif receipt.status == "pending":
        receipt = finish_receipt(session, receipt.id)
    return receipt


_PAYMENT_WITH_LINES = (joinedload(Payment.items), joinedload(Payment.centre))


def issue_receipts(session: Session, payment_id: int) -> list[Receipt]:
    """Every unit's receipt of the payment, issued now where missing (signed, stored, delivery queued).

    Usable in the caller's transaction (the counter desk); the caller commits. Each unit is tried in its
    own savepoint: a unit that cannot issue (UnitCannotIssueError) is noted on the payment and skipped,
    and the others are issued. Returns the receipts there are, by unit code.
    """
    # Held for the whole call: the session's identity map is weak, and delivery needs the payment again.
    # Its lines and its centre come in the same query (every receipt reads them).
    payment = session.get(Payment, payment_id, options=_PAYMENT_WITH_LINES)
    if payment is None:
        raise NotFound("payment not found")
    if payment.status not in RECEIPTABLE:
        raise ReceiptError(f"payment {payment.code} is {payment.status}; only paid payments get a receipt")
    out = []
    for unit in units_of_payment(session, payment):
        try:
            with session.begin_nested():
                out.append(_issue_for_unit(session, payment_id, unit.id))
        except UnitCannotIssueError as e:
            note_blocked(session, payment_id, e.unit_code, str(e))
    del payment
    return out


def issue_receipt(session: Session, payment_id: int) -> Receipt:
    """The payment's first receipt (by unit code), every unit's issued now where missing (`issue_receipts`).

    Raises the reason when no receipt at all could be issued.
    """
    receipts = issue_receipts(session, payment_id)
    if not receipts:
        payment = session.get(Payment, payment_id)
        reasons = "; ".join(((payment.extra or {}).get(BLOCKED) or {}).values())
        raise ReceiptError(reasons or "no receipt could be issued")
    return receipts[0]


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


def _who(actor: audit.Actor) -> str:
    return (f"{actor.type}:{actor.id}" if actor.id else actor.type)[:64]


def _record_correction(session: Session, old: Receipt, kind: str, reason: str, actor: audit.Actor, *,
                       new: Receipt | None = None, changes: dict | None = None) -> ReceiptCorrection:
    """The decision that `old` was made in error; the tax side notifies it on 04/SS-CTĐT (tax.corrections)."""
    correction = ReceiptCorrection(centre_id=old.centre_id, receipt_id=old.id, new_receipt_id=new.id if new else None,
                                   kind=kind, reason=reason, decided_by=_who(actor), created_at=utcnow(),
                                   changes=changes or {}, notice_status="pending", notice_reasons=[])
    session.add(correction)
    session.flush()
    return correction


def cancel_receipt(session: Session, receipt_id: int, *, reason: str, actor: audit.Actor,
                   centre_id: int | None = None) -> Receipt:
    """Cancel an issued receipt made in error (huỷ biên lai); it stays retrievable and its page says it was
    cancelled. The cancellation is recorded (ReceiptCorrection) for the tax authority's 04/SS-CTĐT notice.

    Not for refunds: a refund of a correct receipt leaves it valid (receipts.jobs records the refund).
    """
    reason = _check_reason(reason)
    receipt = _lock_receipt(session, receipt_id, centre_id)
    if receipt.status != "issued":
        raise ReceiptError(f"receipt {receipt.number_text} is {receipt.status}; only an issued receipt can be cancelled")
    receipt.status, receipt.cancelled_at, receipt.cancel_reason = "cancelled", utcnow(), reason
    receipt.current_payment_id = None
    session.flush()
    correction = _record_correction(session, receipt, "cancel", reason, actor)
    audit.record(session, actor, "receipt.cancelled", entity_type="receipt", entity_id=receipt.id,
                 before={"status": "issued"}, after={"status": "cancelled", "correction_id": correction.id},
                 detail=reason, centre_id=receipt.centre_id)
    events.emit(session, "receipt.cancelled", receipt_id=receipt.id, payment_id=receipt.payment_id,
                correction_id=correction.id)
    return receipt


# What staff may correct on a replacement receipt (payer fields of content["payer"]).
PAYER_FIELDS = ("name", "address", "tax_code", "id_number")
LINE_FIELDS = ("fee_code", "name", "kind", "quantity", "unit_amount")


def _clean_lines(lines, field: str = "lines") -> list[dict]:
    """Lines given by staff: each a fee code, name, kind (phi/le_phi), quantity ≥ 1 and unit amount ≥ 0 đồng."""
    if not isinstance(lines, list) or not lines:
        raise InvalidInput("give at least one line", errors={field: ["Cần ít nhất một khoản thu."]})
    out = []
    for i, line in enumerate(lines, 1):
        try:
            quantity, unit_amount = line["quantity"], line["unit_amount"]
            ok = (all(isinstance(v, int) and not isinstance(v, bool) for v in (quantity, unit_amount))
                  and quantity >= 1 and unit_amount >= 0 and line["kind"] in KIND_LABELS
                  and clean_text(str(line["fee_code"]), 64, field=field) and clean_text(str(line["name"]), 500, field=field))
        except (KeyError, TypeError):
            ok = False
        if not ok:
            raise InvalidInput(f"line {i} is incomplete", errors={field: [
                f"Dòng {i}: cần mã phí, tên, loại (phí/lệ phí), số lượng ≥ 1 và đơn giá (đồng, số nguyên ≥ 0)."]})
        out.append({"fee_code": clean_text(str(line["fee_code"]), 64), "name": clean_text(str(line["name"]), 500),
                    "kind": line["kind"], "kind_label": KIND_LABELS[line["kind"]], "quantity": quantity,
                    "unit_amount": unit_amount, "amount": quantity * unit_amount})
    return out


def _corrected_content(old: dict, new: dict, corrections: dict) -> tuple[dict, dict]:
    """The replacement's content: as allocated (`new`, numbered), with the payer and lines of the old receipt
    and the corrections applied. Returns (content, changes shown to staff)."""
    content = {**new, "payer": dict(old["payer"]), "lines": [dict(x) for x in old["lines"]],
               "total": old["total"], "total_words": old["total_words"]}
    changes: dict = {}
    for field in PAYER_FIELDS:
        if corrections.get(field) is None:
            continue
        value = clean_text(str(corrections[field]), 500, field=f"payer_{field}")
        if field == "name" and len(value) < 2:
            raise InvalidInput("the payer's name is required", errors={"payer_name": ["Nhập họ tên người nộp."]})
        if field in ("tax_code", "id_number") and value:
            # The receipt's XML takes them only in their legal shape (the XSD refuses anything else).
            value = normal_tax_code(value) if field == "tax_code" else normal_id_number(value)
            if value is None:
                raise InvalidInput(f"the payer's {field} is not valid", errors={f"payer_{field}": [
                    "Mã số thuế gồm 10 chữ số, hoặc 10 chữ số, dấu - và 3 chữ số." if field == "tax_code"
                    else "Số định danh cá nhân gồm 12 chữ số (chứng minh nhân dân cũ: 9 chữ số)."]})
        before = old["payer"].get(field) or ""
        if value != before:
            content["payer"][field] = value
            changes.setdefault("payer", {})[field] = [before, value]
    if corrections.get("lines") is not None:
        lines = _clean_lines(corrections["lines"])
        total = sum(x["amount"] for x in lines)
        if total != old["total"]:
            raise InvalidInput("a replacement keeps the amount collected; use an adjustment for a different amount",
                               errors={"lines": [f"Tổng các khoản ({format_amount(total)} đồng) phải bằng số tiền đã "
                                                 f"thu ({format_amount(old['total'])} đồng); số tiền sai thì lập biên "
                                                 f"lai điều chỉnh."]})
        if lines != old["lines"]:
            content["lines"] = lines
            changes["lines"] = [old["lines"], lines]
    return content, changes


def _set_content(receipt: Receipt, content: dict) -> None:
    receipt.content = content
    receipt.fee_codes = ",".join(sorted({x["fee_code"] for x in content["lines"]}))[:500]


def replace_receipt(session: Session, receipt_id: int, *, reason: str, actor: audit.Actor,
                    centre_id: int | None = None, corrections: dict | None = None) -> Receipt:
    """Replace an issued receipt made in error by a new one (new number) that names it; the old one is kept
    as replaced, and the replacement recorded for the tax authority's 04/SS-CTĐT notice.

    `corrections` holds the corrected data: payer `name`, `address`, `tax_code`, `id_number`, and `lines`
    (same total: the money collected does not change; a wrong amount is adjusted instead). Without them the
    replacement repeats the old receipt's payer and lines.
    """
    reason = _check_reason(reason)
    old = _lock_receipt(session, receipt_id, centre_id)
    if old.status != "issued" or old.correction == "adjust":
        raise ReceiptError(f"receipt {old.number_text} is {old.status}; only an issued receipt can be replaced")
    old.status, old.cancelled_at, old.cancel_reason = "replaced", utcnow(), reason
    old.current_payment_id = None
    session.flush()
    new = allocate_receipt(session, old.payment_id, old.unit_id, replaces=old, actor=actor, correction="replace")
    content, changes = _corrected_content(old.content, new.content, corrections or {})
    _set_content(new, content)
    new.amount = content["total"]
    old.replaced_by_id = new.id
    session.flush()
    correction = _record_correction(session, old, "replace", reason, actor, new=new, changes=changes)
    audit.record(session, actor, "receipt.replaced", entity_type="receipt", entity_id=old.id,
                 before={"status": "issued"}, after={"status": "replaced", "replaced_by": new.id,
                                                     "correction_id": correction.id, "changes": changes},
                 detail=reason, centre_id=old.centre_id)
    events.emit(session, "receipt.replaced", receipt_id=old.id, replacement_id=new.id, payment_id=old.payment_id,
                correction_id=correction.id)
    return finish_receipt(session, new.id)


def adjust_receipt(session: Session, receipt_id: int, *, reason: str, lines: list[dict], actor: audit.Actor,
                   centre_id: int | None = None) -> Receipt:
    """Issue an adjusting receipt (biên lai điều chỉnh) for an issued receipt whose lines or amount were wrong.

    `lines` are the corrected lines in full; the adjusting receipt lists, per fee code, the difference
    (quantity and amount, negative for a decrease) and its total is the signed difference (`delta`). The
    old receipt stays valid; both are recorded for the 04/SS-CTĐT notice.
    """
    reason = _check_reason(reason)
    corrected = _clean_lines(lines)
    old = _lock_receipt(session, receipt_id, centre_id)
    if old.status != "issued" or old.correction == "adjust":
        raise ReceiptError(f"receipt {old.number_text} is {old.status}; only an issued receipt can be adjusted")
    before = {x["fee_code"]: x for x in old.content["lines"]}
    after = {x["fee_code"]: x for x in corrected}
    diff = []
    for code in list(before) + [c for c in after if c not in before]:
        b, a = before.get(code), after.get(code)
        amount = (a["amount"] if a else 0) - (b["amount"] if b else 0)
        quantity = (a["quantity"] if a else 0) - (b["quantity"] if b else 0)
        if amount or quantity or (a and b and (a["name"], a["kind"]) != (b["name"], b["kind"])):
            ref = a or b
            diff.append({**ref, "quantity": quantity, "unit_amount": ref["unit_amount"], "amount": amount})
    delta = sum(x["amount"] for x in diff)
    if not diff:
        raise InvalidInput("the corrected lines are the same as the receipt's",
                           errors={"lines": ["Các khoản thu sửa lại giống biên lai đã lập: không có gì để điều chỉnh."]})
    new = allocate_receipt(session, old.payment_id, old.unit_id, replaces=old, actor=actor, correction="adjust")
    direction = "tăng" if delta >= 0 else "giảm"
    content = {**new.content, "payer": dict(old.content["payer"]), "lines": diff, "total": delta,
               "total_words": f"Điều chỉnh {direction}: {amount_in_words(abs(delta))}",
               "adjustment": {"direction": "increase" if delta >= 0 else "decrease",
                              "original_total": old.content["total"], "corrected_total": old.content["total"] + delta}}
    _set_content(new, content)
    new.amount, new.delta = abs(delta), delta
    session.flush()
    changes = {"lines": [old.content["lines"], corrected], "total": [old.content["total"], old.content["total"] + delta]}
    correction = _record_correction(session, old, "adjust", reason, actor, new=new, changes=changes)
    audit.record(session, actor, "receipt.adjusted", entity_type="receipt", entity_id=old.id,
                 after={"adjusted_by": new.id, "delta": delta, "correction_id": correction.id}, detail=reason,
                 centre_id=old.centre_id)
    events.emit(session, "receipt.adjusted", receipt_id=old.id, adjustment_id=new.id, payment_id=old.payment_id,
                correction_id=correction.id)
    return finish_receipt(session, new.id)


def corrections_of(session: Session, receipt_ids) -> dict[int, list[ReceiptCorrection]]:
    """The corrections concerning each receipt (as the one in error or as the new one), oldest first."""
    ids = list(receipt_ids)
    out: dict[int, list[ReceiptCorrection]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = session.scalars(select(ReceiptCorrection).where(
        (ReceiptCorrection.receipt_id.in_(ids)) | (ReceiptCorrection.new_receipt_id.in_(ids)))
        .order_by(ReceiptCorrection.id))
    for c in rows:
        for rid in {c.receipt_id, c.new_receipt_id}:
            if rid in out:
                out[rid].append(c)
    return out


def refunds_of(session: Session, receipt_ids) -> dict[int, list[ReceiptRefund]]:
    """The refund documents linked to each receipt, oldest first."""
    ids = list(receipt_ids)
    out: dict[int, list[ReceiptRefund]] = {i: [] for i in ids}
    if ids:
        for r in session.scalars(select(ReceiptRefund).where(ReceiptRefund.receipt_id.in_(ids))
                                 .order_by(ReceiptRefund.id)):
            out[r.receipt_id].append(r)
    return out


def adjustments_of(session: Session, receipt_id: int) -> list[Receipt]:
    """The adjusting receipts issued for a receipt, oldest first."""
    return list(session.scalars(select(Receipt).where(Receipt.replaces_id == receipt_id,
                                                      Receipt.correction == "adjust").order_by(Receipt.id)))


def read_pdf(settings: Settings, receipt: Receipt) -> bytes:
    if receipt.storage_key is None:
        raise NotFound("the receipt is not signed yet")
    return storage_for(settings).get(receipt.storage_key)
