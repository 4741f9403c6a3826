"""Net settlements: payments ↔ settlement-report lines ↔ the bank credit of the batch.

A gateway pays one credit per settlement day (the day's transactions minus its fee), a carrier one per COD
remittance (COD collected minus postage and COD fee). A settlement report or remittance file is read into
batches; each line is matched to a payment (gross, fee by the contract, net); the deductions are booked as
fees of the day and channel; the batch's net sum waits for its bank credit, which a bank statement line
names by the gateway's transfer description (the batch reference in it). Typed discrepancies:
missing_ours / missing_theirs (a transaction on one side only), amount_differs (gross), wrong_fee (not the
contract's fee), net_differs (a line's or a credit's net), late_credit (no credit by the expected date;
closed by itself when the credit arrives), duplicate.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import day_bounds_utc, local_day, utcnow
from core.errors import InvalidInput
from core.settings import Setting, register_settings
from fees.gateways.attempts import payment_code_for
from fees.gateways.settlement_sandbox import FeeRate
from fees.models import Payment
from finance.models import (
    SETTLEMENT_SOURCES,
    SOURCES,
    Discrepancy,
    FeeBooking,
    SettlementBatch,
    SettlementLine,
    StatementImport,
    StatementLine,
)
from finance.parsers import ImportFormatError
from finance.settlement_files import PARSERS, ParsedBatch

register_settings(Setting(
    "HCC_SETTLEMENT_FEE_RATES", "vnpay=1.1%,momo=1.5%",
    "Phí theo hợp đồng của từng cổng, để kiểm tra phí trong tệp đối soát: 'vnpay=1.1%+1650,momo=1.5%' "
    "(tỷ lệ trên số tiền, cộng phí cố định mỗi giao dịch, làm tròn đến đồng). Cổng không có ở đây không được kiểm tra phí."))

PAID_STATES = ("paid", "partially_refunded", "refunded")
DEFAULT_RATES = "vnpay=1.1%,momo=1.5%"


def fee_rates(settings=None) -> dict[str, FeeRate]:
    text = (settings.get("HCC_SETTLEMENT_FEE_RATES", DEFAULT_RATES) if settings is not None else None) or DEFAULT_RATES
    out = {}
    for part in text.split(","):
        name, _, rate = part.partition("=")
        if name.strip() and rate.strip():
            out[name.strip().lower()] = FeeRate.parse(rate)
    return out


@dataclass
class SettlementImportResult:
    statement: StatementImport
    created: bool
    batches: int
    matched: int
    discrepancies: int

    @property
    def summary_line(self) -> str:
        return f"batches: {self.batches}, matched: {self.matched}, discrepancies: {self.discrepancies}"


def _money(n: int | None) -> str:
    return f"{n or 0:,}".replace(",", ".")


def _add(session: Session, centre_id: int, *, type_: str, day: date, channel: str, detail: str,
         import_id: int | None = None, payment: Payment | None = None, line: StatementLine | None = None,
         expected: int | None = None, actual: int | None = None) -> Discrepancy:
    d = Discrepancy(centre_id=centre_id, day=day, type=type_, channel=channel,
                    payment_id=payment.id if payment else None, line_id=line.id if line else None,
                    import_id=import_id, expected_amount=expected, actual_amount=actual, detail=detail,
                    status="open", created_at=utcnow())
    session.add(d)
    return d


def _auto_resolve(d: Discrepancy, note: str) -> None:
    d.status, d.action, d.resolved_at, d.resolved_by, d.note = "resolved", "accept", utcnow(), "system", note


def _book_day(session: Session, centre_id: int, day: date) -> date:
    from finance.closing import is_closed

    return local_day() if is_closed(session, centre_id, day) else day


def _find_payment(session: Session, centre_id: int, channel: str, reference: str,
                  order_ref: str | None) -> Payment | None:
    base = select(Payment).where(Payment.centre_id == centre_id)
    p = session.scalars(base.where(Payment.channel == channel, Payment.channel_ref == reference)).first()
    if p is not None or channel == "cod":
        return p
    if order_ref:
        code = payment_code_for(session, channel, order_ref.strip().upper())
        return session.scalars(base.where(Payment.code == code)).first()
    return None


def import_settlement(session: Session, centre_id: int, source: str, filename: str, data: bytes,
                      actor: audit.Actor, *, rates: dict[str, FeeRate] | None = None) -> SettlementImportResult:
    """Read a settlement report or COD remittance (the whole file, or refuse it naming the line), store its
    batches and lines, match each line, book the deductions, and credit any batch whose bank line came first."""
    if source not in SETTLEMENT_SOURCES:
        raise InvalidInput(f"unknown source {source!r}", errors={"source": [f"Chọn một trong: {', '.join(SETTLEMENT_SOURCES)}"]})
    rates = fee_rates() if rates is None else rates
    digest = hashlib.sha256(data).hexdigest()
    existing = session.scalars(select(StatementImport).where(StatementImport.centre_id == centre_id,
                                                             StatementImport.sha256 == digest)).first()
    if existing is not None:
        count = session.scalar(select(func.count()).select_from(SettlementBatch).where(
            SettlementBatch.import_id == existing.id))
        return SettlementImportResult(existing, False, count, existing.matched_count, existing.discrepancy_count)
    try:
        parsed = PARSERS[source](data)
    except ImportFormatError as e:
        errors = {"file": [str(e)]}
        if e.line_no:
            errors["line"] = [str(e.line_no)]
        raise InvalidInput(f"{filename}: {e}", errors=errors, code="statement-malformed") from e
    channel = SOURCES[source][1]
    filename = "".join(c for c in filename if c.isprintable())[:255] or "tệp"
    all_lines = [x for b in parsed for x in b.lines]
    statement = StatementImport(centre_id=centre_id, source=source, filename=filename, sha256=digest,
                                imported_at=utcnow(), imported_by=f"{actor.type}:{actor.id or actor.name}",
                                period_start=min(x.txn_day for x in all_lines),
                                period_end=max(x.txn_day for x in all_lines), line_count=len(all_lines),
                                total_amount=sum(b.net for b in parsed))
    session.add(statement)
    session.flush()
    matched, found = 0, []
    days: set[date] = set()
    for pb in parsed:
        m, f = _store_batch(session, statement, channel, pb, rates)
        matched += m
        found += f
        days.update(x.txn_day for x in pb.lines)
    found += _missing_theirs(session, statement, channel, days)
    statement.matched_count, statement.discrepancy_count = matched, len(found)
    audit.record(session, actor, "reconciliation.settlement_imported", entity_type="statement_import",
                 entity_id=statement.id, after={"source": source, "filename": filename, "batches": len(parsed),
                                                "lines": len(all_lines), "matched": matched, "discrepancies": len(found)},
                 centre_id=centre_id)
    return SettlementImportResult(statement, True, len(parsed), matched, len(found))


def _store_batch(session: Session, statement: StatementImport, channel: str, pb: ParsedBatch,
                 rates: dict[str, FeeRate]) -> tuple[int, list[Discrepancy]]:
    centre_id = statement.centre_id
    found: list[Discrepancy] = []
    before = session.scalars(select(SettlementBatch).where(
        SettlementBatch.centre_id == centre_id, SettlementBatch.provider == pb.provider,
        SettlementBatch.batch_ref == pb.batch_ref)).first()
    if before is not None:
        found.append(_add(session, centre_id, type_="duplicate", day=_book_day(session, centre_id, pb.settle_day),
                          channel=channel, import_id=statement.id, actual=pb.net,
                          detail=f"Đợt {pb.batch_ref} đã được nhập ở tệp #{before.import_id}; bỏ qua lần này."))
        return 0, found
    batch = SettlementBatch(centre_id=centre_id, import_id=statement.id, channel=channel, provider=pb.provider,
                            batch_ref=pb.batch_ref[:64], settle_day=pb.settle_day, expected_credit=pb.expected_credit,
                            line_count=len(pb.lines), gross=pb.gross, fee=pb.fee, net=pb.net, status="awaiting_credit")
    session.add(batch)
    session.flush()
    rate = rates.get(pb.provider) if channel != "cod" else None
    matched = 0
    for x in pb.lines:
        line = SettlementLine(batch_id=batch.id, centre_id=centre_id, channel=channel, line_no=x.line_no,
                              txn_day=x.txn_day, reference=x.reference[:128], order_ref=x.order_ref, gross=x.gross,
                              fee=x.fee, postage=x.postage, net=x.net, raw=x.raw, status="unmatched")
        session.add(line)
        day = _book_day(session, centre_id, x.txn_day)
        payment = _find_payment(session, centre_id, channel, x.reference, x.order_ref)
        what = f"{pb.batch_ref} dòng {x.line_no} ({x.reference})"
        if payment is None:
            found.append(_add(session, centre_id, type_="missing_ours", day=day, channel=channel, import_id=statement.id,
                              actual=x.gross, detail=f"{what}: {_money(x.gross)} đ có trong báo cáo đối soát nhưng "
                                                     "không có khoản thu tương ứng."))
            continue
        line.payment_id = payment.id
        session.flush()
        if session.scalar(select(func.count()).select_from(SettlementLine).where(
                SettlementLine.payment_id == payment.id, SettlementLine.id != line.id,
                SettlementLine.status.in_(("matched", "mismatch")))):
            line.status = "duplicate"
            found.append(_add(session, centre_id, type_="duplicate", day=day, channel=channel, import_id=statement.id,
                              payment=payment, actual=x.gross,
                              detail=f"{what}: khoản thu {payment.code} đã có trong một đợt đối soát khác."))
            continue
        line.status = "mismatch"
        expected = payment.paid_amount if payment.status in PAID_STATES else payment.amount
        if payment.status not in PAID_STATES:
            found.append(_add(session, centre_id, type_="status_differs", day=day, channel=channel,
                              import_id=statement.id, payment=payment, expected=expected, actual=x.gross,
                              detail=f"{what}: khoản thu {payment.code} có trạng thái '{payment.status}'."))
        elif x.gross != expected:
            found.append(_add(session, centre_id, type_="amount_differs", day=day, channel=channel,
                              import_id=statement.id, payment=payment, expected=expected, actual=x.gross,
                              detail=f"{what}: khoản thu {payment.code} là {_money(expected)} đ, báo cáo ghi "
                                     f"{_money(x.gross)} đ."))
        elif rate is not None and x.fee != rate.fee(x.gross):
            found.append(_add(session, centre_id, type_="wrong_fee", day=day, channel=channel,
                              import_id=statement.id, payment=payment, expected=rate.fee(x.gross), actual=x.fee,
                              detail=f"{what}: phí {_money(x.fee)} đ, theo hợp đồng là {_money(rate.fee(x.gross))} đ "
                                     f"(lệch {x.fee - rate.fee(x.gross):+,} đ).".replace(",", ".")))
        elif x.net != x.gross - x.fee - x.postage:
            found.append(_add(session, centre_id, type_="net_differs", day=day, channel=channel,
                              import_id=statement.id, payment=payment, expected=x.gross - x.fee - x.postage,
                              actual=x.net, detail=f"{what}: thực nhận {_money(x.net)} đ khác số tiền trừ phí "
                                                   f"{_money(x.gross - x.fee - x.postage)} đ."))
        else:
            line.status = "matched"
            matched += 1
            for d in session.scalars(select(Discrepancy).where(Discrepancy.payment_id == payment.id,
                                                               Discrepancy.type == "missing_theirs",
                                                               Discrepancy.status == "open")):
                _auto_resolve(d, f"Đã khớp với đợt {pb.batch_ref} (tệp #{statement.id}).")
    _book_fees(session, batch, pb)
    credit = _credit_waiting(session, batch, pb.description)
    if credit is not None:
        found += _credit(session, batch, credit)
    return matched, found


def _book_fees(session: Session, batch: SettlementBatch, pb: ParsedBatch) -> None:
    kinds = {"postage": sum(x.postage for x in pb.lines), "cod_fee": sum(x.fee for x in pb.lines)} \
        if batch.channel == "cod" else {"gateway_fee": sum(x.fee for x in pb.lines)}
    for kind, amount in kinds.items():
        if amount:
            session.add(FeeBooking(centre_id=batch.centre_id, batch_id=batch.id, day=batch.settle_day,
                                   channel=batch.channel, provider=batch.provider, kind=kind, amount=amount,
                                   created_at=utcnow()))


def _missing_theirs(session: Session, statement: StatementImport, channel: str, days: set[date]) -> list[Discrepancy]:
    """Paid payments of the channel on the report's days that no settlement line accounts for."""
    if not days:
        return []
    start, _ = day_bounds_utc(min(days))
    _, end = day_bounds_utc(max(days))
    accounted = select(SettlementLine.payment_id).where(SettlementLine.payment_id.is_not(None),
                                                        SettlementLine.status.in_(("matched", "mismatch")))
    already = select(Discrepancy.payment_id).where(Discrepancy.type == "missing_theirs", Discrepancy.status == "open",
                                                   Discrepancy.payment_id.is_not(None))
    out = []
    for p in session.scalars(select(Payment).where(
            Payment.centre_id == statement.centre_id, Payment.channel == channel, Payment.status.in_(PAID_STATES),
            Payment.paid_at >= start, Payment.paid_at < end, Payment.id.not_in(accounted),
            Payment.id.not_in(already)).order_by(Payment.id)):
        day = local_day(p.paid_at)
        if day not in days:
            continue
        out.append(_add(session, statement.centre_id, type_="missing_theirs",
                        day=_book_day(session, statement.centre_id, day), channel=channel, import_id=statement.id,
                        payment=p, expected=p.paid_amount,
                        detail=f"Khoản thu {p.code} ({_money(p.paid_amount)} đ, ngày {day:%d/%m/%Y}) không có trong "
                               f"báo cáo đối soát {statement.filename}."))
    return out


