"""VNPost on the MyVNPost partner API: exact requests at the wire (token header, CreateOrder body,
COD add-on, our order number, VNPost's own address codes), and the adapter driven against the sandbox:
price, create, label, cancel, track, a dossier pickup, the catalogue and signed webhooks."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from carriers.base import (
    CarrierAccountConfig,
    DuplicateOrderError,
    Party,
    PermanentCarrierError,
    ShipmentRequest,
    WebhookRejected,
    get_carrier,
)
from carriers.vnpost import payloads
from carriers.vnpost import sandbox as vnpost_sandbox
from tests.carriers.conftest import WIRE
from tests.carriers.test_contract import CENTRE, CITIZEN, request_for

BASE = f"{WIRE}/sandbox/vnpost"
HANOI, THANH_XUAN, PHU_THUONG = "01", "00367", "00190"


@pytest.fixture
def vnpost(carrier_settings):
    carrier = get_carrier("vnpost", carrier_settings)
    yield carrier
    carrier.http.close()


def with_ids(party: Party, ward: str, province: str = HANOI) -> Party:
    """The party as postal hands it over: VNPost's own ids (from its catalogue) beside our codes."""
    return replace(party, carrier_ids={"province": vnpost_sandbox.province_id(province),
                                       "ward": vnpost_sandbox.commune_id(ward)})


def calls_to(wire, path: str):
    return [c for c in wire.calls if urlsplit(c.request.url).path.endswith(path)]


def sent_json(call):
    return json.loads(call.request.body)


# -- at the wire --------------------------------------------------------------------------------------------
def test_the_token_comes_from_get_access_token_and_travels_in_a_token_header(vnpost, wire):
    vnpost.create(request_for("HCCTEST00001"))
    vnpost.create(request_for("HCCTEST00002"))
    [login] = calls_to(wire, "/GetAccessToken")
    assert sent_json(login) == {"username": "hcc-sandbox", "password": "sandbox-vnpost", "customerCode": "HCC0001"}
    token = json.loads(login.response.text)["token"]
    others = [c for c in wire.calls if c is not login]
    assert others and all(c.request.headers["token"] == token for c in others)
    assert not any("Authorization" in c.request.headers for c in wire.calls)


def test_create_order_carries_customer_contract_our_number_cod_and_vnpost_codes(carrier_settings, wire):
    account = CarrierAccountConfig(customer_code="HCC0001", contract_number="HD-2026/15")
    carrier = get_carrier("vnpost", carrier_settings, account=account)
    request = ShipmentRequest(order_number="HCCTEST00001", sender=with_ids(CENTRE, PHU_THUONG),
                              receiver=with_ids(CITIZEN, THANH_XUAN), weight_grams=300, cod_amount=120_000,
                              service="ETN011", note="Gọi trước khi phát")
    created = carrier.create(request)
    [call] = calls_to(wire, "/CreateOrder")
    assert call.request.headers["Content-Type"] == "application/json"
    assert sent_json(call) == {
        "orderCreationStatus": 1, "type": "GUI", "customerCode": "HCC0001", "contractCode": "HD-2026/15",
        "informationOrder": {
            "senderName": CENTRE.name, "senderPhone": CENTRE.phone, "senderEmail": None,
            "senderAddress": "Số 258 Võ Chí Công, Phường Phú Thượng, Thành phố Hà Nội",
            "senderProvinceCode": "101", "senderDistrictCode": "VNPOST", "senderCommuneCode": "1000190",
            "receiverName": "Trần Thị Bình", "receiverPhone": "0912345678", "receiverEmail": None,
            "receiverAddress": "Số 12 Nguyễn Trãi, Phường Thanh Xuân, Thành phố Hà Nội",
            "receiverProvinceCode": "101", "receiverDistrictCode": "VNPOST", "receiverCommuneCode": "1000367",
            "serviceCode": "ETN011", "addonService": [{"code": "GTG021", "propValue": "PROP0018:120000"}],
            "additionRequest": [], "orgCodeCollect": None, "orgCodeAccept": None,
            "saleOrderCode": "HCCTEST00001", "contentNote": "Kết quả giải quyết thủ tục hành chính",
            "weight": "300", "width": None, "length": None, "height": None, "vehicle": "BO", "sendType": "1",
            "isBroken": "0", "deliveryTime": None, "deliveryRequire": None,
            "deliveryInstruction": "Gọi trước khi phát"}}
    carrier.http.close()
    assert created.tracking_code.startswith("E") and created.tracking_code.endswith("VN")
    assert created.fee == 39_000  # 22.000 first 500 g + 5.000 COD + 12.000 express (sandbox tariff)
    # The look-up by our number went first, so a retry never makes a second parcel.
    assert [urlsplit(c.request.url).path.rsplit("/", 1)[1] for c in wire.calls] == \
        ["GetAccessToken", "GetListOrder", "CreateOrder"]


