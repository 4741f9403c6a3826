"""One contract suite, run against every carrier adapter over a faked wire: create, label, cancel, track,
webhooks and the classification of failures."""

from __future__ import annotations

import json
import re
from dataclasses import replace

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


_matchings: dict = {}


def ids_for(carrier: str, ward_code: str) -> dict[str, str]:
    """The carrier's own ids for our ward, as postal fills them: its sandbox catalogue (read through its
    adapter's `units()`) matched to our wards."""
    from carriers.catalogue import match
    from carriers.sandbox import current_units, legacy_units, succession
    from tests.carriers.conftest import sandbox_units

    if carrier not in _matchings:
        _matchings[carrier] = match(sandbox_units(carrier), legacy_units(), current_units(), succession())
    return dict(_matchings[carrier].mapped[ward_code].ids)


def with_ids(party: Party, carrier: str | None) -> Party:
    return replace(party, carrier_ids=ids_for(carrier, party.ward_code)) if carrier else party


def request_for(order_number="HCCTEST00001", cod_amount=120_000, note="", carrier: str | None = None) -> ShipmentRequest:
    """A result sent from the centre to the citizen; with `carrier`, each party carries that carrier's ids."""
    return ShipmentRequest(order_number=order_number, sender=with_ids(CENTRE, carrier),
                           receiver=with_ids(CITIZEN, carrier), weight_grams=300, cod_amount=cod_amount, note=note)


def sent_bodies(wire, fragment: str) -> list[dict]:
    return [json.loads(c.request.body) for c in wire.calls if fragment in c.request.url and c.request.body
            and c.request.headers.get("Content-Type", "").startswith("application/json")]


ORDER_FIELD = {"vnpost": "saleOrderCode", "viettelpost": "ORDER_NUMBER", "ghn": "client_order_code"}
CREATE_PATH = {"vnpost": "/CreateOrder", "viettelpost": "/createOrder", "ghn": "/shipping-order/create"}


def test_create_sends_our_order_number_and_cod_and_returns_the_tracking_code(adapter, wire, store):
    created = adapter.create(request_for(carrier=adapter.name))
    assert isinstance(created, CreatedShipment) and created.tracking_code and created.fee > 0
    [body] = sent_bodies(wire, CREATE_PATH[adapter.name])
    assert find_fields(body, {ORDER_FIELD[adapter.name]}) == {ORDER_FIELD[adapter.name]: "HCCTEST00001"}
    # The carrier (its sandbox, reading the order as the carrier does) collects the COD asked.
    assert store.by_order(adapter.name, "HCCTEST00001").cod_amount == 120_000


def test_quotes_come_in_whole_dong(adapter, wire):
    rates = adapter.quote(request_for(carrier=adapter.name))
    assert rates and all(isinstance(r.fee, int) and r.fee > 0 and r.carrier == adapter.name for r in rates)


def test_the_label_is_a_pdf(adapter, wire):
    code = adapter.create(request_for(carrier=adapter.name)).tracking_code
    assert adapter.get_label(code).startswith(b"%PDF")


def test_cancel_before_pickup_succeeds_and_after_pickup_is_refused(adapter, wire, store):
    first = adapter.create(request_for("HCCTEST00001", carrier=adapter.name)).tracking_code
    adapter.cancel(first)
    second = adapter.create(request_for("HCCTEST00002", carrier=adapter.name)).tracking_code
    store.advance(3 * 3600)  # the postman has picked it up
    with pytest.raises(PermanentCarrierError):
        adapter.cancel(second)


def test_a_repeated_create_is_a_duplicate_never_a_second_parcel(adapter, wire, store):
    first = adapter.create(request_for(carrier=adapter.name))
    with pytest.raises(DuplicateOrderError) as raised:
        adapter.create(request_for(carrier=adapter.name))
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
    code = adapter.create(request_for(carrier=adapter.name)).tracking_code
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
    code = adapter.create(request_for(carrier=adapter.name)).tracking_code
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
    if "signature" in forged:  # signed (VNPost): the same signature over another status (returned)
        forged["data"] = [dict(forged["data"][0], status="110")]
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, {"token": "not-the-secret"}, json.dumps(forged).encode())


def test_a_carrier_answering_503_is_retryable(adapter, carrier_settings):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), status=503, json={"message": "busy"})
        mock.add(responses.GET, re.compile(re.escape(WIRE) + r"/.*"), status=503, json={"message": "busy"})
        with pytest.raises(RetryableCarrierError):
            adapter.create(request_for(carrier=adapter.name))


def test_a_carrier_that_does_not_answer_in_time_raises_a_timeout(adapter):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ReadTimeout("slow"))
        with pytest.raises(CarrierTimeout):
            adapter.create(request_for(carrier=adapter.name))


def test_an_unreachable_carrier_is_retryable(adapter):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ConnectionError("refused"))
        with pytest.raises(RetryableCarrierError):
            adapter.create(request_for(carrier=adapter.name))


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
        adapter.create(request_for(carrier=adapter.name))


def test_a_carrier_failing_again_and_again_is_left_alone_for_a_while(adapter):
    from carriers.base import CircuitOpen, breaker

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, re.compile(re.escape(WIRE) + r"/.*"), body=requests.ConnectionError("refused"))
        for _ in range(breaker.failures):
            with pytest.raises(RetryableCarrierError):
                adapter.create(request_for(carrier=adapter.name))
        calls = len(mock.calls)
        with pytest.raises(CircuitOpen):
            adapter.create(request_for(carrier=adapter.name))
        assert len(mock.calls) == calls  # not even tried


