"""What follows from a dossier's state: the result sent by post without retyping, its tracking code told to
the one-stop system, the reduced fee of an online dossier, and the dossier as the API shows it.

Result by post: when a dossier whose citizen chose `delivery: post` becomes `result_ready`, the outbound
shipment is created from the dossier's own address, through the centre's carrier account and its default
service (`DossierCentre`, else the centre's only active carrier account, else HCC_POSTAL_DEFAULT_CARRIER),
exactly once: the dossier row is locked and keeps `result_shipment_id`. Once the carrier has given the
tracking code, the one-stop system's webhook endpoints get `dossier.shipment_created` (fees.webhooks), once
(`tracking_announced_at`); a job does it after the creation job, a sweeper and the shipment's own status
events re-drive it.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, events, jobs
from core.clock import local_day, utcnow
from core.models import Centre
from core.settings import Settings
from dossiers.models import Dossier, DossierCentre
from dossiers.sync import centre_settings, get_dossier, lock_dossier
from fees import payments as fee_payments
from fees.models import Payment
from fees.webhooks import publish
from postal.models import Shipment
from postal.shipments import Recipient, create_shipment
from province.models import CarrierAccount

log = logging.getLogger(__name__)

SHIPMENT_CREATED_EVENT = "dossier.shipment_created"
RESULT_WEIGHT_GRAMS = 500  # a result in an A4 envelope, when the centre set no weight of its own


# ---- the result by post ---------------------------------------------------------------------------------


def result_carrier(session: Session, centre_id: int) -> tuple[str | None, str | None, int]:
    """(carrier, service, weight) for a centre's results by post. None lets postal pick its default."""
    own = centre_settings(session, centre_id)
    if own is not None and own.carrier:
        return own.carrier, own.service, own.weight_grams
    accounts = list(session.scalars(select(CarrierAccount.carrier).where(CarrierAccount.centre_id == centre_id,
                                                                         CarrierAccount.active.is_(True))))
    carrier = accounts[0] if len(accounts) == 1 else None
    return carrier, own.service if own is not None else None, own.weight_grams if own is not None else \
        RESULT_WEIGHT_GRAMS


def after_sync(session: Session, settings: Settings, dossier: Dossier, *, actor: audit.Actor) -> Shipment | None:
    """Act on the dossier's new state (call with the dossier locked, in the push's transaction)."""
    if dossier.status == "result_ready" and dossier.delivery == "post" and dossier.result_shipment_id is None:
        return send_result_by_post(session, settings, dossier, actor=actor)
    return None


def send_result_by_post(session: Session, settings: Settings, dossier: Dossier, *, actor: audit.Actor) -> Shipment:
    """Create the result shipment from the dossier (once); its creation at the carrier runs after commit."""
    centre = session.get(Centre, dossier.centre_id)
    carrier, service, weight = result_carrier(session, centre.id)
    shipment = create_shipment(
        session, centre, settings, dossier_code=dossier.code, actor=actor, carrier=carrier, service=service,
        weight_grams=weight, direction="outbound",
        recipient=Recipient(name=dossier.citizen_name, phone=dossier.citizen_phone or "", street=dossier.street or "",
                            ward=dossier.ward or "", province=dossier.province or ""),
        # The citizen was promised the result on the appointment day; postal's own promise applies otherwise.
        promised_date=dossier.appointment_date if dossier.appointment_date and dossier.appointment_date >= local_day()
        else None,
        note=f"Kết quả hồ sơ {dossier.code}")
    dossier.result_shipment_id = shipment.id
    audit.record(session, actor, "dossier.result_shipment_created", entity_type="dossier", entity_id=dossier.id,
                 centre_id=dossier.centre_id, after={"shipment_id": shipment.id, "carrier": shipment.carrier})
    session.flush()
    # Queued after postal's own creation job, so in the usual case the tracking code is there when it runs.
    jobs.enqueue_after_commit(session, announce_tracking, dossier.id)
    return shipment


def shipment_created_payload(dossier: Dossier, shipment: Shipment) -> dict:
    # Codes only: the citizen's name, phone and address stay with us (fees.webhooks.publish).
    public_url = jobs.settings().public_url
    return {"dossier": {"code": dossier.code, "status": dossier.status},
            "shipment": {"id": shipment.id, "code": shipment.code, "carrier": shipment.carrier,
                         "service": shipment.service, "tracking_code": shipment.tracking_code,
                         "tracking_url": f"{public_url}/t/{shipment.code}",
                         "promised_date": shipment.promised_date.isoformat() if shipment.promised_date else None}}


def announce_if_ready(session: Session, dossier_id: int) -> bool:
    """Publish `dossier.shipment_created` once the result shipment has its tracking code; True once announced."""
    dossier = lock_dossier(session, dossier_id)
    if dossier is None or dossier.result_shipment_id is None:
        return True
    if dossier.tracking_announced_at is not None:
        return True
    shipment = session.get(Shipment, dossier.result_shipment_id)
    if shipment is None or shipment.status == "cancelled":
        return True
    if not shipment.tracking_code:
        return False
    publish(session, dossier.centre_id, SHIPMENT_CREATED_EVENT, shipment_created_payload(dossier, shipment))
    dossier.tracking_announced_at = utcnow()
    return True


