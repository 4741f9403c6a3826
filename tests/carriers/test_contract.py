"""One contract suite, run against every carrier adapter over a faked wire: create, label, cancel, track,
webhooks and the classification of failures."""

from __future__ import annotations

import json
import re

import pytest
import requests
import responses

from carriers.base import (
    CarrierTimeout,
    CreatedShipment,
    DuplicateOrderError,
    NotSupported,
    Party,
    PermanentCarrierError,
    RetryableCarrierError,
    ShipmentRequest,
    WebhookRejected,
)
from tests.carriers.conftest import SANDBOXES, WIRE

CENTRE = Party(name="Trung tâm Phục vụ hành chính công", phone="02400000000", street="Số 258 Võ Chí Công",
               ward_code="00190", ward_name="Phường Phú Thượng", province_code="01", province_name="Thành phố Hà Nội")
CITIZEN = Party(name="Trần Thị Bình", phone="0912345678", street="Số 12 Nguyễn Trãi", ward_code="00367",
                ward_name="Phường Thanh Xuân", province_code="01", province_name="Thành phố Hà Nội")


def request_for(order_number="HCCTEST00001", cod_amount=120_000, note="") -> ShipmentRequest:
    return ShipmentRequest(order_number=order_number, sender=CENTRE, receiver=CITIZEN, weight_grams=300,
                           cod_amount=cod_amount, note=note)


def sent_bodies(wire, fragment: str) -> list[dict]:
    return [json.loads(c.request.body) for c in wire.calls if fragment in c.request.url and c.request.body
            and c.request.headers.get("Content-Type", "").startswith("application/json")]


ORDER_FIELD = {"vnpost": ("orderNumber", "codAmount"), "viettelpost": ("ORDER_NUMBER", "MONEY_COLLECTION"),
               "ghn": ("client_order_code", "cod_amount")}
CREATE_PATH = {"vnpost": "/api/v1/orders", "viettelpost": "/createOrder", "ghn": "/shipping-order/create"}


def test_create_sends_our_order_number_and_cod_and_returns_the_tracking_code(adapter, wire):
    created = adapter.create(request_for())
    assert isinstance(created, CreatedShipment) and created.tracking_code and created.fee > 0
    [body] = sent_bodies(wire, CREATE_PATH[adapter.name])
    order_field, cod_field = ORDER_FIELD[adapter.name]
    assert body[order_field] == "HCCTEST00001" and body[cod_field] == 120_000


def test_quotes_come_in_whole_dong(adapter, wire):
    rates = adapter.quote(request_for())
    assert rates and all(isinstance(r.fee, int) and r.fee > 0 and r.carrier == adapter.name for r in rates)


def test_the_label_is_a_pdf(adapter, wire):
    code = adapter.create(request_for()).tracking_code
    assert adapter.get_label(code).startswith(b"%PDF")


def test_cancel_before_pickup_succeeds_and_after_pickup_is_refused(adapter, wire, store):
    first = adapter.create(request_for("HCCTEST00001")).tracking_code
    adapter.cancel(first)
    second = adapter.create(request_for("HCCTEST00002")).tracking_code
    store.advance(3 * 3600)  # the postman has picked it up
    with pytest.raises(PermanentCarrierError):
        adapter.cancel(second)


def test_a_repeated_create_is_a_duplicate_never_a_second_parcel(adapter, wire, store):
    first = adapter.create(request_for())
    with pytest.raises(DuplicateOrderError) as raised:
        adapter.create(request_for())
    assert raised.value.tracking_code in (None, first.tracking_code)
    assert store.count(adapter.name, "HCCTEST00001") == 1
    try:
        found = adapter.find_by_order_number("HCCTEST00001")
    except NotSupported:
        # Viettel Post: with no look-up, the duplicate answer must carry the code, or a retry after a
        # timeout could never learn the parcel it made.
        assert raised.value.tracking_code == first.tracking_code
        return
    assert found.tracking_code == first.tracking_code
    assert adapter.find_by_order_number("HCCTEST99999") is None


def test_tracking_reports_our_vocabulary(adapter, wire, store):
    code = adapter.create(request_for()).tracking_code
    store.advance(25 * 3600)
    try:
        events = adapter.track(code)
    except NotSupported:
        assert adapter.has_webhooks  # a carrier we cannot ask tells us by webhook
        return
    statuses = [e.status for e in events]
    assert statuses[0] == "pending" and statuses[-1] == "delivered"
    delivered = events[-1]
    assert delivered.cod_collected == 120_000 and delivered.occurred_at.tzinfo is not None


