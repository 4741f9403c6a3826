"""Viettel Post payloads, pure: order request, status codes, webhook parsing."""

from datetime import UTC, datetime

import pytest

from carriers.base import WebhookRejected
from carriers.viettelpost import payloads
from tests.carriers.test_contract import request_for

WEBHOOK = {"DATA": {"ORDER_NUMBER": "1234567890", "ORDER_REFERENCE": "HCCTEST00001",
                    "ORDER_STATUSDATE": "24/11/2026 14:30:00", "ORDER_STATUS": 501, "STATUS_NAME": "Phát thành công",
                    "LOCALION_CURRENTLY": "Bưu cục Thanh Xuân", "NOTE": "", "MONEY_COLLECTION": 120000,
                    "MONEY_FEECOD": 0, "MONEY_TOTAL": 25000, "EXPECTED_DELIVERY": "", "PRODUCT_WEIGHT": 300,
                    "ORDER_SERVICE": "VCN"}, "TOKEN": "the-secret"}


def test_a_cod_order_collects_the_fees_and_carries_our_id():
    request = request_for(cod_amount=120_000, carrier="viettelpost")
    body = payloads.order_request(request)
    assert body["ORDER_NUMBER"] == "HCCTEST00001"
    assert body["MONEY_COLLECTION"] == 120_000 and body["ORDER_PAYMENT"] == 3
    # Viettel Post's own ids, as numbers, for all three levels; never our codes.
    ids = request.receiver.carrier_ids
    assert (body["RECEIVER_PROVINCE"], body["RECEIVER_DISTRICT"], body["RECEIVER_WARD"]) == (
        int(ids["province"]), int(ids["district"]), int(ids["ward"]))
    assert body["SENDER_WARD"] == int(request.sender.carrier_ids["ward"]) and body["RECEIVER_WARD"] != 367
    assert payloads.order_request(request_for(cod_amount=0, carrier="viettelpost"))["ORDER_PAYMENT"] == 1


@pytest.mark.parametrize(("code", "status"), [(501, "delivered"), (504, "returned"), (502, "return_to_sender"),
                                              (500, "out_for_delivery"), (503, "cancelled"), (999, "unknown"),
                                              # "Tồn - khách hàng nghỉ, không có nhà": the attempt failed;
                                              # 550 is the sender asking for another attempt, not a failure.
                                              (506, "delivery_failed"), (550, "on_hold"), (105, "picked_up")])
def test_status_codes_map_to_our_vocabulary(code, status):
    assert payloads.STATUS_MAP.get(code, "unknown") == status


def test_a_delivered_webhook_carries_the_collected_amount_and_the_time_in_utc():
    [event] = payloads.parse_webhook(WEBHOOK, "the-secret")
    assert event.status == "delivered" and event.carrier_status == "501"
    assert event.tracking_code == "1234567890" and event.order_number == "HCCTEST00001"
    assert event.cod_collected == 120_000
    assert event.occurred_at == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)


def test_a_webhook_with_another_token_is_refused():
    with pytest.raises(WebhookRejected):
        payloads.parse_webhook({**WEBHOOK, "TOKEN": "guess"}, "the-secret")
    with pytest.raises(WebhookRejected):
        payloads.parse_webhook({"TOKEN": "the-secret"}, "the-secret")


def test_a_reused_order_number_is_recognised_with_the_existing_code():
    assert payloads.duplicate_code({"status": 204, "error": True, "message": "ORDER_NUMBER đã tồn tại",
                                    "data": {"ORDER_NUMBER": "1999"}}) == "1999"
    assert payloads.duplicate_code({"status": 204, "error": True, "message": "Thiếu thông tin"}) is None


def test_the_postman_is_asked_for_in_working_hours_vietnam_time():
    from datetime import UTC, datetime

    from carriers.viettelpost.payloads import format_time, pickup_time

    # 09:00 in Hà Nội: two hours later, the same day.
    assert format_time(pickup_time(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))) == "24/11/2026 11:00:00"
    # 16:30 in Hà Nội: 18:30 is after hours, so 08:00 the next morning.
    assert format_time(pickup_time(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))) == "25/11/2026 08:00:00"
    # 04:00 in Hà Nội: not before 08:00.
    assert format_time(pickup_time(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))) == "24/11/2026 08:00:00"