# -- the bank side ---------------------------------------------------------------------------------------------

def _norm(text: str | None) -> str:
    return re.sub(r"[^0-9A-Z]", "", (text or "").upper())


def _credit_waiting(session: Session, batch: SettlementBatch, description: str) -> StatementLine | None:
    """A bank line imported before the report that names this batch and was left unmatched."""
    ref = _norm(batch.batch_ref)
    for line in session.scalars(select(StatementLine).where(
            StatementLine.centre_id == batch.centre_id, StatementLine.status == "unmatched",
            StatementLine.payment_id.is_(None)).order_by(StatementLine.id)):
        if ref and ref in _norm(f"{line.description} {line.reference}"):
            return line
    return None


def batch_for_credit(session: Session, centre_id: int, description: str, reference: str) -> SettlementBatch | None:
    """The settlement batch a bank credit pays, named by the batch reference in its description."""
    text = _norm(f"{description} {reference}")
    if not text:
        return None
    for batch in session.scalars(select(SettlementBatch).where(
            SettlementBatch.centre_id == centre_id, SettlementBatch.credit_line_id.is_(None)).order_by(SettlementBatch.id)):
        if _norm(batch.batch_ref) and _norm(batch.batch_ref) in text:
            return batch
    return None


def _credit(session: Session, batch: SettlementBatch, line: StatementLine) -> list[Discrepancy]:
    """Book `line` as the batch's credit; a net that differs is one discrepancy; a late one closes its flag."""
    found = []
    batch.credit_line_id, batch.credited_on, batch.credited_amount = line.id, line.value_date, line.amount
    line.match_rule = "settlement_batch"
    for d in session.scalars(select(Discrepancy).where(Discrepancy.line_id == line.id, Discrepancy.status == "open",
                                                       Discrepancy.type == "missing_ours")):
        _auto_resolve(d, f"Tiền về của đợt quyết toán {batch.batch_ref}.")
    for d in session.scalars(select(Discrepancy).where(
            Discrepancy.centre_id == batch.centre_id, Discrepancy.type == "late_credit", Discrepancy.status == "open",
            Discrepancy.detail.contains(f"[{batch.batch_ref}]"))):
        _auto_resolve(d, f"Tiền về ngày {line.value_date:%d/%m/%Y} (dòng sao kê #{line.id}).")
    if line.amount != batch.net:
        line.status, batch.status = "mismatch", "net_differs"
        found.append(_add(session, batch.centre_id, type_="net_differs",
                          day=_book_day(session, batch.centre_id, batch.settle_day), channel=batch.channel,
                          import_id=line.import_id, line=line, expected=batch.net, actual=line.amount,
                          detail=f"Đợt [{batch.batch_ref}]: thực nhận theo đối soát {_money(batch.net)} đ, ngân hàng "
                                 f"ghi có {_money(line.amount)} đ."))
    else:
        line.status, batch.status = "matched", "credited"
    return found


