"""The one reader of receipts' standing with the tax authority, for the API and the register page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tax.models import ReceiptTaxState, TaxMessage


@dataclass(frozen=True)
class MessageInfo:
    mtdiep: str
    mltdiep: int
    direction: str
    status: str
    created_at: datetime
    kind: str


@dataclass(frozen=True)
class TaxState:
    """`status`: pending (not yet through to the tax authority), sent (acknowledged), accepted, rejected."""

    status: str
    reasons: list[str] = field(default_factory=list)
    messages: list[MessageInfo] = field(default_factory=list)


def _info(m: TaxMessage) -> MessageInfo:
    return MessageInfo(mtdiep=m.mtdiep, mltdiep=m.mltdiep, direction=m.direction, status=m.status,
                       created_at=m.created_at, kind=m.kind)


def for_receipts(session: Session, receipt_ids) -> dict[int, TaxState]:
    """Each receipt's tax state, with the messages sent about it and the answers to them (oldest first).

    A receipt with nothing sent yet is `pending` with no messages. The caller scopes the ids (centres).
    """
    ids = sorted({int(i) for i in receipt_ids})
    if not ids:
        return {}
    states = {s.receipt_id: s for s in session.scalars(select(ReceiptTaxState)
                                                      .where(ReceiptTaxState.receipt_id.in_(ids)))}
    outgoing = session.scalars(select(TaxMessage).where(TaxMessage.receipt_id.in_(ids), TaxMessage.direction == "out")
                               .order_by(TaxMessage.id)).all()
    by_mtdiep = {m.mtdiep: m.receipt_id for m in outgoing}
    answers = session.scalars(select(TaxMessage).where(TaxMessage.mtdtchieu.in_(list(by_mtdiep)),
                                                       TaxMessage.direction == "in")
                              .order_by(TaxMessage.id)).all() if by_mtdiep else []
    messages: dict[int, list[TaxMessage]] = defaultdict(list)
    for m in outgoing:
        messages[m.receipt_id].append(m)
    for m in answers:
        messages[by_mtdiep[m.mtdtchieu]].append(m)
    out: dict[int, TaxState] = {}
    for rid in ids:
        state = states.get(rid)
        rows = sorted(messages.get(rid, []), key=lambda m: (m.created_at, m.id))
        out[rid] = TaxState(status=state.status if state else "pending",
                            reasons=list(state.reasons or []) if state else [],
                            messages=[_info(m) for m in rows])
    return out
