"""Integrating systems hear of receipts: issued, cancelled, replaced (signed webhooks, via fees)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import events
from fees.webhooks import publish
from receipts.models import Receipt


def receipt_payload(receipt: Receipt) -> dict:
    return {"id": receipt.id, "payment_id": receipt.payment_id,
            "unit_code": receipt.content.get("unit_code") if receipt.content else None, "template": receipt.template,
            "symbol": receipt.symbol, "number": receipt.number_text, "status": receipt.status,
            "amount": receipt.amount, "lookup_code": receipt.lookup_code, "sha256": receipt.sha256,
            "issued_at": receipt.issued_at.isoformat() if receipt.issued_at else None,
            "replaces_id": receipt.replaces_id, "replaced_by_id": receipt.replaced_by_id}


def _announce(name: str):
    def handler(session: Session, receipt_id: int, **data) -> None:
        receipt = session.get(Receipt, receipt_id)
        if receipt is not None:
            payload = {"receipt": receipt_payload(receipt)}
            if data.get("replacement_id"):
                payload["replacement_id"] = data["replacement_id"]
            publish(session, receipt.centre_id, name, payload)

    return handler


for _name in ("receipt.issued", "receipt.cancelled", "receipt.replaced"):
    events.on(_name)(_announce(_name))