def test_webhooks_are_parsed_and_a_bad_token_is_refused(adapter, wire, store, carrier_settings):
    code = adapter.create(request_for()).tracking_code
    store.advance(25 * 3600)
    module = SANDBOXES[adapter.name]
    if not hasattr(module, "webhook_body"):
        with pytest.raises(NotSupported):
            adapter.parse_webhook({}, {}, b"{}")
        return
    events = store.unsent_webhooks(adapter.name)
    bodies = [module.webhook_body(store, carrier_settings, e) for e in events]
    query = {"token": carrier_settings.get("HCC_GHN_WEBHOOK_SECRET") or "sandbox-ghn-webhook"}
    parsed = [adapter.parse_webhook({}, query, json.dumps(b).encode())[0] for b in bodies]
    assert [p.status for p in parsed][-1] == "delivered"
    assert all(p.tracking_code == code and p.order_number == "HCCTEST00001" for p in parsed)
    assert parsed[-1].cod_collected == 120_000
    assert len({p.event_id for p in parsed}) == len(parsed)

    forged = dict(bodies[-1], TOKEN="not-the-secret")
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, {"token": "not-the-secret"}, json.dumps(forged).encode())


def test_a_carrier_answering_503_is_retryable(adapter, carrier_settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), status=503, json={"message": "busy"})
        mock.add(responses.GET, re.compile(re.escape(WIRE) + r"/.*"), status=503, json={"message": "busy"})
        with pytest.raises(RetryableCarrierError):
            adapter.create(request_for())


def test_a_carrier_that_does_not_answer_in_time_raises_a_timeout(adapter):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ReadTimeout("slow"))
        with pytest.raises(CarrierTimeout):
            adapter.create(request_for())


def test_an_unreachable_carrier_is_retryable(adapter):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ConnectionError("refused"))
        with pytest.raises(RetryableCarrierError):
            adapter.create(request_for())


def test_a_refused_order_is_permanent(adapter, wire):
    bad = ShipmentRequest(order_number="HCCTEST00003", sender=CENTRE,
                          receiver=Party(name="", phone="", street="", ward_code="", ward_name="", province_code="01",
                                         province_name=""), weight_grams=300)
    with pytest.raises(PermanentCarrierError):
        adapter.create(bad)


def test_wrong_credentials_are_permanent(adapter, wire):
    adapter.config.password = "wrong"
    adapter.config.username = adapter.config.username or "someone"
    with pytest.raises(PermanentCarrierError):
        adapter.create(request_for())


def test_a_carrier_failing_again_and_again_is_left_alone_for_a_while(adapter):
    from carriers.base import CircuitOpen, breaker

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ConnectionError("refused"))
        for _ in range(breaker.failures):
            with pytest.raises(RetryableCarrierError):
                adapter.create(request_for())
        calls = len(mock.calls)
        with pytest.raises(CircuitOpen):
            adapter.create(request_for())
        assert len(mock.calls) == calls  # not even tried


def pickup_request_for(order_number="HCCPICKUP001") -> ShipmentRequest:
    # A dossier pickup: the citizen sends, the centre receives, nothing is collected.
    return ShipmentRequest(order_number=order_number, sender=CITIZEN, receiver=CENTRE, weight_grams=200,
                           content="Hồ sơ thủ tục hành chính")


def test_a_pickup_is_ordered_at_the_citizens_address_or_refused_as_not_supported(adapter, wire, store):
    if not adapter.has_pickup:
        with pytest.raises(NotSupported):
            adapter.request_pickup(pickup_request_for())
        return
    created = adapter.request_pickup(pickup_request_for())
    assert created.tracking_code and created.pickup_window
    parcel = store.by_order(adapter.name, "HCCPICKUP001")
    assert parcel is not None and parcel.tracking_code == created.tracking_code and parcel.cod_amount == 0
    [body] = sent_bodies(wire, CREATE_PATH[adapter.name])
    if adapter.name == "ghn":
        assert body["from_name"] == CITIZEN.name and body["from_phone"] == CITIZEN.phone
        assert body["to_name"] == CENTRE.name and len(body["pick_shift"]) == 1 and body["cod_amount"] == 0
        assert any("/v2/shift/date" in c.request.url and c.request.method == "GET" for c in wire.calls)
    else:
        assert body["SENDER_FULLNAME"] == CITIZEN.name and body["GROUPADDRESS_ID"] == 0
        assert body["DELIVERY_DATE"] and body["ORDER_PAYMENT"] == 1 and body["MONEY_COLLECTION"] == 0
    # Asked again under the same order number (a retry after a timeout), the carrier has one parcel.
    with pytest.raises(DuplicateOrderError):
        adapter.request_pickup(pickup_request_for())
    assert store.count(adapter.name, "HCCPICKUP001") == 1
