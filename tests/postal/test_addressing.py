"""Carriers' own address codes: sync over HTTP, coverage, settlements, and what reaches each carrier."""

from __future__ import annotations

import re
import threading

import pytest
from werkzeug.serving import make_server

from carriers.ghn import sandbox as ghn_sandbox
from carriers.sandbox import store_for
from carriers.viettelpost import sandbox as vtp_sandbox
from postal import addressing
from postal.addressing import fetch_units as fetch_over_http
from postal.models import Shipment
from tests.factories import bearer, make_api_key
from tests.postal.support import shipment_body

CARRIERS = ("ghn", "viettelpost", "vnpost")


@pytest.fixture
def live_server(app):
    """The app on 127.0.0.1:<free port>, its public URL (where the sandboxes are) pointing at it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.extensions["hcc"].settings.public_url = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def over_http(monkeypatch):
    """Catalogues read through each adapter's units() over HTTP, as in production (not the session cache)."""
    monkeypatch.setattr(addressing, "fetch_units", fetch_over_http)


def test_sync_units_covers_every_carrier_and_lists_each_unmapped_commune(live_server, runner, monkeypatch):
    for carrier in CARRIERS:
        if carrier == "ghn":  # the largest catalogue (~700 pages), read over real HTTP like in production
            monkeypatch.setattr(addressing, "fetch_units", fetch_over_http)
        result = runner.invoke(args=["carriers", "sync-units", carrier])
        assert result.exit_code == 0, result.output
        lines = result.output.rstrip().splitlines()
        last = lines[-1]
        assert last.startswith(f"{carrier}: mapped ") and last.endswith("%)"), last
        mapped, total = map(int, last.split("mapped ")[1].split(" communes")[0].split("/"))
        assert total == 3321 and mapped / total >= 0.99
        # Every commune not mapped is listed, with its code, name, province and why.
        listed = [line for line in lines[:-1] if line.startswith("  ")]
        assert len(listed) == total - mapped
        assert all(re.match(r"^  \d{5} .+, .+: \S.+$", line) for line in listed), listed

    coverage = runner.invoke(args=["carriers", "coverage"])
    assert coverage.exit_code == 0, coverage.output
    finals = [line for line in coverage.output.splitlines() if not line.startswith("  ")]
    assert [line.split(":")[0] for line in finals] == sorted(CARRIERS)
    # The island special zones had no communes before the reform: GHN lists no ward there.
    assert "Đặc khu Côn Đảo" in coverage.output and "không được hình thành" in coverage.output


def _shipment_to_thanh_xuan(client, session, carrier: str) -> Shipment:
    key = make_api_key(session)
    resp = client.post("/api/v1/shipments", json=shipment_body(carrier=carrier), headers=bearer(key))
    assert resp.status_code == 201, resp.get_json()
    s = session.get(Shipment, resp.get_json()["id"])
    session.refresh(s)
    return s


def test_a_shipment_to_a_merged_ward_reaches_ghn_with_ghns_own_ids(live_server, client, session, app):
    s = _shipment_to_thanh_xuan(client, session, "ghn")
    assert s.tracking_code, s.last_error
    payload = store_for(app.extensions["hcc"].settings).by_order("ghn", s.code).payload
    # Phường Thanh Xuân (00367) was formed from Thanh Xuân Bắc (its seat, whose code it kept), Nhân
    # Chính, Thanh Xuân Trung...: GHN gets the seat's ward code in old Quận Thanh Xuân.
    [ward] = [w for w in ghn_sandbox.catalogue()["wards"] if w["WardCode"] == payload["to_ward_code"]]
    [district] = [d for d in ghn_sandbox.catalogue()["districts"] if d["DistrictID"] == payload["to_district_id"]]
    assert (ward["WardName"], ward["DistrictID"], district["DistrictName"]) == (
        "Phường Thanh Xuân Bắc", payload["to_district_id"], "Quận Thanh Xuân")
    assert payload["to_ward_code"] != "00367" and payload["from_ward_code"] and payload["from_district_id"]


