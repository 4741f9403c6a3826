"""Tables of the tax channel: every message to and from the tax authority, verbatim; each receipt's tax state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base, UTCDateTime

DIRECTIONS = ("out", "in")
# out: queued → sending → acknowledged (999 TTTNhan 0) → accepted | rejected; refused = 999 TTTNhan 1.
# in: received (stored) → applied (its effect written).
MESSAGE_STATUSES = ("queued", "sending", "acknowledged", "accepted", "rejected", "refused", "received", "applied")
TAX_STATES = ("pending", "sent", "accepted", "rejected")


class TaxMessage(Base):
    """One TDiep, exactly as sent or received (`body`); `mtdiep` is unique across both directions.

    An outgoing message is built and stored once; every (re)transmission sends these very bytes, so the
    tax authority (or the T-VAN) recognises a repeat by its MTDiep. An incoming one points at the message it
    answers by `mtdtchieu`. `kind` says what an outgoing message carries ('receipt', 'registration',
    'error_notice', 'usage_report'…); at most one outgoing 'receipt' message per receipt (a partial unique
    index), so a receipt's data can never go twice; other kinds may name a receipt as often as needed.
    """

    __tablename__ = "tax_message"
    __table_args__ = (
        CheckConstraint("direction IN ('out', 'in')", name="direction_known"),
        CheckConstraint("status IN ('queued', 'sending', 'acknowledged', 'accepted', 'rejected', 'refused', "
                        "'received', 'applied')", name="status_known"),
        Index("uq_tax_message_receipt_data", "receipt_id", unique=True,
              sqlite_where=text("direction = 'out' AND kind = 'receipt'"),
              postgresql_where=text("direction = 'out' AND kind = 'receipt'")),
        Index("ix_tax_message_direction_status", "direction", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mtdiep: Mapped[str] = mapped_column(String(64), unique=True)
    mltdiep: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    mtdtchieu: Mapped[str | None] = mapped_column(String(64), index=True)
    mst: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("collecting_unit.id"), index=True)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipt.id"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_series.id"), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Reasons of a refusal (999) or rejection (notice), "MLoi: text" each; also kept on the receipt's state.
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReceiptTaxState(Base):
    """Where a receipt stands with the tax authority: pending (stored, not yet through), sent (acknowledged),
    accepted, rejected (with the reasons). Written only by `tax.jobs`; read through `tax.status`."""

    __tablename__ = "receipt_tax_state"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'accepted', 'rejected')", name="status_known"),
    )

    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("tax_message.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
