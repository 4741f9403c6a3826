"""The public list of a centre's late dossiers and apologies this month: readable by anyone, no personal data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import local_day, utcnow
from dossiers import calendar
from tests.dossiers.conftest import dossier_body
from tests.factories import bearer, make_api_key, make_centre


@pytest.fixture(autouse=True)
def seeded_calendar(session):
    """The days migration 0016 seeds: on PostgreSQL the suite empties every table between tests."""
    for year in calendar.SEED_DAYS:
        calendar.seed_year(session, year)
    session.commit()


def push(client, key, code, **overrides):
    resp = client.put(f"/api/v1/dossiers/{code}", json=dossier_body(delivery="desk", **overrides), headers=bearer(key))
    assert resp.status_code in (200, 201), resp.get_json()


def test_the_public_list_shows_late_dossiers_and_apologies_without_the_citizen(client, session):
    key = make_api_key(session)
    today = local_day()
    received = (utcnow() - timedelta(days=30)).isoformat()
    # Due two business days ago, not returned: late (this month, whichever day of the month it is).
    push(client, key, "HS-LATE-0001", received_at=received,
         appointment_date=calendar.add_business_days(session, today, -2).isoformat(),
         procedure_name="Cấp giấy phép xây dựng nhà ở riêng lẻ")
    # Returned on time, and one due next week: neither is late.
    on_time = calendar.add_business_days(session, today, -1)
    push(client, key, "HS-ONTIME-0002", received_at=received, appointment_date=on_time.isoformat(),
         status="returned", returned_at=(utcnow() - timedelta(days=3)).isoformat())
    ahead = calendar.add_business_days(session, today, 5)
    push(client, key, "HS-AHEAD-0003", received_at=received, appointment_date=ahead.isoformat())
    apology = client.post("/api/v1/dossiers/HS-AHEAD-0003/apologies", headers=bearer(key), json={
        "reason": "Chờ ý kiến của Sở Xây dựng",
        "new_appointment_date": calendar.add_business_days(session, ahead, 3).isoformat()})
    assert apology.status_code == 201, apology.get_json()
    # Another centre's late dossier is not on this centre's list.
    other = make_centre(session, "HCC-BN")
    push(client, make_api_key(session, centre=other), "HS-OTHER-0004", received_at=received,
         appointment_date=calendar.add_business_days(session, today, -2).isoformat())

    page = client.get("/tre-han/DEMO-HN")  # no login: the list is public
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    late_section, apology_section = html.split('id="apologies"')
    assert "HS-LATE-0001" in late_section and "Cấp giấy phép xây dựng nhà ở riêng lẻ" in late_section
    assert "HS-ONTIME-0002" not in html and "HS-OTHER-0004" not in html
    assert "HS-AHEAD-0003" not in late_section and "HS-AHEAD-0003" in apology_section
    assert apology.get_json()["number"] in apology_section
    # Nothing that names the citizen: neither the name, the phone, the e-mail, the address nor the reason.
    for private in ("Trần Thị Bình", "0912345678", "binh@example.vn", "Nguyễn Trãi", "Sở Xây dựng"):
        assert private not in html
    assert 'name="viewport"' in html  # laid out for a phone

    assert client.get("/tre-han/NO-SUCH-CENTRE").status_code == 404
