"""Shipments: creation rules, the status machine under carrier events, COD, notifications, deadlines."""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
from sqlalchemy import select

from core import audit
from core.accounts import ensure_demo_centre
from core.errors import InvalidInput
from core.models import OutboundMessage
from fees.models import Payment
from postal import documents
from postal.models import Shipment, ShipmentEvent
from postal.shipments import (
    Recipient,
    ShipmentTransitionError,
    apply_event,
    create_batch,
    create_shipment,
    overdue,
    staff_action,
)
from tests.postal.factories import STAFF, carrier_event, make_shipment

CARRIER = audit.Actor(type="carrier", id="ghn", name="ghn")


@pytest.fixture
def hcc_settings(app):
    return app.extensions["hcc"].settings


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_an_address_that_does_not_resolve_names_the_field(session, hcc_settings):
    with pytest.raises(InvalidInput) as raised:
        make_shipment(session, hcc_settings, ward="Phường Không Có Thật")
    assert "recipient.address.ward" in raised.value.errors


def test_a_cod_shipment_gets_a_pending_cod_payment_of_one_explicit_line(session, hcc_settings):
    s = make_shipment(session, hcc_settings, cod_amount=150_000)
    payment = session.get(Payment, s.payment_id)
    assert payment.status == "pending" and payment.allowed_channels == ["cod"] and payment.amount == 150_000
    assert [(i.fee_code, i.kind, i.amount) for i in payment.items] == [("COD", "le_phi", 150_000)]
    assert s.dossier_code in payment.items[0].name


def test_a_dossier_pickup_collects_no_money(session, hcc_settings):
    with pytest.raises(InvalidInput) as raised:
        make_shipment(session, hcc_settings, direction="inbound", cod_amount=10_000)
    assert "cod_amount" in raised.value.errors


def test_events_move_a_shipment_forward_and_never_back(session, hcc_settings):
    s = make_shipment(session, hcc_settings)
    assert apply_event(session, s, carrier_event("picked_up", hours=1), source="webhook", actor=CARRIER) == "applied"
    assert apply_event(session, s, carrier_event("out_for_delivery", hours=20), source="webhook",
                       actor=CARRIER) == "applied"
    # In transit arrives late (out of order): kept, but the parcel stays out for delivery.
    assert apply_event(session, s, carrier_event("in_transit", hours=5), source="webhook", actor=CARRIER) == "kept"
    assert s.status == "out_for_delivery"
    assert apply_event(session, s, carrier_event("delivered", hours=22), source="webhook", actor=CARRIER) == "applied"
    assert apply_event(session, s, carrier_event("delivery_failed", hours=23), source="webhook",
                       actor=CARRIER) == "kept"
    session.commit()
    assert s.status == "delivered"
    assert session.scalar(select(ShipmentEvent).where(ShipmentEvent.status == "in_transit")).raw  # raw kept


def test_a_replayed_event_is_ignored(session, hcc_settings):
    s = make_shipment(session, hcc_settings)
    assert apply_event(session, s, carrier_event("picked_up", hours=1), source="webhook", actor=CARRIER) == "applied"
    assert apply_event(session, s, carrier_event("picked_up", hours=1), source="webhook", actor=CARRIER) == "duplicate"
    session.commit()
    assert len(s.events) == 1


def test_a_failed_delivery_then_a_new_attempt_is_followed(session, hcc_settings):
    s = make_shipment(session, hcc_settings)
    for status, hours in (("out_for_delivery", 20), ("delivery_failed", 22), ("out_for_delivery", 44)):
        assert apply_event(session, s, carrier_event(status, hours=hours), source="webhook", actor=CARRIER) == "applied"
    assert s.status == "out_for_delivery"
    session.commit()
    texts = [m.body for m in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]
    assert len(texts) == 3 and "chưa phát được" in texts[1]  # both attempts and the failure were told


def test_the_citizen_is_told_when_sent_out_for_delivery_and_delivered(session, hcc_settings):
    s = make_shipment(session, hcc_settings)
    for status, hours in (("picked_up", 1), ("in_transit", 5), ("out_for_delivery", 20), ("delivered", 22)):
        apply_event(session, s, carrier_event(status, hours=hours), source="webhook", actor=CARRIER)
    session.commit()
    messages = list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))
    assert [m.recipient for m in messages] == ["0912345678"] * 3
    assert "đã được gửi" in messages[0].body and f"/t/{s.code}" in messages[0].body
    assert "phát thành công" in messages[2].body


def test_delivery_with_the_full_cod_amount_makes_the_payment_paid(session, hcc_settings):
    s = make_shipment(session, hcc_settings, cod_amount=150_000)
    apply_event(session, s, carrier_event("delivered", hours=22, cod_collected=150_000), source="webhook",
                actor=CARRIER)
    session.commit()
    payment = session.get(Payment, s.payment_id)
    assert (payment.status, payment.paid_amount, payment.channel_ref) == ("paid", 150_000, s.tracking_code)


