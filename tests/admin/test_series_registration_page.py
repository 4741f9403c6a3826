"""An administrator sends a draft series' registration (01/ĐKTĐ-CTĐT) from the unit page; it is registered
only once the tax authority (its sandbox) accepts it."""

from __future__ import annotations

from sqlalchemy import select

from province.models import ReceiptSeries
from tests.factories import csrf_token, make_user, sign_in


def test_a_draft_series_is_sent_and_registered_when_the_tax_authority_accepts(client, session, centre):
    from core.accounts import DEMO_UNIT_CODE
    from province.models import CollectingUnit
    from province.series import register_series

    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == DEMO_UNIT_CODE))
    series = register_series(session, unit, "EBL02", "27T", 2027)  # a draft: no registration date
    session.commit()
    admin = make_user(session, roles=("admin",))
    sign_in(client, admin.username)
    page = client.get(f"/staff/admin/units/{unit.code}")
    assert "Gửi tờ khai 01/ĐKTĐ-CTĐT" in page.get_data(as_text=True)
    token = csrf_token(client, f"/staff/admin/units/{unit.code}")
    res = client.post(f"/staff/admin/units/{unit.code}/series/{series.id}/submit", data={"csrf_token": token},
                      follow_redirects=True)
    assert res.status_code == 200
    text = res.get_data(as_text=True)
    assert "Đã gửi tờ khai đăng ký" in text and 'id="registration"' in text
    session.expire_all()
    # Sent in the background; the sandbox's answer moves the series on, never the click itself.
    assert session.get(ReceiptSeries, series.id).state in ("submitted", "registered")
