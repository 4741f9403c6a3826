"""Postal factories with keyword defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carriers.base import TrackingEvent
from core import audit
from core.accounts import ensure_demo_centre
from postal.shipments import Recipient, create_shipment

STAFF = audit.Actor(type="user", id="1", name="dispatcher")
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def make_shipment(session, settings, *, carrier="ghn", cod_amount=0, tracking_code="G000000001", ward="Thanh Xuân",
                  promised_date=None, dossier_code="000.00.01.H26-251124-0001", **kwargs):
    centre = ensure_demo_centre(session)
    s = create_shipment(session, centre, settings, dossier_code=dossier_code, carrier=carrier, cod_amount=cod_amount,
                        recipient=Recipient(name="Trần Thị Bình", phone="0912345678", street="Số 12 Nguyễn Trãi",
                                            ward=ward, province="Hà Nội"),
                        weight_grams=300, actor=STAFF, promised_date=promised_date, **kwargs)
    s.tracking_code = tracking_code
    session.commit()
    return s


def carrier_event(status, *, hours=0, carrier_status=None, cod_collected=None, event_id=None, order_number=None,
                  tracking_code="G000000001"):
    return TrackingEvent(tracking_code=tracking_code, order_number=order_number, status=status,
                         carrier_status=carrier_status or status, occurred_at=T0 + timedelta(hours=hours),
                         cod_collected=cod_collected, event_id=event_id or f"{status}:{hours}",
                         raw={"Status": carrier_status or status, "hours": hours})
