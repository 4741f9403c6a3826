"""Fee-collection factories: a schedule entry and a payment request with keyword defaults."""

from __future__ import annotations

from datetime import date

from core import audit
from core.accounts import ensure_demo_centre
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, create_payment


def make_fee(session, *, code="LLTP", name="Phí cung cấp thông tin lý lịch tư pháp", amount=200_000, kind="phi",
             centre=None, effective_from=date(2020, 1, 1), effective_to=None):
    centre = centre or ensure_demo_centre(session)
    fee = FeeType(centre_id=centre.id, code=code, name=name, kind=kind, amount=amount,
                  legal_basis="Thông tư 244/2016/TT-BTC", effective_from=effective_from,
                  effective_to=effective_to, active=True, procedure_code="2.001417")
    session.add(fee)
    session.commit()
    return fee


def make_payment(session, *, amount=200_000, channels=None, dossier_code="000.00.01.H26-250101-0001",
                 quantity=1, centre=None, **kwargs):
    centre = centre or ensure_demo_centre(session)
    payment = create_payment(session, centre, dossier_code=dossier_code,
                             payer=Payer(name="Trần Thị Bình", phone="0912345678", email="binh@example.vn"),
                             items=[ItemRequest(fee_code="LLTP", quantity=quantity,
                                                name="Phí cung cấp thông tin lý lịch tư pháp", kind="phi",
                                                unit_amount=amount)],
                             actor=audit.SYSTEM, channels=channels, **kwargs)
    session.commit()
    return payment
