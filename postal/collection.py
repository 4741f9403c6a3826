"""Dossier collection by post (thu gom hồ sơ qua bưu chính): the citizen's dossier is picked up at home
by a carrier and brought to the centre, whose receiving desk confirms it has the dossier.

Two facts, kept apart on purpose:

- the carrier's status (`Shipment.status`, moved only by `postal.shipments.transition` from the
  carrier's events): `delivered` means the carrier says its postman handed the parcel over at the
  centre's address;
- the centre's receipt (`Shipment.received_at`/`received_by`, recorded here only): a person at the
  receiving desk has the dossier in hand. It may come before the carrier's `delivered` (the postman
  hands it over before his scan reaches us) or after it; it is what the one-stop system is told
  (`shipment.received_at_centre`), since the legal clock of the dossier starts when the centre has it.

The receipt is never a carrier status, so no carrier event can undo it, and it is recorded once.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from carriers.base import supports_pickup
from core import audit, events
from core.addresses import AddressError, resolve_address
from core.clock import utcnow
from core.errors import Conflict, InvalidInput
from core.models import Centre
from core.settings import Settings
from core.text import clean_text
from fees.payments import Payer
from postal import cod
from postal.models import Shipment
from postal.shipments import Recipient, configured_carriers, create_shipment

RECEIVED_EVENT = "shipment.received_at_centre"
# Carrier statuses of a dossier on its way to the centre or handed over there (the receiving desk's list).
ON_ITS_WAY = ("picked_up", "in_transit", "out_for_delivery", "delivery_failed", "on_hold", "ready_for_pickup",
              "return_to_sender")
# A dossier that never left the citizen, or went back to them, cannot be received.
NOT_RECEIVABLE = ("cancelled", "returned")


class AlreadyReceived(Conflict):
    """Raised when the centre has already recorded this dossier as received."""

    code = "dossier-already-received"


class NotReceivable(Conflict):
    """Raised when the parcel is not a dossier on its way to the centre (an outbound result, a cancelled pickup)."""

    code = "dossier-not-receivable"


def request_collection(session: Session, centre: Centre, settings: Settings, *, dossier_code: str,
                       citizen: Recipient, weight_grams: int, actor: audit.Actor, carrier: str | None = None,
                       cod_amount: int = 0, items: list[dict] | None = None, service: str | None = None,
                       promised_date: date | None = None, note: str | None = None) -> Shipment:
    """Order a dossier pickup at the citizen's address; with `cod_amount` (or fee `items`) the postman
    also collects the procedure's fee on pickup, as a COD payment of the centre (like a result sent COD).

    The pickup itself (carrier choice, validation, creation at the carrier after commit) is
    `create_shipment(direction="inbound")`; the fee is attached here before the commit, so the
    background creation sees it.
    """
    if isinstance(cod_amount, bool) or not isinstance(cod_amount, int) or not 0 <= cod_amount <= 1_000_000_000:
        raise InvalidInput("the collection is not valid",
                           errors={"cod_amount": ["Số tiền thu hộ phải là số đồng từ 0 đến 1.000.000.000."]})
    wants_fee = cod_amount > 0 or bool(items)
    if wants_fee:
        # Refused before anything is written: the carrier this pickup would go to must collect fees.
        target = carrier if carrier and carrier != "auto" else next(
            (c for c in configured_carriers(settings, centre) if supports_pickup(c)), None)
        if carrier == "auto" or target is None or not collects_fee_on_pickup(target, settings):
            raise InvalidInput("this carrier does not collect fees on pickup", errors={"cod_amount": [
                f"Đơn vị vận chuyển '{target or carrier}' chưa nhận thu phí, lệ phí khi đến lấy hồ sơ."]})
    # The fee's payment first, the pickup last (as `create_shipment` does for a result sent COD): the
    # pickup enqueues its creation at the carrier, and a savepoint released after that (the payment's)
    # would start it before the request commits. An address that does not resolve is refused by
    # `create_shipment` before any payment is made.
    payment_id, amount = None, 0
    if wants_fee:
        try:
            address = resolve_address(session, citizen.street, citizen.ward, citizen.province).full
        except AddressError:
            address = None
        if address is not None:
            payer = Payer(name=citizen.name, phone=citizen.phone, address=address)
            payment_id = cod.create_cod_payment(session, centre, dossier_code=dossier_code, payer=payer,
                                                amount=cod_amount, items=items, actor=actor)
            from fees.models import Payment

            amount = session.get(Payment, payment_id).amount
            if cod_amount and amount != cod_amount:
                raise InvalidInput("COD amount differs from the fee lines", errors={
                    "cod_amount": [f"Tổng các khoản phí là {amount:,} đ, khác số tiền thu hộ."]})
    s = create_shipment(session, centre, settings, dossier_code=dossier_code, recipient=citizen,
                        weight_grams=weight_grams, actor=actor, direction="inbound", carrier=carrier,
                        cod_amount=0, service=service, promised_date=promised_date, note=note)
    if payment_id is not None:
        s.cod_amount, s.payment_id = amount, payment_id
        audit.record(session, actor, "shipment.collection_fee", entity_type="shipment", entity_id=s.id,
                     centre_id=centre.id, after={"cod_amount": amount, "payment_id": payment_id})
    return s


def collects_fee_on_pickup(carrier: str, settings: Settings) -> bool:
    """Whether the carrier's adapter collects money from the sender when it picks a parcel up.

    ASSUMPTION (the one place it is made): a carrier's COD is collected from the *receiver* at
    delivery, and a pickup sends the centre no money unless its adapter says otherwise. An adapter
    whose pickup order carries an amount the postman collects from the citizen (VNPost's
    administrative-dossier collection) declares `collects_fee_on_pickup = True` and sends
    `ShipmentRequest.cod_amount` of a pickup in that field; until one does, a fee on pickup is refused
    rather than recorded as money that nobody will collect.
    """
    from carriers.base import CarrierError, get_carrier

    try:
        return bool(getattr(get_carrier(carrier, settings), "collects_fee_on_pickup", False))
    except CarrierError:
        return False


def receivable(s: Shipment) -> bool:
    return s.direction == "inbound" and s.received_at is None and s.status not in NOT_RECEIVABLE \
        and (s.status != "pending" or bool(s.tracking_code))


def confirm_received(session: Session, s: Shipment, *, actor: audit.Actor, note: str | None = None) -> Shipment:
    """The receiving desk has the dossier: record who and when (once), audit it, tell the one-stop system."""
    if s.direction != "inbound":
        raise NotReceivable(f"shipment {s.code} is a result sent out, not a dossier coming in")
    if s.received_at is not None:
        raise AlreadyReceived(f"dossier {s.dossier_code} was received on {s.received_at.isoformat()} "
                              f"by {s.received_by}")
    if s.status in NOT_RECEIVABLE:
        raise NotReceivable(f"shipment {s.code} is {s.status}: the dossier is not coming to the centre")
    if s.status == "pending" and not s.tracking_code:
        raise NotReceivable(f"shipment {s.code} has no pickup order at the carrier yet")
    errors: dict[str, list[str]] = {}
    note = clean_text(note, 500, field="note", errors=errors, multiline=True) or None
    if errors:
        raise InvalidInput("the note is not valid", errors=errors)
    now = utcnow()
    who = (f"{actor.type}:{actor.id}" if actor.id else actor.type) + (f" ({actor.name})" if actor.name else "")
    # Only the first confirmation wins, even when two desks press the button at the same moment.
    result = session.execute(update(Shipment).where(Shipment.id == s.id, Shipment.received_at.is_(None))
                             .values(received_at=now, received_by=who[:128], received_note=note)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.refresh(s)
        raise AlreadyReceived(f"dossier {s.dossier_code} was received meanwhile by {s.received_by}")
    s.received_at, s.received_by, s.received_note = now, who[:128], note
    audit.record(session, actor, RECEIVED_EVENT, entity_type="shipment", entity_id=s.id, centre_id=s.centre_id,
                 before={"received_at": None, "carrier_status": s.status},
                 after={"received_at": now.isoformat(), "received_by": who[:128]}, detail=note)
    events.emit(session, RECEIVED_EVENT, shipment_id=s.id)
    return s


def receiving_list(session: Session, centre_ids: list[int], *, received: bool = False, limit: int = 200):
    """Inbound dossiers of these centres: on their way or handed over and not yet received (or, with
    `received`, the latest received), the ones the carrier delivered first."""
    stmt = select(Shipment).where(Shipment.direction == "inbound", Shipment.centre_id.in_(centre_ids))
    if received:
        stmt = stmt.where(Shipment.received_at.is_not(None)).order_by(Shipment.received_at.desc())
    else:
        stmt = stmt.where(Shipment.received_at.is_(None), Shipment.status.in_((*ON_ITS_WAY, "delivered")))
        stmt = stmt.order_by((Shipment.status != "delivered"), Shipment.delivered_at, Shipment.id)
    return list(session.scalars(stmt.limit(limit)))
