"""Integrating systems hear of their parcels: every shipment status change, and a dossier collected by
post received at the centre (`shipment.received_at_centre`), as signed webhooks (via fees)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from carriers.base import STATUSES
from core import events
from fees.webhooks import publish
from postal.models import Shipment


def shipment_payload(shipment: Shipment) -> dict:
    # Codes and statuses only: the recipient's name, phone and address stay with us.
    return {"id": shipment.id, "code": shipment.code, "dossier_code": shipment.dossier_code,
            "direction": shipment.direction, "carrier": shipment.carrier, "status": shipment.status,
            "tracking_code": shipment.tracking_code, "cod_amount": shipment.cod_amount,
            "cod_collected": shipment.cod_collected, "payment_id": shipment.payment_id,
            "promised_date": shipment.promised_date.isoformat() if shipment.promised_date else None,
            "delivered_at": shipment.delivered_at.isoformat() if shipment.delivered_at else None,
            # A dossier collected by post: when the centre's receiving desk confirmed it has it (null until then).
            "received_at": shipment.received_at.isoformat() if shipment.received_at else None}


def _announce(name: str):
    def handler(session: Session, shipment_id: int, **_data) -> None:
        shipment = session.get(Shipment, shipment_id)
        if shipment is not None:
            publish(session, shipment.centre_id, name, {"shipment": shipment_payload(shipment)})

    return handler


for _status in STATUSES:
    if _status not in ("pending", "unknown"):
        events.on(f"shipment.{_status}")(_announce(f"shipment.{_status}"))
# Not a carrier status: the centre's own fact (postal.collection.RECEIVED_EVENT), sent once.
events.on("shipment.received_at_centre")(_announce("shipment.received_at_centre"))