def test_the_deployments_contract_goes_with_its_orders_and_a_centres_own_replaces_it(carrier_settings, wire):
    carrier_settings.extra["HCC_VNPOST_CONTRACT_CODE"] = "HĐ118/HĐBC"
    account = CarrierAccountConfig(contract_number="HD-2026/15")
    for number, carrier in (("HCCTEST00001", get_carrier("vnpost", carrier_settings)),
                            ("HCCTEST00002", get_carrier("vnpost", carrier_settings, account=account))):
        carrier.create(request_for(number))
        carrier.http.close()
    assert [sent_json(c)["contractCode"] for c in calls_to(wire, "/CreateOrder")] == ["HĐ118/HĐBC", "HD-2026/15"]
    assert sent_json(calls_to(wire, "/CreateOrder")[0])["customerCode"] == "HCC0001"


def test_our_own_codes_never_go_where_vnpost_ids_belong():
    body = payloads.order_request("KH1", "", request_for())  # parties without VNPost ids
    info = body["informationOrder"]
    assert (info["receiverProvinceCode"], info["receiverDistrictCode"], info["receiverCommuneCode"]) == (None, None, None)
    assert THANH_XUAN not in json.dumps(body) and '"01"' not in json.dumps(body)
    assert info["receiverAddress"] == "Số 12 Nguyễn Trãi, Phường Thanh Xuân, Thành phố Hà Nội"
    assert info["addonService"] == [{"code": "GTG021", "propValue": "PROP0018:120000"}]
    assert payloads.order_request("KH1", "", request_for(cod_amount=0))["informationOrder"]["addonService"] == []


def test_an_official_code_sent_as_a_vnpost_id_is_refused_by_the_sandbox(vnpost, wire):
    wrong = replace(CITIZEN, carrier_ids={"province": HANOI, "ward": THANH_XUAN})
    with pytest.raises(PermanentCarrierError, match="danh mục VNPost"):
        vnpost.create(ShipmentRequest(order_number="HCCTEST00009", sender=CENTRE, receiver=wrong, weight_grams=300))


def test_services_charge_asks_every_service_with_the_cod_add_on(carrier_settings, wire):
    account = CarrierAccountConfig(customer_code="HCC0001", contract_number="HD-2026/15")
    carrier = get_carrier("vnpost", carrier_settings, account=account)
    rates = carrier.quote(ShipmentRequest(order_number="Q1", sender=with_ids(CENTRE, PHU_THUONG),
                                          receiver=with_ids(CITIZEN, THANH_XUAN), weight_grams=1200, cod_amount=200_000))
    carrier.http.close()
    [call] = calls_to(wire, "/ServicesCharge")
    body = sent_json(call)
    assert (body["scope"], body["customerCode"], body["contractNumber"]) == (1, "HCC0001", "HD-2026/15")
    assert body["data"]["serviceCode"] is None and body["data"]["weight"] == 1200
    assert body["data"]["receiverCommuneCode"] == "1000367" and body["data"]["receiverDistrictCode"] == "VNPOST"
    assert body["data"]["addonService"] == [{"code": "GTG021", "propValue": "PROP0018:200000"}]
    # CTN009 (Tiêu chuẩn) takes no COD, so it is not offered for this parcel.
    assert {r.service: r.fee for r in rates} == {"CTN001": 32_000, "ETN011": 47_000}
    assert all(r.carrier == "vnpost" and r.service_name for r in rates)


def test_a_service_without_cod_is_priced_without_it_and_refused_with_it(vnpost, wire):
    rates = {r.service: r.fee for r in vnpost.quote(request_for(cod_amount=0))}
    assert rates == {"CTN001": 19_000, "CTN009": 22_000, "ETN011": 34_000}
    with pytest.raises(PermanentCarrierError, match="GTG021"):
        vnpost.create(replace(request_for(cod_amount=50_000), service="CTN009"))
    created = vnpost.create(replace(request_for("HCCTEST00002", cod_amount=0), service="CTN009"))
    assert created.tracking_code.startswith("C") and created.fee == 22_000