def test_a_collected_amount_that_differs_is_flagged_on_both_sides(session, hcc_settings):
    s = make_shipment(session, hcc_settings, cod_amount=150_000)
    apply_event(session, s, carrier_event("delivered", hours=22, cod_collected=140_000), source="webhook",
                actor=CARRIER)
    session.commit()
    payment = session.get(Payment, s.payment_id)
    assert "cod_amount_mismatch" in s.flags and "cod_amount_mismatch" in payment.flags
    assert s.cod_collected == 140_000 and payment.status == "pending"


def test_a_returned_parcel_cancels_its_cod_payment(session, hcc_settings):
    s = make_shipment(session, hcc_settings, cod_amount=150_000)
    apply_event(session, s, carrier_event("returned", hours=50), source="webhook", actor=CARRIER)
    session.commit()
    assert session.get(Payment, s.payment_id).status == "cancelled"


def test_staff_return_a_failed_delivery_and_cannot_cancel_a_moving_parcel(session, hcc_settings):
    s = make_shipment(session, hcc_settings)
    apply_event(session, s, carrier_event("delivery_failed", hours=22), source="webhook", actor=CARRIER)
    with pytest.raises(ShipmentTransitionError, match="cannot cancel"):
        staff_action(session, s, "cancel", actor=STAFF, settings=hcc_settings)
    staff_action(session, s, "return", actor=STAFF, settings=hcc_settings, note="Người nhận đi vắng dài ngày")
    session.commit()
    assert s.status == "return_to_sender"


def test_results_past_their_promised_date_are_overdue_with_a_letter_of_apology(session, hcc_settings, tmp_path):
    late = make_shipment(session, hcc_settings, promised_date=date(2026, 1, 5))
    make_shipment(session, hcc_settings, promised_date=date(2099, 1, 1), tracking_code="G000000002")
    assert [s.id for s in overdue(session, late.centre_id, today=date(2026, 1, 10))] == [late.id]
    text = _text(documents.apology_pdf(late, late.centre, today=date(2026, 1, 10)), tmp_path)
    assert "THƯ XIN LỖI" in text and late.dossier_code in text and "05/01/2026" in text


def test_a_batch_has_one_carrier_and_a_handover_list_with_every_parcel(session, hcc_settings, tmp_path):
    a = make_shipment(session, hcc_settings, tracking_code="G000000011", cod_amount=50_000)
    b = make_shipment(session, hcc_settings, tracking_code="G000000012")
    other = make_shipment(session, hcc_settings, carrier="vnpost", tracking_code="EB000000013VN")
    with pytest.raises(InvalidInput):
        create_batch(session, a.centre, [a.id, other.id], actor=STAFF)
    batch = create_batch(session, a.centre, [a.id, b.id], actor=STAFF)
    session.commit()
    text = _text(documents.handover_pdf(batch, a.centre, "GHN"), tmp_path)
    assert "BẢNG KÊ BÀN GIAO BƯU GỬI" in text and "G000000011" in text and "G000000012" in text
    assert "50.000" in text and "BƯU TÁ" in text


def test_a_citizen_whose_dossier_is_picked_up_is_told_twice(session, hcc_settings):
    s = make_shipment(session, hcc_settings, direction="inbound")
    apply_event(session, s, carrier_event("picked_up", hours=1), source="webhook", actor=CARRIER)
    apply_event(session, s, carrier_event("delivered", hours=20), source="webhook", actor=CARRIER)
    session.commit()
    texts = [m.body for m in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]
    assert len(texts) == 2 and "đã nhận hồ sơ" in texts[0] and "đã đến trung tâm" in texts[1]


def test_the_staff_form_path_gets_the_api_limits(session, hcc_settings):
    # Without these, PostgreSQL refuses the over-long value with a 500 and SQLite stores it.
    for bad in ({"dossier_code": "H" * 65}, {"dossier_code": "  "}):
        with pytest.raises(InvalidInput) as e:
            make_shipment(session, hcc_settings, **bad)
        assert "dossier_code" in e.value.errors
        session.rollback()
    centre = ensure_demo_centre(session)
    with pytest.raises(InvalidInput) as e:
        create_shipment(session, centre, hcc_settings, dossier_code="H-1", weight_grams=300, actor=STAFF,
                        recipient=Recipient(name="", phone="abc", street="x" * 300, ward="Thanh Xuân",
                                            province="Hà Nội"))
    assert {"recipient.name", "recipient.phone", "recipient.address.street"} <= set(e.value.errors)
    session.rollback()
    assert session.query(Shipment).count() == 0


def test_a_dossier_pickup_never_goes_into_a_handover_batch(session, hcc_settings):
    s = make_shipment(session, hcc_settings, direction="inbound")
    with pytest.raises(InvalidInput) as e:
        create_batch(session, s.centre, [s.id], actor=STAFF)
    assert "thu gom" in " ".join(e.value.errors["shipment_ids"])


def test_a_pickup_with_no_carrier_named_goes_to_one_that_picks_up(session, hcc_settings):
    # The default carrier, VNPost, collects dossiers (a collection order, sendType 1).
    s = make_shipment(session, hcc_settings, direction="inbound", carrier=None)
    assert s.carrier == "vnpost"
