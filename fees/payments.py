"""Payment requests: creation from the fee catalogues of the units a centre serves, and the one function
that changes their status.

Money routing (docs/province.md): the citizen pays once, into the centre's collecting account or gateway
order; each line records the collecting unit it belongs to (`PaymentItem.unit_id`), which is what the
per-unit receipts and the remittance to each unit follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import bindparam, event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import audit, events
from core.clock import local_day, utcnow
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Centre
from core.security import new_code
from core.text import clean_text
from fees.gateways.base import ONLINE_GATEWAYS
from fees.models import CHANNELS, FEE_KINDS, FeeType, Payment, PaymentItem
from province import fees as unit_fees
from province.models import CollectingUnit
from province.units import unit_ids_served_at, units_served_at

DEFAULT_EXPIRY = timedelta(hours=24)
ONLINE_CHANNELS = ONLINE_GATEWAYS  # every registered online gateway (fees.gateways.base)

# The state machine. A paid event for an expired request is money received: the request becomes paid
# and is flagged for finance. Nothing leaves cancelled or refunded.
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"paid", "failed", "expired", "cancelled"},
    "failed": {"paid", "expired", "cancelled"},
    "expired": {"paid"},
    "paid": {"refunded", "partially_refunded"},
    "partially_refunded": {"partially_refunded", "refunded"},
    "cancelled": set(),
    "refunded": set(),
}


class UnitNotReadyError(Conflict):
    """Raised in production when a payment would collect for a unit that cannot issue its receipt yet."""

    code = "unit-not-ready"

    def __init__(self, unit: CollectingUnit, blockers: list[str]):
        super().__init__(f"Chưa thể thu phí cho đơn vị {unit.code} ({unit.name}): " + "; ".join(blockers))
        self.unit_code = unit.code
        self.blockers = blockers


class TransitionError(Conflict):
    """Raised when a payment cannot move from its current status to the one asked for."""

    code = "payment-transition-not-allowed"

    def __init__(self, payment: Payment, to: str):
        super().__init__(f"payment {payment.code} cannot go from {payment.status} to {to}")
        self.current = payment.status
        self.to = to


@dataclass(frozen=True)
class Payer:
    name: str
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class ItemRequest:
    """A fee line by schedule code; or, with `name`, `kind` and `unit_amount`, a line given outright
    (used when another system priced the dossier, e.g. a COD amount from the one-stop software).

    A line given outright belongs to the centre's only unit, or to the unit named by `unit_code` when
    the centre serves several."""

    fee_code: str
    quantity: int = 1
    name: str | None = None
    kind: str | None = None
    unit_amount: int | None = None
    unit_code: str | None = None


# Who knows how a dossier was submitted (`in_person`, `online`, `post`): dossiers registers itself here, since
# fees never imports it. A lookup answers None for a dossier it does not know.
SubmissionLookup = Callable[[Session, int, str], "str | None"]
_submission_lookups: list[SubmissionLookup] = []


def register_submission_lookup(fn: SubmissionLookup) -> SubmissionLookup:
    if fn not in _submission_lookups:
        _submission_lookups.append(fn)
    return fn


def submission_of(session: Session, centre_id: int, dossier_code: str) -> str | None:
    """How the dossier was submitted, as the dossier record says, or None when no record says."""
    for lookup in _submission_lookups:
        found = lookup(session, centre_id, dossier_code)
        if found is not None:
            return found
    return None


def scheduled_amount(fee: FeeType, submission: str | None) -> int:
    """The fee's amount for a dossier: the reduced amount for one submitted online, where the catalogue sets one
    (many provinces halve lệ phí for online dossiers), else the amount."""
    if submission == "online" and fee.online_amount is not None:
        return fee.online_amount
    return fee.amount


def _default_expiry() -> timedelta:
    """HCC_PAYMENT_EXPIRY_MINUTES when the jobs are configured (the app), else 24 hours."""
    from core import jobs

    current = jobs.settings()
    if current is None:
        return DEFAULT_EXPIRY
    return timedelta(minutes=current.get_int("HCC_PAYMENT_EXPIRY_MINUTES", int(DEFAULT_EXPIRY.total_seconds() // 60)))


def _clean_dossier_and_payer(dossier_code: str, payer: Payer, errors: dict[str, list[str]]) -> tuple[str, Payer]:
    """The payer as stored and printed on the receipt: NFC, no control characters, within the columns.

    Whoever calls (the API, the COD flow, a script) gets the same rules; an over-long value is refused
    by name, never cut. Markup characters are kept: the receipt and every PDF escape them.
    """
    code = clean_text(dossier_code, 64, field="dossier_code", required=True, errors=errors)
    name = clean_text(payer.name, 255, field="payer.name", required=True, errors=errors)
    phone = clean_text(payer.phone, 32, field="payer.phone", errors=errors)
    email = clean_text(payer.email, 255, field="payer.email", errors=errors)
    address = clean_text(payer.address, 500, field="payer.address", errors=errors)
    return code or "", replace(payer, name=name or "", phone=phone or None, email=email or None,
                               address=address or None)


def fee_in_force(session: Session, centre_id: int, code: str, on=None) -> FeeType | None:
    """The fee with this code that applies on a Vietnamese calendar day (today by default) at a centre.

    A fee of a unit served at the centre (province.fees.fee_in_force); failing that, a fee row from before
    units (unit_id NULL) kept under the centre.
    """
    day = on or local_day()
    fee = unit_fees.fee_in_force(session, unit_ids_served_at(session, {centre_id}), code, day)
    if fee is not None:
        return fee
    stmt = (select(FeeType)
            .where(FeeType.centre_id == centre_id, FeeType.unit_id.is_(None), FeeType.code == code,
                   FeeType.active.is_(True),
                   FeeType.effective_from <= day,
                   or_(FeeType.effective_to.is_(None), FeeType.effective_to >= day))
            .order_by(FeeType.effective_from.desc()))
    return session.scalars(stmt).first()


def _unit_of_free_line(served: list[CollectingUnit], item: ItemRequest, field: str,
                       errors: dict[str, list[str]]) -> CollectingUnit | None:
    """The unit a line given outright belongs to: the one named, or the centre's only unit."""
    if item.unit_code:
        unit = next((u for u in served if u.code == item.unit_code), None)
        if unit is None:
            errors[field] = [f"Trung tâm không thu hộ cho đơn vị '{item.unit_code}'."]
        return unit
    if len(served) == 1:
        return served[0]
    if served:
        errors[field] = ["Trung tâm thu hộ cho nhiều đơn vị: cần ghi mã đơn vị thu (unit_code) của khoản này."]
    # A centre serving no unit yet (an installation being set up): the line stays unattributed.
    return None