def pickup_request_for(order_number="HCCPICKUP001", carrier: str | None = None, cod_amount: int = 0) -> ShipmentRequest:
    # A dossier pickup: the citizen sends, the centre receives; `cod_amount` is collected on pickup.
    return ShipmentRequest(order_number=order_number, sender=with_ids(CITIZEN, carrier),
                           receiver=with_ids(CENTRE, carrier), weight_grams=200, cod_amount=cod_amount,
                           content="Hồ sơ thủ tục hành chính")


def test_a_pickup_is_ordered_at_the_citizens_address_or_refused_as_not_supported(adapter, wire, store):
    if not adapter.has_pickup:
        with pytest.raises(NotSupported):
            adapter.request_pickup(pickup_request_for(carrier=adapter.name))
        return
    created = adapter.request_pickup(pickup_request_for(carrier=adapter.name))
    assert created.tracking_code and created.pickup_window
    parcel = store.by_order(adapter.name, "HCCPICKUP001")
    assert parcel is not None and parcel.tracking_code == created.tracking_code and parcel.cod_amount == 0
    [body] = sent_bodies(wire, CREATE_PATH[adapter.name])
    if adapter.name == "ghn":
        assert body["from_name"] == CITIZEN.name and body["from_phone"] == CITIZEN.phone
        assert body["to_name"] == CENTRE.name and len(body["pick_shift"]) == 1 and body["cod_amount"] == 0
        assert any("/v2/shift/date" in c.request.url and c.request.method == "GET" for c in wire.calls)
    elif adapter.name == "vnpost":
        info = body["informationOrder"]
        assert info["senderName"] == CITIZEN.name and info["receiverName"] == CENTRE.name
    else:
        assert body["SENDER_FULLNAME"] == CITIZEN.name and body["GROUPADDRESS_ID"] == 0
        assert body["DELIVERY_DATE"] and body["ORDER_PAYMENT"] == 1 and body["MONEY_COLLECTION"] == 0
    # Asked again under the same order number (a retry after a timeout), the carrier has one parcel.
    with pytest.raises(DuplicateOrderError):
        adapter.request_pickup(pickup_request_for(carrier=adapter.name))
    assert store.count(adapter.name, "HCCPICKUP001") == 1


# -- address codes: every adapter reads its carrier's catalogue and sends the carrier's own ids ---------

# Where each carrier's order carries the receiver's province, district and ward ids (None: no such level).
RECEIVER_ID_FIELDS = {
    "ghn": (None, "to_district_id", "to_ward_code"),
    "viettelpost": ("RECEIVER_PROVINCE", "RECEIVER_DISTRICT", "RECEIVER_WARD"),
}


def test_units_are_the_carriers_own_catalogue_covering_our_wards(adapter, wire):
    from carriers.base import CarrierUnit
    from carriers.catalogue import match
    from carriers.sandbox import current_units, legacy_units, succession

    try:
        units = adapter.units()
    except NotSupported:
        pytest.skip(f"{adapter.name} offers no catalogue: it takes our codes")
    assert units and all(isinstance(u, CarrierUnit) for u in units)
    levels = {u.level for u in units}
    assert {"province", "ward"} <= levels <= {"province", "district", "ward"}
    ids = {(u.level, u.id) for u in units}
    # Every unit hangs under one the catalogue holds: a ward under a district (or a province), ...
    for u in units:
        if u.level == "ward":
            assert ("district", u.parent_id) in ids or ("province", u.parent_id) in ids
        elif u.level == "district":
            assert ("province", u.parent_id) in ids
    result = match(units, legacy_units(), current_units(), succession())
    assert len(result.mapped) / result.total >= 0.99
    assert all(reason for reason in result.unmapped.values())


def find_fields(body, names) -> dict:
    """The first value of each field name anywhere in a (nested) JSON body."""
    found: dict = {}

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in names and k not in found:
                    found[k] = v
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(body)
    return found


def test_an_order_carries_the_carriers_own_ids_never_ours(adapter, wire, store):
    request = request_for("HCCIDS0001", carrier=adapter.name)
    adapter.create(request)
    payload = store.by_order(adapter.name, "HCCIDS0001").payload
    ids = request.receiver.carrier_ids
    assert ids.get("ward")
    if adapter.name in RECEIVER_ID_FIELDS:
        province_f, district_f, ward_f = RECEIVER_ID_FIELDS[adapter.name]
        sent = find_fields(payload, {f for f in (province_f, district_f, ward_f) if f})
        assert str(sent[ward_f]) == ids["ward"] and str(sent[district_f]) == ids["district"]
        if province_f:
            assert str(sent[province_f]) == ids["province"]
        # Our two-level code is in none of the id fields.
        assert CITIZEN.ward_code not in {str(v) for v in sent.values()}
    else:
        flat = json.dumps(payload, ensure_ascii=False)
        assert ids["ward"] in flat


@pytest.mark.parametrize("carrier", sorted(RECEIVER_ID_FIELDS))
def test_without_the_carriers_ids_nothing_is_sent(carrier, carrier_settings, wire):
    from carriers.base import get_carrier

    adapter = get_carrier(carrier, carrier_settings)
    with pytest.raises(PermanentCarrierError):
        adapter.create(request_for("HCCNOIDS01"))  # parties with our codes only
    assert not sent_bodies(wire, CREATE_PATH[carrier])


def test_a_pickup_passes_the_fee_collected_from_the_citizen(adapter, wire, store):
    if not adapter.has_pickup:
        pytest.skip(f"{adapter.name} does not pick up")
    adapter.request_pickup(pickup_request_for("HCCPICKFEE1", carrier=adapter.name, cod_amount=35_000))
    assert store.by_order(adapter.name, "HCCPICKFEE1").cod_amount == 35_000
