"""The reduced fee of an online dossier: a payment for a dossier the one-stop system says was submitted online
costs the catalogue's online amount; the same fee for a dossier submitted at the desk costs the full amount."""

from __future__ import annotations

from datetime import date

from core import audit
from core.accounts import ensure_demo_centre, ensure_demo_unit
from fees.models import FeeType
from fees.payments import ItemRequest, Payer, create_payment
from tests.dossiers.conftest import dossier_body
from tests.factories import bearer, make_api_key

ONLINE = "000.00.01.H26-261201-0201"
AT_DESK = "000.00.01.H26-261201-0202"


def _fee(session):
    centre = ensure_demo_centre(session)
    unit = ensure_demo_unit(session, centre)
    # Lệ phí đăng ký hộ kinh doanh: 100.000 đ, halved for an online dossier (as many provinces' resolutions do).
    session.add(FeeType(centre_id=centre.id, unit_id=unit.id, code="LPHKD", name="Lệ phí đăng ký hộ kinh doanh",
                        kind="le_phi", amount=100_000, online_amount=50_000, effective_from=date(2020, 1, 1),
                        active=True, procedure_code="1.001612"))
    session.commit()
    return centre


def _pay(session, centre, dossier_code):
    payment = create_payment(session, centre, dossier_code=dossier_code, payer=Payer(name="Trần Thị Bình"),
                             items=[ItemRequest(fee_code="LPHKD")], actor=audit.SYSTEM)
    session.commit()
    return payment


def test_a_dossier_submitted_online_pays_the_reduced_amount(client, session):
    centre = _fee(session)
    key = make_api_key(session)
    for code, submission in ((ONLINE, "online"), (AT_DESK, "in_person")):
        resp = client.put(f"/api/v1/dossiers/{code}", json=dossier_body(delivery="desk", submission=submission),
                          headers=bearer(key))
        assert resp.status_code == 201, resp.get_json()
    online = _pay(session, centre, ONLINE)
    at_desk = _pay(session, centre, AT_DESK)
    assert (online.amount, online.items[0].unit_amount) == (50_000, 50_000)
    assert at_desk.amount == 100_000
    # A dossier the one-stop system never pushed pays the full amount.
    assert _pay(session, centre, "000.00.01.H26-261201-0999").amount == 100_000
    # And the payment shows on the dossier.
    shown = client.get(f"/api/v1/dossiers/{ONLINE}", headers=bearer(key)).get_json()
    assert [p["amount"] for p in shown["payments"]] == [50_000]


def test_a_fee_without_an_online_amount_costs_the_same_online(session):
    centre = _fee(session)
    fee = session.query(FeeType).filter_by(code="LPHKD").one()
    fee.online_amount = None
    session.commit()
    payment = create_payment(session, centre, dossier_code=ONLINE, payer=Payer(name="Trần Thị Bình"),
                             items=[ItemRequest(fee_code="LPHKD")], actor=audit.SYSTEM, submission="online")
    assert payment.amount == 100_000