def _refuse_units_not_ready(session: Session, unit_ids: set[int]) -> None:
    """In production, a payment for a unit that could not issue its receipt is refused now, not later."""
    from core import jobs
    from province.doctor import unit_ready

    settings = jobs.settings()
    if settings is None or not settings.production:
        return
    for unit in session.scalars(select(CollectingUnit).where(CollectingUnit.id.in_(unit_ids))
                                .order_by(CollectingUnit.code)):
        blockers = unit_ready(session, settings, unit)
        if blockers:
            raise UnitNotReadyError(unit, blockers)


def create_payment(session: Session, centre: Centre, *, dossier_code: str, payer: Payer, items: list[ItemRequest],
                   actor: audit.Actor, channels: list[str] | None = None, expires_in: timedelta | None = None,
                   extra: dict | None = None, submission: str | None = None) -> Payment:
    """A pending payment request priced from the schedule in force today.

    A schedule line of a dossier submitted online costs the fee's online amount where the catalogue sets
    one: `submission` when given, else how the dossier record says it was submitted (`submission_of`).
    """
    if not items:
        raise InvalidInput("a payment needs at least one fee line", errors={"items": ["Cần ít nhất một khoản phí."]})
    channels = channels or list(ONLINE_CHANNELS)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise InvalidInput(f"unknown channel(s): {unknown}", errors={"channels": [f"Không hỗ trợ: {unknown}"]})
    errors: dict[str, list[str]] = {}
    dossier_code, payer = _clean_dossier_and_payer(dossier_code, payer, errors)
    served = units_served_at(session, centre.id)
    day = local_day()
    if submission is None and dossier_code:
        submission = submission_of(session, centre.id, dossier_code)
    lines: list[PaymentItem] = []
    for i, item in enumerate(items):
        if item.name is not None:
            if item.kind not in FEE_KINDS or not isinstance(item.unit_amount, int) or item.unit_amount < 0 \
                    or item.quantity < 1:
                errors[f"items.{i}"] = ["Khoản phí không hợp lệ (tên, loại phí/lệ phí, số tiền)."]
                continue
            unit = _unit_of_free_line(served, item, f"items.{i}.unit_code", errors)
            lines.append(PaymentItem(fee_type_id=None, fee_code=item.fee_code, name=item.name, kind=item.kind,
                                     unit_amount=item.unit_amount, quantity=item.quantity,
                                     amount=item.unit_amount * item.quantity,
                                     unit_id=unit.id if unit is not None else None))
            continue
        fee = fee_in_force(session, centre.id, item.fee_code, day)
        if fee is None:
            errors[f"items.{i}.fee_code"] = [f"Không có loại phí '{item.fee_code}' đang áp dụng."]
            continue
        if item.quantity < 1:
            errors[f"items.{i}.quantity"] = ["Số lượng phải lớn hơn 0."]
            continue
        # A fee row from before units is the centre's only unit's (as migration 0007 made it).
        unit_id = fee.unit_id if fee.unit_id is not None else (served[0].id if len(served) == 1 else None)
        amount = scheduled_amount(fee, submission)
        lines.append(PaymentItem(fee_type_id=fee.id, fee_code=fee.code, name=fee.name, kind=fee.kind,
                                 unit_amount=amount, quantity=item.quantity, amount=amount * item.quantity,
                                 unit_id=unit_id))
    if errors:
        raise InvalidInput("the payment request is not valid", errors=errors)
    _refuse_units_not_ready(session, {x.unit_id for x in lines if x.unit_id is not None})
    now = utcnow()
    if expires_in is not None:
        expires_at = now + expires_in
    elif channels == ["cod"]:
        expires_at = None  # collected by the postman whenever the parcel is delivered: no online deadline
    else:
        expires_at = now + _default_expiry()
    payment = Payment(
        centre_id=centre.id, dossier_code=dossier_code, payer_name=payer.name, payer_phone=payer.phone,
        payer_email=payer.email, payer_address=payer.address, amount=sum(x.amount for x in lines),
        paid_amount=0, refunded_amount=0, status="pending", allowed_channels=channels, flags=[],
        created_by=f"{actor.type}:{actor.id}" if actor.id else actor.type, created_at=now, updated_at=now,
        expires_at=expires_at, items=lines, extra=extra or {},
    )
    for _attempt in range(5):
        payment.code = new_code(10)
        try:
            with session.begin_nested():
                session.add(payment)
                session.flush()
            break
        except IntegrityError:
            continue  # a code collision (about 1 in 10^14): draw another
    else:
        raise Conflict("could not allocate a payment code")
    audit.record(session, actor, "payment.created", entity_type="payment", entity_id=payment.id,
                 after={"code": payment.code, "amount": payment.amount, "dossier_code": dossier_code},
                 centre_id=centre.id)
    events.emit(session, "payment.created", payment_id=payment.id)
    return payment


