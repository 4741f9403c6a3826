"""Reconciliation: import a statement, match its lines to payments, record what does not match.

A bank line that names a gateway's or carrier's settlement batch is that batch's credit (finance.settlements);
the others are matched one by one. Matching is exact on amounts and uses, in order: the channel's own transaction reference (stored on
the payment as `channel_ref`), the order reference (our payment code, e.g. vnp_TxnRef), the citizen
code written in a transfer's description, and for COD the carrier's tracking code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.clock import day_bounds_utc, local_day, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.security import CODE_ALPHABET
from core.settings import Setting, register_settings
from fees.gateways.attempts import payment_code_for
from fees.models import Payment
from finance import settlements
from finance.closing import ensure_day_open
from finance.models import (
    BANK_SOURCES,
    RESOLUTION_ACTIONS,
    SETTLEMENT_SOURCES,
    SOURCES,
    Discrepancy,
    SettlementBatch,
    StatementImport,
    StatementLine,
)
from finance.parsers import ImportFormatError, ParsedLine, parse

register_settings(Setting("HCC_SETTLEMENT_LATE_DAYS", "3",
                          "A statement line more than this many days after the payment is a late settlement."))

PAID_STATES = ("paid", "partially_refunded", "refunded")
_CODE_RE = re.compile(rf"[{CODE_ALPHABET}]{{10}}")


@dataclass
class ImportResult:
    statement: StatementImport
    created: bool  # False when the same file had been imported before (nothing changed)
    matched: int
    discrepancies: int

    @property
    def summary_line(self) -> str:
        return f"matched: {self.matched}, discrepancies: {self.discrepancies}"


def _find_payment(session: Session, centre_id: int, channel: str, line: ParsedLine) -> tuple[Payment | None, str | None]:
    base = select(Payment).where(Payment.centre_id == centre_id)
    # A transaction number is only unique within its channel (a bank's FT number may equal a VNPAY one).
    p = session.scalars(base.where(Payment.channel == channel, Payment.channel_ref == line.reference)).first()
    if p is not None:
        return p, "reference"
    if line.order_ref:
        # Each checkout attempt has its own gateway order (CODE, CODEL2, ...): the attempt names the payment.
        code = payment_code_for(session, channel, line.order_ref.strip().upper())
        p = session.scalars(base.where(Payment.code == code)).first()
        if p is not None:
            return p, "order_ref"
    if channel in ("vietqr",):
        codes = _CODE_RE.findall((line.description or "").upper().replace(" ", " "))
        if codes:
            p = session.scalars(base.where(Payment.code.in_(codes))).first()
            if p is not None:
                return p, "code_in_description"
    return None, None


def _discrepancy(session: Session, statement: StatementImport | None, *, type_: str, day: date, channel: str,
                 detail: str, payment: Payment | None = None, line: StatementLine | None = None,
                 expected: int | None = None, actual: int | None = None) -> Discrepancy:
    d = Discrepancy(centre_id=(statement.centre_id if statement else payment.centre_id), day=day, type=type_,
                    channel=channel, payment_id=payment.id if payment else None, line_id=line.id if line else None,
                    import_id=statement.id if statement else None, expected_amount=expected, actual_amount=actual,
                    detail=detail, status="open", created_at=utcnow())
    session.add(d)
    return d


def import_statement(session: Session, centre_id: int, source: str, filename: str, data: bytes,
                     actor: audit.Actor, late_days: int = 3, rates=None) -> ImportResult:
    """Parse the whole file first (a bad line refuses it whole), then store and match it, once per file.

    This matches every line in the caller's transaction (the API and the CLI); the staff page queues the same
    work as a job (finance.imports), matched in batches with progress. A settlement report or COD remittance
    (finance.models.SETTLEMENT_SOURCES) is read into batches instead; `rates` are the contract fees it is
    checked against (finance.settlements.fee_rates)."""
    if source in SETTLEMENT_SOURCES:
        r = settlements.import_settlement(session, centre_id, source, filename, data, actor, rates=rates)
        return ImportResult(r.statement, r.created, r.matched, r.discrepancies)
    prepared = prepare_statement(session, centre_id, source, filename, data, actor)
    if not prepared.created:
        existing = prepared.statement
        return ImportResult(existing, False, existing.matched_count, existing.discrepancy_count)
    statement = prepared.statement
    statement.state = "running"
    match_lines(session, statement, prepared.lines, late_days=late_days)
    finish_statement(session, statement, actor)
    return ImportResult(statement, True, statement.matched_count, statement.discrepancy_count)


@dataclass
class PreparedStatement:
    statement: StatementImport
    lines: list[ParsedLine]
    created: bool  # False: the same file (by SHA-256) was imported before; `statement` is that import


def parse_upload(source: str, filename: str, data: bytes) -> list[ParsedLine]:
    """Every line of the file, or InvalidInput naming the bad line (errors on `file`, and `line`)."""
    if source not in SOURCES:
        raise InvalidInput(f"unknown source {source!r}", errors={"source": [f"Chọn một trong: {', '.join(SOURCES)}"]})
    try:
        return parse(source, data)
    except ImportFormatError as e:
        errors = {"file": [str(e)]}
        if e.line_no:
            errors["line"] = [str(e.line_no)]
        raise InvalidInput(f"{filename}: {e}", errors=errors, code="statement-malformed") from e


def prepare_statement(session: Session, centre_id: int, source: str, filename: str, data: bytes,
                      actor: audit.Actor, *, state: str = "queued", keep_file: bool = False) -> PreparedStatement:
    """Validate the whole file and store its import row (no line yet), once per file and centre."""
    if source not in SOURCES or source in SETTLEMENT_SOURCES:
        raise InvalidInput(f"unknown source {source!r}", errors={"source": [f"Chọn một trong: {', '.join(SOURCES)}"]})
    digest = hashlib.sha256(data).hexdigest()
    existing = _imported_before(session, centre_id, digest)
    if existing is not None:
        return PreparedStatement(existing, [], False)
    parsed = parse_upload(source, filename, data)
    filename = "".join(c for c in filename if c.isprintable())[:255] or "tệp"  # an uploaded name is anyone's text
    now = utcnow()
    statement = StatementImport(centre_id=centre_id, source=source, filename=filename, sha256=digest,
                                imported_at=now, imported_by=f"{actor.type}:{actor.id or actor.name}",
                                period_start=min(x.value_date for x in parsed),
                                period_end=max(x.value_date for x in parsed), line_count=len(parsed),
                                total_amount=sum(x.amount for x in parsed), state=state, processed=0,
                                matched_count=0, discrepancy_count=0, updated_at=now,
                                raw_file=data if keep_file else None)
    session.add(statement)
    try:
        session.flush()
    except IntegrityError:
        # The same file, uploaded twice at once: the other upload stored it first; answer as for a re-import.
        # The statement is the first row the import writes, so rolling back loses nothing of ours. (A savepoint
        # would not do: on pysqlite a SAVEPOINT before any write is the outermost transaction, and releasing it
        # commits the statement before its lines.)
        session.rollback()
        existing = _imported_before(session, centre_id, digest)
        if existing is None:
            raise
        return PreparedStatement(existing, [], False)
    return PreparedStatement(statement, parsed, True)


def match_lines(session: Session, statement: StatementImport, parsed: list[ParsedLine], *,
                late_days: int = 3) -> tuple[int, int]:
    """Store and match `parsed` (the next lines of the file, in order); add their counts to the statement.

    The caller commits: the job (finance.imports) commits after each batch, with `processed` moved on, so a
    re-run starts after the last committed line and no line or discrepancy is stored twice."""
    centre_id, source = statement.centre_id, statement.source
    channel = SOURCES[source][1]
    today = local_day()
    closed: dict[date, bool] = {}
    matched = 0
    found: list[Discrepancy] = []
    seen_refs: dict[str, StatementLine] = {}
    # Read once for the batch what each line would otherwise ask for (a 20,000-line file asked 20,000 times):
    # the lines stored before with these references, and whether any settlement batch awaits its credit.
    stored_before = _references_stored_before(session, centre_id, channel, {p.reference[:128] for p in parsed})
    uncredited = source in BANK_SOURCES and _has_uncredited_batches(session, centre_id)
    for p in parsed:
        line = StatementLine(import_id=statement.id, centre_id=centre_id, channel=channel, line_no=p.line_no,
                             value_date=p.value_date, reference=p.reference[:128], order_ref=p.order_ref,
                             amount=p.amount, description=p.description, raw=p.raw, status="unmatched")
        session.add(line)
        session.flush()
        # A closed day takes no new matches: its late money is booked today, referring back.
        if p.value_date not in closed:
            closed[p.value_date] = _is_closed(session, centre_id, p.value_date)
        book_day = p.value_date if not closed[p.value_date] else today

        first = seen_refs.get(p.reference) or stored_before.get(p.reference[:128])
        if first is not None:
            line.status, line.payment_id = "duplicate", first.payment_id
            dup_of = session.get(Payment, first.payment_id) if first.payment_id else None
            found.append(_discrepancy(session, statement, type_="duplicate", day=book_day, channel=channel, line=line,
                                      payment=dup_of, actual=p.amount,
                                      detail=f"Dòng {p.line_no}: giao dịch {p.reference} lặp lại (đã có ở dòng "
                                             f"{first.line_no}{'' if first.import_id == statement.id else ' tệp #' + str(first.import_id)})."))
            continue
        seen_refs[p.reference] = line

        if uncredited:
            # A gateway's or carrier's payout: one credit for a settlement batch's net sum, not one payment.
            is_batch, batch_found = settlements.match_bank_credit(session, centre_id, line)
            if is_batch:
                matched += 1
                found.extend(batch_found)
                continue

        payment, rule = _find_payment(session, centre_id, channel, p)
        if payment is None:
            found.append(_discrepancy(session, statement, type_="missing_ours", day=book_day, channel=channel,
                                      line=line, actual=p.amount,
                                      detail=f"Dòng {p.line_no}: có tiền {p.amount:,} đ ({p.reference}) nhưng không có "
                                             f"khoản thu tương ứng.".replace(",", ".")))
            continue
        line.payment_id, line.match_rule = payment.id, rule
        if payment.status in PAID_STATES and payment.channel and payment.channel != channel:
            # The citizen paid through another channel too: this money is the second payment, not the first's
            # settlement (which its own channel's file will match).
            line.status = "duplicate"
            found.append(_discrepancy(session, statement, type_="duplicate", day=book_day, channel=channel, line=line,
                                      payment=payment, expected=payment.paid_amount, actual=p.amount,
                                      detail=f"Dòng {p.line_no}: khoản thu {payment.code} đã thu qua kênh "
                                             f"{payment.channel}; đây là tiền nộp lần hai qua kênh {channel}."))
            continue
        if _payment_matched_before(session, payment.id, line.id):
            line.status = "duplicate"
            found.append(_discrepancy(session, statement, type_="duplicate", day=book_day, channel=channel, line=line,
                                      payment=payment, actual=p.amount,
                                      detail=f"Dòng {p.line_no}: khoản thu {payment.code} đã được đối soát với dòng khác."))
            continue
        expected = payment.paid_amount if payment.status in PAID_STATES else payment.amount
        if payment.status not in PAID_STATES or "paid_after_expiry" in (payment.flags or []):
            line.status = "mismatch"
            found.append(_discrepancy(session, statement, type_="status_differs", day=book_day, channel=channel,
                                      line=line, payment=payment, expected=expected, actual=p.amount,
                                      detail=f"Khoản thu {payment.code} có trạng thái '{payment.status}'"
                                             + (" (thanh toán sau khi hết hạn)" if payment.status in PAID_STATES else "")
                                             + f" nhưng có tiền về ở dòng {p.line_no}."))
            continue
        if p.amount != expected:
            line.status = "mismatch"
            found.append(_discrepancy(session, statement, type_="amount_differs", day=book_day, channel=channel,
                                      line=line, payment=payment, expected=expected, actual=p.amount,
                                      detail=f"Khoản thu {payment.code}: hệ thống {expected:,} đ, dòng {p.line_no} "
                                             f"{p.amount:,} đ (lệch {p.amount - expected:+,} đ).".replace(",", ".")))
            continue
        line.status = "matched"
        matched += 1
        _close_missing_theirs(session, payment, statement)
        paid_day = local_day(payment.paid_at) if payment.paid_at else p.value_date
        if (p.value_date - paid_day).days > late_days:
            found.append(_discrepancy(session, statement, type_="late_settlement", day=book_day, channel=channel,
                                      line=line, payment=payment, expected=expected, actual=p.amount,
                                      detail=f"Khoản thu {payment.code} thu ngày {paid_day:%d/%m/%Y}, về tài khoản ngày "
                                             f"{p.value_date:%d/%m/%Y} ({(p.value_date - paid_day).days} ngày)."))
    statement.processed = (statement.processed or 0) + len(parsed)
    statement.matched_count = (statement.matched_count or 0) + matched
    statement.discrepancy_count = (statement.discrepancy_count or 0) + len(found)
    statement.updated_at = utcnow()
    return matched, len(found)


def finish_statement(session: Session, statement: StatementImport, actor: audit.Actor) -> None:
    """After the last line: the payments the file should have had and did not, late credits, the audit row."""
    channel = SOURCES[statement.source][1]
    found = _missing_theirs(session, statement, channel, local_day())
    if statement.source in BANK_SOURCES:
        found.extend(settlements.flag_late_credits(session, statement.centre_id, statement.period_end))
    statement.discrepancy_count = (statement.discrepancy_count or 0) + len(found)
    statement.state, statement.message = "done", None
    statement.finished_at = statement.updated_at = utcnow()
    audit.record(session, actor, "reconciliation.imported", entity_type="statement_import", entity_id=statement.id,
                 after={"source": statement.source, "filename": statement.filename, "lines": statement.line_count,
                        "matched": statement.matched_count, "discrepancies": statement.discrepancy_count},
                 centre_id=statement.centre_id)


def _imported_before(session: Session, centre_id: int, digest: str) -> StatementImport | None:
    return session.scalars(select(StatementImport).where(StatementImport.centre_id == centre_id,
                                                         StatementImport.sha256 == digest)).first()


def _is_closed(session: Session, centre_id: int, day: date) -> bool:
    from finance.closing import is_closed

    return is_closed(session, centre_id, day)


def _has_uncredited_batches(session: Session, centre_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(SettlementBatch).where(
        SettlementBatch.centre_id == centre_id, SettlementBatch.credit_line_id.is_(None))) > 0


def _references_stored_before(session: Session, centre_id: int, channel: str,
                               references: set[str]) -> dict[str, StatementLine]:
    """The first stored line (not itself a duplicate) of each of `references`, by the order lines were stored."""
    first: dict[str, StatementLine] = {}
    refs = sorted(references)
    for i in range(0, len(refs), 500):  # SQLite's bound-parameter limit
        for line in session.scalars(select(StatementLine).where(
                StatementLine.centre_id == centre_id, StatementLine.channel == channel,
                StatementLine.reference.in_(refs[i:i + 500]), StatementLine.status != "duplicate")
                .order_by(StatementLine.id)):
            first.setdefault(line.reference, line)
    return first


def _payment_matched_before(session: Session, payment_id: int, line_id: int) -> bool:
    return session.scalar(select(func.count()).select_from(StatementLine).where(
        StatementLine.payment_id == payment_id, StatementLine.id != line_id,
        StatementLine.status.in_(("matched", "mismatch")))) > 0


def _close_missing_theirs(session: Session, payment: Payment, statement: StatementImport) -> None:
    """A payment that an earlier import missed is now matched: its open 'missing theirs' closes itself."""
    for d in session.scalars(select(Discrepancy).where(Discrepancy.payment_id == payment.id,
                                                       Discrepancy.type == "missing_theirs",
                                                       Discrepancy.status == "open")):
        d.status, d.action, d.resolved_at = "resolved", "accept", utcnow()
        d.resolved_by = "system"
        d.note = f"Đã khớp với tệp #{statement.id} ({statement.filename})."


def _missing_theirs(session: Session, statement: StatementImport, channel: str, today: date) -> list[Discrepancy]:
    """Paid payments of the channel in the file's period that no line (of any import) accounts for."""
    start, _ = day_bounds_utc(statement.period_start)
    _, end = day_bounds_utc(statement.period_end)
    accounted = select(StatementLine.payment_id).where(StatementLine.payment_id.is_not(None),
                                                       StatementLine.status.in_(("matched", "mismatch")))
    already = select(Discrepancy.payment_id).where(Discrepancy.type == "missing_theirs",
                                                   Discrepancy.payment_id.is_not(None))
    payments = session.scalars(select(Payment).where(
        Payment.centre_id == statement.centre_id, Payment.channel == channel, Payment.status.in_(PAID_STATES),
        Payment.paid_at >= start, Payment.paid_at < end, Payment.id.not_in(accounted),
        Payment.id.not_in(already)).order_by(Payment.id)).all()
    out = []
    for p in payments:
        day = local_day(p.paid_at)
        out.append(_discrepancy(session, statement, type_="missing_theirs", day=day if not _is_closed(
            session, statement.centre_id, day) else today, channel=channel, payment=p, expected=p.paid_amount,
            detail=f"Khoản thu {p.code} ({p.paid_amount:,} đ, ngày {day:%d/%m/%Y}) không có trong tệp "
                   f"{statement.filename}.".replace(",", ".")))
    return out


