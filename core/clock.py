"""Time: stored in UTC, shown and counted in days in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    """Aware UTC now; the one place tests may freeze."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Naive values coming back from SQLite are UTC by construction."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    return as_utc(value).astimezone(VN_TZ)


def local_day(value: datetime | None = None) -> date:
    """The Vietnamese calendar day an instant falls in."""
    return to_local(value or utcnow()).date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Vietnamese calendar day, in UTC."""
    local = datetime.combine(day, time.min, tzinfo=VN_TZ)
    if day == date.min:  # 01/01/0001 00:00 in Vietnam is before the first instant Python can hold in UTC
        return datetime.min.replace(tzinfo=UTC), (local + timedelta(days=1)).astimezone(UTC)
    start = local.astimezone(UTC)
    return start, start + timedelta(days=1)


def format_local(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return "" if value is None else to_local(value).strftime(fmt)
