"""A day is the Vietnamese calendar day, whatever the UTC date of the instant."""

from datetime import UTC, date, datetime, time

from core.clock import VN_TZ, day_bounds_utc, local_day


def test_half_past_eleven_at_night_in_vietnam_is_still_that_day():
    late = datetime.combine(date(2026, 11, 23), time(23, 30), tzinfo=VN_TZ)
    assert late.astimezone(UTC).date() == date(2026, 11, 23)
    assert local_day(late.astimezone(UTC)) == date(2026, 11, 23)
    early = datetime.combine(date(2026, 11, 24), time(0, 30), tzinfo=VN_TZ)
    assert early.astimezone(UTC).date() == date(2026, 11, 23)  # UTC still says the 23rd
    assert local_day(early) == date(2026, 11, 24)
    start, end = day_bounds_utc(date(2026, 11, 23))
    assert start <= late < end and not (start <= early < end)
    assert start == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def test_the_first_and_last_days_python_knows_have_bounds():
    start, end = day_bounds_utc(date.min)
    assert start.tzinfo is not None and start < end == day_bounds_utc(date(1, 1, 2))[0]
    start, end = day_bounds_utc(date.max)
    assert start < end
