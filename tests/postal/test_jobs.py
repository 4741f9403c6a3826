"""Postal jobs against a fake carrier: failures, a cancel during creation, polling quiet webhook parcels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from carriers import base
from carriers.base import Carrier, CarrierConfig, CreatedShipment, PermanentCarrierError
from core.clock import utcnow
from postal.jobs import create_at_carrier, poll_tracking, redrive_creation
from postal.models import Shipment
from postal.shipments import staff_action
from tests.postal.factories import STAFF, carrier_event, make_shipment


class FakeCarrier(Carrier):
    """A carrier in memory: records calls; `on_create` lets a test act while the carrier is 'working'."""

    has_webhooks = True
    has_pickup = True
    calls: list[tuple[str, str]] = []
    on_create = None
    refuse = False
    tracked: list = []

    def quote(self, request):
        return [base.Rate(carrier="fake", service="STD", fee=20_000)]

    def create(self, request):
        FakeCarrier.calls.append(("create", request.order_number))
        if FakeCarrier.refuse:
            raise PermanentCarrierError("address refused")
        if FakeCarrier.on_create:
            FakeCarrier.on_create()
        return CreatedShipment(tracking_code="FAKE0001", fee=20_000)

    def request_pickup(self, request):
        FakeCarrier.calls.append(("pickup", request.order_number))
        return CreatedShipment(tracking_code="FAKE0002", fee=18_000, pickup_window="Ca lấy 25-11-2026 (7h00 - 12h00)")

    def cancel(self, tracking_code):
        FakeCarrier.calls.append(("cancel", tracking_code))

    def track(self, tracking_code, order_number=None):
        FakeCarrier.calls.append(("track", tracking_code))
        return FakeCarrier.tracked


@pytest.fixture
def fake(app):
    base.register("fake", lambda settings: CarrierConfig(base_url="memory://fake"))(FakeCarrier)
    app.extensions["hcc"].settings.extra["HCC_POSTAL_CARRIERS"] = "fake"
    FakeCarrier.calls, FakeCarrier.on_create, FakeCarrier.refuse, FakeCarrier.tracked = [], None, False, []
    yield app.extensions["hcc"].settings
    base._REGISTRY.pop("fake", None)


def _new(session, settings):
    s = make_shipment(session, settings, carrier="fake", tracking_code=None)
    session.expire_all()
    return session.get(Shipment, s.id)


def test_a_refused_order_is_flagged_for_staff_and_not_retried(fake, db, session):
    FakeCarrier.refuse = True
    s = _new(session, fake)
    assert "create_failed" in s.flags and "address refused" in s.last_error
    with db.session() as other:
        assert redrive_creation(other, min_age=timedelta(0)) == 0
    assert FakeCarrier.calls == [("create", s.code)]


def test_a_shipment_cancelled_while_the_carrier_creates_it_is_cancelled_there_too(fake, db, session):
    FakeCarrier.refuse = True  # first: leave it pending without a carrier order
    s = _new(session, fake)
    FakeCarrier.refuse = False
    s.flags = []
    session.commit()

    def staff_cancels_meanwhile():
        with db.session() as other:
            staff_action(other, other.get(Shipment, s.id), "cancel", actor=STAFF, settings=fake)

    FakeCarrier.on_create = staff_cancels_meanwhile
    create_at_carrier(s.id)
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert s.status == "cancelled" and s.tracking_code == "FAKE0001"
    assert ("cancel", "FAKE0001") in FakeCarrier.calls


def test_a_webhook_parcel_we_heard_nothing_of_is_asked_about(fake, db, session):
    s = _new(session, fake)
    assert s.tracking_code == "FAKE0001"
    FakeCarrier.tracked = [carrier_event("picked_up", hours=1, tracking_code="FAKE0001")]
    with db.session() as other:
        poll_tracking(other)
    assert ("track", "FAKE0001") not in FakeCarrier.calls  # heard from recently: left alone

    s.updated_at = utcnow() - timedelta(hours=7)
    session.commit()
    with db.session() as other:
        assert poll_tracking(other) == 1
    session.expire_all()
    assert session.get(Shipment, s.id).status == "picked_up"


def test_a_dossier_pickup_is_requested_not_created_and_the_citizen_told_when(fake, session):
    from sqlalchemy import select

    from core.models import OutboundMessage

    s = make_shipment(session, fake, carrier="fake", tracking_code=None, direction="inbound")
    create_at_carrier(s.id)
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert FakeCarrier.calls == [("pickup", s.code)]
    assert (s.tracking_code, s.pickup_window) == ("FAKE0002", "Ca lấy 25-11-2026 (7h00 - 12h00)")
    sms = session.scalars(select(OutboundMessage.body).where(OutboundMessage.entity_type == "shipment",
                                                         OutboundMessage.entity_id == str(s.id))).all()
    assert any("sẽ đến nhận hồ sơ" in body and "7h00 - 12h00" in body for body in sms)


def test_a_pickup_cannot_go_to_a_carrier_without_one(fake, session):
    from core.errors import InvalidInput

    FakeCarrier.has_pickup = False
    try:
        with pytest.raises(InvalidInput) as e:
            make_shipment(session, fake, carrier="fake", tracking_code=None, direction="inbound")
        assert "carrier" in e.value.errors
    finally:
        FakeCarrier.has_pickup = True


def test_a_worker_dying_mid_call_leaves_the_auto_choice_recorded_for_the_retry(fake, session):
    def die():
        raise RuntimeError("worker killed")  # anything unforeseen: the job is left to the sweep

    FakeCarrier.on_create = die
    s = make_shipment(session, fake, carrier="auto", tracking_code=None)  # its creation job runs at commit
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert ("create", s.code) in FakeCarrier.calls
    assert (s.carrier, s.service) == ("fake", "STD") and s.tracking_code is None and s.rates


def test_a_duplicate_with_no_code_and_no_look_up_is_left_for_staff_with_a_clear_reason(fake, session):
    from carriers.base import DuplicateOrderError

    def duplicate():
        raise DuplicateOrderError("order number exists")

    FakeCarrier.on_create = duplicate
    s = make_shipment(session, fake, carrier="fake", tracking_code=None)
    session.expire_all()
    s = session.get(Shipment, s.id)
    assert "create_failed" in s.flags and "look it up at the carrier" in s.last_error