def get_payment(session: Session, *, payment_id: int | None = None, code: str | None = None,
                centre_id: int | None = None) -> Payment:
    stmt = select(Payment)
    stmt = stmt.where(Payment.id == payment_id) if payment_id is not None else stmt.where(Payment.code == code)
    if centre_id is not None:
        stmt = stmt.where(Payment.centre_id == centre_id)
    payment = session.scalars(stmt).first()
    if payment is None:
        raise NotFound("payment not found")
    return payment


def lock_payment(session: Session, *, payment_id: int | None = None, code: str | None = None) -> Payment | None:
    """Read a payment under a write lock, so checks and the transition see the same state.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks; a no-op UPDATE ... RETURNING takes the
    database's write lock for the rest of the transaction, which serialises concurrent callers the same way.

    A payment this transaction has already locked is not locked and read again: the lock is held until the
    transaction ends, so nobody else changed the row since, and the session's object is what this
    transaction made of it. (An IPN locks its payment to check the merchant, then again to settle it.)
    """
    locked = _locks_held(session)
    held = locked.get(("id", payment_id) if payment_id is not None else ("code", code))
    if held is not None and held in session:
        return held
    sqlite = session.get_bind().dialect.name == "sqlite"
    stmt = _lock_statement("id" if payment_id is not None else "code", sqlite)
    options = {"populate_existing": True, "synchronize_session": False} if sqlite else {"populate_existing": True}
    payment = session.scalars(stmt, {"key": payment_id if payment_id is not None else code},
                              execution_options=options).first()
    if payment is not None:
        locked = _locks_held(session)  # the transaction may have begun with this statement
        locked[("id", payment.id)] = locked[("code", payment.code)] = payment
    return payment


_LOCKS = "hcc_payment_locks"
# Statements of the hot paths (an IPN), built once: building a statement and its cache key on every call
# cost more than running it.
_STATEMENTS: dict[tuple, object] = {}


