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
                  promised_date=None, dossier_code="000.00.01.H26-251124-0001", centre=None, **kwargs):
    centre = centre or ensure_demo_centre(session)
    s = create_shipment(session, centre, settings, dossier_code=dossier_code, carrier=carrier, cod_amount=cod_amount,
                        recipient=Recipient(name="Trần Thị Bình", phone="0912345678", street="Số 12 Nguyễn Trãi",
                                            ward=ward, province="Hà Nội"),
                        weight_grams=300, actor=STAFF, promised_date=promised_date, **kwargs)
    s.tracking_code = tracking_code
    session.commit()
    return s


def make_carrier_account(session, settings, centre, *, carrier="ghn", customer_code="4242", token="centre-token",
                         contract_number=None, pickup_address=None, active=True):
    """A centre's own account at a carrier, its token set as the CLI sets it (an encrypted credential)."""
    from province import secrets
    from province.models import CarrierAccount

    account = CarrierAccount(centre_id=centre.id, carrier=carrier, customer_code=customer_code,
                             contract_number=contract_number, pickup_address=pickup_address, active=active)
    session.add(account)
    session.flush()
    if token:
        secrets.set_secret(session, settings, "carrier_account", account.id, "carrier_token", token.encode())
    session.commit()
    return account


def carrier_event(status, *, hours=0, carrier_status=None, cod_collected=None, event_id=None, order_number=None,
                  tracking_code="G000000001"):
    return TrackingEvent(tracking_code=tracking_code, order_number=order_number, status=status,
                         carrier_status=carrier_status or status, occurred_at=T0 + timedelta(hours=hours),
                         cod_collected=cod_collected, event_id=event_id or f"{status}:{hours}",
                         raw={"Status": carrier_status or status, "hours": hours})
