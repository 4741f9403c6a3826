"""GHN payloads, pure: create request, statuses, webhook types."""

import pytest

from carriers.base import WebhookRejected
from carriers.ghn import payloads
from tests.carriers.test_contract import request_for

WEBHOOK = {"CODAmount": 120000, "CODTransferDate": None, "ClientOrderCode": "HCCTEST00001", "Description": "",
           "OrderCode": "GAUN3LVF", "Reason": "", "ShopID": 885, "Status": "delivered",
           "Time": "2026-11-24T07:30:00.000Z", "TotalFee": 25000, "Type": "switch_status"}


def test_create_carries_our_code_and_cod_and_the_shop_pays_postage():
    body = payloads.create_request(request_for(cod_amount=120_000))
    assert body["client_order_code"] == "HCCTEST00001" and body["cod_amount"] == 120_000
    assert body["payment_type_id"] == 1 and body["to_ward_code"] == "00367"


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
