"""An adjusting receipt reaches the tax authority like any receipt, and its 04/SS-CTĐT is accepted."""

from __future__ import annotations

from sqlalchemy import select

from receipts.issuance import adjust_receipt
from receipts.models import Receipt, ReceiptCorrection
from tests.factories import bearer
from tests.tax.conftest import make_unit, pay_at_counter, receipt_ids
from tests.tax.test_refunds import FINANCE


def test_an_adjusting_receipt_and_its_notice_are_accepted_by_the_tax_authority(live_server, client, key, session,
                                                                               centre):
    unit = make_unit(session, centre)
    [rid] = receipt_ids(session, pay_at_counter(client, key, unit.code)["id"])
    old = session.get(Receipt, rid)
    lines = [dict(x) for x in old.content["lines"]]
    lines[0]["unit_amount"] = 45_000
    adj = adjust_receipt(session, rid, reason="Sai mức phí", lines=lines, actor=FINANCE)
    session.commit()
    assert adj.delta == -5_000
    body = client.get(f"/api/v1/receipts/{adj.id}", headers=bearer(key)).get_json()
    assert body["tax_status"] == "accepted", body.get("tax_reasons")
    session.expire_all()
    assert session.scalars(select(ReceiptCorrection.notice_status)).one() == "accepted"