def test_a_refused_token_is_renewed_once_then_the_call_is_repeated(vnpost):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/GetAccessToken", json={"success": True, "token": "old"})
        mock.add(responses.POST, f"{BASE}/GetAccessToken", json={"success": True, "token": "new"})
        mock.add(responses.GET, re.compile(re.escape(BASE) + r"/GetStatusHistoryOrder.*"), status=401,
                 json={"success": False, "message": "Token hết hạn"})
        mock.add(responses.GET, re.compile(re.escape(BASE) + r"/GetStatusHistoryOrder.*"), json={"data": {
            "itemCode": "EB1VN", "statusHistory": [
                {"createdDate": "24/11/2026", "createdHour": "14:30:00", "statusCode": "90",
                 "statusName": "Phát thành công"}], "codAmount": 120000}})
        [event] = vnpost.track("EB1VN", "HCC1")
        history = [c for c in mock.calls if "GetStatusHistoryOrder" in c.request.url]
        assert [c.request.headers["token"] for c in history] == ["old", "new"]
        assert dict(parse_qsl(urlsplit(history[-1].request.url).query)) == {"type": "1", "code": "EB1VN"}
    assert (event.status, event.carrier_status, event.cod_collected) == ("delivered", "90", 120_000)
    assert event.occurred_at.isoformat() == "2026-11-24T14:30:00+07:00" and event.order_number == "HCC1"


@pytest.mark.parametrize(("code", "name", "status"), [
    ("14", "", "delivered"), ("21", "", "delivered"), ("3", "", "pending"), ("17", "", "return_to_sender"),
    ("90", "Phát thành công", "delivered"),  # the codes another public integration reads
    ("100", "Chuyển hoàn", "return_to_sender"),
    # An unknown code is read from its name, refusals and returns before successes.
    ("999", "Phát không thành công - người nhận vắng nhà", "delivery_failed"),
    ("999", "Phát hoàn thành công cho người gửi", "returned"), ("999", "Chuyển hoàn bưu gửi", "return_to_sender"),
    ("999", "Đã huỷ đơn hàng", "cancelled"), ("999", unicodedata.normalize("NFD", "Đã hủy"), "cancelled"), ("999", "Chờ phát lại", "on_hold"), ("999", "Chờ thu gom", "pending"),
    ("999", "", "unknown"),
])
def test_vnpost_statuses_in_our_vocabulary(code, name, status):
    assert payloads.status_of(code, name) == status


def test_a_refused_login_is_permanent_and_says_why(vnpost):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/GetAccessToken",
                 json={"success": False, "errorMessage": "Sai mật khẩu", "token": None})
        with pytest.raises(PermanentCarrierError, match="Sai mật khẩu"):
            vnpost.quote(request_for())


def test_a_centres_account_logs_in_with_its_customer_code_and_token(carrier_settings, wire):
    from carriers.sandbox import set_account_source

    set_account_source(lambda settings, carrier: [("KH-BN-01", "centre-secret")] if carrier == "vnpost" else [])
    try:
        account = CarrierAccountConfig(customer_code="KH-BN-01", token="centre-secret")
        carrier = get_carrier("vnpost", carrier_settings, account=account)
        assert carrier.quote(request_for())
        [login] = calls_to(wire, "/GetAccessToken")
        assert sent_json(login) == {"username": "hcc-sandbox", "password": "centre-secret", "customerCode": "KH-BN-01"}
        assert sent_json(calls_to(wire, "/ServicesCharge")[0])["customerCode"] == "KH-BN-01"
        carrier.http.close()
    finally:
        set_account_source(None)


# -- against the sandbox ------------------------------------------------------------------------------------
def test_a_parcel_is_created_labelled_and_tracked_to_delivery_with_its_cod(vnpost, wire, store):
    created = vnpost.create(request_for(cod_amount=120_000))
    pdf = vnpost.get_label(created.tracking_code)
    [label_call] = calls_to(wire, "/exportListReport")
    assert sent_json(label_call) == [created.tracking_code] and pdf.startswith(b"%PDF")
    store.advance(25 * 3600)
    events = vnpost.track(created.tracking_code, "HCCTEST00001")
    assert [e.status for e in events] == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert [e.carrier_status for e in events] == ["1", "6", "7", "10", "14"]  # MyVNPost's own order statuses
    assert events[-1].cod_collected == 120_000 and all(e.cod_collected is None for e in events[:-1])
    assert len({e.event_id for e in events}) == 5


