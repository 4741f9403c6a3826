"""The official apology and new appointment slip: issued before the appointment passes, refused after."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import local_day, utcnow
from core.models import OutboundMessage
from dossiers import calendar
from tests.dossiers.conftest import dossier_body
from tests.factories import bearer, make_api_key, make_centre

CODE = "000.00.01.H26-261201-0042"


@pytest.fixture(autouse=True)
def seeded_calendar(session):
    """The days migration 0016 seeds: on PostgreSQL the suite empties every table between tests."""
    for year in calendar.SEED_DAYS:
        calendar.seed_year(session, year)
    session.commit()


def pdftotext(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "slip.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def push(client, key, code=CODE, **overrides):
    resp = client.put(f"/api/v1/dossiers/{code}", json=dossier_body(delivery="desk", **overrides), headers=bearer(key))
    assert resp.status_code in (200, 201), resp.get_json()


def future_dossier(client, session, key, code=CODE):
    """A dossier received yesterday, due three business days from today."""
    appointment = calendar.add_business_days(session, local_day(), 3)
    push(client, key, code, received_at=(utcnow() - timedelta(days=1)).isoformat(),
         appointment_date=appointment.isoformat())
    return appointment


def test_an_apology_before_the_date_moves_the_appointment_and_gives_the_official_form(client, session, tmp_path):
    key = make_api_key(session)
    appointment = future_dossier(client, session, key)
    new_date = calendar.add_business_days(session, appointment, 5)
    resp = client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(key), json={
        "reason": "Cần xác minh thêm <b>hồ sơ</b> & giấy tờ với <img src='/etc/passwd'/> cơ quan thuế",
        "new_appointment_date": new_date.isoformat()})
    assert resp.status_code == 201, resp.get_json()
    apology = resp.get_json()
    assert apology["previous_appointment_date"] == appointment.isoformat()
    assert apology["new_appointment_date"] == new_date.isoformat()

    shown = client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(key)).get_json()
    assert shown["appointment_date"] == new_date.isoformat() and shown["late"] is False
    assert [a["number"] for a in shown["apologies"]] == [apology["number"]]

    pdf = client.get(apology["pdf_url"], headers=bearer(key))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(pdftotext(pdf.data, tmp_path).split())
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text and "Độc lập - Tự do - Hạnh phúc" in text
    assert CODE in text and "Trần Thị Bình" in text
    # The reason is printed as typed: markup in it is text, not formatting or an embedded file.
    assert "<b>hồ sơ</b> & giấy tờ với <img src='/etc/passwd'/>" in text
    assert f"ngày {new_date.day:02d} tháng {new_date.month:02d} năm {new_date.year}" in text

    # The citizen is told once by e-mail (with the slip attached) and once by text message.
    sent = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "apology-issued")).all()
    assert sorted(m.channel for m in sent) == ["email", "sms"]
    email = next(m for m in sent if m.channel == "email")
    assert email.attachments and email.attachments[0]["filename"].endswith(".pdf")
    text_message = next(m for m in sent if m.channel == "sms")
    assert CODE in text_message.body and new_date.strftime("%d/%m/%Y") in text_message.body
    # Its link opens the slip with no login, like a receipt's lookup page; a guessed link does not.
    link = re.search(r"https?://\S+?(/phieu-xin-loi/[\w-]+)", text_message.body).group(1)
    public = client.get(link)
    assert public.status_code == 200 and public.mimetype == "application/pdf" and public.data == pdf.data
    assert client.get("/phieu-xin-loi/" + "A" * 22).status_code == 404


def test_an_apology_after_the_appointment_date_is_refused(client, session):
    key = make_api_key(session)
    past = calendar.add_business_days(session, local_day(), -2)
    push(client, key, received_at=(utcnow() - timedelta(days=20)).isoformat(), appointment_date=past.isoformat())
    resp = client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(key), json={
        "reason": "Chậm xác minh", "new_appointment_date": calendar.add_business_days(session, local_day(), 3).isoformat()})
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"
    shown = client.get(f"/api/v1/dossiers/{CODE}", headers=bearer(key)).get_json()
    assert shown["appointment_date"] == past.isoformat() and shown["late"] is True and shown["apologies"] == []


def test_the_new_date_must_be_a_later_business_day(client, session):
    key = make_api_key(session)
    appointment = future_dossier(client, session, key)
    same = client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(key),
                       json={"reason": "Chậm", "new_appointment_date": appointment.isoformat()})
    assert same.status_code == 422 and "new_appointment_date" in same.get_json()["errors"]
    saturday = appointment + timedelta(days=(5 - appointment.weekday()) % 7 or 7)
    weekend = client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(key),
                          json={"reason": "Chậm", "new_appointment_date": saturday.isoformat()})
    assert weekend.status_code == 422


def test_another_centre_sees_neither_the_dossier_nor_the_slip(client, session):
    key = make_api_key(session)
    appointment = future_dossier(client, session, key)
    apology = client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(key), json={
        "reason": "Chờ ý kiến cơ quan phối hợp",
        "new_appointment_date": calendar.add_business_days(session, appointment, 2).isoformat()}).get_json()
    stranger = make_api_key(session, centre=make_centre(session, "HCC-BN"), name="Một cửa Bắc Ninh")
    assert client.get(apology["pdf_url"], headers=bearer(stranger)).status_code == 404
    assert client.post(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(stranger), json={
        "reason": "x", "new_appointment_date": "2030-01-02"}).status_code == 404
    assert client.get(f"/api/v1/dossiers/{CODE}/apologies", headers=bearer(stranger)).status_code == 404


def test_staff_issue_an_apology_from_the_dossier_page_and_another_centre_sees_404(client, session):
    from tests.factories import csrf_token, make_user, sign_in

    key = make_api_key(session)
    appointment = future_dossier(client, session, key)
    user = make_user(session, roles=("dispatcher",))
    sign_in(client, user.username)
    page = client.get(f"/staff/dossier-apologies/{CODE}")
    assert page.status_code == 200 and 'id="issue-apology"' in page.get_data(as_text=True)
    new_date = calendar.add_business_days(session, appointment, 2)
    done = client.post(f"/staff/dossier-apologies/{CODE}", follow_redirects=True, data={
        "csrf_token": csrf_token(client, f"/staff/dossier-apologies/{CODE}"), "reason": "Chờ kết quả xác minh",
        "new_appointment_date": new_date.isoformat()})
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and new_date.strftime("%d/%m/%Y") in html and "01/PXL" in html

    other = make_centre(session, "HCC-BN")
    client.post("/staff/logout", data={"csrf_token": csrf_token(client)})
    stranger = make_user(session, roles=("dispatcher",), centre=other)
    sign_in(client, stranger.username)
    assert client.get(f"/staff/dossier-apologies/{CODE}").status_code == 404
