"""A month of a centre's work, seeded through the domain functions: dossiers, paid fees, their receipts, shipments."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select, update

from core import audit
from core.accounts import ensure_demo_centre, ensure_demo_unit
from core.clock import VN_TZ
from dossiers.models import Dossier
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition
from postal.models import Shipment
from province.models import CentreUnit, CollectingUnit
from province.series import register_series
from receipts.models import Receipt
from tests.postal.factories import make_shipment

_seq = itertools.count(1)
PROCEDURES = [("1.001612", "Đăng ký khai sinh"), ("2.000908", "Cấp bản sao trích lục hộ tịch"),
              ("1.004227", "Cấp phiếu lý lịch tư pháp")]
CHANNELS = ["vnpay", "momo", "vietqr", "counter", "cod"]
MONTH = (date(2026, 11, 1), date(2026, 11, 30))


def local(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=VN_TZ).astimezone(UTC)


def second_unit(session, centre) -> CollectingUnit:
    """Another collecting unit served by `centre`, with a registered series this year (its receipts can issue)."""
    unit = session.scalar(select(CollectingUnit).where(CollectingUnit.code == "STP"))
    if unit is None:
        unit = CollectingUnit(code="STP", name="Sở Tư pháp tỉnh Bắc Ninh", tax_code="2300245389",
                              address="phường Kinh Bắc, tỉnh Bắc Ninh", gateway={}, active=True)
        session.add(unit)
        session.flush()
        for year in (2026, 2027):
            register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(2026, 1, 1))
    if session.scalar(select(CentreUnit.id).where(CentreUnit.centre_id == centre.id,
                                                  CentreUnit.unit_id == unit.id)) is None:
        session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
        session.flush()
    return unit


def fee_of(session, centre, unit, *, code, kind, amount) -> FeeType:
    f = session.scalar(select(FeeType).where(FeeType.centre_id == centre.id, FeeType.code == code))
    if f is None:
        f = FeeType(centre_id=centre.id, unit_id=unit.id, code=code, name=f"{'Phí' if kind == 'phi' else 'Lệ phí'} {code}",
                    kind=kind, amount=amount, effective_from=date(2020, 1, 1))
        session.add(f)
        session.flush()
    return f


def make_dossier(session, centre, *, unit, received_at, procedure=PROCEDURES[0], level="district",
                 appointment_date=None, submission="in_person", delivery="desk", status="received",
                 resolved_at=None, returned_at=None, code=None) -> Dossier:
    d = Dossier(centre_id=centre.id, code=code or f"000.00.{centre.id:02d}.H27-261101-{next(_seq):04d}",
                procedure_code=procedure[0], procedure_name=procedure[1], unit_id=unit.id if unit else None,
                level=level, received_at=received_at, appointment_date=appointment_date, submission=submission,
                delivery=delivery, status=status, resolved_at=resolved_at, returned_at=returned_at,
                citizen_name="Trần Thị Bình", citizen_phone="0912345678", street="Số 12 Nguyễn Trãi",
                ward="Phường Kinh Bắc", province="Bắc Ninh")
    session.add(d)
    session.flush()
    return d


def pay(session, centre, dossier_code: str, fee: FeeType, *, channel: str, paid_at: datetime, quantity: int = 1):
    """A payment for the dossier, paid through `channel` at `paid_at`; its receipts are issued by the job
    the payment's event schedules, then dated as if issued a few seconds after the payment."""
    p = create_payment(session, centre, dossier_code=dossier_code, payer=Payer("Trần Thị Bình"),
                       items=[ItemRequest(fee.code, quantity)], actor=audit.SYSTEM)
    p = lock_payment(session, payment_id=p.id)
    transition(session, p, "paid", actor=audit.SYSTEM, channel=channel, channel_ref=f"T{next(_seq):09d}",
               paid_amount=p.amount, paid_at=paid_at)
    session.commit()  # the receipt job runs after the commit (queue_immediate)
    session.execute(update(Receipt).where(Receipt.payment_id == p.id, Receipt.issued_at.is_not(None))
                    .values(issued_at=paid_at + timedelta(seconds=5)).execution_options(synchronize_session=False))
    session.commit()
    return p


def seed_month(session, settings, *, seed: int = 2026_11, n: int = 36):
    """Dossiers of November 2026 and its edges (31/10 late evening, 1/12 just after midnight, Vietnam time),
    with fees paid through every channel, their receipts, and shipments both ways."""
    rng = random.Random(seed)
    centre = ensure_demo_centre(session)
    demo_unit, stp = ensure_demo_unit(session, centre), second_unit(session, centre)
    fees = {demo_unit.id: fee_of(session, centre, demo_unit, code="CT-BS", kind="phi", amount=20_000),
            stp.id: fee_of(session, centre, stp, code="HT-KS", kind="le_phi", amount=8_000)}
    weekdays = [date(2026, 11, 2) + timedelta(days=i) for i in range(40)
                if (date(2026, 11, 2) + timedelta(days=i)).weekday() < 5]
    edges = [local(date(2026, 10, 31), 23, 30), local(date(2026, 12, 1), 0, 30), local(date(2026, 11, 1), 0, 5),
             local(date(2026, 11, 30), 23, 55)]
    for i in range(n):
        received = edges[i] if i < len(edges) else local(date(2026, 11, 1) + timedelta(days=rng.randrange(30)),
                                                         rng.randint(7, 17), rng.randrange(60))
        unit = rng.choice([demo_unit, stp])
        appointment = rng.choice(weekdays + [None])
        status = rng.choice(["received", "processing", "result_ready", "returned", "returned", "returned", "cancelled"])
        resolved = returned = None
        if status in ("result_ready", "returned"):
            resolved = received + timedelta(days=rng.randint(0, 12), hours=rng.randint(0, 6))
        if status == "returned":
            # Half returned the day the result was ready; the rest later, some with no separate return time.
            returned = rng.choice([resolved, resolved + timedelta(days=rng.randint(1, 4)), None])
        d = make_dossier(session, centre, unit=unit, received_at=received, procedure=rng.choice(PROCEDURES),
                         level=rng.choice(["province", "district", "commune"]), appointment_date=appointment,
                         submission=rng.choice(["in_person", "online", "post"]), delivery=rng.choice(["desk", "post"]),
                         status=status, resolved_at=resolved, returned_at=returned)
        session.commit()
        if rng.random() < 0.6:
            pay(session, centre, d.code, fees[unit.id], channel=rng.choice(CHANNELS), quantity=rng.randint(1, 2),
                paid_at=received + timedelta(hours=rng.randint(0, 30)))
        if d.submission == "post":
            s = make_shipment(session, settings, direction="inbound", dossier_code=d.code,
                              tracking_code=f"GI{next(_seq):08d}")
            s.received_at = received if rng.random() < 0.8 else None
        if status == "returned" and d.delivery == "post":
            s = make_shipment(session, settings, dossier_code=d.code, tracking_code=f"GO{next(_seq):08d}")
            s.created_at = returned or resolved
            if rng.random() < 0.15:
                s.status = "cancelled"
        session.commit()
    # A payment with no dossier record, and one still pending: fees count only what was paid.
    pay(session, centre, "HS-KHONG-CO-HO-SO", fees[demo_unit.id], channel="counter", paid_at=local(date(2026, 11, 12)))
    create_payment(session, centre, dossier_code="HS-CHO-THANH-TOAN", payer=Payer("Lê Văn Cường"),
                   items=[ItemRequest("CT-BS", 1)], actor=audit.SYSTEM)
    session.commit()
    return centre


def all_shipments(session):
    return session.scalars(select(Shipment)).all()
