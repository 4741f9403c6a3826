"""A refund of a correct receipt leaves it valid: the citizen's lookup page and the register show the refund."""

from __future__ import annotations

from sqlalchemy import select

from core import audit
from fees.refunds import request_refund
from receipts.issuance import receipt_id_for_payment
from receipts.models import Receipt, ReceiptRefund
from tests.factories import make_user, sign_in
from tests.receipts.factories import paid_payment

FINANCE = audit.Actor(type="user", id="7", name="ketoan")


def _refund(session, payment, amount, reason="Công dân rút hồ sơ, hoàn lại lệ phí"):
    """Through fees: requested and approved at once; a cash payment is paid back by hand, so it succeeds."""
    request_refund(session, payment.id, amount=amount, reason=reason, actor=FINANCE, needs_approval=False)
    session.commit()  # the job sending the refund runs after the commit (immediate in tests)
    session.expire_all()


def test_a_full_refund_leaves_the_receipt_valid_on_the_lookup_page_with_the_refund(client, session):
    payment = paid_payment(session, channel="counter")
    receipt = session.get(Receipt, receipt_id_for_payment(session, payment.id))
    _refund(session, payment, payment.paid_amount)
    assert session.scalar(select(Receipt.status).where(Receipt.id == receipt.id)) == "issued"
    doc = session.scalars(select(ReceiptRefund).where(ReceiptRefund.receipt_id == receipt.id)).one()
    assert doc.amount == 200_000 and doc.reason.startswith("Công dân rút") and doc.paid_at is not None

    page = client.get(f"/r/{receipt.lookup_code}").get_data(as_text=True)
    assert "Đã phát hành" in page and 'id="validity">Hợp lệ' in page
    assert "Đã huỷ" not in page
    assert "Đã hoàn trả 200.000 ₫" in page and doc.reference in page
    # The signed file still verifies as a valid, uncancelled receipt.
    from receipts.issuance import read_pdf
    from receipts.verify import verify_pdf

    result = verify_pdf(session, client.application.extensions["hcc"].settings,
                        read_pdf(client.application.extensions["hcc"].settings, receipt))
    assert result.valid, result.reasons


def test_two_partial_refunds_are_two_documents_and_the_register_shows_them(client, session):
    payment = paid_payment(session, channel="counter")
    rid = receipt_id_for_payment(session, payment.id)
    _refund(session, payment, 50_000)
    _refund(session, payment, 16_000, reason="Thu thừa một bản trích lục")
    docs = session.scalars(select(ReceiptRefund).where(ReceiptRefund.receipt_id == rid).order_by(ReceiptRefund.id)).all()
    assert [d.amount for d in docs] == [50_000, 16_000]
    assert session.get(Receipt, rid).status == "issued"

    sign_in(client, make_user(session, roles=("finance",)).username)
    register = client.get("/staff/receipts/").get_data(as_text=True)
    assert "66.000 ₫" in register and docs[0].reference in register and "Đã phát hành" in register
    detail = client.get(f"/staff/receipts/{rid}").get_data(as_text=True)
    assert 'id="refunds"' in detail and "Thu thừa một bản trích lục" in detail and docs[1].reference in detail
    assert 'id="validity">Hợp lệ' in detail
    # The CSV export lists it issued, with what was refunded and the refunds' references.
    import csv
    import io

    from core.clock import local_day
    from tests.factories import bearer, make_api_key

    key = make_api_key(session, roles=("finance",))
    res = client.get(f"/api/v1/receipts/register.csv?day={local_day()}", headers=bearer(key))
    header, row = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    got = dict(zip(header, row, strict=True))
    assert got["Trạng thái"] == "Đã phát hành" and got["Đã hoàn trả"] == "66000"
    assert got["Mã hoàn trả"] == f"{docs[0].reference}; {docs[1].reference}"


def test_a_refund_of_a_payment_of_two_units_is_shared_up_to_each_receipt(session):
    """A full refund gives each unit's receipt its whole amount back; each stays valid."""
    from dataclasses import replace

    from core.accounts import DEMO_UNIT_CODE, ensure_demo_centre
    from fees.payments import ItemRequest
    from receipts.issuance import receipts_for_payment
    from tests.receipts.factories import LINES
    from tests.tax.conftest import make_unit

    other = make_unit(session, ensure_demo_centre(session), code="STN")
    items = [replace(x, unit_code=DEMO_UNIT_CODE) for x in LINES] + [ItemRequest(f"F-{other.code}", 1)]
    payment = paid_payment(session, channel="counter", items=items)
    receipts = receipts_for_payment(session, payment.id)
    assert len(receipts) == 2
    _refund(session, payment, payment.paid_amount)
    docs = {d.receipt_id: d.amount for d in session.scalars(select(ReceiptRefund))}
    assert docs == {r.id: r.amount for r in receipts}
    assert {session.get(Receipt, r.id).status for r in receipts} == {"issued"}
