"""What a centre publishes each month: the dossiers late this month and the apologies issued.

Only what the province publishes is shown (dossier code, procedure, dates, days late): never the
citizen's name, phone, e-mail or address, nor the apology's reason, which staff write freely and may
name a person (ASSUMPTION, docs/dossiers-apologies.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.clock import day_bounds_utc, local_day, utcnow
from dossiers import calendar
from dossiers.apologies import DossierApology
from dossiers.models import Dossier


@dataclass(frozen=True)
class LateRow:
    code: str
    procedure_code: str
    procedure_name: str
    appointment_date: date
    days_late: int
    returned: bool


@dataclass(frozen=True)
class ApologyRow:
    number: str
    code: str
    procedure_name: str
    issued_on: date
    previous_appointment_date: date
    new_appointment_date: date


@dataclass(frozen=True)
class MonthReport:
    month: date  # its first day
    late: list[LateRow]
    apologies: list[ApologyRow]


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


def late_this_month(session: Session, centre_id: int, month: date | None = None,
                    now: datetime | None = None) -> MonthReport:
    """Dossiers of the centre that were late at some time in `month` (this month by default), and the
    apologies it issued in that month.

    Late in the month: its deadline passed before the month's end (or before now, for this month), and it
    was not returned by then, or was returned late within the month.
    """
    now = now or utcnow()
    first, last = month_bounds(month or local_day(now))
    start, _ = day_bounds_utc(first)
    _, end = day_bounds_utc(last)
    as_of = min(now, end - timedelta(microseconds=1))
    cal = calendar.BusinessCalendar.load(session, first - timedelta(days=400), last + timedelta(days=31))
    candidates = session.scalars(select(Dossier).where(
        Dossier.centre_id == centre_id, Dossier.status != "cancelled", Dossier.appointment_date.is_not(None),
        Dossier.appointment_date <= last,
        or_(Dossier.status != "returned", Dossier.returned_at.is_(None), Dossier.returned_at >= start),
    ).order_by(Dossier.appointment_date, Dossier.code))
    late: list[LateRow] = []
    for d in candidates:
        if not calendar.is_late(session, d, as_of, cal):
            continue
        if d.status == "returned" and calendar.returned_at(d) is None:
            continue
        late.append(LateRow(code=d.code, procedure_code=d.procedure_code, procedure_name=d.procedure_name,
                            appointment_date=d.appointment_date, days_late=calendar.days_late(session, d, as_of, cal),
                            returned=d.status == "returned"))
    rows = session.execute(select(DossierApology, Dossier.code, Dossier.procedure_name)
                           .join(Dossier, Dossier.id == DossierApology.dossier_id)
                           .where(DossierApology.centre_id == centre_id, DossierApology.issued_at >= start,
                                  DossierApology.issued_at < end)
                           .order_by(DossierApology.issued_at, DossierApology.id))
    apologies = [ApologyRow(number=a.number, code=code, procedure_name=name, issued_on=local_day(a.issued_at),
                            previous_appointment_date=a.previous_appointment_date,
                            new_appointment_date=a.new_appointment_date) for a, code, name in rows]
    return MonthReport(month=first, late=late, apologies=apologies)