@jobs.job(retries=10, backoff=10.0)
def announce_tracking(dossier_id: int) -> None:
    with jobs.session_scope() as session:
        done = announce_if_ready(session, dossier_id)
    if not done:
        raise jobs.RetryableJobError("the carrier has not given the tracking code yet")


@jobs.register_sweeper
def redrive_announcements(session: Session) -> int:
    """Sweeper: result shipments whose tracking code is known but not yet told to the one-stop system."""
    ids = list(session.scalars(
        select(Dossier.id).join(Shipment, Shipment.id == Dossier.result_shipment_id)
        .where(Dossier.tracking_announced_at.is_(None), Shipment.tracking_code.is_not(None),
               Shipment.status != "cancelled").limit(200)))
    for dossier_id in ids:
        jobs.enqueue_after_commit(session, announce_tracking, dossier_id)
    return len(ids)


def _result_dossier(session: Session, shipment_id: int) -> Dossier | None:
    return session.scalar(select(Dossier).where(Dossier.result_shipment_id == shipment_id))


def _on_shipment_moved(session: Session, shipment_id: int, **_data) -> None:
    # A parcel that moved has its tracking code: a missed announcement goes out now, before its status news.
    dossier = _result_dossier(session, shipment_id)
    if dossier is not None and dossier.tracking_announced_at is None:
        announce_if_ready(session, dossier.id)


def _on_result_delivered(session: Session, shipment_id: int, **_data) -> None:
    """The postman handed the result over: the dossier is returned (trả kết quả), at the delivery time."""
    _on_shipment_moved(session, shipment_id)
    dossier = _result_dossier(session, shipment_id)
    if dossier is None or dossier.status not in ("result_ready", "processing"):
        return
    shipment = session.get(Shipment, shipment_id)
    dossier.status = "returned"
    dossier.returned_at = dossier.returned_at or shipment.delivered_at or utcnow()
    dossier.resolved_at = dossier.resolved_at or dossier.returned_at
    audit.record(session, audit.SYSTEM, "dossier.returned_by_post", entity_type="dossier", entity_id=dossier.id,
                 centre_id=dossier.centre_id, after={"shipment_id": shipment_id,
                                                     "returned_at": dossier.returned_at.isoformat()})


for _status in ("picked_up", "in_transit", "out_for_delivery"):
    events.on(f"shipment.{_status}")(_on_shipment_moved)
events.on("shipment.delivered")(_on_result_delivered)


# ---- the reduced fee of an online dossier ----------------------------------------------------------------


def submission_of(session: Session, centre_id: int, dossier_code: str) -> str | None:
    dossier = get_dossier(session, centre_id, dossier_code)
    return dossier.submission if dossier is not None else None


# fees never imports dossiers: it asks whoever registered how a dossier was submitted.
fee_payments.register_submission_lookup(submission_of)


# ---- the dossier as the API shows it ---------------------------------------------------------------------


def _optional(module: str, name: str):
    """A function of a sibling module another helper writes (dossiers.calendar, dossiers.apologies), if there."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def is_late(session: Session, dossier: Dossier, now: datetime | None = None) -> bool:
    """Late by the business calendar (`dossiers.calendar.is_late`); until that exists, by calendar days."""
    now = now or utcnow()
    calendar_is_late = _optional("dossiers.calendar", "is_late")
    if calendar_is_late is not None:
        return bool(calendar_is_late(session, dossier, now))
    return _late_by_calendar_days(dossier, local_day(now))


def _late_by_calendar_days(dossier: Dossier, today: date) -> bool:
    if dossier.appointment_date is None or dossier.status == "cancelled":
        return False
    if dossier.returned_at is not None:
        return local_day(dossier.returned_at) > dossier.appointment_date
    return dossier.appointment_date < today


def apologies_of(session: Session, dossier: Dossier) -> list[dict]:
    for_dossier = _optional("dossiers.apologies", "for_dossier")
    return list(for_dossier(session, dossier.id)) if for_dossier is not None else []


def payments_of(session: Session, dossier: Dossier) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.centre_id == dossier.centre_id,
                                                      Payment.dossier_code == dossier.code).order_by(Payment.id)))


def shipments_of(session: Session, dossier: Dossier) -> list[Shipment]:
    return list(session.scalars(select(Shipment).where(Shipment.centre_id == dossier.centre_id,
                                                       Shipment.dossier_code == dossier.code).order_by(Shipment.id)))


def configure_centre(session: Session, centre: Centre, *, level: str | None = None, carrier: str | None = None,
                     service: str | None = None, weight_grams: int | None = None) -> DossierCentre:
    """Set a centre's one-stop settings (CLI, tests); only the values given change."""
    own = session.get(DossierCentre, centre.id)
    if own is None:
        own = DossierCentre(centre_id=centre.id, level="province", weight_grams=RESULT_WEIGHT_GRAMS,
                            created_at=utcnow(), updated_at=utcnow())
        session.add(own)
    for key, value in (("level", level), ("carrier", carrier), ("service", service),
                       ("weight_grams", weight_grams)):
        if value is not None:
            setattr(own, key, value)
    session.flush()
    return own
