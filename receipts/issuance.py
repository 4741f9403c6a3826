"""Receipt issuance (filled in by the receipts work).

Contract other packages rely on:
- `issue_receipt(session, payment_id) -> Receipt`: idempotent; returns the existing receipt if the
  payment already has one. The counter desk calls it in the same request as the paid transition.
- `receipt_id_for_payment(session, payment_id) -> int | None`: the current receipt of a payment.
"""

from __future__ import annotations

from sqlalchemy.orm import Session


def issue_receipt(session: Session, payment_id: int):
    raise NotImplementedError("receipts are built by the receipts work")


def receipt_id_for_payment(session: Session, payment_id: int) -> int | None:
    return None
