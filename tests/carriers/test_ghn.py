"""GHN payloads, pure: create request, statuses, webhook types."""

import pytest

from carriers.base import WebhookRejected
from carriers.ghn import payloads
from tests.carriers.test_contract import request_for

WEBHOOK = {"CODAmount": 120000, "CODTransferDate": None, "ClientOrderCode": "HCCTEST00001", "Description": "",
           "OrderCode": "GAUN3LVF", "Reason": "", "ShopID": 885, "Status": "delivered",
           "Time": "2026-11-24T07:30:00.000Z", "TotalFee": 25000, "Type": "switch_status"}


def test_create_carries_our_code_and_cod_and_the_shop_pays_postage():
    request = request_for(cod_amount=120_000, carrier="ghn")
    body = payloads.create_request(request)
    assert body["client_order_code"] == "HCCTEST00001" and body["cod_amount"] == 120_000
    assert body["payment_type_id"] == 1
    # GHN's own district id and ward code (Thanh Xuân was formed from old Thanh Xuân Trung, its seat).
    ids = request.receiver.carrier_ids
    assert (str(body["to_district_id"]), body["to_ward_code"]) == (ids["district"], ids["ward"])
    assert body["to_ward_code"] != "00367" and body["from_ward_code"] == request.sender.carrier_ids["ward"]


@pytest.mark.parametrize(("status", "ours"), [("delivered", "delivered"), ("returned", "returned"),
                                              ("delivery_fail", "delivery_failed"), ("cancel", "cancelled"),
                                              ("picked", "picked_up"), ("lost", "unknown")])
def test_statuses_map_to_our_vocabulary(status, ours):
    assert payloads.STATUS_MAP[status] == ours


def test_a_delivered_switch_status_webhook_is_read():
    [event] = payloads.parse_webhook(WEBHOOK, "secret", "secret")
    assert (event.status, event.tracking_code, event.order_number, event.cod_collected) == (
        "delivered", "GAUN3LVF", "HCCTEST00001", 120_000)


def test_fee_and_cod_updates_keep_the_status():
    [event] = payloads.parse_webhook({**WEBHOOK, "Type": "update_cod", "Status": "delivering"}, "secret", "secret")
    assert event.status == "unknown" and event.carrier_status == "update_cod:delivering"


def test_a_webhook_without_the_secret_token_is_refused():
    with pytest.raises(WebhookRejected):
        payloads.parse_webhook(WEBHOOK, "", "secret")
    with pytest.raises(WebhookRejected):
        payloads.parse_webhook(WEBHOOK, "secreT", "secret")


def test_the_first_offered_pickup_shift_is_asked_for():
    from carriers.ghn.payloads import parse_shifts, pickup_request
    from tests.carriers.test_contract import pickup_request_for

    body = {"code": 200, "message": "Success", "data": [
        {"id": 2, "title": "Ca lấy 25-11-2026 (12h00 - 18h00)", "from_time": 43200, "to_time": 64800},
        {"id": 3, "title": "Ca lấy 26-11-2026 (7h00 - 12h00)", "from_time": 25200, "to_time": 43200}]}
    assert parse_shifts(body)[0] == (2, "Ca lấy 25-11-2026 (12h00 - 18h00)")
    assert parse_shifts({"code": 200, "data": None}) == []
    payload = pickup_request(pickup_request_for(carrier="ghn"), 2)
    assert payload["pick_shift"] == [2] and payload["client_order_code"] == "HCCPICKUP001"
