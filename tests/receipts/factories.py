"""Paid payments for receipt scenarios, made through the real payment state machine."""

from __future__ import annotations

import itertools

from core import audit
from core.accounts import DEMO_UNIT_CODE, ensure_demo_centre
from fees.payments import ItemRequest, Payer, create_payment, lock_payment, transition

_seq = itertools.count(1)

LINES = (
    ItemRequest("LP-TL", 2, name="Lệ phí cấp bản sao trích lục hộ tịch", kind="le_phi", unit_amount=8_000),
    ItemRequest("P-TĐ", 1, name="Phí thẩm định hồ sơ đăng ký kinh doanh", kind="phi", unit_amount=184_000),
)


def demo_unit(session):
    from province.units import unit_by_code

    ensure_demo_centre(session)
    return unit_by_code(session, DEMO_UNIT_CODE)


def ensure_demo_series(session, year: int, *, width: int | None = None):
    """The demo unit's EBL01 series of `year`, registered (tests that move the clock to another year)."""
    from datetime import date

    from sqlalchemy import select

    from province.models import ReceiptSeries
    from province.series import register_series

    unit = demo_unit(session)
    series = session.scalar(select(ReceiptSeries).where(ReceiptSeries.unit_id == unit.id,
                                                        ReceiptSeries.symbol == f"{year % 100:02d}T"))
    if series is None:
        series = register_series(session, unit, "EBL01", f"{year % 100:02d}T", year, registered_on=date(year - 1, 12, 1))
    if width is not None:
        series.number_width = width
    session.flush()
    return series


def pending_payment(session, *, items=LINES, payer_name="Nguyễn Thị Hồng Nhung",
                    payer_address="Số 12 Lý Thường Kiệt, phường Hoàn Kiếm, thành phố Hà Nội",
                    payer_email="nhung@example.vn", payer_phone="0912345678", centre=None):
    centre = centre or ensure_demo_centre(session)
    return create_payment(session, centre, dossier_code=f"000.00.01.H26-251124-{next(_seq):04d}",
                          payer=Payer(payer_name, phone=payer_phone, email=payer_email, address=payer_address),
                          items=list(items), actor=audit.SYSTEM, channels=["vnpay", "counter", "vietqr"])


def pay(session, payment, *, channel="vnpay", channel_ref=None):
    p = lock_payment(session, payment_id=payment.id)
    return transition(session, p, "paid", actor=audit.SYSTEM, channel=channel,
                      channel_ref=channel_ref or f"{next(_seq):08d}", paid_amount=p.amount)


def paid_payment(session, *, channel="vnpay", commit=True, **kwargs):
    """A payment paid through `channel`; committed by default, which (jobs immediate) issues its receipt."""
    p = pending_payment(session, **kwargs)
    pay(session, p, channel=channel)
    if commit:
        session.commit()
    return p