def test_a_retry_finds_the_parcel_already_made_and_never_makes_a_second(vnpost, wire, store):
    first = vnpost.create(request_for())
    assert vnpost.find_by_order_number("HCCTEST00001").tracking_code == first.tracking_code
    with pytest.raises(DuplicateOrderError) as raised:
        vnpost.create(request_for())
    assert raised.value.tracking_code == first.tracking_code and store.count("vnpost", "HCCTEST00001") == 1
    query = dict(parse_qsl(urlsplit(calls_to(wire, "/GetListOrder")[0].request.url).query))
    assert query["type"] == "GUI" and query["isInternational"] == "false" and query["size"] == "500"
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4}", query["lastUpdateFrom"]) and query["page"] == "0"


def test_cancel_goes_by_vnposts_original_id_and_is_refused_once_collected(vnpost, wire, store):
    first = vnpost.create(request_for("HCCTEST00001")).tracking_code
    vnpost.cancel(first)
    [lookup] = calls_to(wire, "/getOrder")
    assert dict(parse_qsl(urlsplit(lookup.request.url).query)) == {"type": "1", "code": first}
    original = json.loads(lookup.response.text)[0]["results"][0]["orderHdrID"]
    assert sent_json(calls_to(wire, "/orderCancel")[0]) == {"OriginalId": original}
    assert vnpost.track(first)[-1].status == "cancelled"
    # Cancelled, the order number is free again for a new parcel.
    second = vnpost.create(request_for("HCCTEST00002")).tracking_code
    store.advance(3 * 3600)
    with pytest.raises(PermanentCarrierError, match="thu gom"):
        vnpost.cancel(second)


def test_a_dossier_is_collected_at_the_citizens_home_and_tracked_to_the_centre(vnpost, wire, store):
    assert vnpost.has_pickup and vnpost.collects_fee_on_pickup
    request = ShipmentRequest(order_number="HCCPICKUP001", sender=with_ids(CITIZEN, THANH_XUAN),
                              receiver=with_ids(CENTRE, PHU_THUONG), weight_grams=200,
                              content="Hồ sơ thủ tục hành chính", cod_amount=50_000)
    created = vnpost.request_pickup(request)
    assert created.tracking_code and created.pickup_window
    info = sent_json(calls_to(wire, "/CreateOrder")[0])["informationOrder"]
    assert (info["senderName"], info["senderCommuneCode"], info["sendType"]) == ("Trần Thị Bình", "1000367", "1")
    assert (info["receiverName"], info["receiverCommuneCode"]) == (CENTRE.name, "1000190")
    # The procedure's fee, collected by the postman with the dossier.
    assert info["addonService"] == [{"code": "GTG021", "propValue": "PROP0018:50000"}]
    assert store.by_order("vnpost", "HCCPICKUP001").cod_amount == 50_000
    store.advance(25 * 3600)
    assert vnpost.track(created.tracking_code)[-1].status == "delivered"
    with pytest.raises(DuplicateOrderError):
        vnpost.request_pickup(request)
    assert store.count("vnpost", "HCCPICKUP001") == 1


def test_the_catalogue_is_vnposts_two_level_one_with_its_own_ids(vnpost, wire):
    units = vnpost.units()
    assert {c.request.url.rsplit("/", 1)[1] for c in wire.calls} == \
        {"GetAccessToken", "getNewProvinceAll", "getNewCommuneAll"}
    provinces = {u.id: u for u in units if u.level == "province"}
    wards = {u.id: u for u in units if u.level == "ward"}
    assert len(provinces) == 34 and not any(u.level == "district" for u in units)
    assert provinces["101"].name == "Thành phố Hà Nội"
    assert wards["1000367"].name == "Phường Thanh Xuân" and wards["1000367"].parent_id == "101"
    assert all(u.parent_id in provinces for u in wards.values())
    assert not set(provinces) & {"01", "79"}  # VNPost's ids, not the official codes


def test_the_legacy_three_level_catalogue_is_served_too(vnpost, wire, carrier_settings):
    token = vnpost._token()
    districts = vnpost.http.get(f"{BASE}/getAllDistrict", headers={"token": token}).json()
    communes = vnpost.http.get(f"{BASE}/getAllCommune", headers={"token": token}).json()
    assert {"districtCode", "districtName", "provinceCode"} <= set(districts[0])
    assert {"communeCode", "communeName", "districtCode"} <= set(communes[0])
    assert len(districts) > 600


