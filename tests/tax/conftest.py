"""Fixtures of the tax channel's tests: the app served over HTTP (the tax sandbox answers there), units, payments."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from tests.factories import bearer, make_api_key

BODY = {"dossier_code": "000.00.12.H26-260101-0042",
        "payer": {"name": "Lê Văn Cường", "phone": "0987654321", "email": "cuong@example.vn",
                  "address": "12 Tràng Tiền, Hà Nội"}}


@pytest.fixture
def key(session, centre):
    return make_api_key(session, roles=("cashier", "dispatcher", "finance"))


def make_unit(session, centre, code="STP", tax_code="2300245389", *, registered=True, vnpay=None, settings=None):
    """A unit served at `centre` with one fee F-<code> of 50.000 đ, and this year's series (registered, or a draft)."""
    from core.clock import local_day
    from fees.models import FeeType
    from province import secrets
    from province.models import CentreUnit, CollectingUnit
    from province.series import register_series

    unit = CollectingUnit(code=code, name=f"Sở {code} tỉnh Bắc Ninh", tax_code=tax_code,
                          address="phường Kinh Bắc, tỉnh Bắc Ninh", gateway={}, active=True)
    session.add(unit)
    session.flush()
    session.add(CentreUnit(centre_id=centre.id, unit_id=unit.id))
    if vnpay:
        unit.gateway = {"vnpay_tmn_code": vnpay[0]}
        secrets.set_secret(session, settings, "unit", unit.id, "vnpay_hash_secret", vnpay[1].encode())
    session.add(FeeType(centre_id=centre.id, unit_id=unit.id, code=f"F-{code}", name=f"Phí của {code}", kind="phi",
                        amount=50_000, effective_from=date(2020, 1, 1), active=True))
    year = local_day().year
    register_series(session, unit, "EBL01", f"{year % 100:02d}T", year,
                    registered_on=date(year - 1, 12, 1) if registered else None)
    session.commit()
    return unit


def pay_at_counter(client, key, unit_code: str) -> dict:
    """A payment of the unit's fee, paid in cash at the counter: answers the payment JSON (receipts in it)."""
    created = client.post("/api/v1/payments", json={**BODY, "items": [{"fee_code": f"F-{unit_code}"}]},
                          headers=bearer(key))
    assert created.status_code == 201, created.get_json()
    paid = client.post(f"/api/v1/payments/{created.get_json()['id']}/counter", json={"method": "cash"},
                       headers=bearer(key))
    assert paid.status_code == 200, paid.get_json()
    return paid.get_json()


def received(live_server, mltdiep=211) -> list[dict]:
    """What the sandbox tax authority has taken, as its inspection endpoint lists it."""
    return requests.get(f"{live_server}/sandbox/tax/_received", params={"mltdiep": mltdiep}, timeout=10).json()["messages"]


def receipt_ids(session, payment_id: int) -> list[int]:
    from sqlalchemy import select

    from receipts.models import Receipt

    return list(session.scalars(select(Receipt.id).where(Receipt.payment_id == payment_id).order_by(Receipt.id)))
