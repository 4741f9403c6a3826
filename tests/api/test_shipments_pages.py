"""The dispatch desk pages and the citizen's tracking page, through the test client."""

from __future__ import annotations

from datetime import date

from core import audit
from postal.models import Shipment
from postal.shipments import apply_event
from tests.factories import csrf_token, make_user, sign_in
from tests.postal.factories import carrier_event, make_shipment


def _desk_user(client, session, roles=("dispatcher",)):
    user = make_user(session, roles=roles)
    sign_in(client, user.username)
    return user


def test_the_desk_creates_a_shipment_from_the_form(client, session):
    _desk_user(client, session)
    token = csrf_token(client, "/staff/dispatch/")
    resp = client.post("/staff/dispatch/shipments", data={
        "csrf_token": token, "dossier_code": "H26-0001", "direction": "outbound", "carrier": "vnpost",
        "name": "Trần Thị Bình", "phone": "0912345678", "street": "12 Nguyễn Trãi", "ward": "Thanh Xuân",
        "province": "Hà Nội", "weight_grams": "250", "cod_amount": "30000"}, follow_redirects=True)
    assert "Đã tạo bưu gửi" in resp.get_data(as_text=True)
    s = session.query(Shipment).one()
    assert (s.dossier_code, s.cod_amount, s.carrier) == ("H26-0001", 30_000, "vnpost")


def test_an_address_the_desk_cannot_resolve_is_explained(client, session):
    _desk_user(client, session)
    token = csrf_token(client, "/staff/dispatch/")
    resp = client.post("/staff/dispatch/shipments", data={
        "csrf_token": token, "dossier_code": "H26-0001", "carrier": "vnpost", "name": "A", "phone": "0912345678",
        "street": "1", "ward": "Phường Không Có", "province": "Hà Nội", "weight_grams": "250"}, follow_redirects=True)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Không tìm thấy phường/xã" in page
    # What the dispatcher typed comes back, to correct one field rather than retype eleven.
    assert 'value="H26-0001"' in page and 'value="Phường Không Có"' in page and 'value="250"' in page
    assert '<option value="vnpost" selected>' in page
    assert session.query(Shipment).count() == 0


def test_a_cashier_does_not_see_the_desk(client, session):
    _desk_user(client, session, roles=("cashier",))
    assert client.get("/staff/dispatch/").status_code == 403


def test_a_failed_delivery_is_returned_from_its_page(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    apply_event(session, s, carrier_event("delivery_failed", hours=22), source="webhook", actor=audit.SYSTEM)
    session.commit()
    _desk_user(client, session)
    page = client.get(f"/staff/dispatch/{s.id}").get_data(as_text=True)
    assert "Yêu cầu chuyển hoàn" in page and "Huỷ bưu gửi" not in page
    token = csrf_token(client, f"/staff/dispatch/{s.id}")
    client.post(f"/staff/dispatch/{s.id}/return", data={"csrf_token": token, "note": "Đi vắng", "confirm": "1"})
    session.expire_all()
    assert session.get(Shipment, s.id).status == "return_to_sender"


def test_an_overdue_result_is_listed_with_its_letter_of_apology(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings, promised_date=date(2026, 1, 5))
    _desk_user(client, session)
    listing = client.get("/staff/dispatch/overdue").get_data(as_text=True)
    assert s.dossier_code in listing and "Thư xin lỗi" in listing
    letter = client.get(f"/staff/dispatch/{s.id}/apology.pdf")
    assert letter.mimetype == "application/pdf" and letter.data.startswith(b"%PDF")


def test_the_tracking_page_shows_the_status_but_no_personal_data(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings)
    page = client.get(f"/t/{s.code.lower()}").get_data(as_text=True)
    assert "Chờ lấy hàng" in page and "Trần Thị Bình" not in page and "0912345678" not in page
    assert client.get("/t/NOSUCHCODE").status_code == 404


def test_a_dispatcher_sees_a_dossier_pickup_requested_and_when(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings, direction="inbound")
    s.pickup_window = "Ca lấy 25-11-2026 (7h00 - 12h00)"
    session.commit()
    _desk_user(client, session)
    desk = client.get("/staff/dispatch/").get_data(as_text=True)
    assert "Đã hẹn bưu tá đến lấy" in desk and "7h00 - 12h00" in desk
    assert f'name="shipment_id" value="{s.id}"' not in desk  # a pickup never goes into a handover batch
    page = client.get(f"/staff/dispatch/{s.id}").get_data(as_text=True)
    assert "Người gửi (người dân)" in page and "Ca lấy 25-11-2026" in page


def test_a_batched_parcel_shows_its_batch_instead_of_a_checkbox(app, client, session):
    from postal.shipments import create_batch
    from tests.postal.factories import STAFF

    s = make_shipment(session, app.extensions["hcc"].settings)
    batch = create_batch(session, s.centre, [s.id], actor=STAFF)
    session.commit()
    _desk_user(client, session)
    desk = client.get("/staff/dispatch/").get_data(as_text=True)
    assert batch.code in desk and f'name="shipment_id" value="{s.id}"' not in desk


def test_the_tracking_page_of_a_pickup_says_when_the_postman_comes_and_nothing_personal(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings, direction="inbound")
    s.pickup_window = "Ca lấy 25-11-2026 (7h00 - 12h00)"
    session.commit()
    page = client.get(f"/t/{s.code}").get_data(as_text=True)
    assert "Tra cứu thu gom hồ sơ" in page and "7h00 - 12h00" in page
    assert "Trần Thị Bình" not in page and "0912345678" not in page and "Nguyễn Trãi" not in page


def test_a_pickup_that_reached_the_centre_says_so_not_delivered(app, client, session):
    s = make_shipment(session, app.extensions["hcc"].settings, direction="inbound")
    for status, hours in (("picked_up", 2), ("delivered", 20)):
        apply_event(session, s, carrier_event(status, hours=hours), source="webhook", actor=audit.SYSTEM)
    session.commit()
    page = client.get(f"/t/{s.code}").get_data(as_text=True)
    assert "Hồ sơ đã đến trung tâm" in page and "Đã phát thành công" not in page
    _desk_user(client, session)
    assert "Hồ sơ đã đến trung tâm" in client.get("/staff/dispatch/").get_data(as_text=True)


def test_numbers_too_big_for_a_parcel_are_refused_on_the_form_not_a_500(client, session):
    _desk_user(client, session)
    token = csrf_token(client, "/staff/dispatch/")
    for weight, cod in (("99999999999999999999", "0"), ("250", "99999999999999999999")):
        resp = client.post("/staff/dispatch/shipments", data={
            "csrf_token": token, "dossier_code": "H26-0001", "carrier": "vnpost", "name": "Trần Thị Bình",
            "phone": "0912345678", "street": "12 Nguyễn Trãi", "ward": "Thanh Xuân", "province": "Hà Nội",
            "weight_grams": weight, "cod_amount": cod})
        assert resp.status_code == 422, (weight, cod)
    assert session.query(Shipment).count() == 0
