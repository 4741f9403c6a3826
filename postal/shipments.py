"""Shipments: creation, the one function that changes their status, carrier events, staff actions, batches."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carriers.base import (
    FINAL_STATUSES,
    RANK,
    STATUSES,
    Party,
    ShipmentRequest,
    TrackingEvent,
    carrier_names,
    supports_pickup,
)
from core import audit, events, jobs
from core.addresses import AddressError, resolve_address
from core.clock import local_day, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Centre
from core.notify import queue_message
from core.security import new_code
from core.settings import Setting, Settings, register_settings
from core.text import clean_text
from fees.payments import Payer
from postal import addressing, cod
from postal.models import DIRECTIONS, DispatchBatch, Shipment, ShipmentEvent

log = logging.getLogger(__name__)

register_settings(
    Setting("HCC_POSTAL_CARRIERS", "vnpost,viettelpost,ghn", "Carriers a centre may use (comma list); `HCC_POSTAL_CARRIERS_<CENTRE CODE>` overrides it for one centre."),
    Setting("HCC_POSTAL_DEFAULT_CARRIER", "vnpost", "Carrier used when a request names none; `auto` picks the cheapest quote."),
    Setting("HCC_POSTAL_QUIET_HOURS", "6", "Hours without a webhook after which a parcel of a webhook carrier is also asked about."),
    Setting("HCC_POSTAL_PROMISE_DAYS", "3", "Days (Vietnamese calendar) from dispatch to the promised delivery date, when none is given."),
)

# Statuses a staff member may ask for, and from where.
STAFF_ACTIONS = {
    "cancel": {"pending"},
    "return": {"delivery_failed", "on_hold", "ready_for_pickup", "out_for_delivery"},
    "redeliver": {"delivery_failed", "on_hold"},
}
NOTIFY_AT = {
    "picked_up": "Kết quả hồ sơ {dossier} đã được gửi qua bưu chính ({carrier}, mã vận đơn {tracking}). Theo dõi: {link}",
    "out_for_delivery": "Bưu tá đang phát kết quả hồ sơ {dossier} đến quý ông/bà. Theo dõi: {link}",
    "delivered": "Kết quả hồ sơ {dossier} đã được phát thành công. Cảm ơn quý ông/bà.",
    "delivery_failed": "Bưu tá chưa phát được kết quả hồ sơ {dossier}. Vui lòng liên hệ trung tâm hoặc theo dõi: {link}",
}
NOTIFY_INBOUND = {
    "picked_up": "Bưu tá đã nhận hồ sơ {dossier} của quý ông/bà để chuyển đến trung tâm ({carrier}, mã vận đơn {tracking}).",
    "delivered": "Hồ sơ {dossier} của quý ông/bà đã đến trung tâm. Trung tâm sẽ thông báo khi có kết quả.",
}
_PHONE = re.compile(r"^\+?[0-9 .]{8,15}$")
CARRIER_TITLES = {"vnpost": "VNPost", "viettelpost": "Viettel Post", "ghn": "GHN"}


class ShipmentTransitionError(Conflict):
    """Raised when a shipment cannot move from its current status to the one asked for."""

    code = "shipment-transition-not-allowed"


@dataclass(frozen=True)
class Recipient:
    name: str
    phone: str
    street: str
    ward: str
    province: str


def _clean_request(dossier_code: str, recipient: Recipient, note: str | None,
                   errors: dict[str, list[str]]) -> tuple[str, Recipient, str | None]:
    def clean(value, limit, field, **kw) -> str:
        return clean_text(value, limit, field=field, errors=errors, **kw) or ""

    cleaned = Recipient(name=clean(recipient.name, 255, "recipient.name", required=True),
                        phone=clean(recipient.phone, 32, "recipient.phone"),
                        street=clean(recipient.street, 255, "recipient.address.street", required=True),
                        ward=clean(recipient.ward, 128, "recipient.address.ward", required=True),
                        province=clean(recipient.province, 128, "recipient.address.province", required=True))
    return (clean(dossier_code, 64, "dossier_code", required=True), cleaned,
            clean(note, 500, "note", multiline=True) or None)


def configured_carriers(settings: Settings, centre: Centre | None = None) -> list[str]:
    raw = None
    if centre is not None:
        raw = settings.get(f"HCC_POSTAL_CARRIERS_{centre.code.upper().replace('-', '_')}")
    raw = raw or settings.get("HCC_POSTAL_CARRIERS") or "vnpost,viettelpost,ghn"
    known = set(carrier_names())
    return [c.strip() for c in raw.split(",") if c.strip() in known]


def centre_party(session: Session, centre: Centre, address: str | None = None) -> Party:
    """The centre as sender (or receiver of a pickup): its address (or `address`, the pickup address of
    its carrier account) resolved to the two-level units."""
    address = address or centre.address or ""
    parts = [p.strip() for p in address.split(",") if p.strip()]
    ward_code = ward_name = ""
    province_code, province_name = centre.province_code or "", ""
    street = address
    if len(parts) >= 3:
        try:
            r = resolve_address(session, ", ".join(parts[:-2]), parts[-2], parts[-1])
            street, ward_code, ward_name, province_code, province_name = (r.street, r.ward_code, r.ward_name,
                                                                          r.province_code, r.province_name)
        except AddressError:
            pass
    return Party(name=centre.name, phone=centre.phone or "", street=street, ward_code=ward_code, ward_name=ward_name,
                 province_code=province_code, province_name=province_name)


def recipient_party(s: Shipment) -> Party:
    return Party(name=s.recipient_name, phone=s.recipient_phone, street=s.street, ward_code=s.ward_code,
                 ward_name=s.ward_name, province_code=s.province_code, province_name=s.province_name)


def with_carrier_ids(session: Session, settings: Settings | None, carrier: str, party: Party) -> Party:
    """The party with this carrier's own province/district/ward ids for its ward (`Party.carrier_ids`).
    Raises addressing.UnmappableAddress when the carrier has none: never sent with a wrong code."""
    if not party.ward_code:
        return party  # no ward to map (a centre address that did not resolve): the adapter decides
    settings = settings or jobs.settings()
    ids = addressing.carrier_ids(session, settings, carrier, party.ward_code, party.ward_name)
    return replace(party, carrier_ids=ids)


def carrier_request(session: Session, s: Shipment, pickup_address: str | None = None, carrier: str | None = None,
                    settings: Settings | None = None) -> ShipmentRequest:
    """What goes to `carrier` (the shipment's own by default): our code as the order number, the centre
    and the citizen as parties, each with that carrier's own address ids. `pickup_address` (of the
    centre's account at that carrier) is where the carrier collects the centre's outbound parcels; a
    dossier pickup is still delivered to the centre's own address, and its `cod_amount` is what the
    postman collects from the citizen on pickup."""
    centre = centre_party(session, s.centre, pickup_address if s.direction == "outbound" else None)
    citizen = recipient_party(s)
    carrier = carrier or s.carrier
    if carrier and carrier != "auto":
        centre = with_carrier_ids(session, settings, carrier, centre)
        citizen = with_carrier_ids(session, settings, carrier, citizen)
    sender, receiver = (centre, citizen) if s.direction == "outbound" else (citizen, centre)
    content = ("Kết quả giải quyết thủ tục hành chính" if s.direction == "outbound"
               else "Hồ sơ thủ tục hành chính") + f" - hồ sơ {s.dossier_code}"
    return ShipmentRequest(order_number=s.code, sender=sender, receiver=receiver, weight_grams=s.weight_grams,
                           cod_amount=s.cod_amount or 0, service=s.service, content=content, note=s.note or "")


def _address_errors(session: Session, settings: Settings, carrier: str, candidates: list[str], address) -> list[str]:
    """Why no carrier that may take the shipment can address the citizen's ward (empty: one can).
    With an explicit carrier, that carrier must; with `auto`, at least one of the candidates."""
    names = candidates if carrier == "auto" else [carrier]
    reasons = []
    for name in names:
        why = addressing.mappable(session, settings, name, address.ward_code)
        if why is None:
            return []
        reasons.append(f"{CARRIER_TITLES.get(name, name)} chưa có mã địa chỉ cho {address.ward_name}, "
                       f"{address.province_name}: {why}")
    return reasons


def create_shipment(session: Session, centre: Centre, settings: Settings, *, dossier_code: str, recipient: Recipient,
                    weight_grams: int, actor: audit.Actor, direction: str = "outbound", carrier: str | None = None,
                    cod_amount: int = 0, service: str | None = None, promised_date: date | None = None,
                    note: str | None = None, items: list[dict] | None = None) -> Shipment:
    """Record a shipment (and its COD payment) and schedule its creation at the carrier."""
    errors: dict[str, list[str]] = {}
    requested_carrier = carrier
    carrier = carrier or settings.get("HCC_POSTAL_DEFAULT_CARRIER") or "vnpost"
    allowed = configured_carriers(settings, centre)
    if carrier != "auto" and carrier not in allowed:
        errors["carrier"] = [f"Đơn vị vận chuyển '{carrier}' chưa được cấu hình cho trung tâm."]
    # The staff form reaches here without the API's schema: the same limits, so PostgreSQL never
    # sees a value longer than its column (a 500 there) and a blank name is never sent to a carrier.
    # What the citizen's name and address become is decided here for every caller: NFC, no control
    # characters, within the columns (refused by name, never cut). Markup is kept; PDFs escape it.
    dossier_code, recipient, note = _clean_request(dossier_code, recipient, note, errors)
    if not _PHONE.match(recipient.phone or ""):
        errors["recipient.phone"] = ["Số điện thoại không hợp lệ."]
    if service is not None and len(service) > 32:
        errors["service"] = ["Tối đa 32 ký tự."]
    if direction not in DIRECTIONS:
        errors["direction"] = ["Chỉ nhận 'outbound' (trả kết quả) hoặc 'inbound' (thu gom hồ sơ)."]
    # The same bounds as the API (and the carriers' own limits), so no number overflows a column.
    if isinstance(weight_grams, bool) or not isinstance(weight_grams, int) or not 0 < weight_grams <= 50_000:
        errors["weight_grams"] = ["Khối lượng phải là số gam từ 1 đến 50.000."]
    if isinstance(cod_amount, bool) or not isinstance(cod_amount, int) or not 0 <= cod_amount <= 1_000_000_000:
        errors["cod_amount"] = ["Số tiền thu hộ phải là số đồng từ 0 đến 1.000.000.000."]
    elif direction == "inbound" and (cod_amount or items):
        errors["cod_amount"] = ["Thu gom hồ sơ không thu hộ tiền."]
    if direction == "inbound" and "carrier" not in errors:
        pickup_carriers = [c for c in allowed if supports_pickup(c)]
        if requested_carrier is None and pickup_carriers:
            carrier = pickup_carriers[0]
        elif carrier != "auto" and not supports_pickup(carrier):
            errors["carrier"] = [f"Đơn vị vận chuyển '{carrier}' không nhận thu gom hồ sơ tại nhà người dân."]
        elif not pickup_carriers:
            errors["carrier"] = ["Chưa cấu hình đơn vị vận chuyển nào nhận thu gom hồ sơ."]
    try:
        address = resolve_address(session, recipient.street, recipient.ward, recipient.province)
    except AddressError as e:
        errors.setdefault(f"recipient.address.{e.field}", [str(e)])
        address = None
    if address is not None and "carrier" not in errors:
        candidates = configured_carriers(settings, centre)
        if direction == "inbound":
            candidates = [c for c in candidates if supports_pickup(c)]
        unmapped = _address_errors(session, settings, carrier, candidates, address)
        if unmapped:
            errors["recipient.address.ward"] = unmapped
    if errors:
        raise InvalidInput("the shipment is not valid", errors=errors)
    today = local_day()
    if promised_date is None:
        promised_date = today + timedelta(days=settings.get_int("HCC_POSTAL_PROMISE_DAYS", 3))
    now = utcnow()
    s = Shipment(centre_id=centre.id, dossier_code=dossier_code, direction=direction, carrier=carrier,
                 service=service, status="pending", recipient_name=recipient.name, recipient_phone=recipient.phone,
                 street=address.street, ward_code=address.ward_code, ward_name=address.ward_name,
                 province_code=address.province_code, province_name=address.province_name,
                 weight_grams=weight_grams, cod_amount=cod_amount, note=note, promised_date=promised_date,
                 rates=[], flags=[], create_attempts=0, created_at=now, updated_at=now,
                 created_by=f"{actor.type}:{actor.id}" if actor.id else actor.type)
    if direction == "outbound" and (cod_amount > 0 or items):
        payer = Payer(name=recipient.name, phone=recipient.phone, address=address.full)
        payment_id = cod.create_cod_payment(session, centre, dossier_code=dossier_code, payer=payer, amount=cod_amount,
                                            items=items, actor=actor)
        from fees.models import Payment

        amount = session.get(Payment, payment_id).amount
        if cod_amount and amount != cod_amount:
            raise InvalidInput("COD amount differs from the fee lines",
                               errors={"cod_amount": [f"Tổng các khoản phí là {amount:,} đ, khác số tiền thu hộ."]})
        s.cod_amount, s.payment_id = amount, payment_id
    for _attempt in range(5):
        s.code = new_code(12)
        try:
            with session.begin_nested():
                session.add(s)
                session.flush()
            break
        except IntegrityError:
            continue
    else:
        raise Conflict("could not allocate a shipment code")
    audit.record(session, actor, "shipment.created", entity_type="shipment", entity_id=s.id, centre_id=centre.id,
                 after={"code": s.code, "dossier_code": dossier_code, "carrier": carrier, "direction": direction,
                        "cod_amount": s.cod_amount})
    # postal.jobs reacts by creating the parcel at the carrier once this commits (it imports this module,
    # so this one does not import it back).
    events.emit(session, "shipment.created", shipment_id=s.id)
    return s


def get_shipment(session: Session, shipment_id: int, centre_id: int | None = None) -> Shipment:
    # A path id beyond any row id (and beyond what the database's integer holds) is simply not found.
    s = session.get(Shipment, shipment_id) if 0 < shipment_id < 2**63 else None
    if s is None or (centre_id is not None and s.centre_id != centre_id):
        raise NotFound("shipment not found")
    return s


def lock_shipment(session: Session, shipment_id: int) -> Shipment | None:
    """Read a shipment under a write lock (FOR UPDATE on PostgreSQL; SQLite's write lock otherwise)."""
    stmt = select(Shipment).where(Shipment.id == shipment_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Shipment).where(Shipment.id == shipment_id).values(id=Shipment.id))
    else:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def transition(session: Session, s: Shipment, to: str, *, actor: audit.Actor, reason: str | None = None,
               **changes) -> Shipment:
    """Move a shipment to `to`: check the edge, apply `changes`, audit, notify, emit `shipment.<to>`."""
    before = s.status
    # Nothing goes back to pending (a parcel once at the carrier is never un-sent), and there is no such event.
    if to not in STATUSES or to in ("pending", "unknown") or before in FINAL_STATUSES or to == before:
        raise ShipmentTransitionError(f"shipment {s.code} cannot go from {before} to {to}")
    now = utcnow()
    values = {"status": to, "updated_at": now, **changes}
    if to == "delivered":
        values.setdefault("delivered_at", now)
    result = session.execute(update(Shipment).where(Shipment.id == s.id, Shipment.status == before)
                             .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.refresh(s)
        raise ShipmentTransitionError(f"shipment {s.code} changed meanwhile ({s.status})")
    for k, v in values.items():
        setattr(s, k, v)
    audit.record(session, actor, f"shipment.{to}", entity_type="shipment", entity_id=s.id, centre_id=s.centre_id,
                 before={"status": before}, after={"status": to}, detail=reason)
    _notify(session, s, to)
    events.emit(session, f"shipment.{to}", shipment_id=s.id, previous=before)
    return s


def tracking_link(s: Shipment) -> str:
    settings = jobs.settings()
    base = settings.public_url if settings is not None else ""
    return f"{base}/t/{s.code}"


def _notify(session: Session, s: Shipment, status: str) -> None:
    text = (NOTIFY_AT if s.direction == "outbound" else NOTIFY_INBOUND).get(status)
    if text is None or not s.recipient_phone:
        return
    # A second delivery attempt is news too; the purpose carries the attempt so it is not deduplicated away.
    from sqlalchemy import func

    attempt = session.scalar(select(func.count(ShipmentEvent.id)).where(
        ShipmentEvent.shipment_id == s.id, ShipmentEvent.status == status, ShipmentEvent.applied.is_(True))) or 0
    queue_message(session, channel="sms", recipient=s.recipient_phone, centre_id=s.centre_id,
                  body=text.format(dossier=s.dossier_code, carrier=CARRIER_TITLES.get(s.carrier, s.carrier),
                                   tracking=s.tracking_code or "", link=tracking_link(s)),
                  entity_type="shipment", entity_id=s.id, purpose=f"shipment-{status}-{max(attempt, 1)}")


def notify_pickup_requested(session: Session, s: Shipment) -> None:
    """Tell the citizen a postman is coming for the dossier, and when."""
    if not s.recipient_phone:
        return
    when = f" ({s.pickup_window})" if s.pickup_window else ""
    queue_message(session, channel="sms", recipient=s.recipient_phone, centre_id=s.centre_id,
                  body=f"{CARRIER_TITLES.get(s.carrier, s.carrier)} sẽ đến nhận hồ sơ {s.dossier_code} tại địa chỉ "
                       f"của quý ông/bà{when}. Theo dõi: {tracking_link(s)}",
                  entity_type="shipment", entity_id=s.id, purpose="shipment-pickup-requested")


def may_apply(current: str, new: str, occurred_at: datetime, last_event_at: datetime | None) -> bool:
    """Events never move a shipment backwards: a higher rank wins; within a rank, only a later event."""
    if new == "unknown" or new == current or current in FINAL_STATUSES:
        return False
    if RANK[new] > RANK[current]:
        return True
    if RANK[new] == RANK[current]:
        return last_event_at is None or occurred_at > last_event_at
    return False


def apply_event(session: Session, s: Shipment, ev: TrackingEvent, *, source: str, actor: audit.Actor) -> str:
    """Record a carrier event (kept raw) and move the shipment if it is news; 'applied', 'kept' or 'duplicate'."""
    key = (ev.event_id or f"{ev.carrier_status}:{ev.occurred_at.isoformat()}")[:160]
    exists = session.scalar(select(ShipmentEvent.id).where(ShipmentEvent.shipment_id == s.id,
                                                           ShipmentEvent.dedup_key == key))
    if exists is not None:
        return "duplicate"
    row = ShipmentEvent(shipment_id=s.id, status=ev.status, carrier_status=ev.carrier_status[:64],
                        description=(ev.description or "")[:255], occurred_at=ev.occurred_at, received_at=utcnow(),
                        source=source, dedup_key=key, cod_collected=ev.cod_collected, applied=False,
                        raw=_jsonable(ev.raw))
    session.add(row)
    session.flush()
    if not may_apply(s.status, ev.status, ev.occurred_at, s.last_event_at):
        return "kept"
    row.applied = True
    changes: dict = {"carrier_status": ev.carrier_status[:64], "last_event_at": ev.occurred_at}
    if ev.tracking_code and not s.tracking_code:
        changes["tracking_code"] = ev.tracking_code
    if ev.status == "delivered":
        changes["delivered_at"] = ev.occurred_at
        if ev.cod_collected is not None:
            changes["cod_collected"] = ev.cod_collected
    transition(session, s, ev.status, actor=actor, reason=ev.description or ev.carrier_status, **changes)
    if s.payment_id is not None:
        if ev.status == "delivered":
            collected = ev.cod_collected if ev.cod_collected is not None else s.cod_amount
            if collected != s.cod_amount:
                _flag(s, "cod_amount_mismatch")
                audit.record(session, actor, "shipment.flagged", entity_type="shipment", entity_id=s.id,
                             centre_id=s.centre_id, after={"flag": "cod_amount_mismatch", "collected": collected,
                                                           "expected": s.cod_amount})
            cod.record_collection(session, s.payment_id, collected, s.carrier, s.tracking_code or "", actor)
        elif ev.status in ("returned", "cancelled"):
            cod.cancel(session, s.payment_id, "bưu gửi bị chuyển hoàn" if ev.status == "returned" else "huỷ bưu gửi",
                       actor)
    return "applied"


def _flag(s: Shipment, flag: str) -> None:
    if flag not in (s.flags or []):
        s.flags = [*(s.flags or []), flag]


def _jsonable(raw) -> dict:
    import json

    try:
        return json.loads(json.dumps(raw, default=str))
    except (TypeError, ValueError):
        return {"repr": repr(raw)[:2000]}


def find_for_event(session: Session, carrier: str, ev: TrackingEvent) -> Shipment | None:
    if ev.order_number:
        s = session.scalar(select(Shipment).where(Shipment.code == ev.order_number, Shipment.carrier == carrier))
        if s is not None:
            # Our order number on another parcel (one the carrier made and we never adopted) is not
            # news about ours: its cancellation must not cancel the parcel we are tracking.
            if s.tracking_code and ev.tracking_code and ev.tracking_code != s.tracking_code:
                return None
            return s
    if ev.tracking_code:
        return session.scalar(select(Shipment).where(Shipment.tracking_code == ev.tracking_code,
                                                     Shipment.carrier == carrier))
    return None


def staff_action(session: Session, s: Shipment, action: str, *, actor: audit.Actor, settings: Settings,
                 note: str | None = None) -> str:
    """Cancel (before pickup), return to sender or ask for redelivery; the carrier is told where it can be."""
    from carriers.base import CarrierError, NotSupported
    from postal.accounts import carrier_for_centre

    allowed = STAFF_ACTIONS.get(action)
    if allowed is None:
        raise InvalidInput("unknown action", errors={"action": ["Thao tác không hợp lệ."]})
    if s.status not in allowed:
        raise ShipmentTransitionError(f"shipment {s.code} is {s.status}: cannot {action}")
    told = "no"
    if action == "cancel":
        if s.tracking_code and s.carrier != "auto":
            try:
                # Cancelled through the account the parcel was ordered with: its centre's own, if any.
                carrier_for_centre(session, settings, s.carrier, s.centre_id).cancel(s.tracking_code)
                told = "yes"
            except NotSupported:
                told = "not supported"
            except CarrierError as e:
                raise Conflict(f"Đơn vị vận chuyển từ chối huỷ: {e}", code="carrier-refused") from e
        transition(session, s, "cancelled", actor=actor, reason=note or "cán bộ huỷ bưu gửi")
        if s.payment_id is not None:
            cod.cancel(session, s.payment_id, "huỷ bưu gửi", actor)
    elif action == "return":
        transition(session, s, "return_to_sender", actor=actor, reason=note or "cán bộ yêu cầu chuyển hoàn")
    else:
        audit.record(session, actor, "shipment.redelivery_requested", entity_type="shipment", entity_id=s.id,
                     centre_id=s.centre_id, detail=note)
        _flag(s, "redelivery_requested")
    session.add(ShipmentEvent(shipment_id=s.id, status=s.status, carrier_status=f"staff:{action}",
                              description=(note or action)[:255], occurred_at=utcnow(), received_at=utcnow(),
                              source="staff", dedup_key=f"staff:{action}:{utcnow().isoformat()}", applied=False,
                              raw={"action": action, "carrier_told": told}))
    return told


def create_batch(session: Session, centre: Centre, shipment_ids: list[int], *, actor: audit.Actor) -> DispatchBatch:
    """Put parcels of one carrier, created there and not yet handed over, into a handover batch."""
    if any(not 0 < i < 2**63 for i in shipment_ids):
        raise InvalidInput("unknown shipments", errors={"shipment_ids": ["Có bưu gửi không tồn tại."]})
    shipments = list(session.scalars(select(Shipment).where(Shipment.id.in_(shipment_ids),
                                                            Shipment.centre_id == centre.id)))
    if not shipments or len(shipments) != len(set(shipment_ids)):
        raise InvalidInput("unknown shipments", errors={"shipment_ids": ["Có bưu gửi không tồn tại."]})
    carriers = {s.carrier for s in shipments}
    errors = []
    if len(carriers) != 1:
        errors.append("Một bảng kê chỉ gồm bưu gửi của một đơn vị vận chuyển.")
    for s in shipments:
        if s.batch_id is not None:
            errors.append(f"Bưu gửi {s.code} đã có trong bảng kê khác.")
        if not s.tracking_code:
            errors.append(f"Bưu gửi {s.code} chưa có mã vận đơn.")
        if s.status != "pending":
            errors.append(f"Bưu gửi {s.code} không còn chờ bàn giao ({s.status}).")
        if s.direction == "inbound":
            errors.append(f"Bưu gửi {s.code} là thu gom hồ sơ: bưu tá lấy tại nhà người dân, không qua bảng kê.")
    if errors:
        raise InvalidInput("these shipments cannot form a batch", errors={"shipment_ids": errors})
    batch = DispatchBatch(centre_id=centre.id, carrier=carriers.pop(), created_at=utcnow(),
                          created_by=actor.name or actor.type, code="")
    session.add(batch)
    session.flush()
    batch.code = f"BK-{local_day():%Y%m%d}-{batch.id:05d}"
    for s in shipments:
        s.batch_id = batch.id
    audit.record(session, actor, "dispatch_batch.created", entity_type="dispatch_batch", entity_id=batch.id,
                 centre_id=centre.id, after={"code": batch.code, "shipments": [s.id for s in shipments]})
    return batch


def overdue(session: Session, centre_id: int, today: date | None = None) -> list[Shipment]:
    """Results promised by a day already past and still not delivered (cancelled ones aside)."""
    today = today or local_day()
    return list(session.scalars(select(Shipment).where(
        Shipment.centre_id == centre_id, Shipment.direction == "outbound", Shipment.promised_date < today,
        Shipment.status.not_in(("delivered", "cancelled"))).order_by(Shipment.promised_date, Shipment.id)))