def resolve_discrepancy(session: Session, discrepancy_id: int, centre_id: int, *, action: str, note: str,
                        actor: audit.Actor, payment_code: str | None = None) -> Discrepancy:
    """Close a discrepancy with an action and a note: link to a payment, mark a refund, write off, accept."""
    d = session.get(Discrepancy, discrepancy_id)
    if d is None or d.centre_id != centre_id:
        raise NotFound("discrepancy not found")
    if d.status != "open":
        raise Conflict(f"Chênh lệch #{d.id} đã được xử lý.", code="discrepancy-already-resolved")
    errors = {}
    if action not in RESOLUTION_ACTIONS:
        errors["action"] = [f"Chọn một trong: {', '.join(RESOLUTION_ACTIONS)}"]
    if not (note or "").strip():
        errors["note"] = ["Cần ghi chú lý do xử lý."]
    if errors:
        raise InvalidInput("resolution incomplete", errors=errors)
    ensure_day_open(session, d.centre_id, d.day)
    before = {"status": d.status}
    if action == "link":
        if not payment_code:
            raise InvalidInput("link needs a payment", errors={"payment_code": ["Nhập mã khoản thu cần liên kết."]})
        payment = session.scalars(select(Payment).where(Payment.code == payment_code.strip().upper(),
                                                        Payment.centre_id == centre_id)).first()
        if payment is None:
            raise InvalidInput("no such payment", errors={"payment_code": [f"Không có khoản thu '{payment_code}'."]})
        if d.line is not None:
            # Linking says "this money is that payment's": it must be the payment's amount, and the payment's
            # only money (otherwise it is a duplicate or a difference, to refund or write off with a reason).
            if d.line.amount != (payment.paid_amount or payment.amount):
                raise InvalidInput("amount differs", errors={"payment_code": [
                    f"Khoản thu {payment.code} là {payment.paid_amount or payment.amount:,} đ, dòng sao kê là "
                    f"{d.line.amount:,} đ.".replace(",", ".")]})
            if _payment_matched_before(session, payment.id, d.line.id):
                raise InvalidInput("payment already matched", errors={"payment_code": [
                    f"Khoản thu {payment.code} đã khớp với một dòng sao kê khác."]})
            d.line.payment_id, d.line.match_rule, d.line.status = payment.id, "manual", "matched"
        d.payment_id = payment.id
    d.status, d.action, d.note = "resolved", action, note.strip()
    d.resolved_by, d.resolved_at = f"{actor.type}:{actor.id or actor.name}", utcnow()
    audit.record(session, actor, "discrepancy.resolved", entity_type="discrepancy", entity_id=d.id, before=before,
                 after={"status": "resolved", "action": action, "payment_id": d.payment_id}, detail=note,
                 centre_id=centre_id)
    return d


def late_days_setting(settings) -> int:
    return settings.get_int("HCC_SETTLEMENT_LATE_DAYS", 3) if settings is not None else 3



