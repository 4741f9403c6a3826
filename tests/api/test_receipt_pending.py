"""A receipt named by a payment while it is still being signed: 409 with Retry-After, never 404."""

from __future__ import annotations

from sqlalchemy import update

from receipts.models import Receipt
from tests.api.test_receipts import receipt as receipt  # noqa: F401  (fixture)
from tests.factories import bearer, make_api_key


def _unsign(session, receipt_id: int) -> None:
    """Put an issued receipt back to the moment between its number being taken and its PDF stored."""
    session.execute(update(Receipt).where(Receipt.id == receipt_id).values(status="pending", storage_key=None))
    session.commit()


def test_the_api_says_the_receipt_is_being_issued(client, session, receipt):  # noqa: F811
    key = make_api_key(session, roles=("finance",))
    _unsign(session, receipt.id)
    resp = client.get(f"/api/v1/receipts/{receipt.id}/pdf", headers=bearer(key))
    assert resp.status_code == 409
    assert resp.headers["Retry-After"] == "5"
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"] == "urn:hcc:problem:receipt-being-issued"


def test_the_citizen_page_says_it_too(client, session, receipt):  # noqa: F811
    code = receipt.lookup_code
    _unsign(session, receipt.id)
    resp = client.get(f"/r/{code}/pdf")
    assert resp.status_code == 409
    assert "Retry-After" in resp.headers  # the rate limiter's own header may stand in for ours on public pages
    assert "đang được ký" in resp.get_data(as_text=True)