def _lock_statement(by: str, sqlite: bool):
    stmt = _STATEMENTS.get(("lock", by, sqlite))
    if stmt is None:
        cond = (Payment.id if by == "id" else Payment.code) == bindparam("key")
        # SQLite: the no-op UPDATE hands back the row it locked (RETURNING): one statement, not an UPDATE
        # then a SELECT.
        stmt = (update(Payment).where(cond).values(id=Payment.id).returning(Payment) if sqlite
                else select(Payment).where(cond).with_for_update())
        _STATEMENTS[("lock", by, sqlite)] = stmt
    return stmt


def _transition_statement(keys: tuple[str, ...]):
    stmt = _STATEMENTS.get(("transition", keys))
    if stmt is None:
        stmt = (update(Payment).where(Payment.id == bindparam("payment_id"), Payment.status == bindparam("before"))
                .values({k: bindparam(f"new_{k}") for k in keys}))
        _STATEMENTS[("transition", keys)] = stmt
    return stmt


def _locks_held(session: Session) -> dict[tuple[str, object], Payment]:
    """The payments locked in the session's current transaction (forgotten when it ends or a savepoint
    rolls back: PostgreSQL releases row locks taken after a savepoint rolled back to)."""
    transaction = session.get_transaction()
    current = session.info.get(_LOCKS)
    if current is None or transaction is None or current[0] is not transaction:
        current = session.info[_LOCKS] = (transaction, {})
    return current[1]


@event.listens_for(Session, "after_soft_rollback")
def _forget_locks_on_rollback(session: Session, _previous_transaction) -> None:
    session.info.pop(_LOCKS, None)


@event.listens_for(Session, "after_commit")
def _forget_locks_on_commit(session: Session) -> None:
    session.info.pop(_LOCKS, None)


def add_flag(payment: Payment, flag: str) -> None:
    if flag not in (payment.flags or []):
        payment.flags = [*(payment.flags or []), flag]


def transition(session: Session, payment: Payment, to: str, *, actor: audit.Actor, reason: str | None = None,
               **changes) -> Payment:
    """Move a payment to `to`: check the edge, apply `changes`, audit, and emit `payment.<to>`.

    The UPDATE is conditional on the status read, so two racing callers cannot both succeed even
    where no row lock was taken; the loser gets TransitionError.
    """
    before = payment.status
    if to not in TRANSITIONS.get(before, set()):
        raise TransitionError(payment, to)
    now = utcnow()
    values = {"status": to, "updated_at": now, **changes}
    if to == "paid" and "paid_at" not in changes:
        values["paid_at"] = now
    # Pending ORM changes first (what the caller set on the payment before the transition), then the UPDATE
    # itself on the transaction's connection, without the ORM's bulk-update machinery around it.
    session.flush()
    result = session.connection().execute(
        _transition_statement(tuple(sorted(values))),
        {"payment_id": payment.id, "before": before, **{f"new_{k}": v for k, v in values.items()}})
    if result.rowcount != 1:
        session.refresh(payment)
        raise TransitionError(payment, to)
    for k, v in values.items():
        if k == "paid_at" and "paid_at" in changes:
            # A payment time given by the caller (not now) is assigned as a change, so the flush-time rules
            # of the days it falls in (finance.closing: a closed day's books are frozen) judge it.
            setattr(payment, k, v)
        else:
            # Already written by the UPDATE above: the object is told so, rather than the unit of work
            # writing the same values again in a second UPDATE.
            set_committed_value(payment, k, v)
    shown = {k: v for k, v in changes.items() if k in ("channel", "channel_ref", "paid_amount", "refunded_amount")}
    audit.record(session, actor, f"payment.{to}", entity_type="payment", entity_id=payment.id,
                 before={"status": before}, after={"status": to, **shown}, detail=reason,
                 centre_id=payment.centre_id)
    events.emit(session, f"payment.{to}", payment_id=payment.id, previous=before)
    return payment


def expire_overdue(session: Session) -> int:
    """Sweeper: pending or failed requests past their expiry become expired."""
    ids = session.scalars(select(Payment.id).where(Payment.status.in_(("pending", "failed")),
                                                   Payment.expires_at < utcnow()).limit(500)).all()
    done = 0
    for pid in ids:
        payment = lock_payment(session, payment_id=pid)
        if payment is not None and payment.status in ("pending", "failed") and payment.expires_at < utcnow():
            transition(session, payment, "expired", actor=audit.SYSTEM, reason="hết hạn thanh toán")
            done += 1
    return done
