"""The tax channel: each issued receipt reaches the tax authority (sandbox) once, its answers are kept and shown."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from tests.factories import bearer
from tests.tax.conftest import make_unit, pay_at_counter, receipt_ids, received


def test_a_counter_payment_yields_a_receipt_the_tax_authority_accepts(live_server, client, key, session, centre):
    unit = make_unit(session, centre)
    payment = pay_at_counter(client, key, unit.code)
    [rid] = receipt_ids(session, payment["id"])
    body = client.get(f"/api/v1/receipts/{rid}", headers=bearer(key)).get_json()
    assert body["tax_status"] == "accepted", body
    kinds = [(m["direction"], m["mltdiep"]) for m in body["tax_messages"]]
    assert kinds == [("out", 211), ("in", 999), ("in", 212)]
    assert [m["mst"] for m in received(live_server)] == [unit.tax_code]