def match_bank_credit(session: Session, centre_id: int, line: StatementLine) -> tuple[bool, list[Discrepancy]]:
    """Called for each bank statement line before line-by-line matching: (True, discrepancies) when the line is
    a settlement batch's credit."""
    batch = batch_for_credit(session, centre_id, line.description or "", line.reference)
    if batch is None:
        return False, []
    line.status = "matched"
    return True, _credit(session, batch, line)


def flag_late_credits(session: Session, centre_id: int, as_of: date) -> list[Discrepancy]:
    """Batches whose expected credit date has passed by `as_of` (the last day a statement covers) with no
    credit: one late_credit each, closed by itself when the credit arrives."""
    out = []
    for batch in session.scalars(select(SettlementBatch).where(
            SettlementBatch.centre_id == centre_id, SettlementBatch.status == "awaiting_credit",
            SettlementBatch.expected_credit <= as_of).order_by(SettlementBatch.id)):
        batch.status = "late"
        out.append(_add(session, centre_id, type_="late_credit", day=_book_day(session, centre_id, batch.settle_day),
                        channel=batch.channel, import_id=batch.import_id, expected=batch.net,
                        detail=f"Đợt [{batch.batch_ref}] ({_money(batch.net)} đ) dự kiến về ngày "
                               f"{batch.expected_credit:%d/%m/%Y}, sao kê đến {as_of:%d/%m/%Y} chưa có."))
    return out


