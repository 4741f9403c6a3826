"""Receipt series: shape, state machine, and the 1 January takeover in Vietnamese time."""

from datetime import UTC, date, datetime

import pytest

from core.errors import Conflict, InvalidInput
from province.series import (
    NoSeriesError,
    SeriesError,
    close_series,
    mark_registered,
    register_series,
    series_for_issue,
)
from tests.province.conftest import make_unit


def test_the_shape_follows_circular_32(session):
    unit = make_unit(session)
    with pytest.raises(InvalidInput) as e:
        register_series(session, unit, "01BLP0-001", "HN26", 2026)
    assert set(e.value.errors) == {"template", "symbol"}
    with pytest.raises(InvalidInput) as e:
        register_series(session, unit, "EBL01", "25T", 2026)
    assert "26T" in e.value.errors["symbol"][0]
    series = register_series(session, unit, "EBL02", "26T", 2026, registered_on=date(2026, 1, 5))
    assert series.state == "registered"
    with pytest.raises(SeriesError):
        register_series(session, unit, "EBL02", "26T", 2026)


def test_a_draft_is_not_used_and_the_error_is_a_vietnamese_conflict(session):
    unit = make_unit(session)
    draft = register_series(session, unit, "EBL01", "26T", 2026)
    assert draft.state == "draft"
    with pytest.raises(NoSeriesError) as e:
        series_for_issue(session, unit.id, datetime(2026, 3, 1, tzinfo=UTC))
    assert isinstance(e.value, Conflict)
    assert "chưa có ký hiệu biên lai đã đăng ký" in e.value.message and "2026" in e.value.message
    mark_registered(session, draft, date(2026, 2, 1))
    assert series_for_issue(session, unit.id, datetime(2026, 3, 1, tzinfo=UTC)) is draft
    assert draft.state == "in_use"


def test_a_series_is_not_used_before_its_registration_day(session):
    unit = make_unit(session)
    register_series(session, unit, "EBL01", "26T", 2026, registered_on=date(2026, 1, 5))
    with pytest.raises(NoSeriesError):
        series_for_issue(session, unit.id, datetime(2026, 1, 4, 12, tzinfo=UTC))
    assert series_for_issue(session, unit.id, datetime(2026, 1, 5, 1, tzinfo=UTC)).symbol == "26T"


def test_next_years_series_takes_over_at_midnight_in_vietnam(session):
    unit = make_unit(session)
    this_year = register_series(session, unit, "EBL01", "26T", 2026, registered_on=date(2026, 1, 5))
    next_year = register_series(session, unit, "EBL01", "27T", 2027, registered_on=date(2026, 11, 20))
    # 16:59:59 UTC on 31 December is 23:59:59 in Vietnam: still 2026.
    assert series_for_issue(session, unit.id, datetime(2026, 12, 31, 16, 59, 59, tzinfo=UTC)) is this_year
    # 17:00 UTC is 00:00 on 1 January 2027 in Vietnam.
    assert series_for_issue(session, unit.id, datetime(2026, 12, 31, 17, 0, tzinfo=UTC)) is next_year
    assert next_year.state == "in_use" and this_year.state == "in_use"


def test_a_closed_series_issues_nothing_and_stays_closed(session):
    unit = make_unit(session)
    series = register_series(session, unit, "EBL01", "26T", 2026, registered_on=date(2026, 1, 5))
    close_series(session, series)
    assert series.state == "closed" and series.closed_at is not None
    with pytest.raises(NoSeriesError):
        series_for_issue(session, unit.id, datetime(2026, 6, 1, tzinfo=UTC))
    with pytest.raises(SeriesError):
        close_series(session, series)
    with pytest.raises(SeriesError):
        mark_registered(session, series, date(2026, 1, 5))
