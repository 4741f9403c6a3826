"""Business days: Saturdays and Sundays off, public holidays and make-up working days kept per year.

The administrator keeps the calendar (`hcc calendar`, the admin page): a `CalendarDay` is either a
day off on a weekday (`holiday`: a holiday of Labour Code 2019 Art. 112, a compensatory day under
Art. 112(3), or a day the Government swapped) or a working Saturday/Sunday (`workday`: the day
worked in exchange for a swapped one). Lunar holidays (Tết Âm lịch, Giỗ Tổ Hùng Vương 10/3 âm lịch)
are stored as the year's actual days as announced; nothing here computes lunar dates.

A dossier is late when its result is not returned by the end of its appointment date, Vietnamese
time (`is_late`). See docs/dossiers-apologies.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import CheckConstraint, Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import as_utc, day_bounds_utc, local_day, utcnow
from core.db import Base, UTCDateTime
from core.errors import InvalidInput
from core.text import clean_text

KINDS = ("holiday", "workday")


class CalendarDay(Base):
    """One exception to the Monday–Friday week: a weekday off (`holiday`) or a weekend day worked (`workday`)."""

    __tablename__ = "calendar_day"
    __table_args__ = (CheckConstraint("kind IN ('holiday', 'workday')", name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The days seeded by migration 0016 (kept here too, for `hcc calendar seed` after a reset). Sources: Labour
# Code 2019 Art. 112 and the announcements for public servants (Thủ tướng / Bộ LĐTBXH, later Bộ Nội vụ)
# for each year; see docs/dossiers-apologies.md. Weekend holidays are not listed: they are off anyway,
# their compensatory weekday is.
SEED_DAYS: dict[int, list[tuple[str, str, str]]] = {
    2025: [
        ("2025-01-01", "holiday", "Tết Dương lịch"),
        ("2025-01-27", "holiday", "Tết Âm lịch (28 tháng Chạp)"),
        ("2025-01-28", "holiday", "Tết Âm lịch (29 tháng Chạp)"),
        ("2025-01-29", "holiday", "Tết Âm lịch (mùng 1 Tết)"),
        ("2025-01-30", "holiday", "Tết Âm lịch (mùng 2 Tết)"),
        ("2025-01-31", "holiday", "Tết Âm lịch (mùng 3 Tết)"),
        ("2025-04-07", "holiday", "Giỗ Tổ Hùng Vương (10/3 âm lịch)"),
        ("2025-04-26", "workday", "Làm bù cho ngày nghỉ 02/5/2025"),
        ("2025-04-30", "holiday", "Ngày Chiến thắng (30/4)"),
        ("2025-05-01", "holiday", "Ngày Quốc tế lao động (1/5)"),
        ("2025-05-02", "holiday", "Hoán đổi ngày làm việc (làm bù thứ Bảy 26/4/2025)"),
        ("2025-09-01", "holiday", "Quốc khánh (ngày liền kề)"),
        ("2025-09-02", "holiday", "Quốc khánh (2/9)"),
    ],
    2026: [
        ("2026-01-01", "holiday", "Tết Dương lịch"),
        ("2026-02-16", "holiday", "Tết Âm lịch (29 tháng Chạp)"),
        ("2026-02-17", "holiday", "Tết Âm lịch (mùng 1 Tết)"),
        ("2026-02-18", "holiday", "Tết Âm lịch (mùng 2 Tết)"),
        ("2026-02-19", "holiday", "Tết Âm lịch (mùng 3 Tết)"),
        ("2026-02-20", "holiday", "Tết Âm lịch (mùng 4 Tết)"),
        ("2026-04-27", "holiday", "Nghỉ bù Giỗ Tổ Hùng Vương (10/3 âm lịch là Chủ nhật 26/4)"),
        ("2026-04-30", "holiday", "Ngày Chiến thắng (30/4)"),
        ("2026-05-01", "holiday", "Ngày Quốc tế lao động (1/5)"),
        ("2026-09-01", "holiday", "Quốc khánh (ngày liền kề)"),
        ("2026-09-02", "holiday", "Quốc khánh (2/9)"),
    ],
}


class CalendarError(InvalidInput):
    """Raised when a calendar day is refused (a holiday on a weekend, a working weekday, a bad date)."""


@dataclass
class BusinessCalendar:
    """The exceptions of a span of days, loaded once: `is_business_day` asks no more queries."""

    holidays: set[date] = field(default_factory=set)
    workdays: set[date] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, start: date | None = None, end: date | None = None) -> BusinessCalendar:
        query = select(CalendarDay.day, CalendarDay.kind)
        if start is not None:
            query = query.where(CalendarDay.day >= start)
        if end is not None:
            query = query.where(CalendarDay.day <= end)
        cal = cls()
        for day, kind in session.execute(query):
            (cal.holidays if kind == "holiday" else cal.workdays).add(day)
        return cal

    def is_business_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_business_day(self, day: date) -> date:
        """`day` itself when it is a business day, else the first business day after it."""
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add(self, start: date, days: int) -> date:
        day = start
        step = 1 if days >= 0 else -1
        remaining = abs(days)
        while remaining:
            day += timedelta(days=step)
            if self.is_business_day(day):
                remaining -= 1
        return day

    def between(self, start: date, end: date) -> int:
        if end < start:
            return -self.between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count += 1
        return count


# Holidays are at most a few weeks long: a span this wide around the days asked about holds them all.
_MARGIN = timedelta(days=400)


def _calendar(session: Session, start: date, end: date) -> BusinessCalendar:
    low, high = min(start, end), max(start, end)
    return BusinessCalendar.load(session, low - _MARGIN, high + _MARGIN)


def is_business_day(session: Session, day: date) -> bool:
    return _calendar(session, day, day).is_business_day(day)


def add_business_days(session: Session, start: date, days: int) -> date:
    """The `days`-th business day after `start` (before it when negative); `start` itself for 0."""
    return _calendar(session, start, start + timedelta(days=days * 3 + 30)).add(start, days)


def business_days_between(session: Session, start: date, end: date) -> int:
    """Business days in (start, end]: 1 from a Friday to the next Monday; negative when end < start."""
    return _calendar(session, start, end).between(start, end)


def deadline_day(session: Session, appointment: date, cal: BusinessCalendar | None = None) -> date:
    """The last day a result promised for `appointment` is on time.

    ASSUMPTION (docs/dossiers-apologies.md): a result promised for a day that is not a business day (a
    holiday added after the appointment was set) is on time until the end of the next business day,
    since the desk is closed on the day promised.
    """
    return (cal or _calendar(session, appointment, appointment)).next_business_day(appointment)


def returned_at(dossier) -> datetime | None:
    """When the result was handed back, or None: only a `returned` dossier has been."""
    if dossier.status != "returned":
        return None
    return dossier.returned_at or dossier.resolved_at


def is_late(session: Session, dossier, now: datetime | None = None, cal: BusinessCalendar | None = None) -> bool:
    """Whether the result is (or was) not returned by the end of the appointment date, Vietnam time.

    A cancelled dossier, or one without an appointment date, is never late; a returned one is late only
    if it was returned after that day. `cal`, a calendar loaded once, spares a query per dossier in lists.
    """
    if dossier.appointment_date is None or dossier.status == "cancelled":
        return False
    _, end = day_bounds_utc(deadline_day(session, dossier.appointment_date, cal))
    if dossier.status == "returned":
        done = returned_at(dossier)
        return done is not None and as_utc(done) >= end
    return as_utc(now or utcnow()) >= end


def days_late(session: Session, dossier, now: datetime | None = None, cal: BusinessCalendar | None = None) -> int:
    """Business days the result is (or was) late by; 0 when it is not late, at least 1 when it is."""
    if not is_late(session, dossier, now, cal):
        return 0
    done = local_day(returned_at(dossier) or now or utcnow())
    deadline = deadline_day(session, dossier.appointment_date, cal)
    cal = cal or _calendar(session, deadline, done)
    return max(1, cal.between(deadline, done))


# Managing the calendar (CLI and admin page).

def parse_day(value: object, field_name: str = "day") -> date:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise CalendarError(f"{field_name} is not a date", errors={field_name: ["Ngày dạng YYYY-MM-DD."]}) from None


def days_of_year(session: Session, year: int) -> list[CalendarDay]:
    return list(session.scalars(select(CalendarDay).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)).order_by(CalendarDay.day)))


def set_day(session: Session, day: date, kind: str, name: object) -> CalendarDay:
    """Add (or rename) a day off on a weekday, or a working weekend day. The caller commits."""
    if kind not in KINDS:
        raise CalendarError("kind is unknown", errors={"kind": ["holiday hoặc workday."]})
    text = clean_text(name, 255, field="name", required=True)
    if kind == "holiday" and day.weekday() >= 5:
        raise CalendarError("a weekend day is already off",
                            errors={"day": ["Thứ Bảy, Chủ nhật đã là ngày nghỉ: ghi ngày nghỉ bù (ngày làm việc kế tiếp)."]})
    if kind == "workday" and day.weekday() < 5:
        raise CalendarError("a weekday is already a working day",
                            errors={"day": ["Chỉ thứ Bảy hoặc Chủ nhật mới ghi là ngày làm bù."]})
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if row is None:
        row = CalendarDay(day=day, kind=kind, name=text)
        session.add(row)
    else:
        row.kind, row.name = kind, text
    session.flush()
    return row


def remove_day(session: Session, day: date) -> bool:
    row = session.scalar(select(CalendarDay).where(CalendarDay.day == day))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def seed_year(session: Session, year: int) -> int:
    """Add the days SEED_DAYS knows for `year` that are missing; returns how many were added."""
    added = 0
    for iso, kind, name in SEED_DAYS.get(year, []):
        day = date.fromisoformat(iso)
        if session.scalar(select(CalendarDay.id).where(CalendarDay.day == day)) is None:
            session.add(CalendarDay(day=day, kind=kind, name=name))
            added += 1
    session.flush()
    return added
