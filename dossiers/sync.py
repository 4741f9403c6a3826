"""Dossiers pushed by the one-stop system (API or signed webhook): validated, then created or updated by code.

The one-stop system (Hệ thống thông tin giải quyết TTHC of the province) is the source of truth: each push
carries the dossier as it stands and replaces what we held, so the same push twice is one dossier in one
state. What follows from a status (the result shipment when a result by post is ready) is `dossiers.service`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import audit
from core.addresses import AddressError, resolve_address
from core.clock import utcnow
from core.errors import InvalidInput
from core.models import Centre
from core.settings import Setting, Settings, register_settings
from core.text import clean_text
from dossiers.models import DELIVERIES, LEVELS, STATUSES, SUBMISSIONS, Dossier, DossierCentre
from province.models import CollectingUnit
from province.units import units_served_at

register_settings(
    Setting("HCC_DOSSIER_DEFAULT_LEVEL", "province",
            "Level (`province`, `district`, `commune`) of a dossier pushed without one, for a centre whose "
            "one-stop settings name none."),
)

# Fields kept in the audit row of a change (no citizen details there: the dossier row holds them).
_AUDITED = ("procedure_code", "unit_id", "level", "appointment_date", "submission", "delivery", "status")


@dataclass(frozen=True)
class Citizen:
    name: str
    phone: str | None = None
    email: str | None = None
    street: str | None = None
    ward: str | None = None
    province: str | None = None


@dataclass(frozen=True)
class DossierData:
    """A dossier as the one-stop system sends it (`PUT /api/v1/dossiers/<code>` and the inbound webhook)."""

    procedure_code: str
    procedure_name: str
    received_at: datetime
    citizen: Citizen
    unit_code: str | None = None
    level: str | None = None
    appointment_date: date | None = None
    submission: str = "in_person"
    delivery: str = "desk"
    status: str = "received"
    resolved_at: datetime | None = None
    returned_at: datetime | None = None


def centre_settings(session: Session, centre_id: int) -> DossierCentre | None:
    return session.get(DossierCentre, centre_id)


def default_level(session: Session, settings: Settings, centre_id: int) -> str:
    own = centre_settings(session, centre_id)
    if own is not None:
        return own.level
    level = settings.get("HCC_DOSSIER_DEFAULT_LEVEL") or "province"
    return level if level in LEVELS else "province"


def get_dossier(session: Session, centre_id: int, code: str, *, lock: bool = False) -> Dossier | None:
    """The centre's dossier `code`; with `lock`, under a write lock held to the end of the transaction.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks; a no-op UPDATE takes the database's write
    lock first (as fees.payments.lock_payment does), so a second push waits and then reads the first's result.
    """
    where = (Dossier.centre_id == centre_id, Dossier.code == code)
    stmt = select(Dossier).where(*where)
    if lock:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(update(Dossier).where(*where).values(code=Dossier.code))
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def lock_dossier(session: Session, dossier_id: int) -> Dossier | None:
    """The dossier by id under a write lock (see get_dossier)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Dossier).where(Dossier.id == dossier_id).values(code=Dossier.code))
    return session.scalar(select(Dossier).where(Dossier.id == dossier_id).with_for_update()
                          .execution_options(populate_existing=True))


def _unit(session: Session, centre: Centre, code: str | None, errors: dict[str, list[str]]) -> CollectingUnit | None:
    served = units_served_at(session, centre.id)
    if code:
        unit = next((u for u in served if u.code == code), None)
        if unit is None:
            errors["unit_code"] = [f"Trung tâm không phục vụ đơn vị mã '{code}'."]
        return unit
    if len(served) > 1:
        errors["unit_code"] = ["Trung tâm phục vụ nhiều đơn vị: cần mã đơn vị tiếp nhận."]
    return served[0] if len(served) == 1 else None


def _aware(value: datetime | None, field: str, errors: dict[str, list[str]]) -> datetime | None:
    if value is not None and value.tzinfo is None:
        errors[field] = ["Cần múi giờ (ISO 8601, ví dụ 2026-12-01T08:30:00+07:00)."]
        return None
    return value