def test_a_shipment_to_a_merged_ward_reaches_viettel_post_with_its_own_ids(live_server, client, session, app):
    s = _shipment_to_thanh_xuan(client, session, "viettelpost")
    assert s.tracking_code, s.last_error
    payload = store_for(app.extensions["hcc"].settings).by_order("viettelpost", s.code).payload
    data = vtp_sandbox.catalogue()
    [ward] = [w for w in data["wards"][payload["RECEIVER_DISTRICT"]] if w["WARDS_ID"] == payload["RECEIVER_WARD"]]
    [district] = [d for d in data["districts"][payload["RECEIVER_PROVINCE"]]
                  if d["DISTRICT_ID"] == payload["RECEIVER_DISTRICT"]]
    assert (ward["WARDS_NAME"], district["DISTRICT_NAME"]) == ("PHƯỜNG THANH XUÂN BẮC", "QUẬN THANH XUÂN")
    assert payload["SENDER_WARD"] and payload["SENDER_DISTRICT"] and payload["SENDER_PROVINCE"]


def test_a_shipment_reaches_vnpost_with_the_ids_of_its_catalogue(live_server, client, session, app):
    s = _shipment_to_thanh_xuan(client, session, "vnpost")
    assert s.tracking_code, s.last_error
    settings = app.extensions["hcc"].settings
    payload = store_for(settings).by_order("vnpost", s.code).payload
    ids = addressing.carrier_ids(session, settings, "vnpost", "00367")
    assert ids.get("ward") and ids["ward"] in str(payload) and "'00367'" not in str(payload)


def test_an_address_the_chosen_carrier_cannot_map_answers_422_naming_the_commune(client, session):
    key = make_api_key(session)
    body = shipment_body(carrier="ghn", recipient={
        "name": "Trần Thị Bình", "phone": "0912345678",
        "address": {"street": "Số 1 Nguyễn Huệ", "ward": "Đặc khu Côn Đảo", "province": "Hồ Chí Minh"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    [message] = resp.get_json()["errors"]["recipient.address.ward"]
    assert "GHN" in message and "Đặc khu Côn Đảo" in message
    assert session.query(Shipment).count() == 0


def test_auto_choice_takes_only_a_carrier_that_can_map_the_address(client, session, app):
    settings = app.extensions["hcc"].settings
    settings.extra["HCC_POSTAL_CARRIERS"] = "ghn,viettelpost"
    key = make_api_key(session)
    body = shipment_body(carrier="auto", recipient={
        "name": "Trần Thị Bình", "phone": "0912345678",
        "address": {"street": "Số 1 Nguyễn Huệ", "ward": "Đặc khu Côn Đảo", "province": "Hồ Chí Minh"}})
    resp = client.post("/api/v1/shipments", json=body, headers=bearer(key))
    assert resp.status_code == 422
    messages = resp.get_json()["errors"]["recipient.address.ward"]
    assert any("GHN" in m for m in messages) and any("Viettel Post" in m for m in messages)


def test_a_settlement_maps_a_ward_and_survives_a_resync(runner, session, app):
    settings = app.extensions["hcc"].settings
    addressing.sync_units(session, settings, "ghn")
    session.commit()
    with pytest.raises(addressing.UnmappableAddress):
        addressing.carrier_ids(session, settings, "ghn", "26732")  # Đặc khu Côn Đảo
    [con_dao] = [d for d in ghn_sandbox.catalogue()["districts"] if d["DistrictName"] == "Huyện Côn Đảo"]
    # Suppose the administrator learnt from GHN which ward code it uses there: one of its wards.
    some_ward = ghn_sandbox.catalogue()["wards"][0]["WardCode"]
    result = runner.invoke(args=["carriers", "settle", "ghn", "26732", some_ward])
    assert result.exit_code == 0, result.output
    assert f"ward {some_ward}" in result.output
    addressing.sync_units(session, settings, "ghn")  # a later sync keeps the decision
    session.commit()
    assert addressing.carrier_ids(session, settings, "ghn", "26732")["ward"] == some_ward
    assert con_dao["DistrictID"]
    bad = runner.invoke(args=["carriers", "settle", "ghn", "26732", "NO-SUCH-ID"])
    assert bad.exit_code != 0 and "NO-SUCH-ID" in bad.output


def test_the_first_shipment_reads_the_catalogue_over_http_on_first_need(live_server, over_http, client, session, app):
    # What `hcc serve` does out of the box: no sync was run; the first shipment reads the catalogue.
    app.extensions["hcc"].settings.extra["HCC_POSTAL_CARRIERS"] = "viettelpost"
    assert session.get(addressing.CarrierCatalogue, "viettelpost") is None
    s = _shipment_to_thanh_xuan(client, session, "viettelpost")
    assert s.tracking_code, s.last_error
    row = session.get(addressing.CarrierCatalogue, "viettelpost")
    assert row is not None and row.synced_by == "first-need" and row.unit_count > 10_000
