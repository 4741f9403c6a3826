"""Business days and late results: weekends, the holidays of the year's calendar, and the make-up days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dossiers import calendar
from dossiers.models import Dossier


@pytest.fixture(autouse=True)
def seeded_calendar(session):
    """The days migration 0016 seeds: on PostgreSQL the suite empties every table between tests."""
    for year in calendar.SEED_DAYS:
        calendar.seed_year(session, year)
    session.commit()


def make_dossier(session, centre, *, code="HS-2026-0001", appointment=date(2026, 5, 6), status="processing",
                 returned_at=None, **kw):
    dossier = Dossier(centre_id=centre.id, code=code, procedure_code="1.004227",
                      procedure_name="Cấp giấy phép xây dựng", level="province",
                      received_at=datetime(2026, 4, 29, 2, 0, tzinfo=UTC), appointment_date=appointment,
                      status=status, returned_at=returned_at, citizen_name="Trần Thị Bình",
                      citizen_phone="0912345678", **kw)
    session.add(dossier)
    session.commit()
    return dossier


def test_three_business_days_from_the_eve_of_30_april_skip_both_holidays_and_the_weekend(session):
    # Wed 29/4/2026: Thu 30/4 and Fri 1/5 are holidays, Sat 2 and Sun 3 the weekend.
    assert calendar.add_business_days(session, date(2026, 4, 29), 3) == date(2026, 5, 6)
    assert calendar.business_days_between(session, date(2026, 4, 29), date(2026, 5, 6)) == 3
    assert calendar.add_business_days(session, date(2026, 5, 6), -3) == date(2026, 4, 29)


def test_tet_and_a_make_up_saturday(session):
    # Tết Bính Ngọ: Mon 16/2 to Fri 20/2/2026 off; Friday 13/2 + 1 business day is Monday 23/2.
    assert calendar.add_business_days(session, date(2026, 2, 13), 1) == date(2026, 2, 23)
    # 2025: Friday 2/5 was swapped for Saturday 26/4, which was a working day.
    assert calendar.is_business_day(session, date(2025, 4, 26))
    assert not calendar.is_business_day(session, date(2025, 5, 2))
    assert calendar.add_business_days(session, date(2025, 4, 25), 1) == date(2025, 4, 26)


def test_a_dossier_past_its_appointment_counting_weekends_and_a_holiday_is_late(session, centre):
    appointment = calendar.add_business_days(session, date(2026, 4, 29), 3)
    dossier = make_dossier(session, centre, appointment=appointment)
    # 23:59 on Wednesday 6/5 in Vietnam (UTC+7): still on time; from midnight it is late.
    assert not calendar.is_late(session, dossier, datetime(2026, 5, 6, 16, 59, tzinfo=UTC))
    assert calendar.is_late(session, dossier, datetime(2026, 5, 6, 17, 0, tzinfo=UTC))
    # Friday 8/5 is two business days late; Monday 11/5 three (the weekend does not count).
    assert calendar.days_late(session, dossier, datetime(2026, 5, 8, 3, 0, tzinfo=UTC)) == 2
    assert calendar.days_late(session, dossier, datetime(2026, 5, 11, 3, 0, tzinfo=UTC)) == 3


def test_a_dossier_returned_on_time_is_never_late(session, centre):
    dossier = make_dossier(session, centre, status="returned",
                           returned_at=datetime(2026, 5, 6, 9, 0, tzinfo=UTC))
    assert not calendar.is_late(session, dossier, datetime(2026, 6, 1, tzinfo=UTC))
    late = make_dossier(session, centre, code="HS-2026-0002", status="returned",
                        returned_at=datetime(2026, 5, 7, 2, 0, tzinfo=UTC))
    assert calendar.is_late(session, late, datetime(2026, 6, 1, tzinfo=UTC))
    assert calendar.days_late(session, late, datetime(2026, 6, 1, tzinfo=UTC)) == 1


def test_an_appointment_on_a_day_declared_a_holiday_afterwards_runs_to_the_next_business_day(session, centre):
    dossier = make_dossier(session, centre, appointment=date(2026, 11, 24))
    calendar.set_day(session, date(2026, 11, 24), "holiday", "Ngày Văn hóa Việt Nam")
    session.commit()
    assert not calendar.is_late(session, dossier, datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert calendar.is_late(session, dossier, datetime(2026, 11, 25, 17, 0, tzinfo=UTC))


def test_the_calendar_refuses_a_holiday_on_a_weekend_and_a_make_up_weekday(session):
    with pytest.raises(calendar.CalendarError):
        calendar.set_day(session, date(2026, 4, 26), "holiday", "Giỗ Tổ Hùng Vương")
    with pytest.raises(calendar.CalendarError):
        calendar.set_day(session, date(2026, 4, 27), "workday", "Làm bù")
    assert calendar.remove_day(session, date(2026, 9, 1))
    session.commit()
    assert calendar.is_business_day(session, date(2026, 9, 1))
    assert calendar.seed_year(session, 2026) == 1
    session.commit()
    assert not calendar.is_business_day(session, date(2026, 9, 1))


def test_the_dossier_api_says_late_once_the_appointment_counted_past_a_weekend_and_holidays_has_passed(client, session):
    from tests.dossiers.conftest import dossier_body
    from tests.factories import bearer, make_api_key

    key = make_api_key(session)
    # Received Wednesday 29/4/2026, three business days: Thursday 30/4 and Friday 1/5 are holidays and the
    # weekend follows, so the result was due Wednesday 6/5, long past.
    appointment = calendar.add_business_days(session, date(2026, 4, 29), 3)
    assert appointment == date(2026, 5, 6)
    body = dossier_body(delivery="desk", received_at="2026-04-29T09:00:00+07:00", appointment_date=appointment.isoformat())
    assert client.put("/api/v1/dossiers/HS-2026-0429", json=body, headers=bearer(key)).status_code == 201
    shown = client.get("/api/v1/dossiers/HS-2026-0429", headers=bearer(key)).get_json()
    assert shown["late"] is True and shown["appointment_date"] == "2026-05-06"


def test_hcc_calendar_adds_lists_and_removes_a_day(runner, session):
    added = runner.invoke(args=["calendar", "add", "2027-01-01", "--name", "Tết Dương lịch"])
    assert added.exit_code == 0, added.output
    assert not calendar.is_business_day(session, date(2027, 1, 1))
    refused = runner.invoke(args=["calendar", "add", "2027-01-02", "--name", "Thứ Bảy"])
    assert refused.exit_code != 0 and "Thứ Bảy" in refused.output
    listed = runner.invoke(args=["calendar", "list", "2027"])
    assert "2027-01-01\tholiday\tTết Dương lịch" in listed.output
    assert runner.invoke(args=["calendar", "remove", "2027-01-01"]).exit_code == 0
    session.expire_all()
    assert calendar.is_business_day(session, date(2027, 1, 1))


def test_the_admin_keeps_the_calendar_on_its_page(client, session):
    from tests.factories import csrf_token, make_user, sign_in

    admin = make_user(session, roles=("admin",))
    sign_in(client, admin.username)
    page = client.get("/staff/admin/calendar?year=2026")
    assert page.status_code == 200 and "Tết Âm lịch (mùng 1 Tết)" in page.get_data(as_text=True)
    token = csrf_token(client, "/staff/admin/calendar")
    client.post("/staff/admin/calendar", data={"csrf_token": token, "day": "2026-11-24", "kind": "holiday",
                                                "name": "Ngày Văn hóa Việt Nam"})
    session.expire_all()
    assert not calendar.is_business_day(session, date(2026, 11, 24))
    client.post("/staff/admin/calendar", data={"csrf_token": token, "day": "2026-11-24", "action": "remove"})
    session.expire_all()
    assert calendar.is_business_day(session, date(2026, 11, 24))
    # A cashier may not.
    client.post("/staff/logout", data={"csrf_token": token})
    sign_in(client, make_user(session, roles=("cashier",)).username)
    assert client.get("/staff/admin/calendar").status_code in (403, 404)