def _clean(session: Session, settings: Settings, centre: Centre, code: str, data: DossierData) -> dict:
    """The dossier's columns as stored, or InvalidInput naming every bad field."""
    errors: dict[str, list[str]] = {}

    def text(value, limit, field, **kw):
        return clean_text(value, limit, field=field, errors=errors, **kw)

    values = {
        "code": text(code, 64, "code", required=True),
        "procedure_code": text(data.procedure_code, 64, "procedure_code", required=True),
        "procedure_name": text(data.procedure_name, 500, "procedure_name", required=True),
        "citizen_name": text(data.citizen.name, 255, "citizen.name", required=True),
        "citizen_phone": text(data.citizen.phone, 32, "citizen.phone") or None,
        "citizen_email": text(data.citizen.email, 255, "citizen.email") or None,
        "street": text(data.citizen.street, 255, "citizen.address.street") or None,
        "ward": text(data.citizen.ward, 128, "citizen.address.ward") or None,
        "province": text(data.citizen.province, 128, "citizen.address.province") or None,
        "appointment_date": data.appointment_date,
        "received_at": _aware(data.received_at, "received_at", errors),
        "resolved_at": _aware(data.resolved_at, "resolved_at", errors),
        "returned_at": _aware(data.returned_at, "returned_at", errors),
    }
    for field, value, allowed in (("level", data.level, LEVELS), ("submission", data.submission, SUBMISSIONS),
                                  ("delivery", data.delivery, DELIVERIES), ("status", data.status, STATUSES)):
        if value is not None and value not in allowed:
            errors[field] = [f"Một trong: {', '.join(allowed)}."]
    values.update(level=data.level or default_level(session, settings, centre.id), submission=data.submission,
                  delivery=data.delivery, status=data.status)
    unit = _unit(session, centre, data.unit_code, errors)
    values["unit_id"] = unit.id if unit is not None else None
    if data.appointment_date is not None and values["received_at"] is not None \
            and data.appointment_date < values["received_at"].date():
        errors["appointment_date"] = ["Ngày hẹn trả không được trước ngày tiếp nhận."]
    if data.delivery == "post":
        # A result by post needs somewhere to go and someone the postman can call: refused now, not when
        # the result is ready and nobody is watching.
        if not values["citizen_phone"]:
            errors.setdefault("citizen.phone", ["Trả kết quả qua bưu chính cần số điện thoại."])
        missing = [f for f in ("street", "ward", "province") if not values[f]]
        for f in missing:
            errors.setdefault(f"citizen.address.{f}", ["Trả kết quả qua bưu chính cần địa chỉ."])
        if not missing and not any(k.startswith("citizen.address") for k in errors):
            try:
                resolve_address(session, values["street"], values["ward"], values["province"])
            except AddressError as e:
                errors.setdefault(f"citizen.address.{e.field}", [str(e)])
    if errors:
        raise InvalidInput("the dossier is not valid", errors=errors)
    return values


def upsert_dossier(session: Session, settings: Settings, centre: Centre, code: str, data: DossierData, *,
                   actor: audit.Actor, source: str = "api") -> tuple[Dossier, bool]:
    """Create or update the centre's dossier `code` from `data`; returns it and whether it was created.

    The row is locked while it changes, so two pushes of one dossier (API and webhook at once) apply one
    after the other; a creation race ends in one row (the unique (centre, code) decides, the loser updates).
    """
    values = _clean(session, settings, centre, code, data)
    code = values.pop("code")
    dossier = get_dossier(session, centre.id, code, lock=True)
    created = False
    if dossier is None:
        now = utcnow()
        candidate = Dossier(centre_id=centre.id, code=code, source=source, created_at=now, updated_at=now,
                            **{k: v for k, v in values.items() if k not in ("resolved_at", "returned_at")})
        try:
            with session.begin_nested():
                session.add(candidate)
                session.flush()
            dossier, created = candidate, True
        except IntegrityError:
            dossier = get_dossier(session, centre.id, code, lock=True)
    before = None if created else {k: _plain(getattr(dossier, k)) for k in _AUDITED}
    previous_status = None if created else dossier.status
    for key, value in values.items():
        if key in ("resolved_at", "returned_at"):
            continue
        setattr(dossier, key, value)
    dossier.source = source
    _stamp(dossier, previous_status, values["resolved_at"], values["returned_at"])
    after = {k: _plain(getattr(dossier, k)) for k in _AUDITED}
    if created or before != after:
        audit.record(session, actor, "dossier.created" if created else "dossier.updated", entity_type="dossier",
                     entity_id=dossier.id, centre_id=centre.id, before=before, after=after)
    session.flush()
    return dossier, created


def _stamp(dossier: Dossier, previous_status: str | None, resolved_at: datetime | None,
           returned_at: datetime | None) -> None:
    """resolved_at (the result was ready) and returned_at (handed to the citizen): as sent, else when we heard."""
    now = utcnow()
    if resolved_at is not None:
        dossier.resolved_at = resolved_at
    elif dossier.status in ("result_ready", "returned") and dossier.resolved_at is None:
        dossier.resolved_at = now
    if returned_at is not None:
        dossier.returned_at = returned_at
    elif dossier.status == "returned" and dossier.returned_at is None:
        dossier.returned_at = now
    if dossier.status in ("received", "processing") and previous_status in ("result_ready", "returned"):
        # The one-stop system took the result back (a correction): it is not resolved any more.
        dossier.resolved_at = resolved_at
        dossier.returned_at = returned_at


def _plain(value):
    return value.isoformat() if isinstance(value, date | datetime) else value
