"""Corrections through the API: a replacement with the corrected payer, an adjustment for a difference."""

from __future__ import annotations

from receipts.models import Receipt
from tests.api.test_receipts import receipt as receipt  # noqa: F401  (fixture)
from tests.factories import bearer, make_api_key


def test_a_replacement_carries_the_corrected_payer(client, session, receipt):  # noqa: F811
    key = make_api_key(session, roles=("finance",))
    resp = client.post(f"/api/v1/receipts/{receipt.id}/replace", headers={**bearer(key), "Idempotency-Key": "r-1"},
                       json={"reason": "Sai tên người nộp", "payer": {"name": "Nguyễn Thị Bình", "tax_code": "0101234565"}})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["payer_name"] == "Nguyễn Thị Bình" and body["replaces_id"] == receipt.id
    assert body["correction"] == "replace"
    session.expire_all()
    assert session.get(Receipt, receipt.id).status == "replaced"


def test_an_adjustment_carries_the_difference_and_leaves_the_original_valid(client, session, receipt):  # noqa: F811
    key = make_api_key(session, roles=("finance",))
    lines = receipt.content["lines"]
    line = lines[0]
    # The corrected lines in full: the first one 1.000 đồng a unit cheaper, the others as they were.
    corrected = [{"fee_code": x["fee_code"], "name": x["name"], "kind": x["kind"], "quantity": x["quantity"],
                  "unit_amount": x["unit_amount"] - (1000 if i == 0 else 0)} for i, x in enumerate(lines)]
    resp = client.post(f"/api/v1/receipts/{receipt.id}/adjust", headers={**bearer(key), "Idempotency-Key": "a-1"},
                       json={"reason": "Thu thừa 1.000 đồng", "lines": corrected})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["correction"] == "adjust" and body["delta"] == -1000 * line["quantity"]
    session.expire_all()
    assert session.get(Receipt, receipt.id).status == "issued"


def test_a_malformed_tax_code_is_refused_by_name(client, session, receipt):  # noqa: F811
    key = make_api_key(session, roles=("finance",))
    resp = client.post(f"/api/v1/receipts/{receipt.id}/replace", headers={**bearer(key), "Idempotency-Key": "r-2"},
                       json={"reason": "Sai mã số thuế", "payer": {"tax_code": "12<b>"}})
    assert resp.status_code == 422 and "payer" in resp.get_json()["errors"]