def _signed_bodies(vnpost, store, carrier_settings, note=""):
    code = vnpost.create(request_for(note=note)).tracking_code
    store.advance(25 * 3600)
    return code, [vnpost_sandbox.webhook_body(store, carrier_settings, e) for e in store.unsent_webhooks("vnpost")]


def test_signed_webhooks_are_read_in_our_vocabulary(vnpost, wire, store, carrier_settings):
    code, bodies = _signed_bodies(vnpost, store, carrier_settings)
    first = bodies[0]
    assert set(first) == {"data", "sendDate", "signature"} and re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d",
                                                                             first["sendDate"])
    events = [vnpost.parse_webhook({}, {}, json.dumps(b).encode())[0] for b in bodies]
    assert [e.status for e in events] == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert all(e.tracking_code == code and e.order_number == "HCCTEST00001" for e in events)
    assert events[-1].cod_collected == 120_000 and len({e.event_id for e in events}) == 5


@pytest.mark.parametrize("tamper", ["status", "itemCode", "sendDate", "signature", "unsigned", "other key"])
def test_a_forged_or_unsigned_webhook_is_refused(vnpost, wire, store, carrier_settings, tamper):
    _, bodies = _signed_bodies(vnpost, store, carrier_settings)
    body = json.loads(json.dumps(bodies[-2]))  # out for delivery: a forger would claim delivered
    if tamper == "status":
        body["data"][0]["status"] = "90"
    elif tamper == "itemCode":
        body["data"][0]["itemCode"] = "EB000000000VN"
    elif tamper == "sendDate":
        body["sendDate"] = "01/01/2030 00:00:00"
    elif tamper == "signature":
        body["signature"] = base64.b64encode(b"x" * 256).decode()
    elif tamper == "unsigned":
        del body["signature"]
    else:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        body["data"][0]["status"] = "90"
        body["signature"] = base64.b64encode(other.sign(payloads.signed_text(body["sendDate"], body["data"][0]),
                                                        padding.PKCS1v15(), hashes.SHA256())).decode()
    with pytest.raises(WebhookRejected):
        vnpost.parse_webhook({}, {}, json.dumps(body).encode())


def test_without_vnposts_public_key_every_webhook_is_refused(vnpost, wire, store, carrier_settings):
    _, bodies = _signed_bodies(vnpost, store, carrier_settings)
    vnpost.config.webhook_token = ""
    with pytest.raises(WebhookRejected):
        vnpost.parse_webhook({}, {}, json.dumps(bodies[0]).encode())


def test_the_sandbox_posts_webhooks_to_the_registered_url(vnpost, wire, store, carrier_settings):
    _signed_bodies(vnpost, store, carrier_settings)
    received = []
    wire.add_callback(responses.POST, f"{WIRE}/callbacks/vnpost",
                      callback=lambda r: (received.append(json.loads(r.body)), (200, {}, "{}"))[1])
    import requests

    with requests.Session() as http:
        assert vnpost_sandbox.deliver_webhooks(store, carrier_settings, http) == 5
    assert [vnpost.parse_webhook({}, {}, json.dumps(b).encode())[0].status for b in received][-1] == "delivered"


def test_a_returned_parcel_ends_returned_with_nothing_collected(vnpost, wire, store):
    code = vnpost.create(request_for(note="[sandbox:return]")).tracking_code
    store.advance(60 * 3600)
    events = vnpost.track(code)
    assert [e.status for e in events][-3:] == ["delivery_failed", "return_to_sender", "returned"]
    assert all(e.cod_collected is None for e in events)


def test_a_look_up_vnpost_refuses_does_not_stop_the_order(vnpost):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/GetAccessToken", json={"success": True, "token": "t"})
        mock.add(responses.GET, re.compile(re.escape(BASE) + r"/GetListOrder.*"), status=400,
                 json={"success": False, "message": "Khoảng thời gian không hợp lệ"})
        mock.add(responses.POST, f"{BASE}/CreateOrder", json={"data": {
            "orderHdrID": "1123", "itemCode": "EB000000123VN", "saleOrderCode": "HCCTEST00001", "totalFee": 39000}})
        created = vnpost.create(request_for())
    assert (created.tracking_code, created.fee, created.order_number) == ("EB000000123VN", 39_000, "HCCTEST00001")
