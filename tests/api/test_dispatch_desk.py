"""The dispatch desk: rates of every carrier compared before creating (real carrier and service names, fee,
time), address suggestions from the administrative units, "waiting for the carrier" until a tracking code,
and the irreversible actions refused without their confirmation."""

from __future__ import annotations

import re

from postal.models import Shipment
from tests.factories import csrf_token, make_user, sign_in
from tests.postal.factories import make_shipment

FORM = {"dossier_code": "000.00.12.H26-261202-0005", "direction": "outbound", "carrier": "auto",
        "name": "Nguyễn Văn An", "phone": "0912345678", "street": "12 Nguyễn Trãi", "ward": "Thanh Xuân",
        "province": "Hà Nội", "weight_grams": "300", "cod_amount": "0"}


def _dispatcher(client, session):
    make_user(session, roles=("dispatcher",), username="buuchinh")
    sign_in(client, "buuchinh")
    return csrf_token(client, "/staff/dispatch/")


def test_rates_are_compared_before_anything_is_created_with_the_carriers_real_names(live_server, client,  # noqa: F811
                                                                                   session):
    token = _dispatcher(client, session)
    page = client.post("/staff/dispatch/quote", data={**FORM, "csrf_token": token}).get_data(as_text=True)
    assert session.query(Shipment).count() == 0, "quoting creates nothing"
    titles = re.findall(r'class="rate-title">([^<]+)<', page)
    assert "VNPost – Nhanh (Tài liệu hàng hóa) (ETN011)" in titles
    assert any(x.startswith("Viettel Post – ") for x in titles) and any(x.startswith("GHN – ") for x in titles)
    assert not any(x.split(" ")[0] in ("vnpost", "viettelpost", "ghn") for x in titles), "no internal names"
    fees = [int(x.replace(".", "")) for x in re.findall(r'<td class="amount">([\d.]+)\s*₫</td><td>', page)]
    assert fees and fees == sorted(fees), "cheapest first, each with its fee"
    assert "giờ" in page or "ngày" in page
    assert 'value="Nguyễn Văn An"' in page, "the form keeps what was typed"

    client.post("/staff/dispatch/shipments", data={**FORM, "rate": "vnpost|ETN011", "csrf_token": token})
    s = session.query(Shipment).one()
    assert (s.carrier, s.service) == ("vnpost", "ETN011")


def test_a_shipment_waits_for_the_carrier_until_its_tracking_code_arrives(client, session, settings):
    s = make_shipment(session, settings, tracking_code=None)
    _dispatcher(client, session)
    desk = client.get("/staff/dispatch/").get_data(as_text=True)
    row = desk[desk.index(f'id="shipment-{s.id}"'):]
    assert "Chờ đơn vị vận chuyển" in row[:row.index("</tr>")]
    assert "Chờ đơn vị vận chuyển" in client.get(f"/staff/dispatch/{s.id}").get_data(as_text=True)
    s.tracking_code = "G000000123"
    session.commit()
    assert "Chờ đơn vị vận chuyển" not in client.get(f"/staff/dispatch/{s.id}").get_data(as_text=True)


def test_cancelling_is_refused_without_its_confirmation(client, session, settings):
    s = make_shipment(session, settings, tracking_code=None)
    token = _dispatcher(client, session)
    page = client.get(f"/staff/dispatch/{s.id}").get_data(as_text=True)
    assert f"Xác nhận HUỶ bưu gửi {s.code}" in page
    refused = client.post(f"/staff/dispatch/{s.id}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "hãy đánh dấu ô xác nhận" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Shipment, s.id).status == "pending"
    client.post(f"/staff/dispatch/{s.id}/cancel", data={"csrf_token": token, "confirm": "1"})
    session.expire_all()
    assert session.get(Shipment, s.id).status == "cancelled"


def test_the_desk_offers_address_suggestions_from_the_units(client, session):
    _dispatcher(client, session)
    desk = client.get("/staff/dispatch/").get_data(as_text=True)
    assert 'list="ward-list"' in desk and 'list="province-list"' in desk and "/static/dispatch.js" in desk
    assert "<script>" not in desk, "no inline script (CSP)"
    wards = client.get("/api/v1/addresses/wards?q=thanh xuan")
    assert wards.status_code == 200 and any(w["name"] == "Phường Thanh Xuân" for w in wards.get_json())
    resp = client.get("/static/dispatch.js")
    script = resp.get_data(as_text=True)
    resp.close()
    assert "/api/v1/addresses/wards" in script and "/api/v1/addresses/provinces" in script