# -- figures ---------------------------------------------------------------------------------------------------

def day_position(session: Session, centre_id: int, day: date) -> dict[str, dict[str, int]]:
    """Per net-settled channel on a day: our payments, the reports' gross, fee and net, what the bank credited
    for those lines, and what is left unexplained (zero on a day that closes)."""
    start, end = day_bounds_utc(day)
    out = {}
    for channel in ("vnpay", "momo", "cod"):
        paid = int(session.scalar(select(func.coalesce(func.sum(Payment.paid_amount), 0)).where(
            Payment.centre_id == centre_id, Payment.channel == channel, Payment.status.in_(PAID_STATES),
            Payment.paid_at >= start, Payment.paid_at < end)))
        gross, fee, postage, net = (int(v) for v in session.execute(select(
            func.coalesce(func.sum(SettlementLine.gross), 0), func.coalesce(func.sum(SettlementLine.fee), 0),
            func.coalesce(func.sum(SettlementLine.postage), 0), func.coalesce(func.sum(SettlementLine.net), 0)).where(
            SettlementLine.centre_id == centre_id, SettlementLine.channel == channel,
            SettlementLine.txn_day == day)).one())
        credited = int(session.scalar(select(func.coalesce(func.sum(SettlementLine.net), 0)).join(
            SettlementBatch, SettlementBatch.id == SettlementLine.batch_id).where(
            SettlementLine.centre_id == centre_id, SettlementLine.channel == channel, SettlementLine.txn_day == day,
            SettlementBatch.status == "credited")))
        open_count = session.scalar(select(func.count()).select_from(Discrepancy).where(
            Discrepancy.centre_id == centre_id, Discrepancy.channel == channel, Discrepancy.day == day,
            Discrepancy.status == "open"))
        if paid or gross:
            out[channel] = {"payments": paid, "gross": gross, "fee": fee, "postage": postage, "net": net,
                            "credited": credited, "unexplained": (paid - gross) + (net - credited),
                            "open_discrepancies": open_count}
    return out


def fees_booked(session: Session, centre_id: int, start: date, end: date) -> dict[str, dict[str, int]]:
    """Fee ledger: {channel: {kind: amount}} for the days from start to end."""
    out: dict[str, dict[str, int]] = {}
    for channel, kind, amount in session.execute(
            select(FeeBooking.channel, FeeBooking.kind, func.sum(FeeBooking.amount)).where(
                FeeBooking.centre_id == centre_id, FeeBooking.day >= start, FeeBooking.day <= end)
            .group_by(FeeBooking.channel, FeeBooking.kind).order_by(FeeBooking.channel, FeeBooking.kind)):
        out.setdefault(channel, {})[kind] = int(amount)
    return out


def batches(session: Session, centre_id: int, *, limit: int = 100) -> list[SettlementBatch]:
    return list(session.scalars(select(SettlementBatch).where(SettlementBatch.centre_id == centre_id)
                                .order_by(SettlementBatch.settle_day.desc(), SettlementBatch.id.desc()).limit(limit)))
