"""Collect on delivery, postal side: the COD payment of a shipment, made paid or cancelled by the parcel.

The money side lives in `fees` (`fees.gateways.cod`); this module is the one place postal calls it,
so tests can swap it for a fake and the contract stays visible.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core import audit
from core.models import Centre
from fees.payments import ItemRequest, Payer, create_payment

# A COD request waits for the parcel, not for an online checkout.
COD_EXPIRY = timedelta(days=90)


def create_cod_payment(session: Session, centre: Centre, *, dossier_code: str, payer: Payer, amount: int,
                       items: list[dict] | None, actor: audit.Actor) -> int:
    """A pending payment on the COD channel: the request's fee lines if given, else one explicit line."""
    if items:
        lines = [ItemRequest(fee_code=i["fee_code"], quantity=int(i.get("quantity", 1))) for i in items]
    else:
        lines = [ItemRequest(fee_code="COD", name=f"Phí, lệ phí thu hộ hồ sơ {dossier_code}", kind="le_phi",
                             unit_amount=amount)]
    payment = create_payment(session, centre, dossier_code=dossier_code, payer=payer, items=lines, channels=["cod"],
                             actor=actor, expires_in=COD_EXPIRY, extra={"source": "postal"})
    return payment.id


def record_collection(session: Session, payment_id: int, collected: int, carrier: str, tracking_code: str,
                      actor: audit.Actor) -> None:
    from fees.gateways.cod import record_cod_collection

    record_cod_collection(session, payment_id, collected, carrier, tracking_code, actor)


def cancel(session: Session, payment_id: int, reason: str, actor: audit.Actor) -> None:
    from fees.gateways.cod import cancel_cod_payment

    cancel_cod_payment(session, payment_id, reason, actor)
