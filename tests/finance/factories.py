"""Payments as finance sees them: paid through a channel, at a given Vietnamese time."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time

from core import audit
from core.accounts import ensure_demo_centre
from core.clock import VN_TZ
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition

_seq = itertools.count(1)


def fee(session, *, code="LLTP", name="Phí cung cấp thông tin lý lịch tư pháp", amount=200_000, kind="phi"):
    centre = ensure_demo_centre(session)
    existing = session.query(FeeType).filter_by(centre_id=centre.id, code=code).first()
    if existing:
        return existing
    f = FeeType(centre_id=centre.id, code=code, name=name, kind=kind, amount=amount,
                effective_from=date(2020, 1, 1), legal_basis="Thông tư 244/2016/TT-BTC")
    session.add(f)
    session.flush()
    return f


def paid_payment(session, *, channel="vietqr", amount=200_000, on: date | None = None, at: time = time(10, 0),
                 channel_ref=None, fee_code=None, quantity=1):
    """A payment paid through `channel` on a Vietnamese day (default today) — as a gateway would leave it."""
    centre = ensure_demo_centre(session)
    f = fee(session, code=fee_code or f"F{amount}", name=f"Lệ phí thử {amount}", amount=amount)
    p = create_payment(session, centre, dossier_code=f"HS-{next(_seq):05d}", payer=Payer("Nguyễn Văn An"),
                       items=[ItemRequest(f.code, quantity)], actor=audit.SYSTEM)
    p = lock_payment(session, payment_id=p.id)
    when = datetime.combine(on or datetime.now(VN_TZ).date(), at, tzinfo=VN_TZ)
    transition(session, p, "paid", actor=audit.SYSTEM, channel=channel,
               channel_ref=channel_ref or f"{channel.upper()}{next(_seq):08d}", paid_amount=p.amount, paid_at=when)
    session.flush()
    return p
