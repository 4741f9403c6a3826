"""Receipt series of a unit: their shape, their state machine, and which one a receipt takes at a moment.

States: draft → submitted (its registration, form 01/ĐKTĐ-CTĐT, is with the tax authority) → registered
(the tax authority accepted it, on `registered_on`) → in_use (its first receipt) → closed. A rejected
registration sends the series back to draft. A draft may also be closed (abandoned), or marked registered
directly (`mark_registered`: a registration made outside this service, migrations, tests, the demo). Issuance asks `series_for_issue`, which takes
the registered or in-use series of the Vietnamese year the receipt falls in, so a series prepared for
next year takes over at 00:00 on 1 January in Vietnam (17:00 UTC on 31 December).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.clock import local_day, utcnow
from core.errors import Conflict, InvalidInput
from province.models import CollectingUnit, ReceiptSeries


@dataclass(frozen=True)
class SeriesShape:
    template: re.Pattern[str]
    symbol: re.Pattern[str]
    description: str


# As we read Circular 32/2025/TT-BTC Appendix II.B; assumed: an e-receipt's template (ký hiệu mẫu) is
# EBL01 or EBL02, and its symbol (ký hiệu) is the last two digits of the year followed by T (e.g. 26T).
# Series carried over from before units existed keep their old shape and are not checked against this.
SERIES_SHAPE = SeriesShape(
    template=re.compile(r"^EBL0[12]$"),
    symbol=re.compile(r"^(\d{2})T$"),
    description="ký hiệu mẫu EBL01 hoặc EBL02; ký hiệu gồm hai chữ số cuối của năm và chữ T (ví dụ 26T)",
)

USABLE = ("registered", "in_use")
TRANSITIONS = {
    "draft": {"submitted", "registered", "closed"},
    # Only the tax channel moves a series out of submitted: accepted → registered, rejected → draft.
    "submitted": {"registered", "draft", "closed"},
    "registered": {"in_use", "closed"},
    "in_use": {"closed"},
    "closed": set(),
}


class SeriesError(Conflict):
    """Raised when a series transition is not allowed (closing a closed series, using a draft)."""

    code = "series-not-allowed"


class NoSeriesError(Conflict):
    """Raised when a unit has no registered series for the year a receipt would fall in."""

    code = "no-receipt-series"


def series_shape_errors(template: str, symbol: str, year: int) -> dict[str, list[str]]:
    """Field errors (Vietnamese) of a new series against SERIES_SHAPE; empty when it fits."""
    errors: dict[str, list[str]] = {}
    if not isinstance(template, str) or not SERIES_SHAPE.template.match(template):
        errors["template"] = [f"Ký hiệu mẫu {template!r} không hợp lệ: {SERIES_SHAPE.description}"]
    m = SERIES_SHAPE.symbol.match(symbol) if isinstance(symbol, str) else None
    if m is None:
        errors["symbol"] = [f"Ký hiệu {symbol!r} không hợp lệ: {SERIES_SHAPE.description}"]
    elif isinstance(year, int) and int(m.group(1)) != year % 100:
        errors["symbol"] = [f"Ký hiệu {symbol} không khớp năm {year} (phải là {year % 100:02d}T)"]
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2099:
        errors["year"] = [f"Năm {year!r} không hợp lệ"]
    return errors


def _snapshot(series: ReceiptSeries) -> dict:
    return {"unit_id": series.unit_id, "template": series.template, "symbol": series.symbol, "year": series.year,
            "number_width": series.number_width, "state": series.state,
            "registered_on": series.registered_on.isoformat() if series.registered_on else None}


def register_series(session: Session, unit: CollectingUnit, template: str, symbol: str, year: int, *,
                    number_width: int = 7, registered_on: date | None = None,
                    actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """Create a unit's series: 'registered' when the registration date is given, else 'draft'.

    Raises InvalidInput for a shape that breaks SERIES_SHAPE, Conflict if the unit already has it.
    """
    errors = series_shape_errors(template, symbol, year)
    if not isinstance(number_width, int) or not 1 <= number_width <= 12:
        errors["number_width"] = ["Độ dài số biên lai phải từ 1 đến 12 chữ số"]
    if errors:
        raise InvalidInput("Ký hiệu biên lai không hợp lệ", errors=errors)
    exists = session.scalar(select(ReceiptSeries.id).where(ReceiptSeries.unit_id == unit.id,
                                                           ReceiptSeries.template == template,
                                                           ReceiptSeries.symbol == symbol))
    if exists is not None:
        raise SeriesError(f"Đơn vị {unit.code} đã có ký hiệu {template} {symbol}")
    series = ReceiptSeries(unit_id=unit.id, template=template, symbol=symbol, year=year, number_width=number_width,
                           state="registered" if registered_on else "draft", registered_on=registered_on)
    session.add(series)
    session.flush()
    audit.record(session, actor, "series.created", entity_type="receipt_series", entity_id=series.id,
                 after=_snapshot(series))
    return series


def transition(session: Session, series: ReceiptSeries, state: str, *, registered_on: date | None = None,
               actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """The one way a series changes state; checks the edge and audits it."""
    if state not in TRANSITIONS.get(series.state, set()):
        raise SeriesError(f"Ký hiệu {series.template} {series.symbol} đang ở trạng thái {series.state}, "
                          f"không chuyển sang {state} được")
    before = _snapshot(series)
    if state == "registered":
        if registered_on is None:
            raise InvalidInput("Thiếu ngày đăng ký với cơ quan thuế", errors={"registered_on": ["required"]})
        series.registered_on = registered_on
    if state == "closed":
        series.closed_at = utcnow()
    series.state = state
    session.flush()
    audit.record(session, actor, f"series.{state}", entity_type="receipt_series", entity_id=series.id,
                 before=before, after=_snapshot(series))
    return series


def mark_registered(session: Session, series: ReceiptSeries, registered_on: date, *,
                    actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    return transition(session, series, "registered", registered_on=registered_on, actor=actor)


def mark_submitted(session: Session, series: ReceiptSeries, *, actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """Its registration was sent to the tax authority: it waits, and issues nothing, until accepted."""
    return transition(session, series, "submitted", actor=actor)


def mark_registration_rejected(session: Session, series: ReceiptSeries, *,
                               actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """The tax authority did not accept its registration: back to draft, to be corrected and sent again."""
    return transition(session, series, "draft", actor=actor)


def close_series(session: Session, series: ReceiptSeries, *, actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """Close a series for good (end of year, or a draft abandoned); a closed series issues nothing."""
    return transition(session, series, "closed", actor=actor)


def usable_series(session: Session, unit_id: int, year: int, on_day: date | None = None) -> list[ReceiptSeries]:
    """Registered or in-use series of the unit for that year (registered by `on_day` when given); in-use first."""
    stmt = select(ReceiptSeries).where(ReceiptSeries.unit_id == unit_id, ReceiptSeries.year == year,
                                       ReceiptSeries.state.in_(USABLE))
    rows = list(session.scalars(stmt))
    if on_day is not None:
        rows = [s for s in rows if s.registered_on is None or s.registered_on <= on_day]
    return sorted(rows, key=lambda s: (s.state != "in_use", s.id))


def series_for_issue(session: Session, unit_id: int, when_utc: datetime | None = None, *,
                     actor: audit.Actor = audit.SYSTEM) -> ReceiptSeries:
    """The series a receipt of this unit issued at `when_utc` (default now) takes.

    It is the unit's registered or in-use series of the Vietnamese year of that moment, registered on
    or before that Vietnamese day; when several fit, one already in use wins. A registered series moves
    to in_use here (in the caller's transaction). Raises NoSeriesError (a Conflict, Vietnamese message)
    when none fits; the receipt must then not be numbered.
    """
    when = when_utc or utcnow()
    day = local_day(when)
    candidates = usable_series(session, unit_id, day.year, day)
    if not candidates:
        unit = session.get(CollectingUnit, unit_id)
        label = unit.code if unit is not None else str(unit_id)
        raise NoSeriesError(f"Đơn vị thu {label} chưa có ký hiệu biên lai đã đăng ký với cơ quan thuế cho năm "
                            f"{day.year}; chưa thể cấp biên lai. Hãy đăng ký ký hiệu ({SERIES_SHAPE.description}).")
    series = candidates[0]
    if series.state == "registered":
        transition(session, series, "in_use", actor=actor)
    return series
