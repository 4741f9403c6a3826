"""An administrator changes a centre's message text; another centre's page is not theirs."""

from __future__ import annotations

from sqlalchemy import select

from messaging.models import MessageTemplate
from tests.factories import csrf_token, make_centre, make_user, sign_in


def test_an_admin_changes_the_centre_text_of_an_event(client, session, centre):
    make_user(session, roles=("admin",), username="quantri", centre=centre)
    session.commit()
    sign_in(client, "quantri")
    page = client.get(f"/staff/admin/messages/{centre.code}")
    assert page.status_code == 200 and "Biên lai điện tử" in page.get_data(as_text=True)
    token = csrf_token(client, f"/staff/admin/messages/{centre.code}")
    r = client.post(f"/staff/admin/messages/{centre.code}/paid",
                    data={"body": "Đã nhận tiền hồ sơ {dossier}. Biên lai: {link}", "csrf_token": token})
    assert r.status_code == 302
    row = session.scalar(select(MessageTemplate).where(MessageTemplate.centre_id == centre.id))
    assert row.body == "Đã nhận tiền hồ sơ {dossier}. Biên lai: {link}"
    bad = client.post(f"/staff/admin/messages/{centre.code}/paid", data={"body": "{secret}", "csrf_token": token})
    assert bad.status_code == 302
    session.expire_all()
    assert session.scalar(select(MessageTemplate.body)) == "Đã nhận tiền hồ sơ {dossier}. Biên lai: {link}"


def test_another_centres_texts_answer_404(client, session, centre):
    other = make_centre(session, "HCC-KHAC")
    make_user(session, roles=("admin",), username="quantri2", centre=centre)
    session.commit()
    sign_in(client, "quantri2")
    assert client.get(f"/staff/admin/messages/{other.code}").status_code == 404
