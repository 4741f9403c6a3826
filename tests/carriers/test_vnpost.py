"""VNPost payloads, pure: order request with the customer code, the cursor feed, and the token cache."""

import re

import responses

from carriers.base import get_carrier
from carriers.vnpost import payloads
from tests.carriers.conftest import WIRE
from tests.carriers.test_contract import request_for


def test_an_order_carries_the_customer_code_our_number_and_cod():
    body = payloads.order_request("KH0001", request_for(cod_amount=120_000))
    assert body["customerCode"] == "KH0001" and body["orderNumber"] == "HCCTEST00001"
    assert body["codAmount"] == 120_000 and body["receiver"]["wardCode"] == "00367"


def test_the_feed_gives_events_in_our_vocabulary_and_the_next_cursor():
    events, cursor = payloads.parse_feed({"data": [
        {"id": 41, "itemCode": "EB1VN", "orderNumber": "HCC1", "statusCode": "500", "statusName": "Phát thành công",
         "eventTime": "2026-11-24T07:30:00+00:00", "codAmount": 120000},
        {"id": 42, "itemCode": "EB2VN", "orderNumber": "HCC2", "statusCode": "601", "eventTime": "2026-11-24T08:00:00Z"},
    ], "lastId": 42})
    assert [e.status for e in events] == ["delivered", "returned"]
    assert events[0].cod_collected == 120_000 and events[1].cod_collected is None
    assert cursor == "42" and events[0].event_id == "vnpost:41"


def test_the_token_is_fetched_once_and_reused_until_it_expires(carrier_settings, wire):
    carrier = get_carrier("vnpost", carrier_settings)
    carrier.create(request_for("HCCTEST00001"))
    carrier.create(request_for("HCCTEST00002"))
    token_calls = [c for c in wire.calls if c.request.url.endswith("/oauth/token")]
    assert len(token_calls) == 1
    carrier.http.close()


def test_an_expired_token_is_renewed_once(carrier_settings):
    carrier = get_carrier("vnpost", carrier_settings)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{WIRE}/sandbox/vnpost/oauth/token",
                 json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        mock.add(responses.GET, re.compile(re.escape(WIRE) + r"/sandbox/vnpost/api/v1/tracking.*"), status=401,
                 json={"error": {"code": "UNAUTHORIZED"}})
        mock.add(responses.GET, re.compile(re.escape(WIRE) + r"/sandbox/vnpost/api/v1/tracking.*"),
                 json={"data": [], "lastId": 7})
        assert carrier.feed("7").cursor == "7"
        assert len([c for c in mock.calls if c.request.url.endswith("/oauth/token")]) == 2
    carrier.http.close()


def test_the_address_line_names_the_ward_and_province_the_postman_reads():
    from carriers.vnpost.payloads import order_request
    from tests.carriers.test_contract import request_for

    receiver = order_request("HCC01", request_for())["receiver"]
    assert receiver["address"] == "Số 12 Nguyễn Trãi, Phường Thanh Xuân, Thành phố Hà Nội"
    assert (receiver["wardCode"], receiver["provinceCode"]) == ("00367", "01")
