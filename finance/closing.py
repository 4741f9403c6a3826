"""Day close: a closed Vietnamese calendar day freezes its payments, receipts and matches.

Corrections after the close (a refund, a cancelled receipt, late money) are booked on the day they
are made and refer back; what is refused is changing the closed day's own records.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import local_day, utcnow
from core.errors import Conflict
from finance.models import ClosedDay, Discrepancy

# Payment fields that make up a day's books; status moves (refunds) are corrections and stay allowed.
FROZEN_PAYMENT_FIELDS = ("amount", "paid_amount", "paid_at", "channel", "channel_ref", "centre_id", "dossier_code")


class DayClosedError(Conflict):
    """Raised when something would change a record of a day that finance has closed."""

    code = "day-closed"


class EmptyDayError(Conflict):
    """Raised when a day with nothing on its books is closed without saying that this is intended."""

    code = "day-empty"


def is_closed(session: Session, centre_id: int, day: date) -> bool:
    return session.scalar(select(func.count()).select_from(ClosedDay).where(
        ClosedDay.centre_id == centre_id, ClosedDay.day == day)) > 0


def ensure_day_open(session: Session, centre_id: int, day: date) -> None:
    if is_closed(session, centre_id, day):
        raise DayClosedError(f"Ngày {day:%d/%m/%Y} đã khoá sổ; mọi điều chỉnh ghi vào ngày hiện tại.")


def day_is_empty(session: Session, centre_id: int, day: date, figures=None) -> bool:
    """Nothing on the day's books: no money in or out, no receipt issued or cancelled, no statement line."""
    from finance.models import StatementLine
    from finance.reports import summary

    s = figures or summary(session, centre_id, day, day)
    receipts = s.sections.get("Biên lai", {})
    if (s.payments or s.refunds or s.cod_remitted or receipts.get("issued", {}).get("count")
            or receipts.get("cancelled", {}).get("count")):
        return False
    lines = session.scalar(select(func.count()).select_from(StatementLine).where(
        StatementLine.centre_id == centre_id, StatementLine.value_date == day))
    discrepancies = session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.centre_id == centre_id, Discrepancy.day == day))
    return not lines and not discrepancies


def close_day(session: Session, centre_id: int, day: date, actor: audit.Actor, *,
              allow_empty: bool = False) -> ClosedDay:
    """Close a past day once its discrepancies are resolved; stores the day's summary with it.

    A day with nothing on its books (a Sunday, a holiday) must be closed too, for the month to close,
    but only when the caller says so (`allow_empty`): an empty day is more often a wrong date typed in
    than a quiet day, and a close cannot be undone.
    """
    from finance.reports import summary

    if day >= local_day():
        raise Conflict(f"Chỉ khoá sổ được ngày đã kết thúc (trước {local_day():%d/%m/%Y}).", code="day-not-over")
    if is_closed(session, centre_id, day):
        raise Conflict(f"Ngày {day:%d/%m/%Y} đã khoá sổ.", code="day-already-closed")
    open_count = session.scalar(select(func.count()).select_from(Discrepancy).where(
        Discrepancy.centre_id == centre_id, Discrepancy.day == day, Discrepancy.status == "open"))
    if open_count:
        raise Conflict(f"Còn {open_count} chênh lệch chưa xử lý của ngày {day:%d/%m/%Y}.", code="open-discrepancies")
    figures = summary(session, centre_id, day, day)
    empty = day_is_empty(session, centre_id, day, figures)
    if empty and not allow_empty:
        raise EmptyDayError(f"Ngày {day:%d/%m/%Y} không có khoản thu, hoàn tiền, biên lai hay sao kê nào. "
                            "Nếu đúng là ngày không phát sinh (ngày nghỉ), hãy xác nhận khoá sổ ngày trống.")
    closed = ClosedDay(centre_id=centre_id, day=day, closed_at=utcnow(),
                       closed_by=f"{actor.type}:{actor.id or actor.name}", summary=figures.as_dict())
    session.add(closed)
    session.flush()
    audit.record(session, actor, "day.closed", entity_type="closed_day", entity_id=closed.id,
                 after={"day": day.isoformat(), "empty": empty}, centre_id=centre_id)
    return closed


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_closed_days(session: Session, _ctx, _instances) -> None:
    from fees.models import Payment, PaymentItem

    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Payment):
            state = inspect(obj)
            changed = [f for f in FROZEN_PAYMENT_FIELDS if state.attrs[f].history.has_changes()]
            deleted = obj in session.deleted
            # The day it was paid on and the day it would now be paid on: clearing paid_at, or moving a
            # payment into a closed day, changes that day's books as much as editing its amount.
            if (changed or deleted) and (_closed_on(session, obj.centre_id, _original(state, "paid_at"))
                                         or _closed_on(session, obj.centre_id, obj.paid_at)):
                raise DayClosedError(f"Khoản thu {obj.code} thuộc ngày đã khoá sổ; không sửa được "
                                     f"({', '.join(changed) or 'xoá'}).")
        elif isinstance(obj, PaymentItem) and obj.payment is not None and obj.payment.paid_at is not None:
            if _closed_on(session, obj.payment.centre_id, obj.payment.paid_at):
                raise DayClosedError(f"Khoản thu {obj.payment.code} thuộc ngày đã khoá sổ; không sửa được.")
        elif isinstance(obj, Discrepancy) and obj not in session.new and (
                obj in session.deleted or inspect(obj).attrs["status"].history.has_changes()):
            if _closed_on_day(session, obj.centre_id, obj.day):
                raise DayClosedError(f"Ngày {obj.day:%d/%m/%Y} đã khoá sổ.")
    for check in _EXTRA_CHECKS:
        check(session)


_EXTRA_CHECKS: list = []


def register_freeze_check(fn) -> None:
    """Other packages (receipts) add the check for their own records."""
    if fn not in _EXTRA_CHECKS:
        _EXTRA_CHECKS.append(fn)


def _original(state, attr: str):
    hist = state.attrs[attr].history
    if hist.deleted:
        return hist.deleted[0]
    return getattr(state.object, attr)


def _closed_on(session: Session, centre_id: int, when) -> bool:
    if when is None:
        return False
    return _closed_on_day(session, centre_id, local_day(when))


def _closed_on_day(session: Session, centre_id: int, day: date) -> bool:
    with session.no_autoflush:
        return is_closed(session, centre_id, day)
